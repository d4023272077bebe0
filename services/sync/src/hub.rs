//! The fan-out: a bounded broadcast per user who has a watch open, so one slow watch never
//! holds back another (it lags, and is told to resync), and memory per user is bounded by the
//! buffer whatever the number of watches. A user's channel exists only while a watch of theirs
//! is open.
//!
//! Delivery is at-least-once and unordered, so each channel also remembers the highest version
//! it sent per task and skips events at or below it (duplicates, late deliveries); a deletion's
//! version is one past the task's last, so it is never skipped. Clients still compare versions:
//! an event can be older than what they listed.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use todo_proto::todo::v1::{ReminderDue, TaskEvent, WatchTasksResponse, watch_tasks_response};
use tokio::sync::broadcast;

/// One item of a user's stream, shared by all of that user's watches.
pub(crate) type SharedItem = Arc<WatchTasksResponse>;

/// What became of an event handed to the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fanout {
    /// Queued for this many watches.
    Queued(usize),
    /// The user has no watch open here.
    NoWatchers,
    /// A version at least as new was already sent for the task.
    Stale,
}

/// Every user's channel.
#[derive(Debug)]
pub(crate) struct Hub {
    users: Mutex<HashMap<String, UserChannel>>,
    /// Items a watch may be behind before it lags.
    capacity: usize,
}

#[derive(Debug)]
struct UserChannel {
    sender: broadcast::Sender<SharedItem>,
    /// The highest version sent per task id.
    versions: HashMap<String, i64>,
}

impl Hub {
    /// A hub whose per-user buffers hold `capacity` items (at least one).
    pub(crate) fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            users: Mutex::default(),
            capacity: capacity.max(1),
        })
    }

    /// Opens a watch of `user_id`'s items from now on.
    pub(crate) fn watch(self: &Arc<Self>, user_id: &str) -> Watcher {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        let channel = users
            .entry(user_id.to_string())
            .or_insert_with(|| UserChannel {
                sender: broadcast::channel(self.capacity).0,
                versions: HashMap::new(),
            });
        crate::metrics::watcher_opened();
        Watcher {
            receiver: channel.sender.subscribe(),
            _registration: Registration {
                hub: self.clone(),
                user_id: user_id.to_string(),
            },
        }
    }

    /// Queues a task event for its owner's watches, unless it is stale.
    pub(crate) fn task_event(&self, event: TaskEvent) -> Fanout {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(channel) = users.get_mut(&event.user_id) else {
            return Fanout::NoWatchers;
        };
        let newest = channel.versions.entry(event.task_id.clone()).or_insert(0);
        if event.version <= *newest {
            crate::metrics::stale_event();
            return Fanout::Stale;
        }
        *newest = event.version;
        channel.send(watch_tasks_response::Item::TaskEvent(event))
    }

    /// Queues a due reminder for its owner's watches.
    pub(crate) fn reminder_due(&self, reminder: ReminderDue) -> Fanout {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        match users.get_mut(&reminder.user_id) {
            Some(channel) => channel.send(watch_tasks_response::Item::ReminderDue(reminder)),
            None => Fanout::NoWatchers,
        }
    }

    /// Forgets `user_id`'s channel once its last watch is gone.
    fn release(&self, user_id: &str) {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        if users
            .get(user_id)
            .is_some_and(|channel| channel.sender.receiver_count() == 0)
        {
            users.remove(user_id);
        }
    }
}

impl UserChannel {
    fn send(&self, item: watch_tasks_response::Item) -> Fanout {
        let item = Arc::new(WatchTasksResponse { item: Some(item) });
        // Never blocks: a watch that is `capacity` items behind loses the oldest (and lags).
        self.sender
            .send(item)
            .map_or(Fanout::NoWatchers, Fanout::Queued)
    }
}

/// One open watch: its receiver, and its registration, which releases the user's channel when
/// the last watch goes. The receiver is declared first so it is dropped first.
#[derive(Debug)]
pub(crate) struct Watcher {
    pub(crate) receiver: broadcast::Receiver<SharedItem>,
    _registration: Registration,
}

#[derive(Debug)]
struct Registration {
    hub: Arc<Hub>,
    user_id: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        crate::metrics::watcher_closed();
        self.hub.release(&self.user_id);
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::broadcast::error::TryRecvError;

    use super::*;

    fn event(user_id: &str, task_id: &str, version: i64) -> TaskEvent {
        TaskEvent {
            user_id: user_id.into(),
            task_id: task_id.into(),
            version,
            ..Default::default()
        }
    }

    fn version_of(item: &SharedItem) -> i64 {
        match &item.item {
            Some(watch_tasks_response::Item::TaskEvent(event)) => event.version,
            other => panic!("not a task event: {other:?}"),
        }
    }

    #[test]
    fn every_watch_of_a_user_gets_their_events_and_only_theirs() {
        let hub = Hub::new(8);
        let (mut first, mut second, mut other) =
            (hub.watch("ada"), hub.watch("ada"), hub.watch("bob"));
        assert_eq!(hub.task_event(event("ada", "t1", 1)), Fanout::Queued(2));
        for watcher in [&mut first, &mut second] {
            assert_eq!(version_of(&watcher.receiver.try_recv().unwrap()), 1);
        }
        assert_eq!(other.receiver.try_recv().unwrap_err(), TryRecvError::Empty);
    }

    #[test]
    fn duplicates_and_older_versions_are_not_sent_again() {
        let hub = Hub::new(8);
        let mut watcher = hub.watch("ada");
        let cases = [
            ("first", 2, Fanout::Queued(1)),
            ("duplicate", 2, Fanout::Stale),
            ("late older", 1, Fanout::Stale),
            ("newer", 3, Fanout::Queued(1)),
        ];
        for (case, version, fanout) in cases {
            assert_eq!(
                hub.task_event(event("ada", "t1", version)),
                fanout,
                "case: {case}"
            );
        }
        assert_eq!(version_of(&watcher.receiver.try_recv().unwrap()), 2);
        assert_eq!(version_of(&watcher.receiver.try_recv().unwrap()), 3);
    }

    #[test]
    fn a_watch_that_falls_behind_lags_without_holding_back_the_others() {
        let hub = Hub::new(4);
        let (mut slow, mut fast) = (hub.watch("ada"), hub.watch("ada"));
        for version in 1..=10 {
            hub.task_event(event("ada", "t1", version));
            assert_eq!(version_of(&fast.receiver.try_recv().unwrap()), version);
        }
        assert_eq!(
            slow.receiver.try_recv().unwrap_err(),
            TryRecvError::Lagged(6),
            "the 6 oldest are gone; the buffer keeps the newest 4"
        );
    }

    #[test]
    fn a_users_channel_goes_with_their_last_watch() {
        let hub = Hub::new(4);
        let first = hub.watch("ada");
        let second = hub.watch("ada");
        drop(first);
        assert_eq!(hub.task_event(event("ada", "t1", 1)), Fanout::Queued(1));
        drop(second);
        assert_eq!(hub.task_event(event("ada", "t1", 2)), Fanout::NoWatchers);
        assert!(hub.users.lock().unwrap().is_empty());
    }
}
