//! Test apps for job triggers, written against the generated `AppCallback` and
//! `AppCallbackAlpha` traits: they record each `JobEventRequest` exactly as it arrives, with
//! when it arrived, and answer as told (or pass the trigger on to a dapr-kit app).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use dapr_kit::AppCallbackService;
use prost::Message;
use prost_types::Any;
use todo_proto::dapr::proto::runtime::v1::{
    JobEventRequest, JobEventResponse,
    app_callback_alpha_server::{AppCallbackAlpha, AppCallbackAlphaServer},
    app_callback_server::{AppCallback, AppCallbackServer},
};
use tonic::{Code, Request, Response, Status};

/// One trigger as the app received it.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub request: JobEventRequest,
    pub at: DateTime<Utc>,
    pub via_alpha: bool,
}

/// Records triggers and answers them.
#[derive(Clone, Default)]
pub struct Recorder {
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    /// Answers for the next triggers, in order; after them, `always` (or OK).
    scripted: Arc<Mutex<VecDeque<Code>>>,
    always: Option<Code>,
    forward_to: Option<AppCallbackService>,
    /// How long each answer takes.
    delay: Duration,
}

impl Recorder {
    /// Answers OK.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fails the first `failures` triggers with `Unavailable`, then answers OK.
    pub fn failing_first(failures: usize) -> Self {
        let recorder = Self::default();
        recorder
            .scripted
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(Code::Unavailable, failures));
        recorder
    }

    /// Answers every trigger with `code`.
    pub fn always(code: Code) -> Self {
        Self {
            always: Some(code),
            ..Self::default()
        }
    }

    /// Answers OK after `delay`.
    pub fn slow(delay: Duration) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    /// Passes each trigger on to a dapr-kit app and answers what it answers.
    pub fn forwarding_to(app: AppCallbackService) -> Self {
        Self {
            forward_to: Some(app),
            ..Self::default()
        }
    }

    /// Serves `AppCallback` only.
    pub fn routes(&self) -> tonic::service::Routes {
        tonic::service::Routes::new(AppCallbackServer::new(Stable(self.clone())))
    }

    /// Serves `AppCallbackAlpha` only, like an app built for daprd 1.16.
    pub fn alpha_only_routes(&self) -> tonic::service::Routes {
        tonic::service::Routes::new(AppCallbackAlphaServer::new(Alpha(self.clone())))
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.deliveries.lock().unwrap().len()
    }

    /// The deliveries of job `name`.
    pub fn of(&self, name: &str) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(|delivery| delivery.request.name == name)
            .collect()
    }

    async fn answer(
        &self,
        request: JobEventRequest,
        via_alpha: bool,
    ) -> Result<Response<JobEventResponse>, Status> {
        self.deliveries.lock().unwrap().push(Delivery {
            request: request.clone(),
            at: Utc::now(),
            via_alpha,
        });
        tokio::time::sleep(self.delay).await;
        if let Some(app) = &self.forward_to {
            return AppCallback::on_job_event(app, Request::new(request)).await;
        }
        let code = self.scripted.lock().unwrap().pop_front().or(self.always);
        match code {
            None | Some(Code::Ok) => Ok(Response::new(JobEventResponse {})),
            Some(code) => Err(Status::new(code, "told to fail")),
        }
    }
}

struct Stable(Recorder);

#[tonic::async_trait]
impl AppCallback for Stable {
    async fn on_job_event(
        &self,
        request: Request<JobEventRequest>,
    ) -> Result<Response<JobEventResponse>, Status> {
        self.0.answer(request.into_inner(), false).await
    }
}

struct Alpha(Recorder);

#[tonic::async_trait]
impl AppCallbackAlpha for Alpha {
    async fn on_job_event_alpha1(
        &self,
        request: Request<JobEventRequest>,
    ) -> Result<Response<JobEventResponse>, Status> {
        self.0.answer(request.into_inner(), true).await
    }
}

/// A `google.protobuf.StringValue` in an `Any`, as an SDK would pack job data.
pub fn string_any(text: &str) -> Any {
    Any {
        type_url: "type.googleapis.com/google.protobuf.StringValue".into(),
        value: text.to_string().encode_to_vec(),
    }
}

/// A time `millis` from now, and its RFC 3339 text with milliseconds.
pub fn rfc3339_in(millis: i64) -> (DateTime<Utc>, String) {
    let time = Utc::now() + TimeDelta::milliseconds(millis);
    let time = DateTime::parse_from_rfc3339(&time.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap()
        .with_timezone(&Utc);
    (time, time.to_rfc3339_opts(SecondsFormat::Millis, true))
}
