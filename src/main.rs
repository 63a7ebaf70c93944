//! The `qa-reload` binary: parses arguments, sets up logging, runs one
//! command from the library and turns its result into an exit code.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use qa_reload::api::conn::HttpLimits;
use qa_reload::app;
use qa_reload::cli::{self, Format};
use qa_reload::follow::FollowConfig;
use qa_reload::load::json_schema::SchemaKind;

/// mimalloc gives the pages of a large revision back once it is freed;
/// glibc's arenas kept a 50,000-file burst's peak resident for good.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "qa-reload",
    version,
    about = "Hot reload for QA workflow templates and integration settings"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate every workflow and config file; print `file:line:col: kind: message`
    Check(CheckArgs),
    /// Watch the folder and apply every change as it is saved
    Serve(ServeArgs),
    /// Show the semantic diff between two revisions (default: HEAD and the working tree)
    Diff(DiffArgs),
    /// Print the JSON Schema of a file kind, or write them all with --out
    Schema(SchemaArgs),
    /// Language server over stdio: every error `check` reports, while typing
    Lsp(LspArgs),
    /// Install a git pre-commit hook that runs `check`
    #[command(subcommand)]
    Hook(HookCommand),
    /// Print the completion script for a shell
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff), or write one page per command with --out
    Man {
        /// Folder to write qa-reload.1 and qa-reload-<command>.1 into
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// The repository (or folder) holding workflows/ and config/.
#[derive(Args)]
struct RepoArg {
    /// The repository (or folder) holding workflows/ and config/
    #[arg(long, default_value = ".")]
    repo: PathBuf,
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// How to print the problems
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// Poll for changes instead of using native file events
    #[arg(long)]
    poll: bool,
    /// Address to listen on; anything but loopback needs --token
    #[arg(long, default_value_t = app::DEFAULT_BIND)]
    bind: SocketAddr,
    /// Token every API and WebSocket request must carry
    #[arg(long, env = "QA_RELOAD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Another host name requests may use (besides localhost); repeatable
    #[arg(long = "allow-host", value_name = "NAME")]
    allow_hosts: Vec<String>,
    /// Another page origin (scheme://host[:port]) that may make changes and
    /// open the WebSocket; repeatable
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// Milliseconds a client has to send a request's headers
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout_ms: u64,
    /// Milliseconds a keep-alive connection may stay idle between requests
    #[arg(long, value_name = "MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout_ms: u64,
    /// HTTP connections (WebSockets included) open at once; more get 503
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_connections: u64,
    /// Where runs are kept: sqlite:PATH or postgres://USER@HOST/DB (default:
    /// runs.sqlite3 in the git directory's qa-reload/ folder, or in
    /// .qa-reload/ outside a repository)
    #[arg(
        long,
        value_name = "URL",
        env = "QA_RELOAD_DATABASE_URL",
        hide_env_values = true
    )]
    database: Option<String>,
    /// Days a finished run is kept before it is deleted (runs in progress
    /// are never deleted)
    #[arg(long, value_name = "DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=36_500))]
    retention_days: u64,
    /// Serve a branch of this remote (any URL or path git can fetch from)
    /// instead of --repo: each new head is one revision
    #[arg(long, value_name = "REMOTE", conflicts_with_all = ["poll", "repo"])]
    follow: Option<String>,
    /// The branch --follow serves
    #[arg(long, value_name = "NAME", default_value = "main", requires = "follow")]
    branch: String,
    /// Seconds between fetches of --follow's remote (±10 %), besides webhooks
    #[arg(long, value_name = "SECONDS", default_value_t = 60, requires = "follow", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    poll_interval: u64,
    /// Where --follow keeps its mirror (mirror.git) and, by default, its
    /// runs (runs.sqlite3)
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".qa-reload",
        requires = "follow"
    )]
    data_dir: PathBuf,
}

#[derive(Args)]
struct LspArgs {
    /// The repository when the editor names no workspace folder
    #[command(flatten)]
    repo: RepoArg,
    /// Accepted for editors that pass it; stdio is the only transport
    #[arg(long, hide = true)]
    stdio: bool,
}

#[derive(Args)]
struct DiffArgs {
    #[command(flatten)]
    repo: RepoArg,
    /// The old revision (default HEAD)
    old: Option<String>,
    /// The new revision (default: the working tree)
    new: Option<String>,
    /// How to print the problems
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit 1 when the new side has errors (to fail a CI job)
    #[arg(long)]
    fail_on_errors: bool,
}

#[derive(Args)]
struct SchemaArgs {
    /// The file kind (all kinds with --out)
    #[arg(value_enum, required_unless_present = "out")]
    kind: Option<SchemaKindArg>,
    /// Folder to write <kind>.schema.json into
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum HookCommand {
    /// Write .git/hooks/pre-commit (refuses to replace a hook qa-reload did not write)
    Install {
        #[command(flatten)]
        repo: RepoArg,
        /// Replace an existing pre-commit hook that qa-reload did not write
        #[arg(long)]
        force: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SchemaKindArg {
    Workflow,
    Jira,
    Postman,
    Testmo,
    #[value(name = "hot_reload")]
    HotReload,
}

impl From<SchemaKindArg> for SchemaKind {
    fn from(k: SchemaKindArg) -> Self {
        match k {
            SchemaKindArg::Workflow => SchemaKind::Workflow,
            SchemaKindArg::Jira => SchemaKind::Jira,
            SchemaKindArg::Postman => SchemaKind::Postman,
            SchemaKindArg::Testmo => SchemaKind::Testmo,
            SchemaKindArg::HotReload => SchemaKind::HotReload,
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    let mut options = app::Options::new(args.repo.repo);
    options.poll = args.poll;
    options.bind = args.bind;
    options.token = args.token;
    options.allowed_hosts = args.allow_hosts;
    options.allowed_origins = args.allow_origins;
    options.http = HttpLimits {
        header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
        idle_timeout: Duration::from_millis(args.idle_timeout_ms),
        max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
    };
    // Parsed here, not by clap, whose error would quote the URL (and its
    // password) back.
    options.database = match args.database.as_deref().map(str::parse).transpose() {
        Ok(database) => database,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    options.retention = Duration::from_secs(args.retention_days * 24 * 3600);
    options.follow = args.follow.map(|remote| FollowConfig {
        remote,
        branch: args.branch,
        poll: Duration::from_secs(args.poll_interval),
        data_dir: args.data_dir,
        fetch_deadline: qa_reload::follow::FETCH_DEADLINE,
    });
    // Only from the environment: a secret on the command line would show
    // in the process list.
    options.webhook_secret = std::env::var("QA_RELOAD_WEBHOOK_SECRET").ok();
    match runtime.block_on(app::serve(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(cli::EXIT_USAGE)
        }
    }
}

/// The man page of the command, or one page per command written to `dir`.
fn man(dir: Option<&Path>, out: &mut dyn Write) -> std::io::Result<u8> {
    let command = Cli::command();
    match dir {
        None => {
            clap_mangen::Man::new(command).render(out)?;
            Ok(cli::EXIT_OK)
        }
        Some(dir) => {
            if let Err(message) = cli::create_out_dir(dir) {
                writeln!(out, "error: {message}")?;
                return Ok(cli::EXIT_USAGE);
            }
            if let Err(e) =
                cli::write_files_into(dir, |staging| clap_mangen::generate_to(command, staging))
            {
                writeln!(
                    out,
                    "error: cannot write the man pages into {}: {e}",
                    dir.display()
                )?;
                return Ok(cli::EXIT_USAGE);
            }
            writeln!(out, "wrote the man pages into {}", dir.display())?;
            Ok(cli::EXIT_OK)
        }
    }
}

/// `qa-reload lsp`: the server on stdin/stdout; logs go to stderr.
fn lsp(args: &LspArgs) -> ExitCode {
    let stdin = std::io::BufReader::new(std::io::stdin());
    let (connection, threads) = match qa_reload::lsp::transport::connect(stdin, std::io::stdout()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot start the language server: {e}");
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    let exit = qa_reload::lsp::run(&connection, &args.repo.repo);
    // Closing the channel ends the writer once everything queued is written.
    drop(connection);
    threads.join();
    match exit {
        qa_reload::lsp::Exit::Clean => ExitCode::SUCCESS,
        qa_reload::lsp::Exit::Abrupt => ExitCode::from(1),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                cli::EXIT_USAGE
            } else {
                cli::EXIT_OK
            });
        }
    };
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(qa_reload::logging::filter(
            std::env::var("RUST_LOG").ok().as_deref(),
            default_level,
        ))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = match cli.command {
        // Its writer thread owns stdout: no lock may be held here.
        Command::Lsp(args) => return lsp(&args),
        command => Cli { command },
    };
    let mut stdout = std::io::stdout().lock();
    let result = match cli.command {
        Command::Serve(args) => return serve(args),
        Command::Lsp(_) => Ok(cli::EXIT_USAGE),
        Command::Check(args) => cli::check::run(&args.repo.repo, args.format, &mut stdout),
        Command::Diff(args) => {
            let diff = cli::diff::Args {
                repo: &args.repo.repo,
                old: args.old.as_deref(),
                new: args.new.as_deref(),
                format: args.format,
                color: std::io::stdout().is_terminal(),
                fail_on_errors: args.fail_on_errors,
            };
            cli::diff::run(&diff, &mut stdout)
        }
        Command::Schema(args) => cli::schema::run(
            args.kind.map(SchemaKind::from),
            args.out.as_deref(),
            &mut stdout,
        ),
        Command::Hook(HookCommand::Install { repo, force }) => {
            cli::hook::install(&repo.repo, force, &mut stdout)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "qa-reload", &mut stdout);
            Ok(cli::EXIT_OK)
        }
        Command::Man { out } => man(out.as_deref(), &mut stdout),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(cli::EXIT_USAGE)
        }
    }
}
