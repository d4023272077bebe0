//! Reference §8.2 (API tokens), §7.3 (secrets), §11 (metadata, shutdown): the parts of a
//! sidecar that are not state, pub/sub or jobs.

use std::time::Duration;

use dapr::dapr::proto::runtime::v1::{
    GetBulkSecretRequest, GetMetadataRequest, GetSecretRequest, ShutdownRequest,
};
use localdapr::AppSpec;
use tonic::{Code, Request};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::support::{COMPONENTS, TestDapr, no_callbacks, wait_until};

#[tokio::test]
async fn s8_2_a_sidecar_with_an_api_token_refuses_calls_without_it() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let mut spec = AppSpec::new("guarded", None);
    spec.api_token = Some("sidecar-secret".into());
    let app = dapr.client_with(spec).await;
    // dapr-kit's client sends the token: it works.
    app.client.metadata().await.unwrap();
    // A client without it is refused.
    let mut anonymous = dapr::dapr::proto::runtime::v1::dapr_client::DaprClient::new(
        app.official_without_token().await,
    );
    let status = anonymous
        .get_metadata(GetMetadataRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let mut request = Request::new(GetMetadataRequest {});
    request
        .metadata_mut()
        .insert("dapr-api-token", "wrong".parse().unwrap());
    assert_eq!(
        anonymous.get_metadata(request).await.unwrap_err().code(),
        Code::Unauthenticated
    );
}

#[tokio::test]
async fn s8_2_health_calls_through_a_guarded_sidecar_need_its_token_too() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let (_reporter, health) = tonic_health::server::health_reporter();
    let mut target = AppSpec::new("echo", None);
    target.app_api_token = Some("echo-app-token".into());
    dapr.app_serving(target, no_callbacks(), |routes| {
        routes.add_service(health);
    })
    .await;
    let mut spec = AppSpec::new("guarded", None);
    spec.api_token = Some("sidecar-secret".into());
    let caller = dapr.client_with(spec).await;
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", caller.sidecar_address()))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut client = HealthClient::new(channel);
    let check = |token: Option<&str>| {
        let mut request = Request::new(HealthCheckRequest::default());
        request
            .metadata_mut()
            .insert("dapr-app-id", "echo".parse().unwrap());
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("dapr-api-token", token.parse().unwrap());
        }
        request
    };
    let refused = client.check(check(None)).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Code::Unauthenticated,
        "no token, no proxying to the app (which would get its own token): {refused:?}"
    );
    let proxied = client
        .check(check(Some("sidecar-secret")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(proxied.status, ServingStatus::Serving as i32);
}

#[tokio::test]
async fn s11_metadata_describes_the_app_and_its_components() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let app = dapr.client("described").await;
    let metadata = app
        .official()
        .await
        .get_metadata(GetMetadataRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(metadata.id, "described");
    assert!(
        metadata.runtime_version.starts_with("1.18.3"),
        "{}",
        metadata.runtime_version
    );
    let mut components: Vec<_> = metadata
        .registered_components
        .iter()
        .map(|c| (c.name.as_str(), c.r#type.as_str()))
        .collect();
    components.sort();
    assert_eq!(
        components,
        [
            ("plainstore", "state.sqlite"),
            // The fixtures run daprd's pub/subs on Kafka (testsuite::real).
            (
                "pubsub",
                if dapr.is_real() {
                    "pubsub.kafka"
                } else {
                    "pubsub.in-memory"
                }
            ),
            ("statestore", "state.sqlite")
        ]
    );
    assert!(metadata.scheduler.is_some());
}

#[tokio::test]
async fn s11_set_metadata_stores_extended_metadata_that_get_metadata_returns() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let app = dapr.client("annotated").await;
    let other = dapr.client("other").await;
    let mut client = app.official_sdk().await;
    client.set_metadata("owner", "team-a").await.unwrap();
    client.set_metadata("owner", "team-b").await.unwrap();
    client
        .set_metadata("", "an empty key is ignored")
        .await
        .unwrap();
    client
        .set_metadata("daprRuntimeVersion", "overridden")
        .await
        .unwrap();
    let extended = client.get_metadata().await.unwrap().extended_metadata;
    let mut entries: Vec<_> = extended
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    entries.sort_unstable();
    assert_eq!(
        entries,
        [
            // Deviation (README): localdapr says what it is after daprd's version.
            (
                "daprRuntimeVersion",
                if dapr.is_real() {
                    "1.18.3"
                } else {
                    localdapr::RUNTIME_VERSION
                },
            ),
            ("owner", "team-b")
        ],
        "the last value wins; daprd always reports its version"
    );
    let others = other
        .official()
        .await
        .get_metadata(GetMetadataRequest {})
        .await
        .unwrap()
        .into_inner()
        .extended_metadata;
    assert!(
        !others.contains_key("owner"),
        "extended metadata belongs to one sidecar: {others:?}"
    );
}

#[tokio::test]
async fn s11_shutdown_stops_the_sidecar() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let app = dapr.client("leaving").await;
    app.official()
        .await
        .shutdown(ShutdownRequest {})
        .await
        .unwrap();
    wait_until(
        "the sidecar port closes",
        Duration::from_secs(5),
        || async {
            tokio::net::TcpStream::connect(app.sidecar_address())
                .await
                .is_err()
        },
    )
    .await;
}

fn secrets_components(file: &std::path::Path, multi_valued: bool) -> String {
    format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {{name: secretstore}}\nspec:\n  type: secretstores.local.file\n  version: v1\n  metadata:\n    - name: secretsFile\n      value: \"{}\"\n    - name: multiValued\n      value: \"{multi_valued}\"\n",
        file.display()
    )
}

#[tokio::test]
async fn s7_3_secrets_come_from_the_local_file_with_nested_keys_flattened() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.json");
    std::fs::write(
        &file,
        r#"{"gateway": {"jwt-signing-key": "k1"}, "plain": "p"}"#,
    )
    .unwrap();
    let dapr = TestDapr::start(&secrets_components(&file, false)).await;
    let mut client = dapr.client("a").await.official().await;
    let get = |key: &str| GetSecretRequest {
        store_name: "secretstore".into(),
        key: key.into(),
        ..Default::default()
    };
    let nested = client
        .get_secret(get("gateway:jwt-signing-key"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        nested
            .data
            .get("gateway:jwt-signing-key")
            .map(String::as_str),
        Some("k1")
    );
    let missing = client.get_secret(get("nope")).await.unwrap_err();
    assert_eq!(missing.code(), Code::Internal);
    let unknown_store = GetSecretRequest {
        store_name: "other".into(),
        key: "plain".into(),
        ..Default::default()
    };
    assert_eq!(
        client.get_secret(unknown_store).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let bulk = client
        .get_bulk_secret(GetBulkSecretRequest {
            store_name: "secretstore".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bulk.data.len(), 2);
}

#[tokio::test]
async fn s7_3_a_multi_valued_store_holds_many_keys_per_secret_like_kubernetes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.json");
    std::fs::write(
        &file,
        r#"{"gateway": {"jwt-signing-key": "k1", "other": "o"}}"#,
    )
    .unwrap();
    let dapr = TestDapr::start(&secrets_components(&file, true)).await;
    let app = dapr.client("a").await;
    let secret = app
        .client
        .get_secret("secretstore", "gateway")
        .await
        .unwrap();
    let mut keys: Vec<_> = secret.keys().collect();
    keys.sort();
    assert_eq!(keys, ["jwt-signing-key", "other"]);
}

#[tokio::test]
async fn s7_3_without_a_secret_store_calls_fail_with_failed_precondition() {
    let dapr = TestDapr::start(COMPONENTS).await;
    let mut client = dapr.client("a").await.official().await;
    let request = GetSecretRequest {
        store_name: "secretstore".into(),
        key: "k".into(),
        ..Default::default()
    };
    assert_eq!(
        client.get_secret(request).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
}
