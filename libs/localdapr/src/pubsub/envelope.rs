//! The CloudEvent envelope daprd wraps around published data (reference §4.2,
//! components-contrib `pubsub/envelope.go`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::sidecar::TraceHeaders;

/// The CloudEvent type daprd gives published events.
pub const DEFAULT_EVENT_TYPE: &str = "com.dapr.event.sent";
/// The content type daprd assumes when the publisher gives none.
pub const DEFAULT_CONTENT_TYPE: &str = "text/plain";

/// What an envelope is built from.
#[derive(Clone, Debug)]
pub struct EnvelopeInput<'a> {
    /// The event id (a UUIDv4, or `outbox-<uuid>` from the outbox).
    pub id: String,
    /// The publisher's app id; `"Dapr"` when empty.
    pub source: &'a str,
    /// The topic.
    pub topic: &'a str,
    /// The pub/sub component.
    pub pubsub_name: &'a str,
    /// The payload.
    pub data: &'a [u8],
    /// The payload's content type; empty means `text/plain`.
    pub content_type: &'a str,
    /// The publisher's trace context.
    pub trace: &'a TraceHeaders,
    /// When it was published.
    pub now: DateTime<Utc>,
}

/// Builds the CloudEvent daprd would publish for `input`.
pub fn build(input: &EnvelopeInput<'_>) -> Map<String, Value> {
    let content_type = if input.content_type.is_empty() {
        DEFAULT_CONTENT_TYPE
    } else {
        input.content_type
    };
    if is_cloud_event_content_type(content_type)
        && let Ok(Value::Object(existing)) = serde_json::from_slice::<Value>(input.data)
    {
        return complete_existing(existing, input);
    }
    let mut envelope = Map::new();
    envelope.insert("id".into(), Value::String(input.id.clone()));
    let source = if input.source.is_empty() {
        "Dapr"
    } else {
        input.source
    };
    envelope.insert("source".into(), Value::String(source.into()));
    envelope.insert("type".into(), Value::String(DEFAULT_EVENT_TYPE.into()));
    envelope.insert("specversion".into(), Value::String("1.0".into()));
    envelope.insert("datacontenttype".into(), Value::String(content_type.into()));
    envelope.insert("topic".into(), Value::String(input.topic.into()));
    envelope.insert("pubsubname".into(), Value::String(input.pubsub_name.into()));
    insert_trace(&mut envelope, input.trace);
    envelope.insert("time".into(), Value::String(time(input.now)));
    insert_data(&mut envelope, content_type, input.data);
    envelope
}

/// Whether `content_type` says the data is already a whole CloudEvent.
fn is_cloud_event_content_type(content_type: &str) -> bool {
    content_type.starts_with("application/cloudevents+json")
}

/// Whether `content_type` is JSON, so `data` holds a JSON value.
pub fn is_json_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json") || essence == "text/json"
}

/// Whether daprd carries `data` base64-encoded (`data_base64`): octet streams, CloudEvents in
/// protobuf, and `application/x-protobuf` that parses as protobuf (daprd tries it as a CloudEvent
/// message, which any well-formed protobuf passes, its fields being unknown ones).
fn is_binary(content_type: &str, data: &[u8]) -> bool {
    use prost::Message;
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/octet-stream" | "application/cloudevents+protobuf" => true,
        "application/x-protobuf" => <() as Message>::decode(data).is_ok(),
        _ => false,
    }
}

fn insert_data(envelope: &mut Map<String, Value>, content_type: &str, data: &[u8]) {
    use base64::Engine;
    if is_json_content_type(content_type) {
        // Invalid JSON falls back to a string, as in daprd.
        let value = serde_json::from_slice(data)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(data).into_owned()));
        envelope.insert("data".into(), value);
    } else if is_binary(content_type, data) {
        let encoded = base64::engine::general_purpose::STANDARD.encode(data);
        envelope.insert("data_base64".into(), Value::String(encoded));
    } else {
        envelope.insert(
            "data".into(),
            Value::String(String::from_utf8_lossy(data).into_owned()),
        );
    }
}

/// daprd sets all three trace fields on every envelope, to empty strings without a trace, and
/// both `traceid` and `traceparent` to the W3C traceparent (components-contrib
/// `NewCloudEventsEnvelope`).
fn insert_trace(envelope: &mut Map<String, Value>, trace: &TraceHeaders) {
    let traceparent = trace.traceparent.clone().unwrap_or_default();
    envelope.insert("traceid".into(), Value::String(traceparent.clone()));
    envelope.insert("traceparent".into(), Value::String(traceparent));
    envelope.insert(
        "tracestate".into(),
        Value::String(trace.tracestate.clone().unwrap_or_default()),
    );
}

fn complete_existing(
    mut envelope: Map<String, Value>,
    input: &EnvelopeInput<'_>,
) -> Map<String, Value> {
    let defaults = [
        ("id", input.id.as_str()),
        (
            "source",
            if input.source.is_empty() {
                "Dapr"
            } else {
                input.source
            },
        ),
        ("type", DEFAULT_EVENT_TYPE),
        ("specversion", "1.0"),
    ];
    for (key, value) in defaults {
        envelope
            .entry(key)
            .or_insert_with(|| Value::String(value.into()));
    }
    envelope.insert("topic".into(), Value::String(input.topic.into()));
    envelope.insert("pubsubname".into(), Value::String(input.pubsub_name.into()));
    if !envelope.contains_key("time") {
        envelope.insert("time".into(), Value::String(time(input.now)));
    }
    // components-contrib `FromCloudEvent`: a missing `traceid` brings both trace fields, so
    // the publisher's `traceparent` is replaced; a missing `tracestate` is added on its own.
    if !envelope.contains_key("traceid") {
        let traceparent = input.trace.traceparent.clone().unwrap_or_default();
        envelope.insert("traceid".into(), Value::String(traceparent.clone()));
        envelope.insert("traceparent".into(), Value::String(traceparent));
    }
    if !envelope.contains_key("tracestate") {
        let tracestate = input.trace.tracestate.clone().unwrap_or_default();
        envelope.insert("tracestate".into(), Value::String(tracestate));
    }
    envelope
}

/// RFC 3339 with second precision, as Go's `time.RFC3339`.
fn time(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn input<'a>(
        data: &'a [u8],
        content_type: &'a str,
        trace: &'a TraceHeaders,
    ) -> EnvelopeInput<'a> {
        EnvelopeInput {
            id: "id-1".into(),
            source: "todo-api",
            topic: "task-events",
            pubsub_name: "pubsub",
            data,
            content_type,
            trace,
            now: DateTime::parse_from_rfc3339("2026-11-26T10:00:00.123Z")
                .unwrap()
                .to_utc(),
        }
    }

    #[test]
    fn a_json_event_gets_every_envelope_field_of_reference_4_2() {
        let trace = TraceHeaders {
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            tracestate: Some("k=v".into()),
        };
        let envelope = build(&input(br#"{"a":1}"#, "application/json", &trace));
        assert_eq!(
            Value::Object(envelope),
            json!({
                "id": "id-1", "source": "todo-api", "type": "com.dapr.event.sent",
                "specversion": "1.0", "datacontenttype": "application/json",
                "topic": "task-events", "pubsubname": "pubsub",
                "traceid": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "tracestate": "k=v", "time": "2026-11-26T10:00:00Z", "data": {"a": 1}
            })
        );
    }

    #[test]
    fn an_event_without_a_trace_has_empty_trace_fields() {
        let envelope = build(&input(b"hi", "", &TraceHeaders::default()));
        for field in ["traceid", "traceparent", "tracestate"] {
            assert_eq!(envelope.get(field), Some(&json!("")), "field: {field}");
        }
    }

    #[test]
    fn a_published_cloud_event_gets_the_trace_fields_it_lacks() {
        let trace = TraceHeaders {
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
            tracestate: None,
        };
        let cases = [
            (
                "no trace fields: all three added",
                br#"{"id":"a"}"#.as_slice(),
                [
                    trace.traceparent.as_deref().unwrap(),
                    trace.traceparent.as_deref().unwrap(),
                    "",
                ],
            ),
            (
                "traceid present: its traceparent is kept",
                br#"{"traceid":"t","traceparent":"p"}"#.as_slice(),
                ["t", "p", ""],
            ),
            (
                "traceparent alone is replaced with traceid's value",
                br#"{"traceparent":"p","tracestate":"s"}"#.as_slice(),
                [
                    trace.traceparent.as_deref().unwrap(),
                    trace.traceparent.as_deref().unwrap(),
                    "s",
                ],
            ),
        ];
        for (case, data, [traceid, traceparent, tracestate]) in cases {
            let envelope = build(&input(data, "application/cloudevents+json", &trace));
            assert_eq!(
                [
                    &envelope["traceid"],
                    &envelope["traceparent"],
                    &envelope["tracestate"]
                ],
                [&json!(traceid), &json!(traceparent), &json!(tracestate)],
                "case: {case}"
            );
        }
    }

    #[test]
    fn data_is_placed_by_content_type() {
        let trace = TraceHeaders::default();
        let cases = [
            (
                "no content type is text",
                "",
                &b"hi"[..],
                "data",
                json!("hi"),
            ),
            (
                "invalid json is a string",
                "application/json",
                &b"{x"[..],
                "data",
                json!("{x"),
            ),
            (
                "bytes are base64",
                "application/octet-stream",
                &[0u8, 255][..],
                "data_base64",
                json!("AP8="),
            ),
        ];
        for (case, content_type, data, field, expected) in cases {
            let envelope = build(&input(data, content_type, &trace));
            assert_eq!(envelope.get(field), Some(&expected), "case: {case}");
        }
        let plain = build(&input(b"hi", "", &trace));
        assert_eq!(plain["datacontenttype"], "text/plain");
    }

    #[test]
    fn a_published_cloud_event_keeps_its_identity_but_not_its_routing() {
        let trace = TraceHeaders::default();
        let data = br#"{"id":"mine","source":"me","type":"t","topic":"wrong","data":1}"#;
        let envelope = build(&input(data, "application/cloudevents+json", &trace));
        assert_eq!(
            (envelope["id"].clone(), envelope["type"].clone()),
            (json!("mine"), json!("t"))
        );
        assert_eq!(envelope["topic"], "task-events");
        assert_eq!(envelope["time"], "2026-11-26T10:00:00Z");
    }
}
