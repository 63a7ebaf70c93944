//! Table tests of the applier without the watcher: a starting disk, a
//! batch, the expected event. After every batch the state in force must be
//! what `load::resolve` gives on the whole disk against the previous
//! snapshot.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::diagnostic::EntityKind;
use crate::diff::patch::PatchKind;
use crate::load::config;
use crate::load::fs;
use crate::load::resolve::Pick;
use crate::model::SETTINGS_FILE;
use crate::test_support::{Captured, assert_errors};

fn wf(id: Option<&str>, name: &str, integration: Option<&str>) -> String {
    let mut s = String::new();
    if let Some(id) = id {
        s.push_str(&format!("id: {id}\n"));
    }
    s.push_str(&format!(
        "name: {name}\nsteps:\n  - id: s\n    name: S\n    estimated_minutes: 1\n"
    ));
    if let Some(i) = integration {
        s.push_str(&format!("    integration: {i}\n"));
    }
    s
}

const JIRA: &str = "enabled: false\nbase_url: https://x.example\nemail: a@b.c\napi_token: t\n";
const BROKEN: &str = "name: [unclosed\n";

enum Op {
    Write(&'static str, String),
    Delete(&'static str),
    Rename(&'static str, &'static str),
}

struct Case {
    name: &'static str,
    disk: Vec<(&'static str, String)>,
    batch: Vec<Op>,
    /// (kind, id, op, file) of every patch; `None`: no revision.
    patches: Option<Vec<(EntityKind, &'static str, PatchKind, &'static str)>>,
    /// (file, message start) of every error in force after the batch.
    errors: Vec<(&'static str, &'static str)>,
    /// Workflow id → file serving it after the batch.
    served: Vec<(&'static str, &'static str)>,
}

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn applier(root: &Path) -> Applier {
    let env: SharedEnv = Arc::new(|_| None);
    Applier::new(root.to_path_buf(), None, env).unwrap()
}

/// The whole disk resolved from scratch against `previous`: the served
/// files by id and the errors, as the engine must hold them.
pub(super) fn check_against_disk(root: &Path, previous: &Snapshot, now: &Snapshot, name: &str) {
    let (files, mut read_errors) = fs::read_tree(root, &|_| false);
    let loads = config::load_files(&files, &|_| None);
    let (resolution, errors) = config::resolution(&loads, &previous.previous());
    read_errors.extend(errors);
    crate::load::resolve::sort_errors(&mut read_errors);
    let want: BTreeMap<String, String> = resolution
        .workflows
        .iter()
        .map(|(id, p)| (id.clone(), p.file().to_string()))
        .collect();
    let got: BTreeMap<String, String> = now
        .workflows
        .iter()
        .map(|(id, s)| (id.to_string(), s.file.to_string()))
        .collect();
    assert_eq!(got, want, "{name}: served workflows vs resolve(disk)");
    for (id, pick) in &resolution.workflows {
        let served = now.workflows.get(id.as_str()).unwrap();
        match pick {
            Pick::Kept(_) => assert!(
                Arc::ptr_eq(served, previous.workflows.get(id.as_str()).unwrap()),
                "{name}: `{id}` must keep its last good version"
            ),
            Pick::Read(file) => {
                let Some(config::Entity::Workflow(w)) = &loads[file].entity else {
                    panic!("{name}: {file} has no workflow");
                };
                assert_eq!(&*served.value, w, "{name}: `{id}` is the file's version");
            }
        }
    }
    let kinds: Vec<_> = resolution.integrations.keys().copied().collect();
    let served: Vec<_> = now.integrations.keys().copied().collect();
    assert_eq!(served, kinds, "{name}: integrations");
    let shown = |e: &ConfigError| (e.file.clone(), e.line, e.column, e.message.clone());
    let want: Vec<_> = read_errors.iter().map(shown).collect();
    let got: Vec<_> = now.errors.iter().map(shown).collect();
    assert_eq!(got, want, "{name}: errors vs resolve(disk)");
}

fn run(case: Case) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (path, text) in &case.disk {
        write(root, path, text);
    }
    let mut applier = applier(root);
    applier
        .apply(Input::full(CauseKind::Startup))
        .unwrap()
        .unwrap();
    let before = Arc::clone(applier.current());
    check_against_disk(root, &Snapshot::empty(), &before, case.name);
    let mut paths = Vec::new();
    for op in &case.batch {
        match op {
            Op::Write(p, text) => {
                write(root, p, text);
                paths.push(p.to_string());
            }
            Op::Delete(p) => {
                std::fs::remove_file(root.join(p)).unwrap();
                paths.push(p.to_string());
            }
            Op::Rename(a, b) => {
                std::fs::create_dir_all(root.join(b).parent().unwrap()).unwrap();
                std::fs::rename(root.join(a), root.join(b)).unwrap();
                paths.extend([a.to_string(), b.to_string()]);
            }
        }
    }
    let outcome = applier.apply(Input::paths(paths)).unwrap();
    let name = case.name;
    match (&outcome, &case.patches) {
        (None, None) => {}
        (Some(o), Some(want)) => {
            let got: Vec<_> = o
                .event
                .patches
                .iter()
                .map(|p| (p.kind, p.id.as_str(), p.op, p.file.as_str()))
                .collect();
            assert_eq!(&got, want, "{name}: patches");
            assert_eq!(o.event.cause.kind, CauseKind::Edit, "{name}");
            assert_eq!(o.event.revision, before.revision + 1, "{name}");
        }
        (o, want) => panic!(
            "{name}: revision made: {}, expected: {}",
            o.is_some(),
            want.is_some()
        ),
    }
    let now = Arc::clone(applier.current());
    assert_errors(name, now.errors.iter(), &case.errors);
    let served: Vec<(String, String)> = now
        .workflows
        .iter()
        .map(|(id, s)| (id.to_string(), s.file.to_string()))
        .collect();
    let want: Vec<(String, String)> = case
        .served
        .iter()
        .map(|(id, f)| (id.to_string(), f.to_string()))
        .collect();
    assert_eq!(served, want, "{name}: served");
    check_against_disk(root, &before, &now, name);
    // Incremental equals a rebuild from disk: forgetting every read and
    // scanning again changes nothing clients see.
    applier.forget_reads();
    let rebuilt = applier.apply(Input::full(CauseKind::Rescan)).unwrap();
    assert!(
        rebuilt.is_none(),
        "{name}: a rebuild found changes: {:?}",
        rebuilt.map(|o| o.event.summary.clone())
    );
}

use EntityKind::{Integration as I, Workflow as W};
use PatchKind::{Added, Modified, Removed};

#[test]
fn table() {
    let cases = vec![
        Case {
            name: "a reference error takes a file out before ids are chosen",
            disk: vec![],
            batch: vec![
                Op::Write("workflows/a.yaml", wf(Some("x"), "A", Some("jira"))),
                Op::Write("workflows/b.yaml", wf(Some("x"), "B", None)),
            ],
            patches: Some(vec![(W, "x", Added, "workflows/b.yaml")]),
            errors: vec![("workflows/a.yaml", "step `s` uses integration `jira`")],
            served: vec![("x", "workflows/b.yaml")],
        },
        Case {
            name: "the file already serving an id keeps it",
            disk: vec![("workflows/b.yaml", wf(Some("x"), "B", None))],
            batch: vec![Op::Write("workflows/a.yaml", wf(Some("x"), "A", None))],
            patches: Some(vec![]),
            errors: vec![(
                "workflows/a.yaml",
                "workflow id `x` is already used by workflows/b.yaml",
            )],
            served: vec![("x", "workflows/b.yaml")],
        },
        Case {
            name: "an integration appearing re-checks every workflow",
            disk: vec![
                ("workflows/a.yaml", wf(Some("x"), "A", Some("jira"))),
                ("workflows/b.yaml", wf(Some("y"), "B", Some("jira"))),
            ],
            batch: vec![Op::Write("config/jira_config.yaml", JIRA.to_string())],
            patches: Some(vec![
                (W, "x", Added, "workflows/a.yaml"),
                (W, "y", Added, "workflows/b.yaml"),
                (I, "jira", Added, "config/jira_config.yaml"),
            ]),
            errors: vec![],
            served: vec![("x", "workflows/a.yaml"), ("y", "workflows/b.yaml")],
        },
        Case {
            name: "an integration going away keeps the last good workflows",
            disk: vec![
                ("workflows/a.yaml", wf(Some("x"), "A", Some("jira"))),
                ("config/jira_config.yaml", JIRA.to_string()),
            ],
            batch: vec![Op::Delete("config/jira_config.yaml")],
            patches: Some(vec![(I, "jira", Removed, "config/jira_config.yaml")]),
            errors: vec![("workflows/a.yaml", "step `s` uses integration `jira`")],
            served: vec![("x", "workflows/a.yaml")],
        },
        Case {
            name: "a broken file keeps its last good version",
            disk: vec![("workflows/a.yaml", wf(Some("x"), "A", None))],
            batch: vec![Op::Write("workflows/a.yaml", BROKEN.to_string())],
            patches: Some(vec![]),
            errors: vec![("workflows/a.yaml", "")],
            served: vec![("x", "workflows/a.yaml")],
        },
        Case {
            name: "a broken holder yields to a valid duplicate",
            disk: vec![
                ("workflows/a.yaml", wf(Some("x"), "A", None)),
                ("workflows/b.yaml", wf(Some("x"), "B", None)),
            ],
            batch: vec![Op::Write("workflows/a.yaml", BROKEN.to_string())],
            patches: Some(vec![(W, "x", Modified, "workflows/b.yaml")]),
            errors: vec![("workflows/a.yaml", "")],
            served: vec![("x", "workflows/b.yaml")],
        },
        Case {
            name: "the holder deleted, the duplicate takes over",
            disk: vec![
                ("workflows/a.yaml", wf(Some("x"), "A", None)),
                ("workflows/b.yaml", wf(Some("x"), "B", None)),
            ],
            batch: vec![Op::Delete("workflows/a.yaml")],
            patches: Some(vec![(W, "x", Modified, "workflows/b.yaml")]),
            errors: vec![],
            served: vec![("x", "workflows/b.yaml")],
        },
        Case {
            name: "a rename with the same id is one modified entity",
            disk: vec![("workflows/login.yaml", wf(Some("login"), "L", None))],
            batch: vec![Op::Rename("workflows/login.yaml", "workflows/a-login.yaml")],
            patches: Some(vec![(W, "login", Modified, "workflows/a-login.yaml")]),
            errors: vec![],
            served: vec![("login", "workflows/a-login.yaml")],
        },
        Case {
            name: "a rename into a new folder",
            disk: vec![("workflows/login.yaml", wf(Some("login"), "L", None))],
            batch: vec![Op::Rename(
                "workflows/login.yaml",
                "workflows/new/login.yaml",
            )],
            patches: Some(vec![(W, "login", Modified, "workflows/new/login.yaml")]),
            errors: vec![],
            served: vec![("login", "workflows/new/login.yaml")],
        },
        Case {
            name: "an id change is removed + added",
            disk: vec![("workflows/a.yaml", wf(Some("x"), "A", None))],
            batch: vec![Op::Write("workflows/a.yaml", wf(Some("y"), "A", None))],
            patches: Some(vec![
                (W, "x", Removed, "workflows/a.yaml"),
                (W, "y", Added, "workflows/a.yaml"),
            ]),
            errors: vec![],
            served: vec![("y", "workflows/a.yaml")],
        },
        Case {
            name: "two files swap ids",
            disk: vec![
                ("workflows/a.yaml", wf(Some("x"), "A", None)),
                ("workflows/b.yaml", wf(Some("y"), "B", None)),
            ],
            batch: vec![
                Op::Write("workflows/a.yaml", wf(Some("y"), "A", None)),
                Op::Write("workflows/b.yaml", wf(Some("x"), "B", None)),
            ],
            patches: Some(vec![
                (W, "x", Modified, "workflows/b.yaml"),
                (W, "y", Modified, "workflows/a.yaml"),
            ]),
            errors: vec![],
            served: vec![("x", "workflows/b.yaml"), ("y", "workflows/a.yaml")],
        },
        Case {
            name: "a reference error on the holder keeps its last good version",
            disk: vec![("workflows/a.yaml", wf(Some("x"), "A", None))],
            batch: vec![Op::Write(
                "workflows/a.yaml",
                wf(Some("x"), "A2", Some("jira")),
            )],
            patches: Some(vec![]),
            errors: vec![("workflows/a.yaml", "step `s` uses integration `jira`")],
            served: vec![("x", "workflows/a.yaml")],
        },
        Case {
            name: "a touch without a change makes no revision",
            disk: vec![("workflows/a.yaml", wf(Some("x"), "A", None))],
            batch: vec![Op::Write("workflows/a.yaml", wf(Some("x"), "A", None))],
            patches: None,
            errors: vec![],
            served: vec![("x", "workflows/a.yaml")],
        },
        Case {
            name: "an invalid integration keeps its last good version",
            disk: vec![("config/jira_config.yaml", JIRA.to_string())],
            batch: vec![Op::Write("config/jira_config.yaml", BROKEN.to_string())],
            patches: Some(vec![]),
            errors: vec![("config/jira_config.yaml", "")],
            served: vec![],
        },
    ];
    for case in cases {
        run(case);
    }
}

#[test]
fn a_panic_in_any_phase_leaves_the_applier_as_it_was_and_rebuilds() {
    for phase in ["read", "resolve", "patches", "commit"] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "workflows/a.yaml", &wf(Some("x"), "A", None));
        let mut a = applier(root);
        a.apply(Input::full(CauseKind::Startup)).unwrap().unwrap();
        write(root, "workflows/a.yaml", &wf(Some("x"), "A2", None));
        a.fault.set(Some(phase));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            a.apply(Input::paths(["workflows/a.yaml"]))
        }));
        assert!(caught.is_err(), "{phase}");
        assert_eq!(a.current().revision, 1, "{phase}: nothing committed");
        assert_eq!(a.current().workflows["x"].value.name, "A", "{phase}");

        // Through `apply_caught`: the panic is logged as an error and the
        // disk read again, so the change still arrives, as a rescan. (The
        // fault fires once; the rebuild runs clean.)
        a.fault.set(Some(phase));
        let ((mut a, outcome), log) = Captured::during(tracing::Level::INFO, || {
            apply_caught(a, Input::paths(["workflows/a.yaml"]))
        });
        let outcome = outcome.expect("the rebuild applies the change");
        assert_eq!(outcome.event.cause.kind, CauseKind::Rescan, "{phase}");
        assert_eq!(outcome.event.revision, 2, "{phase}");
        let ids: Vec<_> = outcome
            .event
            .patches
            .iter()
            .map(|p| (p.id.as_str(), p.op))
            .collect();
        assert_eq!(ids, [("x", Modified)], "{phase}");
        assert_eq!(a.current().workflows["x"].value.name, "A2", "{phase}");
        let log = log.text();
        assert!(log.contains("ERROR"), "{phase}: {log}");
        assert!(log.contains("injected fault in phase"), "{phase}: {log}");
        assert!(a.apply(Input::full(CauseKind::Rescan)).unwrap().is_none());
    }
}

/// The settings file is read once per batch: the globs a batch reads the
/// tree with are the globs it publishes. Saves replacing the settings
/// race the batches; after
/// each batch, `b` must be served exactly when the settings in force do
/// not ignore it. (Read twice, a save landing between the two reads
/// published new globs without reading the files they let in or out; so
/// did a settings file read empty mid-save, then read again whole.)
#[test]
fn a_settings_save_during_a_batch_never_splits_globs_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    write(&root, "workflows/a.yaml", &wf(Some("a"), "A", None));
    write(&root, "workflows/b.yaml", &wf(Some("b"), "B", None));
    let ignoring = "ignore: [\"workflows/b.yaml\"]\n";
    let watching = "debounce_ms: 40\n";
    write(&root, SETTINGS_FILE, watching);
    let mut a = applier(&root);
    a.apply(Input::full(CauseKind::Startup)).unwrap().unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (root, stop) = (root.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let tmp = root.join("config/hot_reload.yaml.saving");
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = if n.is_multiple_of(2) {
                    ignoring
                } else {
                    watching
                };
                // Renamed into place, or written in place (read empty
                // between its truncate and its write). Fails only once the
                // test has ended and removed the folder.
                let saved = if n % 4 < 2 {
                    std::fs::write(&tmp, text)
                        .and_then(|()| std::fs::rename(&tmp, root.join(SETTINGS_FILE)))
                } else {
                    std::fs::write(root.join(SETTINGS_FILE), text)
                };
                if saved.is_err() {
                    break;
                }
                n += 1;
            }
        })
    };
    let mut seen = [false; 2];
    for i in 0..500 {
        a.apply(Input::paths([SETTINGS_FILE])).unwrap();
        let now = a.current();
        let ignores_b = !now.settings.ignore.is_empty();
        seen[usize::from(ignores_b)] = true;
        assert_eq!(
            now.workflow("b").is_some(),
            !ignores_b,
            "batch {i}: the settings ignore b: {ignores_b}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(seen, [true, true], "both settings were applied");
}

/// An early batch whose closed file only grew (an append, or a new file)
/// is declined unapplied, so the watcher waits the quiet period; the same
/// batch with a file rewritten, or renamed into place, is applied.
#[test]
fn an_early_close_that_only_appended_is_declined_unapplied() {
    use std::time::Instant;

    use crate::watch::{Claim, Early};

    /// The batch the watcher sends early, naming `closed` as closed.
    fn sent_early(closed: &[&str]) -> (Input, Arc<Claim>) {
        let claim = Arc::new(Claim::default());
        let mut input = Input::paths(["workflows/a.yaml", "workflows/b.yaml"]);
        input.early = Some(Early {
            not_before: Instant::now(),
            claim: Arc::clone(&claim),
            closed: closed.iter().map(|p| p.to_string()).collect(),
        });
        (input, claim)
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "workflows/a.yaml", "name: A\n");
    let mut a = applier(root);
    a.apply(Input::full(CauseKind::Startup)).unwrap().unwrap();

    // A line added at the end of a known file: declined.
    write(root, "workflows/a.yaml", "name: A\nsteps: []\n");
    let (input, claim) = sent_early(&["workflows/a.yaml"]);
    assert!(a.apply(input).unwrap().is_none());
    assert!(claim.is_declined());
    // A new file written in place: declined.
    write(root, "workflows/b.yaml", "name: B\n");
    let (input, claim) = sent_early(&["workflows/b.yaml"]);
    assert!(a.apply(input).unwrap().is_none());
    assert!(claim.is_declined());
    assert_eq!(a.current().revision, 1, "nothing applied");

    // The same files renamed into place (not closed): applied.
    let (input, claim) = sent_early(&[]);
    let outcome = a.apply(input).unwrap().expect("a revision");
    assert!(!claim.is_declined());
    assert_eq!(outcome.event.revision, 2);
    // A rewrite that is not an append: applied.
    write(root, "workflows/a.yaml", &wf(None, "A rewritten", None));
    let (input, claim) = sent_early(&["workflows/a.yaml"]);
    assert!(a.apply(input).unwrap().is_some());
    assert!(!claim.is_declined());
}
