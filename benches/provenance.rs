//! Benchmark: what `serve --follow` pays per file of the repository.
//!
//! 1. Who last changed each file, computed at start from the branch's
//!    history (`Mirror::last_changes`, at most `HISTORY_LIMIT` commits
//!    back): (a) 1,000 workflows each added by its own commit (the walk
//!    goes back 1,000 commits); (b) 1,000 workflows added in one commit,
//!    then 2,000 commits that each change one of ten files (the walk stops
//!    at the limit; the files not met by then have no known last change,
//!    and the figure says how many).
//! 2. A new head that changes one workflow of 1,000: the trees' diff and
//!    the one file read, against listing and reading every file (what a
//!    commit cost before the diff).
//!
//! Run: `cargo bench --bench provenance` (release build).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use qa_reload::git::{HISTORY_LIMIT, Mirror};
use qa_reload::load::fs::ROOTS;

const RUNS: usize = 7;

fn workflow(i: usize, minutes: usize) -> String {
    format!(
        "name: Workflow {i}\nsteps:\n  - id: a\n    name: Step of {i}\n    estimated_minutes: {minutes}\n"
    )
}

/// A bare repository at `dir` whose `main` is the commits `commits` gives,
/// oldest first, each a list of (path, content), written by `git
/// fast-import` (seconds for thousands of commits).
fn import(dir: &Path, commits: &[Vec<(String, String)>]) {
    let status = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .expect("git init");
    assert!(status.success());
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::piped())
        .spawn()
        .expect("git fast-import");
    let mut stream = Vec::new();
    for (n, files) in commits.iter().enumerate() {
        let message = format!("commit {n}");
        writeln!(stream, "commit refs/heads/main").unwrap_or(());
        writeln!(
            stream,
            "author QA Tester <qa@example.com> {} +0000",
            1_700_000_000 + n
        )
        .unwrap_or(());
        writeln!(
            stream,
            "committer QA Tester <qa@example.com> {} +0000",
            1_700_000_000 + n
        )
        .unwrap_or(());
        writeln!(stream, "data {}\n{message}", message.len()).unwrap_or(());
        for (path, text) in files {
            writeln!(
                stream,
                "M 100644 inline {path}\ndata {}\n{text}",
                text.len()
            )
            .unwrap_or(());
        }
        writeln!(stream).unwrap_or(());
    }
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&stream).expect("feed fast-import");
    drop(stdin);
    assert!(child.wait().expect("fast-import").success());
}

fn path(i: usize) -> String {
    format!("workflows/w{i:04}.yaml")
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The mirror of `remote`, fetched, and its head.
fn mirror(data: &Path, remote: &Path) -> (Mirror, String) {
    let mirror = Mirror::open(
        &data.join("mirror.git"),
        remote.to_str().expect("utf-8 path"),
        "main",
    )
    .expect("open the mirror");
    let head = mirror.fetch().expect("fetch");
    (mirror, head)
}

fn history(label: &str, commits: &[Vec<(String, String)>]) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let remote = tmp.path().join("remote.git");
    import(&remote, commits);
    let (mirror, head) = mirror(tmp.path(), &remote);
    let tree = mirror.tree_at(&head, &ROOTS).expect("tree");
    let paths = tree.paths().expect("paths");
    let mut found = 0;
    let times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            let changes = mirror
                .last_changes(&head, &paths, &ROOTS, HISTORY_LIMIT)
                .expect("history");
            found = changes.len();
            started.elapsed()
        })
        .collect();
    println!(
        "{label:<58} median {:>8.1} ms  ({found} of {} files attributed, {} commits)",
        ms(median(times)),
        paths.len(),
        commits.len(),
    );
}

fn main() {
    println!("1. who last changed each file, at start (limit {HISTORY_LIMIT} commits)");
    let each_own: Vec<Vec<(String, String)>> =
        (0..1000).map(|i| vec![(path(i), workflow(i, 5))]).collect();
    history("a. 1,000 files, each added by its own commit", &each_own);
    let mut busy: Vec<Vec<(String, String)>> =
        vec![(0..1000).map(|i| (path(i), workflow(i, 5))).collect()];
    busy.extend((0..2000).map(|n| vec![(path(n % 10), workflow(n % 10, 6 + n))]));
    history(
        "b. 1,000 files in one commit, then 2,000 commits on ten",
        &busy,
    );

    println!("2. a new head changing one workflow of 1,000");
    let tmp = tempfile::tempdir().expect("tempdir");
    let remote = tmp.path().join("remote.git");
    let mut two: Vec<Vec<(String, String)>> =
        vec![(0..1000).map(|i| (path(i), workflow(i, 5))).collect()];
    two.push(vec![(path(500), workflow(500, 9))]);
    import(&remote, &two);
    let (mirror, head) = mirror(tmp.path(), &remote);
    let parent = Command::new("git")
        .args(["rev-parse", "main~1"])
        .current_dir(&remote)
        .output()
        .expect("rev-parse");
    let old = mirror
        .tree_at(String::from_utf8_lossy(&parent.stdout).trim(), &ROOTS)
        .expect("old tree");
    let diffed: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let new = mirror.tree_at(&head, &ROOTS).expect("tree");
            let started = Instant::now();
            let changed = new.changed_since(&old).expect("same mirror").expect("diff");
            for p in &changed {
                new.read(p);
            }
            assert_eq!(new.files_read(), 1);
            started.elapsed()
        })
        .collect();
    let whole: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let new = mirror.tree_at(&head, &ROOTS).expect("tree");
            let started = Instant::now();
            for p in new.paths().expect("paths") {
                new.read(&p);
            }
            assert_eq!(new.files_read(), 1000);
            started.elapsed()
        })
        .collect();
    println!(
        "{:<58} median {:>8.3} ms  (1 file read)",
        "diff of the two trees + the changed file",
        ms(median(diffed))
    );
    println!(
        "{:<58} median {:>8.3} ms  (1,000 files read)",
        "every file listed and read (before)",
        ms(median(whole))
    );
}
