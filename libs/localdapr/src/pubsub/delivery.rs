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

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::Utc;
use todo_proto::dapr::proto::runtime::v1::topic_event_response::TopicEventResponseStatus;
use tokio::{task::JoinSet, time::Instant};
use tonic::Code;

use super::{
    InFlightGuard, PubSub,
    log::{self, PendingMessage},
    metrics::{self, ProcessStatus},
    subscriptions::{Group, Member},
    topic_event,
};
use crate::{
    components::RetryPolicy,
    db::{DbError, now_millis},
};

/// Deliveries one group runs at once (distinct keys, or unkeyed messages).
const MAX_IN_FLIGHT_PER_GROUP: usize = 32;
/// The Kafka component's own retry when daprd gives up without a dead-letter topic: constant
/// 5s, forever (reference §2.3).
const COMPONENT_RETRY_DELAY: Duration = Duration::from_secs(5);
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
                    .call(move |c| Ok::<_, DbError>(log::due(c, group_id, now, &exclude, limit)?))
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

/// What one delivery attempt came to.
#[derive(Debug)]
enum Attempt {
    /// The app processed the event.
    Processed(Duration),
    /// Acknowledge without processing; copy to the dead-letter topic when `to_dead_letter`.
    Dropped {
        reason: String,
        to_dead_letter: bool,
    },
    /// Deliver again later.
    Failed(String),
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
    match client.on_topic_event(request).await {
        Ok(response) => match TopicEventResponseStatus::try_from(response.into_inner().status) {
            Ok(TopicEventResponseStatus::Success) => Attempt::Processed(started.elapsed()),
            Ok(TopicEventResponseStatus::Drop) => Attempt::Dropped {
                reason: "the app answered DROP".into(),
                to_dead_letter: true,
            },
            Ok(TopicEventResponseStatus::Retry) => Attempt::Failed("the app answered RETRY".into()),
            Err(_) => Attempt::Failed("the app answered an unknown status".into()),
        },
        Err(status) if status.code() == Code::Unimplemented => Attempt::Dropped {
            reason: "the app answered Unimplemented".into(),
            to_dead_letter: false,
        },
        Err(status) => Attempt::Failed(format!(
            "OnTopicEvent failed: {}: {}",
            status.code(),
            status.message()
        )),
    }
}

/// What to do with a message whose delivery failed.
#[derive(Clone, Debug, PartialEq)]
enum AfterFailure {
    /// Try again after the delay; `attempts` failed so far in this retry cycle.
    RetryAfter { delay: Duration, attempts: u32 },
    /// Give up: publish to the dead-letter topic and ack.
    DeadLetter,
}

/// The inbound retry policy decides while it has retries left; then the dead-letter topic
/// takes the message, or the component starts a new cycle after 5s (reference §2.3).
fn after_failure(
    policy: Option<RetryPolicy>,
    failed_attempts: u32,
    has_dead_letter_topic: bool,
) -> AfterFailure {
    if let Some(policy) = policy
        && policy.max_retries.is_none_or(|max| failed_attempts <= max)
    {
        return AfterFailure::RetryAfter {
            delay: policy.backoff.delay(failed_attempts),
            attempts: failed_attempts,
        };
    }
    if has_dead_letter_topic {
        AfterFailure::DeadLetter
    } else {
        AfterFailure::RetryAfter {
            delay: COMPONENT_RETRY_DELAY,
            attempts: 0,
        }
    }
}

async fn settle(
    engine: &PubSub,
    group: &Group,
    member: &Member,
    pending: PendingMessage,
    attempt: Attempt,
) {
    let app_id = member.instance.app_id().to_string();
    let (pubsub, topic, seq, group_id) = (
        group.pubsub.clone(),
        group.topic.clone(),
        pending.seq,
        group.id,
    );
    let dead_letter_topic = member.subscription.dead_letter_topic.clone();
    let event_seq = seq;
    if let Attempt::Failed(reason) = &attempt
        && engine.is_draining()
    {
        // daprd never NACKs into the dead-letter topic while shutting down (reference §2.3):
        // the message stays pending as it was and is delivered again after a restart.
        tracing::info!(
            app_id,
            pubsub,
            topic,
            event_seq,
            reason,
            outcome = "retry",
            "event not processed during shutdown, it stays pending"
        );
        metrics::record_ingress(&app_id, &pubsub, &topic, ProcessStatus::Retry, None);
        return;
    }
    let (status, elapsed, write) = match attempt {
        Attempt::Processed(elapsed) => {
            tracing::debug!(
                app_id,
                pubsub,
                topic,
                event_seq,
                outcome = "success",
                "event delivered"
            );
            (ProcessStatus::Success, Some(elapsed), Write::Ack)
        }
        Attempt::Dropped {
            reason,
            to_dead_letter,
        } => match dead_letter_topic.filter(|_| to_dead_letter) {
            Some(dead_letter_topic) => {
                tracing::warn!(
                    app_id,
                    pubsub,
                    topic,
                    event_seq,
                    reason,
                    dead_letter_topic,
                    outcome = "drop",
                    "event dropped to the dead-letter topic"
                );
                (
                    ProcessStatus::Drop,
                    None,
                    Write::DeadLetter(dead_letter_topic),
                )
            }
            None => {
                tracing::warn!(
                    app_id,
                    pubsub,
                    topic,
                    event_seq,
                    reason,
                    outcome = "drop",
                    "event dropped"
                );
                (ProcessStatus::Drop, None, Write::Ack)
            }
        },
        Attempt::Failed(reason) => {
            let policy = engine.resources.resiliency.inbound_retry(&app_id, &pubsub);
            let failed_attempts = pending.attempts.saturating_add(1);
            match after_failure(policy, failed_attempts, dead_letter_topic.is_some()) {
                AfterFailure::RetryAfter { delay, attempts } => {
                    tracing::warn!(app_id, pubsub, topic, event_seq, reason, failed_attempts, retry_in = ?delay, outcome = "retry", "event not processed, retrying");
                    let at = now_millis()
                        .saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                    (ProcessStatus::Retry, None, Write::Retry { attempts, at })
                }
                AfterFailure::DeadLetter => {
                    let dead_letter_topic = dead_letter_topic.unwrap_or_default();
                    tracing::warn!(
                        app_id,
                        pubsub,
                        topic,
                        event_seq,
                        reason,
                        failed_attempts,
                        dead_letter_topic,
                        outcome = "retry",
                        "retries exhausted, event sent to the dead-letter topic"
                    );
                    (
                        ProcessStatus::Retry,
                        None,
                        Write::DeadLetter(dead_letter_topic),
                    )
                }
            }
        }
    };
    metrics::record_ingress(&app_id, &pubsub, &topic, status, elapsed);
    let notify_topic = match &write {
        Write::DeadLetter(topic) => Some(topic.clone()),
        _ => None,
    };
    let message = pending.message;
    let written = engine
        .db
        .call(move |c| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::Backoff;

    #[test]
    fn failures_follow_the_policy_then_the_dead_letter_topic_or_the_component() {
        let three_retries = Some(RetryPolicy {
            backoff: Backoff::Constant(Duration::from_millis(10)),
            max_retries: Some(3),
        });
        let forever = Some(RetryPolicy {
            backoff: Backoff::Constant(Duration::from_millis(10)),
            max_retries: None,
        });
        let retry = |attempts| AfterFailure::RetryAfter {
            delay: Duration::from_millis(10),
            attempts,
        };
        let component = AfterFailure::RetryAfter {
            delay: COMPONENT_RETRY_DELAY,
            attempts: 0,
        };
        let cases = [
            ("first failure retries", three_retries, 1, true, retry(1)),
            ("last retry", three_retries, 3, true, retry(3)),
            (
                "exhausted with dlq",
                three_retries,
                4,
                true,
                AfterFailure::DeadLetter,
            ),
            (
                "exhausted without dlq",
                three_retries,
                4,
                false,
                component.clone(),
            ),
            (
                "no policy with dlq: one attempt",
                None,
                1,
                true,
                AfterFailure::DeadLetter,
            ),
            ("no policy without dlq", None, 1, false, component.clone()),
            (
                "maxRetries unset retries forever",
                forever,
                1000,
                true,
                retry(1000),
            ),
        ];
        for (case, policy, failed, has_dlq, expected) in cases {
            assert_eq!(
                after_failure(policy, failed, has_dlq),
                expected,
                "case: {case}"
            );
        }
    }
}
