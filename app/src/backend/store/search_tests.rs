//! Search on SQLite and MariaDB: what is found, by whom, and that edits,
//! deletions and rebuilds keep the index true to the text.

use super::living_tests::change;
use super::tests::{MariaDb, cleanup, message, name, no_topic, room_name, store};
use super::*;
use crate::backend::search_text;
use crate::protocol::UserId;
use crate::validate::{MessageBody, UserKey};

/// The bodies `user` finds for `typed`, newest first.
async fn found(store: &Store, user: UserId, typed: &str, filter: &SearchFilter) -> Vec<String> {
    let query = search_text::query(typed).unwrap();
    store
        .search(user, &query, filter, 50)
        .await
        .unwrap()
        .hits
        .into_iter()
        .map(|h| h.body)
        .collect()
}

async fn finds(store: &Store, user: UserId, typed: &str) -> Vec<String> {
    found(store, user, typed, &SearchFilter::default()).await
}

async fn searching(store: &Store) {
    let ann = store.create_user(&name("ann"), "hash").await.unwrap();
    let bob = store.create_user(&name("bob"), "hash").await.unwrap();
    let cyd = store.create_user(&name("cyd"), "hash").await.unwrap();
    let plaza = store
        .create_room(&room_name("Plaza"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    let secret = store
        .create_room(&room_name("Secret"), &no_topic(), ann.id, true)
        .await
        .unwrap();
    store
        .add_member(secret, &UserKey::of("bob"), &Actor::command_line())
        .await
        .unwrap();

    // Through the group commit and one at a time alike.
    let batch = [
        message(plaza, &ann, "c1", "今天天气很好"),
        message(plaza, &bob, "c2", "天气预报 says rain"),
        message(plaza, &ann, "c3", "明天的会议改到三点"),
    ];
    for posted in store.post_batch(&batch).await.unwrap() {
        posted.unwrap();
    }
    let deploy = store
        .post_message(&message(plaza, &ann, "c4", "We DEPLOY on Friday"))
        .await
        .unwrap()
        .message;
    store
        .post_message(&message(secret, &ann, "c5", "the secret deploy plan, 天气"))
        .await
        .unwrap();
    store
        .post_message(&message(plaza, &bob, "c6", "deployment notes"))
        .await
        .unwrap();

    assert_eq!(
        finds(store, cyd.id, "天气").await,
        vec!["天气预报 says rain", "今天天气很好"]
    );
    assert_eq!(finds(store, cyd.id, "会议").await, vec!["明天的会议改到三点"]);
    assert_eq!(finds(store, cyd.id, "天气很").await, vec!["今天天气很好"]);
    assert!(finds(store, cyd.id, "气很好的").await.is_empty());
    // Whole words, any case; a private room only for its members.
    assert_eq!(finds(store, cyd.id, "deploy").await, vec!["We DEPLOY on Friday"]);
    assert_eq!(
        finds(store, bob.id, "deploy").await,
        vec!["the secret deploy plan, 天气", "We DEPLOY on Friday"]
    );
    assert_eq!(finds(store, cyd.id, "friday deploy").await, vec!["We DEPLOY on Friday"]);
    assert!(finds(store, cyd.id, "deploy monday").await.is_empty());

    // The hit says where, who, and which words to mark.
    let query = search_text::query("friday").unwrap();
    let hits = store
        .search(cyd.id, &query, &SearchFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(hits.next, None, "nothing older");
    let hits = hits.hits;
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!((hit.id, hit.room, hit.room_name.as_str()), (deploy.id, plaza, "Plaza"));
    assert_eq!((hit.author.as_str(), hit.seq), ("ann", deploy.seq));
    assert_eq!(hit.marks, vec![(13, 19)]);

    // Filters: room, author, and paging by id.
    let in_secret = SearchFilter {
        room: Some(secret),
        ..Default::default()
    };
    assert_eq!(
        found(store, bob.id, "天气", &in_secret).await,
        vec!["the secret deploy plan, 天气"]
    );
    let by_ann = SearchFilter {
        author: Some(UserKey::of("ANN")),
        ..Default::default()
    };
    assert_eq!(found(store, cyd.id, "天气", &by_ann).await, vec!["今天天气很好"]);
    let newest = store
        .search(
            bob.id,
            &search_text::query("天气").unwrap(),
            &SearchFilter::default(),
            1,
        )
        .await
        .unwrap();
    assert_eq!(newest.hits.len(), 1);
    assert_eq!(newest.hits[0].body, "the secret deploy plan, 天气");
    assert_eq!(
        newest.next,
        Some(newest.hits[0].id),
        "a full page goes on from its last"
    );
    let page_two = SearchFilter {
        before: newest.next,
        ..Default::default()
    };
    assert_eq!(
        found(store, bob.id, "天气", &page_two).await,
        vec!["天气预报 says rain", "今天天气很好"]
    );

    // An edit is found by its new words only; a deletion by nothing.
    store
        .apply_update(&change(
            plaza,
            &ann,
            "e1",
            deploy.id,
            UpdateChange::Edit(MessageBody::parse("We ship on Monday").unwrap()),
        ))
        .await
        .unwrap();
    assert!(finds(store, cyd.id, "friday").await.is_empty(), "edited away");
    assert_eq!(finds(store, cyd.id, "monday ship").await, vec!["We ship on Monday"]);
    store
        .apply_update(&change(plaza, &ann, "d1", deploy.id, UpdateChange::Delete))
        .await
        .unwrap();
    assert!(finds(store, cyd.id, "monday").await.is_empty(), "deleted");

    // Banned from a public room: its messages are no longer found.
    store
        .set_standing(
            (plaza, "Plaza"),
            (cyd.id, "cyd"),
            StandingChange::Banned(true),
            &Actor::command_line(),
        )
        .await
        .unwrap();
    assert!(finds(store, cyd.id, "天气").await.is_empty(), "banned");

    // A rebuild finds the same, and nothing deleted comes back.
    let before = finds(store, bob.id, "天气").await;
    assert_eq!(store.rebuild_search().await.unwrap(), 5);
    assert_eq!(finds(store, bob.id, "天气").await, before);
    assert!(finds(store, bob.id, "monday").await.is_empty());
    assert_eq!(store.search_terms_version().await.unwrap(), SEARCH_TERMS_VERSION);

    // A deleted room's messages go with it.
    store
        .delete_room(secret, "Secret", &Actor::command_line())
        .await
        .unwrap();
    assert!(finds(store, bob.id, "secret").await.is_empty());
}

/// A query reads a bounded number of postings: the commonest word answers
/// a page at once, and two common words that meet only in the oldest
/// message answer "nothing yet, go on from here" until they reach it.
async fn reading_is_bounded(store: &Store) {
    let ann = store.create_user(&name("ann"), "hash").await.unwrap();
    let plaza = store
        .create_room(&room_name("Plaza"), &no_topic(), ann.id, false)
        .await
        .unwrap();
    let mut bodies = vec!["alpha beta together".to_string()];
    for i in 0..4800 {
        bodies.push(format!("alpha {i}"));
        bodies.push(format!("beta {i}"));
    }
    let messages: Vec<NewMessage> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| message(plaza, &ann, &format!("m{i}"), body))
        .collect();
    for batch in messages.chunks(1000) {
        for posted in store.post_batch(batch).await.unwrap() {
            posted.unwrap();
        }
    }
    let search = |typed: &'static str, before: Option<i64>| async move {
        let filter = SearchFilter {
            before,
            ..Default::default()
        };
        store
            .search(ann.id, &search_text::query(typed).unwrap(), &filter, 20)
            .await
            .unwrap()
    };
    let common = search("alpha", None).await;
    assert_eq!(common.hits.len(), 20);
    assert_eq!(common.hits[0].body, "alpha 4799");
    assert_eq!(common.next, Some(common.hits[19].id));

    // 4,801 postings of the driving word: the first ask reads 4,672 of them.
    let first = search("beta alpha", None).await;
    assert!(first.hits.is_empty());
    let from = first.next.expect("older postings remain");
    let second = search("beta alpha", Some(from)).await;
    let bodies: Vec<&str> = second.hits.iter().map(|h| h.body.as_str()).collect();
    assert_eq!(bodies, vec!["alpha beta together"]);
    assert_eq!(second.next, None);
    // A word nobody wrote ends it at once.
    let none = search("alpha gamma", None).await;
    assert!(none.hits.is_empty() && none.next.is_none());
}

#[tokio::test]
async fn search_reads_a_bounded_number_of_postings() {
    let (store, path) = store().await;
    reading_is_bounded(&store).await;
    cleanup(store, &path).await;
}

#[tokio::test]
#[ignore = "needs MariaDB: cargo test -- --include-ignored"]
async fn mariadb_search_reads_a_bounded_number_of_postings() {
    let (store, db) = MariaDb::store("natter_search_bounded").await;
    reading_is_bounded(&store).await;
    db.drop(store).await;
}

#[tokio::test]
async fn search_finds_english_and_chinese_for_those_who_may_read() {
    let (store, path) = store().await;
    searching(&store).await;
    cleanup(store, &path).await;
}

#[tokio::test]
#[ignore = "needs MariaDB: cargo test -- --include-ignored"]
async fn mariadb_search_finds_english_and_chinese_for_those_who_may_read() {
    let (store, db) = MariaDb::store("natter_search").await;
    searching(&store).await;
    db.drop(store).await;
}
