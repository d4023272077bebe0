//! Every knob of the gateway, read from the environment once and validated before anything
//! binds. The signing key is not here: it comes from the Dapr secret store at startup.

use std::{path::PathBuf, time::Duration};

use dapr_kit::{
    ServiceConfig, ServiceSettings,
    config::{ConfigError, Env},
    service_main::{
        DEFAULT_APP_STATE_STORE, DEFAULT_SECRET_NAME, DEFAULT_SECRET_STORE, ENV_SECRET_NAME,
        ENV_SECRET_STORE, ENV_STATE_STORE,
    },
};
use http::HeaderValue;

use crate::auth::SignInLimits;

/// Default for [`dapr_kit::service_main::ENV_APP_PORT`], the public port: gRPC, gRPC-web, reflection, health, `/healthz`
/// and the frontend.
pub const DEFAULT_APP_PORT: u16 = 8080;
/// The directory of the built frontend.
pub const ENV_FRONTEND_DIR: &str = "TODO_FRONTEND_DIR";
/// Default for [`ENV_FRONTEND_DIR`], relative to the working directory.
pub const DEFAULT_FRONTEND_DIR: &str = "frontend/dist";
/// The browser origins allowed to call the API cross-origin, comma-separated.
pub const ENV_CORS_ORIGINS: &str = "TODO_CORS_ORIGINS";
/// Default for [`ENV_CORS_ORIGINS`]: none, so no CORS headers at all.
pub const DEFAULT_CORS_ORIGINS: &str = "";
/// How long an access token is valid.
pub const ENV_ACCESS_TOKEN_TTL_SECONDS: &str = "TODO_ACCESS_TOKEN_TTL_SECONDS";
/// Default for [`ENV_ACCESS_TOKEN_TTL_SECONDS`]: one hour.
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// How long a refresh token is valid.
pub const ENV_REFRESH_TOKEN_TTL_SECONDS: &str = "TODO_REFRESH_TOKEN_TTL_SECONDS";
/// Default for [`ENV_REFRESH_TOKEN_TTL_SECONDS`]: 30 days.
pub const DEFAULT_REFRESH_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long after a rotation a refresh token may be presented again without ending its session
/// (a client retrying after a lost reply); 0 treats every second presentation as theft.
pub const ENV_REFRESH_REUSE_GRACE_SECONDS: &str = "TODO_REFRESH_REUSE_GRACE_SECONDS";
/// Default for [`ENV_REFRESH_REUSE_GRACE_SECONDS`].
pub const DEFAULT_REFRESH_REUSE_GRACE: Duration = Duration::from_secs(30);
/// Whether the client address comes from `X-Forwarded-For` (only behind a proxy that sets it).
pub const ENV_TRUST_FORWARDED_FOR: &str = "TODO_TRUST_FORWARDED_FOR";
/// Default for [`ENV_TRUST_FORWARDED_FOR`].
pub const DEFAULT_TRUST_FORWARDED_FOR: bool = false;
/// Failed sign-ins per email address within the window before sign-ins are refused.
pub const ENV_SIGN_IN_FAILURES_PER_EMAIL: &str = "TODO_SIGN_IN_FAILURES_PER_EMAIL";
/// Default for [`ENV_SIGN_IN_FAILURES_PER_EMAIL`].
pub const DEFAULT_SIGN_IN_FAILURES_PER_EMAIL: u32 = 5;
/// Failed sign-ins per client address within the window before sign-ins are refused.
pub const ENV_SIGN_IN_FAILURES_PER_ADDRESS: &str = "TODO_SIGN_IN_FAILURES_PER_ADDRESS";
/// Default for [`ENV_SIGN_IN_FAILURES_PER_ADDRESS`].
pub const DEFAULT_SIGN_IN_FAILURES_PER_ADDRESS: u32 = 20;
/// How many sign-ups one client address may make per window.
pub const ENV_SIGN_UPS_PER_ADDRESS: &str = "TODO_SIGN_UPS_PER_ADDRESS";
/// Default for [`ENV_SIGN_UPS_PER_ADDRESS`].
pub const DEFAULT_SIGN_UPS_PER_ADDRESS: u32 = 10;
/// The window the sign-in failures are counted in.
pub const ENV_SIGN_IN_WINDOW_SECONDS: &str = "TODO_SIGN_IN_WINDOW_SECONDS";
/// Default for [`ENV_SIGN_IN_WINDOW_SECONDS`]: 15 minutes.
pub const DEFAULT_SIGN_IN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The longest deadline a forwarded unary call gets (and the deadline when the client set none).
pub const ENV_FORWARD_DEADLINE_SECONDS: &str = "TODO_FORWARD_DEADLINE_SECONDS";
/// Default for [`ENV_FORWARD_DEADLINE_SECONDS`].
pub const DEFAULT_FORWARD_DEADLINE: Duration = Duration::from_secs(30);
/// The Dapr app id of todo-api (TaskService).
pub const ENV_TASKS_APP_ID: &str = "TODO_TASKS_APP_ID";
/// Default for [`ENV_TASKS_APP_ID`].
pub const DEFAULT_TASKS_APP_ID: &str = "todo-api";
/// The Dapr app id of audit (AuditService).
pub const ENV_AUDIT_APP_ID: &str = "TODO_AUDIT_APP_ID";
/// Default for [`ENV_AUDIT_APP_ID`].
pub const DEFAULT_AUDIT_APP_ID: &str = "audit";
/// The Dapr app id of notification (NotificationService).
pub const ENV_NOTIFICATION_APP_ID: &str = "TODO_NOTIFICATION_APP_ID";
/// Default for [`ENV_NOTIFICATION_APP_ID`].
pub const DEFAULT_NOTIFICATION_APP_ID: &str = "notification";
/// The Dapr app id of sync (SyncService).
pub const ENV_SYNC_APP_ID: &str = "TODO_SYNC_APP_ID";
/// Default for [`ENV_SYNC_APP_ID`].
pub const DEFAULT_SYNC_APP_ID: &str = "sync";
/// The Dapr app ids the gateway forwards to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamApps {
    /// todo-api, serving `TaskService`.
    pub tasks: String,
    /// audit, serving `AuditService`.
    pub audit: String,
    /// notification, serving `NotificationService`.
    pub notification: String,
    /// sync, serving `SyncService`.
    pub sync: String,
}

/// The gateway's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Ports, sidecar and drain, as every service reads them.
    pub settings: ServiceSettings,
    /// The state store of accounts and refresh tokens.
    pub state_store: String,
    /// The secret store.
    pub secret_store: String,
    /// The secret with the JWT signing key.
    pub secret_name: String,
    /// The built frontend, served on every path that is not an API.
    pub frontend_dir: PathBuf,
    /// The origins that get CORS headers; empty means none.
    pub cors_origins: Vec<HeaderValue>,
    /// The lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// The lifetime of refresh tokens (each rotation starts a new one).
    pub refresh_token_ttl: Duration,
    /// How long a just-rotated refresh token may be presented again without ending its session.
    pub refresh_reuse_grace: Duration,
    /// Whether the client address is read from `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    /// The sign-in rate limits.
    pub sign_in_limits: SignInLimits,
    /// The cap on (and default of) a forwarded unary call's deadline.
    pub forward_deadline: Duration,
    /// Where forwarded calls go.
    pub upstreams: UpstreamApps,
}

impl ServiceConfig for Config {
    fn settings(&self) -> &ServiceSettings {
        &self.settings
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(lookup);
        let text = |name: &str, default: &str| env.text(name, default);
        let seconds = |variable, default| env.seconds(variable, default);
        let count = |variable, default| env.count(variable, default);
        Ok(Self {
            settings: ServiceSettings::read(&env, DEFAULT_APP_PORT)?,
            state_store: text(ENV_STATE_STORE, DEFAULT_APP_STATE_STORE),
            secret_store: text(ENV_SECRET_STORE, DEFAULT_SECRET_STORE),
            secret_name: text(ENV_SECRET_NAME, DEFAULT_SECRET_NAME),
            frontend_dir: PathBuf::from(text(ENV_FRONTEND_DIR, DEFAULT_FRONTEND_DIR)),
            cors_origins: cors_origins(&text(ENV_CORS_ORIGINS, DEFAULT_CORS_ORIGINS))?,
            access_token_ttl: seconds(ENV_ACCESS_TOKEN_TTL_SECONDS, DEFAULT_ACCESS_TOKEN_TTL)?,
            refresh_token_ttl: seconds(ENV_REFRESH_TOKEN_TTL_SECONDS, DEFAULT_REFRESH_TOKEN_TTL)?,
            refresh_reuse_grace: env
                .seconds_or_zero(ENV_REFRESH_REUSE_GRACE_SECONDS, DEFAULT_REFRESH_REUSE_GRACE)?,
            trust_forwarded_for: env.flag(ENV_TRUST_FORWARDED_FOR, DEFAULT_TRUST_FORWARDED_FOR)?,
            sign_in_limits: SignInLimits {
                failures_per_email: count(
                    ENV_SIGN_IN_FAILURES_PER_EMAIL,
                    DEFAULT_SIGN_IN_FAILURES_PER_EMAIL,
                )?,
                failures_per_address: count(
                    ENV_SIGN_IN_FAILURES_PER_ADDRESS,
                    DEFAULT_SIGN_IN_FAILURES_PER_ADDRESS,
                )?,
                sign_ups_per_address: count(
                    ENV_SIGN_UPS_PER_ADDRESS,
                    DEFAULT_SIGN_UPS_PER_ADDRESS,
                )?,
                window: seconds(ENV_SIGN_IN_WINDOW_SECONDS, DEFAULT_SIGN_IN_WINDOW)?,
            },
            forward_deadline: seconds(ENV_FORWARD_DEADLINE_SECONDS, DEFAULT_FORWARD_DEADLINE)?,
            upstreams: UpstreamApps {
                tasks: text(ENV_TASKS_APP_ID, DEFAULT_TASKS_APP_ID),
                audit: text(ENV_AUDIT_APP_ID, DEFAULT_AUDIT_APP_ID),
                notification: text(ENV_NOTIFICATION_APP_ID, DEFAULT_NOTIFICATION_APP_ID),
                sync: text(ENV_SYNC_APP_ID, DEFAULT_SYNC_APP_ID),
            },
        })
    }
}

/// Parses `https://app.example.com, http://localhost:5173` into exact origins. A wildcard is
/// refused: the API is only for the suite's own frontends.
fn cors_origins(list: &str) -> Result<Vec<HeaderValue>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let invalid = |reason: &str| ConfigError {
                variable: ENV_CORS_ORIGINS,
                value: list.to_string(),
                reason: format!("{origin}: {reason}"),
            };
            let origin = origin.trim_end_matches('/');
            let uri: http::Uri = origin
                .parse()
                .map_err(|_| invalid("expected scheme://host[:port]"))?;
            let is_bare_origin = matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.host().is_some()
                && uri.path_and_query().is_none_or(|p| p.as_str() == "/");
            if !is_bare_origin {
                return Err(invalid(
                    "expected scheme://host[:port] with http or https and no path",
                ));
            }
            HeaderValue::from_str(origin).map_err(|_| invalid("not a valid header value"))
        })
        .collect()
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
        assert_eq!(config.settings.app_address.port(), 8080);
        assert_eq!(config.settings.admin_address.port(), 9464);
        assert_eq!(config.state_store, "appstate");
        assert_eq!(config.secret_store, "secretstore");
        assert_eq!(config.secret_name, "todo-suite");
        assert_eq!(config.frontend_dir, PathBuf::from("frontend/dist"));
        assert!(config.cors_origins.is_empty());
        assert_eq!(config.access_token_ttl, Duration::from_secs(3600));
        assert_eq!(config.refresh_token_ttl, Duration::from_secs(2_592_000));
        assert!(!config.trust_forwarded_for);
        assert_eq!(config.upstreams.tasks, "todo-api");
        assert_eq!(config.sign_in_limits.failures_per_email, 5);
        assert_eq!(config.sign_in_limits.failures_per_address, 20);
    }

    #[test]
    fn cors_origins_are_exact_origins() {
        let config = config(&[(
            ENV_CORS_ORIGINS,
            "https://app.example.com, http://localhost:5173/",
        )])
        .unwrap();
        assert_eq!(
            config.cors_origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases = [
            (ENV_APP_PORT, "http"),
            (ENV_ADMIN_PORT, "99999"),
            (ENV_CORS_ORIGINS, "*"),
            (ENV_CORS_ORIGINS, "https://ok.example, ftp://files.example"),
            (ENV_CORS_ORIGINS, "https://app.example/path"),
            (ENV_ACCESS_TOKEN_TTL_SECONDS, "0"),
            (ENV_REFRESH_TOKEN_TTL_SECONDS, "a month"),
            (ENV_TRUST_FORWARDED_FOR, "maybe"),
            (ENV_SIGN_IN_FAILURES_PER_EMAIL, "0"),
            (ENV_SIGN_IN_WINDOW_SECONDS, "-1"),
            (ENV_FORWARD_DEADLINE_SECONDS, "soon"),
            (ENV_SHUTDOWN_GRACE_SECONDS, "soon"),
        ];
        for (variable, value) in cases {
            let error = config(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable, "case {variable}={value}");
            assert!(error.to_string().contains(variable), "case {variable}");
        }
    }
}
