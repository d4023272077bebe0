//! Job triggers: which handler an `OnJobEvent` (or `OnJobEventAlpha1`) reaches.

use std::sync::Arc;

use futures::future::BoxFuture;
use prost_types::Any;
use todo_proto::dapr::proto::runtime::v1::JobEventRequest;

use super::topic_event::HandlerError;

/// One trigger of a job.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobTrigger {
    /// The job name.
    pub name: String,
    /// The data the job was scheduled with.
    pub data: Option<Any>,
}

impl JobTrigger {
    /// Reads the trigger; daprd sets `name`, and `method` as `job/<name>` (reference §3.3).
    pub(crate) fn from_wire(request: JobEventRequest) -> Self {
        let name = if request.name.is_empty() {
            request
                .method
                .strip_prefix("job/")
                .unwrap_or(&request.method)
                .to_string()
        } else {
            request.name
        };
        Self {
            name,
            data: request.data,
        }
    }
}

/// Handles the triggers of jobs whose names start with a prefix. Implemented for every
/// `Fn(JobTrigger) -> impl Future<Output = Result<(), HandlerError>>`.
pub trait JobHandler: Send + Sync + 'static {
    /// Processes one trigger.
    fn handle(&self, trigger: JobTrigger) -> BoxFuture<'static, Result<(), HandlerError>>;
}

impl<F, Fut> JobHandler for F
where
    F: Fn(JobTrigger) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    fn handle(&self, trigger: JobTrigger) -> BoxFuture<'static, Result<(), HandlerError>> {
        Box::pin(self(trigger))
    }
}

/// The app's job handlers, by job-name prefix.
#[derive(Default)]
pub struct JobHandlers {
    handlers: Vec<(String, Arc<dyn JobHandler>)>,
}

impl JobHandlers {
    /// No handlers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends triggers of jobs named `<prefix>…` to `handler`; the longest matching prefix wins.
    pub fn prefix(mut self, prefix: impl Into<String>, handler: impl JobHandler) -> Self {
        self.handlers.push((prefix.into(), Arc::new(handler)));
        self.handlers
            .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        self
    }

    pub(crate) fn handler_for(&self, name: &str) -> Option<Arc<dyn JobHandler>> {
        self.handlers
            .iter()
            .find(|(prefix, _)| name.starts_with(prefix.as_str()))
            .map(|(_, handler)| handler.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_falls_back_to_the_method_without_its_job_prefix() {
        let cases = [
            (
                "name set",
                JobEventRequest {
                    name: "a".into(),
                    method: "job/b".into(),
                    ..Default::default()
                },
                "a",
            ),
            (
                "method only",
                JobEventRequest {
                    method: "job/reminder-1".into(),
                    ..Default::default()
                },
                "reminder-1",
            ),
        ];
        for (case, request, name) in cases {
            assert_eq!(JobTrigger::from_wire(request).name, name, "case: {case}");
        }
    }

    #[test]
    fn the_longest_matching_prefix_wins() {
        async fn short(_: JobTrigger) -> Result<(), HandlerError> {
            Err(HandlerError::transient("short"))
        }
        async fn long(_: JobTrigger) -> Result<(), HandlerError> {
            Ok(())
        }
        let handlers = JobHandlers::new()
            .prefix("rem", short)
            .prefix("reminder-", long);
        let handler = handlers.handler_for("reminder-42").unwrap();
        let outcome = futures::executor::block_on(handler.handle(JobTrigger::default()));
        assert!(outcome.is_ok());
        assert!(handlers.handler_for("other").is_none());
    }
}
