//! Stage `store`: the embedded SQLite backend (rusqlite with SQLite
//! bundled: nothing to install).
//!
//! One connection behind a lock, held for one statement or transaction and
//! never across an `.await` (callers are on blocking threads). WAL journal,
//! `synchronous = FULL`: a commit is on disk before it returns, so a 2xx
//! survives a power cut, not only a crash of the process (ARCHITECTURE.md
//! says why). A file that is not SQLite, or SQLite that is not ours, is
//! refused before anything is written to it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::migrate::{self, Migration};
use super::{
    CompletedStep, Completion, CompletionCheck, Definition, DefinitionRef, Finish, NewRun, Page,
    PageArg, PageQuery, Run, RunStore, RunWithDefinition, StoreError, StoreInfo, from_micros,
    steps_of, steps_text, to_micros,
};

/// `PRAGMA application_id` of a qa-reload run store ("qaRS").
pub const APPLICATION_ID: i64 = 0x7161_5253;

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// `None` in memory.
    path: Option<PathBuf>,
}

impl SqliteStore {
    /// Opens (or creates) the file, checks it is a run store, migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let place = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!(
                    "{}: cannot create the folder of the run store: {e}",
                    dir.display()
                ))
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| {
            StoreError::Unavailable(format!("{place}: cannot open the run store: {e}"))
        })?;
        let store = SqliteStore {
            conn: Mutex::new(conn),
            path: Some(path.to_path_buf()),
        };
        store.prepare(&place)?;
        Ok(store)
    }

    /// A store in memory, gone with the process.
    pub fn memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory()
            .map_err(|e| StoreError::Refused(format!("SQLite in memory: {e}")))?;
        let store = SqliteStore {
            conn: Mutex::new(conn),
            path: None,
        };
        store.prepare(":memory:")?;
        Ok(store)
    }

    /// Refuses a foreign or corrupt file (reading only), then sets the
    /// journal and applies the migrations.
    fn prepare(&self, place: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.lock();
        let refuse = |e: rusqlite::Error| refused(place, &e);
        conn.busy_timeout(BUSY_TIMEOUT).map_err(refuse)?;
        // The first read of the header: a file that is not SQLite fails here.
        let app_id: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(refuse)?;
        let objects: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(refuse)?;
        if app_id != APPLICATION_ID && (app_id != 0 || objects > 0) {
            return Err(StoreError::Refused(format!(
                "{place}: this SQLite database is not a qa-reload run store (it was \
                 left as it is); move it away, or pass --database sqlite:OTHER_PATH"
            )));
        }
        if self.path.is_some() {
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(refuse)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Refused(format!(
                    "{place}: the run store cannot use a write-ahead log (journal mode `{mode}`)"
                )));
            }
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(refuse)?;
        migrate_sqlite(&mut conn, place)
    }
}

fn refused(place: &str, e: &rusqlite::Error) -> StoreError {
    // Where it cannot be written (permissions, a read-only or full disk), the
    // file is not refused: it is unavailable.
    if let Some(
        ErrorCode::CannotOpen
        | ErrorCode::ReadOnly
        | ErrorCode::PermissionDenied
        | ErrorCode::DiskFull
        | ErrorCode::SystemIoFailure,
    ) = e.sqlite_error_code()
    {
        return StoreError::Unavailable(format!("{place}: cannot write the run store: {e}"));
    }
    let what = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => "is not a SQLite database (or is corrupt)".to_string(),
        Some(ErrorCode::DatabaseCorrupt) => "is corrupt".to_string(),
        _ => format!("cannot be used as the run store: {e}"),
    };
    StoreError::Refused(format!(
        "{place}: {what}; it was left as it is: move it away, or pass --database sqlite:OTHER_PATH"
    ))
}

fn migrate_sqlite(conn: &mut Connection, place: &str) -> Result<(), StoreError> {
    let refuse = |e: rusqlite::Error| refused(place, &e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(refuse)?;
    tx.execute_batch(migrate::TABLE).map_err(refuse)?;
    let applied: Vec<i64> = {
        let mut stmt = tx
            .prepare("SELECT version FROM qa_reload_migrations")
            .map_err(refuse)?;
        stmt.query_map([], |r| r.get(0))
            .map_err(refuse)?
            .collect::<Result<_, _>>()
            .map_err(refuse)?
    };
    let todo: Vec<&Migration> = migrate::plan(migrate::SQLITE, &applied, place)?;
    for m in todo {
        tx.execute_batch(m.sql).map_err(refuse)?;
        tx.execute(
            "INSERT INTO qa_reload_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, to_micros(SystemTime::now())],
        )
        .map_err(refuse)?;
    }
    tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))
        .map_err(refuse)?;
    tx.commit().map_err(refuse)
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

const RUN_COLUMNS: &str = "id, workflow_id, definition_hash, file, file_hash, git_commit, \
                           instance, revision, steps, started_at, finished_at";
/// [`RUN_COLUMNS`] for a page: a summary shows no step list, and a page of
/// runs of a long workflow would otherwise read and parse every run's
/// (300 runs of 1,900 steps: half a million strings per page).
const SUMMARY_COLUMNS: &str = "id, workflow_id, definition_hash, file, file_hash, git_commit, \
                               instance, revision, '[]', started_at, finished_at";

fn run_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Run, String)> {
    let steps: String = r.get(8)?;
    Ok((
        Run {
            id: r.get(0)?,
            workflow_id: r.get(1)?,
            definition: DefinitionRef {
                hash: r.get(2)?,
                file: r.get(3)?,
                file_hash: r.get(4)?,
                commit: r.get(5)?,
                instance: r.get(6)?,
                revision: u64::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
            },
            steps: Vec::new(),
            started_at: from_micros(r.get(9)?),
            finished_at: r.get::<_, Option<i64>>(10)?.map(from_micros),
            completed: Vec::new(),
        },
        steps,
    ))
}

fn with_steps((mut run, steps): (Run, String)) -> Result<Run, StoreError> {
    run.steps = steps_of(&steps)?;
    Ok(run)
}

fn load_run(conn: &Connection, id: &str) -> Result<Option<Run>, StoreError> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM qa_reload_runs WHERE id = ?1"
        ))
        .and_then(|mut s| s.query_row([id], run_of).optional())
        .map_err(unavailable)?;
    let Some(found) = found else { return Ok(None) };
    let mut run = with_steps(found)?;
    run.completed = completions(conn, id)?;
    Ok(Some(run))
}

fn completions(conn: &Connection, id: &str) -> Result<Vec<CompletedStep>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT step, at FROM qa_reload_completions WHERE run_id = ?1 ORDER BY seq")
        .map_err(unavailable)?;
    let rows = stmt
        .query_map([id], |r| {
            Ok(CompletedStep {
                step: r.get(0)?,
                at: from_micros(r.get(1)?),
            })
        })
        .map_err(unavailable)?;
    rows.collect::<Result<_, _>>().map_err(unavailable)
}

impl RunStore for SqliteStore {
    fn info(&self) -> StoreInfo {
        StoreInfo {
            backend: "sqlite",
            location: self
                .path
                .as_ref()
                .map_or_else(|| ":memory:".to_string(), |p| p.display().to_string()),
        }
    }

    fn start(&self, new: &NewRun) -> Result<(), StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let run = &new.run;
        tx.prepare_cached(
            "INSERT INTO qa_reload_definitions (hash, workflow_id, body) VALUES (?1, ?2, ?3) \
             ON CONFLICT (hash) DO NOTHING",
        )
        .and_then(|mut s| {
            s.execute(params![
                new.definition.hash,
                run.workflow_id,
                &*new.definition.body
            ])
        })
        .map_err(unavailable)?;
        let d = &run.definition;
        tx.prepare_cached(&format!(
            "INSERT INTO qa_reload_runs ({RUN_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ))
        .and_then(|mut s| {
            s.execute(params![
                run.id,
                run.workflow_id,
                d.hash,
                d.file,
                d.file_hash,
                d.commit,
                d.instance,
                i64::try_from(d.revision).unwrap_or(i64::MAX),
                steps_text(&run.steps),
                to_micros(run.started_at),
                run.finished_at.map(to_micros),
            ])
        })
        .map_err(unavailable)?;
        tx.commit().map_err(unavailable)
    }

    fn complete(&self, id: &str, step: &str, at: SystemTime) -> Result<Completion, StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let Some(run) = load_run(&tx, id)? else {
            return Err(StoreError::UnknownRun(id.to_string()));
        };
        let (mut run, seq) = match run.check_completion(step)? {
            CompletionCheck::Answer(answer) => return Ok(answer),
            CompletionCheck::Record { run, seq } => (run, seq),
        };
        tx.prepare_cached(
            "INSERT INTO qa_reload_completions (run_id, step, seq, at) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut s| s.execute(params![id, step, seq, to_micros(at)]))
        .map_err(unavailable)?;
        if run.record_completion(step, at) {
            tx.prepare_cached("UPDATE qa_reload_runs SET finished_at = ?2 WHERE id = ?1")
                .and_then(|mut s| s.execute(params![id, to_micros(at)]))
                .map_err(unavailable)?;
        }
        tx.commit().map_err(unavailable)?;
        Ok(Completion::Done(run))
    }

    fn finish(&self, id: &str, at: SystemTime) -> Result<Finish, StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let Some(mut run) = load_run(&tx, id)? else {
            return Err(StoreError::UnknownRun(id.to_string()));
        };
        if run.is_finished() {
            return Ok(Finish::Already(run));
        }
        tx.prepare_cached("UPDATE qa_reload_runs SET finished_at = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id, to_micros(at)]))
            .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        run.finished_at = Some(at);
        Ok(Finish::Done(run))
    }

    fn discard(&self, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let hash: Option<String> = tx
            .prepare_cached("SELECT definition_hash FROM qa_reload_runs WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
            .map_err(unavailable)?;
        let Some(hash) = hash else { return Ok(false) };
        tx.prepare_cached("DELETE FROM qa_reload_completions WHERE run_id = ?1")
            .and_then(|mut s| s.execute([id]))
            .map_err(unavailable)?;
        tx.prepare_cached("DELETE FROM qa_reload_runs WHERE id = ?1")
            .and_then(|mut s| s.execute([id]))
            .map_err(unavailable)?;
        tx.prepare_cached(
            "DELETE FROM qa_reload_definitions WHERE hash = ?1 AND NOT EXISTS \
             (SELECT 1 FROM qa_reload_runs WHERE definition_hash = ?1)",
        )
        .and_then(|mut s| s.execute([&hash]))
        .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        Ok(true)
    }

    fn get(&self, id: &str) -> Result<Option<RunWithDefinition>, StoreError> {
        let mut conn = self.conn.lock();
        // One read transaction: the run and its definition agree.
        let tx = conn.transaction().map_err(unavailable)?;
        let Some(run) = load_run(&tx, id)? else {
            return Ok(None);
        };
        let body: String = tx
            .prepare_cached("SELECT body FROM qa_reload_definitions WHERE hash = ?1")
            .and_then(|mut s| s.query_row([&run.definition.hash], |r| r.get(0)))
            .map_err(unavailable)?;
        let definition = Definition {
            hash: run.definition.hash.clone(),
            body: body.into(),
        };
        Ok(Some(RunWithDefinition { run, definition }))
    }

    fn page(&self, query: &PageQuery) -> Result<Page, StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(unavailable)?;
        let (filter, bound) = query.filter_sql(|n| format!("?{n}"));
        let sql = format!("SELECT {SUMMARY_COLUMNS} FROM qa_reload_runs WHERE 1 = 1{filter}");
        let args: Vec<&dyn rusqlite::ToSql> = bound
            .iter()
            .map(|arg| match arg {
                PageArg::Text(text) => text as &dyn rusqlite::ToSql,
                PageArg::Count(count) => count as &dyn rusqlite::ToSql,
            })
            .collect();
        let rows: Vec<(Run, String)> = tx
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_map(args.as_slice(), run_of)?.collect())
            .map_err(unavailable)?;
        let mut runs = rows
            .into_iter()
            .map(with_steps)
            .collect::<Result<Vec<_>, _>>()?;
        let next = (runs.len() > query.limit).then(|| {
            runs.truncate(query.limit);
            runs.last().map(|r| r.id.clone())
        });
        let mut hashes: Vec<String> = Vec::new();
        for run in &mut runs {
            run.completed = completions(&tx, &run.id)?;
            if !hashes.contains(&run.definition.hash) {
                hashes.push(run.definition.hash.clone());
            }
        }
        let mut definitions = Vec::with_capacity(hashes.len());
        for hash in hashes {
            let body: String = tx
                .prepare_cached("SELECT body FROM qa_reload_definitions WHERE hash = ?1")
                .and_then(|mut s| s.query_row([&hash], |r| r.get(0)))
                .map_err(unavailable)?;
            definitions.push(Definition {
                hash,
                body: body.into(),
            });
        }
        Ok(Page {
            runs,
            definitions,
            next: next.flatten(),
        })
    }

    fn purge_finished_before(&self, cutoff: SystemTime) -> Result<u64, StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let cutoff = to_micros(cutoff);
        tx.execute(
            "DELETE FROM qa_reload_completions WHERE run_id IN \
             (SELECT id FROM qa_reload_runs WHERE finished_at IS NOT NULL AND finished_at < ?1)",
            [cutoff],
        )
        .map_err(unavailable)?;
        let runs = tx
            .execute(
                "DELETE FROM qa_reload_runs WHERE finished_at IS NOT NULL AND finished_at < ?1",
                [cutoff],
            )
            .map_err(unavailable)?;
        tx.execute(
            "DELETE FROM qa_reload_definitions WHERE hash NOT IN \
             (SELECT definition_hash FROM qa_reload_runs)",
            [],
        )
        .map_err(unavailable)?;
        tx.commit().map_err(unavailable)?;
        Ok(runs as u64)
    }
}
