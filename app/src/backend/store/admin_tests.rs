//! Roles, disabling and ending sessions as stored: the last administrator
//! who can log in stays, even when two administrators demote each other at
//! once, and every change leaves its audit entry; the sign-up policy and
//! invitation links, each use taken once.

use super::tests::{MariaDb, cleanup, name, store};
use super::*;
use crate::backend::clock::now_ms;
use crate::backend::error::{BackendError, Refusal};
use crate::protocol::{AuditAction, Me, RoomId, SignupPolicy, SiteRole, SiteSettings};
use crate::validate::UserKey;

fn key(name: &str) -> UserKey {
    UserKey::of(name)
}

fn admin(me: &Me) -> Actor {
    Actor::person(me, "192.0.2.7".into())
}

fn is_last_admin(e: &BackendError) -> bool {
    matches!(e, BackendError::Forbidden(Refusal::LastAdministrator))
}

async fn role(store: &Store, who: &str) -> SiteRole {
    store.credentials(&key(who)).await.unwrap().unwrap().me.role
}

async fn roles_and_the_last_administrator(store: &Store) {
    let ann = store.create_user(&name("ann"), "hash").await.unwrap();
    store.create_user(&name("bob"), "hash").await.unwrap();
    assert_eq!(ann.role, SiteRole::Member, "everyone starts a member");
    let cli = Actor::command_line();

    // The first administrator comes from the command line.
    let (_, was) = store
        .set_role(&key("ANN"), SiteRole::Admin, &cli)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((was, role(store, "ann").await), (SiteRole::Member, SiteRole::Admin));
    assert!(
        store
            .set_role(&key("nobody"), SiteRole::Admin, &cli)
            .await
            .unwrap()
            .is_none()
    );

    // The only one cannot be demoted or disabled, by anyone.
    let ann = store.credentials(&key("ann")).await.unwrap().unwrap().me;
    for role_now in [SiteRole::Member, SiteRole::Moderator] {
        let refused = store.set_role(&key("ann"), role_now, &admin(&ann)).await.unwrap_err();
        assert!(is_last_admin(&refused), "{refused:?}");
    }
    let refused = store.set_disabled(&key("ann"), true, &cli).await.unwrap_err();
    assert!(is_last_admin(&refused), "{refused:?}");
    assert_eq!(role(store, "ann").await, SiteRole::Admin);
    assert!(!store.credentials(&key("ann")).await.unwrap().unwrap().disabled);
    // Making an administrator an administrator again changes nothing and is allowed.
    store
        .set_role(&key("ann"), SiteRole::Admin, &admin(&ann))
        .await
        .unwrap();

    // With a second one, either may go; a disabled one does not count.
    store
        .set_role(&key("bob"), SiteRole::Admin, &admin(&ann))
        .await
        .unwrap();
    store.set_disabled(&key("ann"), true, &cli).await.unwrap().unwrap();
    let refused = store.set_role(&key("bob"), SiteRole::Member, &cli).await.unwrap_err();
    assert!(
        is_last_admin(&refused),
        "ann is disabled: bob is the last who can log in"
    );
    let refused = store.set_disabled(&key("bob"), true, &cli).await.unwrap_err();
    assert!(is_last_admin(&refused));
    // A disabled administrator may be demoted: bob still runs the site.
    store.set_role(&key("ann"), SiteRole::Moderator, &cli).await.unwrap();
    store.set_disabled(&key("ann"), false, &cli).await.unwrap();
    assert_eq!(role(store, "ann").await, SiteRole::Moderator);

    // Every change is in the audit log, newest first, by whom and from where.
    let page = store.audit_page(None, None, 50).await.unwrap();
    let seen: Vec<(&str, &str, &str, &str)> = page
        .entries
        .iter()
        .map(|e| {
            (
                e.actor.as_str(),
                e.action.as_str(),
                e.target.as_str(),
                e.detail.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("command line", "account_enabled", "ann", ""),
            ("command line", "role_changed", "ann", "Administrator → Moderator"),
            ("command line", "account_disabled", "ann", ""),
            ("ann", "role_changed", "bob", "Member → Administrator"),
            ("ann", "role_changed", "ann", "Administrator → Administrator"),
            ("command line", "role_changed", "ann", "Member → Administrator"),
        ],
        "refusals leave no entry"
    );
    assert_eq!(page.entries[3].address, "192.0.2.7");
    assert_eq!(page.entries[0].address, "command line");
    assert!(page.entries[0].at <= now_ms() && page.entries[0].at > now_ms() - 60_000);
    assert_eq!(page.older, None);

    // Filtered by action, and paged.
    let roles = store.audit_page(None, Some(AuditAction::RoleChanged), 2).await.unwrap();
    assert_eq!(roles.entries.len(), 2);
    assert!(roles.entries.iter().all(|e| e.action == "role_changed"));
    let older = store
        .audit_page(roles.older, Some(AuditAction::RoleChanged), 2)
        .await
        .unwrap();
    assert_eq!(older.entries.len(), 2);
    assert!(older.entries[0].id < roles.entries[1].id);
    assert_eq!(older.older, None, "four role changes in all");
}

async fn sessions_end_and_people_are_listed(store: &Store) {
    let cli = Actor::command_line();
    let ann = store.create_user(&name("ann"), "hash").await.unwrap();
    store.create_user(&name("bo_b"), "hash").await.unwrap();
    store.create_user(&name("carol"), "hash").await.unwrap();
    for token in ["t1", "t2"] {
        store
            .create_session(&TokenHash::of(token), ann.id, now_ms() + 60_000)
            .await
            .unwrap();
    }
    let people = store.people("", 10).await.unwrap();
    let names: Vec<&str> = people.iter().map(|p| p.username.as_str()).collect();
    assert_eq!(names, ["ann", "bo_b", "carol"]);
    assert!(people[0].last_seen_at.is_some() && people[1].last_seen_at.is_none());
    assert!(people.iter().all(|p| !p.disabled && p.role == SiteRole::Member));
    // Case-insensitive substring; `_` and `%` are letters here, not wildcards.
    let names = |list: Vec<crate::protocol::Person>| list.into_iter().map(|p| p.username).collect::<Vec<_>>();
    assert_eq!(names(store.people("AR", 10).await.unwrap()), ["carol"]);
    assert_eq!(names(store.people("_", 10).await.unwrap()), ["bo_b"]);
    assert!(store.people("%", 10).await.unwrap().is_empty());
    assert_eq!(store.people("", 2).await.unwrap().len(), 2);

    let (_, ended) = store.end_sessions(&key("ann"), &cli).await.unwrap().unwrap();
    assert_eq!(ended, 2);
    assert!(
        store
            .session_user(&TokenHash::of("t1"), 60_000)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.end_sessions(&key("nobody"), &cli).await.unwrap().is_none());
    let log = store.audit_page(None, None, 10).await.unwrap();
    assert_eq!(
        (log.entries[0].action.as_str(), log.entries[0].detail.as_str()),
        ("sessions_ended", "2 sessions")
    );
}

/// Two administrators demote each other at the same moment: one wins, the
/// other is refused (or, on MariaDB, may lose a deadlock), and the site
/// keeps exactly one administrator.
async fn demoting_each_other_at_once(store: &Store) {
    let cli = Actor::command_line();
    for round in 0..10 {
        let (a, b) = (format!("boss_a{round}"), format!("boss_b{round}"));
        let a_me = store.create_user(&name(&a), "hash").await.unwrap();
        let b_me = store.create_user(&name(&b), "hash").await.unwrap();
        store.set_role(&key(&a), SiteRole::Admin, &cli).await.unwrap();
        store.set_role(&key(&b), SiteRole::Admin, &cli).await.unwrap();
        // Only these two: demote every earlier round's survivor.
        for earlier in 0..round {
            for n in [format!("boss_a{earlier}"), format!("boss_b{earlier}")] {
                let _ = store.set_role(&key(&n), SiteRole::Member, &cli).await;
            }
        }
        let (by_a, by_b) = (admin(&a_me), admin(&b_me));
        let (key_a, key_b) = (key(&a), key(&b));
        let (first, second) = tokio::join!(
            store.set_role(&key_b, SiteRole::Member, &by_a),
            store.set_role(&key_a, SiteRole::Member, &by_b),
        );
        let admins: Vec<_> = store
            .people("", 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|p| p.role == SiteRole::Admin)
            .collect();
        assert_eq!(admins.len(), 1, "round {round}: {first:?} {second:?}");
        assert!(first.is_ok() != second.is_ok(), "round {round}: exactly one wins");
    }
}

fn refused_invitation(result: Result<Me>) -> bool {
    matches!(result, Err(BackendError::Forbidden(Refusal::InvitationNotValid)))
}

async fn settings_and_invitations(store: &Store) {
    let boss = store.create_user(&name("boss"), "hash").await.unwrap();
    let by = admin(&boss);
    assert_eq!(store.settings().await.unwrap(), SiteSettings::default());
    let ours = SiteSettings {
        site_name: "Our 茶室".into(),
        signups: SignupPolicy::Invitation,
    };
    store.save_settings(&ours, &by).await.unwrap();
    store.save_settings(&ours, &by).await.unwrap();
    assert_eq!(store.settings().await.unwrap(), ours);
    let log = store
        .audit_page(None, Some(AuditAction::SettingsChanged), 10)
        .await
        .unwrap();
    assert_eq!(log.entries.len(), 1, "saving the same settings again changes nothing");
    assert_eq!(
        log.entries[0].detail,
        "site name: \"Natter\" → \"Our 茶室\"; sign-ups: Open → By invitation"
    );

    // A link for two sign-ups makes two accounts, then none.
    let hour = now_ms() + 3_600_000;
    let two = TokenHash::of("two-uses");
    let id = store.create_invitation(&two, hour, 2, &by).await.unwrap();
    for n in ["guest_1", "guest_2"] {
        store.create_user_invited(&name(n), "hash", Some(&two)).await.unwrap();
    }
    assert!(refused_invitation(
        store.create_user_invited(&name("guest_3"), "hash", Some(&two)).await
    ));
    assert!(
        store.credentials(&key("guest_3")).await.unwrap().is_none(),
        "nothing created"
    );
    // A taken name does not use the invitation up.
    let one = TokenHash::of("one-use");
    store.create_invitation(&one, hour, 1, &by).await.unwrap();
    let taken = store.create_user_invited(&name("guest_1"), "hash", Some(&one)).await;
    assert!(matches!(taken, Err(BackendError::NameTaken(_))), "{taken:?}");
    // Used once, even when submitted many times at once.
    let names: Vec<_> = (0..6).map(|n| name(&format!("racer_{n}"))).collect();
    let results =
        futures::future::join_all(names.iter().map(|n| store.create_user_invited(n, "hash", Some(&one)))).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results.into_iter().filter(|r| r.is_err()).all(refused_invitation));
    // Expired, withdrawn and made-up links are refused alike.
    let old = TokenHash::of("expired");
    store.create_invitation(&old, now_ms() - 1, 5, &by).await.unwrap();
    assert!(refused_invitation(
        store.create_user_invited(&name("late"), "hash", Some(&old)).await
    ));
    let withdrawn = TokenHash::of("withdrawn");
    let withdrawn_id = store.create_invitation(&withdrawn, hour, 5, &by).await.unwrap();
    assert!(store.revoke_invitation(withdrawn_id, &by).await.unwrap());
    assert!(
        !store.revoke_invitation(withdrawn_id, &by).await.unwrap(),
        "withdrawn once"
    );
    assert!(!store.revoke_invitation(9999, &by).await.unwrap());
    assert!(refused_invitation(
        store
            .create_user_invited(&name("too_late"), "hash", Some(&withdrawn))
            .await
    ));
    assert!(refused_invitation(
        store
            .create_user_invited(&name("guesser"), "hash", Some(&TokenHash::of("guess")))
            .await
    ));

    let list = store.invitations(10).await.unwrap();
    assert_eq!(list.len(), 4);
    let first = list.iter().find(|i| i.id == id).unwrap();
    assert_eq!((first.used, first.uses_left, first.revoked), (2, 0, false));
    assert_eq!(first.created_by, "boss");
    assert!(list.iter().find(|i| i.id == withdrawn_id).unwrap().revoked);
    let made = store
        .audit_page(None, Some(AuditAction::InvitationCreated), 10)
        .await
        .unwrap();
    assert_eq!(made.entries.len(), 4);
    let gone = store
        .audit_page(None, Some(AuditAction::InvitationRevoked), 10)
        .await
        .unwrap();
    assert_eq!(gone.entries.len(), 1);
}

/// The overview's numbers: messages per day from the log (only posts, only
/// the period's), the site's counts, and the nodes heard from lately.
async fn the_overview_counts(store: &Store) {
    use super::tests::{message, no_topic, room_name};
    let ann = store.create_user(&name("ann"), "hash").await.unwrap();
    let now = now_ms();
    let empty = store.messages_per_day(now, 14).await.unwrap();
    assert_eq!(empty.len(), 14);
    assert!(empty.iter().all(|d| d.messages == 0));
    assert_eq!(empty[13].day, now - now % DAY_MS, "today last");

    let room = store
        .create_room(&room_name("busy"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    store.create_user(&name("bob"), "hash").await.unwrap();
    store.direct_room(&ann, &key("bob")).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..6 {
        let posted = store
            .post_message(&message(room, &ann, &format!("m{n}"), "hello"))
            .await
            .unwrap();
        ids.push(posted.message.id);
    }
    // Backdate: two three days ago, one twenty days ago (outside the chart).
    for (id, days_ago) in [(ids[0], 20), (ids[1], 3), (ids[2], 3)] {
        sqlx::query("UPDATE room_events SET created_at = ? WHERE id = ?")
            .bind(now - days_ago * DAY_MS)
            .bind(id)
            .execute(&store.pool)
            .await
            .unwrap();
    }
    // A reaction is an event, not a message.
    store
        .apply_update(&NewUpdate {
            room,
            by: ann.clone(),
            client_id: crate::validate::ClientMessageId::parse("r1").unwrap(),
            message: ids[5],
            change: UpdateChange::React(crate::validate::Emoji::parse("👍").unwrap()),
            moderation: Moderation::No,
        })
        .await
        .unwrap();
    let days = store.messages_per_day(now, 14).await.unwrap();
    let counts: Vec<i64> = days.iter().map(|d| d.messages).collect();
    let mut expected = vec![0; 14];
    expected[13] = 3;
    expected[10] = 2;
    assert_eq!(counts, expected);
    // The bisection finds the period's first event exactly.
    assert_eq!(store.first_event_since(now - 13 * DAY_MS).await.unwrap(), Some(ids[1]));
    assert_eq!(store.first_event_since(0).await.unwrap(), Some(ids[0]));
    assert_eq!(store.first_event_since(now - DAY_MS).await.unwrap(), Some(ids[3]));
    assert_eq!(store.first_event_since(now + DAY_MS).await.unwrap(), None);

    assert_eq!(store.site_counts().await.unwrap(), (2, 1, 1));

    store.heartbeat("node-a", now - 5_000, 3, 2).await.unwrap();
    store.heartbeat("node-a", now - 5_000, 4, 2).await.unwrap();
    store.heartbeat("node-b", now, 0, 0).await.unwrap();
    sqlx::query("UPDATE nodes SET seen_at = ? WHERE id = 'node-b'")
        .bind(now - 60_000)
        .execute(&store.pool)
        .await
        .unwrap();
    let nodes = store.nodes_seen_since(now - 30_000).await.unwrap();
    assert_eq!(nodes.len(), 1, "node-b went quiet");
    assert_eq!(
        (nodes[0].id.as_str(), nodes[0].sockets, nodes[0].people),
        ("node-a", 4, 2)
    );
}

#[tokio::test]
async fn roles_keep_an_administrator_and_every_change_is_audited() {
    let (db, path) = store().await;
    roles_and_the_last_administrator(&db).await;
    cleanup(db, &path).await;
    let (db, path) = store().await;
    sessions_end_and_people_are_listed(&db).await;
    cleanup(db, &path).await;
    let (db, path) = store().await;
    demoting_each_other_at_once(&db).await;
    cleanup(db, &path).await;
    let (db, path) = store().await;
    settings_and_invitations(&db).await;
    cleanup(db, &path).await;
    let (db, path) = store().await;
    the_overview_counts(&db).await;
    cleanup(db, &path).await;
    let (db, path) = store().await;
    a_deleted_room_leaves_nothing_behind(&db).await;
    cleanup(db, &path).await;
}

#[tokio::test]
#[ignore = "needs MariaDB: cargo test -- --include-ignored"]
async fn mariadb_roles_keep_an_administrator_and_every_change_is_audited() {
    let (store, db) = MariaDb::store("natter_roles").await;
    roles_and_the_last_administrator(&store).await;
    db.drop(store).await;
    let (store, db) = MariaDb::store("natter_people").await;
    sessions_end_and_people_are_listed(&store).await;
    db.drop(store).await;
    let (store, db) = MariaDb::store("natter_demote").await;
    demoting_each_other_at_once(&store).await;
    db.drop(store).await;
    let (store, db) = MariaDb::store("natter_invites").await;
    settings_and_invitations(&store).await;
    db.drop(store).await;
    let (store, db) = MariaDb::store("natter_overview").await;
    the_overview_counts(&store).await;
    db.drop(store).await;
    let (store, db) = MariaDb::store("natter_room_delete").await;
    a_deleted_room_leaves_nothing_behind(&store).await;
    db.drop(store).await;
}

/// A deleted room takes its messages, their versions, reactions, reports
/// and files' records and its memberships with it, and nothing of any other room;
/// archiving keeps everything and refuses new messages, even ones that
/// passed the door before the room was archived.
async fn a_deleted_room_leaves_nothing_behind(store: &Store) {
    use super::tests::{message, no_topic, room_name};
    use super::uploads_tests::upload;
    use crate::validate::{ClientMessageId, Emoji, MessageBody};
    let ann = store.create_user(&name("ann"), "hash").await.unwrap();
    let bob = store.create_user(&name("bob"), "hash").await.unwrap();
    let by = Actor::command_line();
    let doomed = store
        .create_room(&room_name("Doomed"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    let kept = store
        .create_room(&room_name("Kept"), &no_topic(), ann.id, true)
        .await
        .unwrap();
    for (room, file) in [(doomed, "1".repeat(32)), (kept, "2".repeat(32))] {
        store.insert_upload(&upload(&file, ann.id, "cat.png")).await.unwrap();
        let first = store
            .post_message(&message(room, &ann, &format!("m{room}"), "first words"))
            .await
            .unwrap()
            .message;
        let with_file = NewMessage {
            attachment: Some(file),
            ..message(room, &ann, &format!("f{room}"), "look")
        };
        store.post_message(&with_file).await.unwrap();
        for (n, change) in [
            UpdateChange::Edit(MessageBody::parse("second words").unwrap()),
            UpdateChange::React(Emoji::parse("👍").unwrap()),
        ]
        .into_iter()
        .enumerate()
        {
            let update = NewUpdate {
                room,
                by: ann.clone(),
                client_id: ClientMessageId::parse(&format!("u{room}-{n}")).unwrap(),
                message: first.id,
                change,
                moderation: Moderation::No,
            };
            store.apply_update(&update).await.unwrap();
        }
        assert!(store.report_message(room, first.id, bob.id, "rude").await.unwrap());
    }
    let count = |sql: &'static str, room: RoomId| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .bind(room.0)
            .fetch_one(&store.pool)
            .await
            .unwrap()
    };
    let leftovers = |room: RoomId| async move {
        let mut found = Vec::new();
        for sql in [
            "SELECT COUNT(*) FROM rooms WHERE id = ?",
            "SELECT COUNT(*) FROM room_events WHERE room_id = ?",
            "SELECT COUNT(*) FROM memberships WHERE room_id = ?",
            "SELECT COUNT(*) FROM uploads WHERE room_id = ?",
            "SELECT COUNT(*) FROM message_versions v JOIN room_events e ON e.id = v.message_id WHERE e.room_id = ?",
            "SELECT COUNT(*) FROM message_reactions r JOIN room_events e ON e.id = r.message_id WHERE e.room_id = ?",
            "SELECT COUNT(*) FROM reports WHERE room_id = ?",
        ] {
            found.push(count(sql, room).await);
        }
        found
    };
    assert_eq!(leftovers(doomed).await, [1, 4, 0, 1, 1, 1, 1]);

    // Archived: kept whole, and a message that passed the door is refused at commit.
    store.set_room_archived(doomed, true, &by).await.unwrap();
    let (posted, _) = store
        .commit_batch(&[message(doomed, &ann, "late", "too late")], &[])
        .await
        .unwrap();
    assert!(
        matches!(posted[..], [Err(BackendError::Forbidden(Refusal::ReadOnly))]),
        "{posted:?}"
    );
    assert!(store.room(doomed).await.unwrap().unwrap().archived);
    assert!(
        !store
            .rooms_visible_to(ann.id)
            .await
            .unwrap()
            .iter()
            .any(|r| r.id == doomed)
    );
    assert_eq!(leftovers(doomed).await, [1, 4, 0, 1, 1, 1, 1]);

    // What is kept by message, counted by the doomed room's message ids (a
    // join with its messages would find nothing once they are gone).
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM room_events WHERE room_id = ?")
        .bind(doomed.0)
        .fetch_all(&store.pool)
        .await
        .unwrap();
    let ids = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    let by_message = || async {
        let mut found = Vec::new();
        for table in [
            "search_postings",
            "search_texts",
            "message_versions",
            "message_reactions",
        ] {
            let sql = format!("SELECT COUNT(*) FROM {table} WHERE message_id IN ({ids})");
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&store.pool)
                .await
                .unwrap();
            found.push(n);
        }
        found
    };
    let before = by_message().await;
    assert!(before.iter().all(|n| *n > 0), "{before:?}");

    let refused = store.delete_room(doomed, "doomed", &by).await.unwrap_err();
    assert!(
        matches!(refused, BackendError::Invalid(_)),
        "the name as written: {refused:?}"
    );
    assert_eq!(store.delete_room(doomed, " Doomed ", &by).await.unwrap(), "Doomed");
    assert_eq!(leftovers(doomed).await, [0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(by_message().await, [0, 0, 0, 0], "nothing kept by its messages");
    assert_eq!(leftovers(kept).await, [1, 4, 1, 1, 1, 1, 1], "another room keeps all");
    assert!(matches!(
        store.delete_room(doomed, "Doomed", &by).await,
        Err(BackendError::RoomNotFound)
    ));
    let (posted, _) = store
        .commit_batch(&[message(doomed, &ann, "later", "hello?")], &[])
        .await
        .unwrap();
    assert!(matches!(posted[..], [Err(BackendError::RoomNotFound)]), "{posted:?}");
    let audit = store.audit_page(None, None, 10).await.unwrap();
    let actions: Vec<&str> = audit.entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["room_deleted", "room_archived"]);
}
