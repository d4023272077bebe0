//! Every knob of todo-api, read from the environment once and validated before anything binds.

use dapr_kit::{
    CallerRole, ServiceConfig, ServiceSettings, TrustedCallers,
    config::{ConfigError, Env},
    service_main::{
        DEFAULT_SECRET_NAME, DEFAULT_SECRET_STORE, DEFAULT_STATE_STORE, ENV_SECRET_NAME,
        ENV_SECRET_STORE, ENV_STATE_STORE,
    },
};

/// Default for [`dapr_kit::service_main::ENV_APP_PORT`], the gRPC port daprd calls.
pub const DEFAULT_APP_PORT: u16 = 7001;
/// The callers todo-api believes: the gateway for users, recurring for series' owners. Their
/// app ids come from `TODO_GATEWAY_APP_ID` and `TODO_RECURRING_APP_ID` (see [`dapr_kit::caller`]).
pub const TRUSTED_ROLES: [CallerRole; 2] = [CallerRole::Gateway, CallerRole::Recurring];

/// todo-api's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Ports, sidecar and drain, as every service reads them.
    pub settings: ServiceSettings,
    /// The state store of the task buckets.
    pub state_store: String,
    /// Who may act for users, believed only on calls carrying the app token.
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
        let settings = ServiceSettings::read(&env, DEFAULT_APP_PORT)?;
        let trusted_callers =
            TrustedCallers::read(&env, &TRUSTED_ROLES, settings.dapr.app_api_token.as_ref())?;
        Ok(Self {
            settings,
            state_store: env.text(ENV_STATE_STORE, DEFAULT_STATE_STORE),
            trusted_callers,
            secret_store: env.text(ENV_SECRET_STORE, DEFAULT_SECRET_STORE),
            secret_name: env.text(ENV_SECRET_NAME, DEFAULT_SECRET_NAME),
        })
    }
}

#[cfg(test)]
mod tests {
    use dapr_kit::{
        caller::ENV_ALLOW_INSECURE_NO_APP_TOKEN,
        config::ENV_APP_API_TOKEN,
        service_main::{ENV_ADMIN_PORT, ENV_APP_PORT, ENV_SHUTDOWN_GRACE_SECONDS},
    };

    use super::*;

    /// Reads a configuration from `vars`, plus the app token `localdapr run` always gives.
    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_run_vars(vars)
    }

    #[test]
    fn defaults_work_under_localdapr() {
        let config = config(&[]).unwrap();
        assert_eq!(config.settings.app_address.port(), DEFAULT_APP_PORT);
        assert_eq!(config.settings.admin_address.port(), 9464);
        assert_eq!(config.state_store, "statestore");
        assert_eq!(
            config.trusted_callers.apps(),
            [
                (CallerRole::Gateway, "gateway".to_string()),
                (CallerRole::Recurring, "recurring".to_string())
            ]
        );
        assert!(!config.trusted_callers.accepts_unverified_calls());
    }

    #[test]
    fn without_an_app_token_it_refuses_to_start_unless_insecure_is_asked_for() {
        let refused = config(&[(ENV_APP_API_TOKEN, "")]).unwrap_err();
        assert_eq!(refused.variable, ENV_APP_API_TOKEN);
        let insecure = config(&[
            (ENV_APP_API_TOKEN, ""),
            (ENV_ALLOW_INSECURE_NO_APP_TOKEN, "true"),
        ])
        .unwrap();
        assert!(insecure.trusted_callers.accepts_unverified_calls());
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases = [
            (ENV_APP_PORT, "http"),
            (ENV_ADMIN_PORT, "99999"),
            (ENV_ALLOW_INSECURE_NO_APP_TOKEN, "perhaps"),
            (ENV_SHUTDOWN_GRACE_SECONDS, "soon"),
        ];
        for (variable, value) in cases {
            let error = config(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable, "case {variable}");
        }
    }
}
