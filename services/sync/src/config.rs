//! Every knob of sync, read from the environment once and validated before anything binds.

use std::time::Duration;

use dapr_kit::{
    CallerRole, ServiceConfig, ServiceSettings, TrustedCallers,
    config::{ConfigError, Env},
};

/// Default for [`dapr_kit::service_main::ENV_APP_PORT`], the gRPC port daprd calls.
pub const DEFAULT_APP_PORT: u16 = 7005;
/// The callers sync believes: the gateway, for the user whose token it verified.
pub const TRUSTED_ROLES: [CallerRole; 1] = [CallerRole::Gateway];

/// The pub/sub component sync reads events through: one whose consumer group is per instance
/// (`consumerID: "{podName}"`), so that every replica gets every event.
pub const ENV_PUBSUB: &str = "TODO_SYNC_PUBSUB";
/// Default for [`ENV_PUBSUB`]: `dapr-components/local/pubsub-sync.yaml`.
pub const DEFAULT_PUBSUB: &str = "pubsub-sync";
/// How many items a user's watches may be behind the newest before a watch must resync.
pub const ENV_BUFFER_EVENTS: &str = "TODO_SYNC_BUFFER_EVENTS";
/// Default for [`ENV_BUFFER_EVENTS`].
pub const DEFAULT_BUFFER_EVENTS: u32 = 256;
/// How long a watch may be idle before it gets a heartbeat.
pub const ENV_HEARTBEAT_SECONDS: &str = "TODO_SYNC_HEARTBEAT_SECONDS";
/// Default for [`ENV_HEARTBEAT_SECONDS`]: well under the idle timeouts of proxies and browsers.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);
/// The largest [`ENV_BUFFER_EVENTS`]: each slot may hold an event with two task snapshots.
pub const MAX_BUFFER_EVENTS: u32 = 65_536;

/// sync's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Ports, sidecar and drain, as every service reads them.
    pub settings: ServiceSettings,
    /// Who may watch for users, believed only on calls carrying the app token.
    pub trusted_callers: TrustedCallers,
    /// The pub/sub component of the subscriptions.
    pub pubsub: String,
    /// The per-user buffer, in items.
    pub buffer_events: usize,
    /// The heartbeat period of an idle watch.
    pub heartbeat: Duration,
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
        let buffer_events = env.count(ENV_BUFFER_EVENTS, DEFAULT_BUFFER_EVENTS)?;
        if buffer_events > MAX_BUFFER_EVENTS {
            return Err(ConfigError {
                variable: ENV_BUFFER_EVENTS,
                value: buffer_events.to_string(),
                reason: format!("at most {MAX_BUFFER_EVENTS}"),
            });
        }
        Ok(Self {
            settings,
            trusted_callers,
            pubsub: env.text(ENV_PUBSUB, DEFAULT_PUBSUB),
            buffer_events: usize::try_from(buffer_events).unwrap_or(usize::MAX),
            heartbeat: env.seconds(ENV_HEARTBEAT_SECONDS, DEFAULT_HEARTBEAT)?,
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
    fn defaults_work_under_localdapr() {
        let config = config(&[]).unwrap();
        assert_eq!(config.settings.app_address.port(), DEFAULT_APP_PORT);
        assert_eq!(config.pubsub, "pubsub-sync");
        assert_eq!(config.buffer_events, 256);
        assert_eq!(config.heartbeat, Duration::from_secs(15));
        assert_eq!(
            config.trusted_callers.apps(),
            [(CallerRole::Gateway, "gateway".to_string())]
        );
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
            (ENV_BUFFER_EVENTS, "0"),
            (ENV_BUFFER_EVENTS, "1000000"),
            (ENV_BUFFER_EVENTS, "many"),
            (ENV_HEARTBEAT_SECONDS, "0"),
        ];
        for (variable, value) in cases {
            let error = config(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable, "case {variable}={value}");
        }
    }
}
