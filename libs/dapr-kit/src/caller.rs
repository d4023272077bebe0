//! Who is calling: the Dapr app that made the call (`dapr-caller-app-id`, set by the caller's
//! sidecar in proxy mode, reference §6), the [`CallerRole`] that app plays, and the user it acts
//! for (`todo-user-id`, set by the gateway after it verified a token, or by a service acting for
//! a user).
//!
//! Those headers are only as good as the path the call took: anyone who reaches the app port
//! can write them. So they are believed only on calls that carried the app API token, which
//! only the app's own sidecar holds (the app runner's token check marks such calls
//! [`CallOrigin::Sidecar`]); a service that trusts them refuses to start without that token,
//! unless [`ENV_ALLOW_INSECURE_NO_APP_TOKEN`] says otherwise for development. Calls from apps
//! that play no trusted role are `PermissionDenied`, whatever user id they send.

use tonic::{Request, Status, metadata::MetadataMap};

use crate::config::{ConfigError, ENV_APP_API_TOKEN, Env};

/// The metadata key with the verified user id.
pub const USER_ID_HEADER: &str = "todo-user-id";
/// The metadata key daprd sets to the calling app's id.
pub const CALLER_APP_ID_HEADER: &str = "dapr-caller-app-id";
/// Development only: `true` lets a service that trusts caller identity run without
/// `APP_API_TOKEN`, believing caller headers from anyone who reaches its port. Logged loudly.
pub const ENV_ALLOW_INSECURE_NO_APP_TOKEN: &str = "TODO_ALLOW_INSECURE_NO_APP_TOKEN";
/// The Dapr app id of the gateway, whose calls act for a user.
pub const ENV_GATEWAY_APP_ID: &str = "TODO_GATEWAY_APP_ID";
/// Default for [`ENV_GATEWAY_APP_ID`].
pub const DEFAULT_GATEWAY_APP_ID: &str = "gateway";
/// The Dapr app id of recurring, whose calls continue a user's recurring series.
pub const ENV_RECURRING_APP_ID: &str = "TODO_RECURRING_APP_ID";
/// Default for [`ENV_RECURRING_APP_ID`].
pub const DEFAULT_RECURRING_APP_ID: &str = "recurring";

/// What the app-token check found on a call; the app runner puts it on every request it lets
/// through, and [`TrustedCallers::authorize`] reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOrigin {
    /// The call carried the app API token, so it came from the app's sidecar, which writes
    /// `dapr-caller-app-id` itself.
    Sidecar,
    /// No app token is configured, so nothing vouches for the call's headers.
    Unverified,
}

/// A part a trusted app plays toward the services it calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallerRole {
    /// The edge: acts for the user whose access token it verified, so a change is the user's.
    Gateway,
    /// Continues a user's recurring series: creates the next occurrence, as a service.
    Recurring,
}

impl CallerRole {
    /// The variable naming the app id that plays this role.
    pub const fn app_id_variable(self) -> &'static str {
        match self {
            Self::Gateway => ENV_GATEWAY_APP_ID,
            Self::Recurring => ENV_RECURRING_APP_ID,
        }
    }

    /// The app id that plays this role unless its variable says otherwise.
    pub const fn default_app_id(self) -> &'static str {
        match self {
            Self::Gateway => DEFAULT_GATEWAY_APP_ID,
            Self::Recurring => DEFAULT_RECURRING_APP_ID,
        }
    }

    /// Whether a change made in this role is the user's own (else a service's for the user).
    pub const fn acts_as_the_user(self) -> bool {
        matches!(self, Self::Gateway)
    }

    /// Whether this role may continue a recurring series (create with a `series_id`).
    pub const fn may_continue_series(self) -> bool {
        matches!(self, Self::Recurring)
    }
}

/// A call's verified origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerUser {
    /// The user the call acts for.
    pub user_id: String,
    /// The part the calling app plays.
    pub role: CallerRole,
    /// The Dapr app that made the call (e.g. `gateway`, `recurring`).
    pub app_id: String,
}

/// The apps a service believes, each with its role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedCallers {
    apps: Vec<(CallerRole, String)>,
    accepts_unverified: bool,
}

impl TrustedCallers {
    /// Trusts exactly these apps, on calls that carried the app token.
    pub fn new<I, S>(apps: I) -> Self
    where
        I: IntoIterator<Item = (CallerRole, S)>,
        S: Into<String>,
    {
        Self {
            apps: apps.into_iter().map(|(r, id)| (r, id.into())).collect(),
            accepts_unverified: false,
        }
    }

    /// Trusts `roles`, each under the app id its variable names (by default the role's own),
    /// for a service whose sidecar sends `app_token`.
    ///
    /// # Errors
    /// When there is no app token and [`ENV_ALLOW_INSECURE_NO_APP_TOKEN`] is not `true`: the
    /// caller headers could then come from anyone who reaches the app port. Or when a variable
    /// is unusable.
    pub fn read<F: Fn(&str) -> Option<String>>(
        env: &Env<F>,
        roles: &[CallerRole],
        app_token: Option<&secrecy::SecretString>,
    ) -> Result<Self, ConfigError> {
        let allow_insecure = env.flag(ENV_ALLOW_INSECURE_NO_APP_TOKEN, false)?;
        if app_token.is_none() && !allow_insecure {
            return Err(ConfigError {
                variable: ENV_APP_API_TOKEN,
                value: String::new(),
                reason: format!(
                    "required: this service believes caller headers only on calls carrying it \
                     (localdapr run and the Helm chart set it); for development only, \
                     {ENV_ALLOW_INSECURE_NO_APP_TOKEN}=true runs without it, insecurely"
                ),
            });
        }
        let apps = roles
            .iter()
            .map(|role| {
                let app_id = env.text(role.app_id_variable(), role.default_app_id());
                (*role, app_id)
            })
            .collect();
        Ok(Self {
            apps,
            accepts_unverified: app_token.is_none(),
        })
    }

    /// Whether calls nothing vouches for are believed: no app token, and the insecure
    /// development override on.
    pub fn accepts_unverified_calls(&self) -> bool {
        self.accepts_unverified
    }

    /// The trusted apps and their roles.
    pub fn apps(&self) -> &[(CallerRole, String)] {
        &self.apps
    }

    /// Reads and checks the caller of a call.
    ///
    /// # Errors
    /// `Unauthenticated` when nothing vouches for the call (it did not pass the app-token
    /// check) or a trusted app sent no user id; `PermissionDenied` when the calling app is
    /// missing, repeated or not trusted, or the user id is repeated.
    pub fn authorize<T>(&self, request: &Request<T>) -> Result<CallerUser, Status> {
        match request.extensions().get::<CallOrigin>() {
            Some(CallOrigin::Sidecar) => {}
            Some(CallOrigin::Unverified) if self.accepts_unverified => {}
            origin => {
                tracing::warn!(?origin, "call not vouched for by the sidecar refused");
                return Err(Status::unauthenticated(
                    "the call did not come through this app's sidecar",
                ));
            }
        }
        self.identify(request.metadata())
    }

    fn identify(&self, metadata: &MetadataMap) -> Result<CallerUser, Status> {
        let untrusted =
            || Status::permission_denied("this service only accepts calls from trusted apps");
        let Ok(Some(app_id)) = only_value(metadata, CALLER_APP_ID_HEADER) else {
            tracing::warn!("call without exactly one caller app id refused");
            return Err(untrusted());
        };
        let Some(role) = self
            .apps
            .iter()
            .find(|(_, trusted)| trusted == app_id)
            .map(|(role, _)| *role)
        else {
            tracing::warn!(caller = app_id, "call from an untrusted app refused");
            return Err(untrusted());
        };
        let user_id = match only_value(metadata, USER_ID_HEADER) {
            Ok(Some(user_id)) if !user_id.is_empty() => user_id,
            Ok(_) => return Err(Status::unauthenticated("the call carries no user")),
            Err(()) => {
                return Err(Status::permission_denied(
                    "the call names more than one user",
                ));
            }
        };
        Ok(CallerUser {
            user_id: user_id.to_string(),
            role,
            app_id: app_id.to_string(),
        })
    }
}

/// The single value of `key`: `Ok(None)` when absent, `Err` when repeated or not text.
///
/// A repeated identity header means someone upstream added one of their own: a caller that
/// sends `dapr-caller-app-id: gateway` through a sidecar that appends the real id produces two
/// values, and trusting either would be a spoof.
fn only_value<'a>(metadata: &'a MetadataMap, key: &str) -> Result<Option<&'a str>, ()> {
    let mut values = metadata.get_all(key).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    first.to_str().map(Some).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::SecretString;

    use super::*;

    fn request(origin: Option<CallOrigin>, pairs: &[(&'static str, &str)]) -> Request<()> {
        let mut request = Request::new(());
        for (key, value) in pairs {
            request.metadata_mut().append(*key, value.parse().unwrap());
        }
        if let Some(origin) = origin {
            request.extensions_mut().insert(origin);
        }
        request
    }

    fn suite_callers() -> TrustedCallers {
        TrustedCallers::new([
            (CallerRole::Gateway, "gateway"),
            (CallerRole::Recurring, "recurring"),
        ])
    }

    #[test]
    fn only_trusted_apps_through_the_sidecar_may_name_a_user() {
        let trusted = suite_callers();
        let sidecar = Some(CallOrigin::Sidecar);
        let cases = [
            (
                "gateway with user",
                sidecar,
                vec![(CALLER_APP_ID_HEADER, "gateway"), (USER_ID_HEADER, "u1")],
                Ok(("u1", CallerRole::Gateway)),
            ),
            (
                "recurring with user",
                sidecar,
                vec![(CALLER_APP_ID_HEADER, "recurring"), (USER_ID_HEADER, "u2")],
                Ok(("u2", CallerRole::Recurring)),
            ),
            (
                "untrusted app",
                sidecar,
                vec![(CALLER_APP_ID_HEADER, "audit"), (USER_ID_HEADER, "u1")],
                Err(tonic::Code::PermissionDenied),
            ),
            (
                "no app",
                sidecar,
                vec![(USER_ID_HEADER, "u1")],
                Err(tonic::Code::PermissionDenied),
            ),
            (
                "trusted app, no user",
                sidecar,
                vec![(CALLER_APP_ID_HEADER, "gateway")],
                Err(tonic::Code::Unauthenticated),
            ),
            (
                "forged gateway headers without the app token",
                None,
                vec![(CALLER_APP_ID_HEADER, "gateway"), (USER_ID_HEADER, "u1")],
                Err(tonic::Code::Unauthenticated),
            ),
            (
                "unverified call to a service that requires verification",
                Some(CallOrigin::Unverified),
                vec![(CALLER_APP_ID_HEADER, "gateway"), (USER_ID_HEADER, "u1")],
                Err(tonic::Code::Unauthenticated),
            ),
            (
                "two caller app ids",
                sidecar,
                vec![
                    (CALLER_APP_ID_HEADER, "gateway"),
                    (CALLER_APP_ID_HEADER, "audit"),
                    (USER_ID_HEADER, "victim"),
                ],
                Err(tonic::Code::PermissionDenied),
            ),
            (
                "two users",
                sidecar,
                vec![
                    (CALLER_APP_ID_HEADER, "gateway"),
                    (USER_ID_HEADER, "a"),
                    (USER_ID_HEADER, "b"),
                ],
                Err(tonic::Code::PermissionDenied),
            ),
        ];
        for (case, origin, pairs, expected) in cases {
            let outcome = trusted.authorize(&request(origin, &pairs));
            let outcome = outcome
                .as_ref()
                .map(|c| (c.user_id.as_str(), c.role))
                .map_err(Status::code);
            assert_eq!(outcome, expected, "case: {case}");
        }
    }

    fn read(vars: &[(&str, &str)], app_token: Option<&str>) -> Result<TrustedCallers, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = Env::new(|name: &str| vars.get(name).cloned());
        let token = app_token.map(SecretString::from);
        TrustedCallers::read(
            &env,
            &[CallerRole::Gateway, CallerRole::Recurring],
            token.as_ref(),
        )
    }

    #[test]
    fn without_an_app_token_only_the_insecure_override_lets_a_service_start() {
        let refused = read(&[], None).unwrap_err();
        assert_eq!(refused.variable, ENV_APP_API_TOKEN);
        assert!(
            refused
                .to_string()
                .contains(ENV_ALLOW_INSECURE_NO_APP_TOKEN),
            "the error names the override: {refused}"
        );
        let insecure = read(&[(ENV_ALLOW_INSECURE_NO_APP_TOKEN, "true")], None).unwrap();
        assert!(insecure.accepts_unverified_calls());
        let forged = request(
            Some(CallOrigin::Unverified),
            &[(CALLER_APP_ID_HEADER, "gateway"), (USER_ID_HEADER, "u1")],
        );
        assert_eq!(
            insecure.authorize(&forged).unwrap().role,
            CallerRole::Gateway,
            "what the override means: headers are believed from anyone"
        );
        let secure = read(&[(ENV_ALLOW_INSECURE_NO_APP_TOKEN, "true")], Some("t")).unwrap();
        assert!(
            !secure.accepts_unverified_calls(),
            "with a token the override changes nothing"
        );
        assert_eq!(
            read(&[(ENV_ALLOW_INSECURE_NO_APP_TOKEN, "maybe")], None)
                .unwrap_err()
                .variable,
            ENV_ALLOW_INSECURE_NO_APP_TOKEN
        );
    }

    #[test]
    fn roles_are_played_by_the_app_ids_their_variables_name() {
        let trusted = read(&[(ENV_GATEWAY_APP_ID, "edge")], Some("t")).unwrap();
        assert_eq!(
            trusted.apps(),
            [
                (CallerRole::Gateway, "edge".to_string()),
                (CallerRole::Recurring, "recurring".to_string())
            ]
        );
        let as_edge = request(
            Some(CallOrigin::Sidecar),
            &[(CALLER_APP_ID_HEADER, "edge"), (USER_ID_HEADER, "u1")],
        );
        assert_eq!(
            trusted.authorize(&as_edge).unwrap().role,
            CallerRole::Gateway
        );
        let as_gateway = request(
            Some(CallOrigin::Sidecar),
            &[(CALLER_APP_ID_HEADER, "gateway"), (USER_ID_HEADER, "u1")],
        );
        assert_eq!(
            trusted.authorize(&as_gateway).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
    }

    #[test]
    fn only_the_gateway_acts_as_the_user_and_only_recurring_continues_series() {
        assert_eq!(
            [CallerRole::Gateway, CallerRole::Recurring]
                .map(|r| (r.acts_as_the_user(), r.may_continue_series())),
            [(true, false), (false, true)]
        );
    }
}
