//! Every knob of recurring, read from the environment once and validated before anything binds.

use dapr_kit::{
    ServiceConfig, ServiceSettings, TrustedCallers,
    config::{ConfigError, Env},
};

/// Default for [`dapr_kit::service_main::ENV_APP_PORT`], the gRPC port daprd calls.
pub const DEFAULT_APP_PORT: u16 = 7002;
/// The pub/sub component `task-events` is read from.
pub const ENV_PUBSUB: &str = "TODO_PUBSUB";
/// Default for [`ENV_PUBSUB`].
pub const DEFAULT_PUBSUB: &str = "pubsub";
/// The app id of todo-api, which creates the occurrences (the gateway reads the same variable).
pub const ENV_TASKS_APP_ID: &str = "TODO_TASKS_APP_ID";
/// Default for [`ENV_TASKS_APP_ID`].
pub const DEFAULT_TASKS_APP_ID: &str = "todo-api";
/// The topic of task events.
pub const TASK_EVENTS_TOPIC: &str = "task-events";
/// Where events recurring drops, or gives up on, go.
pub const TASK_EVENTS_DEAD_LETTER_TOPIC: &str = "task-events-dlq";

/// recurring's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Ports, sidecar and drain, as every service reads them.
    pub settings: ServiceSettings,
    /// The pub/sub component of [`TASK_EVENTS_TOPIC`].
    pub pubsub: String,
    /// The app id occurrences are created through.
    pub tasks_app_id: String,
    /// Events name the user recurring acts for: they are believed only when the sidecar
    /// delivered them with the app token. Trusts no caller role; it serves no user API.
    pub event_trust: TrustedCallers,
}

impl ServiceConfig for Config {
    fn settings(&self) -> &ServiceSettings {
        &self.settings
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let settings = ServiceSettings::read(&env, DEFAULT_APP_PORT)?;
        let event_trust = TrustedCallers::read(&env, &[], settings.dapr.app_api_token.as_ref())?;
        Ok(Self {
            settings,
            pubsub: env.text(ENV_PUBSUB, DEFAULT_PUBSUB),
            tasks_app_id: env.text(ENV_TASKS_APP_ID, DEFAULT_TASKS_APP_ID),
            event_trust,
        })
    }
}

#[cfg(test)]
mod tests {
    use dapr_kit::{
        caller::ENV_ALLOW_INSECURE_NO_APP_TOKEN,
        config::ENV_APP_API_TOKEN,
        service_main::{ENV_ADMIN_PORT, ENV_APP_PORT},
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
        assert_eq!(config.pubsub, "pubsub");
        assert_eq!(config.tasks_app_id, "todo-api");
        assert!(config.event_trust.apps().is_empty());
        assert!(!config.event_trust.accepts_unverified_calls());
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
        assert!(insecure.event_trust.accepts_unverified_calls());
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases = [
            (ENV_APP_PORT, "http"),
            (ENV_ADMIN_PORT, "99999"),
            (ENV_ALLOW_INSECURE_NO_APP_TOKEN, "perhaps"),
        ];
        for (variable, value) in cases {
            let error = config(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable, "case {variable}");
        }
    }
}
