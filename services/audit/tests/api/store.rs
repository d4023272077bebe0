//! The store on each database (SQLite always, PostgreSQL when TODO_TEST_POSTGRES_URL is set;
//! under CI its absence fails): each event once, append-only, and histories for owners only.

use audit::{
    audit_record::AuditRecord,
    history::History,
    store::{AuditLog, Recorded},
    testsuite::TestDatabase,
};
use chrono::{Duration, Utc};
use todo_core::{PageTokenKey, UserId};
use todo_proto::todo::v1::{ListTaskHistoryRequest, TaskEvent};

use crate::test_app::{created_event, new_task, new_user, renamed_event};

fn record(event: &TaskEvent) -> AuditRecord {
    AuditRecord::from_event(event, None, Utc::now()).unwrap()
}

/// The creation and three renames of a fresh task of `user`.
fn four_events(user: &str) -> Vec<TaskEvent> {
    let start = Utc::now();
    let mut task = new_task(user, "title 0");
    let mut events = vec![created_event(&task, start)];
    for step in 1..=3 {
        let (event, after) = renamed_event(
            &task,
            &format!("title {step}"),
            start + Duration::seconds(step),
        );
        events.push(event);
        task = after;
    }
    events
}

async fn history(log: &AuditLog) -> History {
    History::new(log.clone(), PageTokenKey::new(vec![9; 32]).unwrap())
}

#[tokio::test]
async fn each_event_is_recorded_once_however_often_it_is_delivered() {
    for database in TestDatabase::each().await {
        let log = database.open().await;
        let events = four_events(&new_user());
        let mut outcomes = Vec::new();
        for event in events.iter().chain(&events).chain(&events[..1]) {
            outcomes.push(log.record(&record(event)).await.unwrap());
        }
        let inserted = outcomes
            .iter()
            .filter(|o| **o == Recorded::Inserted)
            .count();
        assert_eq!(inserted, 4, "database: {database:?}");
        assert_eq!(
            log.count_rows().await.unwrap(),
            (4, 4),
            "database: {database:?}"
        );
        // Reopening migrates nothing twice and keeps the rows.
        let reopened = database.open().await;
        assert_eq!(
            reopened.count_rows().await.unwrap(),
            (4, 4),
            "database: {database:?}"
        );
    }
}

#[tokio::test]
async fn updates_and_deletes_of_audit_logs_are_refused_by_the_database() {
    for database in TestDatabase::each().await {
        let log = database.open().await;
        for event in four_events(&new_user()) {
            log.record(&record(&event)).await.unwrap();
        }
        let attempts = [
            "UPDATE audit_logs SET actor = 'service:intruder'",
            "UPDATE audit_logs SET task_version = task_version + 1 WHERE task_version = 1",
            "DELETE FROM audit_logs",
            "DELETE FROM audit_logs WHERE task_version = 2",
        ];
        for sql in attempts {
            let refused = log.execute_unchecked(sql).await.unwrap_err();
            assert!(
                refused.to_string().contains("append-only"),
                "database: {database:?}, {sql}: {refused}"
            );
        }
        if database.kind() == "postgres" {
            let refused = log
                .execute_unchecked("TRUNCATE audit_logs")
                .await
                .unwrap_err();
            assert!(refused.to_string().contains("append-only"), "{refused}");
        }
        assert_eq!(
            log.count_rows().await.unwrap(),
            (4, 4),
            "database: {database:?}"
        );
    }
}

#[tokio::test]
async fn a_history_is_its_owners_oldest_first_in_pages_with_changed_fields() {
    for database in TestDatabase::each().await {
        let log = database.open().await;
        let history = history(&log).await;
        let owner = new_user();
        let events = four_events(&owner);
        // Delivered out of order, as pub/sub may.
        for event in events.iter().rev() {
            log.record(&record(event)).await.unwrap();
        }
        let task_id = events[0].task_id.clone();
        let owner_id = UserId::parse(&owner).unwrap();
        let request = |page_token: String| ListTaskHistoryRequest {
            task_id: task_id.clone(),
            page_size: 3,
            page_token,
        };
        let first = history
            .list(&owner_id, &request(String::new()))
            .await
            .unwrap();
        assert!(!first.next_page_token.is_empty(), "database: {database:?}");
        let second = history
            .list(&owner_id, &request(first.next_page_token.clone()))
            .await
            .unwrap();
        assert_eq!(second.next_page_token, "", "database: {database:?}");
        let versions: Vec<i64> = first
            .entries
            .iter()
            .chain(&second.entries)
            .map(|entry| entry.version)
            .collect();
        assert_eq!(versions, [1, 2, 3, 4], "database: {database:?}");
        assert!(
            first.entries[0].changes.is_empty(),
            "a creation changes nothing"
        );
        let change = &first.entries[1].changes[0];
        assert_eq!(
            (
                change.field.as_str(),
                change.before_json.as_str(),
                change.after_json.as_str()
            ),
            ("title", "\"title 0\"", "\"title 1\""),
            "database: {database:?}"
        );

        let intruder = UserId::parse(&new_user()).unwrap();
        let hidden = history
            .list(&intruder, &request(String::new()))
            .await
            .unwrap_err();
        assert_eq!(
            tonic::Status::from(hidden).code(),
            tonic::Code::NotFound,
            "another user's task is not found: database {database:?}"
        );
        let stolen_token = history
            .list(&intruder, &request(first.next_page_token.clone()))
            .await
            .unwrap_err();
        assert_eq!(
            tonic::Status::from(stolen_token).code(),
            tonic::Code::InvalidArgument,
            "a page token works for its own user only: database {database:?}"
        );
    }
}
