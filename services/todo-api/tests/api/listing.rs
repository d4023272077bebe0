//! Search, filter, sort and paging over 500 seeded tasks, checked against a plain oracle
//! computed in the test from the tasks the API returned when seeding.

use std::cmp::Ordering;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use futures::{StreamExt, stream};
use todo_proto::todo::v1::{
    self as proto, Priority, TagMatch, Task, TaskFilter, TaskSortField, TaskStatus,
};

use crate::test_app::{Tasks, new_user, spawn_app};

const SEEDED: usize = 500;

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

fn seconds(timestamp: Option<&prost_types::Timestamp>) -> Option<i64> {
    timestamp.map(|t| t.seconds)
}

/// The seed of task `i`: every property cycles with a different period.
fn seed(i: usize, base: DateTime<Utc>) -> proto::CreateTaskRequest {
    let mut tags = vec![format!("t{}", i % 3)];
    if i.is_multiple_of(2) {
        tags.push("even".into());
    }
    let hours = i64::try_from(i).unwrap();
    proto::CreateTaskRequest {
        title: if i.is_multiple_of(7) {
            format!("Task {i:03} Alpha")
        } else {
            format!("task {i:03}")
        },
        description: if i.is_multiple_of(11) {
            "Grüße from ÜNÏCODE land".into()
        } else {
            String::new()
        },
        priority: i32::try_from(i % 5).unwrap() + 1,
        tags,
        due_time: (!i.is_multiple_of(4)).then(|| timestamp(base + TimeDelta::hours(hours))),
        time_zone: if !i.is_multiple_of(4) {
            "UTC".into()
        } else {
            String::new()
        },
        ..Default::default()
    }
}

async fn seed_tasks(tasks: &Tasks, base: DateTime<Utc>) -> Vec<Task> {
    let created: Vec<Task> = stream::iter(0..SEEDED)
        .map(|i| {
            let mut tasks = tasks.clone();
            async move {
                let task = tasks
                    .create_task(seed(i, base))
                    .await
                    .unwrap()
                    .into_inner()
                    .task
                    .unwrap();
                if i.is_multiple_of(10) {
                    let request = proto::CompleteTaskRequest {
                        task_id: task.id,
                        expected_version: 1,
                    };
                    tasks
                        .complete_task(request)
                        .await
                        .unwrap()
                        .into_inner()
                        .task
                        .unwrap()
                } else {
                    task
                }
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert_eq!(created.len(), SEEDED);
    created
}

/// Every page of a listing, in order, with the page size the pages used.
async fn all_pages(tasks: &Tasks, request: proto::ListTasksRequest) -> Vec<Task> {
    let mut tasks = tasks.clone();
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = tasks
            .list_tasks(proto::ListTasksRequest {
                page_token,
                ..request.clone()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.tasks.len() <= usize::try_from(request.page_size.max(1)).unwrap().min(200));
        seen.extend(page.tasks);
        if page.next_page_token.is_empty() {
            assert_eq!(
                seen.len(),
                usize::try_from(page.total_size).unwrap(),
                "total_size counts every match"
            );
            return seen;
        }
        page_token = page.next_page_token;
    }
}

fn ids(tasks: &[Task]) -> Vec<String> {
    tasks.iter().map(|t| t.id.clone()).collect()
}

fn sorted_by(tasks: &[Task], key: impl Fn(&Task, &Task) -> Ordering) -> Vec<String> {
    let mut sorted = tasks.to_vec();
    sorted.sort_by(|a, b| key(a, b).then_with(|| a.id.cmp(&b.id)));
    ids(&sorted)
}

fn matching(tasks: &[Task], keep: impl Fn(&Task) -> bool) -> Vec<String> {
    sorted_by(
        &tasks
            .iter()
            .filter(|t| keep(t))
            .cloned()
            .collect::<Vec<_>>(),
        |a, b| {
            seconds(a.create_time.as_ref())
                .cmp(&seconds(b.create_time.as_ref()))
                .then(
                    a.create_time
                        .as_ref()
                        .map(|t| t.nanos)
                        .cmp(&b.create_time.as_ref().map(|t| t.nanos)),
                )
        },
    )
}

fn text_of(task: &Task) -> String {
    format!(
        "{} {} {}",
        task.title,
        task.description,
        task.tags.join(" ")
    )
    .to_lowercase()
}

#[tokio::test]
async fn filters_search_sorting_and_paging_agree_with_an_oracle_over_500_tasks() {
    let app = spawn_app().await;
    let tasks = app.tasks_for(&new_user());
    let now = Utc::now();
    // Tasks 0..100 (those with a due time) are due in the past, the rest in the future.
    let base = now - TimeDelta::hours(100);
    let seeded = seed_tasks(&tasks, base).await;
    let open = |t: &Task| t.status() == TaskStatus::Open;
    let due_seconds = |t: &Task| seconds(t.due_time.as_ref());
    let has_tag = |t: &Task, tag: &str| t.tags.iter().any(|x| x == tag);

    type Keep<'a> = Box<dyn Fn(&Task) -> bool + 'a>;
    let filter = |f: TaskFilter| proto::ListTasksRequest {
        filter: Some(f),
        page_size: 200,
        ..Default::default()
    };
    let query = |q: &str| proto::ListTasksRequest {
        query: q.into(),
        page_size: 200,
        ..Default::default()
    };
    let window = (base + TimeDelta::hours(100), base + TimeDelta::hours(200));
    let cases: Vec<(&str, proto::ListTasksRequest, Keep)> = vec![
        (
            "open only",
            filter(TaskFilter {
                statuses: vec![TaskStatus::Open as i32],
                ..Default::default()
            }),
            Box::new(open),
        ),
        (
            "high or urgent",
            filter(TaskFilter {
                priorities: vec![Priority::High as i32, Priority::Urgent as i32],
                ..Default::default()
            }),
            Box::new(|t: &Task| matches!(t.priority(), Priority::High | Priority::Urgent)),
        ),
        (
            "any of two tags",
            filter(TaskFilter {
                tags: vec!["t0".into(), "T1".into()],
                tag_match: TagMatch::Any as i32,
                ..Default::default()
            }),
            Box::new(|t: &Task| has_tag(t, "t0") || has_tag(t, "t1")),
        ),
        (
            "all of two tags",
            filter(TaskFilter {
                tags: vec!["t0".into(), "even".into()],
                tag_match: TagMatch::All as i32,
                ..Default::default()
            }),
            Box::new(|t: &Task| has_tag(t, "t0") && has_tag(t, "even")),
        ),
        (
            "due window",
            filter(TaskFilter {
                due_after: Some(timestamp(window.0)),
                due_before: Some(timestamp(window.1)),
                ..Default::default()
            }),
            Box::new(|t: &Task| {
                due_seconds(t)
                    .is_some_and(|s| s >= window.0.timestamp() && s < window.1.timestamp())
            }),
        ),
        (
            "overdue",
            filter(TaskFilter {
                overdue: Some(true),
                ..Default::default()
            }),
            Box::new(|t: &Task| open(t) && due_seconds(t).is_some_and(|s| s < now.timestamp())),
        ),
        (
            "not overdue",
            filter(TaskFilter {
                overdue: Some(false),
                ..Default::default()
            }),
            Box::new(|t: &Task| !(open(t) && due_seconds(t).is_some_and(|s| s < now.timestamp()))),
        ),
        (
            "no reminder",
            filter(TaskFilter {
                has_reminder: Some(false),
                ..Default::default()
            }),
            Box::new(|_: &Task| true),
        ),
        (
            "with a reminder",
            filter(TaskFilter {
                has_reminder: Some(true),
                ..Default::default()
            }),
            Box::new(|_: &Task| false),
        ),
        (
            "one word, any case",
            query("ALPHA"),
            Box::new(|t: &Task| text_of(t).contains("alpha")),
        ),
        (
            "unicode words, any case",
            query("ÜNÏCODE grüße"),
            Box::new(|t: &Task| text_of(t).contains("ünïcode") && text_of(t).contains("grüße")),
        ),
        (
            "two words",
            query("task 00"),
            Box::new(|t: &Task| text_of(t).contains("task") && text_of(t).contains("00")),
        ),
        (
            "tag text",
            query("even t2"),
            Box::new(|t: &Task| has_tag(t, "even") && has_tag(t, "t2")),
        ),
    ];
    for (case, request, keep) in cases {
        let listed = all_pages(&tasks, request).await;
        let expected = matching(&seeded, keep);
        assert!(!case.starts_with("with a reminder") || expected.is_empty());
        assert_eq!(ids(&listed), expected, "case: {case}");
    }

    let sort = |by: TaskSortField, descending: bool, page_size: i32| proto::ListTasksRequest {
        sort_by: by as i32,
        descending,
        page_size,
        ..Default::default()
    };
    let by_due = |descending: bool| {
        move |a: &Task, b: &Task| match (due_seconds(a), due_seconds(b)) {
            (Some(x), Some(y)) if descending => y.cmp(&x),
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    };
    let sorts: Vec<(&str, proto::ListTasksRequest, Vec<String>)> = vec![
        (
            "title ascending, pages of 37",
            sort(TaskSortField::Title, false, 37),
            sorted_by(&seeded, |a, b| {
                a.title.to_lowercase().cmp(&b.title.to_lowercase())
            }),
        ),
        (
            "title descending",
            sort(TaskSortField::Title, true, 64),
            sorted_by(&seeded, |a, b| {
                b.title.to_lowercase().cmp(&a.title.to_lowercase())
            }),
        ),
        (
            "due ascending, undated last",
            sort(TaskSortField::DueTime, false, 50),
            sorted_by(&seeded, by_due(false)),
        ),
        (
            "due descending, undated last",
            sort(TaskSortField::DueTime, true, 50),
            sorted_by(&seeded, by_due(true)),
        ),
        (
            "priority descending, pages of 1",
            sort(TaskSortField::Priority, true, 1),
            sorted_by(&seeded, |a, b| b.priority.cmp(&a.priority)),
        ),
        (
            "updated ascending",
            sort(TaskSortField::UpdateTime, false, 200),
            sorted_by(&seeded, |a, b| {
                let key = |t: &Task| t.update_time.as_ref().map(|u| (u.seconds, u.nanos));
                key(a).cmp(&key(b))
            }),
        ),
    ];
    for (case, request, expected) in sorts {
        let listed = all_pages(&tasks, request).await;
        assert_eq!(ids(&listed), expected, "case: {case}");
    }
}
