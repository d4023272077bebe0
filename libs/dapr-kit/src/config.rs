//! How an app finds and authenticates to its Dapr sidecar, how the sidecar authenticates to the
//! app, and how long the app waits for it. Read from the variables daprd's injector and
//! `dapr run` set (`localdapr run` sets the tokens too), plus our own timeouts.

use std::time::Duration;

use http::Uri;
use secrecy::SecretString;

/// The sidecar's gRPC endpoint, e.g. `http://localhost:50001`; wins over the port.
pub const ENV_DAPR_GRPC_ENDPOINT: &str = "DAPR_GRPC_ENDPOINT";
/// The sidecar's gRPC port on localhost.
pub const ENV_DAPR_GRPC_PORT: &str = "DAPR_GRPC_PORT";
/// Dapr's default gRPC API port.
pub const DEFAULT_DAPR_GRPC_PORT: u16 = 50001;
/// The token the app sends to the sidecar (`dapr-api-token`), if the sidecar requires one.
pub const ENV_DAPR_API_TOKEN: &str = "DAPR_API_TOKEN";
/// The token the sidecar sends to the app, which the app then requires on every call.
pub const ENV_APP_API_TOKEN: &str = "APP_API_TOKEN";
/// How long startup waits for the sidecar before giving up.
pub const ENV_DAPR_STARTUP_TIMEOUT_SECONDS: &str = "TODO_DAPR_STARTUP_TIMEOUT_SECONDS";
/// Default for [`ENV_DAPR_STARTUP_TIMEOUT_SECONDS`].
pub const DEFAULT_DAPR_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// The per-call deadline for calls to the sidecar, unless a request carries a shorter one.
pub const ENV_DAPR_CALL_TIMEOUT_SECONDS: &str = "TODO_DAPR_CALL_TIMEOUT_SECONDS";
/// Default for [`ENV_DAPR_CALL_TIMEOUT_SECONDS`]: above the 30 s daprd may wait for its scheduler.
pub const DEFAULT_DAPR_CALL_TIMEOUT: Duration = Duration::from_secs(35);
/// How long a running app waits for a sidecar that stopped answering before it exits non-zero
/// (it reports not ready at once; see [`crate::sidecar_watch`]).
pub const ENV_SIDECAR_LOST_EXIT_SECONDS: &str = "TODO_SIDECAR_LOST_EXIT_SECONDS";
/// Default for [`ENV_SIDECAR_LOST_EXIT_SECONDS`]: rides out a sidecar restart, yet frees the
/// port of an orphan well before anyone gives up on a restart.
pub const DEFAULT_SIDECAR_LOST_EXIT: Duration = Duration::from_secs(30);

/// Where the sidecar is and which tokens guard each direction.
#[derive(Clone, Debug)]
pub struct DaprConfig {
    /// The sidecar's gRPC endpoint.
    pub endpoint: Uri,
    /// Sent as `dapr-api-token` on every call to the sidecar.
    pub api_token: Option<SecretString>,
    /// Required as `dapr-api-token` on every call from the sidecar to the app.
    pub app_api_token: Option<SecretString>,
    /// How long [`crate::DaprClient::connect`] retries before giving up.
    pub startup_timeout: Duration,
    /// The deadline of each call to the sidecar.
    pub call_timeout: Duration,
    /// How long a running app lives without its sidecar.
    pub sidecar_lost_exit: Duration,
}

/// The address services listen on, e.g. `127.0.0.1` for a laptop run.
pub const ENV_LISTEN_HOST: &str = "TODO_LISTEN_HOST";
/// Default for [`ENV_LISTEN_HOST`]: every interface, as a pod needs.
pub const DEFAULT_LISTEN_HOST: std::net::IpAddr =
    std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

/// A variable with a value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable}={value:?}: {reason}")]
pub struct ConfigError {
    /// The variable's name.
    pub variable: &'static str,
    /// The value it had.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl DaprConfig {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// Returns the first variable whose value cannot be used.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests can pass a map.
    ///
    /// # Errors
    /// Returns the first variable whose value cannot be used.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let endpoint = match env.optional(ENV_DAPR_GRPC_ENDPOINT) {
            Some(value) => parse_endpoint(&value)?,
            None => {
                let port = env.port(ENV_DAPR_GRPC_PORT, DEFAULT_DAPR_GRPC_PORT)?;
                parse_endpoint(&format!("http://127.0.0.1:{port}"))?
            }
        };
        Ok(Self {
            endpoint,
            api_token: env.optional(ENV_DAPR_API_TOKEN).map(SecretString::from),
            app_api_token: env.optional(ENV_APP_API_TOKEN).map(SecretString::from),
            startup_timeout: env.seconds(
                ENV_DAPR_STARTUP_TIMEOUT_SECONDS,
                DEFAULT_DAPR_STARTUP_TIMEOUT,
            )?,
            call_timeout: env.seconds(ENV_DAPR_CALL_TIMEOUT_SECONDS, DEFAULT_DAPR_CALL_TIMEOUT)?,
            sidecar_lost_exit: env
                .seconds(ENV_SIDECAR_LOST_EXIT_SECONDS, DEFAULT_SIDECAR_LOST_EXIT)?,
        })
    }

    /// A configuration for a sidecar at `endpoint` with no tokens, for tests and tools.
    pub fn for_endpoint(endpoint: Uri) -> Self {
        Self {
            endpoint,
            api_token: None,
            app_api_token: None,
            startup_timeout: DEFAULT_DAPR_STARTUP_TIMEOUT,
            call_timeout: DEFAULT_DAPR_CALL_TIMEOUT,
            sidecar_lost_exit: DEFAULT_SIDECAR_LOST_EXIT,
        }
    }
}

/// Reads typed settings through a lookup (the environment, or a map in tests); a blank value
/// counts as unset, and every error names the variable and its value. Each service's
/// `Config::from_lookup` is built on it, so all of them parse the same way.
pub struct Env<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// Reads through `lookup`.
    pub fn new(lookup: F) -> Self {
        Self { lookup }
    }

    /// The raw lookup, for nested configurations such as [`DaprConfig::from_lookup`].
    pub fn lookup(&self) -> &F {
        &self.lookup
    }

    /// The trimmed value of `variable`, or `None` when unset or blank.
    pub fn optional(&self, variable: &str) -> Option<String> {
        non_empty((self.lookup)(variable)).map(|v| v.trim().to_string())
    }

    /// The trimmed value of `variable`, or `default`.
    pub fn text(&self, variable: &str, default: &str) -> String {
        self.optional(variable)
            .unwrap_or_else(|| default.to_string())
    }

    /// A TCP port; 0 lets the system pick one.
    ///
    /// # Errors
    /// When the value is not a port number.
    pub fn port(&self, variable: &'static str, default: u16) -> Result<u16, ConfigError> {
        self.parsed(
            variable,
            default,
            "expected a port number (0 to 65535)",
            |v| v.parse().ok(),
        )
    }

    /// `<host>:<port>`, where the host is [`ENV_LISTEN_HOST`] (default `0.0.0.0`: in a pod,
    /// probes and the sidecar reach the app on the pod's interfaces; a laptop run sets
    /// `127.0.0.1` so nothing on the network can reach apps meant for their sidecar only).
    ///
    /// # Errors
    /// When the port or the host is invalid.
    pub fn listen_address(
        &self,
        variable: &'static str,
        default_port: u16,
    ) -> Result<std::net::SocketAddr, ConfigError> {
        let host = self.parsed(
            ENV_LISTEN_HOST,
            DEFAULT_LISTEN_HOST,
            "expected an IP address",
            |v| v.parse().ok(),
        )?;
        Ok(std::net::SocketAddr::new(
            host,
            self.port(variable, default_port)?,
        ))
    }

    /// A whole number of seconds above 0.
    ///
    /// # Errors
    /// When the value is not such a number.
    pub fn seconds(
        &self,
        variable: &'static str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        self.parsed(
            variable,
            default,
            "expected a whole number of seconds above 0",
            |v| {
                v.parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Duration::from_secs)
            },
        )
    }

    /// A whole number of seconds, 0 included (for delays and grace periods that may be off).
    ///
    /// # Errors
    /// When the value is not such a number.
    pub fn seconds_or_zero(
        &self,
        variable: &'static str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        self.parsed(
            variable,
            default,
            "expected a whole number of seconds",
            |v| v.parse::<u64>().ok().map(Duration::from_secs),
        )
    }

    /// A whole number above 0.
    ///
    /// # Errors
    /// When the value is not such a number.
    pub fn count(&self, variable: &'static str, default: u32) -> Result<u32, ConfigError> {
        self.parsed(variable, default, "expected a whole number above 0", |v| {
            v.parse::<u32>().ok().filter(|n| *n > 0)
        })
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`).
    ///
    /// # Errors
    /// When the value is none of those.
    pub fn flag(&self, variable: &'static str, default: bool) -> Result<bool, ConfigError> {
        self.parsed(variable, default, "expected true or false", |v| {
            match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(true),
                "false" | "0" | "no" => Some(false),
                _ => None,
            }
        })
    }

    fn parsed<T>(
        &self,
        variable: &'static str,
        default: T,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ConfigError> {
        match self.optional(variable) {
            None => Ok(default),
            Some(value) => parse(&value).ok_or_else(|| ConfigError {
                variable,
                value,
                reason: expected.to_string(),
            }),
        }
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

fn parse_endpoint(value: &str) -> Result<Uri, ConfigError> {
    // daprd documents endpoints both with and without a scheme; tonic needs one.
    let with_scheme = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let uri: Uri = with_scheme
        .parse()
        .map_err(|e: http::uri::InvalidUri| ConfigError {
            variable: ENV_DAPR_GRPC_ENDPOINT,
            value: value.to_string(),
            reason: e.to_string(),
        })?;
    match uri.scheme_str() {
        Some("http") if uri.host().is_some() => Ok(uri),
        _ => Err(ConfigError {
            variable: ENV_DAPR_GRPC_ENDPOINT,
            value: value.to_string(),
            reason: "expected http://host:port (TLS to the sidecar is not supported)".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<DaprConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DaprConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn endpoints_come_from_the_endpoint_then_the_port_then_the_default() {
        let cases = [
            ("nothing set", vec![], "http://127.0.0.1:50001/"),
            (
                "port",
                vec![(ENV_DAPR_GRPC_PORT, "50123")],
                "http://127.0.0.1:50123/",
            ),
            (
                "endpoint wins over port",
                vec![
                    (ENV_DAPR_GRPC_ENDPOINT, "http://dapr:4000"),
                    (ENV_DAPR_GRPC_PORT, "1"),
                ],
                "http://dapr:4000/",
            ),
            (
                "endpoint without scheme",
                vec![(ENV_DAPR_GRPC_ENDPOINT, "localhost:4001")],
                "http://localhost:4001/",
            ),
            (
                "blank endpoint is unset",
                vec![(ENV_DAPR_GRPC_ENDPOINT, " ")],
                "http://127.0.0.1:50001/",
            ),
        ];
        for (case, vars, expected) in cases {
            let endpoint = config(&vars).unwrap().endpoint;
            assert_eq!(endpoint.to_string(), expected, "case: {case}");
        }
    }

    #[test]
    fn unusable_values_name_the_variable_and_value() {
        let cases = [
            ("port not a number", (ENV_DAPR_GRPC_PORT, "fifty")),
            ("port out of range", (ENV_DAPR_GRPC_PORT, "70000")),
            ("tls endpoint", (ENV_DAPR_GRPC_ENDPOINT, "https://dapr:443")),
            ("zero timeout", (ENV_DAPR_STARTUP_TIMEOUT_SECONDS, "0")),
            ("negative timeout", (ENV_DAPR_CALL_TIMEOUT_SECONDS, "-3")),
            ("never exit", (ENV_SIDECAR_LOST_EXIT_SECONDS, "0")),
        ];
        for (case, (variable, value)) in cases {
            let error = config(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable, "case: {case}");
            let message = error.to_string();
            assert!(
                message.contains(variable) && message.contains(value),
                "case: {case}: {message}"
            );
        }
    }

    #[test]
    fn tokens_are_read_and_blank_tokens_are_unset() {
        let with = config(&[(ENV_DAPR_API_TOKEN, "a"), (ENV_APP_API_TOKEN, "b")]).unwrap();
        assert_eq!(with.api_token.unwrap().expose_secret(), "a");
        assert_eq!(with.app_api_token.unwrap().expose_secret(), "b");
        let blank = config(&[(ENV_DAPR_API_TOKEN, "")]).unwrap();
        assert!(blank.api_token.is_none());
    }

    #[test]
    fn tokens_never_appear_in_debug_output() {
        let with = config(&[(ENV_DAPR_API_TOKEN, "hunter2-secret")]).unwrap();
        assert!(!format!("{with:?}").contains("hunter2-secret"));
    }

    #[test]
    fn env_reads_typed_values_and_names_bad_ones() {
        let vars: HashMap<&str, &str> = [
            ("FLAG", "yes"),
            ("COUNT", "3"),
            ("ZERO", "0"),
            ("TEXT", "  padded "),
            ("BLANK", " "),
        ]
        .into();
        let env = Env::new(|name: &str| vars.get(name).map(|v| v.to_string()));
        assert!(env.flag("FLAG", false).unwrap());
        assert_eq!(env.count("COUNT", 1).unwrap(), 3);
        assert_eq!(env.text("TEXT", "default"), "padded");
        assert_eq!(env.text("BLANK", "default"), "default", "blank is unset");
        assert_eq!(env.port("UNSET", 7).unwrap(), 7);
        assert_eq!(
            env.listen_address("UNSET", 7).unwrap().to_string(),
            "0.0.0.0:7"
        );
        let errors = [
            env.count("ZERO", 1).unwrap_err(),
            env.flag("COUNT", false).unwrap_err(),
        ];
        assert_eq!(errors.map(|e| e.variable), ["ZERO", "COUNT"]);
    }
}
