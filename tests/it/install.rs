//! What the README's Install section promises: the git pre-commit hook
//! (refusing a broken commit through a real `git commit`), the
//! `.pre-commit-hooks.yaml` entry, shell completions and the man page.

use std::path::Path;
use std::process::Command;

use qa_reload::load::node::Value;
use qa_reload::load::yaml::{Limits, parse};

use crate::util::{TestRepo, qa_reload, text};

const GOOD: &str =
    "name: Smoke\nsteps:\n  - id: login\n    name: Log in\n    estimated_minutes: 5\n";

#[test]
fn the_hook_refuses_a_broken_commit_and_lets_a_valid_one_through() {
    let repo = TestRepo::new();
    repo.commit(&[("README.md", "qa\n")], "first");
    let out = qa_reload(&["hook", "install", "--repo", "."], &repo.root);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).starts_with("installed "), "{}", text(&out));
    let hook = repo.root.join(".git/hooks/pre-commit");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&hook).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "the hook is executable");
    }

    // A broken workflow: refused, the error printed.
    repo.write(
        "workflows/smoke.yaml",
        &GOOD.replace("estimated_minutes: 5", "estimated_minutes: 0"),
    );
    repo.git(&["add", "-A"]);
    let out = repo.commit_with_hooks("broken");
    assert!(!out.status.success(), "a broken commit went through");
    let shown = text(&out);
    assert!(
        shown.contains(
            "workflows/smoke.yaml:5:24: schema: `estimated_minutes` must be between 1 and 1440"
        ),
        "{shown}"
    );
    assert_eq!(repo.git(&["rev-list", "--count", "HEAD"]), "1");

    // Fixed: it goes through.
    repo.write("workflows/smoke.yaml", GOOD);
    repo.git(&["add", "-A"]);
    let out = repo.commit_with_hooks("valid");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(repo.git(&["rev-list", "--count", "HEAD"]), "2");

    // A commit that touches no workflow or config does not run check (a
    // broken file left unstaged does not block it).
    repo.write("workflows/smoke.yaml", "name: [\n");
    repo.write("README.md", "qa, again\n");
    repo.git(&["add", "README.md"]);
    let out = repo.commit_with_hooks("docs");
    assert!(out.status.success(), "{}", text(&out));

    // Installing again updates its own hook.
    let out = qa_reload(&["hook", "install"], &repo.root);
    assert!(text(&out).starts_with("updated "), "{}", text(&out));
}

#[test]
fn a_foreign_hook_is_kept_unless_forced() {
    let repo = TestRepo::new();
    let hook = repo.root.join(".git/hooks/pre-commit");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, "#!/bin/sh\necho mine\n").unwrap();
    let out = qa_reload(&["hook", "install"], &repo.root);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&hook).unwrap(),
        "#!/bin/sh\necho mine\n"
    );

    let out = qa_reload(&["hook", "install", "--force"], &repo.root);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).starts_with("replaced "), "{}", text(&out));
    assert!(
        std::fs::read_to_string(&hook)
            .unwrap()
            .contains("qa-reload")
    );

    // With `core.hooksPath` set, the hook goes where git will run it.
    repo.git(&["config", "core.hooksPath", ".githooks"]);
    let out = qa_reload(&["hook", "install"], &repo.root);
    assert!(out.status.success(), "{}", text(&out));
    let moved = repo.root.join(".githooks/pre-commit");
    assert!(text(&out).contains(".githooks"), "{}", text(&out));
    assert!(
        std::fs::read_to_string(moved)
            .unwrap()
            .contains("qa-reload check")
    );

    // Outside git there is nothing to install into.
    let dir = tempfile::tempdir().unwrap();
    let out = qa_reload(&["hook", "install"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("not in a git repository"),
        "{}",
        text(&out)
    );
}

/// A hook that is a symbolic link is never written through: whatever it
/// points to (a hook shared with other repositories, a file outside the
/// repository, nothing yet) stays as it was; `--force` replaces the link.
#[cfg(unix)]
#[test]
fn a_hook_that_is_a_symbolic_link_is_never_written_through() {
    let repo = TestRepo::new();
    let outside = tempfile::tempdir().unwrap();
    let hooks = repo.root.join(".git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let hook = hooks.join("pre-commit");
    // A shared hook qa-reload once wrote, a foreign one, and a dangling link.
    let shared = outside.path().join("shared");
    std::fs::write(&shared, "#!/bin/sh\n# qa-reload pre-commit hook (old)\n").unwrap();
    let foreign = outside.path().join("foreign");
    std::fs::write(&foreign, "#!/bin/sh\necho mine\n").unwrap();
    let missing = outside.path().join("missing");
    for target in [&shared, &foreign, &missing] {
        let _ = std::fs::remove_file(&hook);
        std::os::unix::fs::symlink(target, &hook).unwrap();
        let before = std::fs::read(target).ok();

        let out = qa_reload(&["hook", "install"], &repo.root);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains("symbolic link"), "{}", text(&out));
        assert!(text(&out).contains("--force"), "{}", text(&out));
        assert_eq!(std::fs::read(target).ok(), before, "{target:?} unchanged");
        assert!(hook.symlink_metadata().unwrap().file_type().is_symlink());

        let out = qa_reload(&["hook", "install", "--force"], &repo.root);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(std::fs::read(target).ok(), before, "{target:?} unchanged");
        let meta = hook.symlink_metadata().unwrap();
        assert!(
            meta.file_type().is_file(),
            "the link was replaced by a file"
        );
        assert!(
            std::fs::read_to_string(&hook)
                .unwrap()
                .contains("qa-reload check")
        );
    }
    // No temporary file is left beside the hook.
    let left: Vec<_> = std::fs::read_dir(&hooks)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("qa-reload"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `core.hooksPath = ~/hooks` is where git runs hooks from: `~` is the home
/// folder, not a folder named `~` in the repository.
#[test]
fn a_hooks_path_under_the_home_folder_is_expanded() {
    let repo = TestRepo::new();
    let home = tempfile::tempdir().unwrap();
    repo.git(&["config", "core.hooksPath", "~/team-hooks"]);
    let out = Command::new(env!("CARGO_BIN_EXE_qa-reload"))
        .args(["hook", "install"])
        .current_dir(&repo.root)
        .env("HOME", home.path())
        .output()
        .expect("qa-reload runs");
    assert!(out.status.success(), "{}", text(&out));
    assert!(home.path().join("team-hooks/pre-commit").is_file());
    assert!(!repo.root.join("~").exists(), "{}", text(&out));
}

#[test]
fn the_pre_commit_entry_runs_check_on_workflow_and_config_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(root.join(".pre-commit-hooks.yaml")).unwrap();
    let (tree, errors) = parse(&bytes, ".pre-commit-hooks.yaml", &Limits::default());
    assert!(errors.is_empty(), "{errors:?}");
    let tree = tree.unwrap();
    let Value::Seq(hooks) = &tree.value else {
        panic!("a list of hooks")
    };
    let [hook] = &hooks[..] else {
        panic!("one hook")
    };
    let get = |key: &str| hook.get(key).and_then(|e| e.value.scalar_text());
    assert_eq!(get("id").as_deref(), Some("qa-reload-check"));
    assert_eq!(get("entry").as_deref(), Some("qa-reload check"));
    assert_eq!(get("language").as_deref(), Some("rust"));
    assert_eq!(get("pass_filenames").as_deref(), Some("false"));
    let files = regex::Regex::new(&get("files").unwrap()).unwrap();
    for path in [
        "workflows/a.yaml",
        "workflows/team/b.yml",
        "config/jira_config.yaml",
        "config/hot_reload.yaml",
    ] {
        assert!(files.is_match(path), "{path}");
    }
    for path in ["README.md", "src/workflows/a.yaml", "config/sub/x.yaml"] {
        assert!(!files.is_match(path), "{path}");
    }
}

#[test]
fn the_bash_completion_loads_and_every_shell_gets_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = qa_reload(&["completions", "bash"], dir.path());
    assert!(out.status.success());
    let script = dir.path().join("qa-reload.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let bash = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(bash.status.success(), "{}", text(&bash));
    let completion = String::from_utf8_lossy(&out.stdout);
    for word in [
        "check", "serve", "diff", "schema", "hook", "github", "sarif",
    ] {
        assert!(completion.contains(word), "{word} missing");
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = qa_reload(&["completions", shell], dir.path());
        assert!(out.status.success() && !out.stdout.is_empty(), "{shell}");
    }
}

#[test]
fn the_man_page_covers_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = qa_reload(&["man"], dir.path());
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH qa-reload 1"),
        "{page}"
    );
    for command in ["check", "serve", "diff", "schema", "hook", "completions"] {
        assert!(page.contains(command), "{command} missing");
    }
    let out = qa_reload(&["man", "--out", "pages"], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    for page in [
        "qa-reload.1",
        "qa-reload-check.1",
        "qa-reload-hook-install.1",
    ] {
        assert!(dir.path().join("pages").join(page).is_file(), "{page}");
    }
}

/// `--out` naming a file (not a folder) is a usage error naming it, for
/// `man` and `schema` alike.
#[test]
fn out_naming_a_file_is_a_clear_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("taken"), "keep").unwrap();
    for args in [
        &["man", "--out", "taken"][..],
        &["schema", "--out", "taken"],
    ] {
        let out = qa_reload(args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("taken is not a folder"),
            "{args:?}: {}",
            text(&out)
        );
    }
    assert_eq!(std::fs::read(dir.path().join("taken")).unwrap(), b"keep");
}

/// A checkout may hold links where `schema --out` and `man --out` write
/// (`schemas/workflow.schema.json` pointing into the home folder): the
/// links are replaced by the files, and what they point to is not touched.
#[cfg(unix)]
#[test]
fn out_replaces_links_at_the_names_it_writes_instead_of_writing_through() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let dangling = outside.path().join("created");
    for (args, folder, name, target) in [
        (
            &["schema", "--out", "schemas"][..],
            "schemas",
            "workflow.schema.json",
            &victim,
        ),
        (
            &["schema", "--out", "schemas"],
            "schemas",
            "jira.schema.json",
            &dangling,
        ),
        (
            &["man", "--out", "pages"],
            "pages",
            "qa-reload-check.1",
            &victim,
        ),
    ] {
        let folder = dir.path().join(folder);
        std::fs::create_dir_all(&folder).unwrap();
        let link = folder.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(target, &link).unwrap();
        let out = qa_reload(args, dir.path());
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert!(
            link.symlink_metadata().unwrap().file_type().is_file(),
            "{name}"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!dangling.exists(), "{args:?} wrote through a dangling link");
        // Nothing of the run is left behind.
        for entry in std::fs::read_dir(&folder).unwrap() {
            let name = entry.unwrap().file_name();
            assert!(!name.to_string_lossy().starts_with('.'), "{name:?} left");
        }
    }
}

/// A user's hook that holds the marker line (copied from ours, with lines
/// of their own) was replaced without `--force`, losing their lines.
#[test]
fn a_hook_holding_the_marker_but_edited_is_the_users_and_kept() {
    let repo = TestRepo::new();
    let hook = repo.root.join(".git/hooks/pre-commit");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    let mine = "#!/bin/sh\n# qa-reload pre-commit hook (written by `qa-reload hook install`; rerun it to update).\nnpm test\n";
    std::fs::write(&hook, mine).unwrap();
    let out = qa_reload(&["hook", "install"], &repo.root);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("pass --force"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), mine);

    // Our own hook with one line added is the user's too.
    std::fs::remove_file(&hook).unwrap();
    assert!(qa_reload(&["hook", "install"], &repo.root).status.success());
    let edited = format!("{}echo extra\n", std::fs::read_to_string(&hook).unwrap());
    std::fs::write(&hook, &edited).unwrap();
    let out = qa_reload(&["hook", "install"], &repo.root);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), edited);
    let out = qa_reload(&["hook", "install", "--force"], &repo.root);
    assert!(text(&out).starts_with("replaced "), "{}", text(&out));
}

/// `schema --out schemas` where the checkout commits `schemas` as a link to
/// a folder outside it wrote the schemas there; and a folder at one
/// target's name stopped the run half-way, some files written.
#[cfg(unix)]
#[test]
fn schema_out_refuses_a_link_leaving_the_checkout_and_checks_every_target_first() {
    let repo = TestRepo::new();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), repo.root.join("schemas")).unwrap();
    for args in [
        &["schema", "--out", "schemas"][..],
        &["schema", "--out", "schemas/sub"],
        &["man", "--out", "schemas"],
    ] {
        let out = qa_reload(args, &repo.root);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("leads out of the checkout through a link"),
            "{args:?}: {}",
            text(&out)
        );
    }
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);

    // A link that stays inside the checkout, and a folder named outside it
    // on purpose, are written.
    std::fs::create_dir(repo.root.join("real")).unwrap();
    std::os::unix::fs::symlink(repo.root.join("real"), repo.root.join("inside")).unwrap();
    let out = qa_reload(&["schema", "--out", "inside"], &repo.root);
    assert!(out.status.success(), "{}", text(&out));
    assert!(repo.root.join("real/workflow.schema.json").is_file());
    let chosen = outside.path().join("chosen");
    let out = qa_reload(&["schema", "--out", chosen.to_str().unwrap()], &repo.root);
    assert!(out.status.success(), "{}", text(&out));
    assert!(chosen.join("workflow.schema.json").is_file());

    // A folder where one schema goes: refused before any file is written.
    let out_dir = repo.root.join("fresh");
    std::fs::create_dir_all(out_dir.join("jira.schema.json")).unwrap();
    let out = qa_reload(&["schema", "--out", "fresh"], &repo.root);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("jira.schema.json is a folder"),
        "{}",
        text(&out)
    );
    let names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["jira.schema.json"], "written anyway");
}
