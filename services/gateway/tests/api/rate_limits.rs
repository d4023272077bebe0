//! Failed sign-ins are limited per email and per client address.

use std::time::Duration;

use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

use crate::test_app::{TestApp, spawn_app, spawn_app_with};

fn assert_limited(status: &Status, case: &str) {
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "case: {case}: {status:?}"
    );
    let retry = status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay)
        .expect("a retry-after hint");
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(900),
        "case: {case}: {retry:?}"
    );
}

#[tokio::test]
async fn five_failures_lock_an_email_even_for_the_right_password() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    for attempt in 0..5 {
        let failed = app
            .sign_in(&ada.email, "wrong password!")
            .await
            .unwrap_err();
        assert_eq!(failed.code(), Code::Unauthenticated, "attempt {attempt}");
    }
    let locked = app.sign_in(&ada.email, &ada.password).await.unwrap_err();
    assert_limited(&locked, "right password after 5 failures");
    let bob = app.new_user().await;
    app.sign_in(&bob.email, &bob.password)
        .await
        .expect("other emails are not locked");
}

#[tokio::test]
async fn a_burst_of_concurrent_guesses_gets_no_more_tries_than_the_limit() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let guesses = (0..12).map(|_| app.sign_in(&ada.email, "wrong password!"));
    let outcomes = futures::future::join_all(guesses).await;
    let codes: Vec<Code> = outcomes
        .iter()
        .map(|o| o.as_ref().unwrap_err().code())
        .collect();
    let judged = codes
        .iter()
        .filter(|c| **c == Code::Unauthenticated)
        .count();
    let limited = codes
        .iter()
        .filter(|c| **c == Code::ResourceExhausted)
        .count();
    assert_eq!((judged, limited), (5, 7), "{codes:?}");
}

#[tokio::test]
async fn sign_ups_are_limited_per_client_address() {
    let app = spawn_app_with(&[("TODO_SIGN_UPS_PER_ADDRESS", "2")]).await;
    app.new_user().await;
    app.new_user().await;
    let third = app
        .sign_up("third@example.com", "a long enough password", "Third")
        .await;
    assert_limited(&third.unwrap_err(), "a third sign-up from one address");
}

#[tokio::test]
async fn failures_across_emails_lock_the_client_address() {
    let app = spawn_app_with(&[("TODO_SIGN_IN_FAILURES_PER_ADDRESS", "3")]).await;
    let ada = app.new_user().await;
    for attempt in 0..3 {
        let email = format!("nobody-{attempt}@example.com");
        let failed = app.sign_in(&email, "some password").await.unwrap_err();
        assert_eq!(failed.code(), Code::Unauthenticated, "attempt {attempt}");
    }
    let locked = app.sign_in(&ada.email, &ada.password).await.unwrap_err();
    assert_limited(&locked, "this address failed 3 times");
}

async fn sign_in_from(app: &TestApp, forwarded_for: &str, email: &str, password: &str) -> Code {
    let mut request = Request::new(todo_proto::todo::v1::SignInRequest {
        email: email.into(),
        password: password.into(),
    });
    request
        .metadata_mut()
        .insert("x-forwarded-for", forwarded_for.parse().unwrap());
    app.auth()
        .sign_in(request)
        .await
        .err()
        .map_or(Code::Ok, |status| status.code())
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_limited() {
    let app = spawn_app_with(&[
        ("TODO_SIGN_IN_FAILURES_PER_ADDRESS", "2"),
        ("TODO_TRUST_FORWARDED_FOR", "true"),
    ])
    .await;
    let ada = app.new_user().await;
    let attacker = "198.51.100.1, 203.0.113.9";
    for attempt in 0..2 {
        let email = format!("nobody-{attempt}@example.com");
        let code = sign_in_from(&app, attacker, &email, "some password").await;
        assert_eq!(code, Code::Unauthenticated, "attempt {attempt}");
    }
    let cases = [
        ("the same client", attacker, Code::ResourceExhausted),
        ("another client via the proxy", "203.0.113.10", Code::Ok),
    ];
    for (case, forwarded_for, expected) in cases {
        let code = sign_in_from(&app, forwarded_for, &ada.email, &ada.password).await;
        assert_eq!(code, expected, "case: {case}");
    }
}
