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
        let untrusted =
            || Status::permission_denied("this service only accepts calls from trusted apps");
        let Ok(Some(app_id)) = only_value(metadata, CALLER_APP_ID_HEADER) else {
            tracing::warn!("call without exactly one caller app id refused");
            return Err(untrusted());
        };
        if !self.0.iter().any(|trusted| trusted == app_id) {
            tracing::warn!(caller = app_id, "call from an untrusted app refused");
            return Err(untrusted());
        }
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
    fn a_repeated_identity_header_is_refused() {
        let trusted = TrustedCallers::parse("gateway").unwrap();
        let mut forged = metadata(&[(USER_ID_HEADER, "victim")]);
        forged.append(CALLER_APP_ID_HEADER, "gateway".parse().unwrap());
        forged.append(CALLER_APP_ID_HEADER, "audit".parse().unwrap());
        assert_eq!(
            trusted.authorize(&forged).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        let mut two_users = metadata(&[(CALLER_APP_ID_HEADER, "gateway")]);
        two_users.append(USER_ID_HEADER, "a".parse().unwrap());
        two_users.append(USER_ID_HEADER, "b".parse().unwrap());
        assert_eq!(
            trusted.authorize(&two_users).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
    }

    #[test]
    fn an_empty_list_trusts_nobody() {
        assert_eq!(TrustedCallers::parse(" , "), None);
    }
}
