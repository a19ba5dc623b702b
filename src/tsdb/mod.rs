//! Time-series outputs (issue 16): InfluxDB line protocol, the Prometheus exposition, the
//! delivery state machine of the HTTP writer and the Grafana dashboards. Everything here is
//! pure (no sockets, no clocks read): the tools `readings-to-influx` and `readings-exporter`
//! own the I/O and drive these modules.
//!
//! - [`line`]: a reading → one line of InfluxDB line protocol;
//! - [`outbox`]: batching, bounded buffer, drops and retries of the HTTP writer, as events;
//! - [`http`]: HTTP/1.1 requests and responses as bytes, and a small blocking client;
//! - [`expo`]: the newest reading per device → the Prometheus text exposition;
//! - [`grafana`]: dashboards for both, generated from the field catalogue.

pub mod expo;
pub mod grafana;
pub mod http;
pub mod line;
pub mod outbox;

use crate::time::days_from_civil;

/// Parses an RFC 3339 timestamp (`2026-11-21T14:03:07.512Z`, any fraction length, `Z` or
/// `±hh:mm`) into milliseconds since the Unix epoch. `None` for anything else.
pub fn parse_ts_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[r] {
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
    if b.get(i) == Some(&b'.') {
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
    let offset_min = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digit = |c: u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
            let v = (digit(*h1)? * 10 + digit(*h2)?) * 60 + digit(*m1)? * 10 + digit(*m2)?;
            if *sign == b'-' {
                -v
            } else {
                v
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
    use super::parse_ts_ms;

    #[test]
    fn timestamps() {
        assert_eq!(parse_ts_ms("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            parse_ts_ms("2022-10-26T00:00:00.000Z"),
            Some(1_666_742_400_000)
        );
        assert_eq!(
            parse_ts_ms("2024-05-17T23:05:39.069Z"),
            Some(1_715_987_139_069)
        );
        assert_eq!(
            parse_ts_ms("2024-05-17T23:05:39.0691234Z"),
            Some(1_715_987_139_069)
        );
        assert_eq!(parse_ts_ms("2024-05-17T23:05:39Z"), Some(1_715_987_139_000));
        assert_eq!(
            parse_ts_ms("2024-05-17T23:05:39.5Z"),
            Some(1_715_987_139_500)
        );
        assert_eq!(
            parse_ts_ms("2024-05-18T01:05:39.069+02:00"),
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
            assert_eq!(parse_ts_ms(bad), None, "{bad}");
        }
    }
}
