//! Savings history: [`Totals`] bucketed by UTC hour (kept [`HOUR_RETENTION_DAYS`]) and by UTC
//! day (kept [`DAY_RETENTION_DAYS`]), keyed by the bucket's start in Unix seconds. Display in the
//! user's time zone is the reader's job (the dashboard converts in the browser).
//!
//! Must never: store local times; keep buckets past their retention.

use super::totals::Totals;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;
/// Hourly buckets are kept this long (the promise is at least 90 days).
pub const HOUR_RETENTION_DAYS: i64 = 92;
/// Daily buckets are kept this long (the promise is at least two years).
pub const DAY_RETENTION_DAYS: i64 = 800;

/// Bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Hour,
    Day,
}

impl Period {
    pub fn seconds(self) -> i64 {
        match self {
            Period::Hour => HOUR,
            Period::Day => DAY,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Hour => "hour",
            Period::Day => "day",
        }
    }

    /// The start of the bucket holding `unix` (UTC).
    pub fn start_of(self, unix: i64) -> i64 {
        unix.div_euclid(self.seconds()) * self.seconds()
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct History {
    pub hours: BTreeMap<i64, Totals>,
    pub days: BTreeMap<i64, Totals>,
}

impl History {
    pub fn is_empty(&self) -> bool {
        self.hours.is_empty() && self.days.is_empty()
    }

    fn buckets(&self, p: Period) -> &BTreeMap<i64, Totals> {
        match p {
            Period::Hour => &self.hours,
            Period::Day => &self.days,
        }
    }

    /// Adds `delta` to the hour and the day holding `unix`.
    pub fn record(&mut self, unix: i64, delta: &Totals) {
        self.record_with(unix, |t| t.add(delta));
    }

    /// Applies `add` to the hour and the day holding `unix`.
    pub fn record_with(&mut self, unix: i64, add: impl Fn(&mut Totals)) {
        add(self.hours.entry(Period::Hour.start_of(unix)).or_default());
        add(self.days.entry(Period::Day.start_of(unix)).or_default());
    }

    /// Adds every bucket of `other`.
    pub fn add(&mut self, other: &History) {
        for (k, v) in &other.hours {
            self.hours.entry(*k).or_default().add(v);
        }
        for (k, v) in &other.days {
            self.days.entry(*k).or_default().add(v);
        }
    }

    /// Drops buckets older than their retention, as seen at `now`.
    pub fn prune(&mut self, now: i64) {
        let hour_cut = Period::Hour.start_of(now) - HOUR_RETENTION_DAYS * DAY;
        let day_cut = Period::Day.start_of(now) - DAY_RETENTION_DAYS * DAY;
        self.hours.retain(|k, _| *k >= hour_cut);
        self.days.retain(|k, _| *k >= day_cut);
    }

    /// Buckets whose start lies in `[from, to)`, oldest first.
    pub fn range(&self, p: Period, from: i64, to: i64) -> impl Iterator<Item = (i64, &Totals)> {
        self.buckets(p)
            .range(from..to.max(from))
            .map(|(k, v)| (*k, v))
    }

    /// Every bucket start in `[from, to)` with its totals (empty ones included), oldest first.
    pub fn series(&self, p: Period, from: i64, to: i64) -> Vec<(i64, Totals)> {
        let mut out = Vec::new();
        let mut t = p.start_of(from);
        while t < to {
            out.push((t, self.buckets(p).get(&t).cloned().unwrap_or_default()));
            t += p.seconds();
        }
        out
    }

    /// Sum of the buckets in `[from, to)`.
    pub fn sum(&self, p: Period, from: i64, to: i64) -> Totals {
        let mut total = Totals::default();
        for (_, v) in self.range(p, from, to) {
            total.add(v);
        }
        total
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `2026-12-01T07:00:00Z`.
pub fn format_utc(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(DAY));
    let s = unix.rem_euclid(DAY);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Reads a time given as Unix seconds, `YYYY-MM-DD` (UTC midnight) or
/// `YYYY-MM-DDTHH:MM[:SS]Z`.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z')?)),
        None => (s, None),
    };
    let mut parts = date.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if date.len() != 10 || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let mut secs = 0i64;
    if let Some(t) = time {
        let f: Vec<&str> = t.split(':').collect();
        if !(2..=3).contains(&f.len()) || f.iter().any(|x| x.len() != 2) {
            return None;
        }
        let h: i64 = f[0].parse().ok()?;
        let mi: i64 = f[1].parse().ok()?;
        let se: i64 = f.get(2).map_or(Some(0), |x| x.parse().ok())?;
        if h > 23 || mi > 59 || se > 59 {
            return None;
        }
        secs = h * 3600 + mi * 60 + se;
    }
    Some(days_from_civil(y, m, d) * DAY + secs)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    let next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, m + 1, 1)
    };
    (next - days_from_civil(y, m, 1)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_request() -> Totals {
        Totals {
            requests: 1,
            tokens_before: 100,
            tokens_after: 40,
            ..Default::default()
        }
    }

    #[test]
    fn buckets_split_at_utc_hour_and_day_boundaries() {
        let midnight = parse_time("2026-03-01").unwrap();
        let mut h = History::default();
        h.record(midnight - 1, &one_request()); // 2026-02-28 23:59:59
        h.record(midnight, &one_request());
        h.record(midnight + HOUR - 1, &one_request());
        h.record(midnight + HOUR, &one_request());
        assert_eq!(h.hours.len(), 3);
        assert_eq!(h.hours[&midnight].requests, 2);
        assert_eq!(h.hours[&(midnight - HOUR)].requests, 1);
        assert_eq!(h.days.len(), 2);
        assert_eq!(h.days[&midnight].requests, 3);
        assert_eq!(h.days[&(midnight - DAY)].requests, 1);
        assert_eq!(format_utc(midnight - 1), "2026-02-28T23:59:59Z");
    }

    #[test]
    fn dates_round_trip_and_leap_days_exist() {
        assert_eq!(parse_time("1970-01-01"), Some(0));
        assert_eq!(parse_time("2024-02-29T12:30Z"), Some(1_709_209_800));
        assert_eq!(parse_time("2023-02-29"), None);
        assert_eq!(parse_time("2026-13-01"), None);
        assert_eq!(parse_time("2026-12-01T24:00Z"), None);
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2026-12-01T07:00:00"), None);
        for day in [-1000, -1, 0, 1, 19_000, 20_500, 100_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(format_utc(1_709_209_800), "2024-02-29T12:30:00Z");
    }

    #[test]
    fn retention_keeps_90_days_of_hours_and_two_years_of_days() {
        let now = parse_time("2026-12-01T07:30Z").unwrap();
        let mut h = History::default();
        for days_ago in [0, 89, 91, 93, 200, 731, 801] {
            h.record(now - days_ago * DAY, &one_request());
        }
        h.prune(now);
        let hours_kept: Vec<i64> = h.hours.keys().map(|k| (now - k) / DAY).collect();
        assert_eq!(hours_kept, vec![91, 89, 0]);
        let days_kept = h.days.len();
        assert_eq!(days_kept, 6, "{:?}", h.days.keys());
        assert!(h.days.keys().all(|k| now - k < 801 * DAY));
    }

    #[test]
    fn series_fills_empty_buckets_and_sum_adds_a_range() {
        let t0 = parse_time("2026-12-01").unwrap();
        let mut h = History::default();
        h.record(t0 + 10, &one_request());
        h.record(t0 + 3 * HOUR + 5, &one_request());
        let s = h.series(Period::Hour, t0, t0 + 4 * HOUR);
        assert_eq!(s.len(), 4);
        assert_eq!(
            s.iter().map(|(_, t)| t.requests).collect::<Vec<_>>(),
            [1, 0, 0, 1]
        );
        assert_eq!(h.sum(Period::Hour, t0 + HOUR, t0 + 4 * HOUR).requests, 1);
        assert_eq!(h.sum(Period::Day, t0, t0 + DAY).tokens_before, 200);
    }
}
