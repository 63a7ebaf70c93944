//! A throwaway PostgreSQL cluster per test: `initdb` in a temp folder (as
//! the `postgres` user when the tests run as root), `pg_ctl` on a loopback
//! port, stopped when dropped.
//!
//! Without PostgreSQL's programs the tests that need it skip with one line
//! naming what is missing; `QA_RELOAD_REQUIRE_POSTGRES=1` (set by
//! `scripts/test`) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

const SETUP: &str = "run `scripts/test`, which installs it and runs every test, or install \
                     Debian's `postgresql` package (initdb and pg_ctl)";

pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    /// Server options beyond the port and socket folder.
    options: &'static str,
}

/// The folder holding `initdb` and `pg_ctl`, newest version first.
fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").is_file() && b.join("pg_ctl").is_file())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Cluster {
    /// A new cluster, running; `None` (after one line on stderr) when
    /// PostgreSQL is not installed and not required.
    pub fn start(test: &str) -> Option<Cluster> {
        // Tests do not need the data to outlive a power cut.
        Cluster::start_with(test, "-c fsync=off")
    }

    /// [`Cluster::start`] with `options` for the server (`""`: its
    /// defaults, as a benchmark wants them).
    pub fn start_with(test: &str, options: &'static str) -> Option<Cluster> {
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var_os("QA_RELOAD_REQUIRE_POSTGRES").is_none(),
                "QA_RELOAD_REQUIRE_POSTGRES is set but PostgreSQL's initdb is not in \
                 /usr/lib/postgresql/*/bin; {SETUP}"
            );
            eprintln!("skipping {test}: PostgreSQL (initdb, pg_ctl) is not installed; {SETUP}");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown of the cluster folder");
        }
        let cluster = Cluster {
            bin,
            dir,
            port: free_port(),
            options,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        cluster.pg_ctl_start();
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = command.args(args).current_dir("/").output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts (or restarts) the server on its port; waits until it answers.
    pub fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} {}",
            self.port,
            self.dir.path().display(),
            self.options
        );
        let log = self.dir.path().join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server at once (`immediate`: connections drop, as when
    /// the database host goes away).
    pub fn pg_ctl_stop(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    /// The URL of a new, empty database of this cluster.
    pub fn database(&self, name: &str) -> String {
        let port = self.port.to_string();
        self.run(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", name],
        );
        self.url(name)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    #[allow(dead_code)]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let path = self.bin.join("pg_ctl");
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        // Already stopped is fine.
        let _ = command
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .current_dir("/")
            .output();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
