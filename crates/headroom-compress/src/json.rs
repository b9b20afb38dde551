//! The JSON compressor. Arrays of similar objects become tables (column names once, one row per
//! item, nested objects flattened to `a.b` columns, columns that never vary stated once). Above
//! the row budget a table keeps its first and last rows, rows that look like errors or match the
//! task, and anomalous rows (rare categorical values, numeric outliers, unusual key sets); every
//! gap becomes a marker line. Everything else is minified with keys in their original order and
//! numbers and strings exactly as written.
//!
//! Must never: drop a row without a marker, reorder keys, or reformat a number.

use super::code::compound_hit;
use super::config::JsonConfig;
use super::detect::find_json;
use super::jsonmap;
use super::jsontree::{self, decode_str, Node};
use super::marker::{has_error_type, is_error_level, TaskWords};
use super::table::{
    anomaly_scores, constant_columns, derived_columns, is_truthy, Columns, TableView,
};
use super::{BlockInput, CompressError, Compressor};
use std::collections::BTreeSet;
use std::fmt::Write;

pub struct JsonCompressor {
    cfg: JsonConfig,
}

impl JsonCompressor {
    pub fn new(cfg: JsonConfig) -> Self {
        JsonCompressor { cfg }
    }
}

impl Compressor for JsonCompressor {
    fn name(&self) -> &'static str {
        "json"
    }

    fn compress(&self, input: &BlockInput<'_>) -> Result<Option<String>, CompressError> {
        let text = input.text;
        let Some((start, end)) = find_json(text) else {
            return Ok(None);
        };
        let src = &text[start..end];
        let node = jsontree::parse(src).map_err(|e| CompressError::Failed {
            compressor: "json",
            message: e.to_string(),
        })?;
        let mut r = Renderer {
            src,
            cfg: &self.cfg,
            task: TaskWords::new(input.task),
            terms: jsonmap::Terms::new(input.task),
            tables: Vec::new(),
        };
        let mut out = String::with_capacity(src.len() / 4);
        out.push_str(&text[..start]);
        if r.is_table(&node) {
            let table = r.table(&node, None);
            out.push_str(&table);
        } else {
            let mut skeleton = String::new();
            r.skeleton(&node, None, &mut skeleton);
            out.push_str(&skeleton);
        }
        for t in &r.tables {
            out.push_str("\n\n");
            out.push_str(t);
        }
        out.push_str(&text[end..]);
        Ok(Some(out))
    }
}

struct Renderer<'a> {
    src: &'a str,
    cfg: &'a JsonConfig,
    task: TaskWords,
    terms: jsonmap::Terms,
    tables: Vec<String>,
}

/// Calls `f` with `Ok(index)` for each kept entry and `Err(count)` once per dropped run.
fn for_kept_runs(keep: &[bool], mut f: impl FnMut(Result<usize, usize>)) {
    let mut i = 0;
    while i < keep.len() {
        if keep[i] {
            f(Ok(i));
            i += 1;
        } else {
            let start = i;
            while i < keep.len() && !keep[i] {
                i += 1;
            }
            f(Err(i - start));
        }
    }
}

impl<'a> Renderer<'a> {
    fn is_table(&self, node: &Node) -> bool {
        let Node::Array { items, .. } = node else {
            return false;
        };
        if items.len() < self.cfg.min_table_rows.max(2) {
            return false;
        }
        let mut union: BTreeSet<&str> = BTreeSet::new();
        let mut total_keys = 0usize;
        for item in items {
            let Node::Object { members, .. } = item else {
                return false;
            };
            total_keys += members.len();
            for m in members {
                union.insert(&self.src[m.key.clone()]);
            }
        }
        !union.is_empty() && total_keys * 2 >= union.len() * items.len()
    }

    /// Minified JSON, with tables pulled out into `self.tables` and referenced by number.
    fn skeleton(&mut self, node: &Node, key: Option<&str>, out: &mut String) {
        match node {
            Node::Str { span } => {
                let literal = &self.src[span.clone()];
                match jsonmap::clip_string(literal) {
                    Some(clipped) => out.push_str(&clipped),
                    None => out.push_str(literal),
                }
            }
            Node::Scalar { span } => out.push_str(&self.src[span.clone()]),
            Node::Array { items, .. } => {
                if self.is_table(node) {
                    let n = self.nested_table(node, key.unwrap_or("[]"));
                    let _ = write!(out, "\"<table {n}>\"");
                    return;
                }
                let keep = jsonmap::select_items(self.src, items, &self.terms)
                    .unwrap_or_else(|| vec![true; items.len()]);
                out.push('[');
                let mut first = true;
                for_kept_runs(&keep, |run| {
                    if !std::mem::take(&mut first) {
                        out.push(',');
                    }
                    match run {
                        Ok(i) => self.skeleton(&items[i], key, out),
                        Err(count) => out.push_str(&jsonmap::marker(count, "items")),
                    }
                });
                out.push(']');
            }
            Node::Object { members, .. } => {
                let keep = jsonmap::select_members(self.src, members, &self.terms);
                out.push('{');
                let mut first = true;
                for_kept_runs(&keep, |run| {
                    if !std::mem::take(&mut first) {
                        out.push(',');
                    }
                    match run {
                        Ok(i) => {
                            let m = &members[i];
                            out.push_str(&self.src[m.key.clone()]);
                            out.push(':');
                            let k = decode_str(self.src, &m.key);
                            self.skeleton(&m.value, Some(&k), out);
                        }
                        Err(count) => {
                            out.push_str("\"…\":");
                            out.push_str(&jsonmap::marker(count, "entries"));
                        }
                    }
                });
                out.push('}');
            }
        }
    }

    /// Plain minified JSON (used inside table cells).
    /// Big maps, long scalar arrays and long strings inside it are selected as in the skeleton.
    fn minified(&self, node: &Node, out: &mut String) {
        match node {
            Node::Str { span } => {
                let literal = &self.src[span.clone()];
                out.push_str(&jsonmap::clip_string(literal).unwrap_or_else(|| literal.to_string()));
            }
            Node::Scalar { span } => out.push_str(&self.src[span.clone()]),
            Node::Array { items, .. } => {
                let keep = jsonmap::select_items(self.src, items, &self.terms)
                    .unwrap_or_else(|| vec![true; items.len()]);
                out.push('[');
                let mut first = true;
                for_kept_runs(&keep, |run| {
                    if !std::mem::take(&mut first) {
                        out.push(',');
                    }
                    match run {
                        Ok(i) => self.minified(&items[i], out),
                        Err(count) => out.push_str(&jsonmap::marker(count, "items")),
                    }
                });
                out.push(']');
            }
            Node::Object { members, .. } => {
                let keep = jsonmap::select_members(self.src, members, &self.terms);
                out.push('{');
                let mut first = true;
                for_kept_runs(&keep, |run| {
                    if !std::mem::take(&mut first) {
                        out.push(',');
                    }
                    match run {
                        Ok(i) => {
                            out.push_str(&self.src[members[i].key.clone()]);
                            out.push(':');
                            self.minified(&members[i].value, out);
                        }
                        Err(count) => {
                            out.push_str("\"…\":");
                            out.push_str(&jsonmap::marker(count, "entries"));
                        }
                    }
                });
                out.push('}');
            }
        }
    }

    fn cell(&self, node: &Node) -> String {
        match node {
            Node::Scalar { span } => self.src[span.clone()].to_string(),
            Node::Str { span } => {
                let mut s = decode_str(self.src, span);
                if s.chars().count() > jsonmap::MAX_STRING {
                    s = std::borrow::Cow::Owned(jsonmap::clip_text(&s));
                }
                if s.is_empty() {
                    return "\"\"".to_string();
                }
                let mut out = String::with_capacity(s.len());
                for c in s.chars() {
                    match c {
                        '|' => out.push_str("\\|"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        c => out.push(c),
                    }
                }
                out
            }
            _ => {
                let mut out = String::new();
                self.minified(node, &mut out);
                out
            }
        }
    }

    /// Renders `node` (an array of objects) as table number N after the ones already taken,
    /// and returns N. The number is taken before the table's own cells are rendered, so
    /// tables nested in its cells come after it.
    fn nested_table(&mut self, node: &Node, key: &str) -> usize {
        self.tables.push(String::new());
        let n = self.tables.len();
        let table = self.table(node, Some((n, key)));
        self.tables[n - 1] = table;
        n
    }

    /// An array of objects as a table: parse the cells, select rows, render. A varying cell
    /// of a shown row that is itself an array of similar objects becomes a table of its own,
    /// referenced as `<table N>` (column names once, constant columns stated once).
    fn table(&mut self, node: &Node, name: Option<(usize, &str)>) -> String {
        let Node::Array { items, .. } = node else {
            return String::new();
        };
        let rows: Vec<&Node> = items.iter().collect();
        let columns = Columns::collect(self.src, &rows);
        let cells: Vec<Vec<Option<&Node>>> =
            rows.iter().map(|r| columns.row(self.src, r)).collect();
        let texts: Vec<Vec<Option<String>>> = cells
            .iter()
            .map(|row| row.iter().map(|c| c.map(|n| self.cell(n))).collect())
            .collect();
        let constant = constant_columns(&texts, columns.names.len());
        let derived = derived_columns(&cells, &texts, &constant);
        let keep = self.select_rows(&rows, &columns, &cells, &texts, &constant);
        let mut shown = texts.clone();
        for &i in &keep {
            for c in 0..columns.names.len() {
                if constant[c] || derived[c].is_some() {
                    continue;
                }
                if let Some(cell) = cells[i][c].filter(|n| self.is_table(n)) {
                    let n = self.nested_table(cell, &columns.names[c]);
                    shown[i][c] = Some(format!("<table {n}>"));
                }
            }
        }
        let table = TableView {
            names: &columns.names,
            texts: &shown,
            constant: &constant,
            derived: &derived,
        };
        let mut out = table.heading(name, keep.len());
        table.rows(&keep, &mut out);
        out
    }

    /// Whether the task names a column: `version`, or `rust_version` for "Rust version".
    fn names_column(&self, name: &str) -> bool {
        let last = name.rsplit('.').next().unwrap_or(name);
        (self.task.matches(last) && !last.contains('_')) || compound_hit(&self.task, last)
    }

    /// Indices of the rows to keep, ascending.
    fn select_rows(
        &self,
        rows: &[&Node],
        columns: &Columns,
        cells: &[Vec<Option<&Node>>],
        texts: &[Vec<Option<String>>],
        constant: &[bool],
    ) -> Vec<usize> {
        let n = rows.len();
        let budget = self.cfg.max_rows.max(2);
        if n <= budget {
            return (0..n).collect();
        }
        let mut keep = vec![false; n];
        let mut kept = 0usize;
        let take = |i: usize, keep: &mut Vec<bool>, kept: &mut usize| {
            if !keep[i] {
                keep[i] = true;
                *kept += 1;
            }
        };
        for i in [0, 1, n - 1] {
            take(i, &mut keep, &mut kept);
        }
        // Must-keep rows: errors and task matches, up to the hard cap.
        // A column that flags most rows (every URL contains the task's word "repos", every row
        // has `"status": "failed"`) tells nothing about any row: only selective columns count.
        let hard = self.cfg.max_rows_hard.max(budget);
        let selective = n.div_ceil(10).max(budget);
        let ncols = constant.len();
        let mut hits: Vec<Vec<bool>> = vec![vec![false; ncols]; n];
        let mut per_col = vec![0usize; ncols];
        for i in 0..n {
            for c in 0..ncols {
                let Some(t) = texts[i][c].as_deref() else {
                    continue;
                };
                let hit = !constant[c]
                    && (self.task.matches(t)
                        || (columns.error_key[c] && is_truthy(t))
                        || matches!(cells[i][c], Some(Node::Str { .. }))
                            && (is_error_level(t) || has_error_type(t)));
                if hit {
                    hits[i][c] = true;
                    per_col[c] += 1;
                }
            }
        }
        for (i, row_hits) in hits.iter().enumerate() {
            if kept >= hard {
                break;
            }
            let must = (0..ncols).any(|c| row_hits[c] && per_col[c] <= selective);
            if must {
                take(i, &mut keep, &mut kept);
            }
        }
        // A column the task names ("the newest Rust version" → `rust_version`): the rows
        // holding its highest and lowest values.
        for c in (0..ncols).filter(|&c| !constant[c] && self.names_column(&columns.names[c])) {
            for i in extreme_rows(texts, c) {
                if kept < hard {
                    take(i, &mut keep, &mut kept);
                }
            }
        }
        // Anomalies, rarest first, until the budget is used.
        let mut scored: Vec<(u32, usize)> =
            anomaly_scores(rows.len(), columns, cells, texts, constant)
                .into_iter()
                .enumerate()
                .filter(|(i, s)| *s > 0 && !keep[*i])
                .map(|(i, s)| (s, i))
                .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, i) in scored {
            if kept >= budget {
                break;
            }
            take(i, &mut keep, &mut kept);
        }
        // Fill the rest of the budget with the first rows, for a sense of the typical item.
        let mut i = 2;
        while kept < budget.min(4) && i < n {
            take(i, &mut keep, &mut kept);
            i += 1;
        }
        (0..n).filter(|&i| keep[i]).collect()
    }
}

/// A number or a dotted version (`1.85`, `1.66.0`, `v2.3`) as comparable parts.
fn version_key(t: &str) -> Option<Vec<u64>> {
    let t = t.strip_prefix('v').unwrap_or(t);
    if t.is_empty() || t.len() > 40 {
        return None;
    }
    t.split('.').map(|p| p.parse::<u64>().ok()).collect()
}

/// Rows whose cell in column `c` holds the column's highest or lowest number or version;
/// none when the column's values are not comparable.
fn extreme_rows(texts: &[Vec<Option<String>>], c: usize) -> Vec<usize> {
    let keys: Vec<Option<Vec<u64>>> = texts
        .iter()
        .map(|row| row[c].as_deref().and_then(version_key))
        .collect();
    let (Some(max), Some(min)) = (keys.iter().flatten().max(), keys.iter().flatten().min()) else {
        return Vec::new();
    };
    keys.iter()
        .enumerate()
        .filter(|(_, k)| k.as_ref().is_some_and(|k| k == max || k == min))
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, task: &str, cfg: JsonConfig) -> String {
        JsonCompressor::new(cfg)
            .compress(&BlockInput { text, task })
            .unwrap()
            .unwrap()
    }

    #[test]
    fn arrays_of_objects_inside_shown_cells_become_tables_of_their_own() {
        let dep = |name: &str, req: &str| {
            format!(
                r#"{{"name":"{name}","source":"registry+https://example.org/index","req":"{req}","optional":false}}"#
            )
        };
        let packages: Vec<String> = (0..5)
            .map(|p| {
                let deps: Vec<String> = (0..4)
                    .map(|d| dep(&format!("dep{p}{d}"), &format!("^{d}.0")))
                    .collect();
                format!(
                    r#"{{"name":"pkg{p}","version":"1.{p}.0","dependencies":[{}]}}"#,
                    deps.join(",")
                )
            })
            .collect();
        let text = format!(r#"{{"packages":[{}],"version":1}}"#, packages.join(","));
        let out = run(&text, "", JsonConfig::default());
        assert!(
            out.starts_with(r#"{"packages":"<table 1>","version":1}"#),
            "{out}"
        );
        assert!(
            out.contains("name|version|dependencies\npkg0|1.0.0|<table 2>\npkg1|1.1.0|<table 3>"),
            "{out}"
        );
        // The nested table states its constant columns once and keeps every row.
        assert!(out.contains("<table 2: dependencies, 4 rows; same in every row: source=registry+https://example.org/index | optional=false>\nname|req\ndep00|^0.0\ndep01|^1.0"), "{out}");
        assert!(out.contains("<table 6: dependencies"), "{out}");
        assert!(out.len() < text.len());
    }

    #[test]
    fn small_arrays_of_objects_become_lossless_tables() {
        let text = r#"[{"id": 1, "name": "a|b", "ok": true}, {"id": 2, "name": "c", "ok": true},
                       {"id": 3, "name": "d", "ok": true}, {"id": 4, "name": "e", "ok": true}]"#;
        let out = run(text, "", JsonConfig::default());
        assert_eq!(
            out,
            "<table: 4 rows; same in every row: ok=true>\nid|name\n1|a\\|b\n2|c\n3|d\n4|e"
        );
    }

    #[test]
    fn big_tables_keep_anomalies_errors_and_task_matches_with_markers() {
        let mut items = Vec::new();
        for i in 0..200 {
            let status = if i == 77 { "suspended" } else { "active" };
            let note = if i == 150 {
                "payment failed: card declined"
            } else {
                "ok"
            };
            let name = if i == 120 {
                "zephyr-billing".to_string()
            } else {
                format!("svc-{i}")
            };
            items.push(format!(
                r#"{{"id": {i}, "name": "{name}", "status": "{status}", "note": "{note}", "cpu": {}}}"#,
                if i == 33 { 9000 } else { 10 + i % 7 }
            ));
        }
        let text = format!("{{\"total\": 200, \"items\": [{}]}}", items.join(","));
        let out = run(
            &text,
            "what is zephyr-billing doing?",
            JsonConfig::default(),
        );
        for needle in [
            "suspended",
            "payment failed: card declined",
            "zephyr-billing",
            "|9000",
            "\"total\":200",
        ] {
            assert!(out.contains(needle), "{needle} missing in\n{out}");
        }
        assert!(out.contains("rows omitted …]"), "{out}");
        assert!(out.len() * 5 < text.len());
    }

    #[test]
    fn irregular_json_is_minified_with_key_order_and_numbers_kept() {
        let text = "{\n  \"zeta\": 1.50,\n  \"alpha\": [1, 2],\n  \"s\": \"x\\u00e9\"\n}";
        assert_eq!(
            run(text, "", JsonConfig::default()),
            r#"{"zeta":1.50,"alpha":[1,2],"s":"x\u00e9"}"#
        );
    }

    #[test]
    fn columns_built_from_another_column_are_stated_once() {
        let rows: Vec<String> = (0..6)
            .map(|i| {
                format!(
                    r#"{{"name":"repo-{i}","url":"https://x.test/acme/repo-{i}/issues","n":{i}}}"#
                )
            })
            .collect();
        let out = run(&format!("[{}]", rows.join(",")), "", JsonConfig::default());
        assert!(
            out.contains("derived: url=https://x.test/acme/{name}/issues"),
            "{out}"
        );
        assert!(out.contains("name|n\nrepo-0|0"), "{out}");
    }

    #[test]
    fn nested_objects_flatten_into_dotted_columns() {
        let rows: Vec<String> = (0..5)
            .map(|i| format!(r#"{{"id":{i},"owner":{{"login":"u{i}","type":"User"}}}}"#))
            .collect();
        let out = run(&format!("[{}]", rows.join(",")), "", JsonConfig::default());
        assert!(out.contains("same in every row: owner.type=User"), "{out}");
        assert!(out.contains("id|owner.login\n0|u0"), "{out}");
    }
}
