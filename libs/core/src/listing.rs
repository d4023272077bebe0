//! Listing: filter, search, sort and page a user's tasks in memory.
//!
//! todo-api reads the user's buckets and hands every task to [`list_tasks`] (at most
//! [`MAX_TASKS_PER_USER`](crate::limits::MAX_TASKS_PER_USER), so this stays cheap).
//!
//! - Filters combine with AND; an unset filter field does not restrict. Tags compare
//!   case-insensitively. Statuses must be open or completed, priorities known values, and tags
//!   at most [`MAX_FILTER_TAGS`], each a valid tag: anything else could never match, so it is
//!   refused rather than silently matching nothing. `due_after` is inclusive, `due_before` exclusive, and both drop tasks
//!   without a due time. Overdue means open and due before `now`.
//! - The query is split on whitespace; every word must appear, case-insensitively, in the title,
//!   the description or a tag. Case folding is per character (`char::to_lowercase`, with final
//!   sigma folded to σ), so it does not depend on a word's position.
//! - Sorting is stable: ties are broken by task id ascending, in both directions. Tasks without a
//!   due time come last when sorting by due time, ascending or descending. Titles compare
//!   case-folded; priorities from none to urgent.
//! - Paging is by offset, in a [page token](crate::page_token) bound to the user, filter, query
//!   and sort. Offsets are not snapshots: a task created, deleted or re-sorted between two pages
//!   shifts the rest, so a page may repeat or skip an item. That is accepted: lists are short,
//!   clients refresh on the live event stream, and a snapshot would need server-side state.

use chrono::{DateTime, Utc};
use prost::Message as _;
use todo_proto::todo::v1::{ListTasksRequest, ListTasksResponse, Task, TaskSortField};

mod filter;
mod sort;

pub use self::filter::MAX_FILTER_TAGS;

use self::{
    filter::{Filter, fold_case, matches_words},
    sort::{SortValue, compare_values, sort_value},
};
use crate::{
    ids::UserId,
    page_token::PageTokenKey,
    violation::{FieldViolation, ValidationError, Violations},
};

/// The page size used when a request asks for 0.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest page size accepted.
pub const MAX_PAGE_SIZE: usize = 200;
/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1_000;

/// A listing request, validated.
struct Listing {
    page_size: usize,
    offset: usize,
    filter: Filter,
    words: Vec<String>,
    sort_by: TaskSortField,
    descending: bool,
}

/// Returns the page of `tasks` (all of `user`'s tasks) that `request` asks for, at `now`.
///
/// # Errors
/// Violations of `page_size` (below 0 or above 200), `page_token` ("invalid page token": malformed,
/// forged, or made for another user, filter, query or sort), `sort_by`, `filter.statuses[i]`
/// (not open or completed), `filter.priorities[i]` (unknown), `filter.tags` (more than
/// [`MAX_FILTER_TAGS`]), `filter.tags[i]` (not a valid tag), `filter.tag_match`,
/// `filter.due_after`, `filter.due_before` and `query` (over 1,000 characters).
pub fn list_tasks(
    tasks: &[Task],
    request: &ListTasksRequest,
    user: &UserId,
    key: &PageTokenKey,
    now: DateTime<Utc>,
) -> Result<ListTasksResponse, ValidationError> {
    let listing = Listing::from_request(request, user, key)?;
    let mut matching: Vec<(SortValue, &Task)> = tasks
        .iter()
        .filter(|task| listing.filter.accepts(task, now) && matches_words(task, &listing.words))
        .map(|task| (sort_value(task, listing.sort_by), task))
        .collect();
    matching.sort_by(|(a_value, a), (b_value, b)| {
        compare_values(a_value, b_value, listing.descending).then_with(|| a.id.cmp(&b.id))
    });
    let total = matching.len();
    let page: Vec<Task> = matching
        .iter()
        .skip(listing.offset)
        .take(listing.page_size)
        .map(|(_, task)| (*task).clone())
        .collect();
    let next_offset = listing.offset.saturating_add(listing.page_size);
    let next_page_token = if next_offset < total {
        key.seal(
            u64::try_from(next_offset).unwrap_or(u64::MAX),
            &scope(request, user),
        )
    } else {
        String::new()
    };
    Ok(ListTasksResponse {
        tasks: page,
        next_page_token,
        total_size: i32::try_from(total).unwrap_or(i32::MAX),
    })
}

impl Listing {
    fn from_request(
        request: &ListTasksRequest,
        user: &UserId,
        key: &PageTokenKey,
    ) -> Result<Self, ValidationError> {
        let mut violations = Violations::default();
        let page_size = match usize::try_from(request.page_size) {
            Ok(0) => Some(DEFAULT_PAGE_SIZE),
            Ok(size) if size <= MAX_PAGE_SIZE => Some(size),
            _ => {
                violations.push(
                    "page_size",
                    format!("page size must be 1 to {MAX_PAGE_SIZE}, or 0 for {DEFAULT_PAGE_SIZE}"),
                );
                None
            }
        };
        let offset = match request.page_token.as_str() {
            "" => Some(0),
            token => violations.check(
                key.open(token, &scope(request, user))
                    .map(|offset| usize::try_from(offset).unwrap_or(usize::MAX))
                    .map_err(|_| FieldViolation::new("page_token", "invalid page token")),
            ),
        };
        let sort_by = match TaskSortField::try_from(request.sort_by) {
            Ok(TaskSortField::Unspecified) => Some(TaskSortField::CreateTime),
            Ok(field) => Some(field),
            Err(_) => {
                violations.push("sort_by", "sort field is not known");
                None
            }
        };
        if request.query.chars().nth(MAX_QUERY_CHARS).is_some() {
            violations.push(
                "query",
                format!("query must be at most {MAX_QUERY_CHARS} characters"),
            );
        }
        let filter = Filter::from_request(request, &mut violations);
        let (Some(page_size), Some(offset), Some(sort_by), Some(filter)) =
            (page_size, offset, sort_by, filter)
        else {
            return Err(violations.into_error());
        };
        violations.into_result()?;
        let words = request.query.split_whitespace().map(fold_case).collect();
        Ok(Self {
            page_size,
            offset,
            filter,
            words,
            sort_by,
            descending: request.descending,
        })
    }
}

/// Returns what a page token is bound to: the user, the filter, the query and the sort (not the
/// page size, which may change between pages). Each part is length-prefixed, so no two requests
/// share a scope.
fn scope(request: &ListTasksRequest, user: &UserId) -> Vec<u8> {
    let mut scope = Vec::new();
    let filter = request
        .filter
        .as_ref()
        .map(|filter| filter.encode_to_vec())
        .unwrap_or_default();
    for part in [
        user.to_string().as_bytes(),
        filter.as_slice(),
        request.query.as_bytes(),
    ] {
        scope.extend_from_slice(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        scope.extend_from_slice(part);
    }
    scope.extend_from_slice(&request.sort_by.to_be_bytes());
    scope.push(u8::from(request.descending));
    scope
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cmp::Ordering;

    use proptest::prelude::*;
    use todo_proto::todo::v1::{Priority, Recurrence, Reminder, TaskFilter, TaskStatus};

    use super::*;
    use crate::wire_time::utc_to_timestamp;

    const USER: &str = "5b1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9a";

    pub(crate) fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    pub(crate) fn key() -> PageTokenKey {
        PageTokenKey::new([9_u8; 32]).unwrap()
    }

    pub(crate) fn user() -> UserId {
        UserId::parse(USER).unwrap()
    }

    pub(crate) fn task(
        id: u8,
        title: &str,
        due: Option<&str>,
        priority: Priority,
        tags: &[&str],
    ) -> Task {
        Task {
            id: format!("00000000-0000-4000-8000-0000000000{id:02x}"),
            user_id: USER.into(),
            title: title.into(),
            status: TaskStatus::Open as i32,
            priority: priority as i32,
            tags: tags.iter().map(ToString::to_string).collect(),
            due_time: due.map(|due| utc_to_timestamp(utc(due))),
            create_time: Some(utc_to_timestamp(
                utc("2026-03-01T00:00:00Z") + chrono::TimeDelta::minutes(i64::from(id % 3)),
            )),
            ..Task::default()
        }
    }

    pub(crate) fn sample() -> Vec<Task> {
        vec![
            task(
                1,
                "Buy milk",
                Some("2026-03-10T09:00:00Z"),
                Priority::Low,
                &["home", "shopping"],
            ),
            Task {
                status: TaskStatus::Completed as i32,
                ..task(
                    2,
                    "File taxes",
                    Some("2026-03-05T09:00:00Z"),
                    Priority::Urgent,
                    &["admin"],
                )
            },
            Task {
                reminder: Some(Reminder::default()),
                ..task(3, "Call ΟΔΥΣΣΕΑΣ", None, Priority::Unspecified, &["Work"])
            },
            Task {
                recurrence: Some(Recurrence::default()),
                ..task(
                    4,
                    "water plants",
                    Some("2026-03-20T09:00:00Z"),
                    Priority::High,
                    &[],
                )
            },
            Task {
                description: "Ärger mit dem Vermieter".into(),
                ..task(
                    5,
                    "letter",
                    Some("2026-03-12T09:00:00Z"),
                    Priority::Medium,
                    &["home"],
                )
            },
        ]
    }

    pub(crate) fn ids(response: &ListTasksResponse) -> Vec<u8> {
        response
            .tasks
            .iter()
            .map(|task| u8::from_str_radix(task.id.get(34..).unwrap(), 16).unwrap())
            .collect()
    }

    pub(crate) fn list(request: ListTasksRequest) -> Result<ListTasksResponse, ValidationError> {
        list_tasks(
            &sample(),
            &request,
            &user(),
            &key(),
            utc("2026-03-11T00:00:00Z"),
        )
    }

    #[test]
    fn bad_requests_name_the_field() {
        let token = list(ListTasksRequest {
            page_size: 2,
            ..ListTasksRequest::default()
        })
        .unwrap()
        .next_page_token;
        let bad_time = Some(prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        });
        let filtered = |filter: TaskFilter| ListTasksRequest {
            filter: Some(filter),
            ..ListTasksRequest::default()
        };
        let tags = |tags: &[&str]| TaskFilter {
            tags: tags.iter().map(ToString::to_string).collect(),
            ..TaskFilter::default()
        };
        let too_many_tags: Vec<String> = (0..=MAX_FILTER_TAGS).map(|i| format!("t{i}")).collect();
        let too_long_tag = "x".repeat(crate::tags::MAX_TAG_CHARS + 1);
        let cases = [
            (
                "unknown status",
                filtered(TaskFilter {
                    statuses: vec![TaskStatus::Open as i32, 9],
                    ..TaskFilter::default()
                }),
                "filter.statuses[1]",
            ),
            (
                "unspecified status, which no task has",
                filtered(TaskFilter {
                    statuses: vec![TaskStatus::Unspecified as i32],
                    ..TaskFilter::default()
                }),
                "filter.statuses[0]",
            ),
            (
                "unknown priority",
                filtered(TaskFilter {
                    priorities: vec![42],
                    ..TaskFilter::default()
                }),
                "filter.priorities[0]",
            ),
            (
                "negative priority",
                filtered(TaskFilter {
                    priorities: vec![Priority::High as i32, -1],
                    ..TaskFilter::default()
                }),
                "filter.priorities[1]",
            ),
            (
                "too many tags",
                filtered(TaskFilter {
                    tags: too_many_tags,
                    ..TaskFilter::default()
                }),
                "filter.tags",
            ),
            (
                "empty tag",
                filtered(tags(&["home", " "])),
                "filter.tags[1]",
            ),
            (
                "tag with a space",
                filtered(tags(&["two words"])),
                "filter.tags[0]",
            ),
            (
                "tag too long",
                filtered(tags(&[too_long_tag.as_str()])),
                "filter.tags[0]",
            ),
            (
                "page size too large",
                ListTasksRequest {
                    page_size: 201,
                    ..ListTasksRequest::default()
                },
                "page_size",
            ),
            (
                "negative page size",
                ListTasksRequest {
                    page_size: -1,
                    ..ListTasksRequest::default()
                },
                "page_size",
            ),
            (
                "unknown sort",
                ListTasksRequest {
                    sort_by: 99,
                    ..ListTasksRequest::default()
                },
                "sort_by",
            ),
            (
                "forged token",
                ListTasksRequest {
                    page_token: "AAAA".into(),
                    ..ListTasksRequest::default()
                },
                "page_token",
            ),
            (
                "token of another query",
                ListTasksRequest {
                    page_token: token.clone(),
                    query: "milk".into(),
                    ..ListTasksRequest::default()
                },
                "page_token",
            ),
            (
                "token of another sort",
                ListTasksRequest {
                    page_token: token.clone(),
                    descending: true,
                    ..ListTasksRequest::default()
                },
                "page_token",
            ),
            (
                "unknown tag match",
                ListTasksRequest {
                    filter: Some(TaskFilter {
                        tag_match: 7,
                        ..TaskFilter::default()
                    }),
                    ..ListTasksRequest::default()
                },
                "filter.tag_match",
            ),
            (
                "bad due bound",
                ListTasksRequest {
                    filter: Some(TaskFilter {
                        due_before: bad_time,
                        ..TaskFilter::default()
                    }),
                    ..ListTasksRequest::default()
                },
                "filter.due_before",
            ),
            (
                "query too long",
                ListTasksRequest {
                    query: "x".repeat(MAX_QUERY_CHARS + 1),
                    ..ListTasksRequest::default()
                },
                "query",
            ),
        ];
        for (case, request, field) in cases {
            assert_eq!(list(request).unwrap_err().fields(), [field], "case: {case}");
        }
        let other_user = UserId::parse("00000000-0000-4000-8000-000000000001").unwrap();
        let request = ListTasksRequest {
            page_token: token,
            ..ListTasksRequest::default()
        };
        let error = list_tasks(
            &sample(),
            &request,
            &other_user,
            &key(),
            utc("2026-03-11T00:00:00Z"),
        )
        .unwrap_err();
        assert_eq!(
            error.violations,
            [FieldViolation::new("page_token", "invalid page token")]
        );
    }

    #[test]
    fn a_filter_may_name_up_to_the_tag_limit_and_every_known_enum_value() {
        let request = ListTasksRequest {
            filter: Some(TaskFilter {
                statuses: vec![TaskStatus::Open as i32, TaskStatus::Completed as i32],
                priorities: (0..=5).collect(),
                tags: (0..MAX_FILTER_TAGS).map(|i| format!("t{i}")).collect(),
                ..TaskFilter::default()
            }),
            ..ListTasksRequest::default()
        };
        assert!(list(request).is_ok());
    }

    #[test]
    fn page_size_zero_means_fifty() {
        let tasks: Vec<Task> = (0..60)
            .map(|id| task(id, "t", None, Priority::None, &[]))
            .collect();
        let response = list_tasks(
            &tasks,
            &ListTasksRequest::default(),
            &user(),
            &key(),
            utc("2026-03-11T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            (response.tasks.len(), response.total_size),
            (DEFAULT_PAGE_SIZE, 60)
        );
        assert!(!response.next_page_token.is_empty());
    }

    fn random_task() -> impl Strategy<Value = Task> {
        (
            0..=255_u8,
            "[ab]{1,3}",
            prop::option::of(0..5_i64),
            0..6_i32,
            any::<bool>(),
        )
            .prop_map(|(id, title, due_day, priority, is_open)| Task {
                status: if is_open {
                    TaskStatus::Open as i32
                } else {
                    TaskStatus::Completed as i32
                },
                priority,
                due_time: due_day.map(|day| {
                    utc_to_timestamp(utc("2026-03-01T09:00:00Z") + chrono::TimeDelta::days(day))
                }),
                ..task(id, &title, None, Priority::None, &[])
            })
    }

    /// Up to 40 tasks with distinct ids, as a user's buckets hold them.
    fn distinct_tasks() -> impl Strategy<Value = Vec<Task>> {
        prop::collection::vec(random_task(), 0..40).prop_map(|mut tasks| {
            tasks.sort_by(|a, b| a.id.cmp(&b.id));
            tasks.dedup_by(|a, b| a.id == b.id);
            tasks
        })
    }

    proptest! {
        #[test]
        fn paging_returns_every_matching_task_once_in_order(
            tasks in distinct_tasks(),
            sort_by in 0..=5_i32,
            descending in any::<bool>(),
            query in prop::sample::select(vec!["", "a", "b", "ab"]),
            page_sizes in prop::collection::vec(1..7_i32, 1..50),
        ) {
            let now = utc("2026-03-03T00:00:00Z");
            let base = ListTasksRequest {
                sort_by,
                descending,
                query: query.into(),
                ..ListTasksRequest::default()
            };
            let all_at_once = ListTasksRequest { page_size: 200, ..base.clone() };
            let everything = list_tasks(&tasks, &all_at_once, &user(), &key(), now).unwrap();
            let mut paged = Vec::new();
            let mut page_token = String::new();
            for page_size in page_sizes.iter().cycle().take(50) {
                let request = ListTasksRequest {
                    page_size: *page_size,
                    page_token: page_token.clone(),
                    ..base.clone()
                };
                let page = list_tasks(&tasks, &request, &user(), &key(), now).unwrap();
                prop_assert_eq!(page.total_size, everything.total_size);
                paged.extend(page.tasks);
                page_token = page.next_page_token;
                if page_token.is_empty() {
                    break;
                }
            }
            prop_assert!(page_token.is_empty());
            prop_assert_eq!(&paged, &everything.tasks);
            let mut found: Vec<&str> = paged.iter().map(|task| task.id.as_str()).collect();
            found.sort_unstable();
            let matching: Vec<&str> = tasks
                .iter()
                .filter(|task| task.title.contains(query))
                .map(|task| task.id.as_str())
                .collect();
            prop_assert_eq!(found, matching);
            let sort_field = TaskSortField::try_from(sort_by).unwrap();
            for pair in paged.windows(2) {
                let (a, b) = (&pair[0], &pair[1]);
                let (a_value, b_value) = (sort_value(a, sort_field), sort_value(b, sort_field));
                let ordering =
                    compare_values(&a_value, &b_value, descending).then_with(|| a.id.cmp(&b.id));
                prop_assert_eq!(ordering, Ordering::Less, "{} before {}", a.id, b.id);
            }
        }
    }
}
