//! The JSON log line: tracing-subscriber's JSON object with Cloud Logging's `severity` first.
//!
//! Cloud Logging (GKE's agent) reads an entry's level from a top-level `severity` field only,
//! and shows a top-level `message` as the entry's text
//! (<https://cloud.google.com/logging/docs/structured-logging>); tracing-subscriber names the
//! level `level` (kept, for everything else that reads these logs) and nests the event's fields
//! unless flattened.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{self, Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent};
use tracing_subscriber::registry::LookupSpan;

/// Formats an event as tracing-subscriber's JSON object (its fields at the top level, with the
/// current span, without the span list) and puts `"severity"` first in it.
pub(crate) struct JsonWithSeverity {
    json: Format<Json>,
}

impl JsonWithSeverity {
    /// The format `LOG_FORMAT=json` logs in.
    pub(crate) fn new() -> Self {
        Self {
            json: format::format()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false),
        }
    }
}

/// Cloud Logging's `LogSeverity` name for a tracing level (it has no TRACE; WARN is WARNING).
fn severity(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

impl<S, N> FormatEvent<S, N> for JsonWithSeverity
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    N: for<'writer> format::FormatFields<'writer> + 'static,
    Format<Json>: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.json.format_event(ctx, Writer::new(&mut line), event)?;
        let severity = severity(*event.metadata().level());
        match line.strip_prefix('{') {
            Some(rest) => write!(writer, "{{\"severity\":\"{severity}\",{rest}"),
            // The JSON format always writes an object; pass anything else through untouched.
            None => writer.write_str(&line),
        }
    }
}

/// The JSON fields formatter [`JsonWithSeverity`] expects.
pub(crate) fn json_fields() -> JsonFields {
    JsonFields::new()
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn logged(emit: impl FnOnce()) -> String {
        let captured = Captured::default();
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(json_fields())
            .event_format(JsonWithSeverity::new())
            .with_writer(captured.clone());
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::TRACE)
            .with(layer);
        tracing::subscriber::with_default(subscriber, emit);
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn every_level_is_logged_with_the_severity_cloud_logging_maps() {
        let cases = [
            ("error", Level::ERROR, "ERROR"),
            ("warn", Level::WARN, "WARNING"),
            ("info", Level::INFO, "INFO"),
            ("debug", Level::DEBUG, "DEBUG"),
            ("trace", Level::TRACE, "DEBUG"),
        ];
        for (case, level, expected) in cases {
            let line = logged(|| match level {
                Level::ERROR => tracing::error!(task_id = "t1", "failed"),
                Level::WARN => tracing::warn!(task_id = "t1", "failed"),
                Level::INFO => tracing::info!(task_id = "t1", "failed"),
                Level::DEBUG => tracing::debug!(task_id = "t1", "failed"),
                Level::TRACE => tracing::trace!(task_id = "t1", "failed"),
            });
            assert!(
                line.starts_with(&format!("{{\"severity\":\"{expected}\",")),
                "case: {case}: {line}"
            );
            assert!(line.ends_with("}\n"), "case: {case}: {line}");
            assert_eq!(line.lines().count(), 1, "case: {case}: {line}");
            assert!(
                !line.contains("\"fields\""),
                "case: {case}: nested fields in {line}"
            );
            for kept in [
                "\"timestamp\":",
                &format!("\"level\":\"{level}\""),
                "\"message\":\"failed\"",
                "\"task_id\":\"t1\"",
            ] {
                assert!(line.contains(kept), "case: {case}: no {kept} in {line}");
            }
        }
    }
}
