//! The one wiring place: creates every channel, starts every worker in one
//! `JoinSet`, and fans one shutdown signal out to all of them.
//!
//! ```text
//! watch::spawn ──Batch──► engine::Worker ──Event──► broadcast (api subscribes)
//!                                                    └──► integrations supervisor ──► statuses
//! ```
//!
//! No logic of its own: what a worker does lives in its module.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::engine::{Engine, EngineError, SharedEnv};
use crate::integrations::Integrations;
use crate::watch::{self, WatchConfig};

/// Batches the watcher may queue before it waits for the applier.
const BATCH_QUEUE: usize = 64;

/// How the program is started.
#[derive(Clone)]
pub struct Options {
    /// The folder holding `workflows/` and `config/`.
    pub repo: PathBuf,
    /// Poll instead of native events (filesystems without inotify).
    pub poll: bool,
    /// How `${VAR}` is read (the process environment outside tests).
    pub env: SharedEnv,
}

impl Options {
    pub fn new(repo: impl Into<PathBuf>) -> Self {
        Options {
            repo: repo.into(),
            poll: false,
            env: std::sync::Arc::new(|name: &str| std::env::var(name).ok()),
        }
    }
}

/// The running program.
pub struct App {
    pub engine: Engine,
    pub integrations: Integrations,
    tasks: JoinSet<()>,
    shutdown: CancellationToken,
}

/// Loads the repository (revision 1), starts the watcher and the applier.
pub async fn start(options: Options) -> Result<App, EngineError> {
    let repo = options.repo.clone();
    let env = options.env.clone();
    let (engine, worker) = tokio::task::spawn_blocking(move || Engine::load(&repo, env))
        .await
        .map_err(|_| EngineError::Stopped)??;

    let settings = engine.snapshot().settings.clone();
    let mut config = WatchConfig::new(engine.root());
    if let Some(git) = engine.git() {
        config.git_dir = Some(git.git_dir().to_path_buf());
        config.common_dir = Some(git.common_dir().to_path_buf());
    }
    config.debounce = Duration::from_millis(settings.debounce_ms);
    config.max_wait = Duration::from_millis(settings.max_wait_ms);
    config.watch = settings.watch.clone();
    config.ignore = settings.ignore.clone();

    let shutdown = CancellationToken::new();
    let (batches_tx, batches) = mpsc::channel(BATCH_QUEUE);
    let handle = if options.poll {
        watch::spawn_polling(config, batches_tx, shutdown.child_token())?
    } else {
        watch::spawn(config, batches_tx, shutdown.child_token())?
    };
    engine.set_watch(handle);

    let mut tasks = JoinSet::new();
    tasks.spawn(worker.run(batches, shutdown.child_token()));
    let (integrations, supervisor) = Integrations::start(engine.clone(), shutdown.child_token());
    tasks.spawn(supervisor);
    Ok(App {
        engine,
        integrations,
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

/// `qa-reload serve`: runs until SIGINT or SIGTERM.
pub async fn serve(options: Options) -> Result<(), EngineError> {
    let app = start(options).await?;
    let status = app.engine.status();
    let snapshot = &status.snapshot;
    tracing::info!(
        root = %status.root.display(),
        revision = snapshot.revision,
        workflows = snapshot.workflows.len(),
        integrations = snapshot.integrations.len(),
        errors = snapshot.error_count(),
        watcher = status.watcher.as_ref().map(|w| w.backend),
        "watching for changes"
    );
    for e in snapshot.errors.iter() {
        tracing::warn!("{e}");
    }
    wait_for_signal().await;
    tracing::info!("shutting down");
    app.stop().await;
    Ok(())
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
