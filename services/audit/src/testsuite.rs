//! Test fixtures (feature `testsuite`): a fresh audit database per test (SQLite always,
//! PostgreSQL when `TODO_TEST_POSTGRES_URL` is set), the suite's secrets pointing at it, and
//! audit served behind a localdapr sidecar, for its own tests and its callers'. Fixtures panic
//! on setup failures: a broken test environment is a failed test.

#![allow(clippy::expect_used)] // fixtures: a panic fails the test

use std::{fmt, future::Future};

use dapr_kit::ServiceConfig;
use localdapr::{
    AppSpec,
    testsuite::{AppLaunch, SUITE_SECRET, ServedApp, TestDapr},
};
use sqlx::Connection;
use todo_proto::todo::v1::audit_service_server;

use crate::{
    Config,
    database_url::DatabaseUrl,
    server::{DATABASE_URL_KEY, PAGE_TOKEN_KEY, ServerError},
    store::AuditLog,
};

/// audit's app id, by which callers reach it through Dapr.
pub const APP_ID: &str = "audit";
/// A PostgreSQL URL (e.g. `postgres://postgres:pw@127.0.0.1:5499/postgres`) whose database the
/// tests may create schemas in. Unset: the PostgreSQL half of the store tests is skipped —
/// except under CI (`CI` set), where that is a failure.
pub const ENV_TEST_POSTGRES_URL: &str = "TODO_TEST_POSTGRES_URL";

/// A database of one test's own: a SQLite file in a temporary directory, or a fresh schema in
/// the PostgreSQL database of [`ENV_TEST_POSTGRES_URL`] (dropped when this is dropped).
pub struct TestDatabase {
    /// The connection string audit reads from the secret store.
    pub url: String,
    kind: &'static str,
    cleanup: Cleanup,
}

enum Cleanup {
    Directory(#[allow(dead_code)] tempfile::TempDir),
    Schema { admin_url: String, schema: String },
}

impl TestDatabase {
    /// A SQLite file of its own.
    pub fn sqlite() -> Self {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", directory.path().join("audit.db").display());
        Self {
            url,
            kind: "sqlite",
            cleanup: Cleanup::Directory(directory),
        }
    }

    /// A fresh schema in the database of [`ENV_TEST_POSTGRES_URL`], if it is set.
    ///
    /// # Panics
    /// When it is unset under CI (`CI` set), or the database cannot be reached.
    pub async fn postgres() -> Option<Self> {
        let Some(admin_url) = std::env::var(ENV_TEST_POSTGRES_URL)
            .ok()
            .filter(|url| !url.is_empty())
        else {
            let under_ci = std::env::var("CI").is_ok_and(|ci| !ci.is_empty());
            assert!(
                !under_ci,
                "{ENV_TEST_POSTGRES_URL} is unset under CI: the PostgreSQL audit tests would be \
                 skipped (scripts/with-test-postgres.sh runs a command beside a throwaway cluster)"
            );
            eprintln!("{ENV_TEST_POSTGRES_URL} is unset: skipping the PostgreSQL half");
            return None;
        };
        let schema = format!("audit_test_{:016x}", rand::random::<u64>());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("the PostgreSQL of TODO_TEST_POSTGRES_URL accepts connections");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .expect("a test schema is created");
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
        Some(Self {
            url,
            kind: "postgres",
            cleanup: Cleanup::Schema { admin_url, schema },
        })
    }

    /// A SQLite database, and a PostgreSQL one when [`ENV_TEST_POSTGRES_URL`] is set: the
    /// databases a store test runs on.
    ///
    /// # Panics
    /// As [`TestDatabase::postgres`].
    pub async fn each() -> Vec<Self> {
        let mut databases = vec![Self::sqlite()];
        databases.extend(Self::postgres().await);
        databases
    }

    /// `sqlite` or `postgres`, for failure messages.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Opens audit's store on this database (migrated), as the service does.
    ///
    /// # Panics
    /// When it cannot.
    pub async fn open(&self) -> AuditLog {
        let url = DatabaseUrl::parse(self.url.as_bytes()).expect("a valid test database URL");
        AuditLog::connect(&url, 4)
            .await
            .expect("the test database opens")
    }

    /// The suite's secret file content (`jwt-signing-key`, `page-token-key` random) with
    /// `audit-database-url` naming this database.
    pub fn suite_secrets(&self) -> serde_json::Value {
        serde_json::json!({
            SUITE_SECRET: {
                "jwt-signing-key": random_key(),
                PAGE_TOKEN_KEY: random_key(),
                DATABASE_URL_KEY: self.url,
            }
        })
    }

    /// localdapr with the suite's components, its secrets pointing at this database.
    pub async fn start_suite(&self) -> TestDapr {
        TestDapr::start_suite_with_secrets(self.suite_secrets()).await
    }
}

impl fmt::Debug for TestDatabase {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.kind)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::Schema { admin_url, schema } = &self.cleanup else {
            return;
        };
        let (admin_url, schema) = (admin_url.clone(), schema.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop test schema {}", self.kind);
        }
    }
}

/// Starts audit with its default configuration behind a sidecar of `dapr`, and waits until it
/// serves `AuditService` and its sidecar is connected. `dapr`'s secrets must name a database
/// ([`TestDatabase::start_suite`]).
pub async fn spawn(dapr: &TestDapr) -> ServedApp {
    spawn_with(dapr, AppSpec::new(APP_ID, None), &[]).await
}

/// As [`spawn`], for `spec` (tokens, instance name), with `overrides` of audit's environment.
///
/// # Panics
/// When the configuration is unusable, or audit fails or does not serve in time.
pub async fn spawn_with(dapr: &TestDapr, spec: AppSpec, overrides: &[(&str, &str)]) -> ServedApp {
    dapr.serve_app(spec, audit_service_server::SERVICE_NAME, |mut launch| {
        launch.set_env(overrides);
        run(launch)
    })
    .await
}

/// Runs audit's `server::run` on `launch`, configured from its environment: what [`spawn`]
/// runs, and what a test of a failing startup passes to `TestDapr::startup_error`.
///
/// # Panics
/// When the configuration is unusable.
pub fn run(launch: AppLaunch) -> impl Future<Output = Result<(), ServerError>> {
    let config = Config::from_lookup(launch.lookup())
        .unwrap_or_else(|error| panic!("audit's test configuration is unusable: {error}"));
    crate::server::run(config, launch.listeners, launch.shutdown)
}

fn random_key() -> String {
    rand::random::<[u8; 32]>()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
