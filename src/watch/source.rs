//! watch stage: the notify watcher itself, and the fallback to polling.
//!
//! Owns the OS watcher and the set of directories it watches (the folders
//! the loader walks, each watched on its own: links to folders are never
//! followed); hands raw events to the driver through a bounded queue. It never filters, debounces
//! or reads file contents.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use notify::{Config, PollWatcher, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::WatchError;

/// How often the poll fallback looks at the disk.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Raw events waiting for the driver. When it is full, events are dropped and
/// the overflow flag makes the driver ask for a rescan instead.
const QUEUE: usize = 8192;

/// Where the directories to watch are.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    pub git_dir: Option<PathBuf>,
    pub common_dir: Option<PathBuf>,
}

impl Layout {
    /// The directory holding `refs/heads/` (the common dir of a linked
    /// worktree, the git dir otherwise).
    pub fn refs_heads(&self) -> Option<PathBuf> {
        self.common_dir
            .as_ref()
            .or(self.git_dir.as_ref())
            .map(|d| d.join("refs").join("heads"))
    }
}

/// The sending half, shared by every watcher this source creates.
#[derive(Clone)]
struct Sink {
    tx: mpsc::Sender<notify::Result<notify::Event>>,
    overflowed: Arc<AtomicBool>,
}

impl Sink {
    fn handler(&self) -> impl FnMut(notify::Result<notify::Event>) + Send + 'static {
        let sink = self.clone();
        // `try_send`, not `blocking_send`: the poll watcher may call the
        // handler from the thread that calls `watch`, which can be a runtime
        // thread, and a full queue must not stall the OS watcher either.
        move |res| {
            if sink.tx.try_send(res).is_err() {
                sink.overflowed.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// The live watcher and what it watches.
pub struct Source {
    watcher: Box<dyn Watcher + Send>,
    backend: &'static str,
    layout: Layout,
    sink: Sink,
    /// The folders under the trees watched now (each on its own, never
    /// recursively: links are not followed and submodules are skipped).
    folders: HashSet<PathBuf>,
}

/// What the driver reads raw events from.
pub struct Events {
    pub rx: mpsc::Receiver<notify::Result<notify::Event>>,
    pub overflowed: Arc<AtomicBool>,
}

impl Source {
    /// Starts the native watcher (the poll watcher if `force_poll`, or if the
    /// native one cannot start or hits its limit) and watches every directory
    /// of the layout that exists. Returns the reason for a fallback, if any.
    pub fn start(
        layout: Layout,
        force_poll: bool,
    ) -> Result<(Source, Events, Option<String>), WatchError> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let overflowed = Arc::new(AtomicBool::new(false));
        let sink = Sink {
            tx,
            overflowed: overflowed.clone(),
        };
        let events = Events { rx, overflowed };
        if !force_poll {
            let config = Config::default().with_follow_symlinks(false);
            match RecommendedWatcher::new(sink.handler(), config) {
                Ok(watcher) => {
                    let mut source = Source {
                        watcher: Box::new(watcher),
                        backend: native_name(),
                        layout: layout.clone(),
                        sink: sink.clone(),
                        folders: HashSet::new(),
                    };
                    match source.watch_all() {
                        Ok(()) => return Ok((source, events, None)),
                        Err(e) if needs_polling(&e) => {
                            let reason = describe(&e);
                            let source = Source::poll(layout, sink)?;
                            return Ok((source, events, Some(reason)));
                        }
                        Err(e) => return Err(WatchError::Notify(describe(&e))),
                    }
                }
                Err(e) if needs_polling(&e) => {
                    let reason = describe(&e);
                    let source = Source::poll(layout, sink)?;
                    return Ok((source, events, Some(reason)));
                }
                Err(e) => return Err(WatchError::Notify(describe(&e))),
            }
        }
        let source = Source::poll(layout, sink)?;
        Ok((source, events, None))
    }

    fn poll(layout: Layout, sink: Sink) -> Result<Source, WatchError> {
        // Not following links: a link to `/usr` is one entry, not a tree
        // to walk every 500 ms.
        let config = Config::default()
            .with_poll_interval(POLL_INTERVAL)
            .with_follow_symlinks(false);
        let watcher = PollWatcher::new(sink.handler(), config)
            .map_err(|e| WatchError::Notify(describe(&e)))?;
        let mut source = Source {
            watcher: Box::new(watcher),
            backend: "poll",
            layout,
            sink,
            folders: HashSet::new(),
        };
        source
            .watch_all()
            .map_err(|e| WatchError::Notify(describe(&e)))?;
        Ok(source)
    }

    /// Replaces the native watcher with the poll watcher, watching the same
    /// directories. The old watcher is dropped, which stops its thread.
    pub fn fall_back_to_polling(&mut self) -> Result<(), WatchError> {
        let poll = Source::poll(self.layout.clone(), self.sink.clone())?;
        *self = poll;
        Ok(())
    }

    pub fn backend(&self) -> &'static str {
        self.backend
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Watches the folders the loader walks below `rel` (a root or a folder
    /// under `workflows/` that just appeared), each on its own. A folder
    /// that vanished, or cannot be read, is no error here: the loader
    /// reports it.
    pub fn watch_below(&mut self, rel: &str) -> notify::Result<()> {
        for dir in crate::load::fs::walk_below(&self.layout.root, rel).dirs {
            self.watch_folder(self.layout.root.join(dir))?;
        }
        Ok(())
    }

    fn watch_folder(&mut self, dir: PathBuf) -> notify::Result<()> {
        if self.folders.contains(&dir) {
            return Ok(());
        }
        match self.watcher.watch(&dir, RecursiveMode::NonRecursive) {
            Err(e) if needs_polling(&e) => return Err(e),
            Err(e) => tracing::debug!(error = %describe(&e), "folder not watched"),
            Ok(()) => {}
        }
        self.folders.insert(dir);
        Ok(())
    }

    /// Stops watching `dir` and the folders below it (it was removed or
    /// moved away; the poll watcher would otherwise report it missing on
    /// every pass).
    pub fn unwatch_below(&mut self, dir: &Path) {
        let gone: Vec<PathBuf> = self
            .folders
            .iter()
            .filter(|f| f.starts_with(dir))
            .cloned()
            .collect();
        for folder in gone {
            // Already gone with the folder (inotify drops it itself).
            let _ = self.watcher.unwatch(&folder);
            self.folders.remove(&folder);
        }
    }

    fn watch_all(&mut self) -> notify::Result<()> {
        let layout = self.layout.clone();
        // The root must be watchable; the rest may be missing.
        self.watcher
            .watch(&layout.root, RecursiveMode::NonRecursive)?;
        self.folders.clear();
        for dir in crate::load::fs::walk(&layout.root).dirs {
            self.watch_folder(layout.root.join(dir))?;
        }
        if let Some(git_dir) = &layout.git_dir {
            ignore_missing(self.watcher.watch(git_dir, RecursiveMode::NonRecursive))?;
        }
        if let Some(common) = &layout.common_dir
            && Some(common) != layout.git_dir.as_ref()
        {
            // packed-refs lives in the common dir of a linked worktree.
            ignore_missing(self.watcher.watch(common, RecursiveMode::NonRecursive))?;
        }
        if let Some(heads) = layout.refs_heads()
            && heads.is_dir()
        {
            ignore_missing(self.watcher.watch(&heads, RecursiveMode::Recursive))?;
        }
        Ok(())
    }
}

fn ignore_missing(res: notify::Result<()>) -> notify::Result<()> {
    match res {
        Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => Ok(()),
        Err(notify::Error {
            kind: notify::ErrorKind::Io(ref io),
            ..
        }) if io.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn native_name() -> &'static str {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        "inotify"
    } else if cfg!(target_os = "macos") {
        "fsevent"
    } else if cfg!(windows) {
        "windows"
    } else {
        "kqueue"
    }
}

/// A watch limit or an unsupported filesystem: polling still works there.
pub fn needs_polling(e: &notify::Error) -> bool {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => true,
        notify::ErrorKind::Io(io) => {
            io.kind() == std::io::ErrorKind::Unsupported
                || matches!(
                    io.raw_os_error(),
                    // ENOSPC (watch limit), EMFILE (instance limit), ENOSYS.
                    Some(28) | Some(24) | Some(38)
                )
        }
        notify::ErrorKind::Generic(msg) => {
            let msg = msg.to_ascii_lowercase();
            msg.contains("not supported") || msg.contains("unsupported")
        }
        _ => false,
    }
}

/// A watcher error in words, with the paths it concerns.
pub fn describe(e: &notify::Error) -> String {
    let what = match &e.kind {
        notify::ErrorKind::MaxFilesWatch => {
            "the system limit on watches is reached (raise fs.inotify.max_user_watches)".to_string()
        }
        notify::ErrorKind::Io(io) => io.to_string(),
        notify::ErrorKind::Generic(msg) => msg.clone(),
        notify::ErrorKind::PathNotFound => "path not found".to_string(),
        notify::ErrorKind::WatchNotFound => "watch not found".to_string(),
        notify::ErrorKind::InvalidConfig(c) => format!("invalid watcher configuration: {c:?}"),
    };
    if e.paths.is_empty() {
        what
    } else {
        let paths: Vec<String> = e.paths.iter().map(|p| p.display().to_string()).collect();
        format!("{what} ({})", paths.join(", "))
    }
}
