//! Stage `store`: the versioned schema. The numbered SQL files of
//! `migrations/sqlite/` and `migrations/postgres/` are compiled in and
//! applied in order at start, each in the transaction that records it in
//! `qa_reload_migrations`.
//!
//! A database that has a version this binary does not know was written by
//! a newer qa-reload: it is refused, never rewritten. No I/O here: the
//! backends run the plan.

use super::StoreError;

/// One schema step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The table every backend records applied versions in.
pub const TABLE: &str = "CREATE TABLE IF NOT EXISTS qa_reload_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "runs",
        sql: include_str!("../../migrations/sqlite/0001_runs.sql"),
    },
    Migration {
        version: 2,
        name: "integration_status",
        sql: include_str!("../../migrations/sqlite/0002_integration_status.sql"),
    },
];

pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "runs",
        sql: include_str!("../../migrations/postgres/0001_runs.sql"),
    },
    Migration {
        version: 2,
        name: "integration_status",
        sql: include_str!("../../migrations/postgres/0002_integration_status.sql"),
    },
];

/// The migrations of `known` still to apply over the `applied` versions,
/// in order; `Refused` when the database has a version `known` lacks.
/// `place` names the database in the message.
pub fn plan<'a>(
    known: &'a [Migration],
    applied: &[i64],
    place: &str,
) -> Result<Vec<&'a Migration>, StoreError> {
    let newest_known = known.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(unknown) = applied
        .iter()
        .filter(|v| !known.iter().any(|m| m.version == **v))
        .max()
    {
        return Err(StoreError::Refused(format!(
            "{place}: the run store has schema version {unknown}, newer than this \
             qa-reload knows (up to {newest_known}); upgrade qa-reload, or pass \
             --database to use another store (it is left as it is)"
        )));
    }
    Ok(known
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn versions_apply_in_order_once_and_a_newer_database_is_refused() {
        let known = [
            Migration {
                version: 1,
                name: "a",
                sql: "",
            },
            Migration {
                version: 2,
                name: "b",
                sql: "",
            },
        ];
        let versions = |applied: &[i64]| {
            plan(&known, applied, "x.db").map(|p| p.iter().map(|m| m.version).collect::<Vec<_>>())
        };
        assert_eq!(versions(&[]).unwrap(), vec![1, 2]);
        assert_eq!(versions(&[1]).unwrap(), vec![2]);
        assert_eq!(versions(&[1, 2]).unwrap(), Vec::<i64>::new());
        let refused = versions(&[1, 2, 3]).unwrap_err().to_string();
        assert!(
            refused.starts_with("x.db: the run store has schema version 3"),
            "{refused}"
        );
        assert!(refused.contains("up to 2"), "{refused}");
    }

    #[test]
    fn both_backends_know_the_same_versions() {
        let v = |m: &[Migration]| m.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        assert_eq!(v(SQLITE), v(POSTGRES));
    }
}
