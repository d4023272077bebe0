//! Who is calling: the Dapr app that made the call (`dapr-caller-app-id`, set by the caller's
//! sidecar in proxy mode, reference §6) and the user it acts for (`todo-user-id`, set by the
//! gateway after it verified a token, or by a service acting for a user).
//!
//! A service trusts a user id only from callers it lists: anyone else is `PermissionDenied`,
//! whatever user id it sends.

use tonic::{Status, metadata::MetadataMap};

/// The metadata key with the verified user id.
pub const USER_ID_HEADER: &str = "todo-user-id";
/// The metadata key daprd sets to the calling app's id.
pub const CALLER_APP_ID_HEADER: &str = "dapr-caller-app-id";

/// A call's verified origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerUser {
    /// The user the call acts for.
    pub user_id: String,
    /// The Dapr app that made the call (e.g. `gateway`, `recurring`).
    pub app_id: String,
}

/// The app ids whose user ids a service accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedCallers(Vec<String>);

impl TrustedCallers {
    /// Trusts exactly `app_ids`.
    pub fn new<I, S>(app_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(app_ids.into_iter().map(Into::into).collect())
    }

    /// Parses a comma-separated list, e.g. `gateway,recurring`; `None` when it names no app.
    pub fn parse(list: &str) -> Option<Self> {
        let ids: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        (!ids.is_empty()).then_some(Self(ids))
    }

    /// The trusted app ids.
    pub fn app_ids(&self) -> &[String] {
        &self.0
    }

    /// Reads and checks the caller of a call.
    ///
    /// # Errors
    /// `PermissionDenied` when the calling app is missing or not trusted; `Unauthenticated` when
    /// a trusted app sent no user id.
    pub fn authorize(&self, metadata: &MetadataMap) -> Result<CallerUser, Status> {
        let app_id = text(metadata, CALLER_APP_ID_HEADER).unwrap_or_default();
        if !self.0.iter().any(|trusted| *trusted == app_id) {
            tracing::warn!(caller = app_id, "call from an untrusted app refused");
            return Err(Status::permission_denied(
                "this service only accepts calls from trusted apps",
            ));
        }
        let user_id = text(metadata, USER_ID_HEADER)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Status::unauthenticated("the call carries no user"))?;
        Ok(CallerUser {
            user_id: user_id.to_string(),
            app_id: app_id.to_string(),
        })
    }
}

fn text<'a>(metadata: &'a MetadataMap, key: &str) -> Option<&'a str> {
    metadata.get(key).and_then(|value| value.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(pairs: &[(&'static str, &str)]) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        for (key, value) in pairs {
            metadata.insert(*key, value.parse().unwrap());
        }
        metadata
    }

    #[test]
    fn only_trusted_apps_may_name_a_user() {
        let trusted = TrustedCallers::parse("gateway, recurring").unwrap();
        let cases = [
            (
                "gateway with user",
                vec![(CALLER_APP_ID_HEADER, "gateway"), (USER_ID_HEADER, "u1")],
                Ok("u1"),
            ),
            (
                "recurring with user",
                vec![(CALLER_APP_ID_HEADER, "recurring"), (USER_ID_HEADER, "u2")],
                Ok("u2"),
            ),
            (
                "untrusted app",
                vec![(CALLER_APP_ID_HEADER, "audit"), (USER_ID_HEADER, "u1")],
                Err(tonic::Code::PermissionDenied),
            ),
            (
                "no app",
                vec![(USER_ID_HEADER, "u1")],
                Err(tonic::Code::PermissionDenied),
            ),
            (
                "trusted app, no user",
                vec![(CALLER_APP_ID_HEADER, "gateway")],
                Err(tonic::Code::Unauthenticated),
            ),
        ];
        for (case, pairs, expected) in cases {
            let outcome = trusted.authorize(&metadata(&pairs));
            let outcome = outcome
                .as_ref()
                .map(|c| c.user_id.as_str())
                .map_err(Status::code);
            assert_eq!(outcome, expected, "case: {case}");
        }
    }

    #[test]
    fn an_empty_list_trusts_nobody() {
        assert_eq!(TrustedCallers::parse(" , "), None);
    }
}
