//! `headroom stats`: today, the last 7 days (UTC days) and lifetime, read from the stats file the
//! config points at, as a table or (`--json`) the same document `/stats` carries.
//!
//! Must never: write or lock the stats file (a running proxy owns the writes); set a corrupt
//! file aside (only the proxy does that).

use super::persist::{now_unix, Ledger};
use crate::config::Config;
use std::process::ExitCode;

/// Prints the summary; exit 1 when the file cannot be read.
pub fn run(config: &Config, json: bool) -> ExitCode {
    let Some(path) = config.stats.path.clone().or_else(super::default_path) else {
        eprintln!(
            "headroom stats: no stats file: set `stats.path` in the config (HOME is not set)"
        );
        return ExitCode::from(1);
    };
    let ledger = match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<Ledger>(&bytes) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("headroom stats: {} is not a stats file ({e}); the proxy sets such a file aside at start", path.display());
                return ExitCode::from(1);
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ledger::default(),
        Err(e) => {
            eprintln!("headroom stats: cannot read {}: {e}", path.display());
            return ExitCode::from(1);
        }
    };
    let summary = super::summary(&ledger, now_unix(), &config.pricing);
    if json {
        let mut doc = summary;
        if let Some(o) = doc.as_object_mut() {
            o.insert("path".into(), path.display().to_string().into());
        }
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print!("{}", table(&summary, &path.display().to_string()));
    }
    ExitCode::SUCCESS
}

fn table(summary: &serde_json::Value, path: &str) -> String {
    let mut out = format!(
        "headroom savings from {path}\n(today and 7 days are UTC days; dollars are estimates from the `pricing` table)\n\n"
    );
    out.push_str(&format!(
        "{:<12} {:>9} {:>14} {:>13} {:>13} {:>8} {:>12} {:>12}\n",
        "",
        "requests",
        "tokens before",
        "tokens after",
        "tokens saved",
        "saved",
        "est. saved",
        "est. spent"
    ));
    for (key, label) in [
        ("today", "today"),
        ("last_7_days", "last 7 days"),
        ("lifetime", "lifetime"),
    ] {
        let v = &summary[key];
        let n = |k: &str| group(v[k].as_u64().unwrap_or(0));
        out.push_str(&format!(
            "{:<12} {:>9} {:>14} {:>13} {:>13} {:>7.1}% {:>12} {:>12}\n",
            label,
            n("requests"),
            n("tokens_before"),
            n("tokens_after"),
            n("tokens_saved"),
            v["savings_percent"].as_f64().unwrap_or(0.0),
            format!(
                "${:.2}",
                v["estimated_dollars_saved"].as_f64().unwrap_or(0.0)
            ),
            format!(
                "${:.2}",
                v["estimated_dollars_spent"].as_f64().unwrap_or(0.0)
            ),
        ));
    }
    out
}

/// `1234567` → `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_thousands() {
        assert_eq!(super::group(0), "0");
        assert_eq!(super::group(999), "999");
        assert_eq!(super::group(1_234_567), "1,234,567");
    }
}
