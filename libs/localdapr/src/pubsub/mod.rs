//! Pub/sub (reference §2.2–§2.4, §4): a durable log per topic in SQLite, CloudEvent envelopes
//! built as daprd builds them, and delivery to subscribed apps through `OnTopicEvent` with
//! consumer groups, CEL routes, retries, dead-letter topics and per-key ordering.
//!
//! NOT YET IMPLEMENTED: this module is the interface the rest of localdapr calls.

pub mod envelope;

use std::{collections::HashMap, sync::Arc, time::Duration};

use todo_proto::dapr::proto::runtime::v1 as dapr;
use tonic::Status;

use crate::{app::AppInstanceHandle, db::Db, runtime::Runtime, sidecar::TraceHeaders};

/// The pub/sub tables.
pub(crate) const SCHEMA: &str = "";

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

/// The pub/sub engine of a runtime.
#[derive(Debug)]
pub struct PubSub {
    db: Db,
}

impl PubSub {
    /// An engine over `db`; nothing runs until [`PubSub::start`].
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Starts the background delivery work.
    pub fn start(&self, _runtime: &Arc<Runtime>) {
        let _ = &self.db;
    }

    /// `PublishEvent`.
    ///
    /// # Errors
    /// The status codes of reference §4.1.
    pub async fn publish(
        &self,
        _runtime: &Arc<Runtime>,
        _app: &AppInstanceHandle,
        _request: dapr::PublishEventRequest,
        _trace: TraceHeaders,
    ) -> Result<(), Status> {
        Err(Status::unimplemented(
            "localdapr: pub/sub is not implemented yet",
        ))
    }

    /// `BulkPublishEvent`.
    ///
    /// # Errors
    /// As [`PubSub::publish`].
    pub async fn bulk_publish(
        &self,
        _runtime: &Arc<Runtime>,
        _app: &AppInstanceHandle,
        _request: dapr::BulkPublishRequest,
        _trace: TraceHeaders,
    ) -> Result<dapr::BulkPublishResponse, Status> {
        Err(Status::unimplemented(
            "localdapr: pub/sub is not implemented yet",
        ))
    }

    /// Appends `message` inside an open transaction (the outbox commits it with the state).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn append_in_transaction(
        _transaction: &rusqlite::Transaction<'_>,
        _message: &OutgoingMessage,
    ) -> rusqlite::Result<()> {
        Ok(())
    }

    /// Wakes the deliveries of a topic after a transaction that appended to it committed.
    pub fn notify_published(&self, _pubsub: &str, _topic: &str) {}

    /// Reads the app's subscriptions (once) and starts delivering to it.
    ///
    /// # Errors
    /// When `ListTopicSubscriptions` fails with anything but `Unimplemented`.
    pub async fn app_connected(
        &self,
        _runtime: &Arc<Runtime>,
        _app: &Arc<AppInstanceHandle>,
    ) -> Result<(), Status> {
        Ok(())
    }

    /// Stops delivering to an instance that went away.
    pub async fn app_disconnected(&self, _runtime: &Arc<Runtime>, _app: &Arc<AppInstanceHandle>) {}

    /// Stops starting deliveries and waits up to `timeout` for those in flight.
    pub async fn drain(&self, _timeout: Duration) {}

    /// The active subscriptions of `app`, for `GetMetadata`.
    pub fn subscriptions_of(&self, _app: &AppInstanceHandle) -> Vec<dapr::PubsubSubscription> {
        Vec::new()
    }
}
