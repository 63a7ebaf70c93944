//! Stage `store`: runs that outlive the process, behind one [`RunStore`]
//! trait with two real backends.
//!
//! ```text
//! mod        the trait, the domain types, [`Runs`] (pins a definition from the snapshot)
//! location   `--database` parsed: `sqlite:PATH`, `postgres://…`, the default file
//! migrate    the numbered SQL files of `migrations/`, applied at start; newer refused
//! sqlite     embedded SQLite (rusqlite, bundled), WAL, one connection
//! postgres   PostgreSQL (the `postgres` client), a small pool that reconnects
//! replica    `serve --follow` replicas on one PostgreSQL: who tests connections
//!            (an advisory lock), shared test results, push notices (LISTEN/NOTIFY)
//! ```
//!
//! Nothing above this module knows which backend it has. Backends block (they
//! are called on tokio's blocking threads by [`Runs`]); no lock is held
//! across an `.await`. No JSON wire types here: a definition is stored as
//! the entity document the API serves and handed back as that text.

pub mod location;
pub mod migrate;
pub mod postgres;
pub mod replica;
pub mod sqlite;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::engine::{Engine, Served, Snapshot};
use crate::model::Workflow;

pub use location::{Database, LocationError};

/// Finished runs are kept this long by default, then deleted.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// How often the retention rule runs while serving.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// The most runs one page may hold.
pub const MAX_PAGE: usize = 500;

/// A run as stored: everything but the definition's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// UUIDv7, lower-case hex with dashes.
    pub id: String,
    pub workflow_id: String,
    pub definition: DefinitionRef,
    /// The step ids of the pinned definition, in its order.
    pub steps: Vec<String>,
    pub started_at: SystemTime,
    pub finished_at: Option<SystemTime>,
    /// Completed steps in completion order.
    pub completed: Vec<CompletedStep>,
}

impl Run {
    pub fn is_finished(&self) -> bool {
        self.finished_at.is_some()
    }

    /// How the run's definition compares with the one in force in `now`.
    pub fn definition_status(&self, now: &Snapshot, runs: &Runs) -> DefinitionStatus {
        match now.workflow(&self.workflow_id) {
            None => DefinitionStatus::Removed,
            Some(served)
                if runs
                    .pinned(served)
                    .is_ok_and(|p| p.hash == self.definition.hash) =>
            {
                DefinitionStatus::Current
            }
            Some(served) => DefinitionStatus::Newer {
                revision: served.revision,
            },
        }
    }
}

/// Where a run's definition came from: its content address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionRef {
    /// SHA-256 (hex) of the definition's entity document.
    pub hash: String,
    /// Repository-relative path of the file it was read from.
    pub file: String,
    /// SHA-256 (hex) of that file's text.
    pub file_hash: String,
    /// The HEAD commit, when the file did not differ from it.
    pub commit: Option<String>,
    /// The server instance and revision that served it.
    pub instance: String,
    pub revision: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedStep {
    pub step: String,
    pub at: SystemTime,
}

/// How the run's definition compares with the one in force now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionStatus {
    Current,
    /// The template changed; the run keeps its own definition.
    Newer {
        revision: u64,
    },
    /// The template is gone; the run keeps its own definition.
    Removed,
}

/// A stored definition: its hash and its entity document (JSON text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub hash: String,
    pub body: Arc<str>,
}

/// What a new run stores.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub run: Run,
    pub definition: Definition,
}

/// Which runs a page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    InProgress,
    Finished,
}

/// One page of runs, newest first.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    /// 1..=[`MAX_PAGE`].
    pub limit: usize,
    /// Only runs older than this id (the last id of the previous page).
    pub before: Option<String>,
    pub state: Option<StateFilter>,
    pub workflow: Option<String>,
}

/// A value a page's SQL binds.
pub(crate) enum PageArg<'q> {
    Text(&'q str),
    Count(i64),
}

impl PageQuery {
    /// The filter, order and limit of this page for both backends: the SQL
    /// after `WHERE <always true>`, with the `n`th placeholder written by
    /// `placeholder(n)` (`$n`, `?n`), and what the placeholders bind, in
    /// order. One more row than `limit` is asked for: its presence says a
    /// next page exists.
    pub(crate) fn filter_sql(
        &self,
        placeholder: fn(usize) -> String,
    ) -> (String, Vec<PageArg<'_>>) {
        let mut args = Vec::new();
        let mut sql = String::new();
        if let Some(before) = &self.before {
            args.push(PageArg::Text(before));
            sql.push_str(&format!(" AND id < {}", placeholder(args.len())));
        }
        if let Some(workflow) = &self.workflow {
            args.push(PageArg::Text(workflow));
            sql.push_str(&format!(" AND workflow_id = {}", placeholder(args.len())));
        }
        match self.state {
            Some(StateFilter::InProgress) => sql.push_str(" AND finished_at IS NULL"),
            Some(StateFilter::Finished) => sql.push_str(" AND finished_at IS NOT NULL"),
            None => {}
        }
        args.push(PageArg::Count(
            i64::try_from(self.limit + 1).unwrap_or(i64::MAX),
        ));
        // Ids compare byte by byte (PostgreSQL's column is `COLLATE "C"`,
        // SQLite's default collation is binary), as cursors do.
        sql.push_str(&format!(
            " ORDER BY id DESC LIMIT {}",
            placeholder(args.len())
        ));
        (sql, args)
    }
}

/// A page: its runs, each distinct definition once, and whether more follow.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The runs, their `steps` left empty: a page lists summaries (the
    /// steps are those of the run's definition, in `definitions`).
    pub runs: Vec<Run>,
    pub definitions: Vec<Definition>,
    /// The id to pass as the next page's cursor; `None` on the last page.
    pub next: Option<String>,
}

/// A run with its definition's body.
#[derive(Debug, Clone)]
pub struct RunWithDefinition {
    pub run: Run,
    pub definition: Definition,
}

/// What a step completion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    Done(Run),
    /// The step was completed before (by this request's earlier try, or
    /// another client): nothing was added.
    Already(Run),
    /// The run was finished (ended early with this step left undone):
    /// nothing was added.
    RunFinished(Run),
}

/// A step completion checked against its run, read under the
/// transaction's lock: what each backend writes, or answers.
pub(crate) enum CompletionCheck {
    /// Answer this; nothing is written.
    Answer(Completion),
    /// Record the step as the run's `seq`th completion.
    Record { run: Run, seq: i64 },
}

impl Run {
    /// Checks completing `step`: an unknown step is an error; a step done
    /// before, or a finished run, is answered as it is.
    pub(crate) fn check_completion(self, step: &str) -> Result<CompletionCheck, StoreError> {
        if !self.steps.iter().any(|s| s == step) {
            return Err(StoreError::UnknownStep {
                run: self.id,
                workflow: self.workflow_id,
                step: step.to_string(),
            });
        }
        if self.completed.iter().any(|c| c.step == step) {
            return Ok(CompletionCheck::Answer(Completion::Already(self)));
        }
        if self.is_finished() {
            return Ok(CompletionCheck::Answer(Completion::RunFinished(self)));
        }
        let seq = i64::try_from(self.completed.len()).unwrap_or(i64::MAX) + 1;
        Ok(CompletionCheck::Record { run: self, seq })
    }

    /// Adds the completion of `step` at `at`, once written; when it was
    /// the last step the run is finished at `at` too, and this says so
    /// (the backend then writes `finished_at`).
    pub(crate) fn record_completion(&mut self, step: &str, at: SystemTime) -> bool {
        self.completed.push(CompletedStep {
            step: step.to_string(),
            at,
        });
        let last = self.completed.len() == self.steps.len();
        if last {
            self.finished_at = Some(at);
        }
        last
    }
}

/// What finishing a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// The run is finished now, whatever steps were left undone.
    Done(Run),
    /// The run was finished before (its last step, or an earlier finish):
    /// nothing changed.
    Already(Run),
}

/// Why a run operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no workflow `{0}` is in force; list them with GET /api/v1/workflows")]
    UnknownWorkflow(String),
    #[error("no run `{0}`")]
    UnknownRun(String),
    #[error("workflow `{workflow}` of run `{run}` has no step `{step}`")]
    UnknownStep {
        run: String,
        workflow: String,
        step: String,
    },
    /// The database cannot be reached or written (down, full, read-only).
    /// The detail is for the log, not for clients.
    #[error("the run store is unavailable: {0}")]
    Unavailable(String),
    /// The database is not one this binary can use; stops the start.
    #[error("{0}")]
    Refused(String),
}

/// Where the runs are, for `/status` and the start line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The file, or the server and database (never a password).
    pub location: String,
}

/// The runs of every server sharing one database. Implementations block;
/// each answer is committed before it returns.
pub trait RunStore: Send + Sync + 'static {
    fn info(&self) -> StoreInfo;

    /// Stores the definition (once per hash) and the run, in one commit.
    fn start(&self, new: &NewRun) -> Result<(), StoreError>;

    /// Records `step` of run `id` done at `at`, once: a second completion
    /// of the same step adds nothing and answers [`Completion::Already`];
    /// a step of a finished run adds nothing and answers
    /// [`Completion::RunFinished`]. The run is finished when its last step is.
    fn complete(&self, id: &str, step: &str, at: SystemTime) -> Result<Completion, StoreError>;

    /// Finishes run `id` at `at` with the steps it has (a trial stopped
    /// early); a run already finished is left as it is ([`Finish::Already`]).
    fn finish(&self, id: &str, at: SystemTime) -> Result<Finish, StoreError>;

    /// Deletes run `id` (in progress or finished), its completions, and its
    /// definition when no other run refers to it. Answers whether it was there.
    fn discard(&self, id: &str) -> Result<bool, StoreError>;

    fn get(&self, id: &str) -> Result<Option<RunWithDefinition>, StoreError>;

    /// One page of runs, newest first, and the definitions they use.
    fn page(&self, query: &PageQuery) -> Result<Page, StoreError>;

    /// Deletes runs finished before `cutoff` (never a run in progress) and
    /// the definitions no run refers to any more. Answers how many runs went.
    fn purge_finished_before(&self, cutoff: SystemTime) -> Result<u64, StoreError>;
}

/// Opens the database `url` names (migrating it), or the default file.
pub fn open(database: &Database) -> Result<Arc<dyn RunStore>, StoreError> {
    Ok(match database {
        Database::Sqlite(path) => Arc::new(sqlite::SqliteStore::open(path)?),
        Database::SqliteMemory => Arc::new(sqlite::SqliteStore::memory()?),
        Database::Postgres(url) => Arc::new(postgres::PgStore::connect(url)?),
    })
}

/// A definition in force, ready to be pinned: computed once per served
/// version and kept while that version is in force.
#[derive(Debug)]
pub struct Pinned {
    pub hash: String,
    pub body: Arc<str>,
    pub file_hash: String,
    pub steps: Vec<String>,
}

/// The run service the API holds: pins definitions from the snapshot in
/// force, and runs the store's blocking calls off the async threads.
#[derive(Clone)]
pub struct Runs {
    store: Arc<dyn RunStore>,
    /// Workflow id → (the served version, what pinning it stores).
    pinned: Arc<Mutex<PinCache>>,
}

type PinCache = std::collections::HashMap<Arc<str>, (Arc<Served<Workflow>>, Arc<Pinned>)>;

impl Runs {
    pub fn new(store: Arc<dyn RunStore>) -> Self {
        Runs {
            store,
            pinned: Arc::default(),
        }
    }

    /// A store in memory (SQLite), for tests and tools that keep nothing.
    pub fn in_memory() -> Result<Self, StoreError> {
        Ok(Runs::new(open(&Database::SqliteMemory)?))
    }

    pub fn info(&self) -> StoreInfo {
        self.store.info()
    }

    /// What pinning `served` stores: its document, hash and step ids,
    /// computed once per served version.
    pub fn pinned(&self, served: &Arc<Served<Workflow>>) -> Result<Arc<Pinned>, StoreError> {
        let id: Arc<str> = Arc::from(served.value.id.as_str());
        if let Some((known, pinned)) = self.pinned.lock().get(&id)
            && Arc::ptr_eq(known, served)
        {
            return Ok(Arc::clone(pinned));
        }
        let body: Arc<str> = Arc::from(serde_json::to_string(&*served.value).map_err(|e| {
            StoreError::Unavailable(format!("workflow `{id}` does not serialise: {e}"))
        })?);
        let pinned = Arc::new(Pinned {
            hash: sha256_hex(body.as_bytes()),
            file_hash: sha256_hex(served.text.as_bytes()),
            steps: served.value.steps.iter().map(|s| s.id.clone()).collect(),
            body,
        });
        let mut cache = self.pinned.lock();
        // Ids no longer in force are dropped when the cache outgrows them.
        if cache.len() > 4096 {
            cache.clear();
        }
        cache.insert(id, (Arc::clone(served), Arc::clone(&pinned)));
        Ok(pinned)
    }

    /// Starts a run of `workflow_id` as defined in `snapshot`; answers once
    /// it is committed.
    pub async fn start(
        &self,
        engine: &Engine,
        snapshot: &Snapshot,
        workflow_id: &str,
    ) -> Result<RunWithDefinition, StoreError> {
        let served = snapshot
            .workflow(workflow_id)
            .ok_or_else(|| StoreError::UnknownWorkflow(workflow_id.to_string()))?;
        let pinned = self.pinned(served)?;
        let commit = snapshot.head.as_ref().and_then(|h| h.commit.clone());
        let file = served.file.to_string();
        let text = Arc::clone(&served.text);
        let run = Run {
            id: uuid::Uuid::now_v7().to_string(),
            workflow_id: workflow_id.to_string(),
            definition: DefinitionRef {
                hash: pinned.hash.clone(),
                file: file.clone(),
                file_hash: pinned.file_hash.clone(),
                commit: None,
                instance: engine.instance().to_string(),
                revision: served.revision,
            },
            steps: pinned.steps.clone(),
            started_at: SystemTime::now(),
            finished_at: None,
            completed: Vec::new(),
        };
        let definition = Definition {
            hash: pinned.hash.clone(),
            body: Arc::clone(&pinned.body),
        };
        let store = Arc::clone(&self.store);
        let engine = engine.clone();
        blocking(move || {
            let mut new = NewRun { run, definition };
            // The commit names the content only when the file is as HEAD has it.
            let clean = engine
                .git()
                .map(|git| git.differs_from_head(&file, text.as_bytes()));
            if let Some(Ok(false)) = clean {
                new.run.definition.commit = commit;
            }
            store.start(&new)?;
            Ok(RunWithDefinition {
                run: new.run,
                definition: new.definition,
            })
        })
        .await
    }

    pub async fn complete(&self, id: &str, step: &str) -> Result<Completion, StoreError> {
        let store = Arc::clone(&self.store);
        let (id, step) = (id.to_string(), step.to_string());
        blocking(move || store.complete(&id, &step, SystemTime::now())).await
    }

    pub async fn finish(&self, id: &str) -> Result<Finish, StoreError> {
        let store = Arc::clone(&self.store);
        let id = id.to_string();
        blocking(move || store.finish(&id, SystemTime::now())).await
    }

    /// Deletes the run; answers whether it was there.
    pub async fn discard(&self, id: &str) -> Result<bool, StoreError> {
        let store = Arc::clone(&self.store);
        let id = id.to_string();
        blocking(move || store.discard(&id)).await
    }

    pub async fn get(&self, id: &str) -> Result<Option<RunWithDefinition>, StoreError> {
        let store = Arc::clone(&self.store);
        let id = id.to_string();
        blocking(move || store.get(&id)).await
    }

    /// Whether the store answers a query now (a look-up of a run id no
    /// run has), for `/readyz`.
    pub async fn reachable(&self) -> Result<(), StoreError> {
        self.get("00000000-0000-7000-8000-000000000000")
            .await
            .map(|_| ())
    }

    pub async fn page(&self, query: PageQuery) -> Result<Page, StoreError> {
        let store = Arc::clone(&self.store);
        blocking(move || store.page(&query)).await
    }

    /// Applies the retention rule now: runs finished more than `keep` ago
    /// are deleted.
    pub async fn purge(&self, keep: Duration) -> Result<u64, StoreError> {
        let store = Arc::clone(&self.store);
        let cutoff = SystemTime::now()
            .checked_sub(keep)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        blocking(move || store.purge_finished_before(cutoff)).await
    }

    /// The retention rule, at once and then every [`RETENTION_INTERVAL`],
    /// until `shutdown`. A failure is logged and tried again next time.
    pub async fn retain(self, keep: Duration, shutdown: tokio_util::sync::CancellationToken) {
        loop {
            match self.purge(keep).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(runs = n, "deleted finished runs past the retention time"),
                Err(e) => tracing::warn!(error = %e, "the retention rule did not run"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(RETENTION_INTERVAL) => {}
            }
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Unavailable(format!("the store's thread stopped: {e}")))?
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Microseconds since the Unix epoch, as both backends store times.
pub fn to_micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

pub fn from_micros(us: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

/// Step ids as stored (a JSON array of strings).
pub fn steps_text(steps: &[String]) -> String {
    serde_json::to_string(steps).unwrap_or_else(|_| "[]".to_string())
}

pub fn steps_of(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Unavailable(format!("a stored step list does not read: {e}")))
}

/// Whether `cursor` has the form of a run id (a UUID).
pub fn is_run_id(cursor: &str) -> bool {
    uuid::Uuid::try_parse(cursor).is_ok()
}
