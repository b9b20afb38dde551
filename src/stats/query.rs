//! `GET /stats/history?period=hour|day&from=&to=&format=json|csv`: parameters read strictly
//! (a bad one is an error that names it and says what is accepted) and buckets rendered.
//!
//! Must never: answer a bad parameter with a guess; zero-fill (only buckets that hold counts
//! are listed, so any range stays small).

use super::history::{format_utc, parse_time, Period};
use super::persist::Ledger;
use crate::pricing::Pricing;

/// Whose counts a history answer holds: said in the JSON (`scope`, `scope_note`) and in the
/// `x-headroom-scope` header (CSV too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A proxy without shared state: its own (and its stats file's) counts.
    Local,
    /// A team gateway: every replica's counts, read from Redis.
    Team,
    /// A team gateway whose Redis cannot answer now: this replica's own counts only.
    ReplicaFallback,
}

impl Scope {
    /// The header value and the JSON `scope`.
    pub fn label(self) -> &'static str {
        match self {
            Scope::Local => "local",
            Scope::Team => "team",
            Scope::ReplicaFallback => "replica",
        }
    }

    /// A sentence for people reading the JSON.
    pub fn note(self) -> &'static str {
        match self {
            Scope::Local => "this proxy",
            Scope::Team => "team (shared in Redis)",
            Scope::ReplicaFallback => "this replica only: Redis is unavailable",
        }
    }
}

/// A parsed history request.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryQuery {
    pub period: Period,
    /// Bucket starts in `[from, to)`, Unix seconds.
    pub from: i64,
    pub to: i64,
    pub csv: bool,
}

const ACCEPTED: &str = "period=hour|day, from=, to= (Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z, UTC), format=json|csv";

impl HistoryQuery {
    /// Reads a query string; `now` sets the defaults (the last 24 hours, or 30 days by day).
    pub fn parse(query: &str, now: i64) -> Result<HistoryQuery, String> {
        let (mut period, mut from, mut to, mut csv) = (Period::Hour, None, None, false);
        for kv in query.split('&').filter(|kv| !kv.is_empty()) {
            let (k, raw) = kv.split_once('=').unwrap_or((kv, ""));
            let v = percent_decode(raw)
                .ok_or_else(|| format!("`{k}` is not valid percent-encoded UTF-8"))?;
            match k {
                "period" => {
                    period = match v.as_str() {
                        "hour" => Period::Hour,
                        "day" => Period::Day,
                        _ => return Err(format!("`period={v}` is not one of hour, day")),
                    }
                }
                "from" | "to" => {
                    let t = parse_time(&v).ok_or_else(|| {
                        format!("`{k}={v}` is not a time: give Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)")
                    })?;
                    if k == "from" {
                        from = Some(t)
                    } else {
                        to = Some(t)
                    }
                }
                "format" => {
                    csv = match v.as_str() {
                        "json" => false,
                        "csv" => true,
                        _ => return Err(format!("`format={v}` is not one of json, csv")),
                    }
                }
                _ => return Err(format!("unknown parameter `{k}`; accepted: {ACCEPTED}")),
            }
        }
        let to = to.unwrap_or_else(|| period.start_of(now) + period.seconds());
        let span = match period {
            Period::Hour => 24,
            Period::Day => 30,
        } * period.seconds();
        let from = from.unwrap_or(to - span);
        if from >= to {
            return Err(format!(
                "`from` ({}) must be before `to` ({})",
                format_utc(from),
                format_utc(to)
            ));
        }
        Ok(HistoryQuery {
            period,
            from: period.start_of(from),
            to,
            csv,
        })
    }

    /// The response body and its content type.
    pub fn render(
        &self,
        ledger: &Ledger,
        pricing: &Pricing,
        scope: Scope,
    ) -> (&'static str, Vec<u8>) {
        let buckets = ledger.history.range(self.period, self.from, self.to);
        if self.csv {
            let mut out = String::from(
                "start,requests,compressed_requests,failed,tokens_before,tokens_after,tokens_saved,\
input_tokens,cache_write_tokens,cache_read_tokens,output_tokens,estimated_dollars_saved,estimated_dollars_spent\n",
            );
            for (start, t) in buckets {
                let m = t.money(pricing);
                let u = &t.upstream_usage;
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{},{},{:.6},{:.6}\n",
                    format_utc(start),
                    t.requests,
                    t.compressed_requests,
                    t.failed,
                    t.tokens_before,
                    t.tokens_after,
                    t.tokens_saved(),
                    u.input,
                    u.cache_creation,
                    u.cache_read,
                    u.output,
                    m.saved,
                    m.spent
                ));
            }
            return ("text/csv; charset=utf-8", out.into_bytes());
        }
        let list: Vec<serde_json::Value> = buckets
            .map(|(start, t)| {
                let mut v = t.view(pricing);
                if let Some(o) = v.as_object_mut() {
                    o.insert("start".into(), format_utc(start).into());
                    o.insert("start_unix".into(), start.into());
                }
                v
            })
            .collect();
        let doc = serde_json::json!({
            "period": self.period.as_str(),
            "from": format_utc(self.from),
            "to": format_utc(self.to),
            "timezone": "UTC",
            "scope": scope.label(),
            "scope_note": scope.note(),
            "buckets": list,
        });
        (
            "application/json",
            serde_json::to_vec_pretty(&doc).unwrap_or_default(),
        )
    }
}

/// Decodes a query-string value (`%XX` escapes, `+` as space); `None` when malformed.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::history::{DAY, HOUR};
    use crate::stats::Totals;

    const NOW: i64 = 1_796_108_400 + 1800; // 2026-12-01T07:30:00Z

    #[test]
    fn defaults_cover_the_last_day_by_hour() {
        let q = HistoryQuery::parse("", NOW).unwrap();
        assert_eq!(q.period, Period::Hour);
        assert_eq!(q.to, NOW - 1800 + HOUR);
        assert_eq!(q.to - q.from, 24 * HOUR);
        let q = HistoryQuery::parse("period=day&format=csv", NOW).unwrap();
        assert!(q.csv);
        assert_eq!(q.to - q.from, 30 * DAY);
    }

    #[test]
    fn times_read_in_every_documented_form() {
        let q = HistoryQuery::parse("from=2026-11-30&to=2026-12-01T06%3A00%3A00Z", NOW).unwrap();
        assert_eq!(format_utc(q.from), "2026-11-30T00:00:00Z");
        assert_eq!(format_utc(q.to), "2026-12-01T06:00:00Z");
        let q = HistoryQuery::parse("from=1796108400&to=1796112000", NOW).unwrap();
        assert_eq!(q.to - q.from, HOUR);
    }

    #[test]
    fn bad_parameters_are_named() {
        for (q, says) in [
            ("period=week", "period=week"),
            ("from=yesterday", "from=yesterday"),
            ("format=xml", "format=xml"),
            ("limit=5", "unknown parameter `limit`"),
            ("from=2026-12-02&to=2026-12-01", "must be before"),
            ("from=%zz", "percent-encoded"),
        ] {
            let err = HistoryQuery::parse(q, NOW).unwrap_err();
            assert!(err.contains(says), "{q}: {err}");
        }
    }

    #[test]
    fn renders_buckets_in_range_as_json_and_csv() {
        let mut ledger = Ledger::default();
        let t = Totals {
            requests: 2,
            tokens_before: 300,
            tokens_after: 100,
            ..Default::default()
        };
        ledger.history.record(NOW, &t);
        ledger.history.record(NOW - 30 * HOUR, &t);
        let q = HistoryQuery::parse("", NOW).unwrap();
        let (ct, body) = q.render(&ledger, &Pricing::default(), Scope::Local);
        assert_eq!(ct, "application/json");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["scope"], "local");
        assert_eq!(v["buckets"].as_array().unwrap().len(), 1);
        assert_eq!(v["buckets"][0]["start"], "2026-12-01T07:00:00Z");
        assert_eq!(v["buckets"][0]["tokens_saved"], 200);
        let q = HistoryQuery::parse("period=day&format=csv", NOW).unwrap();
        let (ct, body) = q.render(&ledger, &Pricing::default(), Scope::Team);
        assert!(ct.starts_with("text/csv"));
        let text = String::from_utf8(body).unwrap();
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 3, "{text}");
        assert!(
            rows[1].starts_with("2026-11-30T00:00:00Z,2,0,0,300,100,200,"),
            "{text}"
        );
        assert!(rows[2].starts_with("2026-12-01T00:00:00Z,2,"), "{text}");
    }
}
