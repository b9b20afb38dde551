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
        Some(Command::Launchd(a)) => {
            headroom::service::launchd_command(&a, cli.run.config.as_deref())
        }
        Some(Command::Systemd(a)) => {
            headroom::service::systemd_command(&a, cli.run.config.as_deref())
        }
        Some(Command::Doctor(a)) => headroom::service::doctor(&a, cli.run.config.as_deref()),
        _ => ExitCode::SUCCESS,
    }
}
