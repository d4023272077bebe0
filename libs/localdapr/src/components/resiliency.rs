//! Resiliency documents (reference §7.5): named retry policies, and which policy applies to
//! delivering a pub/sub component's events to an app ("inbound").

use std::{collections::HashMap, time::Duration};

use serde::Deserialize;

use crate::duration::parse_go_duration;

/// The share by which daprd randomises each exponential interval, either way: dapr/kit's
/// `retry.DefaultConfig` keeps cenkalti/backoff's `DefaultRandomizationFactor` (0.5), and the
/// Resiliency CRD has no field to change it.
pub const RANDOMIZATION_FACTOR: f64 = 0.5;

/// How long to wait between attempts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backoff {
    /// The same delay every time (dapr/kit's constant policy is not randomised).
    Constant(Duration),
    /// A delay that grows by 1.5× per attempt up to a ceiling, each one randomised within
    /// ±50% (`RANDOMIZATION_FACTOR`; dapr/kit's exponential policy, cenkalti/backoff v4).
    Exponential {
        /// The first delay.
        initial: Duration,
        /// The ceiling of the interval; a randomised delay may exceed it by the factor.
        max_interval: Duration,
    },
}

impl Backoff {
    /// The delay after attempt `attempt` (1-based) failed, randomised as daprd randomises it.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.randomised_delay(attempt, rand::random::<f64>())
    }

    /// The delay after attempt `attempt` failed before randomisation: the interval daprd
    /// randomises around.
    pub fn interval(&self, attempt: u32) -> Duration {
        match *self {
            Self::Constant(delay) => delay,
            Self::Exponential {
                initial,
                max_interval,
            } => {
                let factor =
                    1.5_f64.powi(i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX));
                initial.mul_f64(factor.min(1e6)).min(max_interval)
            }
        }
    }

    /// The delay after attempt `attempt` failed, given `random` in `[0, 1)`: cenkalti/backoff's
    /// `getRandomValueFromInterval`, i.e. the interval `i` scaled into
    /// `[i·(1−0.5), i·(1+0.5)]`. Tests pass their own `random`.
    pub fn randomised_delay(&self, attempt: u32, random: f64) -> Duration {
        let interval = self.interval(attempt);
        match self {
            Self::Constant(_) => interval,
            Self::Exponential { .. } => {
                let lowest = interval.mul_f64(1.0 - RANDOMIZATION_FACTOR);
                let span = interval.mul_f64(2.0 * RANDOMIZATION_FACTOR);
                lowest + span.mul_f64(random.clamp(0.0, 1.0))
            }
        }
    }
}

/// A retry policy: a backoff and how many retries (after the first attempt).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// The delays.
    pub backoff: Backoff,
    /// Retries after the first attempt; `None` retries forever (a policy without `maxRetries`).
    pub max_retries: Option<u32>,
}

/// Named defaults daprd falls back on for pub/sub delivery, in order (reference §7.5).
const INBOUND_DEFAULTS: &[&str] = &[
    "DefaultPubsubComponentInboundRetryPolicy",
    "DefaultComponentInboundRetryPolicy",
    "DefaultComponentRetryPolicy",
    "DefaultRetryPolicy",
];

/// The merged resiliency documents.
#[derive(Clone, Debug, Default)]
pub struct Resiliency {
    documents: Vec<ParsedDocument>,
}

#[derive(Clone, Debug)]
struct ParsedDocument {
    retries: HashMap<String, RetryPolicy>,
    inbound_retry: HashMap<String, String>,
    scopes: Vec<String>,
}

impl Resiliency {
    /// The retry policy for delivering `component`'s events to `app_id`, if any applies.
    pub fn inbound_retry(&self, app_id: &str, component: &str) -> Option<RetryPolicy> {
        let documents = || {
            self.documents
                .iter()
                .filter(|d| d.scopes.is_empty() || d.scopes.iter().any(|s| s == app_id))
        };
        documents()
            .find_map(|d| {
                d.inbound_retry
                    .get(component)
                    .and_then(|name| d.retries.get(name))
            })
            .or_else(|| {
                INBOUND_DEFAULTS
                    .iter()
                    .find_map(|name| documents().find_map(|d| d.retries.get(*name)))
            })
            .copied()
    }

    pub(super) fn merge(&mut self, document: ResiliencyDocument) -> Result<(), String> {
        let mut retries = HashMap::new();
        for (name, spec) in document.spec.policies.retries {
            retries.insert(
                name.clone(),
                spec.into_policy()
                    .map_err(|e| format!("retry policy {name}: {e}"))?,
            );
        }
        let inbound_retry = document
            .spec
            .targets
            .components
            .into_iter()
            .filter_map(|(component, target)| Some((component, target.inbound?.retry?)))
            .collect::<HashMap<_, _>>();
        for (component, name) in &inbound_retry {
            if !retries.contains_key(name) {
                return Err(format!(
                    "component {component} names unknown retry policy {name}"
                ));
            }
        }
        self.documents.push(ParsedDocument {
            retries,
            inbound_retry,
            scopes: document.scopes,
        });
        Ok(())
    }
}

#[derive(Deserialize)]
pub(super) struct ResiliencyDocument {
    spec: Spec,
    #[serde(default)]
    scopes: Vec<String>,
}

impl ResiliencyDocument {
    /// The kinds of policy the document defines that localdapr reads but does not apply.
    pub(super) fn ignored_policies(&self) -> Vec<&'static str> {
        let policies = &self.spec.policies;
        [
            ("timeouts", policies.timeouts.is_empty()),
            ("circuitBreakers", policies.circuit_breakers.is_empty()),
        ]
        .into_iter()
        .filter_map(|(kind, is_empty)| (!is_empty).then_some(kind))
        .collect()
    }
}

#[derive(Deserialize, Default)]
struct Spec {
    #[serde(default)]
    policies: Policies,
    #[serde(default)]
    targets: Targets,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Policies {
    #[serde(default)]
    retries: HashMap<String, RetrySpec>,
    #[serde(default)]
    timeouts: HashMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    circuit_breakers: HashMap<String, serde_yaml_ng::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetrySpec {
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    duration: Option<String>,
    #[serde(default)]
    initial_interval: Option<String>,
    #[serde(default)]
    max_interval: Option<String>,
    #[serde(default)]
    max_retries: Option<i64>,
}

impl RetrySpec {
    fn into_policy(self) -> Result<RetryPolicy, String> {
        let parse = |value: Option<String>, default: Duration| match value {
            Some(v) => parse_go_duration(&v).map_err(|e| e.to_string()),
            None => Ok(default),
        };
        let backoff = match self.policy.as_deref().unwrap_or("constant") {
            "constant" => Backoff::Constant(parse(self.duration, Duration::from_secs(5))?),
            "exponential" => Backoff::Exponential {
                initial: parse(
                    self.initial_interval.or(self.duration),
                    Duration::from_millis(500),
                )?,
                max_interval: parse(self.max_interval, Duration::from_secs(60))?,
            },
            other => return Err(format!("unknown policy {other}")),
        };
        // Dapr's kit: -1 (or no value) retries forever.
        let max_retries = match self.max_retries {
            None | Some(-1) => None,
            Some(n) if n >= 0 => Some(u32::try_from(n).map_err(|e| e.to_string())?),
            Some(n) => return Err(format!("maxRetries {n} is below -1")),
        };
        Ok(RetryPolicy {
            backoff,
            max_retries,
        })
    }
}

#[derive(Deserialize, Default)]
struct Targets {
    #[serde(default)]
    components: HashMap<String, ComponentTarget>,
}

#[derive(Deserialize)]
struct ComponentTarget {
    #[serde(default)]
    inbound: Option<Direction>,
}

#[derive(Deserialize)]
struct Direction {
    #[serde(default)]
    retry: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::components::Resources;

    const DOCUMENT: &str = r#"
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: local
spec:
  policies:
    retries:
      pubsubRetry:
        policy: exponential
        initialInterval: 100ms
        maxInterval: 1s
        maxRetries: 3
      DefaultRetryPolicy:
        policy: constant
        duration: 2s
  targets:
    components:
      pubsub:
        inbound:
          retry: pubsubRetry
"#;

    #[test]
    fn a_component_target_wins_over_the_named_defaults() {
        let mut resources = Resources::default();
        resources
            .add_documents(Path::new("r.yaml"), DOCUMENT)
            .unwrap();
        let named = resources.resiliency.inbound_retry("any", "pubsub").unwrap();
        assert_eq!(named.max_retries, Some(3));
        assert_eq!(named.backoff.interval(1), Duration::from_millis(100));
        assert_eq!(named.backoff.interval(2), Duration::from_millis(150));
        assert_eq!(
            named.backoff.interval(20),
            Duration::from_secs(1),
            "capped at maxInterval"
        );
        let fallback = resources
            .resiliency
            .inbound_retry("any", "other-pubsub")
            .unwrap();
        assert_eq!(
            fallback,
            RetryPolicy {
                backoff: Backoff::Constant(Duration::from_secs(2)),
                max_retries: None
            }
        );
    }

    #[test]
    fn exponential_delays_are_randomised_by_half_the_interval_either_way() {
        let backoff = Backoff::Exponential {
            initial: Duration::from_millis(100),
            max_interval: Duration::from_secs(1),
        };
        for attempt in [1, 2, 3, 20] {
            let interval = backoff.interval(attempt);
            let (lowest, highest) = (interval / 2, interval * 3 / 2);
            assert_eq!(
                backoff.randomised_delay(attempt, 0.0),
                lowest,
                "attempt {attempt}"
            );
            assert_eq!(
                backoff.randomised_delay(attempt, 0.5),
                interval,
                "attempt {attempt}"
            );
            assert_eq!(
                backoff.randomised_delay(attempt, 1.0),
                highest,
                "attempt {attempt}"
            );
            let delays: Vec<_> = (0..64).map(|_| backoff.delay(attempt)).collect();
            assert!(
                delays.iter().all(|d| (lowest..=highest).contains(d)),
                "attempt {attempt}: {delays:?} outside [{lowest:?}, {highest:?}]"
            );
            assert!(
                delays.iter().any(|d| *d != delays[0]),
                "attempt {attempt}: 64 delays all equal {:?}",
                delays[0]
            );
        }
    }

    #[test]
    fn constant_delays_are_not_randomised() {
        let backoff = Backoff::Constant(Duration::from_millis(100));
        for random in [0.0, 0.3, 0.99] {
            assert_eq!(
                backoff.randomised_delay(2, random),
                Duration::from_millis(100)
            );
        }
    }

    #[test]
    fn timeouts_and_circuit_breakers_are_reported_as_ignored() {
        let with = "spec:\n  policies:\n    timeouts:\n      quick: 1s\n    circuitBreakers:\n      cb:\n        trip: consecutiveFailures > 5\n";
        let document: ResiliencyDocument = serde_yaml_ng::from_str(with).unwrap();
        assert_eq!(document.ignored_policies(), ["timeouts", "circuitBreakers"]);
        let document: ResiliencyDocument = serde_yaml_ng::from_str(DOCUMENT).unwrap();
        assert!(
            document.ignored_policies().is_empty(),
            "retries are applied"
        );
    }

    #[test]
    fn without_documents_there_is_no_policy() {
        assert_eq!(Resiliency::default().inbound_retry("a", "pubsub"), None);
    }

    #[test]
    fn a_target_naming_an_unknown_policy_is_refused() {
        let text = "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nspec:\n  targets:\n    components:\n      pubsub:\n        inbound:\n          retry: nope\n";
        let error = Resources::default()
            .add_documents(Path::new("r.yaml"), text)
            .unwrap_err();
        assert!(
            error.to_string().contains("unknown retry policy nope"),
            "{error}"
        );
    }
}
