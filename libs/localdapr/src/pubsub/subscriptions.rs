//! Subscriptions and consumer groups (reference §2.2, §4.4). When an app instance connects,
//! its sidecar asks `ListTopicSubscriptions` once and adds the declarative `Subscription`
//! resources the app is scoped to (§7.4; the app's own subscription wins for a pubsub and
//! topic, and the first resource among declarative ones). Each subscription joins the group
//! its component names for that instance (`consumerGroup`, else `consumerID`, else the app
//! id, with `{podName}`/`{uuid}`/`{appID}` resolved). A group is durable: it stays in the
//! log, so messages published while its apps are down wait for them, until it has had no
//! member and no acknowledgement for the retention period (24 h); then it is deleted, like a
//! Kafka group whose offsets expired. The instances in one group share its messages; each
//! group gets every message.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use todo_proto::dapr::proto::runtime::v1 as dapr;
use tokio::sync::Notify;
use tonic::{Code, Status};

use super::{
    log,
    routing::Routes,
    topic_access::{self, Operation},
};
use crate::{
    app::AppInstanceHandle,
    components::{Component, ComponentKind, DeclarativeSubscription, Resources},
    db::{Db, DbError, now_millis},
};

/// daprd's `DaprBuiltInInitializationRetries` for `ListTopicSubscriptions`: exponential from
/// 500ms, 3 retries.
const LIST_RETRY_DELAYS: &[Duration] = &[
    Duration::from_millis(500),
    Duration::from_millis(750),
    Duration::from_millis(1125),
];

/// One subscription of one app instance, ready to route its events.
#[derive(Debug)]
pub struct ActiveSubscription {
    /// The pub/sub component.
    pub pubsub: String,
    /// The topic.
    pub topic: String,
    /// The subscription metadata (e.g. `rawPayload`).
    pub metadata: HashMap<String, String>,
    /// The compiled routes.
    pub routes: Routes,
    /// Where dropped and given-up events go, if anywhere.
    pub dead_letter_topic: Option<String>,
    /// Programmatic (from the app) or declarative (from a `Subscription` resource).
    pub kind: dapr::PubsubSubscriptionType,
}

impl ActiveSubscription {
    /// A subscription metadata value, its key matched case-insensitively.
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// An instance in a group, with the subscription it joined with.
#[derive(Clone, Debug)]
pub struct Member {
    /// The app instance.
    pub instance: Arc<AppInstanceHandle>,
    /// Its subscription.
    pub subscription: Arc<ActiveSubscription>,
}

/// A consumer group of one topic, as the delivery worker sees it.
#[derive(Debug)]
pub struct Group {
    /// The group's row in the log.
    pub id: i64,
    /// The pub/sub component.
    pub pubsub: String,
    /// The topic log the group reads: the component's own, or the one it shares
    /// ([`crate::components::Component::topics_log`]).
    pub log: String,
    /// The topic.
    pub topic: String,
    /// Woken when the topic gets a message or the group a member.
    pub wake: Notify,
    members: Mutex<Vec<Member>>,
    next_member: AtomicUsize,
    /// Set once the group was deleted for idling; its worker then stops.
    retired: AtomicBool,
}

impl Group {
    /// An available member, round robin; `None` when no instance can take events now.
    pub fn pick(&self) -> Option<Member> {
        let members = self.members.lock().ok()?;
        let available: Vec<&Member> = members
            .iter()
            .filter(|m| m.instance.is_available())
            .collect();
        if available.is_empty() {
            return None;
        }
        let index = self.next_member.fetch_add(1, Ordering::Relaxed) % available.len();
        available.get(index).map(|m| (*m).clone())
    }

    /// Whether the group was deleted for idling ([`Registry::forget`]).
    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Relaxed)
    }

    fn has_members(&self) -> bool {
        self.members.lock().is_ok_and(|members| !members.is_empty())
    }

    /// Whether some member can take events now.
    pub fn has_available_member(&self) -> bool {
        self.members
            .lock()
            .is_ok_and(|members| members.iter().any(|m| m.instance.is_available()))
    }
}

/// Every group with a live member, and the subscriptions of every instance.
#[derive(Debug, Default)]
pub struct Registry {
    groups: Mutex<HashMap<i64, Arc<Group>>>,
    by_instance: Mutex<HashMap<u64, Vec<Arc<ActiveSubscription>>>>,
}

impl Registry {
    /// Adds `member` to group `id`; returns the group if it is new to this process (its worker
    /// must be started).
    pub(super) fn join(&self, id: i64, log: &str, member: Member) -> (Arc<Group>, bool) {
        let mut groups = self
            .groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut is_new = false;
        let group = groups
            .entry(id)
            .or_insert_with(|| {
                is_new = true;
                Arc::new(Group {
                    id,
                    pubsub: member.subscription.pubsub.clone(),
                    log: log.to_string(),
                    topic: member.subscription.topic.clone(),
                    wake: Notify::new(),
                    members: Mutex::new(Vec::new()),
                    next_member: AtomicUsize::new(0),
                    retired: AtomicBool::new(false),
                })
            })
            .clone();
        if let Ok(mut members) = group.members.lock() {
            members.push(member);
        }
        group.wake.notify_one();
        (group, is_new)
    }

    /// Removes an instance from every group.
    pub fn leave(&self, instance: &AppInstanceHandle) {
        if let Ok(groups) = self.groups.lock() {
            for group in groups.values() {
                if let Ok(mut members) = group.members.lock() {
                    members.retain(|m| m.instance.serial != instance.serial);
                }
            }
        }
        if let Ok(mut by_instance) = self.by_instance.lock() {
            by_instance.remove(&instance.serial);
        }
    }

    /// The groups that have a member in this process.
    pub fn live_group_ids(&self) -> Vec<i64> {
        self.groups
            .lock()
            .map(|groups| {
                groups
                    .values()
                    .filter(|group| group.has_members())
                    .map(|group| group.id)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Drops the groups deleted from the log and stops their workers. A group that found a
    /// member meanwhile was not deleted (joining marks it active), so it has none here.
    pub fn forget(&self, ids: &[i64]) {
        let Ok(mut groups) = self.groups.lock() else {
            return;
        };
        for id in ids {
            if let Some(group) = groups.remove(id) {
                group.retired.store(true, Ordering::Relaxed);
                group.wake.notify_one();
            }
        }
    }

    /// Wakes the workers of every group of a topic of the topic log `log`.
    pub fn notify_topic(&self, log: &str, topic: &str) {
        if let Ok(groups) = self.groups.lock() {
            for group in groups.values() {
                if group.log == log && group.topic == topic {
                    group.wake.notify_one();
                }
            }
        }
    }

    /// Wakes every worker (an instance became available, or draining began).
    pub fn notify_all(&self) {
        if let Ok(groups) = self.groups.lock() {
            for group in groups.values() {
                group.wake.notify_one();
            }
        }
    }

    /// The subscriptions of an instance, for `GetMetadata`.
    pub fn subscriptions_of(&self, instance: &AppInstanceHandle) -> Vec<dapr::PubsubSubscription> {
        let Ok(by_instance) = self.by_instance.lock() else {
            return Vec::new();
        };
        by_instance
            .get(&instance.serial)
            .map(|subscriptions| {
                subscriptions
                    .iter()
                    .map(|s| dapr::PubsubSubscription {
                        pubsub_name: s.pubsub.clone(),
                        topic: s.topic.clone(),
                        metadata: s.metadata.clone(),
                        rules: Some(dapr::PubsubSubscriptionRules {
                            rules: s.routes.metadata_rules(),
                        }),
                        dead_letter_topic: s.dead_letter_topic.clone().unwrap_or_default(),
                        r#type: s.kind as i32,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Reads `app`'s subscriptions, merges the declarative ones it is scoped to, and joins their
/// groups; the new groups' workers are returned for the caller to start.
///
/// # Errors
/// When the log cannot record a group. When `ListTopicSubscriptions` keeps failing with
/// anything but `Unimplemented`, the failure is logged and the declarative subscriptions
/// still apply.
pub async fn subscribe_app(
    db: &Db,
    resources: &Resources,
    registry: &Registry,
    app: &Arc<AppInstanceHandle>,
) -> Result<Vec<Arc<Group>>, Status> {
    let app_id = app.app_id().to_string();
    let programmatic = list_subscriptions(app).await.unwrap_or_else(|status| {
        tracing::error!(app_id, %status, "cannot read the app's subscriptions");
        Vec::new()
    });
    let declarative = resources.subscriptions_for(&app_id);
    let mut consumers: HashMap<String, String> = HashMap::new();
    let mut new_groups = Vec::new();
    let mut active = Vec::new();
    for (subscription, kind) in merge(&app_id, programmatic, declarative) {
        let (pubsub, topic) = (subscription.pubsub_name.clone(), subscription.topic.clone());
        let Some(component) = resources
            .component_for(&app_id, &pubsub)
            .filter(|c| c.kind == ComponentKind::PubsubInMemory)
        else {
            tracing::warn!(
                app_id,
                pubsub,
                topic,
                "subscription to an unknown pubsub ignored"
            );
            continue;
        };
        if topic.is_empty()
            || !topic_access::is_allowed(component, &app_id, &topic, Operation::Subscribe)
        {
            tracing::warn!(
                app_id,
                pubsub,
                topic,
                "subscription not allowed by the pubsub's scopes"
            );
            continue;
        }
        let routes = match Routes::compile(subscription.routes.as_ref()) {
            Ok(routes) => routes,
            Err(error) => {
                tracing::error!(app_id, pubsub, topic, %error, "subscription refused");
                continue;
            }
        };
        let consumer = consumers
            .entry(component.name.clone())
            .or_insert_with(|| consumer_group(component, app))
            .clone();
        let from_oldest = initial_offset_is_oldest(component, &subscription.metadata);
        let topics_log = component.topics_log().to_string();
        let group_id = {
            let (topics_log, topic, consumer) =
                (topics_log.clone(), topic.clone(), consumer.clone());
            db.write(move |c| {
                Ok::<_, DbError>(log::ensure_group(
                    c,
                    &topics_log,
                    &topic,
                    &consumer,
                    from_oldest,
                    now_millis(),
                )?)
            })
            .await
            .map_err(|error| {
                tracing::error!(%error, "cannot record a consumer group");
                Status::internal("cannot record the consumer group")
            })?
        };
        let subscription = Arc::new(ActiveSubscription {
            pubsub: pubsub.clone(),
            topic: topic.clone(),
            metadata: subscription.metadata,
            routes,
            dead_letter_topic: Some(subscription.dead_letter_topic).filter(|t| !t.is_empty()),
            kind,
        });
        active.push(subscription.clone());
        let member = Member {
            instance: app.clone(),
            subscription,
        };
        let (group, is_new) = registry.join(group_id, &topics_log, member);
        tracing::info!(
            app_id,
            pubsub,
            topic,
            consumer,
            kind = kind.as_str_name(),
            "subscribed"
        );
        if is_new {
            new_groups.push(group);
        }
    }
    if let Ok(mut by_instance) = registry.by_instance.lock() {
        by_instance.insert(app.serial, active);
    }
    Ok(new_groups)
}

/// One subscription per pubsub and topic (reference §2.2): the app's programmatic ones (the
/// first of a duplicate), then the declarative ones for topics the app did not list, the first
/// resource of a topic winning.
fn merge<'a>(
    app_id: &str,
    programmatic: Vec<dapr::TopicSubscription>,
    declarative: impl Iterator<Item = &'a DeclarativeSubscription>,
) -> Vec<(dapr::TopicSubscription, dapr::PubsubSubscriptionType)> {
    let mut seen = HashSet::new();
    let mut merged = Vec::new();
    for subscription in programmatic {
        let (pubsub, topic) = (&subscription.pubsub_name, &subscription.topic);
        if !seen.insert((pubsub.clone(), topic.clone())) {
            tracing::warn!(app_id, pubsub, topic, "duplicate subscription ignored");
            continue;
        }
        merged.push((subscription, dapr::PubsubSubscriptionType::Programmatic));
    }
    for resource in declarative {
        let subscription = &resource.subscription;
        let (pubsub, topic) = (&subscription.pubsub_name, &subscription.topic);
        if !seen.insert((pubsub.clone(), topic.clone())) {
            tracing::info!(
                app_id,
                pubsub,
                topic,
                subscription = resource.name,
                "declarative subscription overridden by an earlier one for the same topic"
            );
            continue;
        }
        merged.push((
            subscription.clone(),
            dapr::PubsubSubscriptionType::Declarative,
        ));
    }
    merged
}

/// `consumerGroup`, else `consumerID`, else the app id (reference §4.4).
fn consumer_group(component: &Component, app: &AppInstanceHandle) -> String {
    ["consumerGroup", "consumerID"]
        .iter()
        .find_map(|key| {
            component
                .metadata(key, &app.instance)
                .filter(|v| !v.is_empty())
        })
        .unwrap_or_else(|| app.app_id().to_string())
}

fn initial_offset_is_oldest(component: &Component, metadata: &HashMap<String, String>) -> bool {
    metadata
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("initialOffset"))
        .map(|(_, v)| v.as_str())
        .or_else(|| component.raw_metadata("initialOffset"))
        .is_some_and(|v| v.eq_ignore_ascii_case("oldest"))
}

/// `ListTopicSubscriptions`, with daprd's initialization retries; `Unimplemented` is none.
/// Sent without the app token, as daprd 1.18.3 sends it (its subscription loader dials the app
/// on a connection of its own, without the token interceptor of its app channel), so an app
/// that demands the token here fails on localdapr as it would on daprd.
async fn list_subscriptions(
    app: &AppInstanceHandle,
) -> Result<Vec<dapr::TopicSubscription>, Status> {
    let Some(mut client) = app
        .raw_channel()
        .map(dapr::app_callback_client::AppCallbackClient::new)
    else {
        return Ok(Vec::new());
    };
    let mut delays = LIST_RETRY_DELAYS.iter();
    loop {
        match client.list_topic_subscriptions(()).await {
            Ok(response) => return Ok(response.into_inner().subscriptions),
            Err(status) if status.code() == Code::Unimplemented => return Ok(Vec::new()),
            Err(status) => match delays.next() {
                Some(delay) => {
                    tracing::warn!(app_id = app.app_id(), %status, "ListTopicSubscriptions failed, retrying");
                    tokio::time::sleep(*delay).await;
                }
                None => return Err(status),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn wire(topic: &str, dead_letter_topic: &str) -> dapr::TopicSubscription {
        dapr::TopicSubscription {
            pubsub_name: "pubsub".into(),
            topic: topic.into(),
            dead_letter_topic: dead_letter_topic.into(),
            ..Default::default()
        }
    }

    fn resource(name: &str, topic: &str) -> DeclarativeSubscription {
        DeclarativeSubscription {
            name: name.into(),
            subscription: wire(topic, name),
            scopes: Vec::new(),
            file: PathBuf::from("s.yaml"),
        }
    }

    #[test]
    fn programmatic_subscriptions_win_then_the_first_declarative_one() {
        use self::dapr::PubsubSubscriptionType::{Declarative, Programmatic};
        let declarative = [
            resource("shadowed", "shared"),
            resource("first", "declared"),
            resource("second", "declared"),
        ];
        let merged = merge(
            "app",
            vec![wire("shared", "app-dlq"), wire("shared", "duplicate")],
            declarative.iter(),
        );
        let summary: Vec<_> = merged
            .iter()
            .map(|(s, kind)| (s.topic.as_str(), s.dead_letter_topic.as_str(), *kind))
            .collect();
        assert_eq!(
            summary,
            [
                ("shared", "app-dlq", Programmatic),
                ("declared", "first", Declarative)
            ]
        );
    }
}
