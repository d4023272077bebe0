//! Reference §8.2 (API tokens), as an attacker on the same machine tries it: every Dapr RPC
//! that once worked without a token — reading the JWT signing key, reading and corrupting a
//! user's state, shutting a sidecar down, proxying to an app — is `Unauthenticated` without the
//! sidecar's token or with a wrong one, and changes nothing. The fixtures give every sidecar a
//! random token, as `localdapr run` does.

use dapr::dapr::proto::{
    common::v1::StateItem,
    runtime::v1::{
        DeleteStateRequest, ExecuteStateTransactionRequest, GetMetadataRequest, GetSecretRequest,
        GetStateRequest, SaveStateRequest, ShutdownRequest, TransactionalStateOperation,
        dapr_client::DaprClient as OfficialClient,
    },
};
use tonic::{Code, Request, Status, transport::Channel};

use crate::support::TestDapr;

/// `message` with `token` as `dapr-api-token`, if any.
fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("dapr-api-token", token.parse().unwrap());
    }
    request
}

/// Every attack of the issue, as one call each; the outcome's code only.
async fn attacks(
    client: &mut OfficialClient<Channel>,
    token: Option<&str>,
) -> Vec<(&'static str, Code)> {
    let code = |outcome: Result<(), Status>| outcome.err().map_or(Code::Ok, |s| s.code());
    let bucket = "tasks-victim-0".to_string();
    vec![
        (
            "GetSecret secretstore/todo-suite",
            code(
                client
                    .get_secret(with_token(
                        GetSecretRequest {
                            store_name: "secretstore".into(),
                            key: "todo-suite".into(),
                            ..Default::default()
                        },
                        token,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "GetState of a bucket",
            code(
                client
                    .get_state(with_token(
                        GetStateRequest {
                            store_name: "statestore".into(),
                            key: bucket.clone(),
                            ..Default::default()
                        },
                        token,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "SaveState over a bucket",
            code(
                client
                    .save_state(with_token(
                        SaveStateRequest {
                            store_name: "statestore".into(),
                            states: vec![StateItem {
                                key: bucket.clone(),
                                value: b"garbage".to_vec(),
                                ..Default::default()
                            }],
                        },
                        token,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "DeleteState of a bucket",
            code(
                client
                    .delete_state(with_token(
                        DeleteStateRequest {
                            store_name: "statestore".into(),
                            key: bucket.clone(),
                            ..Default::default()
                        },
                        token,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "ExecuteStateTransaction",
            code(
                client
                    .execute_state_transaction(with_token(
                        ExecuteStateTransactionRequest {
                            store_name: "statestore".into(),
                            operations: vec![TransactionalStateOperation {
                                operation_type: "upsert".into(),
                                request: Some(StateItem {
                                    key: bucket,
                                    value: b"garbage".to_vec(),
                                    ..Default::default()
                                }),
                            }],
                            ..Default::default()
                        },
                        token,
                    ))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "GetMetadata",
            code(
                client
                    .get_metadata(with_token(GetMetadataRequest {}, token))
                    .await
                    .map(|_| ()),
            ),
        ),
        (
            "Shutdown",
            code(
                client
                    .shutdown(with_token(ShutdownRequest {}, token))
                    .await
                    .map(|_| ()),
            ),
        ),
    ]
}

#[tokio::test]
async fn s8_2_without_the_sidecars_token_every_attack_is_unauthenticated_and_changes_nothing() {
    let dapr = TestDapr::start_suite().await;
    let app = dapr.client("todo-api").await;
    let token = app
        .api_token()
        .expect("the fixtures give every sidecar a token");
    app.client
        .save_state(
            "statestore",
            "tasks-victim-0",
            b"the real bucket".to_vec(),
            None,
        )
        .await
        .unwrap();

    let mut intruder = OfficialClient::new(app.official_without_token().await);
    for (case, presented) in [("no token", None), ("wrong token", Some("guessed"))] {
        for (attack, code) in attacks(&mut intruder, presented).await {
            assert_eq!(code, Code::Unauthenticated, "{attack}, {case}");
        }
    }
    let wrong_length = format!("{token}x");
    for (attack, code) in attacks(&mut intruder, Some(&wrong_length)).await {
        assert_eq!(
            code,
            Code::Unauthenticated,
            "{attack}, the token and one more byte"
        );
    }

    let bucket = app
        .client
        .get_state("statestore", "tasks-victim-0")
        .await
        .unwrap()
        .map(|entry| entry.value);
    assert_eq!(
        bucket.as_deref(),
        Some(&b"the real bucket"[..]),
        "state is intact"
    );
    app.client
        .metadata()
        .await
        .expect("the sidecar is still up after the refused Shutdown");
    let signing_key = app
        .client
        .get_secret("secretstore", "todo-suite")
        .await
        .unwrap();
    assert!(
        signing_key.get("jwt-signing-key").is_some(),
        "with its token the app itself still reads its secrets"
    );
}
