//! Every knob of todo-api, read from the environment once and validated before anything binds.

use std::{net::SocketAddr, time::Duration};

use dapr_kit::{
    DaprConfig, ServiceConfig, TrustedCallers,
    config::{ConfigError, Env},
};

/// The gRPC port daprd calls (`dapr run` sets it).
pub const ENV_APP_PORT: &str = "APP_PORT";
/// Default for [`ENV_APP_PORT`].
pub const DEFAULT_APP_PORT: u16 = 7001;
/// The admin port: `/metrics`, `/healthz`, `/readyz`.
pub const ENV_ADMIN_PORT: &str = "TODO_ADMIN_PORT";
/// Default for [`ENV_ADMIN_PORT`].
pub const DEFAULT_ADMIN_PORT: u16 = todo_telemetry::DEFAULT_ADMIN_PORT;
/// The Dapr state store holding the task buckets.
pub const ENV_STATE_STORE: &str = "TODO_STATE_STORE";
/// Default for [`ENV_STATE_STORE`].
pub const DEFAULT_STATE_STORE: &str = "statestore";
/// The app ids allowed to act for users, comma-separated.
pub const ENV_TRUSTED_CALLERS: &str = "TODO_TRUSTED_CALLERS";
/// Default for [`ENV_TRUSTED_CALLERS`].
pub const DEFAULT_TRUSTED_CALLERS: &str = "gateway,recurring";
/// The Dapr secret store holding the suite's keys.
pub const ENV_SECRET_STORE: &str = "TODO_SECRET_STORE";
/// Default for [`ENV_SECRET_STORE`].
pub const DEFAULT_SECRET_STORE: &str = "secretstore";
/// The secret (in that store) holding `page-token-key`.
pub const ENV_SECRET_NAME: &str = "TODO_SECRET_NAME";
/// Default for [`ENV_SECRET_NAME`].
pub const DEFAULT_SECRET_NAME: &str = "todo-suite";
/// How long in-flight calls may take to finish after SIGTERM.
pub const ENV_SHUTDOWN_GRACE_SECONDS: &str = "TODO_SHUTDOWN_GRACE_SECONDS";
/// Default for [`ENV_SHUTDOWN_GRACE_SECONDS`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// How long to keep serving after reporting not ready, so load balancers stop routing here
/// before the port closes (Kubernetes sets 5; 0 locally).
pub const ENV_SHUTDOWN_DELAY_SECONDS: &str = "TODO_SHUTDOWN_DELAY_SECONDS";
/// Default for [`ENV_SHUTDOWN_DELAY_SECONDS`].
pub const DEFAULT_SHUTDOWN_DELAY: Duration = Duration::ZERO;

/// todo-api's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the gRPC API listens (0.0.0.0, so daprd can reach it in a pod).
    pub app_address: SocketAddr,
    /// Where the admin endpoints listen.
    pub admin_address: SocketAddr,
    /// The sidecar and its tokens.
    pub dapr: DaprConfig,
    /// The state store of the task buckets.
    pub state_store: String,
    /// Who may act for users.
    pub trusted_callers: TrustedCallers,
    /// The secret store.
    pub secret_store: String,
    /// The secret with the page-token key.
    pub secret_name: String,
    /// The drain period.
    pub shutdown_grace: Duration,
    /// How long to keep serving after reporting not ready.
    pub shutdown_delay: Duration,
}

impl ServiceConfig for Config {
    fn app_address(&self) -> SocketAddr {
        self.app_address
    }

    fn admin_address(&self) -> SocketAddr {
        self.admin_address
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let trusted = env.text(ENV_TRUSTED_CALLERS, DEFAULT_TRUSTED_CALLERS);
        let trusted_callers = TrustedCallers::parse(&trusted).ok_or_else(|| ConfigError {
            variable: ENV_TRUSTED_CALLERS,
            value: trusted.clone(),
            reason: "names no app".into(),
        })?;
        Ok(Self {
            app_address: env.listen_address(ENV_APP_PORT, DEFAULT_APP_PORT)?,
            admin_address: env.listen_address(ENV_ADMIN_PORT, DEFAULT_ADMIN_PORT)?,
            dapr: DaprConfig::from_lookup(env.lookup())?,
            state_store: env.text(ENV_STATE_STORE, DEFAULT_STATE_STORE),
            trusted_callers,
            secret_store: env.text(ENV_SECRET_STORE, DEFAULT_SECRET_STORE),
            secret_name: env.text(ENV_SECRET_NAME, DEFAULT_SECRET_NAME),
            shutdown_grace: env.seconds(ENV_SHUTDOWN_GRACE_SECONDS, DEFAULT_SHUTDOWN_GRACE)?,
            shutdown_delay: env
                .seconds_or_zero(ENV_SHUTDOWN_DELAY_SECONDS, DEFAULT_SHUTDOWN_DELAY)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<_, _> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_work_under_localdapr() {
        let config = config(&[]).unwrap();
        assert_eq!(config.app_address.port(), DEFAULT_APP_PORT);
        assert_eq!(config.admin_address.port(), 9464);
        assert_eq!(config.state_store, "statestore");
        assert_eq!(config.trusted_callers.app_ids(), ["gateway", "recurring"]);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases = [
            (ENV_APP_PORT, "http"),
            (ENV_ADMIN_PORT, "99999"),
            (ENV_TRUSTED_CALLERS, ","),
            (ENV_SHUTDOWN_GRACE_SECONDS, "soon"),
        ];
        for (variable, value) in cases {
            let error = config(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable, "case {variable}");
        }
    }
}
