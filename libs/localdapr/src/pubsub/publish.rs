//! `PublishEvent` and `BulkPublishEvent` (reference §4.1, §4.2): validation with daprd's status
//! codes, and the broker message built from a request — the CloudEvent with its `cloudevent.*`
//! overrides and `expiration`, or the raw payload — plus its ordering key and metadata.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::Value;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::{
    envelope::{self, EnvelopeInput},
    log::StoredMessage,
    topic_access::{self, Operation},
    topic_event::parse_go_bool,
};
use crate::{
    components::{Component, ComponentKind, Resources},
    duration::parse_go_duration,
    sidecar::TraceHeaders,
};

/// Metadata keys that pick the ordering key (Kafka's record key).
const PARTITION_KEYS: &[&str] = &["partitionKey", "__key"];
/// The prefix of envelope overrides.
const CLOUD_EVENT_PREFIX: &str = "cloudevent.";
/// The envelope fields a `cloudevent.*` override may set; `topic`, `pubsubname`,
/// `datacontenttype` and `data` cannot be overridden.
const OVERRIDABLE: &[&str] = &[
    "id",
    "source",
    "type",
    "subject",
    "traceid",
    "traceparent",
    "tracestate",
];

/// Why a publish was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// `pubsub_name` is empty.
    #[error("pubsub name is empty")]
    NameEmpty,
    /// No pub/sub of that name is visible to the app.
    #[error("pubsub {0} is not found")]
    NotFound(String),
    /// `topic` is empty.
    #[error("topic is empty in pubsub {0}")]
    TopicEmpty(String),
    /// Scopes or topic lists forbid the topic.
    #[error("topic {topic} is not allowed for app id {app_id}")]
    Forbidden {
        /// The topic.
        topic: String,
        /// The publisher.
        app_id: String,
    },
    /// A metadata value is malformed.
    #[error("failed deserializing metadata: {0}")]
    Metadata(String),
    /// A bulk request is malformed.
    #[error("{0}")]
    BulkEntries(String),
    /// The log could not be written.
    #[error("error when publish to topic {topic} in pubsub {pubsub}: failed to store the message")]
    Storage {
        /// The pub/sub.
        pubsub: String,
        /// The topic.
        topic: String,
    },
}

impl From<PublishError> for Status {
    fn from(error: PublishError) -> Self {
        let (code, reason) = match &error {
            PublishError::NameEmpty => (Code::InvalidArgument, "DAPR_PUBSUB_NAME_EMPTY"),
            PublishError::NotFound(_) => (Code::InvalidArgument, "DAPR_PUBSUB_NOT_FOUND"),
            PublishError::TopicEmpty(_) => (Code::InvalidArgument, "DAPR_PUBSUB_TOPIC_NAME_EMPTY"),
            PublishError::Forbidden { .. } => (Code::PermissionDenied, "DAPR_PUBSUB_FORBIDDEN"),
            PublishError::Metadata(_) => (
                Code::InvalidArgument,
                "DAPR_PUBSUB_METADATA_DESERIALIZATION",
            ),
            PublishError::BulkEntries(_) => (Code::InvalidArgument, "DAPR_PUBSUB_EVENTS_REQUIRED"),
            PublishError::Storage { .. } => (Code::Internal, "DAPR_PUBSUB_PUBLISH_MESSAGE"),
        };
        let details = ErrorDetails::with_error_info(reason, "dapr.io", HashMap::new());
        Status::with_error_details(code, error.to_string(), details)
    }
}

/// The pub/sub component `pubsub` for publishing to `topic` as `app_id`, in daprd's order of
/// checks.
///
/// # Errors
/// The [`PublishError`] daprd would answer.
pub fn resolve<'a>(
    resources: &'a Resources,
    app_id: &str,
    pubsub: &str,
    topic: &str,
) -> Result<&'a Component, PublishError> {
    // daprd 1.18.3 always has its pub/sub adapter, so "not configured" never comes: with no
    // pub/sub at all, a name is simply not found.
    if pubsub.is_empty() {
        return Err(PublishError::NameEmpty);
    }
    let component = resources
        .component_for(app_id, pubsub)
        .filter(|c| c.kind == ComponentKind::PubsubInMemory)
        .ok_or_else(|| PublishError::NotFound(pubsub.to_string()))?;
    if topic.is_empty() {
        return Err(PublishError::TopicEmpty(pubsub.to_string()));
    }
    if !topic_access::is_allowed(component, app_id, topic, Operation::Publish) {
        return Err(PublishError::Forbidden {
            topic: topic.to_string(),
            app_id: app_id.to_string(),
        });
    }
    Ok(component)
}

/// One event to turn into a broker message.
#[derive(Debug)]
pub struct Publication<'a> {
    /// The publisher's app id (the CloudEvent `source`).
    pub app_id: &'a str,
    /// The pub/sub component.
    pub pubsub: &'a str,
    /// The topic.
    pub topic: &'a str,
    /// The payload.
    pub data: &'a [u8],
    /// Its content type.
    pub content_type: &'a str,
    /// The request metadata.
    pub metadata: &'a HashMap<String, String>,
    /// The publisher's trace context.
    pub trace: &'a TraceHeaders,
    /// The time of publishing.
    pub now: DateTime<Utc>,
}

/// The broker message of a publication.
///
/// # Errors
/// [`PublishError::Metadata`] for a malformed `rawPayload`. A `ttlInSeconds` or `ttl` that
/// does not parse, or reaches past the last representable date, is ignored with a warning, as
/// daprd ignores it (components-contrib `ApplyMetadata` discards the parse error).
pub fn message(publication: &Publication<'_>) -> Result<StoredMessage, PublishError> {
    let metadata = publication.metadata;
    let raw_payload = match metadata_value(metadata, "rawPayload") {
        None => false,
        Some(value) => parse_go_bool(value)
            .ok_or_else(|| PublishError::Metadata(format!("invalid rawPayload {value:?}")))?,
    };
    let ttl = ttl(metadata);
    let partition_key = PARTITION_KEYS
        .iter()
        .find_map(|key| metadata_value(metadata, key))
        .filter(|key| !key.is_empty())
        .map(str::to_string);
    let mut broker_metadata = metadata.clone();
    let payload = if raw_payload {
        // No envelope: the trace context travels in the broker metadata instead, empty
        // without a trace, as daprd sets it.
        let trace = publication.trace;
        broker_metadata.insert(
            "traceid".into(),
            trace.traceparent.clone().unwrap_or_default(),
        );
        broker_metadata.insert(
            "tracestate".into(),
            trace.tracestate.clone().unwrap_or_default(),
        );
        publication.data.to_vec()
    } else {
        let mut event = envelope::build(&EnvelopeInput {
            id: uuid::Uuid::new_v4().to_string(),
            source: publication.app_id,
            topic: publication.topic,
            pubsub_name: publication.pubsub,
            data: publication.data,
            content_type: publication.content_type,
            trace: publication.trace,
            now: publication.now,
        });
        let overrides: HashMap<String, &String> = metadata
            .iter()
            .filter_map(|(key, value)| {
                let field = key
                    .get(..CLOUD_EVENT_PREFIX.len())
                    .filter(|prefix| prefix.eq_ignore_ascii_case(CLOUD_EVENT_PREFIX))
                    .and_then(|_| key.get(CLOUD_EVENT_PREFIX.len()..))
                    .map(str::to_ascii_lowercase)?;
                (OVERRIDABLE.contains(&field.as_str()) && !value.is_empty())
                    .then_some((field, value))
            })
            .collect();
        for (field, value) in &overrides {
            event.insert(field.clone(), Value::String((*value).clone()));
        }
        // daprd fills `traceid` and `traceparent` from one value, an overriding `traceparent`
        // winning over `traceid` (dapr `pkg/runtime/pubsub/cloudevents.go`).
        if let Some(trace) = overrides.get("traceparent").or(overrides.get("traceid")) {
            event.insert("traceid".into(), Value::String((*trace).clone()));
            event.insert("traceparent".into(), Value::String((*trace).clone()));
        }
        // A client-chosen TTL can be far beyond the last representable date: then no
        // expiration rather than an overflow.
        let expiration = ttl.and_then(|ttl| {
            TimeDelta::from_std(ttl)
                .ok()
                .and_then(|ttl| publication.now.checked_add_signed(ttl))
        });
        if let Some(expiration) = expiration {
            event.insert(
                "expiration".into(),
                Value::String(expiration.to_rfc3339_opts(SecondsFormat::Secs, true)),
            );
        } else if let Some(ttl) = ttl {
            tracing::warn!(
                seconds = ttl.as_secs(),
                "ttl out of range, ignored as daprd ignores it"
            );
        }
        serde_json::to_vec(&event).unwrap_or_default()
    };
    Ok(StoredMessage {
        pubsub: publication.pubsub.to_string(),
        topic: publication.topic.to_string(),
        partition_key,
        payload,
        metadata: broker_metadata,
    })
}

/// A metadata value, its key matched case-insensitively.
fn metadata_value<'a>(metadata: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    metadata
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// `ttlInSeconds` (an integer) or `ttl` (a Go duration); one that does not parse is ignored.
fn ttl(metadata: &HashMap<String, String>) -> Option<Duration> {
    if let Some(seconds) = metadata_value(metadata, "ttlInSeconds") {
        let parsed = seconds.trim().parse().ok().map(Duration::from_secs);
        if parsed.is_none() {
            tracing::warn!(
                ttl_in_seconds = seconds,
                "ttlInSeconds is not a number, ignored as daprd ignores it"
            );
        }
        return parsed;
    }
    let ttl = metadata_value(metadata, "ttl")?;
    let parsed = parse_go_duration(ttl).ok();
    if parsed.is_none() {
        tracing::warn!(ttl, "ttl is not a Go duration, ignored as daprd ignores it");
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(
        data: &[u8],
        content_type: &str,
        metadata: &[(&str, &str)],
    ) -> Result<StoredMessage, PublishError> {
        let metadata: HashMap<String, String> = metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let trace = TraceHeaders {
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            tracestate: None,
        };
        message(&Publication {
            app_id: "api",
            pubsub: "pubsub",
            topic: "t",
            data,
            content_type,
            metadata: &metadata,
            trace: &trace,
            now: DateTime::parse_from_rfc3339("2026-01-01T00:00:00.500Z")
                .unwrap()
                .to_utc(),
        })
    }

    fn envelope_of(message: &StoredMessage) -> serde_json::Map<String, Value> {
        serde_json::from_slice(&message.payload).unwrap()
    }

    #[test]
    fn cloudevent_overrides_set_envelope_fields_but_not_routing_ones() {
        let message = publish(
            b"{}",
            "application/json",
            &[
                ("cloudevent.type", "task.created"),
                ("CloudEvent.ID", "mine"),
                ("cloudevent.subject", "s"),
                ("cloudevent.topic", "elsewhere"),
            ],
        )
        .unwrap();
        let event = envelope_of(&message);
        assert_eq!(event["type"], "task.created");
        assert_eq!(event["id"], "mine");
        assert_eq!(event["subject"], "s");
        assert_eq!(event["topic"], "t");
        assert_eq!(
            message.metadata.get("cloudevent.type").map(String::as_str),
            Some("task.created"),
            "the metadata still travels to subscribers"
        );
    }

    #[test]
    fn a_trace_override_sets_both_traceid_and_traceparent() {
        let cases = [
            ("traceid alone", vec![("cloudevent.traceid", "t")], "t"),
            (
                "traceparent alone",
                vec![("cloudevent.TraceParent", "p")],
                "p",
            ),
            (
                "traceparent wins",
                vec![("cloudevent.traceid", "t"), ("cloudevent.traceparent", "p")],
                "p",
            ),
        ];
        for (case, metadata, expected) in cases {
            let event = envelope_of(&publish(b"{}", "application/json", &metadata).unwrap());
            assert_eq!(
                (&event["traceid"], &event["traceparent"]),
                (&Value::from(expected), &Value::from(expected)),
                "case: {case}"
            );
        }
    }

    #[test]
    fn ttl_sets_expiration_and_partition_key_orders() {
        let ttl = publish(b"x", "", &[("ttlInSeconds", "30"), ("partitionKey", "k")]).unwrap();
        assert_eq!(envelope_of(&ttl)["expiration"], "2026-01-01T00:00:30Z");
        assert_eq!(ttl.partition_key.as_deref(), Some("k"));
        let go_ttl = publish(b"x", "", &[("ttl", "1m"), ("__key", "k2")]).unwrap();
        assert_eq!(envelope_of(&go_ttl)["expiration"], "2026-01-01T00:01:00Z");
        assert_eq!(go_ttl.partition_key.as_deref(), Some("k2"));
    }

    #[test]
    fn raw_payloads_are_stored_as_given_with_the_trace_in_metadata() {
        let raw = publish(b"\x00raw", "", &[("rawPayload", "true")]).unwrap();
        assert_eq!(raw.payload, b"\x00raw");
        assert_eq!(
            raw.metadata.get("traceid").map(String::as_str),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        );
        assert_eq!(
            raw.metadata.get("tracestate").map(String::as_str),
            Some(""),
            "daprd sets it even when empty"
        );
    }

    #[test]
    fn a_malformed_raw_payload_is_refused_and_a_malformed_ttl_ignored_as_daprd_does() {
        assert!(matches!(
            publish(b"", "", &[("rawPayload", "yes")]),
            Err(PublishError::Metadata(_))
        ));
        let cases = [
            ("ttlInSeconds", "soon"),
            ("ttlInSeconds", "-1"),
            ("ttlInSeconds", "9000000000000"),
            ("ttlInSeconds", "18446744073709551615"),
            ("ttl", "forever"),
        ];
        for (key, value) in cases {
            let message = publish(b"", "", &[(key, value)])
                .unwrap_or_else(|error| panic!("case {key}={value}: {error}"));
            let event: Value = serde_json::from_slice(&message.payload).unwrap();
            assert!(event.get("expiration").is_none(), "case: {key}={value}");
        }
    }
}
