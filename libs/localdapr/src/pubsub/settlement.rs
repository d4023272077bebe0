//! What a delivery comes to, decided without I/O (reference §2.3): the app's answer to
//! `OnTopicEvent` read as daprd reads it ([`Attempt::from_answer`]), then, with the
//! subscription's dead-letter topic, the inbound retry policy, the attempts so far and whether
//! the runtime drains ([`Standing`]), the [`Settlement`] the worker records ([`decide`]). It is
//! the table of daprd answers in the `delivery` module's docs; the tests below check it row by
//! row.

use std::time::Duration;

use todo_proto::dapr::proto::runtime::v1::{
    TopicEventResponse, topic_event_response::TopicEventResponseStatus,
};
use tonic::{Code, Status};

use super::metrics::ProcessStatus;
use crate::components::RetryPolicy;

/// The Kafka component's own retry when daprd gives up without a dead-letter topic: constant
/// 5s, forever (reference §2.3).
pub(super) const COMPONENT_RETRY_DELAY: Duration = Duration::from_secs(5);

/// What one delivery attempt came to.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Attempt {
    /// The app processed the event, in this long.
    Processed(Duration),
    /// Acknowledge without processing; copy to the dead-letter topic when `to_dead_letter`.
    Dropped {
        reason: String,
        to_dead_letter: bool,
    },
    /// Deliver again later.
    Failed(String),
}

impl Attempt {
    /// The app's answer to `OnTopicEvent`, which took `took`, as daprd reads it.
    pub(super) fn from_answer(answer: Result<TopicEventResponse, Status>, took: Duration) -> Self {
        match answer {
            Ok(response) => match TopicEventResponseStatus::try_from(response.status) {
                Ok(TopicEventResponseStatus::Success) => Self::Processed(took),
                Ok(TopicEventResponseStatus::Drop) => Self::Dropped {
                    reason: "the app answered DROP".into(),
                    to_dead_letter: true,
                },
                Ok(TopicEventResponseStatus::Retry) => {
                    Self::Failed("the app answered RETRY".into())
                }
                Err(_) => Self::Failed("the app answered an unknown status".into()),
            },
            Err(status) if status.code() == Code::Unimplemented => Self::Dropped {
                reason: "the app answered Unimplemented".into(),
                to_dead_letter: false,
            },
            Err(status) => Self::Failed(format!(
                "OnTopicEvent failed: {}: {}",
                status.code(),
                status.message()
            )),
        }
    }

    /// Why the event was not processed, if it was not.
    pub(super) fn reason(&self) -> Option<&str> {
        match self {
            Self::Processed(_) => None,
            Self::Dropped { reason, .. } | Self::Failed(reason) => Some(reason),
        }
    }

    /// How long the app took to process the event, if it did.
    pub(super) fn processing_time(&self) -> Option<Duration> {
        match self {
            Self::Processed(took) => Some(*took),
            Self::Dropped { .. } | Self::Failed(_) => None,
        }
    }
}

/// Where the message stands beside the attempt: what [`decide`] needs besides the answer.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Standing<'a> {
    /// The subscription's dead-letter topic, if it has one.
    pub dead_letter_topic: Option<&'a str>,
    /// The inbound retry policy of the app and component, if any.
    pub policy: Option<RetryPolicy>,
    /// Failed attempts recorded in this retry cycle before this one.
    pub failed_before: u32,
    /// Whether the runtime is draining.
    pub is_draining: bool,
}

/// What the log does with a message after an attempt, and how the attempt is counted.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Settlement {
    /// Processed: ack.
    Ack,
    /// Dropped, with no dead-letter copy: ack.
    Drop,
    /// Dropped: copy to the dead-letter topic, ack.
    DropToDeadLetter { topic: String },
    /// Failed: deliver again after `delay`; `attempts` is what the log records for the next
    /// one (0 when the component starts a new cycle).
    Retry {
        delay: Duration,
        attempts: u32,
        failed_attempts: u32,
    },
    /// Failed with no retry left: copy to the dead-letter topic, ack.
    GiveUpToDeadLetter { topic: String, failed_attempts: u32 },
    /// Failed while draining: left pending as it was. daprd never NACKs into the dead-letter
    /// topic while shutting down; the message is delivered again after a restart.
    KeepPending,
}

impl Settlement {
    /// daprd's `process_status` for the attempt.
    pub(super) fn process_status(&self) -> ProcessStatus {
        match self {
            Self::Ack => ProcessStatus::Success,
            Self::Drop | Self::DropToDeadLetter { .. } => ProcessStatus::Drop,
            Self::Retry { .. } | Self::GiveUpToDeadLetter { .. } | Self::KeepPending => {
                ProcessStatus::Retry
            }
        }
    }
}

/// The settlement of `attempt` (the table in the module docs).
pub(super) fn decide(attempt: &Attempt, standing: &Standing<'_>) -> Settlement {
    match attempt {
        Attempt::Processed(_) => Settlement::Ack,
        Attempt::Dropped { to_dead_letter, .. } => {
            match standing.dead_letter_topic.filter(|_| *to_dead_letter) {
                Some(topic) => Settlement::DropToDeadLetter {
                    topic: topic.to_string(),
                },
                None => Settlement::Drop,
            }
        }
        Attempt::Failed(_) if standing.is_draining => Settlement::KeepPending,
        Attempt::Failed(_) => {
            let failed_attempts = standing.failed_before.saturating_add(1);
            let has_dead_letter_topic = standing.dead_letter_topic.is_some();
            match after_failure(standing.policy, failed_attempts, has_dead_letter_topic) {
                AfterFailure::RetryAfter { delay, attempts } => Settlement::Retry {
                    delay,
                    attempts,
                    failed_attempts,
                },
                AfterFailure::DeadLetter => Settlement::GiveUpToDeadLetter {
                    topic: standing.dead_letter_topic.unwrap_or_default().to_string(),
                    failed_attempts,
                },
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::Backoff;

    const POLICY_DELAY: Duration = Duration::from_millis(10);

    fn three_retries() -> Option<RetryPolicy> {
        Some(RetryPolicy {
            backoff: Backoff::Constant(POLICY_DELAY),
            max_retries: Some(3),
        })
    }

    fn answered(status: TopicEventResponseStatus) -> Result<TopicEventResponse, Status> {
        Ok(TopicEventResponse {
            status: status as i32,
        })
    }

    #[test]
    fn each_answer_of_the_daprd_table_settles_as_daprd_does() {
        use TopicEventResponseStatus::{Drop, Retry, Success};
        let took = Duration::from_millis(3);
        let standing = |dead_letter_topic, policy, failed_before, is_draining| Standing {
            dead_letter_topic,
            policy,
            failed_before,
            is_draining,
        };
        let dlq = Some("dlq");
        let to_dlq = || Settlement::DropToDeadLetter {
            topic: "dlq".into(),
        };
        let retry = |failed| Settlement::Retry {
            delay: POLICY_DELAY,
            attempts: failed,
            failed_attempts: failed,
        };
        let component_retry = |failed| Settlement::Retry {
            delay: COMPONENT_RETRY_DELAY,
            attempts: 0,
            failed_attempts: failed,
        };
        let give_up = |failed| Settlement::GiveUpToDeadLetter {
            topic: "dlq".into(),
            failed_attempts: failed,
        };
        let unknown_status = Ok(TopicEventResponse { status: 7 });
        let unavailable = || Err(Status::unavailable("down"));
        #[rustfmt::skip]
        let cases = [
            ("SUCCESS", answered(Success), standing(dlq, None, 0, false), Settlement::Ack),
            ("empty response is SUCCESS", Ok(TopicEventResponse::default()), standing(None, None, 0, false), Settlement::Ack),
            ("SUCCESS while draining", answered(Success), standing(dlq, None, 0, true), Settlement::Ack),
            ("DROP with a dlq", answered(Drop), standing(dlq, None, 0, false), to_dlq()),
            ("DROP without a dlq", answered(Drop), standing(None, None, 0, false), Settlement::Drop),
            ("DROP while draining", answered(Drop), standing(dlq, None, 0, true), to_dlq()),
            ("Unimplemented skips the dlq", Err(Status::unimplemented("no")), standing(dlq, None, 0, false), Settlement::Drop),
            ("RETRY under a policy", answered(Retry), standing(dlq, three_retries(), 0, false), retry(1)),
            ("unknown status under a policy", unknown_status, standing(dlq, three_retries(), 2, false), retry(3)),
            ("error, policy exhausted, dlq", unavailable(), standing(dlq, three_retries(), 3, false), give_up(4)),
            ("error, policy exhausted, no dlq", unavailable(), standing(None, three_retries(), 3, false), component_retry(4)),
            ("RETRY without a policy, dlq", answered(Retry), standing(dlq, None, 0, false), give_up(1)),
            ("RETRY without a policy or dlq", answered(Retry), standing(None, None, 0, false), component_retry(1)),
            ("RETRY while draining", answered(Retry), standing(dlq, None, 0, true), Settlement::KeepPending),
            ("error while draining", unavailable(), standing(dlq, three_retries(), 3, true), Settlement::KeepPending),
        ];
        for (case, answer, standing, expected) in cases {
            let attempt = Attempt::from_answer(answer, took);
            assert_eq!(decide(&attempt, &standing), expected, "case: {case}");
        }
    }

    #[test]
    fn each_settlement_is_counted_under_daprd_process_status() {
        let cases = [
            (Settlement::Ack, ProcessStatus::Success),
            (Settlement::Drop, ProcessStatus::Drop),
            (
                Settlement::DropToDeadLetter {
                    topic: "dlq".into(),
                },
                ProcessStatus::Drop,
            ),
            (
                Settlement::Retry {
                    delay: POLICY_DELAY,
                    attempts: 1,
                    failed_attempts: 1,
                },
                ProcessStatus::Retry,
            ),
            (
                Settlement::GiveUpToDeadLetter {
                    topic: "dlq".into(),
                    failed_attempts: 4,
                },
                ProcessStatus::Retry,
            ),
            (Settlement::KeepPending, ProcessStatus::Retry),
        ];
        for (settlement, expected) in cases {
            assert_eq!(
                settlement.process_status(),
                expected,
                "case: {settlement:?}"
            );
        }
    }

    #[test]
    fn failures_follow_the_policy_then_the_dead_letter_topic_or_the_component() {
        let forever = Some(RetryPolicy {
            backoff: Backoff::Constant(POLICY_DELAY),
            max_retries: None,
        });
        let retry = |attempts| AfterFailure::RetryAfter {
            delay: POLICY_DELAY,
            attempts,
        };
        let component = AfterFailure::RetryAfter {
            delay: COMPONENT_RETRY_DELAY,
            attempts: 0,
        };
        let cases = [
            ("first failure retries", three_retries(), 1, true, retry(1)),
            ("last retry", three_retries(), 3, true, retry(3)),
            (
                "exhausted with dlq",
                three_retries(),
                4,
                true,
                AfterFailure::DeadLetter,
            ),
            (
                "exhausted without dlq",
                three_retries(),
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
