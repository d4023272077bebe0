//! Secrets from `secretstores.local.file` components: a JSON file whose nested objects are
//! flattened with `nestedSeparator` (default `:`), as Dapr's local file store does. With
//! `multiValued: "true"`, each top-level key is one secret holding many keys — the shape of a
//! Kubernetes Secret (reference §7.3). The file is read on every call, so it may be created
//! after startup (`just up` writes it on first run).

use std::{collections::HashMap, path::Path, sync::Arc};

use serde_json::Value;
use todo_proto::dapr::proto::runtime::v1 as dapr;
use tonic::Status;

use crate::{
    components::{Component, ComponentKind},
    runtime::Runtime,
};

fn store<'a>(runtime: &'a Runtime, app_id: &str, name: &str) -> Result<&'a Component, Status> {
    if runtime
        .resources
        .components_of(app_id, ComponentKind::SecretLocalFile)
        .next()
        .is_none()
    {
        return Err(Status::failed_precondition(
            "secret store is not configured",
        ));
    }
    runtime
        .resources
        .component_for(app_id, name)
        .filter(|c| c.kind == ComponentKind::SecretLocalFile)
        .ok_or_else(|| {
            Status::invalid_argument(format!("failed finding secret store with key {name}"))
        })
}

/// Reads and flattens the store's file: secret name → its key/value pairs.
async fn read_store(
    component: &Component,
) -> Result<HashMap<String, HashMap<String, String>>, Status> {
    let file = component
        .raw_metadata("secretsFile")
        .filter(|f| !f.is_empty())
        .ok_or_else(|| {
            Status::internal(format!(
                "secret store {} has no secretsFile metadata",
                component.name
            ))
        })?;
    let separator = component
        .raw_metadata("nestedSeparator")
        .filter(|s| !s.is_empty())
        .unwrap_or(":");
    let text = tokio::fs::read_to_string(Path::new(file))
        .await
        .map_err(|error| {
            Status::internal(format!(
                "secret store {}: cannot read {file}: {error}",
                component.name
            ))
        })?;
    let json: Value = serde_json::from_str(&text).map_err(|error| {
        Status::internal(format!(
            "secret store {}: {file} is not valid JSON: {error}",
            component.name
        ))
    })?;
    let Value::Object(top) = json else {
        return Err(Status::internal(format!(
            "secret store {}: {file} is not a JSON object",
            component.name
        )));
    };
    let multi_valued = component.metadata_bool("multiValued", false);
    let mut secrets = HashMap::new();
    for (name, value) in top {
        if multi_valued {
            let mut values = HashMap::new();
            flatten(&mut values, None, &value, separator);
            secrets.insert(name, values);
        } else {
            let mut flat = HashMap::new();
            flatten(&mut flat, Some(name), &value, separator);
            for (key, value) in flat {
                secrets.insert(key.clone(), HashMap::from([(key, value)]));
            }
        }
    }
    Ok(secrets)
}

fn flatten(
    out: &mut HashMap<String, String>,
    prefix: Option<String>,
    value: &Value,
    separator: &str,
) {
    match value {
        Value::Object(map) => {
            for (key, nested) in map {
                let path = match &prefix {
                    Some(prefix) => format!("{prefix}{separator}{key}"),
                    None => key.clone(),
                };
                flatten(out, Some(path), nested, separator);
            }
        }
        Value::String(text) => {
            out.insert(prefix.unwrap_or_default(), text.clone());
        }
        other => {
            out.insert(prefix.unwrap_or_default(), other.to_string());
        }
    }
}

/// `GetSecret`: the secret's key/value pairs.
///
/// # Errors
/// `FailedPrecondition` without secret stores, `InvalidArgument` for an unknown store, and
/// `Internal` for a missing secret or an unreadable file, as daprd.
pub(crate) async fn get_secret(
    runtime: &Arc<Runtime>,
    app_id: &str,
    request: dapr::GetSecretRequest,
) -> Result<dapr::GetSecretResponse, Status> {
    let component = store(runtime, app_id, &request.store_name)?;
    let mut secrets = read_store(component).await?;
    let data = secrets.remove(&request.key).ok_or_else(|| {
        Status::internal(format!(
            "failed getting secret with key {} from secret store {}: secret {} not found",
            request.key, request.store_name, request.key
        ))
    })?;
    Ok(dapr::GetSecretResponse { data })
}

/// `GetBulkSecret`: every secret of the store.
///
/// # Errors
/// As [`get_secret`], except that there is no missing secret.
pub(crate) async fn get_bulk_secret(
    runtime: &Arc<Runtime>,
    app_id: &str,
    request: dapr::GetBulkSecretRequest,
) -> Result<dapr::GetBulkSecretResponse, Status> {
    let component = store(runtime, app_id, &request.store_name)?;
    let data = read_store(component)
        .await?
        .into_iter()
        .map(|(name, secrets)| (name, dapr::SecretResponse { secrets }))
        .collect();
    Ok(dapr::GetBulkSecretResponse { data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_values_are_flattened_with_the_separator() {
        let json: Value = serde_json::json!({"db": {"user": "u", "port": 5432}, "key": "k"});
        let mut flat = HashMap::new();
        flatten(&mut flat, None, &json, ":");
        assert_eq!(flat.get("db:user").map(String::as_str), Some("u"));
        assert_eq!(flat.get("db:port").map(String::as_str), Some("5432"));
        assert_eq!(flat.get("key").map(String::as_str), Some("k"));
    }
}
