//! `headroom`: parse the command line, load the config, run. Nothing else lives here.

use clap::Parser;
use headroom::cli::{Cli, Command, RunArgs};
use headroom::config::{Config, ConfigError, Overrides};
use std::process::ExitCode;

/// Ignores SIGHUP before `main`, as the loader runs the program's initialisers: a reload signal
/// that arrives while the process is still starting must not kill it (SIGHUP's default action).
/// The reload handler replaces this disposition once it is installed.
#[used]
#[cfg_attr(
    any(target_os = "linux", target_os = "android", target_os = "freebsd"),
    link_section = ".init_array"
)]
#[cfg_attr(target_os = "macos", link_section = "__DATA,__mod_init_func")]
static IGNORE_SIGHUP_AT_LOAD: extern "C" fn() = {
    extern "C" fn ignore() {
        headroom::server::ignore_sighup_until_ready();
    }
    ignore
};

/// See `headroom::allocator`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    headroom::allocator::tune();
    headroom::server::ignore_sighup_until_ready();
    return_large_buffers_to_the_system();
    let cli = Cli::parse();
    match cli.command {
        None => run(&cli.run),
        Some(Command::Proxy(args)) => run(&merge(&cli.run, &args)),
        Some(Command::Check) => match load(&cli.run) {
            Ok(_) => {
                println!("config ok");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        Some(Command::Compress(args)) => match load(&cli.run) {
            Ok(config) => headroom::compress_cli::run(&args, &config),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        Some(Command::Launchd(a)) => {
            headroom::service::launchd_command(&a, cli.run.config.as_deref())
        }
        Some(Command::Systemd(a)) => {
            headroom::service::systemd_command(&a, cli.run.config.as_deref())
        }
        Some(Command::Doctor(a)) => headroom::service::doctor(&a, cli.run.config.as_deref()),
        Some(Command::Retrieve(a)) => match load(&cli.run) {
            Ok(config) => headroom::retrieve_cli::run(&a, &config),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        Some(Command::Token(headroom::cli::TokenCommand::Hash)) => token_hash(),
        Some(Command::Tokens(a)) => headroom::compress_cli::count_tokens(&a),
        Some(Command::Stats(a)) => match load(&cli.run) {
            Ok(config) => headroom::stats::report::run(&config, a.json),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
    }
}

/// `headroom token hash`: the token comes on stdin so it stays out of shell history and `ps`.
fn token_hash() -> ExitCode {
    let mut token = String::new();
    if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut token) {
        eprintln!("headroom token hash: cannot read standard input: {e}");
        return ExitCode::from(1);
    }
    let token = token.trim_end_matches(['\n', '\r']);
    if token.trim().is_empty() {
        eprintln!("headroom token hash: no token on standard input (try: openssl rand -hex 24 | tee token.txt | headroom token hash)");
        return ExitCode::from(1);
    }
    println!("{}", headroom_team::inbound::hash_token(token));
    ExitCode::SUCCESS
}

fn overrides(args: &RunArgs) -> Overrides {
    Overrides {
        host: args.host.clone(),
        port: args.port,
    }
}

fn load(args: &RunArgs) -> Result<Config, ConfigError> {
    match &args.config {
        Some(p) => Config::load(p, &overrides(args)),
        None => Config::load_default(&overrides(args)),
    }
}

/// `headroom proxy …` flags win over the top-level ones.
fn merge(top: &RunArgs, sub: &RunArgs) -> RunArgs {
    RunArgs {
        config: sub.config.clone().or_else(|| top.config.clone()),
        host: sub.host.clone().or_else(|| top.host.clone()),
        port: sub.port.or(top.port),
    }
}

fn run(args: &RunArgs) -> ExitCode {
    let config = match load(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("headroom: invalid config\n{e}");
            return ExitCode::from(headroom::server::EXIT_CONFIG);
        }
    };
    headroom::logging::init(&config.log);
    let path = args
        .config
        .as_ref()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
    headroom::server::run(config, path, overrides(args))
}

/// glibc raises its mmap threshold after each large free, so a model batch's buffers (several MB)
/// end up on the heap and stay resident after the batch. A fixed threshold keeps them mapped and
/// returned: with the learned compressor this is the difference between ~80 and ~150 MB RSS.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_buffers_to_the_system() {
    // SAFETY: mallopt only changes allocator tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_buffers_to_the_system() {}
