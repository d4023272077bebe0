//! One sidecar per app instance: the `dapr.proto.runtime.v1.Dapr` gRPC API on its own port
//! (anything else on that port is proxied to another app, reference §6), the API-token check,
//! and the background work that connects the app (wait for its port, read subscriptions once,
//! probe its health).

use std::{sync::Arc, time::Duration};

use todo_proto::dapr::proto::{
    common::v1 as common,
    runtime::v1::{self as dapr, dapr_server},
};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, metadata::MetadataMap};

use crate::{
    app::AppInstanceHandle,
    proxy,
    runtime::{AppSpec, HealthCheckSpec, Runtime},
};

/// The W3C trace context a call arrived with; daprd puts it on the CloudEvents it builds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceHeaders {
    /// The `traceparent` header.
    pub traceparent: Option<String>,
    /// The `tracestate` header.
    pub tracestate: Option<String>,
}

impl TraceHeaders {
    /// Reads the trace headers of a call.
    pub fn from_metadata(metadata: &MetadataMap) -> Self {
        let get = |name| {
            metadata
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Self {
            traceparent: get("traceparent"),
            tracestate: get("tracestate"),
        }
    }
}

/// The Dapr API of one sidecar.
#[derive(Clone, Debug)]
pub struct SidecarApi {
    runtime: Arc<Runtime>,
    app: Arc<AppInstanceHandle>,
    stop: CancellationToken,
}

/// Spawns the sidecar's server on `listener` until `stop` is cancelled.
pub(crate) fn serve(
    runtime: &Arc<Runtime>,
    app: Arc<AppInstanceHandle>,
    spec: &AppSpec,
    listener: TcpListener,
    stop: CancellationToken,
) {
    let api = SidecarApi {
        runtime: runtime.clone(),
        app: app.clone(),
        stop: stop.clone(),
    };
    let dapr_routes = tonic::service::Routes::new(
        dapr_server::DaprServer::new(api).max_decoding_message_size(16 * 1024 * 1024),
    );
    let proxy_runtime = runtime.clone();
    let proxy_caller = app.clone();
    // Anything that is not the Dapr API is a proxied call to another app (reference §6).
    // Only the Dapr API's own routes: a proxied call keeps the target app's status as-is.
    let router = dapr_routes
        .into_axum_router()
        .layer(dapr_kit::oversized_message::OversizedMessageLayer)
        .fallback(move |request| {
            proxy::forward(proxy_runtime.clone(), proxy_caller.clone(), request)
        });
    // Every call must carry the sidecar's API token when it has one (reference §8.2): dapr-kit's
    // app-side check with the same header, but on every path. The sidecar has no health
    // service of its own, so an exempt health path would be proxied to an app unchecked.
    let token = spec.api_token.clone().map(secrecy::SecretString::from);
    let router = router.layer(dapr_kit::callback::AppTokenLayer::everywhere(token));
    let app_id = app.app_id().to_string();
    runtime.tasks.spawn(async move {
        let served = dapr_kit::net::serve(listener, router, stop.cancelled_owned()).await;
        if let Err(error) = served {
            tracing::error!(app_id, %error, "sidecar server failed");
        }
    });
}

/// Connects the app in the background: waits for its port, reads its subscriptions once,
/// then probes its health if checks are on. Removes the instance when `stop` is cancelled.
pub(crate) fn connect_app(
    runtime: &Arc<Runtime>,
    app: Arc<AppInstanceHandle>,
    health_check: Option<HealthCheckSpec>,
    stop: CancellationToken,
) {
    let runtime = runtime.clone();
    runtime.clone().tasks.spawn(async move {
        tokio::select! {
            () = stop.cancelled() => {}
            () = run_app_connection(&runtime, &app, health_check) => {}
        }
        app.set_connected(false);
        runtime.apps.remove(&app);
        runtime.pubsub.app_disconnected(&app).await;
        tracing::info!(app_id = app.app_id(), "sidecar stopped");
    });
}

async fn run_app_connection(
    runtime: &Arc<Runtime>,
    app: &Arc<AppInstanceHandle>,
    health_check: Option<HealthCheckSpec>,
) {
    if let Some(address) = app.address {
        // daprd blocks until the app port accepts TCP before anything else (reference §8.2).
        let mut logged = false;
        while TcpStream::connect(address).await.is_err() {
            if !logged {
                tracing::info!(app_id = app.app_id(), %address, "waiting for the app port");
                logged = true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Err(status) = runtime.pubsub.app_connected(app).await {
            tracing::error!(app_id = app.app_id(), %status, "cannot read the app's subscriptions");
        }
    }
    app.set_connected(true);
    runtime.apps.notify_changed();
    runtime.jobs.app_connected(app.app_id());
    tracing::info!(app_id = app.app_id(), "app connected");
    match health_check {
        Some(spec) => probe_health(runtime, app, spec).await,
        None => std::future::pending().await,
    }
}

async fn probe_health(runtime: &Runtime, app: &AppInstanceHandle, spec: HealthCheckSpec) {
    let Some(mut client) = app.health() else {
        return std::future::pending().await;
    };
    let mut failures = 0u32;
    loop {
        tokio::time::sleep(spec.interval).await;
        let probe = tokio::time::timeout(spec.timeout, client.health_check(())).await;
        let healthy = matches!(probe, Ok(Ok(_)));
        failures = if healthy { 0 } else { failures + 1 };
        if healthy && !app.is_healthy() {
            tracing::info!(
                app_id = app.app_id(),
                "app is healthy again, resuming deliveries"
            );
            app.set_healthy(true);
            runtime.apps.notify_changed();
        } else if failures >= spec.threshold && app.is_healthy() {
            tracing::warn!(
                app_id = app.app_id(),
                failures,
                "app is unhealthy, pausing deliveries"
            );
            app.set_healthy(false);
            runtime.apps.notify_changed();
        }
    }
}

impl SidecarApi {
    fn app_id(&self) -> &str {
        self.app.app_id()
    }

    /// Runs a state call, records it under daprd's state metrics, and wraps its answer.
    async fn measured<T>(
        &self,
        store: &str,
        operation: &'static str,
        call: impl Future<Output = Result<T, Status>>,
    ) -> Result<Response<T>, Status> {
        crate::state::metrics::measured(&self.runtime, self.app_id(), store, operation, call)
            .await
            .map(Response::new)
    }
}

#[tonic::async_trait]
impl dapr_server::Dapr for SidecarApi {
    async fn invoke_service(
        &self,
        request: Request<dapr::InvokeServiceRequest>,
    ) -> Result<Response<common::InvokeResponse>, Status> {
        crate::invoke::invoke_service(&self.runtime, &self.app, request).await
    }

    async fn get_state(
        &self,
        request: Request<dapr::GetStateRequest>,
    ) -> Result<Response<dapr::GetStateResponse>, Status> {
        let store = request.get_ref().store_name.clone();
        let call = crate::state::get_state(&self.runtime, self.app_id(), request.into_inner());
        self.measured(&store, "get", call).await
    }

    async fn get_bulk_state(
        &self,
        request: Request<dapr::GetBulkStateRequest>,
    ) -> Result<Response<dapr::GetBulkStateResponse>, Status> {
        let store = request.get_ref().store_name.clone();
        let call = crate::state::get_bulk_state(&self.runtime, self.app_id(), request.into_inner());
        self.measured(&store, "get_bulk", call).await
    }

    async fn save_state(
        &self,
        request: Request<dapr::SaveStateRequest>,
    ) -> Result<Response<()>, Status> {
        let store = request.get_ref().store_name.clone();
        let call = crate::state::save_state(&self.runtime, self.app_id(), request.into_inner());
        self.measured(&store, "set", call).await
    }

    async fn query_state_alpha1(
        &self,
        request: Request<dapr::QueryStateRequest>,
    ) -> Result<Response<dapr::QueryStateResponse>, Status> {
        crate::state::query_state(&self.runtime, self.app_id(), request.get_ref())
            .map(Response::new)
    }

    async fn delete_state(
        &self,
        request: Request<dapr::DeleteStateRequest>,
    ) -> Result<Response<()>, Status> {
        let store = request.get_ref().store_name.clone();
        let call = crate::state::delete_state(&self.runtime, self.app_id(), request.into_inner());
        self.measured(&store, "delete", call).await
    }

    async fn delete_bulk_state(
        &self,
        request: Request<dapr::DeleteBulkStateRequest>,
    ) -> Result<Response<()>, Status> {
        let store = request.get_ref().store_name.clone();
        let call =
            crate::state::delete_bulk_state(&self.runtime, self.app_id(), request.into_inner());
        self.measured(&store, "delete_bulk", call).await
    }

    async fn execute_state_transaction(
        &self,
        request: Request<dapr::ExecuteStateTransactionRequest>,
    ) -> Result<Response<()>, Status> {
        let trace = TraceHeaders::from_metadata(request.metadata());
        let store = request.get_ref().store_name.clone();
        let transaction = crate::state::execute_transaction(
            &self.runtime,
            &self.app,
            request.into_inner(),
            trace,
        );
        self.measured(&store, "transaction", transaction).await
    }

    async fn publish_event(
        &self,
        request: Request<dapr::PublishEventRequest>,
    ) -> Result<Response<()>, Status> {
        let trace = TraceHeaders::from_metadata(request.metadata());
        self.runtime
            .pubsub
            .publish(&self.app, request.into_inner(), trace)
            .await
            .map(Response::new)
    }

    async fn bulk_publish_event_alpha1(
        &self,
        request: Request<dapr::BulkPublishRequest>,
    ) -> Result<Response<dapr::BulkPublishResponse>, Status> {
        self.bulk_publish_event(request).await
    }

    async fn bulk_publish_event(
        &self,
        request: Request<dapr::BulkPublishRequest>,
    ) -> Result<Response<dapr::BulkPublishResponse>, Status> {
        let trace = TraceHeaders::from_metadata(request.metadata());
        self.runtime
            .pubsub
            .bulk_publish(&self.app, request.into_inner(), trace)
            .await
            .map(Response::new)
    }

    async fn get_secret(
        &self,
        request: Request<dapr::GetSecretRequest>,
    ) -> Result<Response<dapr::GetSecretResponse>, Status> {
        crate::secrets::get_secret(&self.runtime, self.app_id(), request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_bulk_secret(
        &self,
        request: Request<dapr::GetBulkSecretRequest>,
    ) -> Result<Response<dapr::GetBulkSecretResponse>, Status> {
        crate::secrets::get_bulk_secret(&self.runtime, self.app_id(), request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_metadata(
        &self,
        _request: Request<dapr::GetMetadataRequest>,
    ) -> Result<Response<dapr::GetMetadataResponse>, Status> {
        Ok(Response::new(crate::metadata::get_metadata(
            &self.runtime,
            &self.app,
        )))
    }

    async fn set_metadata(
        &self,
        request: Request<dapr::SetMetadataRequest>,
    ) -> Result<Response<()>, Status> {
        let dapr::SetMetadataRequest { key, value } = request.into_inner();
        // daprd ignores an empty key and validates nothing else (`universal.SetMetadata`).
        if !key.is_empty() {
            self.app.set_extended_metadata(key, value);
        }
        Ok(Response::new(()))
    }

    async fn shutdown(
        &self,
        _request: Request<dapr::ShutdownRequest>,
    ) -> Result<Response<()>, Status> {
        tracing::info!(app_id = self.app_id(), "shutdown requested by the app");
        self.stop.cancel();
        Ok(Response::new(()))
    }

    async fn schedule_job_alpha1(
        &self,
        request: Request<dapr::ScheduleJobRequest>,
    ) -> Result<Response<dapr::ScheduleJobResponse>, Status> {
        self.schedule_job(request).await
    }

    async fn schedule_job(
        &self,
        request: Request<dapr::ScheduleJobRequest>,
    ) -> Result<Response<dapr::ScheduleJobResponse>, Status> {
        self.runtime
            .jobs
            .schedule(self.app_id(), request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_job_alpha1(
        &self,
        request: Request<dapr::GetJobRequest>,
    ) -> Result<Response<dapr::GetJobResponse>, Status> {
        self.get_job(request).await
    }

    async fn get_job(
        &self,
        request: Request<dapr::GetJobRequest>,
    ) -> Result<Response<dapr::GetJobResponse>, Status> {
        self.runtime
            .jobs
            .get(self.app_id(), request.into_inner())
            .await
            .map(Response::new)
    }

    async fn delete_job_alpha1(
        &self,
        request: Request<dapr::DeleteJobRequest>,
    ) -> Result<Response<dapr::DeleteJobResponse>, Status> {
        self.delete_job(request).await
    }

    async fn delete_job(
        &self,
        request: Request<dapr::DeleteJobRequest>,
    ) -> Result<Response<dapr::DeleteJobResponse>, Status> {
        self.runtime
            .jobs
            .delete(self.app_id(), request.into_inner())
            .await
            .map(Response::new)
    }

    async fn delete_jobs_by_prefix_alpha1(
        &self,
        request: Request<dapr::DeleteJobsByPrefixRequestAlpha1>,
    ) -> Result<Response<dapr::DeleteJobsByPrefixResponseAlpha1>, Status> {
        let prefix = request.into_inner().name_prefix.unwrap_or_default();
        self.runtime
            .jobs
            .delete_by_prefix(self.app_id(), &prefix)
            .await?;
        Ok(Response::new(dapr::DeleteJobsByPrefixResponseAlpha1 {}))
    }

    async fn delete_jobs_by_prefix(
        &self,
        request: Request<dapr::DeleteJobsByPrefixRequest>,
    ) -> Result<Response<dapr::DeleteJobsByPrefixResponse>, Status> {
        let prefix = request.into_inner().name_prefix.unwrap_or_default();
        self.runtime
            .jobs
            .delete_by_prefix(self.app_id(), &prefix)
            .await?;
        Ok(Response::new(dapr::DeleteJobsByPrefixResponse {}))
    }

    async fn list_jobs_alpha1(
        &self,
        _request: Request<dapr::ListJobsRequestAlpha1>,
    ) -> Result<Response<dapr::ListJobsResponseAlpha1>, Status> {
        let jobs = self.runtime.jobs.list(self.app_id()).await?;
        Ok(Response::new(dapr::ListJobsResponseAlpha1 { jobs }))
    }

    async fn list_jobs(
        &self,
        _request: Request<dapr::ListJobsRequest>,
    ) -> Result<Response<dapr::ListJobsResponse>, Status> {
        let jobs = self.runtime.jobs.list(self.app_id()).await?;
        Ok(Response::new(dapr::ListJobsResponse { jobs }))
    }
}
