//! Delivery (reference §2.3, §4.3): one worker per consumer group takes due messages from the
//! log — each key one message at a time, unkeyed ones in parallel up to a bound — and hands
//! each to an available instance of the group through `OnTopicEvent`. The app's answer is
//! applied as daprd applies it:
//!
//! | answer | action |
//! |---|---|
//! | SUCCESS, empty | ack |
//! | DROP | dead-letter topic if set, ack |
//! | `Unimplemented` | ack (no dead-letter copy) |
//! | RETRY, unknown status, other errors | retry by the inbound resiliency policy; when it is exhausted (or there is none): dead-letter topic if set, else the component retries every 5s forever |
//!
//! Expired events, undecodable envelopes and events no route matches are acked and copied to
//! the dead-letter topic. Nothing is acked before the app answered, so a delivery cut short by
//! a crash or shutdown is delivered again later. While the runtime drains, no delivery starts,
//! and one that fails is left pending as it was (daprd never NACKs into the dead-letter topic
//! during shutdown).
//!
//! The table is decided in [`settlement`], without I/O; this module does the I/O: it calls the
//! app, then logs, counts and records the settlement.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::Utc;
use tokio::{task::JoinSet, time::Instant};

use super::{
    InFlightGuard, PubSub,
    log::{self, PendingMessage},
    metrics,
    settlement::{self, Attempt, Settlement, Standing},
    subscriptions::{Group, Member},
    topic_event,
};
use crate::db::{DbError, now_millis};

/// Deliveries one group runs at once (distinct keys, or unkeyed messages).
const MAX_IN_FLIGHT_PER_GROUP: usize = 32;
const _: () = assert!(
    MAX_IN_FLIGHT_PER_GROUP <= log::MAX_DUE,
    "one due call fills a group"
);
/// How often an idle worker re-checks for an available instance, in case a wake-up was missed.
const MEMBER_RECHECK: Duration = Duration::from_millis(250);
/// The longest a worker sleeps without looking at the log: a wake-up that never came (a
/// commit whose notification was lost) delays its messages by at most this.
const SAFETY_POLL: Duration = Duration::from_secs(1);
/// How long a worker waits after the log could not be read.
const DB_ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// Starts the worker of `group`; it runs until the runtime shuts down.
pub fn spawn_worker(engine: &Arc<PubSub>, group: Arc<Group>) {
    engine.tasks.spawn(run_worker(engine.clone(), group));
}

async fn run_worker(engine: Arc<PubSub>, group: Arc<Group>) {
    let mut deliveries: JoinSet<()> = JoinSet::new();
    let mut in_flight: HashMap<tokio::task::Id, i64> = HashMap::new();
    let mut draining = engine.draining.subscribe();
    loop {
        if group.is_retired() {
            break;
        }
        let is_draining = *draining.borrow_and_update();
        let mut wake_at = None;
        if !is_draining && in_flight.len() < MAX_IN_FLIGHT_PER_GROUP {
            if group.has_available_member() {
                let exclude: Vec<i64> = in_flight.values().copied().collect();
                let limit = MAX_IN_FLIGHT_PER_GROUP - in_flight.len();
                let group_id = group.id;
                let now = now_millis();
                let due = engine
                    .db
                    .read(move |c| Ok::<_, DbError>(log::due(c, group_id, now, &exclude, limit)?))
                    .await;
                match due {
                    Ok(due) => {
                        let mut unassigned = false;
                        for pending in due.messages {
                            // Counted before draining is checked, so `drain` either waits for
                            // this delivery or the delivery sees the drain and never starts.
                            let guard = engine.in_flight_guard();
                            if engine.is_draining() {
                                break;
                            }
                            let Some(member) = group.pick() else {
                                unassigned = true;
                                break;
                            };
                            let seq = pending.seq;
                            let handle = deliveries.spawn(deliver(
                                engine.clone(),
                                group.clone(),
                                member,
                                pending,
                                guard,
                            ));
                            in_flight.insert(handle.id(), seq);
                        }
                        let poll = Instant::now() + SAFETY_POLL;
                        wake_at = Some(due.next_due_at.map_or(poll, |at| {
                            let wait = u64::try_from(at.saturating_sub(now_millis())).unwrap_or(0);
                            poll.min(Instant::now() + Duration::from_millis(wait))
                        }));
                        if unassigned {
                            // The last member left between the check and the pick.
                            wake_at = Some(Instant::now() + MEMBER_RECHECK);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(topic = group.topic, %error, "cannot read pending messages");
                        wake_at = Some(Instant::now() + DB_ERROR_BACKOFF);
                    }
                }
            } else {
                wake_at = Some(Instant::now() + MEMBER_RECHECK);
            }
        }
        let sleep = async {
            match wake_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = engine.tasks.shutdown.cancelled() => break,
            Some(done) = deliveries.join_next_with_id(), if !deliveries.is_empty() => {
                finish(&mut in_flight, done);
                while let Some(done) = deliveries.try_join_next_with_id() {
                    finish(&mut in_flight, done);
                }
            }
            () = group.wake.notified() => {}
            () = engine.apps.changed() => {}
            () = sleep => {}
            _ = draining.changed(), if !is_draining => {}
        }
    }
    // Dropping the set aborts deliveries still running: their messages stay pending.
    deliveries.abort_all();
}

fn finish(
    in_flight: &mut HashMap<tokio::task::Id, i64>,
    done: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
) {
    let id = match done {
        Ok((id, ())) => id,
        Err(error) => {
            tracing::error!(%error, "a delivery task failed; its message stays pending");
            error.id()
        }
    };
    in_flight.remove(&id);
}

async fn deliver(
    engine: Arc<PubSub>,
    group: Arc<Group>,
    member: Member,
    pending: PendingMessage,
    _in_flight: InFlightGuard,
) {
    let attempt = attempt(&group, &member, &pending).await;
    settle(&engine, &group, &member, pending, attempt).await;
}

async fn attempt(group: &Group, member: &Member, pending: &PendingMessage) -> Attempt {
    let subscription = &member.subscription;
    let event = match topic_event::read_cloud_event(
        pending,
        subscription.metadata_value("rawPayload"),
        &group.pubsub,
    ) {
        Ok(event) => event,
        Err(error) => {
            return Attempt::Dropped {
                reason: error.to_string(),
                to_dead_letter: true,
            };
        }
    };
    if topic_event::is_expired(&event, Utc::now()) {
        return Attempt::Dropped {
            reason: "event expired".into(),
            to_dead_letter: true,
        };
    }
    let path = match subscription.routes.route(&event) {
        Ok(Some(path)) => path.to_string(),
        Ok(None) => {
            return Attempt::Dropped {
                reason: "no route matches the event".into(),
                to_dead_letter: true,
            };
        }
        Err(error) => return Attempt::Failed(error.to_string()),
    };
    let Some(mut client) = member.instance.callback() else {
        return Attempt::Failed("the app has no app port".into());
    };
    let mut request = tonic::Request::new(topic_event::request(
        &event,
        &group.topic,
        &group.pubsub,
        &path,
    ));
    *request.metadata_mut() = topic_event::call_metadata(pending, &group.pubsub);
    let started = Instant::now();
    let answer = client.on_topic_event(request).await;
    Attempt::from_answer(answer.map(tonic::Response::into_inner), started.elapsed())
}

/// Applies the settlement of `attempt`: logs and counts it, then records it in the log.
async fn settle(
    engine: &PubSub,
    group: &Group,
    member: &Member,
    pending: PendingMessage,
    attempt: Attempt,
) {
    let app_id = member.instance.app_id();
    let standing = Standing {
        dead_letter_topic: member.subscription.dead_letter_topic.as_deref(),
        policy: engine
            .resources
            .resiliency
            .inbound_retry(app_id, &group.pubsub),
        failed_before: pending.attempts,
        is_draining: engine.is_draining(),
    };
    let settlement = settlement::decide(&attempt, &standing);
    log_settlement(app_id, group, pending.seq, &attempt, &settlement);
    metrics::record_ingress(
        app_id,
        &group.pubsub,
        &group.topic,
        settlement.process_status(),
        attempt.processing_time(),
    );
    record(engine, group, pending, settlement).await;
}

fn log_settlement(
    app_id: &str,
    group: &Group,
    event_seq: i64,
    attempt: &Attempt,
    settlement: &Settlement,
) {
    let (pubsub, topic) = (group.pubsub.as_str(), group.topic.as_str());
    let reason = attempt.reason().unwrap_or_default();
    match settlement {
        Settlement::Ack => tracing::debug!(
            app_id,
            pubsub,
            topic,
            event_seq,
            outcome = "success",
            "event delivered"
        ),
        Settlement::Drop => tracing::warn!(
            app_id,
            pubsub,
            topic,
            event_seq,
            reason,
            outcome = "drop",
            "event dropped"
        ),
        Settlement::DropToDeadLetter {
            topic: dead_letter_topic,
        } => tracing::warn!(
            app_id,
            pubsub,
            topic,
            event_seq,
            reason,
            dead_letter_topic,
            outcome = "drop",
            "event dropped to the dead-letter topic"
        ),
        Settlement::Retry {
            delay,
            failed_attempts,
            ..
        } => tracing::warn!(
            app_id, pubsub, topic, event_seq, reason, failed_attempts, retry_in = ?delay,
            outcome = "retry", "event not processed, retrying"
        ),
        Settlement::GiveUpToDeadLetter {
            topic: dead_letter_topic,
            failed_attempts,
        } => tracing::warn!(
            app_id,
            pubsub,
            topic,
            event_seq,
            reason,
            failed_attempts,
            dead_letter_topic,
            outcome = "retry",
            "retries exhausted, event sent to the dead-letter topic"
        ),
        Settlement::KeepPending => tracing::info!(
            app_id,
            pubsub,
            topic,
            event_seq,
            reason,
            outcome = "retry",
            "event not processed during shutdown, it stays pending"
        ),
    }
}

/// Records a settlement in the log: ack, reschedule, or copy to the dead-letter topic (then
/// wakes that topic's workers). On failure the message stays pending as it was, to be
/// delivered again.
async fn record(engine: &PubSub, group: &Group, pending: PendingMessage, settlement: Settlement) {
    let write = match settlement {
        Settlement::KeepPending => return,
        Settlement::Ack | Settlement::Drop => Write::Ack,
        Settlement::Retry {
            delay, attempts, ..
        } => Write::Retry {
            attempts,
            at: now_millis().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
        },
        Settlement::DropToDeadLetter { topic } | Settlement::GiveUpToDeadLetter { topic, .. } => {
            Write::DeadLetter(topic)
        }
    };
    let notify_topic = match &write {
        Write::DeadLetter(topic) => Some(topic.clone()),
        _ => None,
    };
    let (group_id, seq, message) = (group.id, pending.seq, pending.message);
    let written = engine
        .db
        .write(move |c| {
            match write {
                Write::Ack => log::ack(c, group_id, seq, now_millis())?,
                Write::Retry { attempts, at } => log::reschedule(c, group_id, seq, attempts, at)?,
                Write::DeadLetter(topic) => {
                    log::dead_letter(c, group_id, seq, &message, &topic, now_millis())?;
                }
            }
            Ok::<_, DbError>(())
        })
        .await;
    match written {
        Ok(()) => {
            if let Some(dead_letter_topic) = notify_topic {
                engine.notify_published(&group.pubsub, &dead_letter_topic);
            }
        }
        // The message stays pending as it was: it will be delivered again.
        Err(error) => {
            tracing::error!(pubsub = group.pubsub, topic = group.topic, %error, "cannot record a delivery outcome")
        }
    }
}

/// The log change a delivery ends with.
enum Write {
    Ack,
    Retry { attempts: u32, at: i64 },
    DeadLetter(String),
}
