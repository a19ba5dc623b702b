//! Rate-limited failure logging for things that fail every cycle (a silent pack, an
//! unplugged adapter): the first failure is logged, then only a change of error, then an
//! hourly "still failing" heartbeat, and finally "recovered after N failed cycles".
//! A pack that stays dead for a week writes ~170 lines, not 60 000.

use std::time::{Duration, Instant};

const HEARTBEAT: Duration = Duration::from_secs(3600);

/// Failure state of one pack or port.
#[derive(Debug, Default)]
pub struct ErrorLog {
    failing: Option<Failing>,
}

#[derive(Debug)]
struct Failing {
    cycles: u64,
    message: String,
    logged_at: Instant,
    /// Messages already logged in this failing streak: an error that alternates between a
    /// few messages (a gateway that accepts and then resets) is logged once each, not at
    /// every change.
    seen: Vec<String>,
}

/// Distinct messages remembered per streak; past that, changes wait for the heartbeat.
const SEEN: usize = 4;

impl ErrorLog {
    /// Records a failure; returns the line to log, if this one should be logged.
    pub fn fail(&mut self, message: &str, now: Instant) -> Option<String> {
        match &mut self.failing {
            None => {
                self.failing = Some(Failing {
                    cycles: 1,
                    message: message.into(),
                    logged_at: now,
                    seen: vec![message.into()],
                });
                Some(message.to_string())
            }
            Some(f) => {
                f.cycles += 1;
                if f.message != message {
                    f.message = message.into();
                    if f.seen.iter().any(|m| m == message) || f.seen.len() >= SEEN {
                        return None;
                    }
                    f.seen.push(message.into());
                    f.logged_at = now;
                    Some(message.to_string())
                } else if now.duration_since(f.logged_at) >= HEARTBEAT {
                    f.logged_at = now;
                    Some(format!("{message} (still failing, {} cycles)", f.cycles))
                } else {
                    None
                }
            }
        }
    }

    /// Records a success; returns the recovery line if it had been failing.
    pub fn ok(&mut self) -> Option<String> {
        self.failing.take().map(|f| {
            let s = if f.cycles == 1 { "" } else { "s" };
            format!("recovered after {} failed cycle{s}", f.cycles)
        })
    }

    pub fn is_failing(&self) -> bool {
        self.failing.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_first_change_hourly_and_recovery() {
        let t0 = Instant::now();
        let mut log = ErrorLog::default();
        assert_eq!(log.ok(), None);
        assert_eq!(log.fail("timeout", t0).as_deref(), Some("timeout"));
        assert_eq!(log.fail("timeout", t0 + Duration::from_secs(10)), None);
        assert_eq!(log.fail("timeout", t0 + Duration::from_secs(20)), None);
        assert_eq!(
            log.fail("bad CRC", t0 + Duration::from_secs(30)).as_deref(),
            Some("bad CRC")
        );
        assert_eq!(log.fail("bad CRC", t0 + Duration::from_secs(40)), None);
        assert_eq!(
            log.fail("bad CRC", t0 + Duration::from_secs(3631))
                .as_deref(),
            Some("bad CRC (still failing, 6 cycles)")
        );
        assert_eq!(log.fail("bad CRC", t0 + Duration::from_secs(3641)), None);
        assert!(log.is_failing());
        assert_eq!(log.ok().as_deref(), Some("recovered after 7 failed cycles"));
        assert!(!log.is_failing());
        assert_eq!(log.ok(), None);
        assert!(log.fail("timeout", t0).is_some());
        assert_eq!(log.ok().as_deref(), Some("recovered after 1 failed cycle"));
    }

    #[test]
    fn an_alternating_error_is_logged_once_per_message() {
        // A gateway that accepts and then resets: two messages taking turns, 20 cycles.
        let t0 = Instant::now();
        let mut log = ErrorLog::default();
        let logged = (0..20)
            .filter(|i| {
                let m = if i % 2 == 0 {
                    "connection reset"
                } else {
                    "connection closed"
                };
                log.fail(m, t0 + Duration::from_secs(*i)).is_some()
            })
            .count();
        assert_eq!(logged, 2);
        // Endless new messages: at most SEEN per streak before the heartbeat.
        let mut log = ErrorLog::default();
        let logged = (0..100)
            .filter(|i| log.fail(&format!("error {i}"), t0).is_some())
            .count();
        assert_eq!(logged, SEEN);
    }
}
