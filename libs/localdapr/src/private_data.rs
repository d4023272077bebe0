//! The data directory is private to its owner: it holds every app's state, events and jobs.
//! It is created `0700`, and the database files (`localdapr.db`, its `-wal`, `-shm` and
//! `-journal`, and the lock file) `0600`, whatever the umask: the database is created before
//! SQLite opens it, and SQLite gives its companion files the database file's mode.
//!
//! An existing directory that others may enter (one an older localdapr created, or a fresh
//! `mktemp -d`) is tightened to `0700`, with a warning, and existing database files are set to
//! `0600`. A directory that is shared (sticky, like `/tmp`) or belongs to another user is
//! refused instead: changing it could break other programs or users.

use std::{
    fs::{DirBuilder, OpenOptions, Permissions},
    io::ErrorKind,
    os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt},
    path::Path,
};

use nix::unistd::geteuid;

use crate::db::DbError;

/// The mode of the data directory: its owner only.
pub const DIR_MODE: u32 = 0o700;
/// The mode of every database file: its owner only.
pub const FILE_MODE: u32 = 0o600;
/// The SQLite database, under the data directory.
pub const DATABASE_FILE: &str = "localdapr.db";
/// The file whose `flock` reserves the data directory for one process.
pub const LOCK_FILE: &str = "localdapr.lock";
/// The bit that makes a directory shared: anyone may add files, only owners remove them.
const STICKY_BIT: u32 = 0o1000;
/// The files SQLite keeps beside the database, named by suffix.
const DATABASE_COMPANIONS: &[&str] = &["-wal", "-shm", "-journal"];

/// Creates `data_dir` with mode `0700`, or makes an existing one `0700`.
///
/// # Errors
/// [`DbError::NotPrivate`] for an existing directory that others may enter and that is shared
/// or someone else's; [`DbError::DataDir`] when it cannot be created or changed.
pub(crate) fn ensure_dir(data_dir: &Path) -> Result<(), DbError> {
    let dir_error = |source| DbError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    };
    // The mode applies to each directory created here, and a umask can only narrow it.
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(data_dir)
        .map_err(dir_error)?;
    let metadata = std::fs::metadata(data_dir).map_err(dir_error)?;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    let refused = |reason| DbError::NotPrivate {
        path: data_dir.to_path_buf(),
        mode,
        reason,
    };
    if mode & STICKY_BIT != 0 {
        return Err(refused("is a shared directory (sticky bit)"));
    }
    if metadata.uid() != geteuid().as_raw() {
        return Err(refused("belongs to another user"));
    }
    std::fs::set_permissions(data_dir, Permissions::from_mode(DIR_MODE)).map_err(dir_error)?;
    tracing::warn!(
        data_dir = %data_dir.display(),
        was = format!("{mode:o}"),
        "the data directory was open to other users; it is now 700"
    );
    Ok(())
}

/// Creates the database file `0600` if it is missing (so SQLite's `-wal` and `-shm` follow its
/// mode) and sets every existing database file to `0600`.
///
/// # Errors
/// [`DbError::Permissions`] when a file cannot be created or changed.
pub(crate) fn ensure_files(data_dir: &Path) -> Result<(), DbError> {
    let database = data_dir.join(DATABASE_FILE);
    let permissions_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DbError::Permissions { path, source }
    };
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(FILE_MODE)
        .open(&database)
        .map_err(permissions_error(&database))?;
    let mut files = vec![database.clone(), data_dir.join(LOCK_FILE)];
    files.extend(DATABASE_COMPANIONS.iter().map(|suffix| {
        let mut name = database.clone().into_os_string();
        name.push(suffix);
        name.into()
    }));
    for file in files {
        match std::fs::set_permissions(&file, Permissions::from_mode(FILE_MODE)) {
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            other => other.map_err(permissions_error(&file))?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// The data directory and every database file SQLite keeps open, with their modes.
    fn modes(data_dir: &Path) -> Vec<(String, u32)> {
        let mut modes = vec![(".".to_string(), mode(data_dir))];
        for name in [
            DATABASE_FILE,
            "localdapr.db-wal",
            "localdapr.db-shm",
            LOCK_FILE,
        ] {
            modes.push((name.to_string(), mode(&data_dir.join(name))));
        }
        modes
    }

    fn private_modes() -> Vec<(String, u32)> {
        [
            (".", DIR_MODE),
            (DATABASE_FILE, FILE_MODE),
            ("localdapr.db-wal", FILE_MODE),
            ("localdapr.db-shm", FILE_MODE),
            (LOCK_FILE, FILE_MODE),
        ]
        .map(|(name, mode)| (name.to_string(), mode))
        .into()
    }

    #[test]
    fn a_new_data_directory_and_its_database_files_are_private() {
        let root = tempfile::tempdir().unwrap();
        let data_dir = root.path().join("checkout/.localdapr");
        let db = Db::open(&data_dir, &[]).unwrap();
        assert_eq!(modes(&data_dir), private_modes());
        drop(db);
    }

    #[test]
    fn a_data_directory_an_older_localdapr_left_open_is_tightened() {
        let root = tempfile::tempdir().unwrap();
        let data_dir = root.path().join(".localdapr");
        let db = Db::open(&data_dir, &[]).unwrap();
        db.release_lock();
        std::fs::set_permissions(&data_dir, Permissions::from_mode(0o755)).unwrap();
        for (name, _) in private_modes().into_iter().skip(1) {
            std::fs::set_permissions(data_dir.join(name), Permissions::from_mode(0o666)).unwrap();
        }
        let reopened = Db::open(&data_dir, &[]).unwrap();
        assert_eq!(modes(&data_dir), private_modes());
        drop((db, reopened));
    }

    #[test]
    fn an_existing_directory_open_to_others_is_tightened() {
        let root = tempfile::tempdir().unwrap();
        let existing = root.path().join("existing");
        std::fs::create_dir(&existing).unwrap();
        std::fs::write(existing.join("secrets.json"), "{}").unwrap();
        std::fs::set_permissions(&existing, Permissions::from_mode(0o755)).unwrap();
        drop(Db::open(&existing, &[]).unwrap());
        assert_eq!(mode(&existing), DIR_MODE);
    }

    #[test]
    fn a_shared_directory_is_refused_untouched() {
        let root = tempfile::tempdir().unwrap();
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, Permissions::from_mode(0o1777)).unwrap();
        let error = Db::open(&shared, &[]).unwrap_err();
        assert!(
            matches!(&error, DbError::NotPrivate { path, mode: 0o1777, .. } if path == &shared),
            "{error:?}"
        );
        assert!(error.to_string().contains("sticky"), "{error}");
        let left = std::fs::metadata(&shared).unwrap().permissions().mode() & 0o7777;
        assert_eq!(left, 0o1777, "left as it was");
        assert!(
            !shared.join(DATABASE_FILE).exists(),
            "nothing created in it"
        );
    }
}
