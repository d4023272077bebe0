//! The harness: localdapr's `testsuite` fixtures, and the components most tests use.

#![allow(dead_code)] // each test module uses a different part of the harness

pub use localdapr::testsuite::{TestApp, TestDapr, no_callbacks, wait_until};

/// Whether a test does not apply to the real daprd (`TODO_TEST_DAPR=real`): it then says why
/// and the test ends there. The README's deviations list these with their reasons.
pub fn not_on_daprd(dapr: &TestDapr, why: &str) -> bool {
    if dapr.is_real() {
        eprintln!("not applicable on daprd: {why}");
    }
    dapr.is_real()
}

/// Components most tests use: a state store whose outbox publishes to `task-events` on
/// `pubsub`, that pub/sub, and a secret store.
pub const COMPONENTS: &str = r#"
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: connectionString
      value: "unused-by-localdapr.db"
    - name: outboxPublishPubsub
      value: pubsub
    - name: outboxPublishTopic
      value: task-events
    - name: outboxDiscardWhenMissingState
      value: "true"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: plainstore
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: connectionString
      value: "unused-by-localdapr.db"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.in-memory
  version: v1
"#;
