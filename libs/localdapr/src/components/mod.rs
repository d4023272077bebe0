//! Resources: the Dapr `Component`, `Resiliency`, `Subscription` and `Configuration` YAML files
//! under a resources path (`dapr-components/local/`), in the same format the real Dapr reads.
//!
//! Supported component types: `state.sqlite`, `pubsub.in-memory` (made durable here),
//! `secretstores.local.file`. Any other type is a startup error that names the file, as is a
//! malformed document. `scopes` are honoured; metadata values may use `{uuid}`, `{podName}` and
//! `{appID}` (reference §4.4), resolved per app instance. Declarative subscriptions are in
//! [`subscription`]; resiliency policies in `resiliency`.

mod resiliency;
pub mod subscription;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use serde::Deserialize;

pub use resiliency::{Backoff, Resiliency, RetryPolicy};
pub use subscription::DeclarativeSubscription;

/// Why the resources could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// The directory or a file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A document is not valid YAML, or not a valid resource.
    #[error("invalid resource in {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A component has a type localdapr does not implement.
    #[error(
        "unsupported component type {component_type} (component {name} in {path}); localdapr \
         supports state.sqlite, pubsub.in-memory and secretstores.local.file"
    )]
    UnsupportedType {
        /// The file.
        path: PathBuf,
        /// The component name.
        name: String,
        /// The type it asked for.
        component_type: String,
    },
    /// Two components share a name.
    #[error("component name {name} is used twice ({first} and {second})")]
    DuplicateName {
        /// The name.
        name: String,
        /// The first file.
        first: PathBuf,
        /// The second file.
        second: PathBuf,
    },
}

/// The kinds of component localdapr implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComponentKind {
    /// `state.sqlite`: a transactional state store with etags, TTL and the outbox.
    StateSqlite,
    /// `pubsub.in-memory`: a pub/sub broker, durable in localdapr.
    PubsubInMemory,
    /// `secretstores.local.file`: secrets from a JSON file.
    SecretLocalFile,
}

impl ComponentKind {
    fn parse(component_type: &str) -> Option<Self> {
        match component_type {
            "state.sqlite" => Some(Self::StateSqlite),
            "pubsub.in-memory" => Some(Self::PubsubInMemory),
            "secretstores.local.file" => Some(Self::SecretLocalFile),
            _ => None,
        }
    }

    /// The Dapr type name, e.g. `state.sqlite`.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::StateSqlite => "state.sqlite",
            Self::PubsubInMemory => "pubsub.in-memory",
            Self::SecretLocalFile => "secretstores.local.file",
        }
    }

    /// The capabilities `GetMetadata` reports.
    pub fn capabilities(self) -> &'static [&'static str] {
        match self {
            Self::StateSqlite => &["ETAG", "TRANSACTIONAL", "TTL", "ACTOR"],
            Self::PubsubInMemory => &["SUBSCRIBE_WILDCARDS"],
            Self::SecretLocalFile => &["MULTIPLE_KEY_VALUES_PER_SECRET"],
        }
    }
}

/// localdapr's own metadata of a `pubsub.in-memory` component: the name of another pubsub
/// component whose topics this one shares, as two Kafka components with the same `brokers` do.
/// Its own consumer groups (`consumerID: "{podName}"`, say) still apply, so a component scoped
/// to one app gives each of its instances every event of the shared topics. The real Dapr's
/// in-memory broker ignores the key (and is per sidecar anyway).
pub const TOPICS_OF_METADATA: &str = "localdaprTopicsOf";

/// One loaded component.
#[derive(Clone, Debug)]
pub struct Component {
    /// The component name apps use (`store_name`, `pubsub_name`).
    pub name: String,
    /// What it is.
    pub kind: ComponentKind,
    /// `spec.version`, e.g. `v1`.
    pub version: String,
    /// The metadata, keys lower-cased (Dapr reads them case-insensitively), values unresolved.
    metadata: HashMap<String, String>,
    /// The apps that may use it; empty means every app.
    pub scopes: Vec<String>,
    /// The file it came from.
    pub file: PathBuf,
}

impl Component {
    /// Whether `app_id` may use this component.
    pub fn is_visible_to(&self, app_id: &str) -> bool {
        self.scopes.is_empty() || self.scopes.iter().any(|s| s == app_id)
    }

    /// A metadata value with templates resolved for one app instance (reference §4.4).
    pub fn metadata(&self, key: &str, instance: &AppInstance) -> Option<String> {
        self.metadata
            .get(&key.to_ascii_lowercase())
            .map(|v| instance.resolve(v))
    }

    /// A metadata value as written, without templates resolved.
    pub fn raw_metadata(&self, key: &str) -> Option<&str> {
        self.metadata
            .get(&key.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The topic log this pubsub reads and writes: the component named by its
    /// [`TOPICS_OF_METADATA`] metadata, else its own name.
    pub fn topics_log(&self) -> &str {
        self.raw_metadata(TOPICS_OF_METADATA)
            .filter(|name| !name.is_empty())
            .unwrap_or(&self.name)
    }

    /// A boolean metadata value; absent or unparsable is `default`.
    pub fn metadata_bool(&self, key: &str, default: bool) -> bool {
        match self
            .raw_metadata(key)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            _ => default,
        }
    }
}

/// Who a component's templated metadata is resolved for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppInstance {
    /// The app id.
    pub app_id: String,
    /// The instance name `{podName}` stands for (localdapr has no pods: a per-sidecar value).
    pub pod_name: String,
}

impl AppInstance {
    /// Replaces `{uuid}` (fresh each occurrence), `{podName}` and `{appID}` in `value`.
    pub fn resolve(&self, value: &str) -> String {
        let mut resolved = value
            .replace("{podName}", &self.pod_name)
            .replace("{appID}", &self.app_id);
        while let Some(at) = resolved.find("{uuid}") {
            resolved.replace_range(at..at + "{uuid}".len(), &uuid::Uuid::new_v4().to_string());
        }
        resolved
    }
}

/// Everything under a resources path.
#[derive(Clone, Debug, Default)]
pub struct Resources {
    /// The components, in file order.
    pub components: Vec<Component>,
    /// The merged resiliency policies.
    pub resiliency: Resiliency,
    /// The declarative subscriptions, in file order (the first of a pubsub and topic wins).
    pub subscriptions: Vec<DeclarativeSubscription>,
}

impl Resources {
    /// Loads every `*.yaml`/`*.yml` file under `dir` (not recursive), in name order.
    ///
    /// # Errors
    /// The first file that cannot be read or used, named in the error.
    pub fn load(dir: &Path) -> Result<Self, ResourceError> {
        let read_error = |source| ResourceError::Read {
            path: dir.to_path_buf(),
            source,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read_error)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        files.sort();
        let mut resources = Self::default();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|source| ResourceError::Read {
                path: file.clone(),
                source,
            })?;
            resources.add_documents(&file, &text)?;
        }
        Ok(resources)
    }

    /// Adds the YAML documents of one file (several may be separated by `---`).
    ///
    /// # Errors
    /// When a document is malformed or a component is unsupported or duplicated.
    pub fn add_documents(&mut self, file: &Path, text: &str) -> Result<(), ResourceError> {
        let invalid = |reason: String| ResourceError::Invalid {
            path: file.to_path_buf(),
            reason,
        };
        for document in serde_yaml_ng::Deserializer::from_str(text) {
            let value =
                serde_yaml_ng::Value::deserialize(document).map_err(|e| invalid(e.to_string()))?;
            if value.is_null() {
                continue;
            }
            let header: Header =
                serde_yaml_ng::from_value(value.clone()).map_err(|e| invalid(e.to_string()))?;
            // daprd skips a document without its apiVersion without a word, so a component
            // that works here would be missing there: refuse it instead.
            if header.kind != "Subscription"
                && header.api_version.as_deref() != Some("dapr.io/v1alpha1")
            {
                return Err(invalid(format!(
                    "a {} needs apiVersion: dapr.io/v1alpha1 (daprd ignores it without one)",
                    header.kind
                )));
            }
            match header.kind.as_str() {
                "Component" => {
                    let document: ComponentDocument =
                        serde_yaml_ng::from_value(value).map_err(|e| invalid(e.to_string()))?;
                    let component = document.into_component(file)?;
                    if let Some(first) = self.components.iter().find(|c| c.name == component.name) {
                        return Err(ResourceError::DuplicateName {
                            name: component.name,
                            first: first.file.clone(),
                            second: file.to_path_buf(),
                        });
                    }
                    self.components.push(component);
                }
                "Resiliency" => {
                    let document: resiliency::ResiliencyDocument =
                        serde_yaml_ng::from_value(value).map_err(|e| invalid(e.to_string()))?;
                    let ignored = document.ignored_policies();
                    if !ignored.is_empty() {
                        tracing::warn!(
                            file = %file.display(),
                            policies = ?ignored,
                            "localdapr applies only the retry policies of a Resiliency; these \
                             are not applied"
                        );
                    }
                    self.resiliency.merge(document).map_err(invalid)?;
                }
                "Subscription" => {
                    let subscription = DeclarativeSubscription::parse(
                        file,
                        header.api_version.as_deref().unwrap_or_default(),
                        value,
                    )?;
                    self.subscriptions.push(subscription);
                }
                // Tracing and access control are daprd's; localdapr reads but does not apply them.
                "Configuration" => {}
                other => return Err(invalid(format!("unsupported kind {other}"))),
            }
        }
        Ok(())
    }

    /// The component `name` if `app_id` may use it.
    pub fn component_for(&self, app_id: &str, name: &str) -> Option<&Component> {
        self.components
            .iter()
            .find(|c| c.name == name && c.is_visible_to(app_id))
    }

    /// The declarative subscriptions `app_id` is scoped to, in file order.
    pub fn subscriptions_for<'a>(
        &'a self,
        app_id: &'a str,
    ) -> impl Iterator<Item = &'a DeclarativeSubscription> + 'a {
        self.subscriptions
            .iter()
            .filter(move |s| s.applies_to(app_id))
    }

    /// The topic log of the pubsub component `name` ([`Component::topics_log`]); `name` itself
    /// when there is no such component.
    pub fn pubsub_log<'a>(&'a self, name: &'a str) -> &'a str {
        self.components
            .iter()
            .find(|c| c.name == name && c.kind == ComponentKind::PubsubInMemory)
            .map_or(name, Component::topics_log)
    }

    /// The components of `kind` that `app_id` may use.
    pub fn components_of<'a>(
        &'a self,
        app_id: &'a str,
        kind: ComponentKind,
    ) -> impl Iterator<Item = &'a Component> + 'a {
        self.components
            .iter()
            .filter(move |c| c.kind == kind && c.is_visible_to(app_id))
    }
}

#[derive(Deserialize)]
struct Header {
    kind: String,
    #[serde(default, rename = "apiVersion")]
    api_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ComponentDocument {
    metadata: NameOnly,
    spec: ComponentSpec,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Deserialize)]
struct NameOnly {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ComponentSpec {
    #[serde(rename = "type")]
    component_type: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    metadata: Vec<MetadataItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataItem {
    name: String,
    #[serde(default)]
    value: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    env_ref: Option<String>,
    #[serde(default)]
    secret_key_ref: Option<serde_yaml_ng::Value>,
}

impl ComponentDocument {
    fn into_component(self, file: &Path) -> Result<Component, ResourceError> {
        let name = self.metadata.name;
        let kind = ComponentKind::parse(&self.spec.component_type).ok_or_else(|| {
            ResourceError::UnsupportedType {
                path: file.to_path_buf(),
                name: name.clone(),
                component_type: self.spec.component_type.clone(),
            }
        })?;
        let mut metadata = HashMap::new();
        for item in self.spec.metadata {
            let value = match (item.value, item.env_ref, item.secret_key_ref) {
                (Some(value), None, None) => {
                    yaml_scalar(&value).ok_or_else(|| ResourceError::Invalid {
                        path: file.to_path_buf(),
                        reason: format!(
                            "metadata {} of component {name} is not a scalar",
                            item.name
                        ),
                    })?
                }
                (None, Some(variable), None) => std::env::var(&variable).unwrap_or_default(),
                (None, None, Some(_)) => {
                    return Err(ResourceError::Invalid {
                        path: file.to_path_buf(),
                        reason: format!(
                            "metadata {} of component {name} uses secretKeyRef, which localdapr \
                             does not resolve; use a value or envRef",
                            item.name
                        ),
                    });
                }
                _ => String::new(),
            };
            metadata.insert(item.name.to_ascii_lowercase(), value);
        }
        Ok(Component {
            name,
            kind,
            version: self.spec.version,
            metadata,
            scopes: self.scopes,
            file: file.to_path_buf(),
        })
    }
}

/// Dapr metadata values are strings, but YAML writes `true` and `5` without quotes.
fn yaml_scalar(value: &serde_yaml_ng::Value) -> Option<String> {
    match value {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Bool(b) => Some(b.to_string()),
        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
        serde_yaml_ng::Value::Null => Some(String::new()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = r#"
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: connectionString
      value: "data.db"
    - name: outboxPublishPubsub
      value: pubsub
    - name: outboxDiscardWhenMissingState
      value: true
scopes:
  - todo-api
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub-sync
spec:
  type: pubsub.in-memory
  version: v1
  metadata:
    - name: consumerID
      value: "sync-{podName}"
"#;

    fn instance(app_id: &str) -> AppInstance {
        AppInstance {
            app_id: app_id.into(),
            pod_name: format!("{app_id}-0"),
        }
    }

    #[test]
    fn components_load_with_case_insensitive_metadata_and_scopes() {
        let mut resources = Resources::default();
        resources.add_documents(Path::new("a.yaml"), STATE).unwrap();
        let store = resources.component_for("todo-api", "statestore").unwrap();
        assert_eq!(store.kind, ComponentKind::StateSqlite);
        assert_eq!(
            store
                .metadata("OUTBOXPUBLISHPUBSUB", &instance("todo-api"))
                .as_deref(),
            Some("pubsub")
        );
        assert!(store.metadata_bool("outboxDiscardWhenMissingState", false));
        assert!(
            resources.component_for("audit", "statestore").is_none(),
            "scoped to todo-api"
        );
        assert!(
            resources.component_for("audit", "pubsub-sync").is_some(),
            "unscoped"
        );
    }

    #[test]
    fn templates_resolve_per_app_instance() {
        let mut resources = Resources::default();
        resources.add_documents(Path::new("a.yaml"), STATE).unwrap();
        let pubsub = resources.component_for("sync", "pubsub-sync").unwrap();
        assert_eq!(
            pubsub.metadata("consumerID", &instance("sync")).as_deref(),
            Some("sync-sync-0")
        );
        let twice = instance("x").resolve("{uuid}/{uuid}");
        let (a, b) = twice.split_once('/').unwrap();
        assert_ne!(a, b, "each {{uuid}} is fresh");
        assert_eq!(instance("x").resolve("{appID}-group"), "x-group");
    }

    #[test]
    fn bad_resources_are_errors_that_name_the_file() {
        let cases = [
            (
                "unknown type",
                "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: k}\nspec: {type: state.redis, version: v1}\n",
            ),
            ("not yaml", "kind: [unclosed\n"),
            (
                "unknown kind",
                "apiVersion: dapr.io/v1alpha1\nkind: HTTPEndpoint\nmetadata: {name: h}\n",
            ),
            (
                "secret ref",
                "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: k}\nspec:\n  type: state.sqlite\n  metadata:\n    - name: x\n      secretKeyRef: {name: a, key: b}\n",
            ),
            (
                "no apiVersion (daprd would skip it silently)",
                "kind: Component\nmetadata: {name: k}\nspec: {type: state.sqlite, version: v1}\n",
            ),
        ];
        for (case, text) in cases {
            let error = Resources::default()
                .add_documents(Path::new("dir/bad.yaml"), text)
                .unwrap_err();
            assert!(
                error.to_string().contains("dir/bad.yaml"),
                "case {case}: {error}"
            );
        }
    }

    #[test]
    fn duplicate_component_names_are_refused() {
        let mut resources = Resources::default();
        resources.add_documents(Path::new("a.yaml"), STATE).unwrap();
        let error = resources
            .add_documents(Path::new("b.yaml"), STATE)
            .unwrap_err();
        assert!(
            matches!(error, ResourceError::DuplicateName { .. }),
            "{error}"
        );
    }
}
