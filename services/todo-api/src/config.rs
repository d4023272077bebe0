//! Every knob of todo-api, read from the environment once and validated before anything binds.

use dapr_kit::{
    ServiceConfig, ServiceSettings, TrustedCallers,
    config::{ConfigError, Env},
    service_main::{
        DEFAULT_SECRET_NAME, DEFAULT_SECRET_STORE, DEFAULT_STATE_STORE, ENV_SECRET_NAME,
        ENV_SECRET_STORE, ENV_STATE_STORE,
    },
};

/// Default for [`dapr_kit::service_main::ENV_APP_PORT`], the gRPC port daprd calls.
pub const DEFAULT_APP_PORT: u16 = 7001;
/// The app ids allowed to act for users, comma-separated.
pub const ENV_TRUSTED_CALLERS: &str = "TODO_TRUSTED_CALLERS";
/// Default for [`ENV_TRUSTED_CALLERS`].
pub const DEFAULT_TRUSTED_CALLERS: &str = "gateway,recurring";

/// todo-api's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Ports, sidecar and drain, as every service reads them.
    pub settings: ServiceSettings,
    /// The state store of the task buckets.
    pub state_store: String,
    /// Who may act for users.
    pub trusted_callers: TrustedCallers,
    /// The secret store.
    pub secret_store: String,
    /// The secret with `page-token-key`.
    pub secret_name: String,
}

impl ServiceConfig for Config {
    fn settings(&self) -> &ServiceSettings {
        &self.settings
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
            settings: ServiceSettings::read(&env, DEFAULT_APP_PORT)?,
            state_store: env.text(ENV_STATE_STORE, DEFAULT_STATE_STORE),
            trusted_callers,
            secret_store: env.text(ENV_SECRET_STORE, DEFAULT_SECRET_STORE),
            secret_name: env.text(ENV_SECRET_NAME, DEFAULT_SECRET_NAME),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use dapr_kit::service_main::{ENV_ADMIN_PORT, ENV_APP_PORT, ENV_SHUTDOWN_GRACE_SECONDS};

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
        assert_eq!(config.settings.app_address.port(), DEFAULT_APP_PORT);
        assert_eq!(config.settings.admin_address.port(), 9464);
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
