//! How a listing orders tasks.

use std::cmp::Ordering;

use todo_proto::todo::v1::{Task, TaskSortField};

use super::filter::{fold_case, normalised_priority};
use crate::wire_time::timestamp_key;

/// A task's sort key under one sort field.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum SortValue {
    Due(Option<(i64, i32)>),
    Time(Option<(i64, i32)>),
    Priority(i32),
    Title(String),
}

pub(super) fn sort_value(task: &Task, sort_by: TaskSortField) -> SortValue {
    match sort_by {
        TaskSortField::DueTime => SortValue::Due(timestamp_key(task.due_time.as_ref())),
        TaskSortField::Priority => SortValue::Priority(normalised_priority(task.priority)),
        TaskSortField::UpdateTime => SortValue::Time(timestamp_key(task.update_time.as_ref())),
        TaskSortField::Title => SortValue::Title(fold_case(&task.title)),
        TaskSortField::CreateTime | TaskSortField::Unspecified => {
            SortValue::Time(timestamp_key(task.create_time.as_ref()))
        }
    }
}

pub(super) fn compare_values(a: &SortValue, b: &SortValue, descending: bool) -> Ordering {
    let directed = |ordering: Ordering| {
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    };
    match (a, b) {
        // No due time sorts last in both directions.
        (SortValue::Due(Some(_)), SortValue::Due(None)) => Ordering::Less,
        (SortValue::Due(None), SortValue::Due(Some(_))) => Ordering::Greater,
        _ => directed(a.cmp(b)),
    }
}

#[cfg(test)]
mod tests {
    use todo_proto::todo::v1::{ListTasksRequest, TaskSortField};

    use crate::listing::tests::{ids, list};

    #[test]
    fn sorting_is_stable_and_puts_missing_due_times_last() {
        let cases = [
            (
                "due ascending",
                TaskSortField::DueTime,
                false,
                vec![2, 1, 5, 4, 3],
            ),
            (
                "due descending",
                TaskSortField::DueTime,
                true,
                vec![4, 5, 1, 2, 3],
            ),
            (
                "priority ascending",
                TaskSortField::Priority,
                false,
                vec![3, 1, 5, 4, 2],
            ),
            (
                "priority descending",
                TaskSortField::Priority,
                true,
                vec![2, 4, 5, 1, 3],
            ),
            (
                "title ignores case",
                TaskSortField::Title,
                false,
                vec![1, 3, 2, 5, 4],
            ),
            (
                "create time ties by id",
                TaskSortField::CreateTime,
                false,
                vec![3, 1, 4, 2, 5],
            ),
            (
                "create time descending ties by id ascending",
                TaskSortField::Unspecified,
                true,
                vec![2, 5, 1, 4, 3],
            ),
        ];
        for (case, sort_by, descending, expected) in cases {
            let request = ListTasksRequest {
                sort_by: sort_by as i32,
                descending,
                ..ListTasksRequest::default()
            };
            assert_eq!(ids(&list(request).unwrap()), expected, "case: {case}");
        }
    }
}
