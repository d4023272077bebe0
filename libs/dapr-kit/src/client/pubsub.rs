//! Publishing: JSON events with a partition key, one at a time or in bulk.

use std::collections::HashMap;

use prost::{Message, Name};
use todo_proto::dapr::proto::runtime::v1 as dapr;

use super::DaprClient;
use crate::DaprError;

/// Metadata that picks the Kafka record key, and so the partition: per-key ordering.
const PARTITION_KEY: &str = "partitionKey";
/// The content type that makes daprd embed the payload as JSON in the CloudEvent (§4.2).
const JSON: &str = "application/json";

/// One event to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct Publication {
    topic: String,
    data: Vec<u8>,
    content_type: String,
    metadata: HashMap<String, String>,
}

impl Publication {
    /// An event whose payload is already JSON.
    pub fn json(topic: impl Into<String>, json: Vec<u8>) -> Self {
        Self {
            topic: topic.into(),
            data: json,
            content_type: JSON.to_string(),
            metadata: HashMap::new(),
        }
    }

    /// An event whose payload is a `todo.v1` message, as canonical proto3 JSON.
    ///
    /// # Errors
    /// Only for a message outside `todo.v1`.
    pub fn message<M: Message + Name>(
        topic: impl Into<String>,
        message: &M,
    ) -> Result<Self, todo_proto::json::JsonError> {
        Ok(Self::json(topic, todo_proto::json::to_json(message)?))
    }

    /// Orders this event after earlier events with the same key.
    pub fn partition_key(self, key: &str) -> Self {
        self.with_metadata(PARTITION_KEY, key)
    }

    /// Adds publish metadata (e.g. `ttlInSeconds`, `cloudevent.type`).
    pub fn with_metadata(mut self, key: &str, value: &str) -> Self {
        self.metadata.insert(key.to_string(), value.to_string());
        self
    }
}

impl DaprClient {
    /// Publishes `publication` to `pubsub`.
    ///
    /// # Errors
    /// The sidecar's status: `InvalidArgument` for an unknown pub/sub, `PermissionDenied` for a
    /// topic outside the app's scopes, `Internal` when the broker failed.
    #[tracing::instrument(skip_all, fields(pubsub, topic = %publication.topic))]
    pub async fn publish(&self, pubsub: &str, publication: Publication) -> Result<(), DaprError> {
        self.generated()
            .publish_event(dapr::PublishEventRequest {
                pubsub_name: pubsub.to_string(),
                topic: publication.topic,
                data: publication.data,
                data_content_type: publication.content_type,
                metadata: publication.metadata,
            })
            .await
            .map(|_| ())
            .map_err(|status| DaprError::call("PublishEvent", status))
    }

    /// Publishes several events to one topic in one call; returns the ids of entries that
    /// failed (entry ids are the publications' positions).
    ///
    /// # Errors
    /// The sidecar's status when the whole call failed.
    #[tracing::instrument(skip_all, fields(pubsub, topic, entries = publications.len()))]
    pub async fn publish_bulk(
        &self,
        pubsub: &str,
        topic: &str,
        publications: Vec<Publication>,
    ) -> Result<Vec<(usize, String)>, DaprError> {
        let entries = publications
            .into_iter()
            .enumerate()
            .map(|(index, p)| dapr::BulkPublishRequestEntry {
                entry_id: index.to_string(),
                event: p.data,
                content_type: p.content_type,
                metadata: p.metadata,
            })
            .collect();
        let response = self
            .generated()
            .bulk_publish_event(dapr::BulkPublishRequest {
                pubsub_name: pubsub.to_string(),
                topic: topic.to_string(),
                entries,
                metadata: HashMap::new(),
            })
            .await
            .map_err(|status| DaprError::call("BulkPublishEvent", status))?
            .into_inner();
        Ok(response
            .failed_entries
            .into_iter()
            .filter_map(|failed| Some((failed.entry_id.parse().ok()?, failed.error)))
            .collect())
    }
}
