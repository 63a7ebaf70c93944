//! The `qa-reload` binary: parses arguments, sets up logging, runs one
//! command from the library and turns its result into an exit code.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use qa_reload::api::conn::HttpLimits;
use qa_reload::app;
use qa_reload::cli::{self, Format};

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
    Check {
        /// The repository (or folder) holding workflows/ and config/
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Watch the folder and apply every change as it is saved
    Serve {
        /// The repository (or folder) holding workflows/ and config/
        #[arg(long, default_value = ".")]
        repo: PathBuf,
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
    },
    /// Show the semantic diff between two revisions (default: HEAD and the working tree)
    Diff {
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// The old revision (default HEAD)
        old: Option<String>,
        /// The new revision (default: the working tree)
        new: Option<String>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

impl From<OutputFormat> for Format {
    fn from(f: OutputFormat) -> Self {
        match f {
            OutputFormat::Text => Format::Text,
            OutputFormat::Json => Format::Json,
        }
    }
}

struct ServeArgs {
    repo: PathBuf,
    poll: bool,
    bind: SocketAddr,
    token: Option<String>,
    allow_hosts: Vec<String>,
    allow_origins: Vec<String>,
    http: HttpLimits,
}

fn serve(args: ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    let mut options = app::Options::new(args.repo);
    options.poll = args.poll;
    options.bind = args.bind;
    options.token = args.token;
    options.allowed_hosts = args.allow_hosts;
    options.allowed_origins = args.allow_origins;
    options.http = args.http;
    match runtime.block_on(app::serve(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(cli::EXIT_USAGE)
        }
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
        Command::Serve { .. } => "info",
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
    let mut stdout = std::io::stdout().lock();
    let result = match cli.command {
        Command::Serve {
            repo,
            poll,
            bind,
            token,
            allow_hosts,
            allow_origins,
            header_read_timeout_ms,
            idle_timeout_ms,
            max_connections,
        } => {
            return serve(ServeArgs {
                repo,
                poll,
                bind,
                token,
                allow_hosts,
                allow_origins,
                http: HttpLimits {
                    header_read_timeout: Duration::from_millis(header_read_timeout_ms),
                    idle_timeout: Duration::from_millis(idle_timeout_ms),
                    max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
                },
            });
        }
        Command::Check { repo, format } => cli::check::run(&repo, format.into(), &mut stdout),
        Command::Diff {
            repo,
            old,
            new,
            format,
        } => {
            let args = cli::diff::Args {
                repo: &repo,
                old: old.as_deref(),
                new: new.as_deref(),
                format: format.into(),
                color: std::io::stdout().is_terminal(),
            };
            cli::diff::run(&args, &mut stdout)
        }
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
