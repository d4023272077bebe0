//! Every knob of audit, read from the environment once and validated before anything binds.
//! The database's connection string is not here: it is a secret (see [`crate::server`]).

use dapr_kit::{
    CallerRole, ServiceConfig, ServiceSettings, TrustedCallers,
    config::{ConfigError, Env},
    service_main::{DEFAULT_SECRET_NAME, DEFAULT_SECRET_STORE, ENV_SECRET_NAME, ENV_SECRET_STORE},
};

/// Default for [`dapr_kit::service_main::ENV_APP_PORT`], the gRPC port daprd calls.
pub const DEFAULT_APP_PORT: u16 = 7004;
/// The callers audit believes for users: the gateway only (its app id from
/// `TODO_GATEWAY_APP_ID`; see [`dapr_kit::caller`]).
pub const TRUSTED_ROLES: [CallerRole; 1] = [CallerRole::Gateway];
/// The pub/sub component audit subscribes through.
pub const ENV_PUBSUB_NAME: &str = "TODO_PUBSUB_NAME";
/// Default for [`ENV_PUBSUB_NAME`].
pub const DEFAULT_PUBSUB_NAME: &str = "pubsub";
/// The most connections the database pool opens.
pub const ENV_DATABASE_MAX_CONNECTIONS: &str = "TODO_AUDIT_DATABASE_MAX_CONNECTIONS";
/// Default for [`ENV_DATABASE_MAX_CONNECTIONS`].
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 8;

/// audit's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Ports, sidecar and drain, as every service reads them.
    pub settings: ServiceSettings,
    /// Who may act for users, believed only on calls carrying the app token.
    pub trusted_callers: TrustedCallers,
    /// The secret store.
    pub secret_store: String,
    /// The secret with `audit-database-url` and `page-token-key`.
    pub secret_name: String,
    /// The pub/sub component carrying `task-events`.
    pub pubsub_name: String,
    /// The size of the database pool; events and history reads share it.
    pub database_max_connections: u32,
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
            trusted_callers,
            secret_store: env.text(ENV_SECRET_STORE, DEFAULT_SECRET_STORE),
            secret_name: env.text(ENV_SECRET_NAME, DEFAULT_SECRET_NAME),
            pubsub_name: env.text(ENV_PUBSUB_NAME, DEFAULT_PUBSUB_NAME),
            database_max_connections: env.count(
                ENV_DATABASE_MAX_CONNECTIONS,
                DEFAULT_DATABASE_MAX_CONNECTIONS,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use dapr_kit::{caller::ENV_ALLOW_INSECURE_NO_APP_TOKEN, config::ENV_APP_API_TOKEN};

    use super::*;

    /// Reads a configuration from `vars`, plus the app token `localdapr run` always gives.
    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_run_vars(vars)
    }

    #[test]
    fn defaults_work_under_localdapr_and_trust_only_the_gateway() {
        let config = config(&[]).unwrap();
        assert_eq!(config.settings.app_address.port(), DEFAULT_APP_PORT);
        assert_eq!(
            config.trusted_callers.apps(),
            [(CallerRole::Gateway, "gateway".to_string())]
        );
        assert_eq!(config.pubsub_name, "pubsub");
        assert_eq!(config.secret_name, "todo-suite");
        assert_eq!(config.database_max_connections, 8);
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
        for value in ["0", "many", "-1"] {
            let error = config(&[(ENV_DATABASE_MAX_CONNECTIONS, value)]).unwrap_err();
            assert_eq!(error.variable, ENV_DATABASE_MAX_CONNECTIONS, "case {value}");
        }
    }
}
