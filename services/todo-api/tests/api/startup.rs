//! Startup fails with a message that says what to fix when the page-token key is unusable.

use localdapr::{AppSpec, testsuite::TestDapr};

/// Why todo-api refuses to start when its secret holds `page_token_key` (or no key at all).
async fn startup_error_with_page_token_key(page_token_key: Option<&str>) -> String {
    let suite_secret = match page_token_key {
        Some(key) => serde_json::json!({ "page-token-key": key }),
        None => serde_json::json!({ "jwt-signing-key": "x".repeat(64) }),
    };
    let dapr =
        TestDapr::start_suite_with_secrets(serde_json::json!({ "todo-suite": suite_secret })).await;
    dapr.startup_error(
        AppSpec::new(todo_api::testsuite::APP_ID, None),
        todo_api::testsuite::run,
    )
    .await
}

#[tokio::test]
async fn startup_fails_clearly_without_a_usable_page_token_key() {
    let missing = startup_error_with_page_token_key(None).await;
    let short = startup_error_with_page_token_key(Some("short")).await;
    let names_where = ["secretstore", "todo-suite", "page-token-key"];
    for (case, message, says_what_to_fix) in [
        (
            "missing",
            &missing,
            "has no page-token-key; add the page-token key",
        ),
        ("too short", &short, "at least 32 random bytes"),
    ] {
        for part in names_where.iter().chain([&says_what_to_fix]) {
            assert!(
                message.contains(part),
                "case: {case}: {part:?} in {message:?}"
            );
        }
    }
}
