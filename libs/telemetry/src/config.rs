//! `TelemetryConfig`: every telemetry knob, read from the environment and validated up front.
//!
//! This is the only module that reads the process environment (`from_env`, and `TEST_LOG` for
//! `init_for_tests`). Everything else takes a `TelemetryConfig`, so tests pass a map.
//! A variable that is set but blank counts as unset, as the OpenTelemetry spec asks of `OTEL_*`.

use std::fmt;

use tracing_subscriber::EnvFilter;

use crate::TelemetryError;

/// Names the variable holding the `tracing` filter directives.
pub const ENV_RUST_LOG: &str = "RUST_LOG";
/// Holds the filter used when `RUST_LOG` is unset.
pub const DEFAULT_RUST_LOG: &str = "info";

/// Names the variable choosing the log line format (`pretty` or `json`).
pub const ENV_LOG_FORMAT: &str = "LOG_FORMAT";
/// Holds the log format used when `LOG_FORMAT` is unset: readable output for developers.
pub const DEFAULT_LOG_FORMAT: LogFormat = LogFormat::Pretty;

/// Names the variable holding the OTLP gRPC collector URL; unset means no span export.
pub const ENV_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Names the variable overriding the service name passed to `init`; unset keeps that name.
pub const ENV_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

/// Names the variable that turns on log output in tests (any non-blank value).
pub const ENV_TEST_LOG: &str = "TEST_LOG";

/// Selects how log lines are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Multi-line, coloured, human-readable output for local runs.
    Pretty,
    /// One JSON object per line, for Kubernetes log collection.
    Json,
}

impl LogFormat {
    /// Parses `pretty` or `json`, ignoring ASCII case and surrounding whitespace.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("pretty") {
            Some(Self::Pretty)
        } else if value.eq_ignore_ascii_case("json") {
            Some(Self::Json)
        } else {
            None
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Pretty => "pretty",
            Self::Json => "json",
        })
    }
}

/// Holds the validated telemetry settings of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `EnvFilter` directives, already checked to parse.
    pub log_filter: String,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// The OTLP gRPC collector URL; `None` keeps spans in-process (context still propagates).
    pub otlp_endpoint: Option<String>,
    /// Replaces the service name given to `init` when set.
    pub service_name_override: Option<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_filter: DEFAULT_RUST_LOG.to_owned(),
            log_format: DEFAULT_LOG_FORMAT,
            otlp_endpoint: None,
            service_name_override: None,
        }
    }
}

impl TelemetryConfig {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    ///
    /// As [`TelemetryConfig::from_lookup`].
    pub fn from_env() -> Result<Self, TelemetryError> {
        Self::from_lookup(read_env)
    }

    /// Builds the configuration from `lookup(variable_name)`, validating every value.
    ///
    /// # Errors
    ///
    /// Returns an error naming the variable and its value when `RUST_LOG` does not parse,
    /// `LOG_FORMAT` is neither `pretty` nor `json`, or `OTEL_EXPORTER_OTLP_ENDPOINT` is not an
    /// absolute `http://` or `https://` URL.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, TelemetryError> {
        let non_blank = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let log_filter = match non_blank(ENV_RUST_LOG) {
            Some(value) => {
                if let Err(source) = EnvFilter::try_new(&value) {
                    return Err(TelemetryError::InvalidLogFilter {
                        variable: ENV_RUST_LOG,
                        value,
                        source,
                    });
                }
                value
            }
            None => DEFAULT_RUST_LOG.to_owned(),
        };

        let log_format = match non_blank(ENV_LOG_FORMAT) {
            Some(value) => LogFormat::parse(&value).ok_or(TelemetryError::InvalidLogFormat {
                variable: ENV_LOG_FORMAT,
                value,
            })?,
            None => DEFAULT_LOG_FORMAT,
        };

        let otlp_endpoint = match non_blank(ENV_OTLP_ENDPOINT) {
            Some(value) => Some(validate_otlp_endpoint(value)?),
            None => None,
        };

        let service_name_override = non_blank(ENV_SERVICE_NAME).map(|name| name.trim().to_owned());

        Ok(Self {
            log_filter,
            log_format,
            otlp_endpoint,
            service_name_override,
        })
    }
}

/// Tells whether tests should print logs: `TEST_LOG` is set to a non-blank value.
pub fn is_test_log_enabled(lookup: impl Fn(&str) -> Option<String>) -> bool {
    lookup(ENV_TEST_LOG).is_some_and(|value| !value.trim().is_empty())
}

/// Reads one variable from the process environment; non-UTF-8 values count as unset.
pub(crate) fn read_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn validate_otlp_endpoint(value: String) -> Result<String, TelemetryError> {
    let invalid = |value: String, reason| TelemetryError::InvalidOtlpEndpoint {
        variable: ENV_OTLP_ENDPOINT,
        value,
        reason,
    };
    let Ok(uri) = value.trim().parse::<http::Uri>() else {
        return Err(invalid(value, "not a valid url"));
    };
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(invalid(value, "the scheme must be http or https"));
    }
    if uri.authority().is_none() {
        return Err(invalid(value, "the url has no host"));
    }
    Ok(value.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    type Environment<'a> = &'a [(&'a str, &'a str)];

    fn config_from(pairs: Environment) -> Result<TelemetryConfig, TelemetryError> {
        let environment: HashMap<String, String> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        TelemetryConfig::from_lookup(|name| environment.get(name).cloned())
    }

    #[test]
    fn an_empty_environment_gives_the_defaults() {
        let config = config_from(&[]).unwrap();
        assert_eq!(config, TelemetryConfig::default());
        assert_eq!(config.log_filter, "info");
        assert_eq!(config.log_format, LogFormat::Pretty);
        assert_eq!(config.otlp_endpoint, None);
        assert_eq!(config.service_name_override, None);
    }

    #[test]
    fn valid_values_are_parsed() {
        let cases: [(&str, Environment, TelemetryConfig); 6] = [
            (
                "json format",
                &[(ENV_LOG_FORMAT, "json")],
                TelemetryConfig {
                    log_format: LogFormat::Json,
                    ..TelemetryConfig::default()
                },
            ),
            (
                "format ignores case and whitespace",
                &[(ENV_LOG_FORMAT, " Pretty ")],
                TelemetryConfig::default(),
            ),
            (
                "filter directives",
                &[(ENV_RUST_LOG, "warn,todo_core=debug")],
                TelemetryConfig {
                    log_filter: "warn,todo_core=debug".to_owned(),
                    ..TelemetryConfig::default()
                },
            ),
            (
                "otlp endpoint",
                &[(ENV_OTLP_ENDPOINT, "http://otel-collector:4317")],
                TelemetryConfig {
                    otlp_endpoint: Some("http://otel-collector:4317".to_owned()),
                    ..TelemetryConfig::default()
                },
            ),
            (
                "service name override",
                &[(ENV_SERVICE_NAME, "task-service-canary")],
                TelemetryConfig {
                    service_name_override: Some("task-service-canary".to_owned()),
                    ..TelemetryConfig::default()
                },
            ),
            (
                "blank values count as unset",
                &[
                    (ENV_RUST_LOG, ""),
                    (ENV_LOG_FORMAT, " "),
                    (ENV_OTLP_ENDPOINT, ""),
                    (ENV_SERVICE_NAME, "  "),
                ],
                TelemetryConfig::default(),
            ),
        ];
        for (case, environment, expected) in cases {
            let config = config_from(environment)
                .unwrap_or_else(|error| panic!("case: {case}: unexpected error {error}"));
            assert_eq!(config, expected, "case: {case}");
        }
    }

    #[test]
    fn invalid_values_are_rejected_with_the_variable_and_value_named() {
        let cases = [
            (
                "unknown log format",
                (ENV_LOG_FORMAT, "yaml"),
                r#"invalid LOG_FORMAT="yaml": expected `pretty` or `json`"#,
            ),
            (
                "bad filter directive",
                (ENV_RUST_LOG, "info,[unclosed"),
                r#"invalid RUST_LOG="info,[unclosed": not a valid tracing filter"#,
            ),
            (
                "endpoint without a scheme",
                (ENV_OTLP_ENDPOINT, "otel-collector:4317"),
                r#"invalid OTEL_EXPORTER_OTLP_ENDPOINT="otel-collector:4317": the scheme must be http or https"#,
            ),
            (
                "endpoint with another scheme",
                (ENV_OTLP_ENDPOINT, "grpc://otel-collector:4317"),
                r#"invalid OTEL_EXPORTER_OTLP_ENDPOINT="grpc://otel-collector:4317": the scheme must be http or https"#,
            ),
            (
                "endpoint that is not a url",
                (ENV_OTLP_ENDPOINT, "http://exa mple"),
                r#"invalid OTEL_EXPORTER_OTLP_ENDPOINT="http://exa mple": not a valid url"#,
            ),
        ];
        for (case, variable, expected_message) in cases {
            let error = config_from(&[variable]).expect_err(case);
            assert_eq!(error.to_string(), expected_message, "case: {case}");
        }
    }

    #[test]
    fn test_log_is_enabled_only_by_a_non_blank_value() {
        let cases = [
            ("unset", None, false),
            ("blank", Some(""), false),
            ("one", Some("1"), true),
            ("anything", Some("yes"), true),
        ];
        for (case, value, expected) in cases {
            let lookup = |name: &str| {
                assert_eq!(name, ENV_TEST_LOG);
                value.map(str::to_owned)
            };
            assert_eq!(is_test_log_enabled(lookup), expected, "case: {case}");
        }
    }
}
