//! A task's history for its owner: page size and token checked, one page read from the log, and
//! each recorded event turned into an entry with its changed fields (todo-core's
//! `changed_fields`) as before/after JSON.
//!
//! Pages are offsets sealed in a page token bound to the user and the task. A task with no
//! history for this user is `NotFound` — also when it is another user's task, so its existence
//! does not leak. Events arrive unordered: one recorded late with an earlier time shifts later
//! pages by one, so a reader paging at that moment may see an entry twice.

use todo_core::{InvalidPageToken, PageTokenKey, TaskId, UserId, changed_fields};
use todo_proto::todo::v1::{
    FieldChange, ListTaskHistoryRequest, ListTaskHistoryResponse, TaskEvent, TaskHistoryEntry,
};

use crate::{error::Error, store::AuditLog};

/// The page size when the request asks for none.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page a request may ask for.
pub const MAX_PAGE_SIZE: u32 = 200;

/// Serves histories from the log.
#[derive(Clone, Debug)]
pub struct History {
    log: AuditLog,
    page_tokens: PageTokenKey,
}

impl History {
    /// Reads `log`, sealing page tokens with `page_tokens`.
    pub fn new(log: AuditLog, page_tokens: PageTokenKey) -> Self {
        Self { log, page_tokens }
    }

    /// One page of `user`'s history of the task `request` names, oldest first.
    ///
    /// # Errors
    /// [`Error::Validation`] for a bad task id, page size or token; [`Error::NotFound`] when
    /// the user has no history of that task; [`Error::Store`] when the database fails.
    pub async fn list(
        &self,
        user: &UserId,
        request: &ListTaskHistoryRequest,
    ) -> Result<ListTaskHistoryResponse, Error> {
        let task = TaskId::parse(&request.task_id)
            .map_err(|_| Error::invalid("task_id", "must be a task id (a UUID)"))?;
        let page_size = match u32::try_from(request.page_size) {
            Ok(0) => DEFAULT_PAGE_SIZE,
            Ok(size) if size <= MAX_PAGE_SIZE => size,
            _ => return Err(Error::invalid("page_size", "must be 0 to 200")),
        };
        let scope = scope(user, &task);
        let offset = if request.page_token.is_empty() {
            0
        } else {
            self.page_tokens
                .open(&request.page_token, &scope)
                .map_err(|InvalidPageToken| Error::invalid("page_token", "invalid page token"))?
        };
        // One more than the page, to know whether another page follows.
        let mut events = self
            .log
            .history(user, &task, offset, page_size + 1)
            .await
            .map_err(Error::Store)?;
        if events.is_empty() && offset == 0 {
            return Err(Error::NotFound {
                task_id: task.to_string(),
            });
        }
        let has_more = events.len() > page_size as usize;
        events.truncate(page_size as usize);
        let next_page_token = if has_more {
            self.page_tokens
                .seal(offset.saturating_add(u64::from(page_size)), &scope)
        } else {
            String::new()
        };
        let entries = events
            .iter()
            .map(|json| entry(json))
            .collect::<Result<_, _>>()?;
        Ok(ListTaskHistoryResponse {
            entries,
            next_page_token,
        })
    }
}

/// What a page token is bound to: this user's history of this task.
fn scope(user: &UserId, task: &TaskId) -> Vec<u8> {
    format!("audit/task-history/{user}/{task}").into_bytes()
}

/// The entry of one recorded event. A row that no longer decodes is an internal error: the
/// service wrote it, from an event that decoded.
fn entry(json: &str) -> Result<TaskHistoryEntry, Error> {
    let event: TaskEvent =
        todo_proto::json::from_json(json.as_bytes()).map_err(|source| Error::CorruptRow {
            source: source.into(),
        })?;
    let changes = match (&event.previous, &event.task) {
        (Some(before), Some(after)) => changed_fields(before, after)
            .into_iter()
            .map(|(field, before, after)| FieldChange {
                field: field.to_string(),
                before_json: before.to_string(),
                after_json: after.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(TaskHistoryEntry {
        event_id: event.event_id,
        r#type: event.r#type,
        version: event.version,
        actor: event.actor,
        occur_time: event.occur_time,
        changes,
    })
}

#[cfg(test)]
mod tests {
    use todo_proto::todo::v1::{Task, TaskEventType, TaskStatus};

    use super::*;

    #[test]
    fn an_entry_lists_the_changed_fields_as_json() {
        let before = Task {
            title: "buy milk".into(),
            status: TaskStatus::Open as i32,
            ..Task::default()
        };
        let after = Task {
            title: "buy oat milk".into(),
            ..before.clone()
        };
        let event = TaskEvent {
            event_id: "e".into(),
            r#type: TaskEventType::Updated as i32,
            version: 2,
            task: Some(after),
            previous: Some(before),
            ..TaskEvent::default()
        };
        let json = String::from_utf8(todo_proto::json::to_json(&event).unwrap()).unwrap();
        let entry = entry(&json).unwrap();
        assert_eq!(
            entry.changes,
            [FieldChange {
                field: "title".into(),
                before_json: "\"buy milk\"".into(),
                after_json: "\"buy oat milk\"".into(),
            }]
        );
        assert_eq!((entry.version, entry.r#type()), (2, TaskEventType::Updated));
    }

    #[test]
    fn a_creation_has_no_changes() {
        let event = TaskEvent {
            r#type: TaskEventType::Created as i32,
            task: Some(Task::default()),
            ..TaskEvent::default()
        };
        let json = String::from_utf8(todo_proto::json::to_json(&event).unwrap()).unwrap();
        assert_eq!(entry(&json).unwrap().changes, []);
    }

    #[test]
    fn page_tokens_are_bound_to_the_user_and_the_task() {
        let user = UserId::parse("5b1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9a").unwrap();
        let other_user = UserId::parse("6b1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9a").unwrap();
        let task = TaskId::parse("0190b6d2-8f3e-4c4a-9d2b-5e6f7a8b9c0d").unwrap();
        let other_task = TaskId::parse("1190b6d2-8f3e-4c4a-9d2b-5e6f7a8b9c0d").unwrap();
        let key = PageTokenKey::new(vec![7; PageTokenKey::MIN_LEN]).unwrap();
        let token = key.seal(50, &scope(&user, &task));
        assert_eq!(key.open(&token, &scope(&user, &task)), Ok(50));
        assert!(key.open(&token, &scope(&other_user, &task)).is_err());
        assert!(key.open(&token, &scope(&user, &other_task)).is_err());
    }
}
