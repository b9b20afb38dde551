//! Table analysis for the JSON compressor: the columns of an array of objects (nested objects
//! flattened to `a.b`), columns derivable from another column, and per-row anomaly scores
//! (rare categorical values, numeric outliers, unusual key sets) used to pick rows to keep, and
//! the rendering of a table once its rows are chosen.
//!
//! Must never: depend on iteration order of a hash map for anything it returns.

use super::jsontree::{decode_str, Node};
use super::marker::omitted;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

/// Columns whose every value is another column's value with a fixed prefix and suffix
/// (`html_url` = `https://github.com/` + `full_name`): (source column, prefix, suffix).
/// The source's values are always shorter, so derivations never form a cycle.
pub(super) fn derived_columns(
    cells: &[Vec<Option<&Node>>],
    texts: &[Vec<Option<String>>],
    constant: &[bool],
) -> Vec<Option<(usize, String, String)>> {
    let ncols = constant.len();
    let mut out = vec![None; ncols];
    let Some(first) = texts.first() else {
        return out;
    };
    let all_strings = |c: usize| {
        cells
            .iter()
            .all(|row| matches!(row[c], Some(Node::Str { .. })))
    };
    let strings: Vec<bool> = (0..ncols).map(|c| !constant[c] && all_strings(c)).collect();
    for c in 0..ncols {
        if !strings[c] {
            continue;
        }
        let Some(target) = first[c].as_deref() else {
            continue;
        };
        for d in 0..ncols {
            if d == c || !strings[d] {
                continue;
            }
            let Some(source) = first[d].as_deref() else {
                continue;
            };
            if source.len() < 3 || source.len() >= target.len() {
                continue;
            }
            let Some(at) = target.find(source) else {
                continue;
            };
            let (prefix, suffix) = (&target[..at], &target[at + source.len()..]);
            let holds = texts
                .iter()
                .all(|row| match (row[c].as_deref(), row[d].as_deref()) {
                    (Some(t), Some(s)) => {
                        t.len() == prefix.len() + s.len() + suffix.len()
                            && t.starts_with(prefix)
                            && t.ends_with(suffix)
                            && &t[prefix.len()..t.len() - suffix.len()] == s
                    }
                    _ => false,
                });
            if holds {
                out[c] = Some((d, prefix.to_string(), suffix.to_string()));
                break;
            }
        }
    }
    out
}

pub(super) fn is_truthy(cell: &str) -> bool {
    !matches!(cell, "null" | "false" | "0" | "\"\"" | "[]" | "{}")
}

/// Per-row anomaly score: rare categorical values, numeric outliers, unusual key sets.
pub(super) fn anomaly_scores(
    n: usize,
    columns: &Columns,
    cells: &[Vec<Option<&Node>>],
    texts: &[Vec<Option<String>>],
    constant: &[bool],
) -> Vec<u32> {
    let mut score = vec![0u32; n];
    for c in 0..columns.names.len() {
        if constant[c] {
            continue;
        }
        // Categorical: few distinct values; a value is rare at ≤ 5 % of rows (or seen once).
        let mut counts: HashMap<Option<&str>, usize> = HashMap::new();
        for row in texts {
            *counts.entry(row[c].as_deref()).or_default() += 1;
        }
        let distinct = counts.len();
        let numbers = (0..n)
            .filter(|&i| {
                matches!(cells[i][c], Some(Node::Scalar { .. }))
                    && texts[i][c]
                        .as_deref()
                        .is_some_and(|t| t.starts_with(|ch: char| ch.is_ascii_digit() || ch == '-'))
            })
            .count();
        if distinct >= 2 && distinct * 5 <= n.max(10) && numbers * 2 < n {
            for (i, row) in texts.iter().enumerate() {
                let k = counts.get(&row[c].as_deref()).copied().unwrap_or(0);
                if k * 20 <= n || k == 1 {
                    score[i] += 4;
                }
            }
        }
        // Numeric outliers by median absolute deviation.
        let nums: Vec<(usize, f64)> = cells
            .iter()
            .enumerate()
            .filter_map(|(i, row)| match row[c] {
                Some(Node::Scalar { .. }) => {
                    texts[i][c].as_deref()?.parse::<f64>().ok().map(|v| (i, v))
                }
                _ => None,
            })
            .collect();
        if nums.len() * 10 >= n * 8 && nums.len() >= 5 {
            let mut vals: Vec<f64> = nums.iter().map(|x| x.1).collect();
            vals.sort_by(f64::total_cmp);
            let med = vals[vals.len() / 2];
            let mut dev: Vec<f64> = vals.iter().map(|v| (v - med).abs()).collect();
            dev.sort_by(f64::total_cmp);
            let mad = dev[dev.len() / 2];
            for &(i, v) in &nums {
                let far = if mad > 0.0 {
                    (v - med).abs() > 8.0 * mad
                } else {
                    v != med && counts.len() * 20 <= n.max(20)
                };
                if far {
                    score[i] += 2;
                }
            }
        }
    }
    // Unusual key sets.
    let mut shapes: HashMap<Vec<bool>, usize> = HashMap::new();
    let shape_of =
        |row: &Vec<Option<&Node>>| row.iter().map(Option::is_some).collect::<Vec<bool>>();
    for row in cells {
        *shapes.entry(shape_of(row)).or_default() += 1;
    }
    if shapes.len() > 1 {
        for (i, row) in cells.iter().enumerate() {
            let k = shapes.get(&shape_of(row)).copied().unwrap_or(0);
            if k * 20 <= n {
                score[i] += 3;
            }
        }
    }
    score
}

/// The columns of a table: key paths in first-seen order, nested objects flattened two levels.
pub(super) struct Columns {
    pub(super) names: Vec<String>,
    index: HashMap<String, usize>,
    /// Prefixes (`owner`, `owner.plan`) whose objects are flattened.
    flattened: BTreeSet<String>,
    /// Columns whose key says "error" (`error`, `errors`, `failure`, `exception`).
    pub(super) error_key: Vec<bool>,
}

impl Columns {
    pub(super) fn collect(src: &str, rows: &[&Node]) -> Columns {
        let mut cols = Columns {
            names: Vec::new(),
            index: HashMap::new(),
            flattened: BTreeSet::new(),
            error_key: Vec::new(),
        };
        cols.walk(src, rows, "", 0);
        cols
    }

    fn walk(&mut self, src: &str, objects: &[&Node], prefix: &str, depth: usize) {
        let mut order: Vec<String> = Vec::new();
        let mut values: HashMap<String, Vec<&Node>> = HashMap::new();
        for obj in objects {
            if let Node::Object { members, .. } = obj {
                for m in members {
                    let key = decode_str(src, &m.key).into_owned();
                    let entry = values.entry(key.clone()).or_default();
                    if entry.is_empty() {
                        order.push(key);
                    }
                    entry.push(&m.value);
                }
            }
        }
        for key in order {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            let vals = &values[&key];
            let nested = depth < 2
                && vals
                    .iter()
                    .all(|v| matches!(v, Node::Object { members, .. } if !members.is_empty()));
            if nested {
                self.flattened.insert(path.clone());
                self.walk(src, vals, &path, depth + 1);
            } else if !self.index.contains_key(&path) {
                let lower = key.to_ascii_lowercase();
                self.error_key.push(matches!(
                    lower.as_str(),
                    "error"
                        | "errors"
                        | "err"
                        | "failure"
                        | "failures"
                        | "exception"
                        | "failed"
                        | "fault"
                ));
                self.index.insert(path.clone(), self.names.len());
                self.names.push(path);
            }
        }
    }

    pub(super) fn row<'n>(&self, src: &str, row: &'n Node) -> Vec<Option<&'n Node>> {
        let mut out = vec![None; self.names.len()];
        self.fill(src, row, "", &mut out);
        out
    }

    fn fill<'n>(&self, src: &str, obj: &'n Node, prefix: &str, out: &mut [Option<&'n Node>]) {
        let Node::Object { members, .. } = obj else {
            return;
        };
        for m in members {
            let key = decode_str(src, &m.key);
            let path = if prefix.is_empty() {
                key.into_owned()
            } else {
                format!("{prefix}.{key}")
            };
            if self.flattened.contains(&path) {
                self.fill(src, &m.value, &path, out);
            } else if let Some(&c) = self.index.get(&path) {
                out[c] = Some(&m.value);
            }
        }
    }
}
/// Columns with the same value in every row (stated once in the heading). Needs two rows.
pub(super) fn constant_columns(texts: &[Vec<Option<String>>], ncols: usize) -> Vec<bool> {
    let mut constant = vec![false; ncols];
    if texts.len() >= 2 {
        for (c, flag) in constant.iter_mut().enumerate() {
            let first = &texts[0][c];
            *flag = first.is_some() && texts.iter().all(|r| &r[c] == first);
        }
    }
    constant
}

/// A parsed table and what was decided about its columns: everything rendering needs.
pub(super) struct TableView<'t> {
    pub names: &'t [String],
    pub texts: &'t [Vec<Option<String>>],
    pub constant: &'t [bool],
    pub derived: &'t [Option<(usize, String, String)>],
}

impl TableView<'_> {
    /// `<table 3: key, 120 rows, 20 shown; same in every row: …; derived: …>`.
    pub fn heading(&self, name: Option<(usize, &str)>, shown: usize) -> String {
        let total = self.texts.len();
        let ncols = self.names.len();
        let mut out = String::new();
        match name {
            Some((n, key)) => {
                let _ = write!(out, "<table {n}: {key}, {total} rows");
            }
            None => {
                let _ = write!(out, "<table: {total} rows");
            }
        }
        if shown < total {
            let _ = write!(out, ", {shown} shown");
        }
        let consts: Vec<String> = (0..ncols)
            .filter(|&c| self.constant[c])
            .map(|c| {
                format!(
                    "{}={}",
                    self.names[c],
                    self.texts[0][c].as_deref().unwrap_or("")
                )
            })
            .collect();
        if !consts.is_empty() {
            let _ = write!(out, "; same in every row: {}", consts.join(" | "));
        }
        let formulas: Vec<String> = (0..ncols)
            .filter_map(|c| {
                let (src, prefix, suffix) = self.derived[c].as_ref()?;
                Some(format!(
                    "{}={prefix}{{{}}}{suffix}",
                    self.names[c], self.names[*src]
                ))
            })
            .collect();
        if !formulas.is_empty() {
            let _ = write!(out, "; derived: {}", formulas.join(" | "));
        }
        out.push_str(">\n");
        out
    }

    /// The header line and the kept rows (ascending indices), with one marker per run of
    /// dropped rows.
    pub fn rows(&self, keep: &[usize], out: &mut String) {
        let varying: Vec<usize> = (0..self.names.len())
            .filter(|&c| !self.constant[c] && self.derived[c].is_none())
            .collect();
        let header: Vec<&str> = varying.iter().map(|&c| self.names[c].as_str()).collect();
        out.push_str(&header.join("|"));
        let rows_marker = |n: usize| omitted(n, if n == 1 { "row" } else { "rows" }, "");
        let mut prev: Option<usize> = None;
        for &i in keep {
            let gap = match prev {
                Some(p) => i - p - 1,
                None => i,
            };
            if gap > 0 {
                out.push('\n');
                out.push_str(&rows_marker(gap));
            }
            out.push('\n');
            let row: Vec<&str> = varying
                .iter()
                .map(|&c| self.texts[i][c].as_deref().unwrap_or(""))
                .collect();
            out.push_str(&row.join("|"));
            prev = Some(i);
        }
        let tail = self.texts.len() - prev.map_or(0, |p| p + 1);
        if tail > 0 {
            out.push('\n');
            out.push_str(&rows_marker(tail));
        }
    }
}
