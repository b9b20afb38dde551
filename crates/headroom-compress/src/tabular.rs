//! Column output of CLI tools (`ps`, `ls -l`, `df`, `dpkg -l`, `kubectl get`, `docker ps`):
//! the header lines stay, and so do the first and last rows, the rows the task names, rows
//! with a rare value in a categorical column (a `Z` process state, a package not `ii`) and the
//! top rows of each numeric column; the other rows become one marker per run.
//!
//! Must never: drop a header line, or rewrite a kept row.

use super::jsonmap::Terms;
use super::lines::{Identifiers, Lines};
use super::marker::TaskWords;
use super::{BlockInput, CompressError, Compressor};
use std::collections::HashMap;

pub struct TableCompressor;

impl Compressor for TableCompressor {
    fn name(&self) -> &'static str {
        "table"
    }

    fn compress(&self, input: &BlockInput<'_>) -> Result<Option<String>, CompressError> {
        Ok(compress_table(input.text, input.task))
    }
}

const ENDS: usize = 3;
const TOP_PER_NUMERIC_COLUMN: usize = 2;
const MAX_ANOMALIES: usize = 12;
/// Columns looked at for anomalies and extremes (later ones are free text).
const MAX_COLUMNS: usize = 10;

pub fn compress_table(text: &str, task: &str) -> Option<String> {
    let lines = Lines::new(text);
    let src = &lines.text;
    let n = src.len();
    if n < 12 {
        return None;
    }
    let header_end = header_len(src);
    let rows: Vec<usize> = (header_end..n)
        .filter(|&i| !src[i].trim().is_empty())
        .collect();
    if rows.len() < 10 {
        return None;
    }
    let fields: Vec<Vec<&str>> = rows
        .iter()
        .map(|&i| src[i].split_whitespace().take(MAX_COLUMNS).collect())
        .collect();
    let mut keep = vec![false; n];
    keep[..header_end].iter_mut().for_each(|k| *k = true);
    for (k, &i) in rows.iter().enumerate() {
        if k < ENDS || k + ENDS >= rows.len() {
            keep[i] = true;
        }
    }
    let words = TaskWords::new(task).selective(src.iter().copied(), (rows.len() / 10).max(3));
    let idents = Identifiers::new(task);
    let terms = Terms::new(task);
    // A task term that names a field of many rows (`point` in every "updated to point to")
    // picks nothing out.
    let named: Vec<bool> = fields
        .iter()
        .map(|f| f.iter().any(|v| terms.names(v)))
        .collect();
    let selective = named.iter().filter(|&&b| b).count() <= (rows.len() / 10).max(3);
    for (k, &i) in rows.iter().enumerate() {
        let l = src[i];
        let named = (selective && named[k]) || super::marker::is_error_level(l);
        if named || words.matches(l) || idents.matches(l) || terms.matches_specific(l) {
            keep[i] = true;
        }
    }
    let ncols = fields.iter().map(Vec::len).min().unwrap_or(0);
    let mut anomalies = 0;
    for c in 0..ncols {
        let mut freq: HashMap<&str, usize> = HashMap::new();
        for f in &fields {
            *freq.entry(f[c]).or_default() += 1;
        }
        let numeric = fields
            .iter()
            .filter(|f| parse_number(f[c]).is_some())
            .count();
        if numeric * 10 >= fields.len() * 9 {
            // The biggest values of a numeric column (CPU, memory, size).
            let mut order: Vec<usize> = (0..fields.len()).collect();
            order.sort_by(|&a, &b| {
                let va = parse_number(fields[a][c]).unwrap_or(f64::MIN);
                let vb = parse_number(fields[b][c]).unwrap_or(f64::MIN);
                vb.total_cmp(&va).then(a.cmp(&b))
            });
            if freq.len() > 1 {
                for &k in order.iter().take(TOP_PER_NUMERIC_COLUMN) {
                    keep[rows[k]] = true;
                }
            }
            continue;
        }
        // Categorical: few distinct values, and a value seen once is worth a look.
        let categorical = freq.len() <= (fields.len() / 10).max(3);
        if !categorical {
            continue;
        }
        for (k, f) in fields.iter().enumerate() {
            if freq[f[c]] == 1 && anomalies < MAX_ANOMALIES {
                keep[rows[k]] = true;
                anomalies += 1;
            }
        }
    }
    lines.render(&keep, |run| {
        let count = run.len();
        let detail = if count == 1 { "row" } else { "rows" };
        match lines.span(&run) {
            Some(_) => lines.marker(&run, detail),
            None => format!("[… {} {detail} omitted …]", super::marker::thousands(count)),
        }
    })
}

/// Header lines: the first line, plus `dpkg -l`'s legend and rule lines, and `ls`'s `total`.
fn header_len(src: &[&str]) -> usize {
    let mut end = 1;
    for (i, l) in src.iter().enumerate().take(8).skip(1) {
        let t = l.trim();
        let rule = !t.is_empty() && t.chars().all(|c| matches!(c, '-' | '=' | '+' | '|' | ' '));
        let legend = t.starts_with('|') || t.starts_with("Desired=") || t.starts_with("||/");
        if rule || legend {
            end = i + 1;
        }
    }
    end
}

/// `18.7`, `475204`, `1.9G`, `12K` as numbers (sizes scaled by their suffix).
fn parse_number(s: &str) -> Option<f64> {
    let (num, scale) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1e3),
        b'M' => (&s[..s.len() - 1], 1e6),
        b'G' => (&s[..s.len() - 1], 1e9),
        b'T' => (&s[..s.len() - 1], 1e12),
        b'%' => (&s[..s.len() - 1], 1.0),
        _ => (s, 1.0),
    };
    num.parse::<f64>().ok().map(|v| v * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_named_rows_and_outliers_stay() {
        let mut text = String::from("USER PID %CPU %MEM COMMAND\n");
        for k in 0..40 {
            let cpu = if k == 17 { "93.5" } else { "0.1" };
            let stat = if k == 23 { "Z" } else { "S" };
            text.push_str(&format!("root {k} {cpu} 0.2 {stat} worker-{k}\n"));
        }
        let out = compress_table(&text, "is postgres running?").unwrap();
        assert!(out.starts_with("USER PID %CPU %MEM COMMAND\n"));
        assert!(out.contains("root 17 93.5 0.2 S worker-17"));
        assert!(out.contains("root 23 0.1 0.2 Z worker-23"));
        assert!(!out.contains("worker-10\n"));
        assert!(out.contains("rows omitted"));
    }
}
