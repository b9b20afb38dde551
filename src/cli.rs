//! The command line: `headroom [-c FILE]` runs the proxy; subcommands check configs, compress a
//! request offline, count tokens, and generate service files.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "headroom",
    version,
    about = "Local reverse proxy that cuts the input tokens LLM clients send",
    long_about = "Local reverse proxy that sits between LLM clients (Claude Code, the anthropic and \
openai SDKs, anything that honours ANTHROPIC_BASE_URL) and the provider, and compresses tool \
outputs, logs, JSON listings and search results in the prompts they send.\n\n\
Run it:   headroom -c conf/headroom.yaml\n\
Use it:   ANTHROPIC_BASE_URL=http://localhost:8787 claude"
)]
pub struct Cli {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options for running the proxy.
#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    /// Config file (YAML). Without it the embedded default config is used.
    #[arg(short = 'c', long = "config", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on (overrides `listen` and HEADROOM_HOST).
    #[arg(long, value_name = "ADDR")]
    pub host: Option<String>,
    /// Port to listen on (overrides `listen` and HEADROOM_PROXY_PORT).
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy (the same as giving no subcommand).
    Proxy(RunArgs),
    /// Validate a config file: exit 0 if it is usable, 1 with every problem otherwise.
    Check,
    /// Compress one request body offline and print it; a per-block summary goes to stderr.
    Compress(CompressArgs),
    /// macOS LaunchAgent: generate the plist (install with launchd/install.sh).
    Launchd(crate::service::LaunchdArgs),
    /// Linux systemd user unit: generate it (install with launchd/install.sh --platform linux).
    Systemd(crate::service::SystemdArgs),
    /// Check an installed setup and say how to fix what is wrong; exit 1 if anything is.
    Doctor(crate::service::DoctorArgs),
    /// Savings today, in the last 7 days and lifetime, from the stats file the config names.
    Stats(StatsArgs),
    /// Print a stored original by the id its markers carry (`· id 3fa9c1d2e4b7`), whole or in
    /// part. Asks the running proxy; without one, reads the disk tier. Exit 1 when not found.
    Retrieve(RetrieveArgs),
    /// Count cl100k tokens exactly (the tokenizer headroom's savings figures use) in each file,
    /// or in standard input when no file (or `-`) is given: one `COUNT<TAB>FILE` line per file.
    Tokens(TokensArgs),
    /// Gateway tokens (`auth.tokens`): `headroom token hash` prints the sha256 to put in the
    /// config for a token read from standard input.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Read one token from standard input (trailing newline ignored) and print its sha256 hex.
    /// Make a token with e.g. `openssl rand -hex 24`.
    Hash,
}

#[derive(Debug, Args)]
pub struct RetrieveArgs {
    /// The id, 12 hex characters, as a marker states it.
    pub id: String,
    /// Only lines A-B (1-based, inclusive; for `Read` output, the file's line numbers).
    #[arg(long, value_name = "A-B")]
    pub lines: Option<String>,
    /// Only the lines containing any of these words (case-insensitive), with 2 lines of context.
    #[arg(long, value_name = "WORDS")]
    pub query: Option<String>,
}

#[derive(Debug, Args)]
pub struct TokensArgs {
    /// Files to count (UTF-8 text); `-` or none reads standard input.
    pub files: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print JSON (the `today`, `last_7_days` and `lifetime` documents) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompressArgs {
    /// Wire format of the request body.
    #[arg(long, value_enum, default_value = "anthropic")]
    pub format: FormatArg,
    /// Request body file, or `-` for standard input.
    #[arg(default_value = "-")]
    pub input: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    Anthropic,
    Openai,
}
