//! Every validation rule answers InvalidArgument with the field path the frontend shows the
//! message under; no input makes the service fail with a server-side status.

use chrono::{Duration as TimeDelta, Utc};
use proptest::prelude::*;
use todo_proto::todo::v1::{self as proto, recurrence, reminder};
use tonic::Code;

use crate::test_app::{Tasks, create, new_user, spawn_app, titled};

fn timestamp(at: chrono::DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    })
}

fn violation_fields(status: &tonic::Status) -> Vec<String> {
    todo_proto::status::field_violations(status)
        .into_iter()
        .map(|(field, _)| field)
        .collect()
}

#[tokio::test]
async fn each_create_rule_reports_its_field_path() {
    let app = spawn_app().await;
    let mut tasks = app.tasks_for(&new_user());
    let tomorrow = Utc::now() + TimeDelta::days(1);
    let due = |mut request: proto::CreateTaskRequest| {
        request.due_time = timestamp(tomorrow);
        request.time_zone = "Europe/Paris".into();
        request
    };
    let cases: Vec<(&str, proto::CreateTaskRequest, &str)> = vec![
        ("blank title", titled("   "), "title"),
        ("title over 200", titled(&"x".repeat(201)), "title"),
        ("control character in title", titled("bell\u{7}"), "title"),
        (
            "description over 4000",
            proto::CreateTaskRequest {
                description: "d".repeat(4001),
                ..titled("t")
            },
            "description",
        ),
        (
            "21 tags",
            proto::CreateTaskRequest {
                tags: (0..21).map(|i| format!("t{i}")).collect(),
                ..titled("t")
            },
            "tags",
        ),
        (
            "tag over 32",
            proto::CreateTaskRequest {
                tags: vec!["ok".into(), "x".repeat(33)],
                ..titled("t")
            },
            "tags[1]",
        ),
        (
            "blank tag",
            proto::CreateTaskRequest {
                tags: vec![" ".into()],
                ..titled("t")
            },
            "tags[0]",
        ),
        (
            "unknown priority",
            proto::CreateTaskRequest {
                priority: 42,
                ..titled("t")
            },
            "priority",
        ),
        (
            "due time without zone",
            proto::CreateTaskRequest {
                due_time: timestamp(tomorrow),
                ..titled("t")
            },
            "time_zone",
        ),
        (
            "unknown zone",
            proto::CreateTaskRequest {
                time_zone: "Mars/Olympus".into(),
                ..due(titled("t"))
            },
            "time_zone",
        ),
        (
            "zone without due time",
            proto::CreateTaskRequest {
                time_zone: "Europe/Paris".into(),
                ..titled("t")
            },
            "time_zone",
        ),
        (
            "recurrence without due time",
            proto::CreateTaskRequest {
                recurrence: Some(proto::Recurrence {
                    rule: Some(recurrence::Rule::Preset(1)),
                    anchor: 0,
                    time_of_day: String::new(),
                }),
                ..titled("t")
            },
            "recurrence",
        ),
        (
            "unsupported rrule",
            due(proto::CreateTaskRequest {
                recurrence: Some(proto::Recurrence {
                    rule: Some(recurrence::Rule::Rrule("FREQ=SECONDLY".into())),
                    anchor: 0,
                    time_of_day: String::new(),
                }),
                ..titled("t")
            }),
            "recurrence.rrule",
        ),
        (
            "rrule that never occurs",
            due(proto::CreateTaskRequest {
                recurrence: Some(proto::Recurrence {
                    rule: Some(recurrence::Rule::Rrule(
                        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30".into(),
                    )),
                    anchor: 0,
                    time_of_day: String::new(),
                }),
                ..titled("t")
            }),
            "recurrence.rrule",
        ),
        (
            "time of day that is not the due time's",
            due(proto::CreateTaskRequest {
                recurrence: Some(proto::Recurrence {
                    rule: Some(recurrence::Rule::Preset(1)),
                    anchor: 0,
                    time_of_day: "25:00:00".into(),
                }),
                ..titled("t")
            }),
            "recurrence.time_of_day",
        ),
        (
            "reminder before due without due time",
            proto::CreateTaskRequest {
                reminder: Some(proto::Reminder {
                    trigger: Some(reminder::Trigger::BeforeDue(prost_types::Duration {
                        seconds: 600,
                        nanos: 0,
                    })),
                }),
                ..titled("t")
            },
            "reminder.before_due",
        ),
        (
            "reminder in the past",
            proto::CreateTaskRequest {
                reminder: Some(proto::Reminder {
                    trigger: Some(reminder::Trigger::RemindTime(prost_types::Timestamp {
                        seconds: 1_000_000,
                        nanos: 0,
                    })),
                }),
                ..due(titled("t"))
            },
            "reminder",
        ),
        (
            "request id with a space",
            proto::CreateTaskRequest {
                request_id: "a b".into(),
                ..titled("t")
            },
            "request_id",
        ),
    ];
    for (case, request, field) in cases {
        let status = tasks.create_task(request).await.expect_err(case);
        assert_eq!(status.code(), Code::InvalidArgument, "case {case}");
        assert!(
            violation_fields(&status).iter().any(|f| f == field),
            "case {case}: {:?}",
            violation_fields(&status)
        );
    }
}

#[tokio::test]
async fn every_violation_of_a_request_is_reported_at_once() {
    let app = spawn_app().await;
    let mut tasks = app.tasks_for(&new_user());
    let request = proto::CreateTaskRequest {
        title: String::new(),
        priority: 9,
        tags: vec![String::new()],
        ..Default::default()
    };
    let mut fields = violation_fields(&tasks.create_task(request).await.unwrap_err());
    fields.sort();
    assert_eq!(fields, ["priority", "tags[0]", "title"]);
}

#[tokio::test]
async fn each_update_and_list_rule_reports_its_field_path() {
    let app = spawn_app().await;
    let mut tasks = app.tasks_for(&new_user());
    let task = create(&mut tasks, titled("t")).await;
    let update = |paths: &[&str], title: &str| proto::UpdateTaskRequest {
        task: Some(proto::Task {
            id: task.id.clone(),
            title: title.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }),
        expected_version: 0,
    };
    let cases: Vec<(&str, proto::UpdateTaskRequest, &str)> = vec![
        ("empty mask", update(&[], "x"), "update_mask"),
        ("unknown path", update(&["colour"], "x"), "update_mask"),
        ("immutable path", update(&["version"], "x"), "update_mask"),
        ("blank title", update(&["title"], " "), "title"),
        (
            "no task",
            proto::UpdateTaskRequest {
                task: None,
                ..update(&["title"], "x")
            },
            "task",
        ),
        (
            "negative version",
            proto::UpdateTaskRequest {
                expected_version: -1,
                ..update(&["title"], "x")
            },
            "expected_version",
        ),
    ];
    for (case, request, field) in cases {
        let status = tasks.update_task(request).await.expect_err(case);
        assert_eq!(status.code(), Code::InvalidArgument, "case {case}");
        assert!(
            violation_fields(&status).iter().any(|f| f == field),
            "case {case}: {:?}",
            violation_fields(&status)
        );
    }
    let lists: Vec<(&str, proto::ListTasksRequest, &str)> = vec![
        (
            "page size over 200",
            proto::ListTasksRequest {
                page_size: 201,
                ..Default::default()
            },
            "page_size",
        ),
        (
            "forged page token",
            proto::ListTasksRequest {
                page_token: "bm9wZQ".into(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            "unknown status in the filter",
            proto::ListTasksRequest {
                filter: Some(proto::TaskFilter {
                    statuses: vec![proto::TaskStatus::Open as i32, 7],
                    ..Default::default()
                }),
                ..Default::default()
            },
            "filter.statuses[1]",
        ),
        (
            "unknown priority in the filter",
            proto::ListTasksRequest {
                filter: Some(proto::TaskFilter {
                    priorities: vec![99],
                    ..Default::default()
                }),
                ..Default::default()
            },
            "filter.priorities[0]",
        ),
        (
            "too many filter tags",
            proto::ListTasksRequest {
                filter: Some(proto::TaskFilter {
                    tags: (0..=todo_core::listing::MAX_FILTER_TAGS)
                        .map(|i| format!("t{i}"))
                        .collect(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "filter.tags",
        ),
    ];
    for (case, request, field) in lists {
        let status = tasks.list_tasks(request).await.expect_err(case);
        assert_eq!(status.code(), Code::InvalidArgument, "case {case}");
        assert!(
            violation_fields(&status).iter().any(|f| f == field),
            "case {case}"
        );
    }
}

/// Statuses a client can cause; anything else (Internal, Unknown, Unavailable, DataLoss…) is a
/// server-side failure.
fn is_client_caused(code: Code) -> bool {
    matches!(
        code,
        Code::Ok
            | Code::InvalidArgument
            | Code::NotFound
            | Code::Aborted
            | Code::FailedPrecondition
            | Code::ResourceExhausted
            | Code::AlreadyExists
    )
}

fn arbitrary_create() -> impl Strategy<Value = proto::CreateTaskRequest> {
    (
        any::<String>(),
        prop::collection::vec(any::<String>(), 0..4),
        any::<i32>(),
        prop::option::of((any::<i64>(), any::<i32>())),
        prop_oneof![
            Just(String::new()),
            Just("Europe/Paris".to_string()),
            any::<String>()
        ],
        prop::option::of(prop_oneof![
            any::<String>().prop_map(recurrence::Rule::Rrule),
            any::<i32>().prop_map(recurrence::Rule::Preset)
        ]),
        any::<String>(),
    )
        .prop_map(
            |(title, tags, priority, due, time_zone, rule, request_id)| proto::CreateTaskRequest {
                title,
                tags,
                priority,
                due_time: due.map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos }),
                time_zone,
                recurrence: rule.map(|rule| proto::Recurrence {
                    rule: Some(rule),
                    anchor: 0,
                    time_of_day: String::new(),
                }),
                request_id,
                ..Default::default()
            },
        )
}

fn arbitrary_update(id: String) -> impl Strategy<Value = proto::UpdateTaskRequest> {
    (
        arbitrary_create(),
        prop::collection::vec(any::<String>(), 0..3),
        any::<i64>(),
        any::<bool>(),
    )
        .prop_map(move |(create, mut paths, expected_version, real_paths)| {
            if real_paths {
                paths = vec![
                    "title".into(),
                    "tags".into(),
                    "due_time".into(),
                    "time_zone".into(),
                    "recurrence".into(),
                ];
            }
            proto::UpdateTaskRequest {
                task: Some(proto::Task {
                    id: id.clone(),
                    title: create.title,
                    tags: create.tags,
                    due_time: create.due_time,
                    time_zone: create.time_zone,
                    recurrence: create.recurrence,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask { paths }),
                expected_version,
            }
        })
}

#[test]
fn arbitrary_creates_and_updates_never_cause_a_server_error() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let user = new_user();
    let (app, task_id) = runtime.block_on(async {
        let app = spawn_app().await;
        let mut tasks = app.tasks_for(&user);
        let task = create(&mut tasks, titled("target")).await;
        (app, task.id)
    });
    let tasks: Tasks = app.tasks_for(&user);
    let config = ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(create_request in arbitrary_create(), update in arbitrary_update(task_id.clone()))| {
        let mut tasks = tasks.clone();
        let (created, updated) = runtime.block_on(async {
            (tasks.create_task(create_request).await, tasks.update_task(update).await)
        });
        for outcome in [created.map(|_| ()), updated.map(|_| ())] {
            let code = outcome.err().map_or(Code::Ok, |status| status.code());
            prop_assert!(is_client_caused(code), "server-side status {code:?}");
        }
    });
}
