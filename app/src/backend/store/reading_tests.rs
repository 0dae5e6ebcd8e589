//! Read markers, mentions and the sidebar's counts, on SQLite and MariaDB.

use super::living_tests::change;
use super::tests::{MariaDb, cleanup, message, name, no_topic, room_name, store};
use super::*;
use crate::protocol::{RoomId, SidebarRoom};
use crate::validate::MessageBody;

/// `user`'s sidebar entry for `room`.
async fn entry(store: &Store, user: crate::protocol::UserId, room: RoomId) -> Option<SidebarRoom> {
    store.sidebar(user).await.unwrap().into_iter().find(|r| r.id == room)
}

async fn keeping_up(store: &Store) {
    let ann = store.create_user(&name("ann"), "hash").await.unwrap();
    let bob = store.create_user(&name("Bob"), "hash").await.unwrap();
    let cyd = store.create_user(&name("cyd"), "hash").await.unwrap();
    let room = store
        .create_room(&room_name("Plaza"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    let post = |client: &str, body: &str| message(room, &ann, client, body);
    store.post_message(&post("old", "before bob came")).await.unwrap();

    // Opening a room starts its marker at the end: old history is not unread.
    store.ensure_member(room, ann.id).await.unwrap();
    store.ensure_member(room, bob.id).await.unwrap();
    let fresh = entry(store, bob.id, room)
        .await
        .expect("an opened room is in the sidebar");
    assert_eq!((fresh.unread, fresh.mentions, fresh.read_seq), (0, 0, 1));
    assert_eq!(fresh.name, "Plaza");
    assert!(entry(store, cyd.id, room).await.is_none(), "never opened, not listed");

    // Bob's message mentions Ann: unread to her, never to him (posting
    // reads the room: his marker moves past it).
    store
        .post_message(&message(room, &bob, "b1", "my own words are never unread to me @ann"))
        .await
        .unwrap();
    let anns = entry(store, ann.id, room).await.unwrap();
    assert_eq!((anns.unread, anns.mentions), (1, 1));
    let bobs = entry(store, bob.id, room).await.unwrap();
    assert_eq!((bobs.unread, bobs.mentions, bobs.read_seq), (0, 0, 2));

    // Through the group commit and one by one alike; mentions are counted
    // per message, whatever the case, never for the author or for no one.
    let batch = [
        post("m1", "hello all"),
        post("m2", "@bob look, @BOB again, @ann and @nobody"),
    ];
    for posted in store.post_batch(&batch).await.unwrap() {
        posted.unwrap();
    }
    let anns = entry(store, ann.id, room).await.unwrap();
    assert_eq!(
        (anns.unread, anns.mentions, anns.read_seq),
        (0, 0, 4),
        "she posted after bob's message: read"
    );
    let third = store.post_message(&post("m3", "also @Bob")).await.unwrap().message;
    let bobs = entry(store, bob.id, room).await.unwrap();
    assert_eq!((bobs.unread, bobs.mentions), (3, 2));
    assert_eq!(bobs.unread_label().as_deref(), Some("3"));
    assert_eq!(entry(store, ann.id, room).await.unwrap().read_seq, 5);

    // The marker only moves forward, and never past the room's end.
    assert!(store.mark_read(bob.id, room, 4).await.unwrap());
    assert!(!store.mark_read(bob.id, room, 3).await.unwrap(), "backwards");
    assert!(!store.mark_read(bob.id, room, 4).await.unwrap(), "in place");
    assert!(!store.mark_read(bob.id, room, 99).await.unwrap(), "past the end");
    assert!(!store.mark_read(cyd.id, room, 4).await.unwrap(), "a room never opened");
    assert!(entry(store, cyd.id, room).await.is_none());
    assert_eq!(store.read_seq(bob.id, room).await.unwrap(), 4);
    let bobs = entry(store, bob.id, room).await.unwrap();
    assert_eq!((bobs.unread, bobs.mentions, bobs.read_seq), (1, 1, 4));

    // An edit that drops the name drops the mention; a deletion drops the
    // message from the count.
    let applied = store
        .apply_update(&change(
            room,
            &ann,
            "e1",
            third.id,
            UpdateChange::Edit(MessageBody::parse("also you").unwrap()),
        ))
        .await
        .unwrap();
    assert!(applied.update.is_some());
    assert_eq!(entry(store, bob.id, room).await.unwrap().mentions, 0);
    store
        .apply_update(&change(
            room,
            &ann,
            "e2",
            third.id,
            UpdateChange::Edit(MessageBody::parse("@bob again").unwrap()),
        ))
        .await
        .unwrap();
    assert_eq!(
        entry(store, bob.id, room).await.unwrap().mentions,
        1,
        "named again by an edit"
    );
    store
        .apply_update(&change(room, &ann, "d1", third.id, UpdateChange::Delete))
        .await
        .unwrap();
    let bobs = entry(store, bob.id, room).await.unwrap();
    assert_eq!((bobs.unread, bobs.mentions), (0, 0));

    // Far behind: counted exactly, shown as "99+". A marker short of the
    // end counts what is after it, deleted messages aside.
    let many: Vec<NewMessage> = (0..105).map(|i| post(&format!("x{i}"), "chatter")).collect();
    let mut posted = Vec::new();
    for p in store.post_batch(&many).await.unwrap() {
        posted.push(p.unwrap().message);
    }
    let bobs = entry(store, bob.id, room).await.unwrap();
    assert_eq!(bobs.unread, 105);
    assert_eq!(bobs.unread_label().as_deref(), Some("99+"));
    assert_eq!(bobs.unread_count(), 99);
    store
        .apply_update(&change(room, &ann, "d2", posted[104].id, UpdateChange::Delete))
        .await
        .unwrap();
    store
        .apply_update(&change(room, &ann, "d3", posted[0].id, UpdateChange::Delete))
        .await
        .unwrap();
    assert!(store.mark_read(bob.id, room, posted[1].seq).await.unwrap());
    assert_eq!(entry(store, bob.id, room).await.unwrap().unread, 102, "x2 to x103");
    let last = store.last_seq(room).await.unwrap().unwrap();
    assert!(store.mark_read(bob.id, room, last).await.unwrap());
    let bobs = entry(store, bob.id, room).await.unwrap();
    assert_eq!((bobs.unread, bobs.unread_label()), (0, None));

    // A private room someone is added to starts read to its end; a room
    // they are banned from, or an archived one, leaves the sidebar.
    let private = store
        .create_room(&room_name("Back office"), &no_topic(), ann.id, true)
        .await
        .unwrap();
    store
        .post_message(&message(private, &ann, "p1", "@cyd before you came"))
        .await
        .unwrap();
    store
        .add_member(private, &crate::validate::UserKey::of("cyd"), &Actor::command_line())
        .await
        .unwrap();
    let cyds = entry(store, cyd.id, private)
        .await
        .expect("a member's private room is listed");
    assert_eq!((cyds.unread, cyds.mentions, cyds.private), (0, 0, true));
    store
        .post_message(&message(private, &ann, "p2", "welcome @cyd"))
        .await
        .unwrap();
    assert_eq!(entry(store, cyd.id, private).await.unwrap().mentions, 1);

    store
        .set_standing(
            (room, "Plaza"),
            (bob.id, "Bob"),
            StandingChange::Banned(true),
            &Actor::command_line(),
        )
        .await
        .unwrap();
    assert!(entry(store, bob.id, room).await.is_none(), "banned");
    store
        .set_room_archived(private, true, &Actor::command_line())
        .await
        .unwrap();
    assert!(entry(store, cyd.id, private).await.is_none(), "archived");

    // Muting is theirs alone, and only where they have a row.
    let noisy = store
        .create_room(&room_name("Noisy"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    store.ensure_member(noisy, ann.id).await.unwrap();
    store.ensure_member(noisy, bob.id).await.unwrap();
    assert!(store.set_quiet(ann.id, noisy, true).await.unwrap());
    assert!(entry(store, ann.id, noisy).await.unwrap().quiet);
    assert!(!entry(store, bob.id, noisy).await.unwrap().quiet);
    assert!(store.set_quiet(ann.id, noisy, false).await.unwrap());
    assert!(!entry(store, ann.id, noisy).await.unwrap().quiet);
    assert!(!store.set_quiet(cyd.id, room, true).await.unwrap(), "never opened");

    // Most recently active first.
    let other = store
        .create_room(&room_name("Later"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    store.ensure_member(other, ann.id).await.unwrap();
    store.post_message(&message(other, &ann, "l1", "newest")).await.unwrap();
    let order: Vec<RoomId> = store.sidebar(ann.id).await.unwrap().iter().map(|r| r.id).collect();
    assert_eq!(order.first(), Some(&other));
}

#[tokio::test]
async fn read_markers_mentions_and_unread_counts() {
    let (store, path) = store().await;
    keeping_up(&store).await;
    cleanup(store, &path).await;
}

#[tokio::test]
#[ignore = "needs MariaDB: cargo test -- --include-ignored"]
async fn mariadb_read_markers_mentions_and_unread_counts() {
    let (store, db) = MariaDb::store("natter_reading").await;
    keeping_up(&store).await;
    db.drop(store).await;
}
