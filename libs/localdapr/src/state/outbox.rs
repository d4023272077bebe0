//! The transactional outbox (§5.4): the CloudEvent each upsert of a transaction publishes.

use std::collections::HashMap;

use chrono::Utc;
use todo_proto::dapr::proto::common::v1 as common;

use crate::{
    pubsub::{
        OutgoingMessage,
        envelope::{self, EnvelopeInput},
    },
    sidecar::TraceHeaders,
};

use super::{Operation, error::StateError, store::Outbox};

/// Operation metadata that marks an outbox projection (§5.4).
const PROJECTION: &str = "outbox.projection";

pub(super) fn is_projection(item: &common::StateItem) -> bool {
    item.metadata
        .get(PROJECTION)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The outbox message of each upsert (§5.4): the projection's value when there is one, with
/// the operation's metadata copied into the CloudEvent (except `data` and `id`).
pub(super) fn outbox_messages(
    outbox: &Outbox,
    app_id: &str,
    operations: &[Operation],
    projections: &mut HashMap<String, common::StateItem>,
    trace: &TraceHeaders,
) -> Result<Vec<OutgoingMessage>, StateError> {
    let mut messages = Vec::new();
    let outbox_trace = TraceHeaders {
        traceparent: None,
        tracestate: trace.tracestate.clone(),
    };
    for operation in operations {
        let Operation::Upsert { key, item } = operation else {
            continue;
        };
        let published = projections.remove(key).unwrap_or_else(|| item.clone());
        let content_type = published
            .metadata
            .get("contentType")
            .map(String::as_str)
            .unwrap_or("");
        let mut event = envelope::build(&EnvelopeInput {
            id: format!("outbox-{}", uuid::Uuid::new_v4()),
            source: app_id,
            topic: &outbox.topic,
            pubsub_name: &outbox.pubsub,
            data: &published.value,
            content_type,
            trace: &outbox_trace,
            now: Utc::now(),
        });
        // daprd's outbox builds the envelope without a traceparent, then sets only `traceid`
        // (dapr `pkg/runtime/pubsub/outbox.go`, `PublishInternal`).
        event.insert(
            "traceid".into(),
            serde_json::Value::String(trace.traceparent.clone().unwrap_or_default()),
        );
        for (name, value) in &published.metadata {
            if name != "data" && name != "id" {
                event.insert(name.clone(), serde_json::Value::String(value.clone()));
            }
        }
        // The outbox republishes to its topic, rewriting these two whatever the metadata said.
        event.insert(
            "topic".into(),
            serde_json::Value::String(outbox.topic.clone()),
        );
        event.insert(
            "pubsubname".into(),
            serde_json::Value::String(outbox.pubsub.clone()),
        );
        messages.push(OutgoingMessage {
            pubsub: outbox.pubsub.clone(),
            topic: outbox.topic.clone(),
            envelope: event,
            partition_key: published.metadata.get("partitionKey").cloned(),
            metadata: HashMap::new(),
        });
    }
    if let Some(key) = projections.keys().next() {
        return Err(StateError::OrphanProjection(key.clone()));
    }
    Ok(messages)
}
