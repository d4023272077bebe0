//! Checks the `todo.v1` contracts as clients see them: the reflection data `grpcurl` reads, and
//! the canonical proto3 JSON our events travel in.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

use std::collections::BTreeSet;

use prost_reflect::DescriptorPool;
use todo_proto::json::{JsonError, from_json, to_json};
use todo_proto::todo::v1::{
    Actor, ActorKind, Priority, Task, TaskEvent, TaskEventType, TaskStatus,
};

#[test]
fn the_reflection_descriptor_set_lists_every_todo_service_and_method() {
    let pool = DescriptorPool::decode(todo_proto::TODO_FILE_DESCRIPTOR_SET).unwrap();
    let methods: BTreeSet<String> = pool
        .services()
        .flat_map(|s| {
            s.methods()
                .map(|m| m.full_name().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let expected = [
        "todo.v1.TaskService.CreateTask",
        "todo.v1.TaskService.GetTask",
        "todo.v1.TaskService.ListTasks",
        "todo.v1.TaskService.UpdateTask",
        "todo.v1.TaskService.CompleteTask",
        "todo.v1.TaskService.ReopenTask",
        "todo.v1.TaskService.DeleteTask",
        "todo.v1.AuthService.SignUp",
        "todo.v1.AuthService.SignIn",
        "todo.v1.AuthService.Refresh",
        "todo.v1.AuthService.SignOut",
        "todo.v1.AuthService.Me",
        "todo.v1.SyncService.WatchTasks",
        "todo.v1.AuditService.ListTaskHistory",
        "todo.v1.NotificationService.ListNotifications",
        "todo.v1.NotificationService.MarkRead",
    ];
    let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    assert_eq!(methods, expected);
    let watch = pool
        .get_service_by_name("todo.v1.SyncService")
        .unwrap()
        .methods()
        .next()
        .unwrap();
    assert!(watch.is_server_streaming(), "WatchTasks streams");
}

#[test]
fn every_todo_message_field_and_service_is_documented() {
    // The comments are what grpcurl describe and the TypeScript client show.
    let pool = DescriptorPool::decode(todo_proto::TODO_FILE_DESCRIPTOR_SET).unwrap();
    let mut undocumented = Vec::new();
    for file in pool.files().filter(|f| f.package_name() == "todo.v1") {
        let info = file
            .file_descriptor_proto()
            .source_code_info
            .clone()
            .unwrap_or_default();
        let documented: BTreeSet<Vec<i32>> = info
            .location
            .iter()
            .filter(|l| {
                l.leading_comments
                    .as_deref()
                    .is_some_and(|c| !c.trim().is_empty())
            })
            .map(|l| l.path.clone())
            .collect();
        let proto = file.file_descriptor_proto();
        for (m, message) in proto.message_type.iter().enumerate() {
            if !documented.contains(&vec![4, m as i32]) {
                undocumented.push(format!("message {}", message.name()));
            }
            for (f, field) in message.field.iter().enumerate() {
                if !documented.contains(&vec![4, m as i32, 2, f as i32]) {
                    undocumented.push(format!("field {}.{}", message.name(), field.name()));
                }
            }
        }
        for (e, enumeration) in proto.enum_type.iter().enumerate() {
            for (v, value) in enumeration.value.iter().enumerate() {
                if !documented.contains(&vec![5, e as i32, 2, v as i32]) {
                    undocumented.push(format!("enum value {}", value.name()));
                }
            }
        }
        for (s, service) in proto.service.iter().enumerate() {
            for (r, method) in service.method.iter().enumerate() {
                if !documented.contains(&vec![6, s as i32, 2, r as i32]) {
                    undocumented.push(format!("rpc {}.{}", service.name(), method.name()));
                }
            }
        }
    }
    assert!(undocumented.is_empty(), "undocumented: {undocumented:?}");
}

fn sample_event() -> TaskEvent {
    let task = Task {
        id: "0190a8e2-7b1c-7cc0-9a4b-2f1e3d4c5b6a".into(),
        user_id: "u-1".into(),
        title: "Buy milk <2%> & eggs".into(),
        status: TaskStatus::Open as i32,
        priority: Priority::High as i32,
        tags: vec!["errands".into()],
        due_time: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 500_000_000,
        }),
        time_zone: "Europe/Paris".into(),
        version: 3,
        ..Default::default()
    };
    TaskEvent {
        event_id: "0190a8e2-7b1c-7cc0-9a4b-000000000001".into(),
        r#type: TaskEventType::Updated as i32,
        user_id: "u-1".into(),
        task_id: task.id.clone(),
        version: 3,
        occur_time: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        actor: Some(Actor {
            kind: ActorKind::User as i32,
            id: "u-1".into(),
        }),
        previous: Some(Task {
            version: 2,
            ..task.clone()
        }),
        task: Some(task),
    }
}

#[test]
fn task_events_serialize_as_canonical_proto3_json() {
    let json: serde_json::Value =
        serde_json::from_slice(&to_json(&sample_event()).unwrap()).unwrap();
    assert_eq!(json["type"], "TASK_EVENT_TYPE_UPDATED", "enums are names");
    assert_eq!(json["version"], "3", "int64 is a string");
    assert_eq!(
        json["occurTime"], "2027-01-15T08:00:00Z",
        "timestamps are RFC 3339"
    );
    assert_eq!(json["task"]["dueTime"], "2027-01-15T08:00:00.500Z");
    assert_eq!(json["task"]["priority"], "PRIORITY_HIGH");
    assert_eq!(json["actor"]["kind"], "ACTOR_KIND_USER");
    assert!(
        json["task"].get("description").is_none(),
        "default values are omitted"
    );
}

#[test]
fn task_events_survive_a_json_round_trip() {
    let event = sample_event();
    let json = to_json(&event).unwrap();
    let back: TaskEvent = from_json(&json).unwrap();
    assert_eq!(back, event);
}

#[test]
fn json_of_the_wrong_shape_is_rejected() {
    let cases: [(&str, &[u8]); 3] = [
        ("not json", b"{"),
        ("version is not a number", br#"{"version":"three"}"#),
        ("task is not an object", br#"{"task":7}"#),
    ];
    for (case, json) in cases {
        let outcome = from_json::<TaskEvent>(json);
        assert!(
            matches!(outcome, Err(JsonError::Invalid { .. })),
            "case {case}: {outcome:?}"
        );
    }
}

#[test]
fn an_enum_name_from_a_newer_contract_reads_as_unspecified() {
    // The proto3 JSON spec treats unknown enum names like unknown fields when those are ignored.
    let event: TaskEvent = from_json(br#"{"type":"TASK_EVENT_TYPE_ARCHIVED"}"#).unwrap();
    assert_eq!(event.r#type(), TaskEventType::Unspecified);
}

#[test]
fn unknown_json_fields_are_ignored_so_old_consumers_read_new_events() {
    let event: TaskEvent = from_json(br#"{"taskId":"t-1","addedInV2":{"x":1}}"#).unwrap();
    assert_eq!(event.task_id, "t-1");
}
