//! Resiliency documents (reference §7.5): named retry policies, and which policy applies to
//! delivering a pub/sub component's events to an app ("inbound").

use std::{collections::HashMap, time::Duration};

use serde::Deserialize;

use crate::duration::parse_go_duration;

/// How long to wait between attempts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backoff {
    /// The same delay every time.
    Constant(Duration),
    /// A delay that grows by 1.5× per attempt up to a ceiling (Dapr's kit defaults, no jitter).
    Exponential {
        /// The first delay.
        initial: Duration,
        /// The longest delay.
        max_interval: Duration,
    },
}

impl Backoff {
    /// The delay after attempt `attempt` (1-based) failed.
    pub fn delay(&self, attempt: u32) -> Duration {
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
        assert_eq!(named.backoff.delay(1), Duration::from_millis(100));
        assert_eq!(named.backoff.delay(2), Duration::from_millis(150));
        assert_eq!(
            named.backoff.delay(20),
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
        let text = "kind: Resiliency\nspec:\n  targets:\n    components:\n      pubsub:\n        inbound:\n          retry: nope\n";
        let error = Resources::default()
            .add_documents(Path::new("r.yaml"), text)
            .unwrap_err();
        assert!(
            error.to_string().contains("unknown retry policy nope"),
            "{error}"
        );
    }
}
