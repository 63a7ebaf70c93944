//! Stage `store`: the PostgreSQL backend (the `postgres` client, no TLS),
//! for several servers sharing runs.
//!
//! A small pool: a call takes an idle connection or opens one (3 s to
//! connect), and a connection that broke is dropped, so a database that
//! comes back is used again without a restart. Writes run in one
//! transaction each; a step completion locks its run's row, so two servers
//! completing steps of one run take turns. Blocking: called on tokio's
//! blocking threads only. The URL's password is never shown.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use postgres::types::ToSql;
use postgres::{Client, Config, GenericClient, NoTls, Row};

use super::migrate;
use super::{
    CompletedStep, Completion, CompletionCheck, Definition, DefinitionRef, Finish, NewRun, Page,
    PageArg, PageQuery, Run, RunStore, RunWithDefinition, StoreError, StoreInfo, from_micros,
    steps_of, steps_text, to_micros,
};

/// How long opening a connection may take before the call answers 503.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Idle connections kept for the next calls.
const IDLE: usize = 8;

/// The advisory lock that makes concurrent starts migrate one at a time.
const MIGRATION_LOCK: i64 = 0x7161_5253;

pub struct PgStore {
    config: Config,
    location: String,
    idle: Mutex<Vec<Client>>,
}

type Param<'a> = &'a (dyn ToSql + Sync);

impl PgStore {
    /// Connects and migrates; a database that cannot be reached stops the
    /// start (with the server and database named, not the password).
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let mut config = Config::from_str(url)
            .map_err(|e| StoreError::Refused(format!("--database: not a PostgreSQL URL: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("qa-reload");
        let location = location(&config);
        let store = PgStore {
            config,
            location,
            idle: Mutex::new(Vec::new()),
        };
        let mut client = store.open().map_err(|e| {
            StoreError::Refused(format!(
                "{}: cannot connect to PostgreSQL: {e}",
                store.location
            ))
        })?;
        migrate_pg(&mut client, &store.location)?;
        store.idle.lock().push(client);
        Ok(store)
    }

    /// `user@host:port/db`, never the password.
    pub(super) fn location(&self) -> &str {
        &self.location
    }

    /// The parsed URL (for a connection of its own, as a replica's lock).
    pub(super) fn config(&self) -> &Config {
        &self.config
    }

    fn open(&self) -> Result<Client, postgres::Error> {
        let mut client = self.config.connect(NoTls)?;
        // A statement that hangs (a lock, a stuck server) fails rather than
        // holding a request forever.
        client.batch_execute("SET statement_timeout = 10000")?;
        Ok(client)
    }

    /// Runs `f` on a pooled connection; a connection that broke is dropped,
    /// and so are the idle ones (opened before it broke, so most likely
    /// broken too: a database that restarted would otherwise fail one call
    /// per idle connection).
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = self.idle.lock().pop();
        let mut client = match taken {
            Some(c) if !c.is_closed() => c,
            _ => self.open().map_err(unavailable)?,
        };
        let result = f(&mut client);
        if client.is_closed() {
            let stale = std::mem::take(&mut *self.idle.lock());
            drop(stale);
        } else {
            let mut idle = self.idle.lock();
            if idle.len() < IDLE {
                idle.push(client);
            }
        }
        result
    }
}

impl Drop for PgStore {
    /// Each client owns a small runtime, which may not be dropped on an
    /// async thread (where the last handle to the store often goes): the
    /// idle clients are closed on a thread of their own.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut *self.idle.lock());
        if idle.is_empty() {
            return;
        }
        let closing = std::thread::spawn(move || drop(idle));
        let _ = closing.join();
    }
}

/// `user@host:port/db`, from the parsed URL: never the password.
fn location(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_string());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    let db = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{host}:{port}/{db}")
}

pub(super) fn unavailable(e: postgres::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn migrate_pg(client: &mut Client, place: &str) -> Result<(), StoreError> {
    let refuse = |e: postgres::Error| {
        StoreError::Refused(format!("{place}: cannot prepare the run store: {e}"))
    };
    let mut tx = client.transaction().map_err(refuse)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(refuse)?;
    tx.batch_execute(migrate::TABLE).map_err(refuse)?;
    let applied: Vec<i64> = tx
        .query("SELECT version FROM qa_reload_migrations", &[])
        .map_err(refuse)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for m in migrate::plan(migrate::POSTGRES, &applied, place)? {
        tx.batch_execute(m.sql).map_err(refuse)?;
        tx.execute(
            "INSERT INTO qa_reload_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &to_micros(SystemTime::now())],
        )
        .map_err(refuse)?;
    }
    tx.commit().map_err(refuse)
}

const RUN_COLUMNS: &str = "id, workflow_id, definition_hash, file, file_hash, git_commit, \
                           instance, revision, steps, started_at, finished_at";
/// [`RUN_COLUMNS`] for a page: a summary shows no step list, and a page of
/// runs of a long workflow would otherwise read and parse every run's
/// (300 runs of 1,900 steps: half a million strings per page).
const SUMMARY_COLUMNS: &str = "id, workflow_id, definition_hash, file, file_hash, git_commit, \
                               instance, revision, '[]', started_at, finished_at";

fn run_of(r: &Row) -> Result<Run, StoreError> {
    let steps: String = r.get(8);
    Ok(Run {
        id: r.get(0),
        workflow_id: r.get(1),
        definition: DefinitionRef {
            hash: r.get(2),
            file: r.get(3),
            file_hash: r.get(4),
            commit: r.get(5),
            instance: r.get(6),
            revision: u64::try_from(r.get::<_, i64>(7)).unwrap_or(0),
        },
        steps: steps_of(&steps)?,
        started_at: from_micros(r.get(9)),
        finished_at: r.get::<_, Option<i64>>(10).map(from_micros),
        completed: Vec::new(),
    })
}

/// A read-only transaction that sees one snapshot of the store from its
/// first query to its end (a run and its definition, a page and its
/// completions, agree).
fn read_snapshot(client: &mut postgres::Client) -> Result<postgres::Transaction<'_>, StoreError> {
    client
        .build_transaction()
        .read_only(true)
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .start()
        .map_err(unavailable)
}

fn load_run(c: &mut impl GenericClient, id: &str, lock: bool) -> Result<Option<Run>, StoreError> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let row = c
        .query_opt(
            &format!("SELECT {RUN_COLUMNS} FROM qa_reload_runs WHERE id = $1{lock}"),
            &[&id],
        )
        .map_err(unavailable)?;
    let Some(row) = row else { return Ok(None) };
    let mut run = run_of(&row)?;
    run.completed = completions(c, id)?;
    Ok(Some(run))
}

fn completions(c: &mut impl GenericClient, id: &str) -> Result<Vec<CompletedStep>, StoreError> {
    Ok(c.query(
        "SELECT step, at FROM qa_reload_completions WHERE run_id = $1 ORDER BY seq",
        &[&id],
    )
    .map_err(unavailable)?
    .iter()
    .map(|r| CompletedStep {
        step: r.get(0),
        at: from_micros(r.get(1)),
    })
    .collect())
}

fn definition(c: &mut impl GenericClient, hash: &str) -> Result<Definition, StoreError> {
    let row = c
        .query_one(
            "SELECT body FROM qa_reload_definitions WHERE hash = $1",
            &[&hash],
        )
        .map_err(unavailable)?;
    Ok(Definition {
        hash: hash.to_string(),
        body: row.get::<_, String>(0).into(),
    })
}

impl RunStore for PgStore {
    fn info(&self) -> StoreInfo {
        StoreInfo {
            backend: "postgres",
            location: self.location.clone(),
        }
    }

    fn start(&self, new: &NewRun) -> Result<(), StoreError> {
        self.with(|client| {
            let mut tx = client.transaction().map_err(unavailable)?;
            let run = &new.run;
            let body: &str = &new.definition.body;
            tx.execute(
                "INSERT INTO qa_reload_definitions (hash, workflow_id, body) VALUES ($1, $2, $3) \
                 ON CONFLICT (hash) DO NOTHING",
                &[&new.definition.hash, &run.workflow_id, &body],
            )
            .map_err(unavailable)?;
            let d = &run.definition;
            let revision = i64::try_from(d.revision).unwrap_or(i64::MAX);
            let steps = steps_text(&run.steps);
            let started = to_micros(run.started_at);
            let finished = run.finished_at.map(to_micros);
            tx.execute(
                &format!(
                    "INSERT INTO qa_reload_runs ({RUN_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ),
                &[
                    &run.id,
                    &run.workflow_id,
                    &d.hash,
                    &d.file,
                    &d.file_hash,
                    &d.commit,
                    &d.instance,
                    &revision,
                    &steps,
                    &started,
                    &finished,
                ],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)
        })
    }

    fn complete(&self, id: &str, step: &str, at: SystemTime) -> Result<Completion, StoreError> {
        self.with(|client| {
            let mut tx = client.transaction().map_err(unavailable)?;
            let Some(run) = load_run(&mut tx, id, true)? else {
                return Err(StoreError::UnknownRun(id.to_string()));
            };
            let (mut run, seq) = match run.check_completion(step)? {
                CompletionCheck::Answer(answer) => return Ok(answer),
                CompletionCheck::Record { run, seq } => (run, seq),
            };
            let at_us = to_micros(at);
            tx.execute(
                "INSERT INTO qa_reload_completions (run_id, step, seq, at) VALUES ($1, $2, $3, $4)",
                &[&id, &step, &seq, &at_us],
            )
            .map_err(unavailable)?;
            if run.record_completion(step, at) {
                tx.execute(
                    "UPDATE qa_reload_runs SET finished_at = $2 WHERE id = $1",
                    &[&id, &at_us],
                )
                .map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)?;
            Ok(Completion::Done(run))
        })
    }

    fn finish(&self, id: &str, at: SystemTime) -> Result<Finish, StoreError> {
        self.with(|client| {
            let mut tx = client.transaction().map_err(unavailable)?;
            // The row lock: a completion landing meanwhile waits, then sees
            // the run finished.
            let Some(mut run) = load_run(&mut tx, id, true)? else {
                return Err(StoreError::UnknownRun(id.to_string()));
            };
            if run.is_finished() {
                return Ok(Finish::Already(run));
            }
            tx.execute(
                "UPDATE qa_reload_runs SET finished_at = $2 WHERE id = $1",
                &[&id, &to_micros(at)],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            run.finished_at = Some(at);
            Ok(Finish::Done(run))
        })
    }

    fn discard(&self, id: &str) -> Result<bool, StoreError> {
        self.with(|client| {
            let mut tx = client.transaction().map_err(unavailable)?;
            let Some(row) = tx
                .query_opt(
                    "SELECT definition_hash FROM qa_reload_runs WHERE id = $1 FOR UPDATE",
                    &[&id],
                )
                .map_err(unavailable)?
            else {
                return Ok(false);
            };
            let hash: String = row.get(0);
            tx.execute(
                "DELETE FROM qa_reload_completions WHERE run_id = $1",
                &[&id],
            )
            .map_err(unavailable)?;
            tx.execute("DELETE FROM qa_reload_runs WHERE id = $1", &[&id])
                .map_err(unavailable)?;
            tx.execute(
                "DELETE FROM qa_reload_definitions d WHERE d.hash = $1 AND NOT EXISTS \
                 (SELECT 1 FROM qa_reload_runs r WHERE r.definition_hash = d.hash)",
                &[&hash],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(true)
        })
    }

    fn get(&self, id: &str) -> Result<Option<RunWithDefinition>, StoreError> {
        self.with(|client| {
            let mut tx = read_snapshot(client)?;
            let Some(run) = load_run(&mut tx, id, false)? else {
                return Ok(None);
            };
            let definition = definition(&mut tx, &run.definition.hash)?;
            tx.commit().map_err(unavailable)?;
            Ok(Some(RunWithDefinition { run, definition }))
        })
    }

    fn page(&self, query: &PageQuery) -> Result<Page, StoreError> {
        self.with(|client| {
            let mut tx = read_snapshot(client)?;
            let (filter, bound) = query.filter_sql(|n| format!("${n}"));
            let sql = format!("SELECT {SUMMARY_COLUMNS} FROM qa_reload_runs WHERE TRUE{filter}");
            let args: Vec<Param<'_>> = bound
                .iter()
                .map(|arg| match arg {
                    PageArg::Text(text) => text as Param<'_>,
                    PageArg::Count(count) => count as Param<'_>,
                })
                .collect();
            let rows = tx.query(&sql, &args).map_err(unavailable)?;
            let mut runs = rows.iter().map(run_of).collect::<Result<Vec<_>, _>>()?;
            let next = (runs.len() > query.limit).then(|| {
                runs.truncate(query.limit);
                runs.last().map(|r| r.id.clone())
            });
            let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
            let mut done: std::collections::HashMap<String, Vec<CompletedStep>> =
                std::collections::HashMap::new();
            for r in tx
                .query(
                    "SELECT run_id, step, at FROM qa_reload_completions \
                     WHERE run_id = ANY($1) ORDER BY run_id, seq",
                    &[&ids],
                )
                .map_err(unavailable)?
            {
                done.entry(r.get(0)).or_default().push(CompletedStep {
                    step: r.get(1),
                    at: from_micros(r.get(2)),
                });
            }
            let mut hashes: Vec<String> = Vec::new();
            for run in &mut runs {
                run.completed = done.remove(&run.id).unwrap_or_default();
                if !hashes.contains(&run.definition.hash) {
                    hashes.push(run.definition.hash.clone());
                }
            }
            let mut definitions = Vec::with_capacity(hashes.len());
            for hash in hashes {
                definitions.push(definition(&mut tx, &hash)?);
            }
            tx.commit().map_err(unavailable)?;
            Ok(Page {
                runs,
                definitions,
                next: next.flatten(),
            })
        })
    }

    fn purge_finished_before(&self, cutoff: SystemTime) -> Result<u64, StoreError> {
        self.with(|client| {
            let mut tx = client.transaction().map_err(unavailable)?;
            let cutoff = to_micros(cutoff);
            tx.execute(
                "DELETE FROM qa_reload_completions WHERE run_id IN \
                 (SELECT id FROM qa_reload_runs WHERE finished_at < $1)",
                &[&cutoff],
            )
            .map_err(unavailable)?;
            let runs = tx
                .execute(
                    "DELETE FROM qa_reload_runs WHERE finished_at < $1",
                    &[&cutoff],
                )
                .map_err(unavailable)?;
            tx.execute(
                "DELETE FROM qa_reload_definitions d WHERE NOT EXISTS \
                 (SELECT 1 FROM qa_reload_runs r WHERE r.definition_hash = d.hash)",
                &[],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(runs)
        })
    }
}
