//! Forwarding: the gateway serves `TaskService`, `AuditService`, `NotificationService` and
//! `SyncService` by calling the service that owns each through its Dapr sidecar (proxy mode,
//! typed clients over [`DaprClient::app_channel`]).
//!
//! For every call the [`Forwarder`]:
//! 1. verifies `authorization: Bearer <jwt>` (anything else is `Unauthenticated`, and nothing
//!    is forwarded);
//! 2. builds the outgoing request from the message alone — no client metadata is copied, so a
//!    client cannot smuggle in `todo-user-id` or `dapr-*` — and adds the verified
//!    `todo-user-id`;
//! 3. propagates the deadline: the client's `grpc-timeout`, capped (see [`crate::deadline`]);
//! 4. answers with the service's response message, or its `Status` with the same code, message
//!    and details (field violations included), minus its metadata.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dapr_kit::{AppChannel, DaprClient, DaprError, caller::USER_ID_HEADER};
use futures::{StreamExt, TryStreamExt};
use todo_proto::todo::v1::{
    self as proto, audit_service_client::AuditServiceClient, audit_service_server::AuditService,
    notification_service_client::NotificationServiceClient,
    notification_service_server::NotificationService, sync_service_client::SyncServiceClient,
    sync_service_server::SyncService, task_service_client::TaskServiceClient,
    task_service_server::TaskService,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Response, Status, codegen::BoxStream, metadata::AsciiMetadataValue};

use crate::{auth::AccessTokens, config::UpstreamApps, deadline};

/// Marks a proxied call as streaming, so daprd applies resiliency timeouts and retries to the
/// handshake only (reference §6).
const DAPR_STREAM: &str = "dapr-stream";

/// Typed clients of the services behind the gateway, each through the sidecar.
#[derive(Clone, Debug)]
pub struct Upstreams {
    tasks: TaskServiceClient<AppChannel>,
    audit: AuditServiceClient<AppChannel>,
    notifications: NotificationServiceClient<AppChannel>,
    sync: SyncServiceClient<AppChannel>,
}

impl Upstreams {
    /// Clients of `apps` through `dapr`'s sidecar; nothing connects until the first call.
    ///
    /// # Errors
    /// [`DaprError::InvalidMetadata`] when an app id is not a valid metadata value.
    pub fn new(dapr: &DaprClient, apps: &UpstreamApps) -> Result<Self, DaprError> {
        Ok(Self {
            tasks: TaskServiceClient::new(dapr.app_channel(&apps.tasks)?),
            audit: AuditServiceClient::new(dapr.app_channel(&apps.audit)?),
            notifications: NotificationServiceClient::new(dapr.app_channel(&apps.notification)?),
            sync: SyncServiceClient::new(dapr.app_channel(&apps.sync)?),
        })
    }
}

/// Serves the forwarded services.
#[derive(Clone, Debug)]
pub struct Forwarder {
    access_tokens: AccessTokens,
    upstreams: Upstreams,
    deadline_cap: Duration,
    shutting_down: CancellationToken,
}

impl Forwarder {
    /// Forwards to `upstreams` for holders of tokens `access_tokens` accepts; unary calls get at
    /// most `deadline_cap`; watch streams end when `shutting_down` is cancelled.
    pub fn new(
        access_tokens: AccessTokens,
        upstreams: Upstreams,
        deadline_cap: Duration,
        shutting_down: CancellationToken,
    ) -> Self {
        Self {
            access_tokens,
            upstreams,
            deadline_cap,
            shutting_down,
        }
    }

    /// The request to send on: the message, the verified user, and `deadline` if any.
    fn outgoing<T>(
        &self,
        request: Request<T>,
        deadline: Option<Duration>,
    ) -> Result<Request<T>, Status> {
        self.outgoing_verified(request, deadline)
            .map(|(outgoing, _)| outgoing)
    }

    /// As [`Self::outgoing`], also returning when the caller's token expires.
    fn outgoing_verified<T>(
        &self,
        request: Request<T>,
        deadline: Option<Duration>,
    ) -> Result<(Request<T>, DateTime<Utc>), Status> {
        let verified = self.access_tokens.authenticate_call(request.metadata())?;
        let user: AsciiMetadataValue = verified
            .user
            .to_string()
            .parse()
            .expect("a hyphenated UUID is valid metadata");
        let mut outgoing = Request::new(request.into_inner());
        outgoing.metadata_mut().insert(USER_ID_HEADER, user);
        if let Some(deadline) = deadline {
            outgoing.set_timeout(deadline);
        }
        Ok((outgoing, verified.expires_at))
    }

    /// Forwards a unary call with `call`, which sends the outgoing request to the right client.
    async fn forward_unary<Req, Res, Fut>(
        &self,
        request: Request<Req>,
        call: impl FnOnce(Request<Req>) -> Fut,
    ) -> Result<Response<Res>, Status>
    where
        Fut: Future<Output = Result<Response<Res>, Status>>,
    {
        let deadline = deadline::unary_deadline(request.metadata(), self.deadline_cap);
        let outgoing = self.outgoing(request, Some(deadline))?;
        let started = Instant::now();
        match call(outgoing).await {
            Ok(response) => Ok(Response::new(response.into_inner())),
            Err(status) => Err(pass_through(status, started.elapsed() >= deadline)),
        }
    }
}

/// The upstream's status as the client should see it: code, message and details unchanged,
/// its metadata (the upstream's and daprd's headers) dropped. tonic reports its own expired
/// timer as `Cancelled`; once the deadline has passed that is `DeadlineExceeded`.
fn pass_through(status: Status, deadline_passed: bool) -> Status {
    if deadline_passed && status.code() == Code::Cancelled {
        return Status::deadline_exceeded("deadline exceeded");
    }
    // A server-side failure without details is the sidecar's or the transport's own text (an
    // app id, an address): log it, and tell the client only what kind of failure it was. The
    // services' own errors of these kinds already carry generic messages.
    if matches!(
        status.code(),
        Code::Unavailable | Code::Internal | Code::Unknown
    ) && status.details().is_empty()
    {
        tracing::warn!(code = ?status.code(), message = status.message(), "forwarded call failed");
        let message = match status.code() {
            Code::Unavailable => "the service is unavailable; retry later",
            _ => "internal error",
        };
        return Status::new(status.code(), message);
    }
    Status::with_details(
        status.code(),
        status.message(),
        bytes::Bytes::copy_from_slice(status.details()),
    )
}

/// Implements a service whose RPCs are all unary by forwarding each to `upstreams.$client`.
macro_rules! forward_unary_service {
    ($service:ident via $client:ident { $($method:ident($request:ident) -> $response:ident;)+ }) => {
        #[tonic::async_trait]
        impl $service for Forwarder {
            $(
                #[tracing::instrument(skip_all, fields(user_id))]
                async fn $method(
                    &self,
                    request: Request<proto::$request>,
                ) -> Result<Response<proto::$response>, Status> {
                    let mut client = self.upstreams.$client.clone();
                    self.forward_unary(request, |outgoing| async move {
                        client.$method(outgoing).await
                    })
                    .await
                }
            )+
        }
    };
}

forward_unary_service!(TaskService via tasks {
    create_task(CreateTaskRequest) -> CreateTaskResponse;
    get_task(GetTaskRequest) -> GetTaskResponse;
    list_tasks(ListTasksRequest) -> ListTasksResponse;
    update_task(UpdateTaskRequest) -> UpdateTaskResponse;
    complete_task(CompleteTaskRequest) -> CompleteTaskResponse;
    reopen_task(ReopenTaskRequest) -> ReopenTaskResponse;
    delete_task(DeleteTaskRequest) -> DeleteTaskResponse;
});

forward_unary_service!(AuditService via audit {
    list_task_history(ListTaskHistoryRequest) -> ListTaskHistoryResponse;
});

forward_unary_service!(NotificationService via notifications {
    list_notifications(ListNotificationsRequest) -> ListNotificationsResponse;
    mark_read(MarkReadRequest) -> MarkReadResponse;
});

#[tonic::async_trait]
impl SyncService for Forwarder {
    #[tracing::instrument(skip_all, fields(user_id))]
    async fn watch_tasks(
        &self,
        request: Request<proto::WatchTasksRequest>,
    ) -> Result<Response<BoxStream<proto::WatchTasksResponse>>, Status> {
        // A watch lasts as long as the client wants: only the client's own deadline applies.
        let deadline = deadline::client_timeout(request.metadata());
        let (mut outgoing, token_expires_at) = self.outgoing_verified(request, deadline)?;
        outgoing
            .metadata_mut()
            .insert(DAPR_STREAM, AsciiMetadataValue::from_static("true"));
        let started = Instant::now();
        let deadline_passed = move || deadline.is_some_and(|d| started.elapsed() >= d);
        let events = self
            .upstreams
            .sync
            .clone()
            .watch_tasks(outgoing)
            .await
            .map_err(|status| pass_through(status, deadline_passed()))?
            .into_inner()
            .map_err(move |status| pass_through(status, deadline_passed()));
        let ending = stream_end(token_expires_at, self.shutting_down.clone());
        Ok(Response::new(Box::pin(until_ended(events, ending))))
    }
}

/// What ends a watch from the gateway's side: the caller's access token expiring (it could be
/// stolen, or its session signed out) or the gateway shutting down. Clients reconnect and resync
/// on either status.
async fn stream_end(token_expires_at: DateTime<Utc>, shutting_down: CancellationToken) -> Status {
    let until_expiry = (token_expires_at - Utc::now()).to_std().unwrap_or_default();
    tokio::select! {
        () = tokio::time::sleep(until_expiry) => {
            Status::unauthenticated("access token expired; refresh it and watch again")
        }
        () = shutting_down.cancelled() => {
            Status::unavailable("the gateway is restarting; watch again")
        }
    }
}

/// Yields `events` until they end or `ending` resolves, which ends the stream with its status.
fn until_ended<T: Send + 'static>(
    events: impl futures::Stream<Item = Result<T, Status>> + Send + 'static,
    ending: impl Future<Output = Status> + Send + 'static,
) -> impl futures::Stream<Item = Result<T, Status>> + Send + 'static {
    let state = (Box::pin(events), Some(Box::pin(ending)));
    futures::stream::unfold(state, |(mut events, ending)| async move {
        let mut ending = ending?;
        tokio::select! {
            item = events.next() => item.map(|item| (item, (events, Some(ending)))),
            status = &mut ending => Some((Err(status), (events, None))),
        }
    })
}

#[cfg(test)]
mod tests {
    use tonic_types::{ErrorDetails, StatusExt};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_watch_ends_when_its_token_expires() {
        let events = futures::stream::pending::<Result<u32, Status>>();
        let ending = stream_end(
            Utc::now() + chrono::TimeDelta::seconds(60),
            CancellationToken::new(),
        );
        let mut watch = Box::pin(until_ended(events, ending));
        let last = watch.next().await.unwrap().unwrap_err();
        assert_eq!(last.code(), Code::Unauthenticated);
        assert!(
            watch.next().await.is_none(),
            "nothing after the final status"
        );
    }

    #[tokio::test]
    async fn a_watch_ends_with_unavailable_when_the_gateway_shuts_down() {
        let shutting_down = CancellationToken::new();
        let ending = stream_end(
            Utc::now() + chrono::TimeDelta::hours(1),
            shutting_down.clone(),
        );
        let events = futures::stream::iter([Ok(1), Ok(2)]).chain(futures::stream::pending());
        let mut watch = Box::pin(until_ended(events, ending));
        assert_eq!(watch.next().await.unwrap().unwrap(), 1);
        assert_eq!(watch.next().await.unwrap().unwrap(), 2);
        shutting_down.cancel();
        assert_eq!(
            watch.next().await.unwrap().unwrap_err().code(),
            Code::Unavailable
        );
    }

    #[tokio::test]
    async fn a_watch_ends_when_its_upstream_does() {
        let ending = stream_end(
            Utc::now() + chrono::TimeDelta::hours(1),
            CancellationToken::new(),
        );
        let mut watch = Box::pin(until_ended(
            futures::stream::iter([Ok::<_, Status>(7)]),
            ending,
        ));
        assert_eq!(watch.next().await.unwrap().unwrap(), 7);
        assert!(watch.next().await.is_none());
    }

    #[test]
    fn infrastructure_error_text_stays_in_the_gateway() {
        let cases = [
            (
                Status::unavailable("failed to proxy request: app id audit is unknown"),
                "the service is unavailable; retry later",
            ),
            (
                Status::unknown("failed to proxy request: required metadata dapr-app-id not found"),
                "internal error",
            ),
            (Status::not_found("task t not found"), "task t not found"),
        ];
        for (upstream, message) in cases {
            let code = upstream.code();
            let passed = pass_through(upstream, false);
            assert_eq!((passed.code(), passed.message()), (code, message));
        }
    }

    #[test]
    fn statuses_pass_through_with_details_but_without_metadata() {
        let mut upstream = todo_proto::status::invalid_argument([("title", "must not be blank")]);
        upstream
            .metadata_mut()
            .insert("dapr-callee-app-id", "todo-api".parse().unwrap());
        let passed = pass_through(upstream, false);
        assert_eq!(passed.code(), Code::InvalidArgument);
        assert_eq!(passed.message(), "title: must not be blank");
        assert_eq!(
            todo_proto::status::field_violations(&passed),
            [("title".to_string(), "must not be blank".to_string())]
        );
        assert!(passed.metadata().get("dapr-callee-app-id").is_none());
    }

    #[test]
    fn a_cancelled_call_past_its_deadline_is_deadline_exceeded() {
        let cases = [
            (
                "expired timer",
                Code::Cancelled,
                true,
                Code::DeadlineExceeded,
            ),
            ("cancelled early", Code::Cancelled, false, Code::Cancelled),
            ("not found late", Code::NotFound, true, Code::NotFound),
        ];
        for (case, code, passed, expected) in cases {
            let status = Status::with_error_details(code, "x", ErrorDetails::new());
            assert_eq!(
                pass_through(status, passed).code(),
                expected,
                "case: {case}"
            );
        }
    }
}
