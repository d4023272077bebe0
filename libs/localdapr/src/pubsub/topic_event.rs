//! What a subscriber receives (reference §2.3): the CloudEvent read back from the broker, the
//! `TopicEventRequest` daprd's `GRPCEnvelopeFromSubscriptionMessage` fills from it, and the
//! gRPC metadata of the `OnTopicEvent` call.

use std::collections::HashMap;

use base64::Engine;
use chrono::{DateTime, Utc};
use prost_types::{ListValue, Struct, value::Kind};
use serde_json::{Map, Value};
use todo_proto::dapr::proto::runtime::v1 as dapr;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};

use super::{envelope, go_json, log::PendingMessage};

/// CloudEvent attributes that have a field of their own; every other one is an extension.
const CORE_ATTRIBUTES: &[&str] = &[
    "id",
    "source",
    "datacontenttype",
    "type",
    "specversion",
    "data",
    "data_base64",
];

/// Broker metadata daprd does not forward as gRPC metadata.
const NOT_FORWARDED: &[&str] = &["content-type", "content-length"];

/// Why a broker message cannot be turned into an event; daprd drops such messages.
#[derive(Debug, thiserror::Error)]
pub enum UnreadableEvent {
    /// The payload is not a JSON object.
    #[error("error deserializing cloud event: {0}")]
    NotACloudEvent(String),
    /// The subscription's `rawPayload` metadata is not a boolean.
    #[error("invalid rawPayload metadata value {0:?}")]
    BadRawPayload(String),
}

/// Reads a message as a CloudEvent: the stored envelope, or, for a subscription with
/// `rawPayload: "true"`, a fresh envelope around the raw bytes (a new id every delivery, as
/// daprd's `FromRawPayload`).
///
/// # Errors
/// When the payload is not a CloudEvent (and the subscription does not ask for raw payloads).
pub fn read_cloud_event(
    pending: &PendingMessage,
    subscription_raw_payload: Option<&str>,
    pubsub: &str,
) -> Result<Map<String, Value>, UnreadableEvent> {
    let raw = match subscription_raw_payload {
        None => false,
        Some(value) => {
            parse_go_bool(value).ok_or_else(|| UnreadableEvent::BadRawPayload(value.to_string()))?
        }
    };
    if raw {
        let mut event = Map::new();
        let fields = [
            ("id", uuid::Uuid::new_v4().to_string()),
            ("source", String::new()),
            ("type", envelope::DEFAULT_EVENT_TYPE.to_string()),
            ("specversion", "1.0".to_string()),
            ("datacontenttype", "application/octet-stream".to_string()),
            ("topic", pending.message.topic.clone()),
            ("pubsubname", pubsub.to_string()),
        ];
        for (name, value) in fields {
            event.insert(name.into(), Value::String(value));
        }
        let data = base64::engine::general_purpose::STANDARD.encode(&pending.message.payload);
        event.insert("data_base64".into(), Value::String(data));
        return Ok(event);
    }
    match serde_json::from_slice::<Value>(&pending.message.payload) {
        Ok(Value::Object(event)) => Ok(event),
        Ok(_) => Err(UnreadableEvent::NotACloudEvent("not a JSON object".into())),
        Err(error) => Err(UnreadableEvent::NotACloudEvent(error.to_string())),
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Whether the event's `expiration` (RFC 3339) has passed.
pub fn is_expired(event: &Map<String, Value>, now: DateTime<Utc>) -> bool {
    event
        .get("expiration")
        .and_then(Value::as_str)
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .is_some_and(|expiration| expiration.to_utc() < now)
}

/// The request daprd sends for `event`, delivered from `topic` of `pubsub` on route `path`.
pub fn request(
    event: &Map<String, Value>,
    topic: &str,
    pubsub: &str,
    path: &str,
) -> dapr::TopicEventRequest {
    let text = |name: &str| {
        event
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let data_content_type = text("datacontenttype");
    let extensions = Struct {
        fields: event
            .iter()
            .filter(|(name, _)| !CORE_ATTRIBUTES.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), to_struct_value(value)))
            .collect(),
    };
    dapr::TopicEventRequest {
        id: text("id"),
        source: text("source"),
        r#type: text("type"),
        spec_version: text("specversion"),
        data: data_bytes(event, &data_content_type),
        data_content_type,
        topic: topic.to_string(),
        pubsub_name: pubsub.to_string(),
        path: path.to_string(),
        extensions: Some(extensions),
    }
}

/// `data` by content type: base64 decoded, a string's bytes, JSON re-marshalled the Go way,
/// or nothing for any other content type.
fn data_bytes(event: &Map<String, Value>, content_type: &str) -> Vec<u8> {
    if let Some(encoded) = event.get("data_base64").and_then(Value::as_str) {
        return base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap_or_default();
    }
    let Some(data) = event.get("data").filter(|d| !d.is_null()) else {
        return Vec::new();
    };
    let essence = content_type.to_ascii_lowercase();
    if essence.starts_with("text/") || essence.starts_with("application/xml") {
        return match data {
            Value::String(text) => text.clone().into_bytes(),
            _ => Vec::new(),
        };
    }
    if envelope::is_json_content_type(content_type) {
        return go_json::encode(data);
    }
    Vec::new()
}

/// JSON to `google.protobuf.Value`, as daprd converts extensions (numbers become doubles).
fn to_struct_value(value: &Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(to_struct_value).collect(),
        }),
        Value::Object(map) => Kind::StructValue(Struct {
            fields: map
                .iter()
                .map(|(k, v)| (k.clone(), to_struct_value(v)))
                .collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

/// The gRPC metadata of the call: the broker metadata with lowercased keys (minus
/// `content-type` and `content-length`), the Kafka-style record fields, and `pubsubname`.
/// Entries that cannot be HTTP/2 headers are skipped.
pub fn call_metadata(pending: &PendingMessage, pubsub: &str) -> MetadataMap {
    let mut entries: HashMap<String, String> = pending
        .message
        .metadata
        .iter()
        .map(|(key, value)| (key.to_ascii_lowercase(), value.clone()))
        .filter(|(key, _)| !NOT_FORWARDED.contains(&key.as_str()))
        .collect();
    if let Some(key) = &pending.message.partition_key {
        entries.insert("__key".into(), key.clone());
    }
    entries.insert("__topic".into(), pending.message.topic.clone());
    entries.insert("__offset".into(), pending.seq.to_string());
    entries.insert("__timestamp".into(), pending.published_at.to_string());
    entries.insert("pubsubname".into(), pubsub.to_string());
    let mut metadata = MetadataMap::new();
    for (key, value) in entries {
        if key.starts_with("grpc-") || key == "te" {
            continue;
        }
        let (Ok(key), Ok(value)) = (
            key.parse::<AsciiMetadataKey>(),
            value.parse::<AsciiMetadataValue>(),
        ) else {
            tracing::debug!(
                key,
                "skipping broker metadata that is not a valid grpc header"
            );
            continue;
        };
        metadata.insert(key, value);
    }
    metadata
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::pubsub::log::StoredMessage;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("events are objects"),
        }
    }

    fn pending(payload: &[u8]) -> PendingMessage {
        PendingMessage {
            seq: 7,
            attempts: 0,
            published_at: 1_000,
            message: StoredMessage {
                pubsub: "pubsub".into(),
                topic: "t".into(),
                partition_key: Some("k".into()),
                payload: payload.to_vec(),
                metadata: [
                    ("partitionKey".to_string(), "k".to_string()),
                    ("Content-Type".to_string(), "x".to_string()),
                    ("cloudevent.type".to_string(), "custom".to_string()),
                    ("bad key".to_string(), "v".to_string()),
                ]
                .into(),
            },
        }
    }

    #[test]
    fn fields_data_and_extensions_follow_reference_2_3() {
        let event = object(json!({
            "id": "1", "source": "api", "type": "t.created", "specversion": "1.0",
            "datacontenttype": "application/json", "topic": "t", "pubsubname": "pubsub",
            "time": "2026-01-01T00:00:00Z", "custom": 5,
            "data": {"z": "<&>", "a": 1.0}
        }));
        let request = request(&event, "t", "pubsub", "route");
        assert_eq!(request.data, br#"{"a":1,"z":"\u003c\u0026\u003e"}"#);
        assert_eq!(
            (
                request.id.as_str(),
                request.r#type.as_str(),
                request.path.as_str()
            ),
            ("1", "t.created", "route")
        );
        let extensions = request.extensions.unwrap().fields;
        let mut names: Vec<_> = extensions.keys().cloned().collect();
        names.sort();
        assert_eq!(names, ["custom", "pubsubname", "time", "topic"]);
        assert_eq!(extensions["custom"].kind, Some(Kind::NumberValue(5.0)));
    }

    #[test]
    fn data_depends_on_the_content_type() {
        let cases = [
            (
                "text",
                json!({"datacontenttype": "text/plain", "data": "hi"}),
                "hi",
            ),
            (
                "xml",
                json!({"datacontenttype": "application/xml", "data": "<a/>"}),
                "<a/>",
            ),
            (
                "base64",
                json!({"datacontenttype": "application/octet-stream", "data_base64": "AP8="}),
                "\u{0}\u{fffd}",
            ),
            (
                "unknown type is empty",
                json!({"datacontenttype": "application/x-protobuf", "data": "x"}),
                "",
            ),
            (
                "cloudevents json",
                json!({"datacontenttype": "application/cloudevents+json", "data": {"b": 1, "a": 2}}),
                r#"{"a":2,"b":1}"#,
            ),
        ];
        for (case, event, expected) in cases {
            let request = request(&object(event), "t", "p", "");
            assert_eq!(
                String::from_utf8_lossy(&request.data),
                expected,
                "case: {case}"
            );
        }
    }

    #[test]
    fn metadata_is_lowercased_with_pubsubname_and_record_fields() {
        let metadata = call_metadata(&pending(b"{}"), "pubsub");
        let get = |key: &str| metadata.get(key).and_then(|v| v.to_str().ok());
        assert_eq!(get("partitionkey"), Some("k"));
        assert_eq!(get("cloudevent.type"), Some("custom"));
        assert_eq!(get("pubsubname"), Some("pubsub"));
        assert_eq!(get("__key"), Some("k"));
        assert_eq!(get("__offset"), Some("7"));
        assert_eq!(get("content-type"), None, "content-type is not forwarded");
    }

    #[test]
    fn raw_payload_subscriptions_wrap_the_bytes_in_a_fresh_event() {
        let message = pending(b"not json");
        let event = read_cloud_event(&message, Some("true"), "pubsub").unwrap();
        assert_eq!(event["data_base64"], "bm90IGpzb24=");
        assert_eq!(event["datacontenttype"], "application/octet-stream");
        assert!(matches!(
            read_cloud_event(&message, None, "pubsub"),
            Err(UnreadableEvent::NotACloudEvent(_))
        ));
        assert!(matches!(
            read_cloud_event(&message, Some("yes"), "pubsub"),
            Err(UnreadableEvent::BadRawPayload(_))
        ));
    }

    #[test]
    fn an_event_past_its_expiration_is_expired() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:10Z")
            .unwrap()
            .to_utc();
        let expired = object(json!({"expiration": "2026-01-01T00:00:09Z"}));
        let fresh = object(json!({"expiration": "2026-01-01T00:00:11Z"}));
        assert!(is_expired(&expired, now));
        assert!(!is_expired(&fresh, now));
        assert!(!is_expired(&Map::new(), now));
    }
}
