use clap::Parser;
use headroom::cli::{Cli, Command};
use headroom::config::{Config, Overrides};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check) => {
            let overrides = Overrides::default();
            let loaded = match &cli.run.config {
                Some(p) => Config::load(p, &overrides),
                None => Config::load_default(&overrides),
            };
            match loaded {
                Ok(_) => {
                    println!("config ok");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(1)
                }
            }
        }
        Some(Command::Compress(args)) => {
            let overrides = Overrides::default();
            let loaded = match &cli.run.config {
                Some(p) => Config::load(p, &overrides),
                None => Config::load_default(&overrides),
            };
            match loaded {
                Ok(config) => {
                    let pipeline = headroom::compress::Pipeline::new(config.compression.clone(), None);
                    headroom::compress::cli::run(&args, &pipeline)
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(1)
                }
            }
        }
        _ => ExitCode::SUCCESS,
    }
}
