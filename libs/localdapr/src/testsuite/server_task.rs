//! [`ServerTask`]: a server a test started, run in a task the harness owns, so that its failure
//! fails the test instead of vanishing with a detached `tokio::spawn`.

use std::future::Future;

use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

/// A server running in a task owned here. Dropping it stops the server; if the server had
/// already ended with an error or a panic, or although nobody stopped it, the test fails.
pub struct ServerTask {
    name: String,
    stop: CancellationToken,
    /// One task; a `JoinSet` so it can be checked without blocking and is aborted on drop.
    task: JoinSet<Result<(), String>>,
}

impl ServerTask {
    /// Runs `serving`, which is expected to stop when `stop` is cancelled; `name` says whose
    /// server it is in failure messages.
    pub fn spawn<F, E>(name: &str, stop: CancellationToken, serving: F) -> Self
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::error::Error + 'static,
    {
        let mut task = JoinSet::new();
        task.spawn(async move {
            serving
                .await
                .map_err(|error| todo_telemetry::error_chain(&error))
        });
        Self {
            name: name.to_string(),
            stop,
            task,
        }
    }

    /// Fails the test if the server has already ended with an error or a panic, or although
    /// nobody stopped it.
    ///
    /// # Panics
    /// In those cases, with the server's error, or the server's own panic resumed.
    pub fn check(&mut self) {
        if let Some(joined) = self.task.try_join_next() {
            self.judge(joined);
        }
    }

    /// Stops the server and waits until it has drained.
    ///
    /// # Panics
    /// When it ended with an error or a panic.
    pub async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(joined) = self.task.join_next().await {
            self.judge(joined);
        }
    }

    /// Waits for `ready`, failing the test at once if the server ends first (a server that
    /// cannot start says why, instead of a wait running into its deadline).
    ///
    /// # Panics
    /// When the server ends before `ready` resolves.
    pub async fn until<T>(&mut self, ready: impl Future<Output = T>) -> T {
        tokio::select! {
            value = ready => value,
            Some(joined) = self.task.join_next() => {
                self.judge(joined);
                panic!("{} stopped while the test waited for it", self.name);
            }
        }
    }

    fn judge(&self, joined: Result<Result<(), String>, JoinError>) {
        match joined {
            Ok(Ok(())) if self.stop.is_cancelled() => {}
            Ok(Ok(())) => panic!("{} stopped although the test did not stop it", self.name),
            Ok(Err(error)) => panic!("{} failed: {error}", self.name),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => panic!("{}'s task ended: {error}", self.name),
        }
    }
}

impl Drop for ServerTask {
    fn drop(&mut self) {
        // A second panic while one unwinds would abort the whole test binary.
        if !std::thread::panicking() {
            self.check();
        }
        self.stop.cancel();
        // Dropping the JoinSet aborts the task: the test is over, nobody waits for a drain.
    }
}

#[cfg(test)]
mod tests {
    use std::{any::Any, panic::AssertUnwindSafe};

    use futures::FutureExt;

    use super::*;

    fn message(panic: Box<dyn Any + Send>) -> String {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(ToString::to_string))
            .unwrap_or_default()
    }

    /// What the test waiting on `server` sees when the server ends on its own.
    async fn panic_while_waiting(mut server: ServerTask) -> String {
        let waited = AssertUnwindSafe(server.until(std::future::pending::<()>()))
            .catch_unwind()
            .await;
        message(waited.expect_err("the wait fails"))
    }

    #[tokio::test]
    async fn a_server_that_fails_or_panics_or_just_stops_fails_the_waiting_test() {
        let failing = ServerTask::spawn("failing", CancellationToken::new(), async {
            Err::<(), _>(std::io::Error::other("address in use"))
        });
        assert_eq!(
            panic_while_waiting(failing).await,
            "failing failed: address in use"
        );

        let panicking = ServerTask::spawn("panicking", CancellationToken::new(), async {
            panic!("handler bug");
            #[allow(unreachable_code)]
            Ok::<(), std::io::Error>(())
        });
        assert_eq!(panic_while_waiting(panicking).await, "handler bug");

        let quitting = ServerTask::spawn("quitting", CancellationToken::new(), async {
            Ok::<(), std::io::Error>(())
        });
        assert_eq!(
            panic_while_waiting(quitting).await,
            "quitting stopped although the test did not stop it"
        );
    }

    #[tokio::test]
    async fn a_stopped_server_that_drains_cleanly_passes_and_one_that_fails_does_not() {
        let stop = CancellationToken::new();
        let mut clean = ServerTask::spawn("clean", stop.clone(), async move {
            stop.cancelled().await;
            Ok::<(), std::io::Error>(())
        });
        clean.stop().await;

        let stop = CancellationToken::new();
        let mut broken = ServerTask::spawn("broken", stop.clone(), async move {
            stop.cancelled().await;
            Err::<(), _>(std::io::Error::other("drain failed"))
        });
        let stopped = AssertUnwindSafe(broken.stop()).catch_unwind().await;
        assert_eq!(
            message(stopped.expect_err("stop fails")),
            "broken failed: drain failed"
        );
    }
}
