//! `DaprClient` against an in-test fake sidecar over a real socket: what goes on the wire, and
//! how the sidecar's answers come back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use dapr_kit::{
    DaprClient, DaprConfig, DaprError, Etag, Publication, SecretKeyError, SecretKeyRef,
    StateOperation, client::JobSpec,
};
use secrecy::SecretString;
use todo_proto::{
    dapr::proto::runtime::v1::{self as dapr, dapr_server},
    todo::v1::{self as todo, task_service_server},
};
use tokio::net::TcpListener;
use tonic::{Code, Request, Response, Status, transport::Server};

/// What the fake sidecar saw and holds.
#[derive(Default)]
struct Recorded {
    state: HashMap<String, (Vec<u8>, u64)>,
    transactions: Vec<dapr::ExecuteStateTransactionRequest>,
    publishes: Vec<dapr::PublishEventRequest>,
    jobs: Vec<dapr::ScheduleJobRequest>,
    tokens: Vec<Option<String>>,
}

/// An in-memory sidecar with etags that change on every write.
#[derive(Clone, Default)]
struct FakeSidecar(Arc<Mutex<Recorded>>);

impl FakeSidecar {
    fn record_token<T>(&self, request: &Request<T>) {
        let token = request
            .metadata()
            .get("dapr-api-token")
            .map(|v| v.to_str().unwrap().to_string());
        self.0.lock().unwrap().tokens.push(token);
    }
}

#[tonic::async_trait]
impl dapr_server::Dapr for FakeSidecar {
    async fn get_metadata(
        &self,
        request: Request<dapr::GetMetadataRequest>,
    ) -> Result<Response<dapr::GetMetadataResponse>, Status> {
        self.record_token(&request);
        Ok(Response::new(dapr::GetMetadataResponse {
            id: "fake".into(),
            ..Default::default()
        }))
    }

    async fn get_state(
        &self,
        request: Request<dapr::GetStateRequest>,
    ) -> Result<Response<dapr::GetStateResponse>, Status> {
        let state = self.0.lock().unwrap();
        let response = match state.state.get(&request.get_ref().key) {
            Some((value, version)) => dapr::GetStateResponse {
                data: value.clone(),
                etag: version.to_string(),
                ..Default::default()
            },
            None => dapr::GetStateResponse::default(),
        };
        Ok(Response::new(response))
    }

    async fn get_bulk_state(
        &self,
        request: Request<dapr::GetBulkStateRequest>,
    ) -> Result<Response<dapr::GetBulkStateResponse>, Status> {
        let state = self.0.lock().unwrap();
        let items = request
            .get_ref()
            .keys
            .iter()
            .rev() // the sidecar may answer in any order
            .map(|key| match state.state.get(key) {
                Some((value, version)) => dapr::BulkStateItem {
                    key: key.clone(),
                    data: value.clone(),
                    etag: version.to_string(),
                    ..Default::default()
                },
                None if key == "broken" => dapr::BulkStateItem {
                    key: key.clone(),
                    error: "disk on fire".into(),
                    ..Default::default()
                },
                None => dapr::BulkStateItem {
                    key: key.clone(),
                    ..Default::default()
                },
            })
            .collect();
        Ok(Response::new(dapr::GetBulkStateResponse { items }))
    }

    async fn save_state(
        &self,
        request: Request<dapr::SaveStateRequest>,
    ) -> Result<Response<()>, Status> {
        let mut state = self.0.lock().unwrap();
        for item in request.into_inner().states {
            let current = state.state.get(&item.key).map(|(_, v)| *v);
            if let Some(etag) = item.etag
                && current.map(|v| v.to_string()) != Some(etag.value)
            {
                return Err(Status::aborted("possible etag mismatch"));
            }
            state
                .state
                .insert(item.key, (item.value, current.unwrap_or(0) + 1));
        }
        Ok(Response::new(()))
    }

    async fn execute_state_transaction(
        &self,
        request: Request<dapr::ExecuteStateTransactionRequest>,
    ) -> Result<Response<()>, Status> {
        let request = request.into_inner();
        if request
            .operations
            .iter()
            .any(|op| op.request.as_ref().is_some_and(|i| i.key == "conflict"))
        {
            return Err(Status::internal(
                "error while executing state transaction: possible etag mismatch. error from state store: x",
            ));
        }
        self.0.lock().unwrap().transactions.push(request);
        Ok(Response::new(()))
    }

    async fn publish_event(
        &self,
        request: Request<dapr::PublishEventRequest>,
    ) -> Result<Response<()>, Status> {
        self.0.lock().unwrap().publishes.push(request.into_inner());
        Ok(Response::new(()))
    }

    async fn schedule_job(
        &self,
        request: Request<dapr::ScheduleJobRequest>,
    ) -> Result<Response<dapr::ScheduleJobResponse>, Status> {
        self.0.lock().unwrap().jobs.push(request.into_inner());
        Ok(Response::new(dapr::ScheduleJobResponse {}))
    }

    async fn get_job(
        &self,
        request: Request<dapr::GetJobRequest>,
    ) -> Result<Response<dapr::GetJobResponse>, Status> {
        // daprd's answer for a missing job (reference §3.2).
        Err(Status::internal(format!(
            "failed to get job due to: rpc error: code = NotFound desc = job not found: {}",
            request.get_ref().name
        )))
    }

    async fn get_secret(
        &self,
        request: Request<dapr::GetSecretRequest>,
    ) -> Result<Response<dapr::GetSecretResponse>, Status> {
        let request = request.into_inner();
        if request.key != "gateway" {
            // Internal, as daprd (and localdapr) answer for a secret the store lacks.
            return Err(Status::internal(format!(
                "failed getting secret with key {} from secret store {}: secret {} not found",
                request.key, request.store_name, request.key
            )));
        }
        Ok(Response::new(dapr::GetSecretResponse {
            data: [("jwt-signing-key".to_string(), "k3y".to_string())].into(),
        }))
    }
}

/// A target app for proxied calls: it echoes the routing metadata it received.
struct EchoTasks;

#[tonic::async_trait]
impl task_service_server::TaskService for EchoTasks {
    async fn get_task(
        &self,
        request: Request<todo::GetTaskRequest>,
    ) -> Result<Response<todo::GetTaskResponse>, Status> {
        let app_id = request
            .metadata()
            .get("dapr-app-id")
            .map(|v| v.to_str().unwrap().to_string());
        Ok(Response::new(todo::GetTaskResponse {
            task: Some(todo::Task {
                title: app_id.unwrap_or_default(),
                ..Default::default()
            }),
        }))
    }
}

async fn start_fake(listener: TcpListener, fake: FakeSidecar) {
    let router = Server::builder()
        .add_service(dapr_server::DaprServer::new(fake))
        .add_service(task_service_server::TaskServiceServer::new(EchoTasks));
    tokio::spawn(router.serve_with_incoming(dapr_kit::net::incoming(listener)));
}

async fn connected(fake: FakeSidecar) -> (DaprClient, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    start_fake(listener, fake).await;
    let config = DaprConfig::for_endpoint(format!("http://{address}").parse().unwrap());
    (DaprClient::connect(&config).await.unwrap(), address)
}

#[tokio::test]
async fn connect_waits_for_a_sidecar_that_starts_late() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener); // nothing listens yet: connections are refused
    let config = DaprConfig::for_endpoint(format!("http://{address}").parse().unwrap());
    let connecting = tokio::spawn(async move { DaprClient::connect(&config).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    start_fake(
        TcpListener::bind(address).await.unwrap(),
        FakeSidecar::default(),
    )
    .await;
    let client = connecting
        .await
        .unwrap()
        .expect("connects once the sidecar is up");
    assert_eq!(client.metadata().await.unwrap().id, "fake");
}

#[tokio::test]
async fn connect_gives_up_at_the_startup_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let mut config = DaprConfig::for_endpoint(format!("http://{address}").parse().unwrap());
    config.startup_timeout = Duration::from_millis(400);
    let error = DaprClient::connect(&config).await.unwrap_err();
    assert!(
        matches!(error, DaprError::SidecarUnreachable { .. }),
        "{error:?}"
    );
    assert_eq!(error.code(), Code::Unavailable);
}

#[tokio::test(start_paused = true)]
async fn connect_gives_up_at_the_deadline_when_the_sidecar_accepts_but_never_answers() {
    // Bound but never accepting: the kernel completes the TCP handshake, nobody speaks HTTP/2.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let mut config = DaprConfig::for_endpoint(format!("http://{address}").parse().unwrap());
    config.startup_timeout = Duration::from_secs(5);
    config.call_timeout = Duration::from_secs(3600);

    let error = DaprClient::connect(&config).await.unwrap_err();

    let DaprError::SidecarUnreachable { waited, .. } = error else {
        panic!("expected SidecarUnreachable, got {error:?}");
    };
    assert!(waited <= config.startup_timeout, "waited {waited:?}");
    drop(listener);
}

#[tokio::test]
async fn every_call_carries_the_api_token_when_configured() {
    let fake = FakeSidecar::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    start_fake(listener, fake.clone()).await;
    let mut config = DaprConfig::for_endpoint(format!("http://{address}").parse().unwrap());
    config.api_token = Some(SecretString::from("t0ken"));
    let client = DaprClient::connect(&config).await.unwrap();
    client.metadata().await.unwrap();
    let tokens = fake.0.lock().unwrap().tokens.clone();
    assert!(!tokens.is_empty());
    assert!(
        tokens.iter().all(|t| t.as_deref() == Some("t0ken")),
        "{tokens:?}"
    );
}

#[tokio::test]
async fn state_reads_report_missing_keys_as_none_and_writes_respect_etags() {
    let (client, _) = connected(FakeSidecar::default()).await;
    assert_eq!(client.get_state("store", "k").await.unwrap(), None);

    client
        .save_state("store", "k", b"one".to_vec(), None)
        .await
        .unwrap();
    let first = client.get_state("store", "k").await.unwrap().unwrap();
    assert_eq!(first.value, b"one");
    let etag = first.etag.clone().unwrap();

    client
        .save_state("store", "k", b"two".to_vec(), Some(&etag))
        .await
        .unwrap();
    let stale = client
        .save_state("store", "k", b"three".to_vec(), Some(&etag))
        .await
        .unwrap_err();
    assert!(stale.is_etag_conflict(), "{stale:?}");
    assert_eq!(stale.code(), Code::Aborted);
    assert_eq!(
        client.get_state("store", "k").await.unwrap().unwrap().value,
        b"two"
    );
}

#[tokio::test]
async fn bulk_reads_keep_the_requested_order_and_surface_item_errors() {
    let (client, _) = connected(FakeSidecar::default()).await;
    client
        .save_state("store", "a", b"A".to_vec(), None)
        .await
        .unwrap();
    let keys = vec!["a".to_string(), "missing".to_string()];
    let entries = client.get_bulk_state("store", &keys).await.unwrap();
    let values: Vec<_> = entries
        .iter()
        .map(|e| (e.key.as_str(), e.value.clone()))
        .collect();
    assert_eq!(values, [("a", Some(b"A".to_vec())), ("missing", None)]);
    assert_eq!(entries[0].etag, Some(Etag::new("1")));

    let error = client
        .get_bulk_state("store", &["broken".to_string()])
        .await
        .unwrap_err();
    assert!(
        matches!(error, DaprError::BulkItem { ref key, .. } if key == "broken"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_transaction_sends_its_operations_in_order_with_the_outbox_projection() {
    let fake = FakeSidecar::default();
    let (client, _) = connected(fake.clone()).await;
    let etag = Etag::new("4");
    client
        .transact(
            "store",
            vec![
                StateOperation::upsert("bucket", b"tasks".to_vec()).with_etag(Some(&etag)),
                StateOperation::outbox_projection("bucket", br#"{"taskId":"t"}"#.to_vec()),
            ],
        )
        .await
        .unwrap();
    let transaction = fake.0.lock().unwrap().transactions[0].clone();
    assert_eq!(transaction.store_name, "store");
    let items: Vec<_> = transaction
        .operations
        .iter()
        .map(|op| op.request.clone().unwrap())
        .collect();
    assert_eq!(items[0].etag.as_ref().unwrap().value, "4");
    assert_eq!(items[1].key, "bucket");
    assert_eq!(items[1].metadata["outbox.projection"], "true");
    assert_eq!(items[1].metadata["contentType"], "application/json");
}

#[tokio::test]
async fn a_transaction_etag_conflict_is_recognised_although_dapr_reports_internal() {
    let (client, _) = connected(FakeSidecar::default()).await;
    let error = client
        .transact("store", vec![StateOperation::delete("conflict")])
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Internal);
    assert!(error.is_etag_conflict());
}

#[tokio::test]
async fn publishing_a_message_sends_proto3_json_with_its_partition_key() {
    let fake = FakeSidecar::default();
    let (client, _) = connected(fake.clone()).await;
    let event = todo::TaskEvent {
        task_id: "t-1".into(),
        version: 2,
        ..Default::default()
    };
    let publication = Publication::message("task-events", &event)
        .unwrap()
        .partition_key("t-1");
    client.publish("pubsub", publication).await.unwrap();
    let published = fake.0.lock().unwrap().publishes[0].clone();
    assert_eq!(published.topic, "task-events");
    assert_eq!(published.data_content_type, "application/json");
    assert_eq!(published.metadata["partitionKey"], "t-1");
    let json: serde_json::Value = serde_json::from_slice(&published.data).unwrap();
    assert_eq!(json, serde_json::json!({"taskId": "t-1", "version": "2"}));
}

#[tokio::test]
async fn jobs_are_scheduled_as_specified_and_a_missing_job_reads_as_none() {
    let fake = FakeSidecar::default();
    let (client, _) = connected(fake.clone()).await;
    client
        .schedule_job(JobSpec::once("reminder-1", "2030-01-01T09:00:00Z"), true)
        .await
        .unwrap();
    let scheduled = fake.0.lock().unwrap().jobs[0].clone();
    assert!(scheduled.overwrite);
    let job = scheduled.job.unwrap();
    assert_eq!(
        (job.name.as_str(), job.due_time.as_deref()),
        ("reminder-1", Some("2030-01-01T09:00:00Z"))
    );
    assert_eq!(client.get_job("reminder-9").await.unwrap(), None);
}

#[tokio::test]
async fn secrets_are_read_by_key() {
    let (client, _) = connected(FakeSidecar::default()).await;
    let secret = client.get_secret("secretstore", "gateway").await.unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(
        secret.get("jwt-signing-key").unwrap().expose_secret(),
        "k3y"
    );
    assert!(
        !format!("{secret:?}").contains("k3y"),
        "secrets never print"
    );
}

#[tokio::test]
async fn one_key_of_a_secret_is_read_and_parsed() {
    let (client, _) = connected(FakeSidecar::default()).await;
    let at = SecretKeyRef::new(
        "secretstore",
        "gateway",
        "jwt-signing-key",
        "the signing key",
    );
    let value = client
        .read_secret_key(&at, |value| Ok::<_, String>(value.to_vec()))
        .await
        .unwrap();
    assert_eq!(value, b"k3y");
}

#[tokio::test]
async fn each_failure_to_read_a_secret_key_names_store_secret_and_key_and_what_belongs_there() {
    let (client, _) = connected(FakeSidecar::default()).await;
    let at = |secret: &str, key: &'static str| {
        SecretKeyRef::new(
            "secretstore",
            secret,
            key,
            "the signing key (at least 8 bytes)",
        )
    };
    let too_short = |value: &[u8]| match value.len() {
        8.. => Ok(()),
        length => Err(format!("it has {length} bytes")),
    };
    let cases = [
        (
            "secret missing",
            at("absent", "jwt-signing-key"),
            "cannot read secret absent",
        ),
        (
            "key missing",
            at("gateway", "page-token-key"),
            "has no page-token-key",
        ),
        (
            "value refused",
            at("gateway", "jwt-signing-key"),
            "is unusable",
        ),
    ];
    for (case, at, expected) in cases {
        let error = client.read_secret_key(&at, too_short).await.unwrap_err();
        let variant_matches = match case {
            "secret missing" => matches!(error, SecretKeyError::Unreadable { .. }),
            "key missing" => matches!(error, SecretKeyError::Missing { .. }),
            _ => matches!(error, SecretKeyError::Unusable { .. }),
        };
        assert!(variant_matches, "case: {case}: {error:?}");
        let message = todo_telemetry::error_chain(&error);
        for part in [
            expected,
            "secretstore",
            &at.secret,
            at.key,
            "at least 8 bytes",
        ] {
            assert!(
                message.contains(part),
                "case: {case}: {part:?} in {message:?}"
            );
        }
        assert!(
            !message.contains("k3y"),
            "case: {case}: the value never prints"
        );
    }
}

#[tokio::test]
async fn an_app_channel_routes_calls_with_dapr_app_id() {
    let (client, _) = connected(FakeSidecar::default()).await;
    let mut tasks =
        todo::task_service_client::TaskServiceClient::new(client.app_channel("todo-api").unwrap());
    let response = tasks
        .get_task(todo::GetTaskRequest {
            task_id: "x".into(),
        })
        .await
        .unwrap();
    assert_eq!(response.into_inner().task.unwrap().title, "todo-api");
    // An RPC the target does not implement answers Unimplemented (default stubs).
    let status = tasks
        .list_tasks(todo::ListTasksRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(client.app_channel("bad\napp").is_err());
}
