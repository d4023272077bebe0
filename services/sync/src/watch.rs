//! One watch as a stream: a `Heartbeat` first (the client then knows the watch is open and can
//! list), the user's items as they come, a `Heartbeat` after each idle period, and, for a watch
//! that fell a buffer behind, `ResyncRequired` with how much it missed, then the end. When sync
//! shuts down the stream ends with `Unavailable`, so the client watches again elsewhere.

use std::time::Duration;

use futures::Stream;
use todo_proto::todo::v1::{
    Heartbeat, ResyncRequired, WatchTasksResponse, watch_tasks_response::Item,
};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::hub::Watcher;

/// Where a watch is.
enum Phase {
    /// Nothing sent yet.
    Opening,
    /// Sending items.
    Streaming,
    /// The last item was sent.
    Ended,
}

struct WatchState {
    watcher: Watcher,
    phase: Phase,
    heartbeat: Duration,
    shutting_down: CancellationToken,
}

/// The stream of `watcher`, with a heartbeat after every `heartbeat` of idleness, ending with
/// `Unavailable` once `shutting_down` is cancelled.
pub(crate) fn stream(
    watcher: Watcher,
    heartbeat: Duration,
    shutting_down: CancellationToken,
) -> impl Stream<Item = Result<WatchTasksResponse, Status>> + Send + 'static {
    let state = WatchState {
        watcher,
        phase: Phase::Opening,
        heartbeat,
        shutting_down,
    };
    futures::stream::unfold(state, |mut state| async move {
        let item = next(&mut state).await?;
        Some((item, state))
    })
}

async fn next(state: &mut WatchState) -> Option<Result<WatchTasksResponse, Status>> {
    match state.phase {
        Phase::Ended => return None,
        Phase::Opening => {
            state.phase = Phase::Streaming;
            return Some(Ok(sent(Item::Heartbeat(Heartbeat {}))));
        }
        Phase::Streaming => {}
    }
    tokio::select! {
        received = state.watcher.receiver.recv() => match received {
            Ok(item) => Some(Ok(sent_shared(&item))),
            Err(RecvError::Lagged(missed_events)) => {
                state.phase = Phase::Ended;
                tracing::info!(missed_events, "watch fell behind, asking the client to resync");
                Some(Ok(sent(Item::ResyncRequired(ResyncRequired { missed_events }))))
            }
            // The hub keeps the sender while a watch is open; be safe anyway.
            Err(RecvError::Closed) => None,
        },
        () = tokio::time::sleep(state.heartbeat) => Some(Ok(sent(Item::Heartbeat(Heartbeat {})))),
        () = state.shutting_down.cancelled() => {
            state.phase = Phase::Ended;
            Some(Err(Status::unavailable("sync is restarting; watch again")))
        }
    }
}

fn sent(item: Item) -> WatchTasksResponse {
    crate::metrics::item_sent(kind(&item));
    WatchTasksResponse { item: Some(item) }
}

fn sent_shared(response: &WatchTasksResponse) -> WatchTasksResponse {
    if let Some(item) = &response.item {
        crate::metrics::item_sent(kind(item));
    }
    response.clone()
}

fn kind(item: &Item) -> &'static str {
    match item {
        Item::TaskEvent(_) => "task_event",
        Item::ReminderDue(_) => "reminder_due",
        Item::ResyncRequired(_) => "resync_required",
        Item::Heartbeat(_) => "heartbeat",
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use todo_proto::todo::v1::TaskEvent;

    use super::*;
    use crate::hub::Hub;

    fn event(version: i64) -> TaskEvent {
        TaskEvent {
            user_id: "ada".into(),
            task_id: "t1".into(),
            version,
            ..Default::default()
        }
    }

    async fn next_item(
        watch: &mut (impl Stream<Item = Result<WatchTasksResponse, Status>> + Unpin),
    ) -> Item {
        watch.next().await.unwrap().unwrap().item.unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_opens_with_a_heartbeat_and_beats_again_only_when_idle() {
        let hub = Hub::new(8);
        let mut watch = Box::pin(stream(
            hub.watch("ada"),
            Duration::from_secs(15),
            CancellationToken::new(),
        ));
        assert_eq!(next_item(&mut watch).await, Item::Heartbeat(Heartbeat {}));
        let started = tokio::time::Instant::now();
        hub.task_event(event(1));
        assert!(matches!(next_item(&mut watch).await, Item::TaskEvent(_)));
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "an event goes out at once"
        );
        assert_eq!(next_item(&mut watch).await, Item::Heartbeat(Heartbeat {}));
        assert_eq!(started.elapsed(), Duration::from_secs(15));
    }

    #[tokio::test]
    async fn a_watch_that_fell_behind_is_told_to_resync_and_ends() {
        let hub = Hub::new(2);
        let mut watch = Box::pin(stream(
            hub.watch("ada"),
            Duration::from_secs(15),
            CancellationToken::new(),
        ));
        assert_eq!(next_item(&mut watch).await, Item::Heartbeat(Heartbeat {}));
        for version in 1..=5 {
            hub.task_event(event(version));
        }
        assert_eq!(
            next_item(&mut watch).await,
            Item::ResyncRequired(ResyncRequired { missed_events: 3 })
        );
        assert!(watch.next().await.is_none(), "nothing after the resync");
    }

    #[tokio::test]
    async fn a_watch_ends_with_unavailable_when_sync_shuts_down() {
        let hub = Hub::new(2);
        let shutting_down = CancellationToken::new();
        let mut watch = Box::pin(stream(
            hub.watch("ada"),
            Duration::from_secs(15),
            shutting_down.clone(),
        ));
        assert_eq!(next_item(&mut watch).await, Item::Heartbeat(Heartbeat {}));
        shutting_down.cancel();
        let status = watch.next().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(watch.next().await.is_none());
    }
}
