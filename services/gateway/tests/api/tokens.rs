//! Every forwarded call needs a valid access token, and the user it names is the only user the
//! call can act for.

use chrono::Utc;
use gateway::auth::access_tokens::{AUDIENCE, Claims, ISSUER};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use todo_proto::todo::v1::{self as proto, auth_service_client::AuthServiceClient};
use tonic::{Code, Request};

use crate::test_app::{spawn_app, titled};

fn mint(key: &[u8], claims: &Claims) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key),
    )
    .unwrap()
}

#[tokio::test]
async fn calls_without_a_valid_access_token_are_unauthenticated() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let key = app.signing_key();
    let now = Utc::now().timestamp();
    let valid = Claims {
        sub: ada.user.id.clone(),
        sid: uuid::Uuid::new_v4().to_string(),
        iat: now,
        exp: now + 600,
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
    };
    let mut forged = ada.tokens.access_token.clone();
    forged.pop();
    forged.push(if ada.tokens.access_token.ends_with('A') {
        'B'
    } else {
        'A'
    });
    let cases = [
        ("forged signature", Some(forged)),
        ("not a jwt", Some("abc.def.ghi".to_string())),
        (
            "expired",
            Some(mint(
                &key,
                &Claims {
                    iat: now - 7200,
                    exp: now - 3600,
                    ..valid.clone()
                },
            )),
        ),
        (
            "signed with another key",
            Some(mint(b"not the suite's key, but 32+ bytes long", &valid)),
        ),
        (
            "wrong audience",
            Some(mint(
                &key,
                &Claims {
                    aud: "another-api".into(),
                    ..valid.clone()
                },
            )),
        ),
        ("missing", None),
    ];
    assert!(
        app.tasks(&mint(&key, &valid))
            .list_tasks(proto::ListTasksRequest::default())
            .await
            .is_ok(),
        "the control token minted with the real key works"
    );
    for (case, token) in cases {
        let listed = match &token {
            Some(token) => app
                .tasks(token)
                .list_tasks(proto::ListTasksRequest::default())
                .await
                .map(|_| ()),
            None => {
                todo_proto::todo::v1::task_service_client::TaskServiceClient::new(app.channel())
                    .list_tasks(proto::ListTasksRequest::default())
                    .await
                    .map(|_| ())
            }
        };
        assert_eq!(
            listed.unwrap_err().code(),
            Code::Unauthenticated,
            "case: {case}"
        );
        if let Some(token) = &token {
            let me = AuthServiceClient::new(app.authorized(token))
                .me(proto::MeRequest {})
                .await;
            assert_eq!(
                me.unwrap_err().code(),
                Code::Unauthenticated,
                "Me, case: {case}"
            );
        }
    }
}

#[tokio::test]
async fn a_client_cannot_name_another_user_in_its_metadata() {
    let app = spawn_app().await;
    let ada = app.new_user().await;
    let bob = app.new_user().await;
    let mut request = Request::new(titled("ada's, whatever the headers say"));
    for (key, value) in [
        ("todo-user-id", bob.user.id.as_str()),
        ("dapr-app-id", "audit"),
        ("dapr-caller-app-id", "recurring"),
    ] {
        request.metadata_mut().insert(key, value.parse().unwrap());
    }
    let created = app
        .tasks(&ada.tokens.access_token)
        .create_task(request)
        .await
        .unwrap()
        .into_inner()
        .task
        .unwrap();
    let listed_by = |token: String| {
        let mut tasks = app.tasks(&token);
        async move {
            tasks
                .list_tasks(proto::ListTasksRequest::default())
                .await
                .unwrap()
                .into_inner()
                .tasks
        }
    };
    assert_eq!(listed_by(ada.tokens.access_token.clone()).await, [created]);
    assert!(listed_by(bob.tokens.access_token.clone()).await.is_empty());
}
