//! The gateway's metrics. Forwarded calls are already counted per service and method by the
//! shared gRPC layer (`todo_grpc_server_handled_total`); these count what only the gateway knows.

use crate::error::AccessTokenError;

/// Sign-in attempts, by outcome: `success`, `invalid_credentials`, `rate_limited`.
pub const SIGN_INS_TOTAL: &str = "todo_auth_sign_ins_total";
/// Sign-up attempts that passed validation, by outcome: `created`, `email_taken`, `error`.
pub const SIGN_UPS_TOTAL: &str = "todo_auth_sign_ups_total";
/// Refresh tokens presented again after use; each revoked a session.
pub const REFRESH_TOKEN_REUSE_TOTAL: &str = "todo_auth_refresh_token_reuse_total";
/// Calls refused for their access token, by reason: `missing`, `expired`, `invalid`.
pub const ACCESS_TOKEN_REJECTIONS_TOTAL: &str = "todo_auth_access_token_rejections_total";

/// Registers the help text of these metrics.
pub fn describe() {
    metrics::describe_counter!(SIGN_INS_TOTAL, "Sign-in attempts, by outcome.");
    metrics::describe_counter!(SIGN_UPS_TOTAL, "Valid sign-up attempts, by outcome.");
    metrics::describe_counter!(
        REFRESH_TOKEN_REUSE_TOTAL,
        "Refresh tokens presented again after use; each revoked its session."
    );
    metrics::describe_counter!(
        ACCESS_TOKEN_REJECTIONS_TOTAL,
        "Calls refused for their access token, by reason."
    );
}

pub(crate) fn record_sign_in(outcome: &'static str) {
    metrics::counter!(SIGN_INS_TOTAL, "outcome" => outcome).increment(1);
}

pub(crate) fn record_sign_up(outcome: &'static str) {
    metrics::counter!(SIGN_UPS_TOTAL, "outcome" => outcome).increment(1);
}

pub(crate) fn record_refresh_token_reuse() {
    metrics::counter!(REFRESH_TOKEN_REUSE_TOTAL).increment(1);
}

pub(crate) fn record_access_token_rejection(reason: AccessTokenError) {
    metrics::counter!(ACCESS_TOKEN_REJECTIONS_TOTAL, "reason" => reason.as_label()).increment(1);
}
