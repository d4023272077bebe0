//! State (reference §5): `state.sqlite` stores with app-prefixed keys, opaque etags that change
//! on every write, first-write and last-write concurrency, TTLs, all-or-nothing transactions,
//! and the transactional outbox (§5.4), whose messages commit in the same SQLite transaction as
//! the state — so they are truly atomic here.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use todo_proto::dapr::proto::{
    common::v1::{self as common, state_options::StateConcurrency},
    runtime::v1 as dapr,
};
use tonic::Status;

use crate::{
    app::AppInstanceHandle,
    components::ComponentKind,
    db::{DbError, now_millis},
    pubsub::PubSub,
    runtime::Runtime,
    sidecar::TraceHeaders,
};

mod error;
pub mod metrics;
mod outbox;
mod store;

use self::{
    error::StateError,
    outbox::{is_projection, outbox_messages},
    store::Store,
};

/// The state table: one row per key of each store, values kept as the bytes written.
///
/// A rowid table with its key in a separate index, and the value last: a lookup then compares
/// small index entries and reads the small columns without walking the value's overflow pages.
/// In a `WITHOUT ROWID` table every key comparison on a row that overflows its page reads the
/// whole row (SQLite's `sqlite3BtreeIndexMoveto`): a 10,000-task user's 16 buckets of about
/// 100 KiB each cost several whole buckets per key looked up (issue 12, `perf` of
/// `bench user-size`).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS state (
    store      TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    etag       TEXT    NOT NULL,
    expires_at INTEGER,
    updated_at INTEGER NOT NULL,
    value      BLOB    NOT NULL,
    UNIQUE (store, key)
);
CREATE INDEX IF NOT EXISTS state_expiry ON state (expires_at) WHERE expires_at IS NOT NULL;
";

/// The state table, for [`Db::open`](crate::db::Db::open).
pub(crate) const MIGRATION: crate::db::Migration = crate::db::Migration {
    module: "state",
    schema: SCHEMA,
    upgrade: Some(migrate),
};

/// Moves the rows of a `WITHOUT ROWID` state table (localdapr before issue 12) into a
/// [`SCHEMA`] table, in one transaction; a no-op on a database that has one already.
fn migrate(connection: &mut Connection, _now: i64) -> rusqlite::Result<()> {
    let is_without_rowid = connection
        .prepare("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'state'")?
        .query_row([], |row| row.get::<_, String>(0))
        .optional()?
        .is_some_and(|sql| sql.to_ascii_uppercase().contains("WITHOUT ROWID"));
    if !is_without_rowid {
        return Ok(());
    }
    tracing::info!("moving the state table to its rowid form (once)");
    let transaction = crate::db::atomic(connection)?;
    // The expiry index would move along with a renamed table, keeping its name from SCHEMA.
    transaction.execute_batch(
        "DROP INDEX IF EXISTS state_expiry;
         ALTER TABLE state RENAME TO state_without_rowid;",
    )?;
    transaction.execute_batch(SCHEMA)?;
    transaction.execute_batch(
        "INSERT INTO state (store, key, etag, expires_at, updated_at, value)
             SELECT store, key, etag, expires_at, updated_at, value FROM state_without_rowid;
         DROP TABLE state_without_rowid;",
    )?;
    transaction.commit()
}

/// Item metadata with the time to live.
const TTL_IN_SECONDS: &str = "ttlInSeconds";

/// One stored row.
struct Row {
    value: Vec<u8>,
    etag: String,
    expires_at: Option<i64>,
}

fn read_row(
    connection: &Connection,
    store: &str,
    key: &str,
    now: i64,
) -> rusqlite::Result<Option<Row>> {
    let mut statement = connection.prepare_cached(
        "SELECT value, etag, expires_at FROM state
         WHERE store = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
    )?;
    statement
        .query_row(params![store, key, now], |row| {
            Ok(Row {
                value: row.get(0)?,
                etag: row.get(1)?,
                expires_at: row.get(2)?,
            })
        })
        .optional()
}

/// The etag of `key` if it holds a live value; reads no value bytes.
fn read_etag(
    connection: &Connection,
    store: &str,
    key: &str,
    now: i64,
) -> rusqlite::Result<Option<String>> {
    connection
        .prepare_cached(
            "SELECT etag FROM state
             WHERE store = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
        )?
        .query_row(params![store, key, now], |row| row.get(0))
        .optional()
}

fn ttl_expiry(metadata: &HashMap<String, String>, now: i64) -> Result<Option<i64>, StateError> {
    let Some(value) = metadata
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(TTL_IN_SECONDS))
        .map(|(_, v)| v)
    else {
        return Ok(None);
    };
    match value.trim().parse::<i64>() {
        Ok(-1) => Ok(None),
        Ok(seconds) if seconds >= 0 => Ok(Some(now.saturating_add(seconds.saturating_mul(1000)))),
        _ => Err(StateError::InvalidTtl(value.clone())),
    }
}

fn check_etag(
    key: &str,
    current: Option<&str>,
    etag: Option<&common::Etag>,
) -> Result<(), StateError> {
    let Some(etag) = etag.map(|e| e.value.as_str()).filter(|e| !e.is_empty()) else {
        return Ok(());
    };
    if uuid::Uuid::parse_str(etag).is_err() {
        return Err(StateError::EtagInvalid {
            key: key.to_string(),
            etag: etag.to_string(),
        });
    }
    match current {
        Some(current) if current == etag => Ok(()),
        _ => Err(StateError::EtagMismatch(key.to_string())),
    }
}

fn is_first_write(options: Option<&common::StateOptions>) -> bool {
    options.is_some_and(|o| o.concurrency == StateConcurrency::ConcurrencyFirstWrite as i32)
}

/// Writes one item inside `tx`; returns nothing, the new etag is random.
fn upsert(
    tx: &Connection,
    store: &str,
    key: &str,
    item: &common::StateItem,
    now: i64,
) -> Result<(), StateError> {
    let current = read_etag(tx, store, key, now)?;
    check_etag(key, current.as_deref(), item.etag.as_ref())?;
    let has_etag = item.etag.as_ref().is_some_and(|e| !e.value.is_empty());
    if !has_etag && is_first_write(item.options.as_ref()) && current.is_some() {
        // state.sqlite inserts without overwriting and reports a taken key as an etag
        // mismatch (postgresql v1 differs: "no item was updated", reference §5.2).
        return Err(StateError::EtagMismatch(key.to_string()));
    }
    let expires_at = ttl_expiry(&item.metadata, now)?;
    tx.prepare_cached(
        "INSERT INTO state (store, key, value, etag, expires_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (store, key) DO UPDATE SET value = ?3, etag = ?4, expires_at = ?5, updated_at = ?6",
    )?
    .execute(params![store, key, item.value, uuid::Uuid::new_v4().to_string(), expires_at, now])?;
    Ok(())
}

fn delete(
    tx: &Connection,
    store: &str,
    key: &str,
    etag: Option<&common::Etag>,
    now: i64,
) -> Result<(), StateError> {
    let current = read_etag(tx, store, key, now)?;
    check_etag(key, current.as_deref(), etag)?;
    tx.prepare_cached("DELETE FROM state WHERE store = ?1 AND key = ?2")?
        .execute(params![store, key])?;
    Ok(())
}

/// `GetState`: a missing or expired key is an empty response, not an error.
pub(crate) async fn get_state(
    runtime: &Arc<Runtime>,
    app_id: &str,
    request: dapr::GetStateRequest,
) -> Result<dapr::GetStateResponse, Status> {
    let store = Store::resolve(runtime, app_id, &request.store_name)
        .map_err(|e| e.into_status("getting", &request.store_name))?;
    let key = store
        .key(&request.key)
        .map_err(|e| e.into_status("getting", &request.store_name))?;
    let name = store.name();
    let row = runtime
        .db
        .read(move |c| Ok::<_, StateError>(read_row(c, &name, &key, now_millis())?))
        .await
        .map_err(|e| e.into_status("getting", &request.store_name))?;
    Ok(match row {
        Some(row) => dapr::GetStateResponse {
            metadata: ttl_metadata(row.expires_at),
            data: row.value,
            etag: row.etag,
        },
        None => dapr::GetStateResponse::default(),
    })
}

fn ttl_metadata(expires_at: Option<i64>) -> HashMap<String, String> {
    expires_at
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .map(|t| {
            [(
                "ttlExpireTime".to_string(),
                t.to_rfc3339_opts(SecondsFormat::Secs, true),
            )]
            .into()
        })
        .unwrap_or_default()
}

/// `GetBulkState`: one item per key, in the order asked, keys as the app wrote them.
pub(crate) async fn get_bulk_state(
    runtime: &Arc<Runtime>,
    app_id: &str,
    request: dapr::GetBulkStateRequest,
) -> Result<dapr::GetBulkStateResponse, Status> {
    let status = |e: StateError| e.into_status("getting", &request.store_name);
    let store = Store::resolve(runtime, app_id, &request.store_name).map_err(status)?;
    let keys: Vec<(String, String)> = request
        .keys
        .iter()
        .map(|k| store.key(k).map(|full| (k.clone(), full)))
        .collect::<Result<_, _>>()
        .map_err(status)?;
    let name = store.name();
    let items = runtime
        .db
        .read(move |c| {
            let now = now_millis();
            keys.into_iter()
                .map(|(key, full)| {
                    Ok(match read_row(c, &name, &full, now)? {
                        Some(row) => dapr::BulkStateItem {
                            key,
                            metadata: ttl_metadata(row.expires_at),
                            data: row.value,
                            etag: row.etag,
                            error: String::new(),
                        },
                        None => dapr::BulkStateItem {
                            key,
                            ..Default::default()
                        },
                    })
                })
                .collect::<Result<Vec<_>, StateError>>()
        })
        .await
        .map_err(status)?;
    Ok(dapr::GetBulkStateResponse { items })
}

/// `SaveState`: each item is written on its own, in order; the first failure stops the rest.
pub(crate) async fn save_state(
    runtime: &Arc<Runtime>,
    app_id: &str,
    request: dapr::SaveStateRequest,
) -> Result<(), Status> {
    let status = |e: StateError| e.into_status("saving", &request.store_name);
    let store = Store::resolve(runtime, app_id, &request.store_name).map_err(status)?;
    let items: Vec<(String, common::StateItem)> = request
        .states
        .into_iter()
        .map(|item| store.key(&item.key).map(|full| (full, item)))
        .collect::<Result<_, _>>()
        .map_err(status)?;
    let name = store.name();
    runtime
        .db
        .write(move |c| {
            for (key, item) in items {
                let tx = crate::db::atomic(c)?;
                upsert(&tx, &name, &key, &item, now_millis())?;
                tx.commit()?;
            }
            Ok::<_, StateError>(())
        })
        .await
        .map_err(status)
}

/// `DeleteState`.
pub(crate) async fn delete_state(
    runtime: &Arc<Runtime>,
    app_id: &str,
    request: dapr::DeleteStateRequest,
) -> Result<(), Status> {
    let status = |e: StateError| e.into_status("deleting", &request.store_name);
    let store = Store::resolve(runtime, app_id, &request.store_name).map_err(status)?;
    let key = store.key(&request.key).map_err(status)?;
    let name = store.name();
    let etag = request.etag.clone();
    runtime
        .db
        .write(move |c| {
            let tx = crate::db::atomic(c)?;
            delete(&tx, &name, &key, etag.as_ref(), now_millis())?;
            tx.commit()?;
            Ok::<_, StateError>(())
        })
        .await
        .map_err(status)
}

/// `DeleteBulkState`.
pub(crate) async fn delete_bulk_state(
    runtime: &Arc<Runtime>,
    app_id: &str,
    request: dapr::DeleteBulkStateRequest,
) -> Result<(), Status> {
    let status = |e: StateError| e.into_status("deleting", &request.store_name);
    let store = Store::resolve(runtime, app_id, &request.store_name).map_err(status)?;
    let items: Vec<(String, Option<common::Etag>)> = request
        .states
        .into_iter()
        .map(|item| store.key(&item.key).map(|full| (full, item.etag)))
        .collect::<Result<_, _>>()
        .map_err(status)?;
    let name = store.name();
    runtime
        .db
        .write(move |c| {
            for (key, etag) in items {
                let tx = crate::db::atomic(c)?;
                delete(&tx, &name, &key, etag.as_ref(), now_millis())?;
                tx.commit()?;
            }
            Ok::<_, StateError>(())
        })
        .await
        .map_err(status)
}

/// `QueryStateAlpha1`: Dapr's `state.sqlite` has no query support (no `QUERY_API`
/// capability), so daprd answers a query on it `Internal` after finding the store (§5.2,
/// §5.3); localdapr does the same.
pub(crate) fn query_state(
    runtime: &Arc<Runtime>,
    app_id: &str,
    request: &dapr::QueryStateRequest,
) -> Result<dapr::QueryStateResponse, Status> {
    Store::resolve(runtime, app_id, &request.store_name).map_err(StateError::into_query_status)?;
    Err(StateError::QueryNotSupported.into_query_status())
}

/// One validated operation of a transaction.
pub(super) enum Operation {
    Upsert {
        key: String,
        item: common::StateItem,
    },
    Delete {
        key: String,
        etag: Option<common::Etag>,
    },
}

/// `ExecuteStateTransaction`: all operations or none; with an outbox, one message per upsert,
/// committed in the same SQLite transaction.
pub(crate) async fn execute_transaction(
    runtime: &Arc<Runtime>,
    app: &AppInstanceHandle,
    request: dapr::ExecuteStateTransactionRequest,
    trace: TraceHeaders,
) -> Result<(), Status> {
    let store = Store::resolve(runtime, app.app_id(), &request.store_name)
        .map_err(StateError::into_transaction_status)?;
    let outbox = store.outbox();
    let mut operations = Vec::with_capacity(request.operations.len());
    let mut projections: HashMap<String, common::StateItem> = HashMap::new();
    for operation in request.operations {
        let item = operation.request.unwrap_or_default();
        let key = store
            .key(&item.key)
            .map_err(StateError::into_transaction_status)?;
        match operation.operation_type.as_str() {
            "upsert" if is_projection(&item) => {
                projections.insert(key, item);
            }
            "upsert" => operations.push(Operation::Upsert { key, item }),
            "delete" => operations.push(Operation::Delete {
                key,
                etag: item.etag,
            }),
            other => {
                return Err(
                    StateError::UnsupportedOperation(other.to_string()).into_transaction_status()
                );
            }
        }
    }
    let messages = match &outbox {
        Some(outbox) => {
            outbox_messages(outbox, app.app_id(), &operations, &mut projections, &trace)
                .map_err(StateError::into_transaction_status)?
        }
        None => Vec::new(),
    };
    if let (Some(outbox), false) = (&outbox, messages.is_empty()) {
        // daprd fails the transaction when it cannot publish to the outbox pubsub; appending
        // to a pubsub nobody can subscribe to would lose the events silently.
        let visible = runtime
            .resources
            .component_for(app.app_id(), &outbox.pubsub)
            .is_some_and(|c| c.kind == ComponentKind::PubsubInMemory);
        if !visible {
            tracing::warn!(
                app_id = app.app_id(),
                store = store.name(),
                pubsub = outbox.pubsub,
                "outbox pubsub not found; transaction refused"
            );
            return Err(StateError::OutboxPubsubNotFound {
                store: store.name(),
                pubsub: outbox.pubsub.clone(),
            }
            .into_transaction_status());
        }
    }
    // Appended to the topic log of the outbox pubsub, which may share another's topics.
    let messages: Vec<_> = messages
        .into_iter()
        .map(|mut message| {
            message.pubsub = runtime.resources.pubsub_log(&message.pubsub).to_string();
            message
        })
        .collect();
    let name = store.name();
    let owner = runtime.clone();
    // The commit and the wake-up of the outbox topic's workers run as a task of the runtime:
    // a client giving up on the call cannot leave committed events undelivered until the
    // workers' next poll.
    let commit = async move {
        let topics: Vec<(String, String)> = messages
            .iter()
            .map(|m| (m.pubsub.clone(), m.topic.clone()))
            .collect();
        owner
            .db
            .write(move |c| {
                let tx = crate::db::atomic(c)?;
                let now = now_millis();
                for operation in &operations {
                    match operation {
                        Operation::Upsert { key, item } => upsert(&tx, &name, key, item, now)?,
                        Operation::Delete { key, etag } => {
                            delete(&tx, &name, key, etag.as_ref(), now)?;
                        }
                    }
                }
                for message in &messages {
                    PubSub::append_in_transaction(&tx, message)?;
                }
                tx.commit()?;
                Ok::<_, StateError>(())
            })
            .await?;
        for (pubsub, topic) in topics {
            owner.pubsub.notify_published(&pubsub, &topic);
        }
        Ok::<_, StateError>(())
    };
    runtime
        .run_to_completion(commit)
        .await
        .map_err(|e| StateError::Db(DbError::Task(e)))
        .and_then(|committed| committed)
        .map_err(|e| {
            tracing::debug!(app_id = app.app_id(), error = %e, "state transaction failed");
            e.into_transaction_status()
        })
}

/// Deletes expired rows now and then; reads already hide them.
pub(crate) fn spawn_expiry_cleanup(runtime: &Arc<Runtime>) {
    let db = runtime.db.clone();
    let shutdown = runtime.shutdown.clone();
    runtime.tasks.spawn(async move {
        let mut interval = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = interval.tick() => {}
            }
            let deleted = db
                .write(|c| {
                    Ok::<_, DbError>(c.execute(
                        "DELETE FROM state WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                        params![now_millis()],
                    )?)
                })
                .await;
            if let Err(error) = deleted {
                tracing::warn!(%error, "cannot delete expired state");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state table of localdapr before issue 12.
    const WITHOUT_ROWID_SCHEMA: &str = "
        CREATE TABLE state (
            store      TEXT    NOT NULL,
            key        TEXT    NOT NULL,
            value      BLOB    NOT NULL,
            etag       TEXT    NOT NULL,
            expires_at INTEGER,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (store, key)
        ) WITHOUT ROWID;
        CREATE INDEX state_expiry ON state (expires_at) WHERE expires_at IS NOT NULL;";

    fn table_sql(connection: &Connection, name: &str) -> Option<String> {
        connection
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()
            .unwrap()
    }

    fn indexes(connection: &Connection) -> Vec<String> {
        connection
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'state'
                 ORDER BY name",
            )
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_without_rowid_state_table_moves_to_the_rowid_schema_with_its_rows() {
        let mut connection = Connection::open_in_memory().unwrap();
        connection.execute_batch(WITHOUT_ROWID_SCHEMA).unwrap();
        connection
            .execute_batch(
                "INSERT INTO state (store, key, value, etag, expires_at, updated_at)
                 VALUES ('s', 'a', x'0102', 'etag-a', NULL, 1), ('s', 'b', x'03', 'etag-b', 99, 2)",
            )
            .unwrap();

        // Twice: as every open does; the second is a no-op.
        for _ in 0..2 {
            connection.execute_batch(SCHEMA).unwrap();
            migrate(&mut connection, 0).unwrap();

            let sql = table_sql(&connection, "state").unwrap();
            assert!(!sql.contains("WITHOUT ROWID"), "{sql}");
            assert_eq!(table_sql(&connection, "state_without_rowid"), None);
            let indexes = indexes(&connection);
            assert!(indexes.contains(&"state_expiry".to_string()), "{indexes:?}");
            assert_eq!(
                indexes.len(),
                2,
                "the key's index and the expiry index: {indexes:?}"
            );

            let a = read_row(&connection, "s", "a", 50).unwrap().unwrap();
            assert_eq!(
                (a.value, a.etag, a.expires_at),
                (vec![1, 2], "etag-a".into(), None)
            );
            let b = read_row(&connection, "s", "b", 50).unwrap().unwrap();
            assert_eq!(
                (b.value, b.etag, b.expires_at),
                (vec![3], "etag-b".into(), Some(99))
            );
            assert!(
                read_row(&connection, "s", "b", 100).unwrap().is_none(),
                "expired"
            );
            assert_eq!(
                read_etag(&connection, "s", "a", 50).unwrap().as_deref(),
                Some("etag-a")
            );
            assert_eq!(read_etag(&connection, "s", "b", 100).unwrap(), None);
        }
    }

    #[test]
    fn a_new_database_is_left_as_created() {
        let mut connection = Connection::open_in_memory().unwrap();
        connection.execute_batch(SCHEMA).unwrap();
        let before = table_sql(&connection, "state");
        migrate(&mut connection, 0).unwrap();
        assert_eq!(table_sql(&connection, "state"), before);
        assert_eq!(indexes(&connection).len(), 2);
    }
}
