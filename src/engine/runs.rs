//! Stage `apply` (runs): workflow runs pinned to the definition they started
//! with.
//!
//! A run holds an `Arc` of the exact workflow version in force when it
//! started; reloads swap snapshots and never touch it. In memory only. No
//! I/O; the lock is held for one map operation, never across an `.await`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, MutexGuard};
use std::time::SystemTime;

use crate::engine::snapshot::Snapshot;
use crate::model::Workflow;

/// Runs kept in memory; the oldest are forgotten beyond this.
pub const MAX_RUNS: usize = 10_000;

/// One run of a workflow.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: String,
    pub workflow_id: String,
    /// The revision whose definition the run uses.
    pub revision: u64,
    /// The file the definition was read from.
    pub file: String,
    pub definition: Arc<Workflow>,
    pub started_at: SystemTime,
    /// Completed steps in completion order.
    pub completed: Vec<CompletedStep>,
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

impl Run {
    pub fn is_finished(&self) -> bool {
        self.completed.len() == self.definition.steps.len()
    }

    /// Whether a newer definition of the workflow is in force in `now`.
    pub fn definition_status(&self, now: &Snapshot) -> DefinitionStatus {
        match now.workflow(&self.workflow_id) {
            None => DefinitionStatus::Removed,
            Some(served) if Arc::ptr_eq(&served.value, &self.definition) => {
                DefinitionStatus::Current
            }
            Some(served) if *served.value == *self.definition => DefinitionStatus::Current,
            Some(served) => DefinitionStatus::Newer {
                revision: served.revision,
            },
        }
    }
}

/// Why a run operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
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
    #[error("step `{step}` of run `{run}` is already completed")]
    AlreadyCompleted { run: String, step: String },
}

/// Every run, by id.
#[derive(Debug, Default)]
pub struct RunStore {
    next: AtomicU64,
    inner: Mutex<Runs>,
}

#[derive(Debug, Default)]
struct Runs {
    by_id: HashMap<String, Run>,
    order: VecDeque<String>,
}

impl RunStore {
    /// Starts a run of `workflow_id` as defined in `snapshot`.
    pub fn start(&self, snapshot: &Snapshot, workflow_id: &str) -> Result<Run, RunError> {
        let served = snapshot
            .workflow(workflow_id)
            .ok_or_else(|| RunError::UnknownWorkflow(workflow_id.to_string()))?;
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let run = Run {
            id: format!("run-{n}"),
            workflow_id: workflow_id.to_string(),
            revision: served.revision,
            file: served.file.to_string(),
            definition: Arc::clone(&served.value),
            started_at: SystemTime::now(),
            completed: Vec::new(),
        };
        let mut runs = self.lock();
        runs.order.push_back(run.id.clone());
        runs.by_id.insert(run.id.clone(), run.clone());
        while runs.order.len() > MAX_RUNS {
            if let Some(old) = runs.order.pop_front() {
                runs.by_id.remove(&old);
            }
        }
        Ok(run)
    }

    /// The runs not finished yet, oldest first.
    pub fn in_progress(&self) -> Vec<Run> {
        let runs = self.lock();
        runs.order
            .iter()
            .filter_map(|id| runs.by_id.get(id))
            .filter(|run| !run.is_finished())
            .cloned()
            .collect()
    }

    pub fn get(&self, id: &str) -> Option<Run> {
        self.lock().by_id.get(id).cloned()
    }

    /// Marks `step` of run `id` done, against the run's own definition.
    pub fn complete_step(&self, id: &str, step: &str) -> Result<Run, RunError> {
        let mut runs = self.lock();
        let run = runs
            .by_id
            .get_mut(id)
            .ok_or_else(|| RunError::UnknownRun(id.to_string()))?;
        if !run.definition.steps.iter().any(|s| s.id == step) {
            return Err(RunError::UnknownStep {
                run: id.to_string(),
                workflow: run.workflow_id.clone(),
                step: step.to_string(),
            });
        }
        if run.completed.iter().any(|c| c.step == step) {
            return Err(RunError::AlreadyCompleted {
                run: id.to_string(),
                step: step.to_string(),
            });
        }
        run.completed.push(CompletedStep {
            step: step.to_string(),
            at: SystemTime::now(),
        });
        Ok(run.clone())
    }

    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Runs> {
        self.inner.lock()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::diagnostic::Pos;
    use crate::engine::snapshot::Served;
    use crate::model::Step;

    fn workflow(steps: &[&str]) -> Workflow {
        Workflow {
            id: "smoke".into(),
            name: "Smoke".into(),
            description: None,
            ticket_types: vec![],
            steps: steps
                .iter()
                .map(|s| Step {
                    id: (*s).into(),
                    name: s.to_uppercase(),
                    estimated_minutes: 5,
                    integration: None,
                    checklist: vec![],
                    integration_pos: Pos::START,
                })
                .collect(),
            id_pos: Pos::START,
        }
    }

    fn snapshot_with(w: Option<Workflow>, revision: u64) -> Snapshot {
        let mut s = Snapshot::empty();
        s.revision = revision;
        if let Some(w) = w {
            s.workflows.insert(
                Arc::from(w.id.as_str()),
                Arc::new(Served {
                    value: Arc::new(w),
                    file: Arc::from("workflows/smoke.yaml"),
                    text: Arc::from(""),
                    revision,
                }),
            );
        }
        s
    }

    #[test]
    fn a_run_keeps_its_definition_through_edits_and_deletion() {
        let store = RunStore::default();
        let v1 = snapshot_with(Some(workflow(&["a", "b"])), 1);
        let run = store.start(&v1, "smoke").unwrap();
        assert_eq!(run.revision, 1);

        let v2 = snapshot_with(Some(workflow(&["a", "c"])), 2);
        assert_eq!(
            run.definition_status(&v2),
            DefinitionStatus::Newer { revision: 2 }
        );
        // Completing works against the pinned definition: `b` exists there.
        let run = store.complete_step(&run.id, "b").unwrap();
        assert_eq!(run.completed[0].step, "b");
        assert!(matches!(
            store.complete_step(&run.id, "c"),
            Err(RunError::UnknownStep { .. })
        ));
        assert!(matches!(
            store.complete_step(&run.id, "b"),
            Err(RunError::AlreadyCompleted { .. })
        ));
        let v3 = snapshot_with(None, 3);
        assert_eq!(run.definition_status(&v3), DefinitionStatus::Removed);
        assert_eq!(run.definition_status(&v1), DefinitionStatus::Current);
        let run = store.complete_step(&run.id, "a").unwrap();
        assert!(run.is_finished());
    }

    #[test]
    fn unknown_workflow_and_run_are_refused() {
        let store = RunStore::default();
        let empty = snapshot_with(None, 1);
        assert_eq!(
            store.start(&empty, "nope").unwrap_err(),
            RunError::UnknownWorkflow("nope".into())
        );
        assert_eq!(
            store.complete_step("run-9", "a").unwrap_err(),
            RunError::UnknownRun("run-9".into())
        );
        assert!(store.get("run-9").is_none());
    }
}
