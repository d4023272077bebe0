//! Which topics an app may publish to or subscribe to on a pub/sub component (reference §7.1):
//! `allowedTopics`, `protectedTopics`, `publishingScopes` and `subscriptionScopes`, with daprd's
//! `IsOperationAllowed` semantics.

use crate::components::Component;

/// Publishing or subscribing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `PublishEvent`, `BulkPublishEvent`.
    Publish,
    /// A subscription.
    Subscribe,
}

/// Whether `app_id` may do `operation` on `topic` of `component`.
///
/// A topic outside a non-empty `allowedTopics` is refused. An app named in the scopes may use
/// only the topics listed for it (`app=` alone allows none). A protected topic needs such a
/// listing; other topics are open to apps the scopes do not name.
pub fn is_allowed(component: &Component, app_id: &str, topic: &str, operation: Operation) -> bool {
    let allowed = list(component.raw_metadata("allowedTopics"));
    if !allowed.is_empty() && !allowed.iter().any(|t| t == topic) {
        return false;
    }
    let protected = list(component.raw_metadata("protectedTopics"));
    let is_protected = protected.iter().any(|t| t == topic);
    let scope_key = match operation {
        Operation::Publish => "publishingScopes",
        Operation::Subscribe => "subscriptionScopes",
    };
    let scoped = scoped_topics(component.raw_metadata(scope_key), app_id);
    if !is_protected && scoped.is_empty() {
        return true;
    }
    scoped.iter().any(|t| t == topic)
}

fn list(value: Option<&str>) -> Vec<String> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.split(',').map(|t| t.trim().to_string()).collect())
        .unwrap_or_default()
}

/// daprd's `GetScopedTopics`: `app1=topicA,topicB;app2=topicC`, spaces ignored.
fn scoped_topics(value: Option<&str>, app_id: &str) -> Vec<String> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Vec::new();
    };
    let value = value.replace(' ', "");
    let mut topics: Vec<String> = Vec::new();
    for app in value.split(';') {
        let mut parts = app.split('=');
        if parts.next() != Some(app_id) {
            continue;
        }
        if let Some(listed) = parts.next() {
            for topic in listed.split(',') {
                if !topics.iter().any(|t| t == topic) {
                    topics.push(topic.to_string());
                }
            }
        }
    }
    topics
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::components::Resources;

    fn component(metadata: &[(&str, &str)]) -> Component {
        let items: String = metadata
            .iter()
            .map(|(k, v)| format!("    - name: {k}\n      value: \"{v}\"\n"))
            .collect();
        let yaml = format!(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {{name: pubsub}}\nspec:\n  type: pubsub.in-memory\n  metadata:\n{items}"
        );
        let mut resources = Resources::default();
        resources.add_documents(Path::new("p.yaml"), &yaml).unwrap();
        resources.components.remove(0)
    }

    #[test]
    fn scopes_and_topic_lists_follow_daprd() {
        let scoped = component(&[
            ("publishingScopes", "api=tasks,audit;quiet="),
            ("protectedTopics", "secret"),
            ("allowedTopics", "tasks,audit,other,secret"),
        ]);
        let cases = [
            ("listed topic", "api", "tasks", true),
            ("unlisted topic for a scoped app", "api", "other", false),
            ("app= allows nothing", "quiet", "tasks", false),
            ("an unscoped app may use open topics", "free", "other", true),
            ("protected needs a listing", "free", "secret", false),
            ("outside allowedTopics", "api", "elsewhere", false),
        ];
        for (case, app, topic, expected) in cases {
            assert_eq!(
                is_allowed(&scoped, app, topic, Operation::Publish),
                expected,
                "case: {case}"
            );
        }
        assert!(
            is_allowed(&scoped, "quiet", "tasks", Operation::Subscribe),
            "subscription scopes are separate"
        );
    }
}
