//! State: reads with etags, writes with first-write or last-write concurrency, and transactions,
//! including the outbox projection that publishes an event atomically with a write.

use std::collections::HashMap;

use todo_proto::dapr::proto::{
    common::v1::{self as common, state_options::StateConcurrency},
    runtime::v1 as dapr,
};

use super::DaprClient;
use crate::DaprError;

/// An opaque state version. Dapr changes it on every write.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Etag(String);

impl Etag {
    /// Wraps an etag the sidecar returned.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The etag as the sidecar sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_wire(value: String) -> Option<Self> {
        (!value.is_empty()).then_some(Self(value))
    }
}

/// A stored value and its etag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateEntry {
    /// The value's bytes.
    pub value: Vec<u8>,
    /// The current version, for a later conditional write.
    pub etag: Option<Etag>,
}

/// One key of a bulk read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkStateEntry {
    /// The key, as requested.
    pub key: String,
    /// The value, or `None` when the key does not exist.
    pub value: Option<Vec<u8>>,
    /// The current version, when the key exists.
    pub etag: Option<Etag>,
}

/// How a write treats a concurrent writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concurrency {
    /// The write fails if the key changed since its etag was read (or, without an etag, if the
    /// key exists).
    FirstWrite,
    /// The write wins regardless.
    LastWrite,
}

impl Concurrency {
    fn to_wire(self) -> StateConcurrency {
        match self {
            Self::FirstWrite => StateConcurrency::ConcurrencyFirstWrite,
            Self::LastWrite => StateConcurrency::ConcurrencyLastWrite,
        }
    }
}

/// Metadata that makes Dapr's outbox publish an upsert's value instead of storing it.
const OUTBOX_PROJECTION: &str = "outbox.projection";
/// Metadata that tells the store (and the outbox) the value's content type.
const CONTENT_TYPE: &str = "contentType";

/// One operation of a state transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct StateOperation {
    operation_type: &'static str,
    item: common::StateItem,
}

impl StateOperation {
    /// Writes `value` at `key`.
    pub fn upsert(key: impl Into<String>, value: Vec<u8>) -> Self {
        Self {
            operation_type: "upsert",
            item: common::StateItem {
                key: key.into(),
                value,
                ..Default::default()
            },
        }
    }

    /// Deletes `key`.
    pub fn delete(key: impl Into<String>) -> Self {
        Self {
            operation_type: "delete",
            item: common::StateItem {
                key: key.into(),
                ..Default::default()
            },
        }
    }

    /// The outbox projection of the upsert of `key`: Dapr publishes `json` to the outbox topic
    /// instead of storing it (reference §5.4), in the same transaction as the real upsert.
    pub fn outbox_projection(key: impl Into<String>, json: Vec<u8>) -> Self {
        Self::upsert(key, json)
            .with_metadata(OUTBOX_PROJECTION, "true")
            .with_metadata(CONTENT_TYPE, "application/json")
    }

    /// Makes the operation conditional on `etag` being current (first-write-wins).
    pub fn with_etag(mut self, etag: Option<&Etag>) -> Self {
        self.item.etag = etag.map(|e| common::Etag { value: e.0.clone() });
        self.with_concurrency(Concurrency::FirstWrite)
    }

    /// Sets the concurrency mode.
    pub fn with_concurrency(mut self, concurrency: Concurrency) -> Self {
        let options = self.item.options.get_or_insert_with(Default::default);
        options.concurrency = concurrency.to_wire() as i32;
        self
    }

    /// Adds operation metadata (e.g. `ttlInSeconds`); outbox projections copy it into the
    /// CloudEvent.
    pub fn with_metadata(mut self, key: &str, value: &str) -> Self {
        self.item
            .metadata
            .insert(key.to_string(), value.to_string());
        self
    }

    fn into_wire(self) -> dapr::TransactionalStateOperation {
        dapr::TransactionalStateOperation {
            operation_type: self.operation_type.to_string(),
            request: Some(self.item),
        }
    }
}

impl DaprClient {
    /// Reads `key`; `None` when it does not exist.
    ///
    /// # Errors
    /// The sidecar's status, e.g. `InvalidArgument` for a key containing `||`.
    #[tracing::instrument(skip_all, fields(store, key))]
    pub async fn get_state(&self, store: &str, key: &str) -> Result<Option<StateEntry>, DaprError> {
        let response = self
            .generated()
            .get_state(dapr::GetStateRequest {
                store_name: store.to_string(),
                key: key.to_string(),
                ..Default::default()
            })
            .await
            .map_err(|status| DaprError::call("GetState", status))?
            .into_inner();
        // Dapr reports a missing key as an empty value with an empty etag, not as an error.
        if response.data.is_empty() && response.etag.is_empty() {
            return Ok(None);
        }
        Ok(Some(StateEntry {
            value: response.data,
            etag: Etag::from_wire(response.etag),
        }))
    }

    /// Reads many keys at once, in the order given.
    ///
    /// # Errors
    /// The sidecar's status, or [`DaprError::BulkItem`] when one key failed.
    #[tracing::instrument(skip_all, fields(store, keys = keys.len()))]
    pub async fn get_bulk_state(
        &self,
        store: &str,
        keys: &[String],
    ) -> Result<Vec<BulkStateEntry>, DaprError> {
        let response = self
            .generated()
            .get_bulk_state(dapr::GetBulkStateRequest {
                store_name: store.to_string(),
                keys: keys.to_vec(),
                parallelism: 0,
                metadata: HashMap::new(),
            })
            .await
            .map_err(|status| DaprError::call("GetBulkState", status))?
            .into_inner();
        let mut by_key: HashMap<String, dapr::BulkStateItem> = response
            .items
            .into_iter()
            .map(|item| (item.key.clone(), item))
            .collect();
        keys.iter()
            .map(|key| {
                let item = by_key.remove(key).unwrap_or_default();
                if !item.error.is_empty() {
                    return Err(DaprError::BulkItem {
                        key: key.clone(),
                        message: item.error,
                    });
                }
                let exists = !(item.data.is_empty() && item.etag.is_empty());
                Ok(BulkStateEntry {
                    key: key.clone(),
                    value: exists.then_some(item.data),
                    etag: Etag::from_wire(item.etag),
                })
            })
            .collect()
    }

    /// Writes `value` at `key`; with `etag`, only if the key is still at that version.
    ///
    /// # Errors
    /// `Aborted` ([`DaprError::is_etag_conflict`]) when the etag is stale.
    #[tracing::instrument(skip_all, fields(store, key))]
    pub async fn save_state(
        &self,
        store: &str,
        key: &str,
        value: Vec<u8>,
        etag: Option<&Etag>,
    ) -> Result<(), DaprError> {
        let mut operation = StateOperation::upsert(key, value);
        if etag.is_some() {
            operation = operation.with_etag(etag);
        }
        self.generated()
            .save_state(dapr::SaveStateRequest {
                store_name: store.to_string(),
                states: vec![operation.item],
            })
            .await
            .map(|_| ())
            .map_err(|status| DaprError::call("SaveState", status))
    }

    /// Deletes `key`; with `etag`, only if the key is still at that version.
    ///
    /// # Errors
    /// `Aborted` when the etag is stale.
    #[tracing::instrument(skip_all, fields(store, key))]
    pub async fn delete_state(
        &self,
        store: &str,
        key: &str,
        etag: Option<&Etag>,
    ) -> Result<(), DaprError> {
        let options = etag.map(|_| common::StateOptions {
            concurrency: StateConcurrency::ConcurrencyFirstWrite as i32,
            ..Default::default()
        });
        self.generated()
            .delete_state(dapr::DeleteStateRequest {
                store_name: store.to_string(),
                key: key.to_string(),
                etag: etag.map(|e| common::Etag { value: e.0.clone() }),
                options,
                metadata: HashMap::new(),
            })
            .await
            .map(|_| ())
            .map_err(|status| DaprError::call("DeleteState", status))
    }

    /// Runs `operations` all-or-nothing.
    ///
    /// # Errors
    /// `Internal` for any failure inside the transaction, an etag conflict included
    /// ([`DaprError::is_etag_conflict`] tells them apart).
    #[tracing::instrument(skip_all, fields(store, operations = operations.len()))]
    pub async fn transact(
        &self,
        store: &str,
        operations: Vec<StateOperation>,
    ) -> Result<(), DaprError> {
        self.generated()
            .execute_state_transaction(dapr::ExecuteStateTransactionRequest {
                store_name: store.to_string(),
                operations: operations
                    .into_iter()
                    .map(StateOperation::into_wire)
                    .collect(),
                metadata: HashMap::new(),
            })
            .await
            .map(|_| ())
            .map_err(|status| DaprError::call("ExecuteStateTransaction", status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outbox_projection_is_a_json_upsert_marked_for_projection() {
        let operation = StateOperation::outbox_projection("k", b"{}".to_vec()).into_wire();
        assert_eq!(operation.operation_type, "upsert");
        let item = operation.request.unwrap();
        assert_eq!(
            item.metadata.get("outbox.projection").map(String::as_str),
            Some("true")
        );
        assert_eq!(
            item.metadata.get("contentType").map(String::as_str),
            Some("application/json")
        );
    }

    #[test]
    fn an_etag_makes_the_write_first_write_wins() {
        let etag = Etag::new("7");
        let item = StateOperation::upsert("k", vec![1])
            .with_etag(Some(&etag))
            .item;
        assert_eq!(item.etag.unwrap().value, "7");
        assert_eq!(
            item.options.unwrap().concurrency,
            StateConcurrency::ConcurrencyFirstWrite as i32
        );
    }
}
