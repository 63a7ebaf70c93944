//! Stage `store`: where the runs are. `--database` (or
//! `QA_RELOAD_DATABASE_URL`) parsed into a [`Database`], and the default
//! SQLite file of a checkout.
//!
//! No I/O but creating the default file's folder; no connection here.

use std::path::{Path, PathBuf};

/// The folder of the default file in a folder that is not a git
/// repository (the watcher reads only `workflows/` and `config/`).
pub const LOCAL_DIR: &str = ".qa-reload";

/// The default file's name.
pub const FILE_NAME: &str = "runs.sqlite3";

/// A database the runs can live in.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// `sqlite:PATH`: an embedded SQLite file.
    Sqlite(PathBuf),
    /// `sqlite::memory:`: SQLite in memory, gone with the process.
    SqliteMemory,
    /// `postgres://…` or `postgresql://…`, as libpq reads it.
    Postgres(String),
}

// The URL may hold a password: debug output shows the backend only.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            Database::SqliteMemory => f.write_str("SqliteMemory"),
            Database::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("--database takes `sqlite:PATH` or `postgres://USER@HOST/DB`; `{0}` is neither")]
    Unknown(String),
    #[error("--database `sqlite:` needs a file path after the colon")]
    EmptyPath,
}

impl std::str::FromStr for Database {
    type Err = LocationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Database::Postgres(s.to_string()));
        }
        let Some(rest) = s.strip_prefix("sqlite:") else {
            // Never echo what might be a URL with a password.
            let shown = if s.contains('@') { "…" } else { s };
            return Err(LocationError::Unknown(shown.to_string()));
        };
        if rest == ":memory:" {
            return Ok(Database::SqliteMemory);
        }
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(LocationError::EmptyPath);
        }
        Ok(Database::Sqlite(PathBuf::from(path)))
    }
}

impl Database {
    /// The default store of the folder `root`: inside its git directory
    /// (`.git/qa-reload/runs.sqlite3`), or `.qa-reload/runs.sqlite3` when
    /// it is not a repository. Either way git never tracks it.
    /// `serve --follow`'s default: the file in its data folder.
    pub fn in_data_dir(dir: &Path) -> Database {
        Database::Sqlite(dir.join(FILE_NAME))
    }

    pub fn default_for(root: &Path, git_dir: Option<&Path>) -> Database {
        let dir = match git_dir {
            Some(git_dir) => git_dir.join("qa-reload"),
            None => root.join(LOCAL_DIR),
        };
        Database::Sqlite(dir.join(FILE_NAME))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn urls_name_a_backend_and_nothing_else_is_taken() {
        let table: [(&str, Result<Database, LocationError>); 7] = [
            ("sqlite:runs.db", Ok(Database::Sqlite("runs.db".into()))),
            (
                "sqlite:///tmp/r.db",
                Ok(Database::Sqlite("/tmp/r.db".into())),
            ),
            ("sqlite::memory:", Ok(Database::SqliteMemory)),
            (
                "postgres://qa@localhost/runs",
                Ok(Database::Postgres("postgres://qa@localhost/runs".into())),
            ),
            ("sqlite:", Err(LocationError::EmptyPath)),
            ("mysql://u:pw@h/db", Err(LocationError::Unknown("…".into()))),
            ("runs.db", Err(LocationError::Unknown("runs.db".into()))),
        ];
        for (text, expect) in table {
            assert_eq!(text.parse::<Database>(), expect, "{text}");
        }
    }

    #[test]
    fn a_postgres_url_never_shows_in_debug_output() {
        let db: Database = "postgres://qa:hunter2@db/runs".parse().unwrap();
        assert_eq!(format!("{db:?}"), "Postgres(..)");
    }

    #[test]
    fn the_default_file_is_in_the_git_dir_or_a_dot_folder() {
        assert_eq!(
            Database::default_for(Path::new("/r"), Some(Path::new("/r/.git"))),
            Database::Sqlite("/r/.git/qa-reload/runs.sqlite3".into())
        );
        assert_eq!(
            Database::default_for(Path::new("/r"), None),
            Database::Sqlite("/r/.qa-reload/runs.sqlite3".into())
        );
    }
}
