//! Secrets: a named secret is a map of keys to values (one Kubernetes Secret, or one entry of
//! the local file store).

use std::collections::HashMap;

use secrecy::SecretString;
use todo_proto::dapr::proto::runtime::v1 as dapr;

use super::DaprClient;
use crate::DaprError;

/// The values of one secret, never printed.
#[derive(Clone, Debug)]
pub struct Secret(HashMap<String, SecretString>);

impl Secret {
    /// The value of `key`, if the secret has it.
    pub fn get(&self, key: &str) -> Option<&SecretString> {
        self.0.get(key)
    }

    /// The keys the secret holds.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl DaprClient {
    /// Reads the secret `name` from `store`.
    ///
    /// # Errors
    /// The sidecar's status; a missing secret is an error from the store, not an empty map.
    #[tracing::instrument(skip_all, fields(store, name))]
    pub async fn get_secret(&self, store: &str, name: &str) -> Result<Secret, DaprError> {
        let response = self
            .generated()
            .get_secret(dapr::GetSecretRequest {
                store_name: store.to_string(),
                key: name.to_string(),
                metadata: HashMap::new(),
            })
            .await
            .map_err(|status| DaprError::call("GetSecret", status))?
            .into_inner();
        Ok(Secret(
            response
                .data
                .into_iter()
                .map(|(k, v)| (k, SecretString::from(v)))
                .collect(),
        ))
    }
}
