//! The one wiring place: creates every channel, starts every worker in one
//! `JoinSet`, and fans one shutdown signal out to all of them.
//!
//! ```text
//! watch::spawn ──Batch──► engine::Worker ──Event──► broadcast ──► api (HTTP, WebSocket)
//!                                                    └──► integrations supervisor ──► statuses ──► api
//! ```
//!
//! `serve --follow` has no watcher: the follower fetches the remote and
//! hands each new head to the engine's worker.
//!
//! No logic of its own: what a worker does lives in its module.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::AppState;
use crate::api::conn::HttpLimits;
use crate::api::security::{Insecure, Security, check_bind};
use crate::api::server::{self, BindError};
use crate::engine::{Engine, EngineError, SharedEnv, watch_settings};
use crate::follow::{Follow, FollowConfig};
use crate::git::GitError;
use crate::integrations::Integrations;
use crate::secret;
use crate::store::replica::Replica;
use crate::store::{self, Database, Runs, StoreError};
use crate::watch::{self, WatchConfig, WatchError};

/// Batches the watcher may queue before it waits for the applier.
const BATCH_QUEUE: usize = 64;

/// Where `serve` listens unless told otherwise.
pub const DEFAULT_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 7878);

/// How the program is started.
#[derive(Clone)]
pub struct Options {
    /// The folder holding `workflows/` and `config/`.
    pub repo: PathBuf,
    /// Poll instead of native events (filesystems without inotify).
    pub poll: bool,
    /// How `${VAR}` is read (the process environment outside tests).
    pub env: SharedEnv,
    /// Events a subscriber may fall behind by before it must resync.
    pub broadcast_capacity: usize,
    /// Where `serve` listens.
    pub bind: SocketAddr,
    /// The API token (`--token`, `QA_RELOAD_TOKEN`); required off loopback.
    /// Handed to `Security`, which keeps only its digest.
    pub token: Option<String>,
    /// Host names besides loopback that requests may name (`--allow-host`).
    pub allowed_hosts: Vec<String>,
    /// Name resolution for connection tests; `None` is the system's.
    pub resolver: Option<crate::integrations::Resolver>,
    /// The connection tests' clock (re-test minute, default rate-limit
    /// wait, cooldown); the documented defaults outside tests.
    pub integration_timing: crate::integrations::Timing,
    /// Origins besides the request's own host that pages may call from
    /// (`--allow-origin`).
    pub allowed_origins: Vec<String>,
    /// Deadlines and the cap of HTTP connections.
    pub http: HttpLimits,
    /// Where `serve` keeps runs (`--database`); `None` is the default
    /// SQLite file of the checkout.
    pub database: Option<Database>,
    /// How long `serve` keeps finished runs.
    pub retention: std::time::Duration,
    /// `serve --follow`: serve a remote's branch instead of `repo`.
    pub follow: Option<FollowConfig>,
    /// The webhook secret (`QA_RELOAD_WEBHOOK_SECRET`); without it every
    /// webhook is refused.
    pub webhook_secret: Option<String>,
}

impl Options {
    pub fn new(repo: impl Into<PathBuf>) -> Self {
        Options {
            repo: repo.into(),
            poll: false,
            env: std::sync::Arc::new(|name: &str| std::env::var(name).ok()),
            broadcast_capacity: crate::engine::BROADCAST_CAPACITY,
            bind: DEFAULT_BIND,
            token: None,
            allowed_hosts: Vec::new(),
            resolver: None,
            integration_timing: crate::integrations::Timing::default(),
            allowed_origins: Vec::new(),
            http: HttpLimits::default(),
            database: None,
            retention: store::DEFAULT_RETENTION,
            follow: None,
            webhook_secret: None,
        }
    }
}

/// The running program.
pub struct App {
    pub engine: Engine,
    pub integrations: Integrations,
    /// The follower (`serve --follow` only).
    pub follow: Option<Follow>,
    tasks: JoinSet<()>,
    shutdown: CancellationToken,
}

/// What stops [`start`]: the engine cannot load, or the watcher cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Watch(#[from] WatchError),
    /// The mirror of `--follow` cannot be opened or created.
    #[error(transparent)]
    Mirror(#[from] GitError),
    /// The replicas' database cannot be joined.
    #[error(transparent)]
    Replicas(#[from] StoreError),
}

/// Loads the repository (revision 1), starts the watcher and the applier.
pub async fn start(options: Options) -> Result<App, StartError> {
    if let Some(config) = options.follow.clone() {
        return start_following(options, config).await;
    }
    let repo = options.repo.clone();
    let env = options.env.clone();
    let capacity = options.broadcast_capacity;
    let (engine, worker) =
        tokio::task::spawn_blocking(move || Engine::load_with_capacity(&repo, env, capacity))
            .await
            .map_err(|_| EngineError::Stopped)??;

    let mut config = WatchConfig::new(engine.root());
    if let Some(git) = engine.git() {
        config.git_dir = Some(git.git_dir().to_path_buf());
        config.common_dir = Some(git.common_dir().to_path_buf());
    }
    config.set(watch_settings(&engine.snapshot().settings));

    let shutdown = CancellationToken::new();
    let (batches_tx, batches) = mpsc::channel(BATCH_QUEUE);
    let handle = if options.poll {
        watch::spawn_polling(config, batches_tx, shutdown.child_token())?
    } else {
        watch::spawn(config, batches_tx, shutdown.child_token())?
    };
    engine.set_watch(handle);

    let mut tasks = JoinSet::new();
    tasks.spawn(worker.run(Some(batches), shutdown.child_token()));
    let (integrations, supervisor) = Integrations::start(
        engine.clone(),
        options.resolver.clone(),
        options.integration_timing,
        shutdown.child_token(),
    );
    tasks.spawn(supervisor);
    Ok(App {
        engine,
        integrations,
        follow: None,
        tasks,
        shutdown,
    })
}

/// `serve --follow`: opens the mirror, serves the commit it last fetched
/// (if any) as revision 1, and starts the follower and the applier. With a
/// PostgreSQL `--database` it joins the replicas of the same remote and
/// branch there first, so it knows whether it tests connections before
/// any configuration is seen.
async fn start_following(options: Options, config: FollowConfig) -> Result<App, StartError> {
    let env = options.env.clone();
    let capacity = options.broadcast_capacity;
    let shutdown = CancellationToken::new();
    let shared = match &options.database {
        Some(Database::Postgres(url)) => Some((url.clone(), shutdown.child_token())),
        _ => None,
    };
    let (follow, engine, worker, replica) = tokio::task::spawn_blocking(move || {
        let (follow, first) = Follow::open(&config)?;
        let (engine, worker) = Engine::follow(&config.data_dir, first, env, capacity)?;
        let replica = match shared {
            Some((url, stop)) => {
                let scope = Follow::scope(&config);
                Some(Replica::join(&url, scope, engine.instance(), stop)?)
            }
            None => None,
        };
        Ok::<_, StartError>((follow, engine, worker, replica))
    })
    .await
    .map_err(|_| EngineError::Stopped)??;

    let mut tasks = JoinSet::new();
    let replica = replica.map(|(replica, stopped)| {
        tasks.spawn(stopped);
        follow.join_replicas(replica.clone());
        replica
    });
    tasks.spawn(worker.run(None, shutdown.child_token()));
    tasks.spawn(follow.clone().run(engine.clone(), shutdown.child_token()));
    let (integrations, supervisor) = Integrations::start_replicated(
        engine.clone(),
        options.resolver.clone(),
        options.integration_timing,
        shutdown.child_token(),
        replica,
    );
    tasks.spawn(supervisor);
    Ok(App {
        engine,
        integrations,
        follow: Some(follow),
        tasks,
        shutdown,
    })
}

impl App {
    /// A token that stops everything when cancelled (for servers started
    /// beside the engine).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Adds a worker that stops with the others.
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Signals every worker to stop and waits for them.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        while let Some(result) = self.tasks.join_next().await {
            if let Err(e) = result
                && e.is_panic()
            {
                tracing::error!(error = %e, "a worker panicked");
            }
        }
    }
}

/// What stops `serve` before it serves.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A non-loopback bind without a token, a token too short, an origin
    /// that is not one.
    #[error(transparent)]
    Insecure(#[from] Insecure),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(transparent)]
    Start(#[from] StartError),
    /// The run store cannot be opened: unreachable, corrupt, foreign or newer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `qa-reload serve`: listens (before loading, so a taken port fails fast),
/// loads and watches the repository, serves the API, and runs until SIGINT
/// or SIGTERM; then stops accepting, lets in-flight requests finish, closes
/// the WebSocket clients and stops every worker.
pub async fn serve(options: Options) -> Result<(), ServeError> {
    check_bind(options.bind, options.token.as_deref()).map_err(ServeError::Insecure)?;
    let listener = server::bind(options.bind).await?;
    let local = listener.local_addr().map_err(|source| BindError::Other {
        addr: options.bind,
        source,
    })?;
    let security = Security::new(local, options.token.as_deref(), &options.allowed_hosts)
        .with_allowed_origins(&options.allowed_origins)
        .map_err(ServeError::Insecure)?;
    let http = options.http;
    let retention = options.retention;
    let chosen = options.database.is_some();
    let database = options.database.clone().or_else(|| {
        options
            .follow
            .as_ref()
            .map(|f| Database::in_data_dir(&f.data_dir))
    });
    let webhook_secret = options.webhook_secret.clone();
    let following = options.follow.is_some();
    let env = options.env.clone();
    // Replicas following one branch share the webhook secret: keyed by
    // it, their masks agree, so any of them answers a client the same way.
    if following
        && let Some(seed) = &webhook_secret
        && !secret::seed_salt(seed.as_bytes())
    {
        tracing::warn!(
            "secrets were masked before the webhook secret was read; masks are this process's own"
        );
    }
    let mut app = start(options).await?;
    let runs = match open_runs(&app.engine, database).await {
        Ok(runs) => Some(runs),
        // The default file cannot be written (a read-only checkout): serve
        // without runs rather than not at all; run routes answer 503.
        Err(StoreError::Unavailable(e)) if !chosen => {
            tracing::warn!(error = %e, "runs are not kept: pass --database to keep them elsewhere");
            None
        }
        Err(e) => {
            app.stop().await;
            return Err(e.into());
        }
    };
    let mut state = AppState::new(app.engine.clone(), security, app.shutdown_token())
        .with_integrations(app.integrations.clone())
        .with_http_limits(http)
        .with_webhooks(webhook_secret.as_deref());
    if let Some(follow) = &app.follow {
        state = state.with_follow(follow.clone(), env);
    }
    if let Some(runs) = &runs {
        app.spawn(runs.clone().retain(retention, app.shutdown_token()));
        state = state.with_runs(runs.clone());
    }
    let requires_token = state.security.requires_token();
    app.spawn(server::run(listener, state));
    let status = app.engine.status();
    let snapshot = &status.snapshot;
    tracing::info!(
        root = %status.root.display(),
        revision = snapshot.revision,
        workflows = snapshot.workflows.len(),
        integrations = snapshot.integrations.len(),
        errors = snapshot.error_count(),
        watcher = status.watcher.as_ref().map(|w| w.backend),
        "{}",
        if following {
            "following the remote"
        } else {
            "watching for changes"
        }
    );
    for e in snapshot.errors.iter() {
        tracing::warn!("{e}");
    }
    // The one line a user needs; the token itself is never printed.
    let host = if local.ip().is_unspecified() {
        SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), local.port())
    } else {
        local
    };
    say(format_args!(
        "qa-reload: serving {} at http://{host}/",
        status.root.display()
    ));
    if let Some(store) = runs.as_ref().map(Runs::info) {
        say(format_args!(
            "qa-reload: runs kept in {} {}",
            store.backend, store.location
        ));
    }
    if let Some(follow) = app.follow.as_ref().map(Follow::status) {
        say(format_args!(
            "qa-reload: following {} branch {} (fetched every {} s, and on POST /api/v1/hooks/git)",
            follow.remote,
            follow.branch,
            follow.poll.as_secs()
        ));
    }
    if let Some(replica) = app.follow.as_ref().and_then(Follow::replica) {
        say(format_args!(
            "qa-reload: replica {} of the servers following this branch on the same database; {}",
            replica.id(),
            if replica.is_leader() {
                "this one runs the connection tests"
            } else {
                "another runs the connection tests, and this one takes over if it stops"
            }
        ));
    }
    if following && webhook_secret.is_none() {
        say(format_args!(
            "qa-reload: every webhook is refused: set QA_RELOAD_WEBHOOK_SECRET to accept signed webhooks"
        ));
    }
    if requires_token {
        say(format_args!(
            "qa-reload: a token is required: send Authorization: Bearer <token>, or add ?token=<token> to the URL"
        ));
    }
    wait_for_signal().await;
    tracing::info!("shutting down");
    app.stop().await;
    Ok(())
}

/// Writes one line to standard output. A closed output (the reader of a
/// pipe gone) must not end the server, so a failed write is ignored where
/// `println!` would panic.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Opens the run store `database` names, or the checkout's default file
/// (inside the git directory, or `.qa-reload/` outside a repository).
pub async fn open_runs(engine: &Engine, database: Option<Database>) -> Result<Runs, StoreError> {
    let database = database
        .unwrap_or_else(|| Database::default_for(engine.root(), engine.git().map(|g| g.git_dir())));
    let store = tokio::task::spawn_blocking(move || store::open(&database))
        .await
        .map_err(|e| StoreError::Refused(format!("opening the run store stopped: {e}")))??;
    Ok(Runs::new(store))
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
