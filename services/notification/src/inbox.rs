//! `Inbox`, the stored state `notifications-<user_id>`: one user's notifications, oldest first,
//! bounded to [`MAX_NOTIFICATIONS_PER_USER`] (the oldest go first). Pure rules, no I/O:
//! appending once per notification id, marking read, and newest-first pages.
//!
//! Pages are cut by position, not offset: every notification gets the next position of its
//! inbox, and a page token holds the position the next page starts below. So notifications that
//! arrive or are marked read between two pages neither repeat nor skip entries.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use todo_core::{ids::UserId, wire_time::utc_to_timestamp};
use todo_proto::todo::v1 as proto;

use crate::reminder_record::Firing;

/// The most notifications an inbox keeps.
pub const MAX_NOTIFICATIONS_PER_USER: usize = 1_000;

/// The state key of a user's inbox.
pub fn state_key(user_id: &UserId) -> String {
    format!("notifications-{user_id}")
}

/// One notification as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredNotification {
    /// Its place in the inbox: later notifications have higher positions.
    pub position: u64,
    /// The `ReminderDue` event id.
    pub id: String,
    /// The task.
    pub task_id: String,
    /// The task title when it fired.
    pub title: String,
    /// The task's due time then.
    pub due_time: Option<DateTime<Utc>>,
    /// When it was meant to fire.
    pub remind_time: DateTime<Utc>,
    /// When it fired.
    pub fire_time: DateTime<Utc>,
    /// Whether it fired late.
    pub late: bool,
    /// Whether the user has read it.
    pub read: bool,
}

impl StoredNotification {
    /// Returns the wire form.
    pub fn to_proto(&self) -> proto::Notification {
        proto::Notification {
            id: self.id.clone(),
            task_id: self.task_id.clone(),
            title: self.title.clone(),
            due_time: self.due_time.map(utc_to_timestamp),
            fire_time: Some(utc_to_timestamp(self.fire_time)),
            read: self.read,
            remind_time: Some(utc_to_timestamp(self.remind_time)),
            late: self.late,
        }
    }
}

/// One user's notifications.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbox {
    /// The position the next notification gets.
    next_position: u64,
    /// Oldest first.
    notifications: Vec<StoredNotification>,
}

/// A page of an inbox, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxPage<'a> {
    /// The notifications of the page.
    pub notifications: Vec<&'a StoredNotification>,
    /// Where the next page starts (below this position), when there is one.
    pub next_before: Option<u64>,
    /// How many notifications are unread, in the whole inbox.
    pub unread_count: usize,
}

impl Inbox {
    /// Appends the notification of `firing` of `task_id`, unless the inbox has it already;
    /// returns whether it was added. Drops the oldest beyond the bound.
    pub fn append(&mut self, task_id: &str, firing: &Firing) -> bool {
        if self.notifications.iter().any(|n| n.id == firing.event_id) {
            return false;
        }
        self.notifications.push(StoredNotification {
            position: self.next_position,
            id: firing.event_id.clone(),
            task_id: task_id.to_string(),
            title: firing.title.clone(),
            due_time: firing.due_time,
            remind_time: firing.remind_time,
            fire_time: firing.fire_time,
            late: firing.late,
            read: false,
        });
        self.next_position = self.next_position.saturating_add(1);
        let excess = self
            .notifications
            .len()
            .saturating_sub(MAX_NOTIFICATIONS_PER_USER);
        self.notifications.drain(..excess);
        true
    }

    /// Marks the notifications with these ids read; unknown ids are ignored. Returns how many
    /// changed.
    pub fn mark_read(&mut self, ids: &HashSet<&str>) -> usize {
        let mut changed = 0;
        for notification in &mut self.notifications {
            if !notification.read && ids.contains(notification.id.as_str()) {
                notification.read = true;
                changed += 1;
            }
        }
        changed
    }

    /// How many notifications are unread.
    pub fn unread_count(&self) -> usize {
        self.notifications.iter().filter(|n| !n.read).count()
    }

    /// Returns up to `page_size` notifications below position `before` (all, when `None`),
    /// newest first, only unread ones when `unread_only`.
    pub fn page(&self, before: Option<u64>, unread_only: bool, page_size: usize) -> InboxPage<'_> {
        let mut matching = self
            .notifications
            .iter()
            .rev()
            .filter(|n| before.is_none_or(|before| n.position < before))
            .filter(|n| !unread_only || !n.read);
        let notifications: Vec<_> = matching.by_ref().take(page_size).collect();
        let more = matching.next().is_some();
        InboxPage {
            next_before: notifications
                .last()
                .filter(|_| more)
                .map(|last| last.position),
            notifications,
            unread_count: self.unread_count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn firing(id: &str) -> Firing {
        let at = DateTime::parse_from_rfc3339("2026-03-29T08:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Firing {
            event_id: id.into(),
            task_version: 1,
            title: format!("task {id}"),
            due_time: None,
            remind_time: at,
            fire_time: at,
            late: false,
            published: false,
        }
    }

    fn ids(page: &InboxPage<'_>) -> Vec<String> {
        page.notifications.iter().map(|n| n.id.clone()).collect()
    }

    #[test]
    fn a_notification_is_appended_once() {
        let mut inbox = Inbox::default();
        assert!(inbox.append("t", &firing("a")));
        assert!(!inbox.append("t", &firing("a")), "a redelivered trigger");
        assert_eq!(inbox.page(None, false, 50).notifications.len(), 1);
    }

    #[test]
    fn pages_are_newest_first_and_stable_when_notifications_arrive_between_them() {
        let mut inbox = Inbox::default();
        for id in ["a", "b", "c", "d", "e"] {
            inbox.append("t", &firing(id));
        }
        let first = inbox.page(None, false, 2);
        assert_eq!(ids(&first), ["e", "d"]);
        let before = first.next_before;
        inbox.append("t", &firing("f"));
        let second = inbox.page(before, false, 2);
        assert_eq!(ids(&second), ["c", "b"]);
        let last = inbox.page(second.next_before, false, 2);
        assert_eq!(ids(&last), ["a"]);
        assert_eq!(last.next_before, None, "the last page has no token");
        let exact = inbox.page(None, false, 6);
        assert_eq!(
            exact.next_before, None,
            "a page that ends the inbox has no token"
        );
    }

    #[test]
    fn marking_read_counts_and_filters() {
        let mut inbox = Inbox::default();
        for id in ["a", "b", "c"] {
            inbox.append("t", &firing(id));
        }
        let marked = inbox.mark_read(&HashSet::from(["a", "c", "unknown"]));
        assert_eq!(marked, 2);
        assert_eq!(inbox.mark_read(&HashSet::from(["a"])), 0, "already read");
        let unread = inbox.page(None, true, 50);
        assert_eq!(ids(&unread), ["b"]);
        assert_eq!(unread.unread_count, 1);
        let all = inbox.page(None, false, 50);
        let read: Vec<_> = all.notifications.iter().map(|n| n.read).collect();
        assert_eq!(read, [true, false, true]);
    }

    #[test]
    fn the_oldest_notifications_go_beyond_the_bound() {
        let mut inbox = Inbox::default();
        for index in 0..=MAX_NOTIFICATIONS_PER_USER {
            inbox.append("t", &firing(&index.to_string()));
        }
        let page = inbox.page(None, false, MAX_NOTIFICATIONS_PER_USER + 1);
        assert_eq!(page.notifications.len(), MAX_NOTIFICATIONS_PER_USER);
        assert_eq!(page.notifications.last().unwrap().id, "1", "0 went");
    }
}
