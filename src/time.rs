//! Time helpers: human durations on the command line (`200ms`, `10s`, `1.5m`) and the
//! contract's timestamps (RFC 3339, UTC, milliseconds: `2026-11-21T14:03:07.512Z`).
//!
//! Written here rather than pulled in (humantime, chrono): both jobs are a few dozen lines,
//! and the civil-date conversion is the well-known days-from-epoch algorithm.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses a duration such as `250ms`, `1s`, `1.5s`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration '{text}': expected e.g. 500ms, 10s, 2m"))?;
    let scale = match unit.trim() {
        "ms" => 1e-3,
        "" | "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "us" | "µs" => 1e-6,
        other => {
            return Err(format!(
                "invalid duration unit '{other}' in '{text}': use ms, s, m or h"
            ))
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("duration '{text}' is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A point in time with millisecond resolution, serialised as RFC 3339 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    /// Milliseconds since the Unix epoch (negative before 1970).
    pub unix_ms: i64,
}

impl Timestamp {
    pub fn now() -> Self {
        Self::from_system(SystemTime::now())
    }

    pub fn from_system(t: SystemTime) -> Self {
        let unix_ms = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i64,
            Err(e) => -(e.duration().as_millis() as i64),
        };
        Timestamp { unix_ms }
    }

    /// From seconds and a sub-second part in nanoseconds (candump log timestamps).
    pub fn from_secs_nanos(secs: u64, nanos: u32) -> Self {
        Timestamp {
            unix_ms: (secs as i64).saturating_mul(1000) + (nanos / 1_000_000) as i64,
        }
    }
}

impl Timestamp {
    /// The RFC 3339 text, written without the formatting machinery (it is on the hot path
    /// of every decoder: one per record).
    pub fn rfc3339(&self) -> [u8; 24] {
        let ms = self.unix_ms.rem_euclid(1000) as u32;
        let secs = self.unix_ms.div_euclid(1000);
        let sod = secs.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        let y = y.clamp(0, 9999) as u32;
        let mut b = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, v: u32, n: usize| {
            let mut v = v;
            for i in (0..n).rev() {
                b[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, y, 4);
        put(5, m, 2);
        put(8, d, 2);
        put(11, sod / 3600, 2);
        put(14, sod / 60 % 60, 2);
        put(17, sod % 60, 2);
        put(20, ms, 3);
        b
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.rfc3339();
        f.write_str(std::str::from_utf8(&b).map_err(|_| fmt::Error)?)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = self.rfc3339();
        s.serialize_str(std::str::from_utf8(&b).map_err(serde::ser::Error::custom)?)
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) → days since 1970-01-01, proleptic Gregorian.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats a duration for humans in log lines: `1500 ms`, `12 s`, `3 min`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 10_000 {
        format!("{ms} ms")
    } else if ms < 600_000 {
        format!("{} s", ms / 1000)
    } else {
        format!("{} min", ms / 60_000)
    }
}

/// Parses an RFC 3339 timestamp of a record's `ts` (`2026-11-21T14:03:07.512Z`, any number of fraction
/// digits, `Z` or `±HH:MM`) to milliseconds since the epoch. Fractions below a millisecond
/// are dropped.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                ms = ms * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..3 {
            ms *= 10;
        }
    }
    let offset_min = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let d2 = |a: u8, b: u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let m = d2(*h1, *h2)? * 60 + d2(*m1, *m2)?;
            if *sign == b'+' {
                m
            } else {
                -m
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn formats_rfc3339_millis() {
        assert_eq!(
            Timestamp { unix_ms: 0 }.to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        // 1715987139.069323 is the last frame of protocols.md §3.6.
        let t = Timestamp::from_secs_nanos(1_715_987_139, 69_323_000);
        assert_eq!(t.to_string(), "2024-05-17T23:05:39.069Z");
        assert_eq!(
            Timestamp {
                unix_ms: 951_782_400_000
            }
            .to_string(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp { unix_ms: -1 }.to_string(),
            "1969-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn civil_round_trip() {
        for days in [-800_000i64, -1, 0, 59, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn timestamps_round_trip() {
        for ms in [0i64, 1_715_987_139_069, 1_790_000_000_001, 951_782_400_000] {
            let t = Timestamp { unix_ms: ms }.to_string();
            assert_eq!(parse_rfc3339_ms(&t), Some(ms), "{t}");
        }
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.123456Z"), Some(1123));
        assert_eq!(parse_rfc3339_ms("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("1970-01-01T00:00:00-00:30"),
            Some(1_800_000)
        );
        for bad in [
            "",
            "1970-01-01",
            "1970-01-01T00:00:00",
            "1970-13-01T00:00:00Z",
            "1970-01-01T00:00:00.Z",
            "1970-01-01T00:00:00Zjunk",
            "1970-01-01T0a:00:00Z",
            "ééééééééééééééééééééé",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_to_unix_ms() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2022-10-26T00:00:00.000Z"),
            Some(1_666_742_400_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-05-17T23:05:39.069Z"),
            Some(1_715_987_139_069)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-05-17T23:05:39.0691234Z"),
            Some(1_715_987_139_069)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-05-17T23:05:39Z"),
            Some(1_715_987_139_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-05-17T23:05:39.5Z"),
            Some(1_715_987_139_500)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-05-18T01:05:39.069+02:00"),
            Some(1_715_987_139_069)
        );
        for bad in [
            "",
            "2024-05-17",
            "2024-05-17T23:05:39.Z",
            "2024-13-17T23:05:39Z",
            "2024-05-17T23:05:39",
            "2024-05-17T23:05:39.069Zjunk",
            "2024-05-17T2é:05:39Z",
            "x024-05-17T23:05:39Z",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }
}
