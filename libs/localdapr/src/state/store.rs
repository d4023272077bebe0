//! Which component a store name means for an app, and how its keys are prefixed (§5.2).

use crate::{
    components::{Component, ComponentKind},
    runtime::Runtime,
};

use super::error::StateError;

/// A state store as one app sees it: which component, and how its keys are prefixed.
pub(super) struct Store<'a> {
    component: &'a Component,
    prefix: Option<String>,
}

impl<'a> Store<'a> {
    pub(super) fn resolve(
        runtime: &'a Runtime,
        app_id: &str,
        name: &str,
    ) -> Result<Self, StateError> {
        let mut stores = runtime
            .resources
            .components_of(app_id, ComponentKind::StateSqlite)
            .peekable();
        if stores.peek().is_none() {
            return Err(StateError::NotConfigured);
        }
        let component = runtime
            .resources
            .component_for(app_id, name)
            .filter(|c| c.kind == ComponentKind::StateSqlite)
            .ok_or_else(|| StateError::StoreNotFound(name.to_string()))?;
        // §5.2: appid (default), name, namespace, none, or a literal prefix.
        let prefix = match component.raw_metadata("keyPrefix").map(str::trim) {
            None | Some("") => Some(app_id.to_string()),
            Some(p) if p.eq_ignore_ascii_case("appid") => Some(app_id.to_string()),
            Some(p) if p.eq_ignore_ascii_case("name") => Some(component.name.clone()),
            Some(p) if p.eq_ignore_ascii_case("namespace") => Some(app_id.to_string()),
            Some(p) if p.eq_ignore_ascii_case("none") => None,
            Some(p) => Some(p.to_string()),
        };
        if let Some(prefix) = &prefix
            && prefix.contains("||")
        {
            return Err(StateError::IllegalKey(prefix.clone()));
        }
        Ok(Self { component, prefix })
    }

    pub(super) fn name(&self) -> String {
        self.component.name.clone()
    }

    pub(super) fn key(&self, key: &str) -> Result<String, StateError> {
        if key.is_empty() {
            return Err(StateError::EmptyKey);
        }
        if key.contains("||") {
            return Err(StateError::IllegalKey(key.to_string()));
        }
        Ok(match &self.prefix {
            Some(prefix) => format!("{prefix}||{key}"),
            None => key.to_string(),
        })
    }

    pub(super) fn outbox(&self) -> Option<Outbox> {
        let pubsub = self
            .component
            .raw_metadata("outboxPublishPubsub")
            .filter(|v| !v.is_empty())?;
        let topic = self
            .component
            .raw_metadata("outboxPublishTopic")
            .filter(|v| !v.is_empty())?;
        Some(Outbox {
            pubsub: pubsub.to_string(),
            topic: topic.to_string(),
        })
    }
}

/// Where the outbox of a store publishes.
#[derive(Clone, Debug)]
pub(super) struct Outbox {
    pub(super) pubsub: String,
    pub(super) topic: String,
}
