//! Messages that change: edits, deletions, reactions and replies as events
//! in the room's log, on SQLite and on MariaDB.

use super::tests::{MariaDb, cleanup, message, name, no_topic, room_name, store};
use super::*;
use crate::backend::RoomEvent;
use crate::protocol::{Change, ChatMessage, Me, Reaction, RoomId, Seq, Update};
use crate::validate::{ClientMessageId, Emoji, MessageBody};

pub(super) fn change(room: RoomId, by: &Me, client_id: &str, message: i64, change: UpdateChange) -> NewUpdate {
    NewUpdate {
        room,
        by: by.clone(),
        client_id: ClientMessageId::parse(client_id).unwrap(),
        message,
        change,
        moderation: Moderation::No,
    }
}

fn edit(body: &str) -> UpdateChange {
    UpdateChange::Edit(MessageBody::parse(body).unwrap())
}

fn react(emoji: &str) -> UpdateChange {
    UpdateChange::React(Emoji::parse(emoji).unwrap())
}

fn unreact(emoji: &str) -> UpdateChange {
    UpdateChange::Unreact(Emoji::parse(emoji).unwrap())
}

/// The update an `apply_update` logged.
async fn logged(store: &Store, new: NewUpdate) -> Update {
    let applied = store.apply_update(&new).await.unwrap();
    assert!(applied.fresh);
    applied.update.expect("a change was logged")
}

/// The room's newest page, and the sequence it is current as of.
async fn page(store: &Store, room: RoomId) -> (Vec<ChatMessage>, Seq) {
    let (messages, _, as_of) = store.messages_before(room, None, 50).await.unwrap();
    (messages, as_of)
}

fn chips(m: &ChatMessage) -> Vec<(&str, Vec<&str>)> {
    m.reactions
        .iter()
        .map(|Reaction { emoji, users }| (emoji.as_str(), users.iter().map(String::as_str).collect()))
        .collect()
}

/// How many rows anywhere still hold `text`.
async fn rows_holding(store: &Store, text: &str) -> i64 {
    let pattern = format!("%{text}%");
    let mut total = 0;
    for sql in [
        "SELECT COUNT(*) FROM room_events WHERE body LIKE ?",
        "SELECT COUNT(*) FROM message_versions WHERE body LIKE ?",
    ] {
        let n: i64 = sqlx::query_scalar(sql)
            .bind(&pattern)
            .fetch_one(&store.pool)
            .await
            .unwrap();
        total += n;
    }
    total
}

async fn messages_live(store: &Store) {
    let ann = store.create_user(&name("ann"), "hash").await.unwrap();
    let bob = store.create_user(&name("bob"), "hash").await.unwrap();
    let room = store
        .create_room(&room_name("Live"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    let elsewhere = store
        .create_room(&room_name("Else"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    let first = store
        .post_message(&message(room, &ann, "p1", "original words"))
        .await
        .unwrap()
        .message;
    let away = store
        .post_message(&message(elsewhere, &ann, "p9", "over there"))
        .await
        .unwrap()
        .message;

    // A reply quotes the message it answers, in the same room only.
    let reply = NewMessage {
        reply_to: Some(first.id),
        ..message(room, &bob, "p2", "answer")
    };
    let reply = store.post_message(&reply).await.unwrap().message;
    let quote = reply.reply_to.clone().unwrap();
    assert_eq!(
        (quote.id, quote.seq, quote.author.as_str(), quote.excerpt.as_str()),
        (first.id, 1, "ann", "original words")
    );
    for target in [away.id, 424_242] {
        let wrong = NewMessage {
            reply_to: Some(target),
            ..message(room, &bob, "p3", "lost")
        };
        let refused = store.post_message(&wrong).await.unwrap_err();
        assert!(refused.to_string().contains("does not exist"), "{refused}");
    }
    // Group commit checks replies too, each on its own.
    let outcomes = store
        .post_batch(&[
            NewMessage {
                reply_to: Some(away.id),
                ..message(room, &bob, "b1", "wrong room")
            },
            NewMessage {
                reply_to: Some(first.id),
                ..message(room, &bob, "b2", "right room")
            },
        ])
        .await
        .unwrap();
    assert!(outcomes[0].is_err());
    let batched = outcomes[1].as_ref().unwrap();
    assert_eq!(
        (batched.message.seq, batched.message.reply_to.as_ref().map(|q| q.id)),
        (3, Some(first.id))
    );

    // Edit: only by its author; the same text again changes nothing.
    let edited = logged(store, change(room, &ann, "e1", first.id, edit("better words"))).await;
    assert_eq!((edited.seq, edited.message, edited.by.as_str()), (4, first.id, "ann"));
    assert_eq!(
        edited.change,
        Change::Edited {
            body: "better words".into()
        }
    );
    let again = store
        .apply_update(&change(room, &ann, "e1", first.id, edit("better words")))
        .await
        .unwrap();
    assert!(!again.fresh, "a retried edit returns the original");
    assert_eq!(again.update.map(|u| u.seq), Some(4));
    let same = store
        .apply_update(&change(room, &ann, "e2", first.id, edit("better words")))
        .await
        .unwrap();
    assert!(same.update.is_none(), "nothing changed, nothing logged");
    // A client id is for one thing: a message's id cannot edit, nor an edit's post.
    let reused = store
        .apply_update(&change(room, &ann, "p1", first.id, edit("by a post's id")))
        .await;
    assert!(reused.unwrap_err().to_string().contains("already used"));
    let reused = store.post_message(&message(room, &ann, "e1", "by an edit's id")).await;
    assert!(reused.unwrap_err().to_string().contains("already used"));
    let theirs = store
        .apply_update(&change(room, &bob, "e3", first.id, edit("mine now")))
        .await;
    assert!(matches!(theirs, Err(BackendError::Forbidden(_))), "{theirs:?}");
    let other_room = store
        .apply_update(&change(elsewhere, &ann, "e4", first.id, edit("moved")))
        .await;
    assert!(
        matches!(other_room, Err(BackendError::MessageNotFound)),
        "{other_room:?}"
    );
    let not_a_message = store
        .apply_update(&change(room, &ann, "e5", edited.id, edit("an event")))
        .await;
    assert!(
        matches!(not_a_message, Err(BackendError::MessageNotFound)),
        "{not_a_message:?}"
    );

    // Reactions: once per person and emoji; taking back one not there is nothing.
    assert_eq!(
        logged(store, change(room, &bob, "r1", first.id, react("👍"))).await.seq,
        5
    );
    assert_eq!(
        logged(store, change(room, &ann, "r2", first.id, react("👍"))).await.seq,
        6
    );
    assert_eq!(
        logged(store, change(room, &ann, "r3", first.id, react("🎉"))).await.seq,
        7
    );
    let twice = store
        .apply_update(&change(room, &bob, "r4", first.id, react("👍")))
        .await
        .unwrap();
    assert!(twice.update.is_none());
    let absent = store
        .apply_update(&change(room, &bob, "r5", first.id, unreact("🎉")))
        .await
        .unwrap();
    assert!(absent.update.is_none());
    assert_eq!(
        logged(store, change(room, &ann, "r6", first.id, unreact("🎉")))
            .await
            .seq,
        8
    );

    // A page shows messages as they are now, as of the room's last event.
    let (messages, as_of) = page(store, room).await;
    assert_eq!(as_of, 8);
    assert_eq!(messages.len(), 3, "updates are not messages");
    let shown = &messages[0];
    assert_eq!(
        (shown.body.as_str(), shown.edited_at),
        ("better words", Some(edited.at))
    );
    assert_eq!(chips(shown), [("👍", vec!["bob", "ann"])]);
    assert_eq!(messages[1].reply_to.as_ref().unwrap().excerpt, "better words");
    // Catch-up replays every event; earlier versions are never in it.
    let events = store.events_after(room, 0, 100).await.unwrap();
    let seqs: Vec<Seq> = events.iter().filter_map(RoomEvent::seq).collect();
    assert_eq!(
        seqs,
        (1..=8).collect::<Vec<_>>(),
        "one gap-free sequence for every kind"
    );
    let RoomEvent::Posted(replayed) = &events[0] else {
        panic!("{:?}", events[0])
    };
    assert_eq!(replayed.body, "better words");
    assert!(!format!("{events:?}").contains("original"), "{events:?}");
    assert_eq!(rows_holding(store, "original").await, 1, "kept for moderation");

    // At most 20 different emoji on a message; more of one already there is fine.
    let many = [
        "😀", "😂", "😍", "🤔", "😎", "😢", "😡", "👏", "🙏", "🔥", "💯", "✅", "❤️", "🚀", "👀", "🎉", "🍕", "☕",
        "🌟",
    ];
    for (i, emoji) in many.iter().enumerate() {
        logged(store, change(room, &ann, &format!("m{i}"), reply.id, react(emoji))).await;
    }
    logged(store, change(room, &bob, "m-b", reply.id, react("😀"))).await;
    logged(store, change(room, &bob, "m-c", reply.id, react("👍"))).await;
    let full = store
        .apply_update(&change(room, &bob, "m-d", reply.id, react("🐢")))
        .await;
    assert!(full.unwrap_err().to_string().contains("at most 20"));

    // Delete: the author, or a moderator; not anyone else.
    let by_bob = store
        .apply_update(&change(room, &bob, "d1", first.id, UpdateChange::Delete))
        .await;
    assert!(matches!(by_bob, Err(BackendError::Forbidden(_))), "{by_bob:?}");
    let deleted = logged(store, change(room, &ann, "d2", first.id, UpdateChange::Delete)).await;
    assert_eq!(deleted.change, Change::Deleted);
    let moderated = NewUpdate {
        moderation: Moderation::Audited(Actor::person(&ann, "192.0.2.7".into())),
        ..change(room, &ann, "d3", reply.id, UpdateChange::Delete)
    };
    logged(store, moderated).await;
    // Only the deletion of someone else's message is a moderation action.
    let audit = store.audit_page(None, None, 10).await.unwrap().entries;
    let audited: Vec<_> = audit
        .iter()
        .map(|e| {
            (
                e.actor.as_str(),
                e.action.as_str(),
                e.target.as_str(),
                e.address.as_str(),
            )
        })
        .collect();
    assert_eq!(
        audited,
        [("ann", "message_removed", "message by bob in Live", "192.0.2.7")]
    );

    // Gone from pages, catch-up and the tables: text, versions, reactions.
    let (messages, _) = page(store, room).await;
    let gone = &messages[0];
    assert!(
        gone.deleted && gone.body.is_empty() && gone.reactions.is_empty(),
        "{gone:?}"
    );
    let quote = messages[2].reply_to.as_ref().unwrap();
    assert!(quote.deleted && quote.excerpt.is_empty(), "{quote:?}");
    assert_eq!(rows_holding(store, "words").await, 0);
    let events = format!("{:?}", store.events_after(room, 0, 100).await.unwrap());
    assert!(!events.contains("words") && !events.contains("answer"), "{events}");
    let reactions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM message_reactions")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(reactions, 0);

    // A deleted message takes no more changes, and no replies.
    for (id, what) in [("x1", edit("back")), ("x2", react("👍")), ("x3", UpdateChange::Delete)] {
        let refused = store
            .apply_update(&change(room, &ann, id, first.id, what))
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("was deleted"), "{refused}");
    }
    let late = NewMessage {
        reply_to: Some(first.id),
        ..message(room, &bob, "p4", "too late")
    };
    assert!(
        store
            .post_message(&late)
            .await
            .unwrap_err()
            .to_string()
            .contains("was deleted")
    );
    let last = store.last_seq(room).await.unwrap();
    let logged_seqs: Vec<Seq> = store
        .events_after(room, 0, 100)
        .await
        .unwrap()
        .iter()
        .filter_map(RoomEvent::seq)
        .collect();
    assert_eq!(Some(logged_seqs.len() as Seq), last, "refusals burned no sequence");
}

#[tokio::test]
async fn edits_deletions_reactions_and_replies_are_events_in_the_log() {
    let (store, path) = store().await;
    messages_live(&store).await;
    cleanup(store, &path).await;
}

#[tokio::test]
#[ignore = "needs MariaDB: cargo test -- --include-ignored"]
async fn mariadb_edits_deletions_reactions_and_replies_are_events_in_the_log() {
    let (store, db) = MariaDb::store("natter_living").await;
    messages_live(&store).await;
    db.drop(store).await;
}

/// The writer commits changes after its batch's messages and publishes each
/// fresh one once, in commit order; a retry is answered, not published.
#[tokio::test]
async fn the_writer_publishes_each_change_once_in_order() {
    use crate::backend::writer::Writer;
    let (store, path) = store().await;
    let ann = store.create_user(&name("ann"), "hash").await.unwrap();
    let room = store
        .create_room(&room_name("W"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    #[derive(Default)]
    struct Seen(std::sync::Mutex<Vec<Seq>>);
    impl crate::backend::Publisher for Seen {
        fn publish(&self, events: Vec<RoomEvent>) -> crate::backend::events::Published<'_> {
            self.0.lock().unwrap().extend(events.iter().filter_map(RoomEvent::seq));
            Box::pin(std::future::ready(()))
        }

        fn sessions_ended(&self) {}
    }
    let seen = std::sync::Arc::new(Seen::default());
    let writer = Writer::start(store.clone(), seen.clone());
    let posted = writer.post(message(room, &ann, "w1", "hello")).await.unwrap().message;
    let id = posted.id;
    let (a, b) = tokio::join!(
        writer.update(change(room, &ann, "w2", id, react("👍"))),
        writer.update(change(room, &ann, "w3", id, edit("hello!"))),
    );
    assert_eq!((a.unwrap().update.unwrap().seq, b.unwrap().update.unwrap().seq), (2, 3));
    let retry = writer
        .update(change(room, &ann, "w3", id, edit("hello!")))
        .await
        .unwrap();
    assert!(!retry.fresh);
    let refused = writer.update(change(room, &ann, "w4", 999, edit("nobody"))).await;
    assert!(matches!(refused, Err(BackendError::MessageNotFound)));
    assert_eq!(*seen.0.lock().unwrap(), [1, 2, 3]);
    cleanup(store, &path).await;
}

/// A retry that got past the first lookup while its original was still
/// committing (sent again on another connection) finds the original under
/// the room's lock: it is answered with it, not judged as a new change
/// ("already reacted": nothing logged; "already deleted": refused).
#[tokio::test]
async fn a_retry_racing_its_original_is_answered_with_it() {
    let (store, path) = store().await;
    let ann = store.create_user(&name("ann"), "hash").await.unwrap();
    let room = store
        .create_room(&room_name("R"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    let id = store
        .post_message(&message(room, &ann, "p1", "hi"))
        .await
        .unwrap()
        .message
        .id;
    for (client_id, what) in [("r1", react("👍")), ("r2", unreact("👍")), ("d1", UpdateChange::Delete)] {
        let first = store
            .apply_update(&change(room, &ann, client_id, id, what))
            .await
            .unwrap();
        let what = match client_id {
            "r1" => react("👍"),
            "r2" => unreact("👍"),
            _ => UpdateChange::Delete,
        };
        // As the retry would be, past `apply_update`'s own lookup.
        let retry = store
            .update_message(&change(room, &ann, client_id, id, what))
            .await
            .unwrap();
        assert!(!retry.fresh, "{client_id}");
        assert_eq!(
            retry.update.map(|u| u.seq),
            first.update.map(|u| u.seq),
            "{client_id}: the original's acknowledgement"
        );
    }
    cleanup(store, &path).await;
}

/// Group commit takes changes too: after the batch's messages, each under
/// its room's next sequence; a refused one takes none and changes nothing.
async fn changes_in_a_batch(store: &Store) {
    let ann = store.create_user(&name("ann"), "hash").await.unwrap();
    let bob = store.create_user(&name("bob"), "hash").await.unwrap();
    let a = store
        .create_room(&room_name("A"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    let b = store
        .create_room(&room_name("B"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    let first = store
        .post_message(&message(a, &ann, "p1", "first"))
        .await
        .unwrap()
        .message;
    let (posted, applied) = store
        .commit_batch(
            &[message(a, &bob, "p2", "second"), message(b, &bob, "p3", "elsewhere")],
            &[
                change(a, &bob, "c1", first.id, react("👍")),
                change(a, &bob, "c2", first.id, edit("not bob's")),
                change(a, &ann, "c3", first.id, edit("first!")),
                change(b, &ann, "c4", first.id, react("👍")),
                change(a, &ann, "c5", first.id, react("👍")),
                change(a, &ann, "c6", first.id, react("👍")),
                change(RoomId(999), &ann, "c7", first.id, react("👍")),
            ],
        )
        .await
        .unwrap();
    let seqs: Vec<Seq> = posted.iter().map(|p| p.as_ref().unwrap().message.seq).collect();
    assert_eq!(seqs, [2, 1], "messages first, each room its own counter");
    let outcome = |i: usize| applied[i].as_ref().map(|a| a.update.as_ref().map(|u| u.seq));
    assert_eq!(outcome(0).unwrap(), Some(3));
    assert!(matches!(applied[1], Err(BackendError::Forbidden(_))));
    assert_eq!(outcome(2).unwrap(), Some(4));
    assert!(
        matches!(applied[3], Err(BackendError::MessageNotFound)),
        "a message of another room"
    );
    assert_eq!(outcome(4).unwrap(), Some(5));
    assert_eq!(outcome(5).unwrap(), None, "already reacted: nothing logged");
    assert!(matches!(applied[6], Err(BackendError::RoomNotFound)));
    // The counters moved with them: the next message follows on.
    assert_eq!(store.last_seq(a).await.unwrap(), Some(5));
    assert_eq!(
        store
            .post_message(&message(a, &ann, "p4", "next"))
            .await
            .unwrap()
            .message
            .seq,
        6
    );
    let (page, _, as_of) = store.messages_before(a, None, 10).await.unwrap();
    assert_eq!(as_of, 6);
    assert_eq!(page[0].body, "first!");
    assert_eq!(page[0].reactions.len(), 1);
    assert_eq!(page[0].reactions[0].users, ["bob", "ann"]);
    // Changes only: no message needed in the batch.
    let (_, applied) = store
        .commit_batch(&[], &[change(a, &bob, "c8", first.id, unreact("👍"))])
        .await
        .unwrap();
    assert_eq!(applied[0].as_ref().unwrap().update.as_ref().map(|u| u.seq), Some(7));
    let seqs: Vec<Seq> = store
        .events_after(a, 0, 100)
        .await
        .unwrap()
        .iter()
        .filter_map(RoomEvent::seq)
        .collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
}

#[tokio::test]
async fn group_commit_takes_changes_after_its_messages() {
    let (store, path) = store().await;
    changes_in_a_batch(&store).await;
    cleanup(store, &path).await;
}

#[tokio::test]
#[ignore = "needs MariaDB: cargo test -- --include-ignored"]
async fn mariadb_group_commit_takes_changes_after_its_messages() {
    for returning in [true, false] {
        let (store, db) = MariaDb::store("natter_batch_changes").await;
        let store = if returning { store } else { store.without_returning() };
        changes_in_a_batch(&store).await;
        db.drop(store).await;
    }
}

/// Several changes to one message in one batch see each other, in order,
/// and the rows they leave are what a page and a replay both show.
async fn one_message_changed_many_times_in_a_batch(store: &Store) {
    let ann = store.create_user(&name("ann"), "hash").await.unwrap();
    let bob = store.create_user(&name("bob"), "hash").await.unwrap();
    let room = store
        .create_room(&room_name("M"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    let kept = store
        .post_message(&message(room, &ann, "p1", "v1"))
        .await
        .unwrap()
        .message
        .id;
    let gone = store
        .post_message(&message(room, &ann, "p2", "doomed"))
        .await
        .unwrap()
        .message
        .id;
    logged(store, change(room, &bob, "r0", kept, react("👍"))).await;
    let (_, applied) = store
        .commit_batch(
            &[],
            &[
                change(room, &ann, "a", kept, edit("v2")),
                change(room, &ann, "b", kept, edit("v3")),
                change(room, &ann, "c", kept, react("🎉")),
                change(room, &bob, "d", kept, unreact("👍")),
                change(room, &bob, "e", kept, react("👍")),
                change(room, &ann, "f", kept, react("🎉")),
                change(room, &ann, "g", gone, edit("doomed, edited")),
                change(room, &bob, "h", gone, react("👀")),
                change(room, &ann, "i", gone, UpdateChange::Delete),
                change(room, &bob, "j", gone, react("👍")),
            ],
        )
        .await
        .unwrap();
    let seqs: Vec<Option<Seq>> = applied
        .iter()
        .map(|a| a.as_ref().ok().and_then(|a| a.update.as_ref().map(|u| u.seq)))
        .collect();
    // After p1, p2 and r0 (3): each logged change takes the next; "f" is
    // already so; "j" finds the message deleted.
    assert_eq!(
        seqs,
        [
            Some(4),
            Some(5),
            Some(6),
            Some(7),
            Some(8),
            None,
            Some(9),
            Some(10),
            Some(11),
            None
        ]
    );
    assert!(applied[9].as_ref().unwrap_err().to_string().contains("was deleted"));
    let (page, _, as_of) = store.messages_before(room, None, 10).await.unwrap();
    assert_eq!(as_of, 11);
    assert_eq!(page[0].body, "v3");
    // 👍 was taken back and given again: it now comes after 🎉.
    assert_eq!(chips(&page[0]), [("🎉", vec!["ann"]), ("👍", vec!["bob"])]);
    assert!(page[1].deleted && page[1].reactions.is_empty() && page[1].body.is_empty());
    let versions: Vec<String> = sqlx::query_scalar("SELECT body FROM message_versions ORDER BY id")
        .fetch_all(&store.pool)
        .await
        .unwrap();
    assert_eq!(versions, ["v1", "v2"], "the deleted message's versions are gone");
    assert_eq!(rows_holding(store, "doomed").await, 0);
}

#[tokio::test]
async fn many_changes_to_one_message_in_a_batch_see_each_other() {
    let (store, path) = store().await;
    one_message_changed_many_times_in_a_batch(&store).await;
    cleanup(store, &path).await;
}

#[tokio::test]
#[ignore = "needs MariaDB: cargo test -- --include-ignored"]
async fn mariadb_many_changes_to_one_message_in_a_batch_see_each_other() {
    for returning in [true, false] {
        let (store, db) = MariaDb::store("natter_batch_many").await;
        let store = if returning { store } else { store.without_returning() };
        one_message_changed_many_times_in_a_batch(&store).await;
        db.drop(store).await;
    }
}

/// A retry queued in the same batch as its original (resent on a new
/// connection before the first was answered) gets the original's answer:
/// its sequence, once, not "nothing changed".
#[tokio::test]
async fn a_retry_in_the_same_batch_as_its_original_is_answered_with_it() {
    let (store, path) = store().await;
    let ann = store.create_user(&name("ann"), "hash").await.unwrap();
    let room = store
        .create_room(&room_name("R"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    let id = store
        .post_message(&message(room, &ann, "p1", "hi"))
        .await
        .unwrap()
        .message
        .id;
    let twice = [
        change(room, &ann, "r1", id, react("👍")),
        change(room, &ann, "r1", id, react("👍")),
    ];
    let (_, applied) = store.commit_batch(&[], &twice).await.unwrap();
    let (first, again) = (applied[0].as_ref().unwrap(), applied[1].as_ref().unwrap());
    assert!(first.fresh && !again.fresh, "published once");
    let key = |a: &Applied| a.update.as_ref().map(|u| (u.seq, u.id));
    assert_eq!(key(first), key(again));
    assert_eq!(key(first).map(|(seq, _)| seq), Some(2));
    assert_eq!(store.last_seq(room).await.unwrap(), Some(2));
    cleanup(store, &path).await;
}
