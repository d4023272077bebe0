//! Events through localdapr to the real audit server: a task's events published twice are
//! recorded once each, on every database; an undecodable event goes to `task-events-dlq`; an
//! event that meets a locked database is answered RETRY and recorded once the lock is gone.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use audit::testsuite::TestDatabase;
use chrono::Utc;
use dapr_kit::{
    AppCallbackService, JobHandlers, Publication, Subscription, Subscriptions, TopicEvent,
};
use localdapr::testsuite::wait_until;
use sqlx::{Connection, SqliteConnection};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::test_app::{
    created_event, new_task, new_user, publish, publisher, renamed_event,
    start_dapr_with_resiliency, undecodable_event, wait_for_rows,
};

#[tokio::test]
async fn every_task_event_is_recorded_once_even_when_delivered_twice() {
    for database in TestDatabase::each().await {
        let dapr = database.start_suite().await;
        let _audit = audit::testsuite::spawn(&dapr).await;
        let publisher = publisher(&dapr).await;
        let task = new_task(&new_user(), "water plants");
        let created = created_event(&task, Utc::now());
        let (renamed, _) = renamed_event(&task, "water the plants", Utc::now());
        for event in [&created, &renamed, &created, &renamed] {
            publish(&publisher, event).await;
        }
        let log = database.open().await;
        wait_for_rows(&log, 2, Duration::from_secs(20)).await;
        // A third delivery after the rows exist changes nothing either.
        publish(&publisher, &renamed).await;
        let marker = created_event(&new_task(&new_user(), "marker"), Utc::now());
        publish(&publisher, &marker).await;
        wait_for_rows(&log, 3, Duration::from_secs(20)).await;
        assert_eq!(
            log.count_rows().await.unwrap(),
            (3, 3),
            "database: {database:?}"
        );
    }
}

#[tokio::test]
async fn an_undecodable_event_is_dropped_to_the_dead_letter_topic() {
    let database = TestDatabase::sqlite();
    let dapr = database.start_suite().await;
    let _audit = audit::testsuite::spawn(&dapr).await;
    let dead_letters: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let sink = dead_letters.clone();
    let on_dead_letter = move |event: TopicEvent| {
        let sink = sink.clone();
        async move {
            sink.lock().unwrap().push(event.data);
            Ok(())
        }
    };
    dapr.app(
        "dead-letter-reader",
        AppCallbackService::new(
            Subscriptions::new().subscribe(
                Subscription::new("pubsub", "task-events-dlq").default_route(on_dead_letter),
            ),
            JobHandlers::new(),
        ),
    )
    .await;
    let publisher = publisher(&dapr).await;
    let poison = undecodable_event();
    publisher
        .publish("pubsub", Publication::json("task-events", poison.clone()))
        .await
        .unwrap();
    wait_until(
        "the undecodable event reaches task-events-dlq",
        Duration::from_secs(20),
        || async { !dead_letters.lock().unwrap().is_empty() },
    )
    .await;
    let dropped: serde_json::Value =
        serde_json::from_slice(&dead_letters.lock().unwrap()[0]).unwrap();
    let sent: serde_json::Value = serde_json::from_slice(&poison).unwrap();
    assert_eq!(dropped, sent);
    assert_eq!(database.open().await.count_rows().await.unwrap(), (0, 0));
}

/// How many deliveries of `task-events` audit answered RETRY, from its admin port's `/metrics`.
async fn retries_answered(admin: SocketAddr) -> u64 {
    let mut stream = TcpStream::connect(admin).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: audit\r\n\r\n")
        .await
        .unwrap();
    let mut page = String::new();
    stream.read_to_string(&mut page).await.unwrap();
    page.lines()
        .filter(|line| {
            line.starts_with("todo_events_handled_total{")
                && line.contains(r#"outcome="retry""#)
                && line.contains(r#"topic="task-events""#)
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test]
async fn an_event_that_meets_a_locked_database_is_retried_until_it_is_recorded() {
    let database = TestDatabase::sqlite();
    let secrets_dir = tempfile::tempdir().unwrap();
    let dapr = start_dapr_with_resiliency(&database, &secrets_dir).await;
    let audit = audit::testsuite::spawn(&dapr).await;
    let log = database.open().await;
    // Another writer holds SQLite's write lock past audit's busy timeout (5 s): SQLITE_BUSY.
    let mut writer = SqliteConnection::connect(&database.url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut writer)
        .await
        .unwrap();
    let retries_before = retries_answered(audit.admin_address).await;

    let publisher = publisher(&dapr).await;
    publish(
        &publisher,
        &created_event(&new_task(&new_user(), "blocked"), Utc::now()),
    )
    .await;
    wait_until("audit answers RETRY", Duration::from_secs(30), || async {
        retries_answered(audit.admin_address).await > retries_before
    })
    .await;
    assert_eq!(
        log.count_rows().await.unwrap(),
        (0, 0),
        "the lock held the write back"
    );

    sqlx::query("ROLLBACK").execute(&mut writer).await.unwrap();
    wait_for_rows(&log, 1, Duration::from_secs(30)).await;
    assert_eq!(log.count_rows().await.unwrap(), (1, 1));
}
