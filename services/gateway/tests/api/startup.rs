//! Startup fails with a message that says what to fix when the signing key is unusable.

use localdapr::{AppSpec, testsuite::TestDapr};

/// Starts the gateway against the suite's components with `secrets` in the secret store, and
/// returns why it stopped.
async fn start_gateway_with_secrets(secrets: serde_json::Value) -> String {
    TestDapr::start_suite_with_secrets(secrets)
        .await
        .startup_error(
            AppSpec::new(gateway::testsuite::APP_ID, None),
            gateway::testsuite::run,
        )
        .await
}

#[tokio::test]
async fn startup_fails_clearly_without_a_usable_signing_key() {
    let cases = [
        (
            "key missing",
            serde_json::json!({ "todo-suite": { "page-token-key": "x".repeat(64) } }),
            vec!["secretstore", "todo-suite", "jwt-signing-key", "has no"],
        ),
        (
            "key too short",
            serde_json::json!({ "todo-suite": { "jwt-signing-key": "short" } }),
            vec![
                "secretstore",
                "todo-suite",
                "jwt-signing-key",
                "at least 32",
            ],
        ),
        (
            "secret missing",
            serde_json::json!({ "another-secret": { "jwt-signing-key": "x".repeat(64) } }),
            vec![
                "secretstore",
                "todo-suite",
                "jwt-signing-key",
                "cannot read",
            ],
        ),
    ];
    for (case, secrets, expected) in cases {
        let message = start_gateway_with_secrets(secrets).await;
        for part in expected {
            assert!(
                message.contains(part),
                "case: {case}: {part:?} in {message:?}"
            );
        }
    }
}
