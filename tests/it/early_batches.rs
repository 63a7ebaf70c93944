//! Early batches under stress: a batch of complete writes is applied during
//! its window and published once or not at all. These save files in ways
//! that withdraw copies while the engine holds them (tight save loops, a
//! busy engine, settings changing, deletes and renames inside the window)
//! and check that the served state ends equal to the disk, that no revision
//! goes back to content already replaced, and that the watcher is still
//! live afterwards (a stuck claim would leave the next save unpublished).
//! Timeouts are failure guards only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use qa_reload::engine::Event;

use crate::engine::{Served, assert_serves_disk, served_name, summaries, workflow};
use crate::util::{Rng, TestRepo};

fn path(i: usize) -> String {
    format!("workflows/w{i}.yaml")
}

fn repo_with(n: usize) -> TestRepo {
    let repo = TestRepo::new();
    let files: Vec<(String, String)> = (0..n)
        .map(|i| (path(i), workflow(&format!("W{i}"), 5)))
        .collect();
    repo.commit_made(&files, "the workflows");
    repo
}

/// Waits `gap` on the calling thread, spinning for gaps below a
/// millisecond (a sleep would round them up).
fn pause(gap: Duration) {
    if gap >= Duration::from_millis(1) {
        std::thread::sleep(gap);
        return;
    }
    let until = Instant::now() + gap;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// The version numbers `v<n>` after `marker` in the new values the
/// events' JSON patches write, in publish order.
fn versions(events: &[Arc<Event>], marker: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for e in events {
        let ops: Vec<_> = e.patches.iter().flat_map(|p| &p.json_patch).collect();
        let text = format!("{ops:?}");
        let mut rest = text.as_str();
        while let Some(at) = rest.find(marker) {
            rest = &rest[at + marker.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse() {
                out.push(n);
            }
        }
    }
    out
}

/// Waits until `id` is served with `name`: what a lost update never
/// reaches. (Settling on quiet alone is not enough here: on a loaded
/// machine the engine may still be diffing a large file when no event has
/// come for a while.)
async fn wait_served(s: &Served, id: &str, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while served_name(s.engine(), id).as_deref() != Some(name) {
        assert!(
            Instant::now() < deadline,
            "{id} is served as {:?}, not {name:?}",
            served_name(s.engine(), id)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A save after things settled is one revision with its content: the
/// watcher is not stuck (no claim left open, no timer left off).
async fn still_live(s: &mut Served, repo: &TestRepo, file: &str, name: &str) {
    repo.write(file, &workflow(name, 3));
    let events = s.settle(true).await;
    assert_eq!(events.len(), 1, "{:#?}", summaries(&events));
    let id = file
        .trim_start_matches("workflows/")
        .trim_end_matches(".yaml");
    assert_eq!(served_name(s.engine(), id).as_deref(), Some(name));
    assert_serves_disk(s.engine(), &repo.root);
}

/// One file saved hundreds of times, with gaps around the early gap and
/// the window (0 to 0.8 ms): every copy but the last may be withdrawn.
/// The revisions only move forward, and the last save is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_saved_in_a_tight_loop_ends_served_and_never_goes_back() {
    let repo = repo_with(3);
    let mut s = Served::start(&repo).await;
    let root = repo.root.clone();
    let saves = 400;
    tokio::task::spawn_blocking(move || {
        let mut rng = Rng(7);
        for v in 1..=saves {
            std::fs::write(root.join(path(0)), workflow(&format!("W0 v{v}"), 4)).unwrap();
            pause(Duration::from_micros(rng.below(800) as u64));
        }
    })
    .await
    .unwrap();
    let events = s.settle(true).await;
    assert!(events.len() <= saves, "{:#?}", summaries(&events));
    // No error check on the way: saves never pausing for the quiet period
    // let the max-wait cap take a batch, which may read a save between its
    // truncate and its write. Only the end state must be clean.
    assert!(
        events.last().is_some_and(|e| e.errors.is_empty()),
        "{:#?}",
        summaries(&events)
    );
    let seen = versions(&events, "W0 v");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "a revision went back to replaced content: {seen:?}"
    );
    assert_eq!(
        served_name(s.engine(), "w0").as_deref(),
        Some(format!("W0 v{saves}").as_str())
    );
    assert_serves_disk(s.engine(), &repo.root);
    still_live(&mut s, &repo, &path(1), "W1 probe").await;
    s.stop().await;
}

/// Small saves while the engine is busy reading a large file: the copies
/// queue behind it, withdrawn and sent again as saves join; every save
/// ends served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saves_while_the_engine_reads_a_large_file_all_land() {
    let repo = repo_with(40);
    let mut s = Served::start(&repo).await;
    let root = repo.root.clone();
    tokio::task::spawn_blocking(move || {
        let mut rng = Rng(11);
        for round in 0..5 {
            let mut big = format!("name: Big {round}\nsteps:\n");
            for i in 0..4000 {
                big.push_str(&format!(
                    "  - id: s{i}\n    name: Step {i} of round {round}\n    estimated_minutes: {}\n",
                    i % 50 + 1
                ));
            }
            std::fs::write(root.join("workflows/big.yaml"), big).unwrap();
            for i in 1..40 {
                std::fs::write(root.join(path(i)), workflow(&format!("W{i} r{round}"), 4))
                    .unwrap();
                pause(Duration::from_micros(rng.below(1500) as u64));
            }
        }
    })
    .await
    .unwrap();
    // Errors on the way are allowed: a max-wait batch may catch the large
    // file being written. The end state must be clean.
    s.settle(true).await;
    wait_served(&s, "big", "Big 4").await;
    wait_served(&s, "w39", "W39 r4").await;
    s.settle(false).await;
    assert_serves_disk(s.engine(), &repo.root);
    still_live(&mut s, &repo, &path(0), "W0 probe").await;
    s.stop().await;
}

/// `config/hot_reload.yaml` changing the window and the globs while saves
/// of workflows go early: the settings message may withdraw a copy the
/// engine holds, or find it taken. Either way the disk ends served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_changing_while_copies_are_out_lose_nothing() {
    let repo = repo_with(4);
    let mut s = Served::start(&repo).await;
    let root = repo.root.clone();
    tokio::task::spawn_blocking(move || {
        let mut rng = Rng(3);
        let settings = [
            "complete_write_ms: 0\n",
            "complete_write_ms: 5\n",
            "complete_write_ms: 0.1\n",
            "complete_write_ms: 0.5\nignore: [\"workflows/w3.yaml\"]\n",
            "complete_write_ms: 2\n",
        ];
        for v in 1..=60 {
            let config = settings[v % settings.len()];
            std::fs::create_dir_all(root.join("config")).unwrap();
            std::fs::write(root.join("config/hot_reload.yaml"), config).unwrap();
            pause(Duration::from_micros(rng.below(600) as u64));
            let i = v % 3;
            std::fs::write(root.join(path(i)), workflow(&format!("W{i} v{v}"), 4)).unwrap();
            pause(Duration::from_micros(rng.below(3000) as u64));
        }
        // Ends with the defaults and every file watched.
        std::fs::write(
            root.join("config/hot_reload.yaml"),
            "complete_write_ms: 0.5\n",
        )
        .unwrap();
    })
    .await
    .unwrap();
    s.settle(true).await;
    // The last settings ignore nothing: w3, never written, is back.
    wait_served(&s, "w3", "W3").await;
    s.settle(false).await;
    assert_serves_disk(s.engine(), &repo.root);
    still_live(&mut s, &repo, &path(3), "W3 probe").await;
    still_live(&mut s, &repo, &path(0), "W0 probe").await;
    s.stop().await;
}

/// A file saved, then deleted or renamed away within its window (while its
/// copy may be out): what is served ends equal to the disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_and_renames_within_the_window_serve_the_disk() {
    let repo = repo_with(3);
    let mut s = Served::start(&repo).await;
    let root = repo.root.clone();
    tokio::task::spawn_blocking(move || {
        let mut rng = Rng(5);
        for v in 0..40 {
            let a = root.join(format!("workflows/a{v}.yaml"));
            std::fs::write(&a, workflow(&format!("A{v}"), 4)).unwrap();
            pause(Duration::from_micros(rng.below(700) as u64));
            if v % 2 == 0 {
                std::fs::remove_file(&a).unwrap();
            } else {
                std::fs::rename(&a, root.join(format!("workflows/b{v}.yaml"))).unwrap();
            }
            pause(Duration::from_micros(rng.below(1500) as u64));
        }
    })
    .await
    .unwrap();
    s.settle(true).await;
    assert_serves_disk(s.engine(), &repo.root);
    assert_eq!(served_name(s.engine(), "a0"), None);
    assert_eq!(served_name(s.engine(), "b1").as_deref(), Some("A1"));
    still_live(&mut s, &repo, &path(0), "W0 probe").await;
    s.stop().await;
}
