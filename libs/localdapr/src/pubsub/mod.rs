//! Pub/sub (reference §2.2–§2.4, §4): a durable log per topic in SQLite, CloudEvent envelopes
//! built as daprd builds them, and delivery to subscribed apps through `OnTopicEvent` with
//! consumer groups, CEL routes, retries, dead-letter topics and per-key ordering.
//!
//! - [`envelope`]: the CloudEvent daprd wraps around published data (§4.2).
//! - [`publish`]: `PublishEvent`/`BulkPublishEvent` validation, metadata and status codes (§4.1).
//! - [`log`]: the SQLite log — messages, consumer groups, pending deliveries.
//! - [`subscriptions`]: `ListTopicSubscriptions`, consumer groups and their members (§2.2, §4.4).
//! - [`routing`]: CEL routes over `event` (§2.2).
//! - `delivery`: one worker per group, the §2.3 response table, retries and dead letters;
//!   `settlement`: that table as a pure decision.
//! - [`topic_event`]: the `TopicEventRequest` and gRPC metadata a subscriber receives (§2.3),
//!   with `data` re-encoded by [`go_json`] as Go's `encoding/json` does.
//! - [`topic_access`]: scopes, `allowedTopics` and `protectedTopics`.
//! - [`metrics`]: daprd's `dapr_component_pubsub_*` metrics (§9).
//!
//! Flow: a publish (or the outbox, inside its state transaction) appends a message and a
//! pending row per consumer group of the topic, then wakes the groups' workers; a worker
//! delivers, and deletes the pending row only once the app answered.

mod delivery;
pub(crate) mod envelope;
mod go_json;
mod log;
mod metrics;
mod publish;
mod routing;
mod settlement;
mod subscriptions;
mod topic_access;
mod topic_event;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use todo_proto::dapr::proto::runtime::v1 as dapr;
use tokio::sync::watch;
use tonic::Status;

use crate::{
    app::{AppInstanceHandle, AppRegistry},
    components::Resources,
    db::{Db, DbError, Migration, now_millis},
    runtime::TaskOwner,
    sidecar::TraceHeaders,
};
use log::StoredMessage;
use publish::{Publication, PublishError};
use subscriptions::Registry;

/// The log's tables, and the upgrade of those an older localdapr created.
pub(crate) const MIGRATION: Migration = Migration {
    module: "pubsub",
    schema: log::SCHEMA,
    upgrade: Some(log::migrate),
};

/// How long a message nobody still needs is kept, so a new group with `initialOffset: oldest`
/// finds recent history (a Kafka topic's retention, shortened for a laptop).
const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// How often processed messages past [`RETENTION`] are deleted.
const CLEANUP_INTERVAL: Duration = Duration::from_secs(60);

/// A message to append to a topic's log (from a publish or the outbox).
#[derive(Clone, Debug, PartialEq)]
pub struct OutgoingMessage {
    /// The pub/sub component.
    pub pubsub: String,
    /// The topic.
    pub topic: String,
    /// The CloudEvent, as a JSON object.
    pub envelope: serde_json::Map<String, serde_json::Value>,
    /// The ordering key (`partitionKey` metadata), if any.
    pub partition_key: Option<String>,
    /// The publish metadata, delivered as gRPC metadata (lowercased keys).
    pub metadata: HashMap<String, String>,
}

impl OutgoingMessage {
    fn to_stored(&self) -> StoredMessage {
        StoredMessage {
            pubsub: self.pubsub.clone(),
            topic: self.topic.clone(),
            partition_key: self.partition_key.clone(),
            payload: serde_json::to_vec(&self.envelope).unwrap_or_default(),
            metadata: self.metadata.clone(),
        }
    }
}

/// Counts a delivery in flight for as long as it lives (aborted deliveries included).
#[derive(Debug)]
struct InFlightGuard {
    counter: watch::Sender<usize>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.counter.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// The pub/sub engine of a runtime.
#[derive(Debug)]
pub struct PubSub {
    db: Db,
    /// The pubsub components, their scopes, and the inbound retry policies.
    resources: Arc<Resources>,
    /// Workers wait on it for an instance to connect or become healthy.
    apps: Arc<AppRegistry>,
    /// Owns the workers and the cleanup loop; its shutdown ends them.
    tasks: TaskOwner,
    registry: Registry,
    /// Set when the runtime drains: workers start no new deliveries.
    draining: watch::Sender<bool>,
    /// Deliveries in flight, so draining can wait for them.
    in_flight: watch::Sender<usize>,
}

impl PubSub {
    /// An engine over `db`, publishing to and delivering through the pubsub components of
    /// `resources` to the instances in `apps`; nothing runs until [`PubSub::start`].
    pub(crate) fn new(
        db: Db,
        resources: Arc<Resources>,
        apps: Arc<AppRegistry>,
        tasks: TaskOwner,
    ) -> Self {
        Self {
            db,
            resources,
            apps,
            tasks,
            registry: Registry::default(),
            draining: watch::Sender::new(false),
            in_flight: watch::Sender::new(0),
        }
    }

    /// Starts the background work: deleting idle consumer groups and processed messages past
    /// their retention. Delivery workers start as apps subscribe.
    pub fn start(self: &Arc<Self>) {
        metrics::describe();
        let pubsub = self.clone();
        self.tasks.spawn(async move {
            let mut interval = tokio::time::interval(CLEANUP_INTERVAL);
            loop {
                tokio::select! {
                    () = pubsub.tasks.shutdown.cancelled() => return,
                    _ = interval.tick() => {}
                }
                pubsub.clean_up(now_millis()).await;
            }
        });
    }

    /// Deletes the consumer groups with no member here and no activity for [`RETENTION`]
    /// (their pending rows with them), then the messages past [`RETENTION`] no group needs.
    async fn clean_up(&self, now: i64) {
        let cutoff = now.saturating_sub(i64::try_from(RETENTION.as_millis()).unwrap_or(i64::MAX));
        let live = self.registry.live_group_ids();
        let groups = self
            .db
            .write(move |c| Ok::<_, DbError>(log::delete_inactive_groups(c, cutoff, &live, now)?))
            .await;
        match groups {
            Ok(deleted) if deleted.is_empty() => {}
            Ok(deleted) => {
                tracing::info!(groups = ?deleted, "deleted consumer groups idle past the retention");
                self.registry.forget(&deleted);
            }
            Err(error) => tracing::warn!(%error, "cannot delete idle consumer groups"),
        }
        let deleted = self
            .db
            .write(move |c| Ok::<_, DbError>(log::delete_processed_before(c, cutoff)?))
            .await;
        match deleted {
            Ok(0) => {}
            Ok(count) => tracing::debug!(count, "deleted processed pub/sub messages"),
            Err(error) => tracing::warn!(%error, "cannot delete processed messages"),
        }
    }

    /// `PublishEvent`.
    ///
    /// # Errors
    /// The status codes of reference §4.1.
    pub async fn publish(
        self: &Arc<Self>,
        app: &AppInstanceHandle,
        request: dapr::PublishEventRequest,
        trace: TraceHeaders,
    ) -> Result<(), Status> {
        let started = Instant::now();
        let app_id = app.app_id();
        publish::resolve(
            &self.resources,
            app_id,
            &request.pubsub_name,
            &request.topic,
        )?;
        let log = self.resources.pubsub_log(&request.pubsub_name).to_string();
        let mut message = publish::message(&Publication {
            app_id,
            pubsub: &request.pubsub_name,
            topic: &request.topic,
            data: &request.data,
            content_type: &request.data_content_type,
            metadata: &request.metadata,
            trace: &trace,
            now: Utc::now(),
        })?;
        message.pubsub = log;
        let appended = self.append(vec![message]).await;
        metrics::record_egress(
            app_id,
            &request.pubsub_name,
            &request.topic,
            appended.is_ok(),
            started.elapsed(),
            None,
        );
        appended.map_err(|error| {
            tracing::error!(app_id, pubsub = request.pubsub_name, topic = request.topic, %error, "cannot append to the log");
            Status::from(PublishError::Storage {
                pubsub: request.pubsub_name.clone(),
                topic: request.topic.clone(),
            })
        })
    }

    /// `BulkPublishEvent`: every entry is appended in one transaction, so either all are
    /// published or the call fails.
    ///
    /// # Errors
    /// As [`PubSub::publish`], plus `InvalidArgument` for missing or duplicate entry ids.
    pub async fn bulk_publish(
        self: &Arc<Self>,
        app: &AppInstanceHandle,
        request: dapr::BulkPublishRequest,
        trace: TraceHeaders,
    ) -> Result<dapr::BulkPublishResponse, Status> {
        let started = Instant::now();
        let app_id = app.app_id();
        publish::resolve(
            &self.resources,
            app_id,
            &request.pubsub_name,
            &request.topic,
        )?;
        let mut entry_ids = HashSet::new();
        let mut messages = Vec::with_capacity(request.entries.len());
        let now = Utc::now();
        for entry in &request.entries {
            if entry.entry_id.is_empty() {
                return Err(PublishError::BulkEntries("entryId is empty".into()).into());
            }
            if !entry_ids.insert(entry.entry_id.as_str()) {
                return Err(PublishError::BulkEntries(format!(
                    "entryId {} is duplicated",
                    entry.entry_id
                ))
                .into());
            }
            let mut metadata = request.metadata.clone();
            metadata.extend(entry.metadata.clone());
            let mut message = publish::message(&Publication {
                app_id,
                pubsub: &request.pubsub_name,
                topic: &request.topic,
                data: &entry.event,
                content_type: &entry.content_type,
                metadata: &metadata,
                trace: &trace,
                now,
            })?;
            message.pubsub = self.resources.pubsub_log(&request.pubsub_name).to_string();
            messages.push(message);
        }
        let count = messages.len();
        let appended = self.append(messages).await;
        metrics::record_egress(
            app_id,
            &request.pubsub_name,
            &request.topic,
            appended.is_ok(),
            started.elapsed(),
            Some(count),
        );
        appended.map_err(|error| {
            tracing::error!(app_id, pubsub = request.pubsub_name, topic = request.topic, %error, "cannot append to the log");
            Status::from(PublishError::Storage {
                pubsub: request.pubsub_name.clone(),
                topic: request.topic.clone(),
            })
        })?;
        Ok(dapr::BulkPublishResponse {
            failed_entries: Vec::new(),
        })
    }

    /// Appends `messages` in one transaction, then wakes their topics' workers. Both run as a
    /// task of the runtime, so a publisher that gives up on its call cannot leave a committed
    /// message whose workers were never woken.
    async fn append(self: &Arc<Self>, messages: Vec<StoredMessage>) -> Result<(), DbError> {
        let owner = self.clone();
        let append = async move {
            let topics: HashSet<(String, String)> = messages
                .iter()
                .map(|m| (m.pubsub.clone(), m.topic.clone()))
                .collect();
            owner
                .db
                .write(move |c| {
                    let transaction = crate::db::atomic(c)?;
                    let now = now_millis();
                    for message in &messages {
                        log::append(&transaction, message, now)?;
                    }
                    transaction.commit()?;
                    Ok::<_, DbError>(())
                })
                .await?;
            for (pubsub, topic) in topics {
                owner.notify_published(&pubsub, &topic);
            }
            Ok(())
        };
        self.tasks
            .run_to_completion(append)
            .await
            .map_err(DbError::Task)?
    }

    /// Appends `message` inside an open transaction (the outbox commits it with the state).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn append_in_transaction(
        transaction: &rusqlite::Connection,
        message: &OutgoingMessage,
    ) -> rusqlite::Result<()> {
        log::append(transaction, &message.to_stored(), now_millis()).map(|_| ())
    }

    /// Wakes the deliveries of a topic of `pubsub` (a component, or the topic log it shares)
    /// after a transaction that appended to it committed.
    pub fn notify_published(&self, pubsub: &str, topic: &str) {
        self.registry
            .notify_topic(self.resources.pubsub_log(pubsub), topic);
    }

    /// Reads the app's subscriptions (once) and starts delivering to it.
    ///
    /// # Errors
    /// When `ListTopicSubscriptions` fails with anything but `Unimplemented`.
    pub async fn app_connected(
        self: &Arc<Self>,
        app: &Arc<AppInstanceHandle>,
    ) -> Result<(), Status> {
        let new_groups =
            subscriptions::subscribe_app(&self.db, &self.resources, &self.registry, app).await?;
        for group in new_groups {
            delivery::spawn_worker(self, group);
        }
        Ok(())
    }

    /// Stops delivering to an instance that went away.
    pub async fn app_disconnected(&self, app: &Arc<AppInstanceHandle>) {
        self.registry.leave(app);
    }

    /// Stops starting deliveries and waits up to `timeout` for those in flight.
    pub async fn drain(&self, timeout: Duration) {
        self.draining.send_replace(true);
        self.registry.notify_all();
        let mut in_flight = self.in_flight.subscribe();
        let drained = tokio::time::timeout(timeout, in_flight.wait_for(|n| *n == 0)).await;
        if drained.is_err() {
            tracing::warn!(
                in_flight = *self.in_flight.borrow(),
                "deliveries still in flight after the drain timeout; they will be redelivered"
            );
        }
    }

    /// The active subscriptions of `app`, for `GetMetadata`.
    pub fn subscriptions_of(&self, app: &AppInstanceHandle) -> Vec<dapr::PubsubSubscription> {
        self.registry.subscriptions_of(app)
    }

    /// Whether the runtime is draining: no new deliveries, and no failed one is given up on.
    fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    fn in_flight_guard(&self) -> InFlightGuard {
        self.in_flight.send_modify(|n| *n += 1);
        InFlightGuard {
            counter: self.in_flight.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        LocalDapr, LocalDaprConfig, Resources,
        components::AppInstance,
        pubsub::{
            routing::Routes,
            subscriptions::{ActiveSubscription, Member},
        },
    };

    fn member(app_id: &str) -> Member {
        let instance = AppInstance {
            app_id: app_id.into(),
            pod_name: format!("{app_id}-0"),
        };
        Member {
            instance: Arc::new(AppInstanceHandle::new(instance, None, None).unwrap()),
            subscription: Arc::new(ActiveSubscription {
                pubsub: "pubsub".into(),
                topic: "t".into(),
                metadata: HashMap::new(),
                routes: Routes::compile(None).unwrap(),
                dead_letter_topic: None,
                kind: dapr::PubsubSubscriptionType::Programmatic,
            }),
        }
    }

    #[tokio::test]
    async fn clean_up_deletes_idle_groups_without_members_and_stops_their_workers() {
        let dir = tempfile::tempdir().unwrap();
        let dapr = LocalDapr::start(LocalDaprConfig::new(
            dir.path().to_path_buf(),
            Resources::default(),
        ))
        .await
        .unwrap();
        let pubsub = &dapr.runtime().pubsub;
        // Active now, so the runtime's own cleanup (it runs at start) leaves them alone.
        let joined_at = now_millis();
        let (gone, here) = pubsub
            .db
            .write(move |c| {
                Ok::<_, DbError>((
                    log::ensure_group(c, "pubsub", "t", "run-1-uuid", false, joined_at)?,
                    log::ensure_group(c, "pubsub", "t", "here", false, joined_at)?,
                ))
            })
            .await
            .unwrap();
        let departed = member("run-1");
        let (gone_group, _) = pubsub.registry.join(gone, "pubsub", departed.clone());
        pubsub.registry.leave(&departed.instance);
        let (here_group, _) = pubsub.registry.join(here, "pubsub", member("here"));

        let retention = i64::try_from(RETENTION.as_millis()).unwrap();
        pubsub.clean_up(joined_at + retention + 1).await;

        assert!(gone_group.is_retired(), "the idle group's worker stops");
        assert!(!here_group.is_retired());
        let remaining: Vec<String> = pubsub
            .db
            .read(|c| {
                let mut statement = c.prepare("SELECT consumer FROM pubsub_groups")?;
                let consumers = statement
                    .query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                Ok::<_, DbError>(consumers)
            })
            .await
            .unwrap();
        assert_eq!(
            remaining,
            ["here"],
            "a group with a member is kept however old"
        );
    }
}
