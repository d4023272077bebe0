//! One delivered pub/sub event, and what a handler answers.

use std::{collections::HashMap, error::Error as StdError};

use prost::{Message, Name};
use todo_proto::dapr::proto::runtime::v1::{
    TopicEventRequest, topic_event_response::TopicEventResponseStatus,
};

/// A boxed error a handler reports.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// A CloudEvent as daprd delivers it (reference §2.3).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TopicEvent {
    /// The CloudEvent id: the deduplication key for at-least-once delivery.
    pub id: String,
    /// The publisher's app id.
    pub source: String,
    /// The CloudEvent type.
    pub event_type: String,
    /// The content type of [`TopicEvent::data`].
    pub data_content_type: String,
    /// The payload (for JSON, re-encoded by daprd: compact, keys sorted).
    pub data: Vec<u8>,
    /// The topic.
    pub topic: String,
    /// The pub/sub component.
    pub pubsub_name: String,
    /// The matched route; empty for a catch-all subscription.
    pub path: String,
    /// Every other CloudEvent attribute (traceparent, time, custom attributes).
    pub extensions: prost_types::Struct,
    /// The call's gRPC metadata: broker metadata such as `__key` and `__offset`, lowercased.
    pub metadata: HashMap<String, String>,
}

impl TopicEvent {
    pub(crate) fn from_wire(request: TopicEventRequest, metadata: HashMap<String, String>) -> Self {
        Self {
            id: request.id,
            source: request.source,
            event_type: request.r#type,
            data_content_type: request.data_content_type,
            data: request.data,
            topic: request.topic,
            pubsub_name: request.pubsub_name,
            path: request.path,
            extensions: request.extensions.unwrap_or_default(),
            metadata,
        }
    }

    /// Decodes the payload as the proto3 JSON of a `todo.v1` message.
    ///
    /// # Errors
    /// [`HandlerError::Poison`]: a payload that does not decode now never will.
    pub fn json<M: Message + Name + Default>(&self) -> Result<M, HandlerError> {
        todo_proto::json::from_json(&self.data).map_err(HandlerError::poison)
    }

    /// A string CloudEvent extension, such as `traceparent`.
    pub fn extension(&self, name: &str) -> Option<&str> {
        match self.extensions.fields.get(name)?.kind.as_ref()? {
            prost_types::value::Kind::StringValue(value) => Some(value),
            _ => None,
        }
    }

    /// The W3C `traceparent` the event continues: its `traceparent`, or else its `traceid`.
    ///
    /// daprd always sets both fields, empty without a trace (reference §4.2), and its outbox
    /// fills only `traceid` (components-contrib's `state/utils` outbox), so an event published
    /// through the outbox still links to the write that caused it.
    pub fn trace_parent(&self) -> Option<&str> {
        ["traceparent", "traceid"]
            .into_iter()
            .filter_map(|name| self.extension(name))
            .find(|value| !value.is_empty())
    }
}

/// Why a handler did not process an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Processing may succeed later (a dependency is down): Dapr retries, then dead-letters.
    #[error("transient failure")]
    Transient(#[source] BoxError),
    /// The event can never be processed: Dapr drops it to the dead-letter topic at once.
    #[error("poison event")]
    Poison(#[source] BoxError),
}

impl HandlerError {
    /// A failure worth retrying.
    pub fn transient(error: impl Into<BoxError>) -> Self {
        Self::Transient(error.into())
    }

    /// An event that can never be processed.
    pub fn poison(error: impl Into<BoxError>) -> Self {
        Self::Poison(error.into())
    }
}

/// The answer to daprd for one event: the SUCCESS/RETRY/DROP mapping lives here only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventOutcome {
    /// Processed (or already processed): acknowledge.
    Success,
    /// Not processed yet: redeliver.
    Retry,
    /// Never processable: drop, to the dead-letter topic if there is one.
    Drop,
}

impl EventOutcome {
    /// The outcome of a handler's result.
    pub fn of(result: &Result<(), HandlerError>) -> Self {
        match result {
            Ok(()) => Self::Success,
            Err(HandlerError::Transient(_)) => Self::Retry,
            Err(HandlerError::Poison(_)) => Self::Drop,
        }
    }

    /// The label used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Retry => "retry",
            Self::Drop => "drop",
        }
    }

    pub(crate) fn to_wire(self) -> TopicEventResponseStatus {
        match self {
            Self::Success => TopicEventResponseStatus::Success,
            Self::Retry => TopicEventResponseStatus::Retry,
            Self::Drop => TopicEventResponseStatus::Drop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_results_map_to_dapr_statuses() {
        let cases = [
            ("ok", Ok(()), TopicEventResponseStatus::Success),
            (
                "transient",
                Err(HandlerError::transient("db down")),
                TopicEventResponseStatus::Retry,
            ),
            (
                "poison",
                Err(HandlerError::poison("bad json")),
                TopicEventResponseStatus::Drop,
            ),
        ];
        for (case, result, status) in cases {
            assert_eq!(EventOutcome::of(&result).to_wire(), status, "case: {case}");
        }
    }

    #[test]
    fn the_trace_parent_is_the_traceparent_else_the_traceid() {
        const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        const OUTBOX: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let event = |fields: &[(&str, &str)]| TopicEvent {
            extensions: prost_types::Struct {
                fields: fields
                    .iter()
                    .map(|(name, value)| {
                        let value = prost_types::Value {
                            kind: Some(prost_types::value::Kind::StringValue(value.to_string())),
                        };
                        (name.to_string(), value)
                    })
                    .collect(),
            },
            ..Default::default()
        };
        let cases = [
            (
                "both set",
                vec![("traceparent", PARENT), ("traceid", OUTBOX)],
                Some(PARENT),
            ),
            (
                "outbox: traceparent empty",
                vec![("traceparent", ""), ("traceid", OUTBOX)],
                Some(OUTBOX),
            ),
            (
                "no trace: both empty",
                vec![("traceparent", ""), ("traceid", "")],
                None,
            ),
            ("neither field", vec![], None),
        ];
        for (case, fields, expected) in cases {
            assert_eq!(event(&fields).trace_parent(), expected, "case: {case}");
        }
    }

    #[test]
    fn undecodable_json_is_poison() {
        let event = TopicEvent {
            data: b"not json".to_vec(),
            ..Default::default()
        };
        let decoded = event.json::<todo_proto::todo::v1::TaskEvent>();
        assert!(matches!(decoded, Err(HandlerError::Poison(_))));
    }
}
