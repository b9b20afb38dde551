//! `headroom compress`: runs the proxy's rewrite on one request body offline.

use crate::cli::{CompressArgs, FormatArg};
use crate::compress::{rewrite, ApiFormat, Context};
use crate::config::Config;
use std::io::{Read, Write};
use std::process::ExitCode;

pub fn run(args: &CompressArgs, config: &Config) -> ExitCode {
    let mut body = Vec::new();
    let read = if args.input == "-" {
        std::io::stdin().read_to_end(&mut body).map(|_| ())
    } else {
        std::fs::read(&args.input).map(|b| body = b)
    };
    if let Err(e) = read {
        eprintln!("headroom compress: cannot read {}: {e}", args.input);
        return ExitCode::from(1);
    }
    let snapshot = match crate::state::Snapshot::build(config.clone(), None) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("headroom compress: {e}");
            return ExitCode::from(1);
        }
    };
    let format = match args.format {
        FormatArg::Anthropic => ApiFormat::Anthropic,
        FormatArg::Openai => ApiFormat::OpenAi,
    };
    let out = rewrite(
        &body,
        &Context {
            format,
            pipeline: &snapshot.pipeline,
        },
    );
    for b in &out.blocks {
        eprintln!(
            "{:<6} {:<10} {:>7} -> {:>7} tokens  {:>7.2} ms{}",
            b.kind,
            b.compressor,
            b.tokens_before,
            b.tokens_after,
            b.duration.as_secs_f64() * 1000.0,
            if b.cached { " (cached)" } else { "" }
        );
    }
    for f in &out.failures {
        eprintln!("untouched: {}", f.as_str());
    }
    let bytes = out.body.as_deref().unwrap_or(&body);
    if std::io::stdout().write_all(bytes).is_err() {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
