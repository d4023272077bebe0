//! `AppCallbackService` as daprd sees it: the official `dapr` crate's AppCallback clients call a
//! service built from dapr-kit over a real socket.

#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures too: a panic is a failed test
#![allow(deprecated)] // OnJobEventAlpha1 is deprecated upstream, and older sidecars still call it

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use dapr::dapr::proto::runtime::v1 as wire;
use dapr_kit::{
    AppCallbackService, HandlerError, JobHandlers, JobTrigger, Subscription, Subscriptions,
    TopicEvent, callback::AppTokenLayer,
};
use secrecy::SecretString;
use todo_proto::todo::v1::TaskEvent;
use tokio::net::TcpListener;
use tonic::{Code, Request};
use wire::topic_event_response::TopicEventResponseStatus as Status;

type Seen = Arc<Mutex<Vec<String>>>;

fn sample_app(seen: Seen) -> AppCallbackService {
    let on_completed = {
        let seen = seen.clone();
        move |event: TopicEvent| {
            let seen = seen.clone();
            async move {
                let task_event: TaskEvent = event.json()?;
                if task_event.task_id == "flaky" {
                    return Err(HandlerError::transient("database unavailable"));
                }
                seen.lock()
                    .unwrap()
                    .push(format!("completed:{}", task_event.task_id));
                Ok(())
            }
        }
    };
    let on_other = {
        let seen = seen.clone();
        move |event: TopicEvent| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(format!("other:{}", event.id));
                Ok(())
            }
        }
    };
    let on_reminder = move |trigger: JobTrigger| {
        let seen = seen.clone();
        async move {
            if trigger.name == "reminder-poison" {
                return Err(HandlerError::poison("bad job data"));
            }
            seen.lock().unwrap().push(format!("job:{}", trigger.name));
            Ok(())
        }
    };
    let subscriptions = Subscriptions::new().subscribe(
        Subscription::new("pubsub", "task-events")
            .route(r#"event.type == "completed""#, "completed", on_completed)
            .default_route(on_other)
            .dead_letter_topic("task-events-dlq"),
    );
    AppCallbackService::new(
        subscriptions,
        JobHandlers::new().prefix("reminder-", on_reminder),
    )
}

async fn serve(app: AppCallbackService, token: Option<&str>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = app
        .into_routes()
        .into_axum_router()
        .layer(AppTokenLayer::new(token.map(SecretString::from)));
    tokio::spawn(dapr_kit::net::serve(
        listener,
        router,
        std::future::pending(),
    ));
    address
}

fn event(path: &str, data: &str) -> wire::TopicEventRequest {
    wire::TopicEventRequest {
        id: "ev-1".into(),
        source: "todo-api".into(),
        r#type: "com.dapr.event.sent".into(),
        spec_version: "1.0".into(),
        data_content_type: "application/json".into(),
        data: data.as_bytes().to_vec(),
        topic: "task-events".into(),
        pubsub_name: "pubsub".into(),
        path: path.into(),
        extensions: None,
    }
}

#[tokio::test]
async fn subscriptions_are_listed_with_routes_and_dead_letter_topic() {
    let address = serve(sample_app(Seen::default()), None).await;
    let mut client =
        wire::app_callback_client::AppCallbackClient::connect(format!("http://{address}"))
            .await
            .unwrap();
    let listed = client
        .list_topic_subscriptions(())
        .await
        .unwrap()
        .into_inner();
    let subscription = &listed.subscriptions[0];
    assert_eq!(
        (
            subscription.pubsub_name.as_str(),
            subscription.topic.as_str()
        ),
        ("pubsub", "task-events")
    );
    assert_eq!(subscription.dead_letter_topic, "task-events-dlq");
    let routes = subscription.routes.as_ref().unwrap();
    assert_eq!(routes.rules[0].r#match, r#"event.type == "completed""#);
    assert_eq!(routes.rules[0].path, "completed");
    assert_eq!(routes.default, "default");
}

#[tokio::test]
async fn events_reach_their_route_and_answer_success_retry_or_drop() {
    let seen = Seen::default();
    let address = serve(sample_app(seen.clone()), None).await;
    let mut client =
        wire::app_callback_client::AppCallbackClient::connect(format!("http://{address}"))
            .await
            .unwrap();
    let cases = [
        (
            "routed and handled",
            event("completed", r#"{"taskId":"t-1"}"#),
            Status::Success,
        ),
        (
            "transient failure",
            event("completed", r#"{"taskId":"flaky"}"#),
            Status::Retry,
        ),
        (
            "undecodable payload",
            event("completed", "{not json"),
            Status::Drop,
        ),
        ("default route", event("default", "{}"), Status::Success),
        (
            "topic we never subscribed to",
            wire::TopicEventRequest {
                topic: "elsewhere".into(),
                ..event("", "{}")
            },
            Status::Drop,
        ),
    ];
    for (case, request, expected) in cases {
        let response = client.on_topic_event(request).await.unwrap().into_inner();
        assert_eq!(response.status(), expected, "case: {case}");
    }
    assert_eq!(*seen.lock().unwrap(), ["completed:t-1", "other:ev-1"]);
}

#[tokio::test]
async fn bulk_deliveries_answer_entry_by_entry() {
    let seen = Seen::default();
    let address = serve(sample_app(seen.clone()), None).await;
    let mut client =
        wire::app_callback_client::AppCallbackClient::connect(format!("http://{address}"))
            .await
            .unwrap();
    let entry = |id: &str, data: &str| wire::TopicEventBulkRequestEntry {
        entry_id: id.into(),
        event: Some(wire::topic_event_bulk_request_entry::Event::CloudEvent(
            wire::TopicEventCeRequest {
                id: id.into(),
                data_content_type: "application/json".into(),
                data: data.as_bytes().to_vec(),
                ..Default::default()
            },
        )),
        content_type: "application/cloudevents+json".into(),
        metadata: Default::default(),
    };
    let request = wire::TopicEventBulkRequest {
        id: "batch".into(),
        entries: vec![entry("a", r#"{"taskId":"t-2"}"#), entry("b", "][")],
        topic: "task-events".into(),
        pubsub_name: "pubsub".into(),
        path: "completed".into(),
        ..Default::default()
    };
    let response = client
        .on_bulk_topic_event(request)
        .await
        .unwrap()
        .into_inner();
    let statuses: Vec<_> = response
        .statuses
        .iter()
        .map(|s| (s.entry_id.as_str(), s.status()))
        .collect();
    assert_eq!(statuses, [("a", Status::Success), ("b", Status::Drop)]);
    assert_eq!(*seen.lock().unwrap(), ["completed:t-2"]);
}

#[tokio::test]
async fn job_triggers_reach_handlers_through_both_the_stable_and_the_alpha_method() {
    let seen = Seen::default();
    let address = serve(sample_app(seen.clone()), None).await;
    let url = format!("http://{address}");
    let mut stable = wire::app_callback_client::AppCallbackClient::connect(url.clone())
        .await
        .unwrap();
    let mut alpha = wire::app_callback_alpha_client::AppCallbackAlphaClient::connect(url)
        .await
        .unwrap();
    let trigger = |name: &str| wire::JobEventRequest {
        name: name.into(),
        method: format!("job/{name}"),
        ..Default::default()
    };
    stable.on_job_event(trigger("reminder-1")).await.unwrap();
    alpha
        .on_job_event_alpha1(trigger("reminder-2"))
        .await
        .unwrap();
    stable
        .on_job_event(trigger("reminder-poison"))
        .await
        .expect("poison triggers are consumed");
    let unknown = stable.on_job_event(trigger("cleanup-1")).await.unwrap_err();
    assert_eq!(
        unknown.code(),
        Code::NotFound,
        "daprd counts NotFound as delivered"
    );
    assert_eq!(*seen.lock().unwrap(), ["job:reminder-1", "job:reminder-2"]);
}

#[tokio::test]
async fn the_health_check_follows_the_app_state() {
    let app = sample_app(Seen::default());
    let address = serve(app.clone(), None).await;
    let mut client = wire::app_callback_health_check_client::AppCallbackHealthCheckClient::connect(
        format!("http://{address}"),
    )
    .await
    .unwrap();
    client.health_check(()).await.unwrap();
    app.set_healthy(false);
    assert_eq!(
        client.health_check(()).await.unwrap_err().code(),
        Code::Unavailable
    );
}

#[tokio::test]
async fn with_an_app_token_configured_daprd_calls_need_it() {
    let address = serve(sample_app(Seen::default()), Some("app-s3cret")).await;
    let mut client =
        wire::app_callback_client::AppCallbackClient::connect(format!("http://{address}"))
            .await
            .unwrap();
    let event = || wire::TopicEventRequest {
        id: "1".into(),
        topic: "task-events".into(),
        pubsub_name: "pubsub".into(),
        ..Default::default()
    };
    let refused = client.on_topic_event(event()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let mut request = Request::new(event());
    request
        .metadata_mut()
        .insert("dapr-api-token", "app-s3cret".parse().unwrap());
    client.on_topic_event(request).await.unwrap();
    // daprd 1.18.3 lists subscriptions without the token (its loader dials the app on a
    // connection of its own), so that call stays open; it reveals only topic names.
    client.list_topic_subscriptions(()).await.unwrap();
}
