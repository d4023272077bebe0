//! Sign up, sign in, refresh (rotation and reuse), sign out and Me.

use chrono::Utc;
use todo_proto::todo::v1 as proto;
use tonic::Code;

use crate::test_app::{spawn_app, spawn_app_with};

fn seconds_from_now(timestamp: Option<&prost_types::Timestamp>) -> i64 {
    timestamp.unwrap().seconds - Utc::now().timestamp()
}

#[tokio::test]
async fn a_new_account_can_sign_in_and_read_itself() {
    let app = spawn_app().await;
    let ada = app
        .sign_up(
            "  Ada@Example.com ",
            "correct horse battery",
            " Ada Lovelace ",
        )
        .await
        .unwrap();
    assert_eq!(ada.user.email, "ada@example.com");
    assert_eq!(ada.user.display_name, "Ada Lovelace");
    assert!(uuid::Uuid::parse_str(&ada.user.id).is_ok());
    let access_ttl = seconds_from_now(ada.tokens.access_token_expire_time.as_ref());
    let refresh_ttl = seconds_from_now(ada.tokens.refresh_token_expire_time.as_ref());
    assert!(
        (3590..=3600).contains(&access_ttl),
        "access ttl {access_ttl}"
    );
    assert!(
        (2_591_990..=2_592_000).contains(&refresh_ttl),
        "refresh ttl {refresh_ttl}"
    );

    let signed_in = app
        .sign_in("ADA@example.COM", "correct horse battery")
        .await
        .unwrap();
    assert_eq!(signed_in.user.as_ref(), Some(&ada.user));
    let access = signed_in.tokens.unwrap().access_token;
    let mut me =
        todo_proto::todo::v1::auth_service_client::AuthServiceClient::new(app.authorized(&access));
    let me = me.me(proto::MeRequest {}).await.unwrap().into_inner();
    assert_eq!(me.user, Some(ada.user));
}

#[tokio::test]
async fn each_sign_up_rule_reports_its_field_path() {
    let app = spawn_app().await;
    let long_name = "n".repeat(101);
    let long_password = "p".repeat(1025);
    let cases = [
        ("no email", "", "long enough pw", "Ada", vec!["email"]),
        (
            "not an email",
            "ada.example.com",
            "long enough pw",
            "Ada",
            vec!["email"],
        ),
        (
            "password of 9",
            "ada@example.com",
            "123456789",
            "Ada",
            vec!["password"],
        ),
        (
            "password over 1024",
            "ada@example.com",
            long_password.as_str(),
            "Ada",
            vec!["password"],
        ),
        (
            "blank name",
            "ada@example.com",
            "long enough pw",
            "  ",
            vec!["display_name"],
        ),
        (
            "name over 100",
            "ada@example.com",
            "long enough pw",
            long_name.as_str(),
            vec!["display_name"],
        ),
        (
            "all three",
            "nope",
            "short",
            "",
            vec!["email", "password", "display_name"],
        ),
    ];
    for (case, email, password, name, fields) in cases {
        let status = app.sign_up(email, password, name).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "case: {case}");
        let reported: Vec<String> = todo_proto::status::field_violations(&status)
            .into_iter()
            .map(|(field, _)| field)
            .collect();
        assert_eq!(reported, fields, "case: {case}");
    }
}

#[tokio::test]
async fn an_email_has_one_account_whatever_its_case() {
    let app = spawn_app().await;
    app.sign_up("grace@example.com", "correct horse battery", "Grace")
        .await
        .unwrap();
    let again = app
        .sign_up(" GRACE@example.com", "another password!", "Imposter")
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
    let signed_in = app
        .sign_in("grace@example.com", "correct horse battery")
        .await
        .unwrap();
    assert_eq!(signed_in.user.unwrap().display_name, "Grace");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let wrong_password = app
        .sign_in(&ada.email, "not the password")
        .await
        .unwrap_err();
    let unknown_email = app
        .sign_in("nobody@example.com", &ada.password)
        .await
        .unwrap_err();
    for (case, status) in [
        ("wrong password", &wrong_password),
        ("unknown email", &unknown_email),
    ] {
        assert_eq!(status.code(), Code::Unauthenticated, "case: {case}");
        assert_eq!(
            status.message(),
            "invalid email or password",
            "case: {case}"
        );
    }
}

async fn refresh(
    app: &crate::test_app::TestApp,
    token: &str,
) -> Result<proto::AuthTokens, tonic::Status> {
    app.auth()
        .refresh(proto::RefreshRequest {
            refresh_token: token.into(),
        })
        .await
        .map(|r| r.into_inner().tokens.unwrap())
}

#[tokio::test]
async fn a_refresh_retried_just_after_rotation_is_refused_but_keeps_the_session() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let first = ada.tokens.refresh_token.clone();
    let second = refresh(&app, &first).await.unwrap();
    let retry = refresh(&app, &first).await.unwrap_err();
    assert_eq!(
        retry.code(),
        Code::Unauthenticated,
        "a used token never mints tokens"
    );
    refresh(&app, &second.refresh_token)
        .await
        .expect("a retry within the grace period does not end the session");
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_its_session() {
    // No grace: every second presentation of a token counts as theft.
    let app = spawn_app_with(&[("TODO_REFRESH_REUSE_GRACE_SECONDS", "0")]).await;
    let ada = app.new_user().await;
    let first = ada.tokens.refresh_token.clone();
    let second = refresh(&app, &first).await.unwrap();
    assert_ne!(second.refresh_token, first, "a new refresh token each time");
    let mut tasks = app.tasks(&second.access_token);
    tasks
        .list_tasks(proto::ListTasksRequest::default())
        .await
        .expect("the new access token works");
    let third = refresh(&app, &second.refresh_token).await.unwrap();

    let reuse = refresh(&app, &first).await.unwrap_err();
    assert_eq!(
        reuse.code(),
        Code::Unauthenticated,
        "the used token is refused"
    );
    let after_reuse = refresh(&app, &third.refresh_token).await.unwrap_err();
    assert_eq!(
        after_reuse.code(),
        Code::Unauthenticated,
        "the reuse revoked the whole session"
    );

    let other_session = app.sign_in(&ada.email, &ada.password).await.unwrap();
    let other_refresh = other_session.tokens.unwrap().refresh_token;
    refresh(&app, &other_refresh)
        .await
        .expect("another session is unaffected");
}

#[tokio::test]
async fn sign_out_revokes_the_refresh_token() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let rotated = refresh(&app, &ada.tokens.refresh_token).await.unwrap();
    let mut signed_in =
        proto::auth_service_client::AuthServiceClient::new(app.authorized(&rotated.access_token));
    signed_in
        .sign_out(proto::SignOutRequest {
            refresh_token: rotated.refresh_token.clone(),
        })
        .await
        .unwrap();
    let after = refresh(&app, &rotated.refresh_token).await.unwrap_err();
    assert_eq!(after.code(), Code::Unauthenticated);
    signed_in
        .sign_out(proto::SignOutRequest {
            refresh_token: "never-issued".into(),
        })
        .await
        .expect("signing out an unknown token is a no-op");
    let garbage = refresh(&app, "never-issued").await.unwrap_err();
    assert_eq!(garbage.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn sign_out_needs_a_valid_access_token_and_ends_nothing_without_one() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let refresh_token = ada.tokens.refresh_token.clone();
    let request = || proto::SignOutRequest {
        refresh_token: refresh_token.clone(),
    };
    let without_token = app.auth().sign_out(request()).await.unwrap_err();
    let forged_token =
        proto::auth_service_client::AuthServiceClient::new(app.authorized("not.a.jwt"))
            .sign_out(request())
            .await
            .unwrap_err();
    for (case, status) in [("no token", without_token), ("forged token", forged_token)] {
        assert_eq!(status.code(), Code::Unauthenticated, "case: {case}");
    }
    refresh(&app, &refresh_token)
        .await
        .expect("the session was not ended");
}

/// The outbox publishes every transaction of its store to `task-events`, so accounts (email,
/// password hash) and refresh tokens must live elsewhere: signing up, in and refreshing
/// publishes nothing, and the first message on the topic is the task created after them.
#[tokio::test]
async fn accounts_and_refresh_tokens_are_never_published() {
    use std::sync::{Arc, Mutex};

    use dapr_kit::{AppCallbackService, JobHandlers, Subscription, Subscriptions, TopicEvent};

    let app = spawn_app().await;
    let published: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let sink = published.clone();
    let on_event = move |event: TopicEvent| {
        let sink = sink.clone();
        async move {
            sink.lock().unwrap().push(event.data);
            Ok(())
        }
    };
    app.dapr
        .app(
            "event-recorder",
            AppCallbackService::new(
                Subscriptions::new()
                    .subscribe(Subscription::new("pubsub", "task-events").default_route(on_event)),
                JobHandlers::new(),
            ),
        )
        .await;

    let ada = app.new_user().await;
    let signed_in = app.sign_in(&ada.email, &ada.password).await.unwrap();
    app.auth()
        .refresh(proto::RefreshRequest {
            refresh_token: signed_in.tokens.unwrap().refresh_token,
        })
        .await
        .unwrap();
    let task = app
        .tasks(&ada.tokens.access_token)
        .create_task(proto::CreateTaskRequest {
            title: "after the account writes".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();

    localdapr::testsuite::wait_until(
        "the task's event is published",
        std::time::Duration::from_secs(10),
        || {
            let published = published.clone();
            async move { !published.lock().unwrap().is_empty() }
        },
    )
    .await;
    let published = published.lock().unwrap().clone();
    let first = String::from_utf8_lossy(&published[0]);
    assert!(
        first.contains(&task.id),
        "the first message on task-events is not the task's event: {first}"
    );
    for message in &published {
        let text = String::from_utf8_lossy(message);
        assert!(
            !text.contains(&ada.email),
            "an account was published: {text}"
        );
        assert!(
            !text.contains("argon2"),
            "a password hash was published: {text}"
        );
    }
}
