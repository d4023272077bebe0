//! The trigger loop: one task sleeping until the earliest due attempt, woken early when jobs
//! change or an app connects. Each due job fires on a task of its own, so a slow app delays
//! nobody else; its outcome then moves the job along ([`Progress`]) and is stored.
//!
//! Times are wall-clock (UTC), timers are monotonic: after each wake the loop checks the wall
//! clock again and sleeps the rest if it woke early, so a trigger is never sent before its time.

use std::{sync::Arc, time::Duration};

use chrono::{TimeDelta, Utc};
use tokio::time::Instant;

use super::Scheduler;
use super::{
    metrics,
    progress::Progress,
    store,
    table::Firing,
    trigger::{self, Outcome},
};

/// Runs until the runtime shuts down or the scheduler stops: loads the stored jobs, then fires
/// them as they come due.
pub async fn run(scheduler: Arc<Scheduler>) {
    scheduler.load().await;
    loop {
        let now = Utc::now();
        let (firings, next_due) =
            scheduler.with_table(|table| (table.take_due(now), table.next_due()));
        for firing in firings {
            scheduler.tasks.spawn(fire(scheduler.clone(), firing));
        }
        let sleep = async {
            match next_due {
                Some(due) => {
                    let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                    tokio::time::sleep_until(Instant::now() + wait).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = scheduler.tasks.shutdown.cancelled() => break,
            () = scheduler.stopped.cancelled() => break,
            () = scheduler.wake.notified() => {}
            () = sleep => {}
        }
    }
    tracing::debug!("job trigger loop stopped");
}

/// Sends one trigger and applies its outcome. Shutdown abandons it unrecorded: the job is still
/// due when localdapr starts again.
async fn fire(scheduler: Arc<Scheduler>, firing: Firing) {
    let app_id = firing.key.app_id();
    let name = firing.key.name();
    let lateness = Utc::now() - firing.due;
    let started = std::time::Instant::now();
    let outcome = tokio::select! {
        () = scheduler.tasks.shutdown.cancelled() => return,
        outcome = trigger::deliver(
            &scheduler.apps,
            &scheduler.next_instance,
            app_id,
            name,
            firing.data.clone(),
        ) => outcome,
    };
    log_outcome(&firing, &outcome, lateness, started.elapsed());
    metrics::record_trigger(app_id, outcome.as_str(), lateness);
    if !matches!(outcome, Outcome::Undeliverable) {
        metrics::record_operation(
            metrics::TRIGGER_OPERATION,
            matches!(outcome, Outcome::Delivered { .. }),
            started.elapsed(),
        );
    }
    complete(&scheduler, &firing, &outcome).await;
}

fn log_outcome(firing: &Firing, outcome: &Outcome, lateness: TimeDelta, took: Duration) {
    let app_id = firing.key.app_id();
    let job = firing.key.name();
    let attempt = firing.attempt;
    let lateness_ms = lateness.num_milliseconds();
    let took_ms = took.as_millis();
    match outcome {
        Outcome::Delivered { instance } => {
            tracing::debug!(
                app_id,
                job,
                attempt,
                instance,
                lateness_ms,
                took_ms,
                "job triggered"
            );
        }
        Outcome::NotFound { instance, status } => tracing::warn!(
            app_id,
            job,
            attempt,
            instance,
            lateness_ms,
            took_ms,
            message = status.message(),
            "the app has no handler for the job (NotFound), counted as delivered"
        ),
        Outcome::Failed { instance, status } => tracing::warn!(
            app_id, job, attempt, instance, lateness_ms, took_ms, code = ?status.code(),
            message = status.message(), "job trigger failed, its failure policy decides"
        ),
        Outcome::Undeliverable => tracing::info!(
            app_id,
            job,
            attempt,
            lateness_ms,
            "no instance of the app is connected, the trigger waits for one"
        ),
    }
}

/// Moves the job along after a trigger: stages it, retries it, moves it to its next tick, or
/// deletes it when it has none.
async fn complete(scheduler: &Scheduler, firing: &Firing, outcome: &Outcome) {
    let key = &firing.key;
    let _writes = scheduler.writes.lock().await;
    let Some((plan, progress)) =
        scheduler.with_table(|table| table.in_flight(key, firing.revision))
    else {
        // Replaced or deleted while the trigger was out.
        return;
    };
    let next: Option<Progress> = match outcome {
        Outcome::Undeliverable => {
            scheduler.with_table(|table| table.stage(key, firing.revision));
            // An instance may have connected while this trigger was out.
            if trigger::is_deliverable(&scheduler.apps, key.app_id()) {
                scheduler.app_connected(key.app_id());
            }
            return;
        }
        Outcome::Delivered { .. } | Outcome::NotFound { .. } => progress.delivered(&plan),
        Outcome::Failed { .. } => progress.failed(&plan),
    };
    if matches!(outcome, Outcome::Failed { .. }) && !next.is_some_and(|next| next.is_retry()) {
        tracing::warn!(
            app_id = key.app_id(),
            job = key.name(),
            attempts = progress.attempts + 1,
            "job trigger failed for the last time, giving up the tick"
        );
    }
    let (app_id, name, revision) = (
        key.app_id().to_string(),
        key.name().to_string(),
        firing.revision,
    );
    let stored = match next {
        Some(progress) => {
            scheduler
                .db
                .write(move |connection| {
                    store::put_progress(connection, &app_id, &name, revision, &progress)
                })
                .await
        }
        None => {
            scheduler
                .db
                .write(move |connection| store::delete(connection, &app_id, &name, Some(revision)))
                .await
        }
    };
    if let Err(error) = stored {
        tracing::error!(
            app_id = key.app_id(), job = key.name(), error = %error,
            "cannot store the job's progress; it may fire again after a restart"
        );
    }
    scheduler.with_table(|table| match next {
        Some(progress) => {
            if progress.is_retry() {
                tracing::info!(
                    app_id = key.app_id(), job = key.name(), attempt = progress.attempts,
                    retry_at = %progress.next_attempt, "job trigger will be retried"
                );
            }
            table.requeue(key, firing.revision, progress);
        }
        None => {
            tracing::debug!(
                app_id = key.app_id(),
                job = key.name(),
                "job finished, deleted"
            );
            table.remove_revision(key, firing.revision);
        }
    });
    scheduler.wake.notify_one();
}
