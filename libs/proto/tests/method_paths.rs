//! Proves every RPC we declare in `proto/dapr` has the method path Dapr uses: the official
//! `dapr` crate's own clients call our generated servers over a real socket, and each call must
//! reach the handler of the same name. A renamed service or method lands on tonic's
//! unknown-method answer instead, and the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test
#![allow(deprecated)] // the Alpha1 twins are deprecated upstream, and still served
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tonic::{Code, Request, Response, Status, transport::Server};

use dapr::dapr::proto::runtime::v1 as theirs;
use todo_proto::dapr::proto::{common::v1 as common, runtime::v1 as ours};

/// Answers every RPC with `AlreadyExists` and the handler's name, so a test can see which
/// handler a call reached.
#[derive(Clone, Copy, Default)]
struct Marker;

/// Implements `$service` for [`Marker`]. The whole impl is generated here because
/// `#[async_trait]` must see the methods themselves, not a macro call.
macro_rules! marker_impl {
    ($service:path { $($method:ident($request:ty) -> $response:ty;)* }) => {
        #[tonic::async_trait]
        impl $service for Marker {
            $(
                async fn $method(&self, _: Request<$request>) -> Result<Response<$response>, Status> {
                    Err(Status::already_exists(stringify!($method)))
                }
            )*
        }
    };
}

marker_impl!(ours::app_callback_server::AppCallback {
    on_invoke(common::InvokeRequest) -> common::InvokeResponse;
    list_topic_subscriptions(()) -> ours::ListTopicSubscriptionsResponse;
    on_topic_event(ours::TopicEventRequest) -> ours::TopicEventResponse;
    list_input_bindings(()) -> ours::ListInputBindingsResponse;
    on_binding_event(ours::BindingEventRequest) -> ours::BindingEventResponse;
    on_bulk_topic_event(ours::TopicEventBulkRequest) -> ours::TopicEventBulkResponse;
    on_job_event(ours::JobEventRequest) -> ours::JobEventResponse;
});

marker_impl!(ours::app_callback_health_check_server::AppCallbackHealthCheck {
    health_check(()) -> ours::HealthCheckResponse;
});

marker_impl!(ours::app_callback_alpha_server::AppCallbackAlpha {
    on_bulk_topic_event_alpha1(ours::TopicEventBulkRequest) -> ours::TopicEventBulkResponse;
    on_job_event_alpha1(ours::JobEventRequest) -> ours::JobEventResponse;
});

marker_impl!(ours::dapr_server::Dapr {
    invoke_service(ours::InvokeServiceRequest) -> common::InvokeResponse;
    get_state(ours::GetStateRequest) -> ours::GetStateResponse;
    get_bulk_state(ours::GetBulkStateRequest) -> ours::GetBulkStateResponse;
    save_state(ours::SaveStateRequest) -> ();
    query_state_alpha1(ours::QueryStateRequest) -> ours::QueryStateResponse;
    delete_state(ours::DeleteStateRequest) -> ();
    delete_bulk_state(ours::DeleteBulkStateRequest) -> ();
    execute_state_transaction(ours::ExecuteStateTransactionRequest) -> ();
    publish_event(ours::PublishEventRequest) -> ();
    bulk_publish_event_alpha1(ours::BulkPublishRequest) -> ours::BulkPublishResponse;
    bulk_publish_event(ours::BulkPublishRequest) -> ours::BulkPublishResponse;
    get_secret(ours::GetSecretRequest) -> ours::GetSecretResponse;
    get_bulk_secret(ours::GetBulkSecretRequest) -> ours::GetBulkSecretResponse;
    get_metadata(ours::GetMetadataRequest) -> ours::GetMetadataResponse;
    set_metadata(ours::SetMetadataRequest) -> ();
    shutdown(ours::ShutdownRequest) -> ();
    schedule_job_alpha1(ours::ScheduleJobRequest) -> ours::ScheduleJobResponse;
    schedule_job(ours::ScheduleJobRequest) -> ours::ScheduleJobResponse;
    get_job_alpha1(ours::GetJobRequest) -> ours::GetJobResponse;
    get_job(ours::GetJobRequest) -> ours::GetJobResponse;
    delete_job_alpha1(ours::DeleteJobRequest) -> ours::DeleteJobResponse;
    delete_job(ours::DeleteJobRequest) -> ours::DeleteJobResponse;
    delete_jobs_by_prefix_alpha1(ours::DeleteJobsByPrefixRequestAlpha1) -> ours::DeleteJobsByPrefixResponseAlpha1;
    delete_jobs_by_prefix(ours::DeleteJobsByPrefixRequest) -> ours::DeleteJobsByPrefixResponse;
    list_jobs_alpha1(ours::ListJobsRequestAlpha1) -> ours::ListJobsResponseAlpha1;
    list_jobs(ours::ListJobsRequest) -> ours::ListJobsResponse;
});

async fn serve_markers() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = Server::builder()
        .add_service(ours::app_callback_server::AppCallbackServer::new(Marker))
        .add_service(
            ours::app_callback_health_check_server::AppCallbackHealthCheckServer::new(Marker),
        )
        .add_service(ours::app_callback_alpha_server::AppCallbackAlphaServer::new(Marker))
        .add_service(ours::dapr_server::DaprServer::new(Marker));
    tokio::spawn(router.serve_with_incoming(
        tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
    ));
    address
}

/// Calls `$client.$method(Default::default())` and checks it reached our `$method` handler.
macro_rules! assert_reaches {
    ($client:ident, $($method:ident),* $(,)?) => {$(
        let status = $client
            .$method(Request::new(Default::default()))
            .await
            .expect_err("a marker handler always fails");
        assert_eq!(
            (status.code(), status.message()),
            (Code::AlreadyExists, stringify!($method)),
            "their {} did not reach our handler of the same name",
            stringify!($method)
        );
    )*};
}

#[tokio::test]
async fn the_official_crate_reaches_every_app_callback_method_we_serve() {
    let url = format!("http://{}", serve_markers().await);
    let mut app = theirs::app_callback_client::AppCallbackClient::connect(url.clone())
        .await
        .unwrap();
    assert_reaches!(
        app,
        on_invoke,
        list_topic_subscriptions,
        on_topic_event,
        list_input_bindings,
        on_binding_event,
        on_bulk_topic_event,
        on_job_event,
    );
    let mut health =
        theirs::app_callback_health_check_client::AppCallbackHealthCheckClient::connect(
            url.clone(),
        )
        .await
        .unwrap();
    assert_reaches!(health, health_check);
    let mut alpha = theirs::app_callback_alpha_client::AppCallbackAlphaClient::connect(url)
        .await
        .unwrap();
    assert_reaches!(alpha, on_bulk_topic_event_alpha1, on_job_event_alpha1);
}

#[tokio::test]
async fn the_official_crate_reaches_every_dapr_method_we_declare() {
    let url = format!("http://{}", serve_markers().await);
    let mut dapr = theirs::dapr_client::DaprClient::connect(url).await.unwrap();
    assert_reaches!(
        dapr,
        invoke_service,
        get_state,
        get_bulk_state,
        save_state,
        query_state_alpha1,
        delete_state,
        delete_bulk_state,
        execute_state_transaction,
        publish_event,
        bulk_publish_event_alpha1,
        bulk_publish_event,
        get_secret,
        get_bulk_secret,
        get_metadata,
        set_metadata,
        shutdown,
        schedule_job_alpha1,
        schedule_job,
        get_job_alpha1,
        get_job,
        delete_job_alpha1,
        delete_job,
        delete_jobs_by_prefix_alpha1,
        delete_jobs_by_prefix,
        list_jobs_alpha1,
        list_jobs,
    );
}

#[tokio::test]
async fn an_rpc_we_do_not_declare_answers_unimplemented() {
    let url = format!("http://{}", serve_markers().await);
    let mut dapr = theirs::dapr_client::DaprClient::connect(url).await.unwrap();
    let status = dapr
        .invoke_binding(Request::new(Default::default()))
        .await
        .expect_err("InvokeBinding is not declared");
    assert_eq!(status.code(), Code::Unimplemented);
}
