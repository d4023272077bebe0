//! W3C trace context (`traceparent`, `tracestate`) across process boundaries.
//!
//! gRPC carries it in request metadata; CloudEvents carry it in their `traceparent` and
//! `tracestate` extension attributes. This module is the only code in the suite that reads or
//! writes those fields. It always uses the W3C propagator directly, so it behaves the same whether
//! or not `init` has set the global propagator.
//!
//! The "current" context is the OpenTelemetry context of the current `tracing::Span`, which exists
//! only when the subscriber has the OpenTelemetry layer (`init`, `init_for_tests`, or a test's
//! own subscriber built with [`crate::opentelemetry_layer`]).

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Names the W3C header and CloudEvents attribute carrying the trace and parent span IDs.
pub const TRACEPARENT: &str = "traceparent";
/// Names the W3C header and CloudEvents attribute carrying vendor-specific trace state.
pub const TRACESTATE: &str = "tracestate";

/// Writes the current span's trace context into outgoing gRPC metadata.
///
/// Writes nothing when there is no valid current span context.
pub fn inject_context(metadata: &mut MetadataMap) {
    inject_context_from(&tracing::Span::current().context(), metadata);
}

/// Writes the trace context of `context` into outgoing gRPC metadata.
pub fn inject_context_from(context: &Context, metadata: &mut MetadataMap) {
    TraceContextPropagator::new().inject_context(context, &mut MetadataInjector(metadata));
}

/// Reads the remote parent context from incoming gRPC metadata.
///
/// A missing or malformed `traceparent` gives a context without a valid span.
pub fn extract_context(metadata: &MetadataMap) -> Context {
    extract_context_from_headers(metadata.as_ref())
}

/// Reads the remote parent context from HTTP headers (gRPC metadata before tonic wraps it).
pub fn extract_context_from_headers(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// Makes the trace context found in `metadata` the parent of `span`, if there is one.
///
/// Call it before the span is first entered; later it has no effect. Nothing happens when the
/// span is disabled or the subscriber has no OpenTelemetry layer.
pub fn set_parent_from_metadata(span: &tracing::Span, metadata: &MetadataMap) {
    set_parent(span, extract_context(metadata));
}

/// Makes `parent` (e.g. from [`context_from_traceparent`]) the parent of `span`, if it is valid.
///
/// Call it before the span is first entered; later it has no effect. Nothing happens when the
/// span is disabled or the subscriber has no OpenTelemetry layer.
pub fn set_parent(span: &tracing::Span, parent: Context) {
    if !parent.span().span_context().is_valid() {
        return;
    }
    // Fails only when the span is disabled, already started, or OpenTelemetry is not installed:
    // in each case there is no trace for it to join.
    let _ = span.set_parent(parent);
}

/// Returns the current span's `traceparent` and `tracestate`, for an outgoing CloudEvent.
///
/// Returns `None` when there is no valid current span context; `tracestate` is `None` when empty.
pub fn current_traceparent() -> Option<(String, Option<String>)> {
    traceparent_of(&tracing::Span::current().context())
}

/// Returns the `traceparent` and `tracestate` of `context`, or `None` without a valid span.
pub fn traceparent_of(context: &Context) -> Option<(String, Option<String>)> {
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut fields = HashMap::new();
    TraceContextPropagator::new().inject_context(context, &mut fields);
    let traceparent = fields.remove(TRACEPARENT)?;
    let tracestate = fields.remove(TRACESTATE).filter(|state| !state.is_empty());
    Some((traceparent, tracestate))
}

/// Builds the remote parent context from a CloudEvent's `traceparent` and `tracestate`.
///
/// A malformed `traceparent` gives a context without a valid span.
pub fn context_from_traceparent(traceparent: &str, tracestate: Option<&str>) -> Context {
    let mut fields = HashMap::with_capacity(2);
    fields.insert(TRACEPARENT.to_owned(), traceparent.to_owned());
    if let Some(tracestate) = tracestate {
        fields.insert(TRACESTATE.to_owned(), tracestate.to_owned());
    }
    TraceContextPropagator::new().extract(&fields)
}

/// Injects the caller's trace context into every request of a tonic client.
///
/// Use it as `FooServiceClient::with_interceptor(channel, TraceContextInterceptor)`; it runs
/// inside the caller's span, so the callee's server span becomes its child.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextInterceptor;

impl tonic::service::Interceptor for TraceContextInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        inject_context(request.metadata_mut());
        Ok(request)
    }
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The W3C propagator only produces lowercase ASCII keys and visible-ASCII values, so
        // neither conversion fails in practice; a value that did would simply not propagate.
        let Ok(key) = MetadataKey::from_bytes(key.as_bytes()) else {
            return;
        };
        let Ok(value) = MetadataValue::try_from(value) else {
            return;
        };
        self.0.insert(key, value);
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    const TRACE_ID_HEX: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN_ID_HEX: &str = "00f067aa0ba902b7";
    const SAMPLED_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// Runs `body` with a subscriber that has the OpenTelemetry layer, without touching globals.
    fn with_tracing<T>(body: impl FnOnce() -> T) -> T {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry().with(crate::opentelemetry_layer(&provider));
        tracing::subscriber::with_default(subscriber, body)
    }

    fn trace_id_of(context: &Context) -> TraceId {
        context.span().span_context().trace_id()
    }

    #[test]
    fn inject_then_extract_through_metadata_keeps_the_trace_id() {
        with_tracing(|| {
            let span = tracing::info_span!("outgoing call");
            let _entered = span.enter();
            let sent_trace_id = trace_id_of(&span.context());
            assert_ne!(
                sent_trace_id,
                TraceId::INVALID,
                "the span has a real trace id"
            );

            let mut metadata = MetadataMap::new();
            inject_context(&mut metadata);
            assert!(
                metadata.get(TRACEPARENT).is_some(),
                "traceparent was written"
            );

            let received = extract_context(&metadata);
            assert_eq!(trace_id_of(&received), sent_trace_id);
            assert!(received.span().span_context().is_remote());
        });
    }

    #[test]
    fn set_parent_from_metadata_makes_the_span_join_the_remote_trace() {
        let mut metadata = MetadataMap::new();
        metadata.insert(TRACEPARENT, SAMPLED_TRACEPARENT.parse().unwrap());
        with_tracing(|| {
            let span = tracing::info_span!("incoming call");
            set_parent_from_metadata(&span, &metadata);
            assert_eq!(
                trace_id_of(&span.context()),
                TraceId::from_hex(TRACE_ID_HEX).unwrap()
            );
        });
    }

    #[test]
    fn nothing_is_injected_without_a_current_span() {
        let mut metadata = MetadataMap::new();
        inject_context(&mut metadata);
        assert!(metadata.is_empty());
        assert_eq!(current_traceparent(), None);
    }

    #[test]
    fn traceparent_round_trip_keeps_trace_id_span_id_flags_and_state() {
        let state = TraceState::from_key_value([("vendor", "value")]).unwrap();
        let original = SpanContext::new(
            TraceId::from_hex(TRACE_ID_HEX).unwrap(),
            SpanId::from_hex(SPAN_ID_HEX).unwrap(),
            TraceFlags::SAMPLED,
            false,
            state,
        );
        let context = Context::new().with_remote_span_context(original.clone());

        let (traceparent, tracestate) = traceparent_of(&context).unwrap();
        assert_eq!(traceparent, SAMPLED_TRACEPARENT);
        assert_eq!(tracestate.as_deref(), Some("vendor=value"));

        let restored = context_from_traceparent(&traceparent, tracestate.as_deref());
        let restored = restored.span().span_context().clone();
        assert_eq!(restored.trace_id(), original.trace_id());
        assert_eq!(restored.span_id(), original.span_id());
        assert_eq!(restored.trace_flags(), TraceFlags::SAMPLED);
        assert_eq!(restored.trace_state().header(), "vendor=value");
    }

    #[test]
    fn current_traceparent_names_the_current_span() {
        with_tracing(|| {
            let span = tracing::info_span!("publish");
            let _entered = span.enter();
            let (traceparent, tracestate) = current_traceparent().unwrap();
            let span_context = span.context().span().span_context().clone();
            let expected = format!(
                "00-{}-{}-01",
                span_context.trace_id(),
                span_context.span_id()
            );
            assert_eq!(traceparent, expected);
            assert_eq!(tracestate, None);
        });
    }

    #[test]
    fn malformed_traceparents_give_no_parent() {
        let cases = [
            ("empty", ""),
            ("garbage", "not a traceparent"),
            (
                "all-zero trace id",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            ),
            ("missing span id", "00-4bf92f3577b34da6a3ce929d0e0e4736-01"),
            (
                "uppercase trace id",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            ),
            (
                "unknown version with 4 fields",
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ];
        for (case, traceparent) in cases {
            let context = context_from_traceparent(traceparent, None);
            assert!(!context.span().span_context().is_valid(), "case: {case}");
        }
    }

    #[test]
    fn the_interceptor_injects_the_current_context() {
        use tonic::service::Interceptor;
        with_tracing(|| {
            let span = tracing::info_span!("client call");
            let _entered = span.enter();
            let request = TraceContextInterceptor
                .call(tonic::Request::new(()))
                .unwrap();
            let extracted = extract_context(request.metadata());
            assert_eq!(trace_id_of(&extracted), trace_id_of(&span.context()));
        });
    }
}
