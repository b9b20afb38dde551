//! `headroom compress`: runs the proxy's exact rewrite (the same snapshot-built pipeline, with
//! the learned text compressor when the config enables one) on one request body read from a
//! file or stdin; prints the rewritten body to stdout and a per-block summary to stderr.
//! `headroom tokens`: exact cl100k counts of files, for measuring savings without estimates.
//!
//! Must never: print anything but the body (or the counts) on stdout.

use crate::cli::{CompressArgs, FormatArg, TokensArgs};
use crate::compress::{rewrite, ApiFormat, Context, Pipeline};
use crate::config::Config;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Instant;

/// Builds the pipeline from `config` the way the proxy does, then runs [`run_with`].
pub fn run(args: &CompressArgs, config: &Config) -> ExitCode {
    match crate::state::Snapshot::build(config.clone(), None) {
        Ok(snapshot) => run_with(args, &snapshot.pipeline),
        Err(e) => {
            eprintln!("headroom compress: {e}");
            ExitCode::from(1)
        }
    }
}

pub fn run_with(args: &CompressArgs, pipeline: &Pipeline) -> ExitCode {
    let body = match read_input(&args.input) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("headroom compress: cannot read {}: {e}", args.input);
            return ExitCode::from(1);
        }
    };
    let format = match args.format {
        FormatArg::Anthropic => ApiFormat::Anthropic,
        FormatArg::Openai => ApiFormat::OpenAi,
    };
    let started = Instant::now();
    let result = rewrite(&body, &Context { format, pipeline });
    let elapsed = started.elapsed();
    let out = result.body.as_deref().unwrap_or(&body);
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(out).and_then(|_| stdout.flush()) {
        eprintln!("headroom compress: cannot write output: {e}");
        return ExitCode::from(1);
    }
    let mut err = std::io::stderr().lock();
    for b in &result.blocks {
        let _ = writeln!(
            err,
            "{:<56} {:<6} {:<8} {:>7} → {:>7} tokens {:>7.2} ms{}{}",
            b.location,
            b.kind,
            b.compressor,
            b.tokens_before,
            b.tokens_after,
            b.duration.as_secs_f64() * 1000.0,
            if b.cached { " (cached)" } else { "" },
            if b.changed() { "" } else { " (kept)" },
        );
    }
    for f in &result.failures {
        let _ = writeln!(err, "untouched: {}", f.as_str());
    }
    let (before, after) = (result.tokens_before(), result.tokens_after());
    let saved = if before > 0 {
        100.0 * before.saturating_sub(after) as f64 / before as f64
    } else {
        0.0
    };
    let _ = writeln!(
        err,
        "total: {} blocks, {before} → {after} tokens ({saved:.1} % fewer), {} → {} bytes, {:.2} ms ({})",
        result.blocks.len(),
        body.len(),
        out.len(),
        elapsed.as_secs_f64() * 1000.0,
        format.as_str(),
    );
    ExitCode::SUCCESS
}

/// `headroom tokens [FILE...]`: one `COUNT<TAB>NAME` line per input, exact cl100k. Exit 1 (and
/// nothing printed for it) for a file that cannot be read or is not UTF-8.
pub fn count_tokens(args: &TokensArgs) -> ExitCode {
    let stdin = ["-".to_string()];
    let files: &[String] = if args.files.is_empty() {
        &stdin
    } else {
        &args.files
    };
    let mut status = ExitCode::SUCCESS;
    let mut stdout = std::io::stdout().lock();
    for name in files {
        let text = match read_input(name)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                String::from_utf8(bytes).map_err(|e| {
                    format!(
                        "not UTF-8 text (invalid byte at offset {})",
                        e.utf8_error().valid_up_to()
                    )
                })
            }) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("headroom tokens: {name}: {e}");
                status = ExitCode::from(1);
                continue;
            }
        };
        let count = crate::compress::tokens::count(&text);
        if writeln!(stdout, "{count}\t{name}").is_err() {
            return ExitCode::from(1);
        }
    }
    status
}

/// The bytes of file `name`, or of standard input for `-`.
fn read_input(name: &str) -> std::io::Result<Vec<u8>> {
    if name == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes)?;
        Ok(bytes)
    } else {
        std::fs::read(name)
    }
}
