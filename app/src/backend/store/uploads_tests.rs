//! Files posted with messages: attached once, by their uploader only, in
//! the message's own transaction (single and group commit); shown by every
//! page and replay; gone with a deleted message; swept when never posted.

use super::tests::{MariaDb, cleanup, message, name, no_topic, room_name, store};
use super::*;
use crate::backend::RoomEvent;
use crate::backend::clock::now_ms;
use crate::protocol::{Me, RoomId, UserId};

pub(super) fn upload(id: &str, uploader: UserId, name: &str) -> NewUpload {
    NewUpload {
        id: id.to_owned(),
        uploader,
        name: name.to_owned(),
        mime: "image/png".into(),
        size: 1234,
        blob_key: "a".repeat(64),
        preview: Some(("b".repeat(64), "image/jpeg".into())),
        width: Some(1200),
        height: Some(800),
        animated: false,
        created_at: now_ms(),
    }
}

fn with_file(room: RoomId, author: &Me, client_id: &str, file: &str) -> NewMessage {
    NewMessage {
        attachment: Some(file.to_owned()),
        ..message(room, author, client_id, "look")
    }
}

async fn files_posted_with_messages(store: &Store) {
    let ann = store.create_user(&name("ann"), "hash").await.unwrap();
    let bob = store.create_user(&name("bob"), "hash").await.unwrap();
    let room = store
        .create_room(&room_name("pictures"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    let ids: Vec<String> = (0..5).map(|i| format!("{i:032x}")).collect();
    for id in &ids {
        store.insert_upload(&upload(id, ann.id, "cat.png")).await.unwrap();
    }

    // Posted by its uploader, with or without words.
    let posted = store
        .post_message(&with_file(room, &ann, "s1", &ids[0]))
        .await
        .unwrap()
        .message;
    let file = posted.attachment.clone().expect("the file goes with the message");
    assert_eq!(
        (file.id.as_str(), file.width, file.has_preview),
        (ids[0].as_str(), Some(1200), true)
    );
    let row = store.upload(&ids[0]).await.unwrap().unwrap();
    assert_eq!((row.room, row.deleted), (Some(room), false));

    // Not by anyone else, not twice, not an id that was never uploaded; a
    // refusal takes no sequence.
    for (author, client_id, id) in [
        (&bob, "s2", ids[1].clone()),
        (&ann, "s3", ids[0].clone()),
        (&ann, "s4", "f".repeat(32)),
        (&ann, "s5", "../../etc/passwd".to_owned()),
    ] {
        let refused = store
            .post_message(&with_file(room, author, client_id, &id))
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("cannot be posted"), "{refused}");
    }
    assert_eq!(store.last_seq(room).await.unwrap(), Some(1));
    // A retry of the first send answers with the original, file included.
    let again = store.post_message(&with_file(room, &ann, "s1", &ids[0])).await.unwrap();
    assert!(!again.fresh);
    assert_eq!(again.message.attachment, Some(file.clone()));

    // Group commit: each message checked on its own; of two posting one
    // file, the first has it.
    let outcomes = store
        .post_batch(&[
            with_file(room, &ann, "b1", &ids[2]),
            with_file(room, &bob, "b2", &ids[3]),
            with_file(room, &ann, "b3", &ids[3]),
            with_file(room, &ann, "b4", &ids[3]),
            message(room, &bob, "b5", "words only"),
        ])
        .await
        .unwrap();
    let files: Vec<Option<Option<String>>> = outcomes
        .iter()
        .map(|o| {
            o.as_ref()
                .ok()
                .map(|p| p.message.attachment.as_ref().map(|a| a.id.clone()))
        })
        .collect();
    assert_eq!(
        files,
        [
            Some(Some(ids[2].clone())),
            None,
            Some(Some(ids[3].clone())),
            None,
            Some(None)
        ]
    );
    assert_eq!(
        store.last_seq(room).await.unwrap(),
        Some(4),
        "refusals burned no sequence"
    );

    // Pages and replays show the files.
    let (page, _, _) = store.messages_before(room, None, 50).await.unwrap();
    let shown: Vec<Option<&str>> = page
        .iter()
        .map(|m| m.attachment.as_ref().map(|a| a.id.as_str()))
        .collect();
    assert_eq!(shown, [Some(ids[0].as_str()), Some(&ids[2]), Some(&ids[3]), None]);
    let replayed: Vec<Option<String>> = store
        .events_after(room, 0, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| match e {
            RoomEvent::Posted(m) => m.attachment.map(|a| a.id),
            other => panic!("not a post: {other:?}"),
        })
        .collect();
    assert_eq!(
        replayed,
        [Some(ids[0].clone()), Some(ids[2].clone()), Some(ids[3].clone()), None]
    );

    // Deleting the message takes the file with it, for everyone.
    let deleted = store
        .apply_update(&NewUpdate {
            room,
            by: ann.clone(),
            client_id: crate::validate::ClientMessageId::parse("d1").unwrap(),
            message: posted.id,
            change: UpdateChange::Delete,
            moderation: Moderation::No,
        })
        .await
        .unwrap();
    assert!(deleted.fresh);
    assert!(store.upload(&ids[0]).await.unwrap().unwrap().deleted);
    let (page, _, _) = store.messages_before(room, None, 50).await.unwrap();
    assert_eq!(page[0].attachment, None);

    // The sweep: the deleted message's file and, past the grace period, the
    // never-posted one (ids[4]) and bob's refused one (ids[1]); posted ones stay.
    assert_eq!(store.sweep_uploads(0, 100).await.unwrap(), 1);
    assert!(store.upload(&ids[0]).await.unwrap().is_none());
    assert_eq!(store.sweep_uploads(now_ms() + 1, 100).await.unwrap(), 2);
    for (id, kept) in [(1, false), (2, true), (3, true), (4, false)] {
        assert_eq!(store.upload(&ids[id]).await.unwrap().is_some(), kept, "upload {id}");
    }
    assert!(store.blob_in_use(&"a".repeat(64)).await.unwrap());
    assert!(store.blob_in_use(&"b".repeat(64)).await.unwrap(), "previews count");
    assert!(!store.blob_in_use(&"c".repeat(64)).await.unwrap());
    assert_eq!(store.uploaded_bytes(ann.id, 0).await.unwrap(), 2 * 1234);
}

#[tokio::test]
async fn files_are_posted_once_by_their_uploader_and_go_with_their_message() {
    let (store, path) = store().await;
    files_posted_with_messages(&store).await;
    cleanup(store, &path).await;
}

#[tokio::test]
#[ignore = "needs MariaDB: cargo test -- --include-ignored"]
async fn mariadb_files_are_posted_once_by_their_uploader_and_go_with_their_message() {
    for returning in [true, false] {
        let (store, db) = MariaDb::store("natter_uploads").await;
        let store = if returning { store } else { store.without_returning() };
        files_posted_with_messages(&store).await;
        db.drop(store).await;
    }
}
