//! Stage `apply`: the immutable [`Snapshot`] every reader sees.
//!
//! A snapshot is never changed after it is published: the applier builds the
//! next one and swaps it in whole. The maps are persistent (`imbl`), so the
//! next snapshot shares everything that did not change and costs what
//! changed, not the size of the repository. No I/O, no locks.

use std::sync::Arc;
use std::time::SystemTime;

use imbl::OrdMap;

use super::diagnostics::Diagnostics;
use crate::git::{CommitInfo, Head};
use crate::load::resolve::Previous;
use crate::model::{Integration, IntegrationKind, Settings, Workflow};

/// One entity as served: the last good version read from its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Served<T> {
    pub value: Arc<T>,
    /// Repository-relative path of the file it was read from.
    pub file: Arc<str>,
    /// That file's text, for the diff against the next version.
    pub text: Arc<str>,
    /// The revision that applied this version.
    pub revision: u64,
    /// Follow mode: the commit that last changed this version (author
    /// and subject masked like every served text); `None` in working-tree
    /// mode, and for a file unchanged in the history walked at start.
    pub last_change: Option<Arc<CommitInfo>>,
}

/// Everything in force at one revision.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Starts at 1 (the startup load) and grows by one per applied batch.
    pub revision: u64,
    pub at: SystemTime,
    /// Workflow id → the version in force.
    pub workflows: OrdMap<Arc<str>, Arc<Served<Workflow>>>,
    pub integrations: OrdMap<IntegrationKind, Arc<Served<Integration>>>,
    /// The settings in force: `config/hot_reload.yaml`, or the defaults when
    /// that file was never valid.
    pub settings: Arc<Settings>,
    /// Whether `settings` were read from the settings file (else defaults).
    pub settings_file: bool,
    /// Every diagnostic in force (errors and warnings), by file and position.
    pub errors: Diagnostics,
    /// Where HEAD pointed when this revision was made; `None` outside git.
    pub head: Option<Head>,
    /// Follow mode: the commit served, its texts masked as the cause's.
    pub commit: Option<CommitInfo>,
}

impl Snapshot {
    /// The state before anything was loaded (revision 0, never published).
    pub fn empty() -> Self {
        Snapshot {
            revision: 0,
            at: SystemTime::now(),
            workflows: OrdMap::new(),
            integrations: OrdMap::new(),
            settings: Arc::new(Settings::default()),
            settings_file: false,
            errors: Diagnostics::default(),
            head: None,
            commit: None,
        }
    }

    pub fn workflow(&self, id: &str) -> Option<&Arc<Served<Workflow>>> {
        self.workflows.get(id)
    }

    /// What this snapshot serves, as the history input of
    /// `load::resolve`.
    pub fn previous(&self) -> Previous {
        Previous {
            workflows: self
                .workflows
                .iter()
                .map(|(id, s)| (id.to_string(), s.file.to_string()))
                .collect(),
            integrations: self.integrations.keys().copied().collect(),
            settings: self.settings_file,
        }
    }

    /// Diagnostics of severity error (warnings left out).
    pub fn error_count(&self) -> usize {
        self.errors.error_count()
    }
}
