//! The database's connection string, as the secret store holds it: a PostgreSQL URL
//! (`postgres://user:password@host:5432/db`, production) or a SQLite one
//! (`sqlite:///path/audit.db`, `just up`). It carries a password, so it never prints.

use std::{fmt, str::FromStr};

use sqlx::{postgres::PgConnectOptions, sqlite::SqliteConnectOptions};

/// Where `audit_logs` lives.
#[derive(Clone)]
pub enum DatabaseUrl {
    /// A PostgreSQL database.
    Postgres(PgConnectOptions),
    /// A SQLite file.
    Sqlite(SqliteConnectOptions),
}

/// Why a connection string is refused. Its text is never repeated: it may hold a password.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseUrlError {
    /// Neither `postgres://`, `postgresql://` nor `sqlite:`.
    #[error("expected a postgres://, postgresql:// or sqlite: URL")]
    UnknownScheme,
    /// The scheme is known but the rest does not parse.
    #[error("the {scheme} URL does not parse")]
    Malformed {
        /// The database kind.
        scheme: &'static str,
        /// sqlx's reason.
        #[source]
        source: sqlx::Error,
    },
    /// An in-memory SQLite database would be one per pooled connection, and lost on restart.
    #[error("an in-memory SQLite database cannot hold an audit log; name a file")]
    InMemory,
    /// Not UTF-8.
    #[error("the URL is not UTF-8")]
    NotUtf8,
}

impl DatabaseUrl {
    /// Parses the secret's bytes.
    ///
    /// # Errors
    /// [`DatabaseUrlError`]: an unknown scheme, a malformed URL, or an in-memory SQLite.
    pub fn parse(bytes: &[u8]) -> Result<Self, DatabaseUrlError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| DatabaseUrlError::NotUtf8)?
            .trim();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return PgConnectOptions::from_str(text)
                .map(Self::Postgres)
                .map_err(|source| DatabaseUrlError::Malformed {
                    scheme: "postgres",
                    source,
                });
        }
        if text.starts_with("sqlite:") {
            if text.contains(":memory:") || text.contains("mode=memory") {
                return Err(DatabaseUrlError::InMemory);
            }
            return SqliteConnectOptions::from_str(text)
                .map(Self::Sqlite)
                .map_err(|source| DatabaseUrlError::Malformed {
                    scheme: "sqlite",
                    source,
                });
        }
        Err(DatabaseUrlError::UnknownScheme)
    }

    /// The database kind, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "DatabaseUrl({}, <redacted>)", self.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_and_sqlite_urls_are_accepted_and_never_print() {
        let cases = [
            ("postgres://audit:s3cret@db:5432/audit", "postgres"),
            (
                "postgresql://audit:s3cret@db/audit?sslmode=require",
                "postgres",
            ),
            ("sqlite:///var/lib/audit.db", "sqlite"),
            ("sqlite:.localdapr/audit.db?mode=rwc", "sqlite"),
        ];
        for (url, kind) in cases {
            let parsed = DatabaseUrl::parse(url.as_bytes()).unwrap();
            assert_eq!(parsed.kind(), kind, "case: {url}");
            assert!(!format!("{parsed:?}").contains("s3cret"), "case: {url}");
        }
    }

    #[test]
    fn other_urls_are_refused_without_repeating_them() {
        let cases = [
            ("mysql://root:s3cret@db/audit", "unknown scheme"),
            ("sqlite::memory:", "in memory"),
            ("sqlite:file:x?mode=memory", "in memory"),
            ("", "empty"),
        ];
        for (url, case) in cases {
            let error = DatabaseUrl::parse(url.as_bytes()).unwrap_err();
            assert!(!error.to_string().contains("s3cret"), "case: {case}");
        }
        assert!(matches!(
            DatabaseUrl::parse(&[0xff, 0xfe]),
            Err(DatabaseUrlError::NotUtf8)
        ));
    }
}
