//! Which tasks a listing keeps: the filter and the free-text query.

use chrono::{DateTime, Utc};
use todo_proto::todo::v1::{ListTasksRequest, Priority, TagMatch, Task, TaskFilter, TaskStatus};

use crate::{
    tags::{MAX_TAGS, parse_tag},
    violation::{FieldViolation, Violations},
    wire_time::timestamp_to_utc,
};

/// The most tags a filter may name: as many as a task may have. More could never all match, and
/// each one costs a comparison per task.
pub const MAX_FILTER_TAGS: usize = MAX_TAGS;

/// A validated `TaskFilter`; empty lists and `None`s do not restrict.
#[derive(Default)]
pub(super) struct Filter {
    statuses: Vec<i32>,
    priorities: Vec<i32>,
    tags: Vec<String>,
    match_all_tags: bool,
    due_after: Option<DateTime<Utc>>,
    due_before: Option<DateTime<Utc>>,
    overdue: Option<bool>,
    has_reminder: Option<bool>,
    recurring: Option<bool>,
}

impl Filter {
    pub(super) fn from_request(
        request: &ListTasksRequest,
        violations: &mut Violations,
    ) -> Option<Self> {
        let Some(filter) = &request.filter else {
            return Some(Self::default());
        };
        let match_all_tags = match TagMatch::try_from(filter.tag_match) {
            Ok(TagMatch::Unspecified | TagMatch::Any) => Some(false),
            Ok(TagMatch::All) => Some(true),
            Err(_) => {
                violations.push("filter.tag_match", "tag match must be any or all");
                None
            }
        };
        let mut bound = |field: &str, timestamp: Option<&prost_types::Timestamp>| match timestamp {
            None => Some(None),
            Some(timestamp) => {
                violations.check(timestamp_to_utc(timestamp).map(Some).ok_or_else(|| {
                    FieldViolation::new(field, "time must be between years 1 and 9999")
                }))
            }
        };
        let due_after = bound("filter.due_after", filter.due_after.as_ref());
        let due_before = bound("filter.due_before", filter.due_before.as_ref());
        check_enums(violations, filter);
        check_tags(violations, &filter.tags);
        Some(Self {
            statuses: filter.statuses.clone(),
            priorities: filter
                .priorities
                .iter()
                .copied()
                .map(normalised_priority)
                .collect(),
            tags: filter
                .tags
                .iter()
                .map(|tag| fold_case(tag.trim()))
                .collect(),
            match_all_tags: match_all_tags?,
            due_after: due_after?,
            due_before: due_before?,
            overdue: filter.overdue,
            has_reminder: filter.has_reminder,
            recurring: filter.recurring,
        })
    }

    pub(super) fn accepts(&self, task: &Task, now: DateTime<Utc>) -> bool {
        let due = task.due_time.as_ref().and_then(timestamp_to_utc);
        let is_open = task.status != TaskStatus::Completed as i32;
        let is_overdue = is_open && due.is_some_and(|due| due < now);
        let wanted = |expected: Option<bool>, actual: bool| {
            expected.is_none_or(|expected| expected == actual)
        };
        (self.statuses.is_empty() || self.statuses.contains(&task.status))
            && (self.priorities.is_empty()
                || self
                    .priorities
                    .contains(&normalised_priority(task.priority)))
            && self.accepts_tags(task)
            && self
                .due_after
                .is_none_or(|after| due.is_some_and(|due| due >= after))
            && self
                .due_before
                .is_none_or(|before| due.is_some_and(|due| due < before))
            && wanted(self.overdue, is_overdue)
            && wanted(self.has_reminder, task.reminder.is_some())
            && wanted(self.recurring, task.recurrence.is_some())
    }

    fn accepts_tags(&self, task: &Task) -> bool {
        if self.tags.is_empty() {
            return true;
        }
        let task_tags: Vec<String> = task.tags.iter().map(|tag| fold_case(tag)).collect();
        let has = |tag: &String| task_tags.contains(tag);
        if self.match_all_tags {
            self.tags.iter().all(has)
        } else {
            self.tags.iter().any(has)
        }
    }
}

/// Reports each status that is not open or completed (no task has any other), and each priority
/// that is not a known value (`PRIORITY_UNSPECIFIED` is, and means none), by its index.
fn check_enums(violations: &mut Violations, filter: &TaskFilter) {
    for (index, status) in filter.statuses.iter().enumerate() {
        if !matches!(
            TaskStatus::try_from(*status),
            Ok(TaskStatus::Open | TaskStatus::Completed)
        ) {
            violations.push(
                format!("filter.statuses[{index}]"),
                "status must be open or completed",
            );
        }
    }
    for (index, priority) in filter.priorities.iter().enumerate() {
        if Priority::try_from(*priority).is_err() {
            violations.push(
                format!("filter.priorities[{index}]"),
                "priority is not known",
            );
        }
    }
}

/// Reports too many tags, or else each tag that no task could have, by its index.
fn check_tags(violations: &mut Violations, tags: &[String]) {
    if tags.len() > MAX_FILTER_TAGS {
        // One violation, not one per tag: the request may hold very many.
        violations.push(
            "filter.tags",
            format!("a filter may name at most {MAX_FILTER_TAGS} tags"),
        );
        return;
    }
    for (index, tag) in tags.iter().enumerate() {
        violations.check(parse_tag(format!("filter.tags[{index}]"), tag));
    }
}

/// `PRIORITY_UNSPECIFIED` means `PRIORITY_NONE`, in tasks and in filters alike.
pub(super) fn normalised_priority(priority: i32) -> i32 {
    if priority == Priority::Unspecified as i32 {
        Priority::None as i32
    } else {
        priority
    }
}

/// Folds case per character, so matching does not depend on context (final sigma included).
pub(super) fn fold_case(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|character| if character == 'ς' { 'σ' } else { character })
        .collect()
}

pub(super) fn matches_words(task: &Task, words: &[String]) -> bool {
    if words.is_empty() {
        return true;
    }
    // Words hold no whitespace, so joining on a newline cannot create a match across fields.
    let mut haystack = format!("{}\n{}", task.title, task.description);
    for tag in &task.tags {
        haystack.push('\n');
        haystack.push_str(tag);
    }
    let haystack = fold_case(&haystack);
    words.iter().all(|word| haystack.contains(word.as_str()))
}

#[cfg(test)]
mod tests {
    use todo_proto::todo::v1::{ListTasksRequest, Priority, TagMatch, TaskFilter, TaskStatus};

    use crate::{
        listing::tests::{ids, list, utc},
        wire_time::utc_to_timestamp,
    };

    #[test]
    fn filters_and_queries_select_tasks() {
        let filter = |filter: TaskFilter| Some(filter);
        let cases: Vec<(&str, Option<TaskFilter>, &str, Vec<u8>)> = vec![
            ("everything", None, "", vec![1, 2, 3, 4, 5]),
            (
                "open",
                filter(TaskFilter {
                    statuses: vec![TaskStatus::Open as i32],
                    ..TaskFilter::default()
                }),
                "",
                vec![1, 3, 4, 5],
            ),
            (
                "no priority means none",
                filter(TaskFilter {
                    priorities: vec![Priority::None as i32],
                    ..TaskFilter::default()
                }),
                "",
                vec![3],
            ),
            (
                "any tag, case-insensitive",
                filter(TaskFilter {
                    tags: vec!["HOME".into(), "work".into()],
                    ..TaskFilter::default()
                }),
                "",
                vec![1, 3, 5],
            ),
            (
                "all tags",
                filter(TaskFilter {
                    tags: vec!["home".into(), "shopping".into()],
                    tag_match: TagMatch::All as i32,
                    ..TaskFilter::default()
                }),
                "",
                vec![1],
            ),
            (
                "due window",
                filter(TaskFilter {
                    due_after: Some(utc_to_timestamp(utc("2026-03-10T09:00:00Z"))),
                    due_before: Some(utc_to_timestamp(utc("2026-03-20T09:00:00Z"))),
                    ..TaskFilter::default()
                }),
                "",
                vec![1, 5],
            ),
            (
                "overdue",
                filter(TaskFilter {
                    overdue: Some(true),
                    ..TaskFilter::default()
                }),
                "",
                vec![1],
            ),
            (
                "not overdue",
                filter(TaskFilter {
                    overdue: Some(false),
                    ..TaskFilter::default()
                }),
                "",
                vec![2, 3, 4, 5],
            ),
            (
                "has reminder",
                filter(TaskFilter {
                    has_reminder: Some(true),
                    ..TaskFilter::default()
                }),
                "",
                vec![3],
            ),
            (
                "recurring",
                filter(TaskFilter {
                    recurring: Some(true),
                    ..TaskFilter::default()
                }),
                "",
                vec![4],
            ),
            ("query in title", None, "MILK", vec![1]),
            ("query words all needed", None, "buy home", vec![1]),
            ("query in description, unicode", None, "ärger", vec![5]),
            ("query with final sigma", None, "οδυσσεας", vec![3]),
            ("query in tags", None, "shop", vec![1]),
            ("query matching nothing", None, "buy taxes", vec![]),
        ];
        for (case, filter, query, expected) in cases {
            let response = list(ListTasksRequest {
                filter,
                query: query.into(),
                ..ListTasksRequest::default()
            })
            .unwrap();
            let mut found = ids(&response);
            found.sort_unstable();
            assert_eq!(found, expected, "case: {case}");
            assert_eq!(
                response.total_size,
                i32::try_from(expected.len()).unwrap(),
                "case: {case}"
            );
        }
    }
}
