//! The delivery logic of readings-to-influx's HTTP writer, without I/O: lines in, batches
//! out, the server's answers back in. The tool owns the socket and the clock and drives it
//! with events (a line was read, the input ended, time passed, a request was answered).
//!
//! - Batches: up to `batch_lines` lines or `batch_bytes` bytes, sent when full, when the
//!   oldest waiting line is `flush_after` old, or at once after [`Outbox::close`].
//! - One request at a time; lines leave the queue only when the server has taken them
//!   (2xx), so a failed request is sent again, in the same order.
//! - Retries with exponential backoff (`backoff_min` doubling to `backoff_max`) on
//!   connection errors, timeouts, 429 and 5xx.
//! - A rejected batch (400, 413: bad or too large data) is split in halves and sent again
//!   until the offending lines stand alone; each of those is reported with the server's
//!   message and dropped (counted as rejected). InfluxDB 1.x has already written the good
//!   points of a partial write; writing them again is idempotent (same series, same time).
//! - Bounded buffer (readings.md's delivery rule): while the server answers, a full queue
//!   stops the input ([`Outbox::wants_input`] is false: backpressure). While it is away the
//!   input goes on and the oldest waiting lines are dropped beyond `capacity` lines or
//!   `capacity_bytes` bytes (counted), so the producer upstream never blocks on a dead server
//!   and memory stays bounded whatever the size of the lines.
//! - A server's `Retry-After` ([`Outcome::RetryAfter`]) sets the next attempt, if later than
//!   the backoff (at most [`MAX_RETRY_AFTER`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Limits and timing of the delivery.
#[derive(Debug, Clone)]
pub struct Config {
    pub batch_lines: usize,
    pub batch_bytes: usize,
    pub flush_after: Duration,
    /// Lines held at most (in flight included); at least `batch_lines + 1`.
    pub capacity: usize,
    /// Bytes of lines held at most (in flight included; a request under way and one line
    /// can go beyond it, as they cannot be dropped).
    pub capacity_bytes: usize,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            batch_lines: 5000,
            batch_bytes: 1 << 20,
            flush_after: Duration::from_secs(1),
            capacity: 100_000,
            capacity_bytes: CAPACITY_BYTES,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// The default bound of the bytes held (as readings-to-mqtt's queue).
pub const CAPACITY_BYTES: usize = 64 << 20;

/// The longest wait a server's `Retry-After` can ask for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// What the server (or the connection) said about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: every line was taken.
    Written,
    /// Connection error, timeout, 429, 5xx: try again later.
    Retry(String),
    /// The same, with the server's `Retry-After`: not before this long.
    RetryAfter(String, Duration),
    /// 400, 413: something in the batch is refused; the server's message.
    Rejected(String),
    /// 401, 403, 404 and other answers retrying cannot fix (wrong token, no such database).
    Fatal(String),
}

/// What to do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this body (lines, each with its `\n`); answer with [`Outbox::on_result`].
    Send(Vec<u8>),
    /// Nothing to send before this time (more input may come earlier).
    Wait(Instant),
    /// Nothing to send until more input comes (or everything is delivered after close).
    Idle,
}

/// Something to tell the user about, from [`Outbox::on_result`].
#[derive(Debug, PartialEq, Eq)]
pub enum Report {
    /// The first failure of a series: retrying after the backoff.
    Failing(String),
    /// The server takes lines again after failures.
    Recovered,
    /// One line refused by the server, dropped.
    RejectedLine { line: Vec<u8>, message: String },
    /// Retrying cannot help: the tool should stop.
    Fatal(String),
}

/// Counters, never decreasing.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub pushed: u64,
    pub delivered: u64,
    /// Dropped to keep the buffer bounded (or left over when giving up).
    pub dropped: u64,
    /// Refused by the server.
    pub rejected: u64,
    pub requests: u64,
    pub failures: u64,
}

/// The delivery state machine.
#[derive(Debug)]
pub struct Outbox {
    cfg: Config,
    queue: VecDeque<Vec<u8>>,
    /// Bytes of the lines in `queue`.
    bytes: usize,
    /// Lines at the front of `queue` in the request under way (0: none).
    in_flight: usize,
    /// When the oldest line not yet in a request arrived.
    oldest: Option<Instant>,
    retry_at: Option<Instant>,
    backoff: Duration,
    failing: bool,
    /// Batch size cap while a rejected batch is being split, and how many of its lines are
    /// still to be resolved.
    limit: usize,
    splitting: usize,
    closing: bool,
    stats: Stats,
}

impl Outbox {
    pub fn new(mut cfg: Config) -> Outbox {
        cfg.batch_lines = cfg.batch_lines.max(1);
        cfg.capacity = cfg.capacity.max(cfg.batch_lines + 1);
        Outbox {
            backoff: cfg.backoff_min,
            cfg,
            queue: VecDeque::new(),
            bytes: 0,
            in_flight: 0,
            oldest: None,
            retry_at: None,
            failing: false,
            limit: usize::MAX,
            splitting: 0,
            closing: false,
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Lines held (waiting and in flight).
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Bytes of the lines held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Is the server failing (retrying after a backoff)?
    pub fn failing(&self) -> bool {
        self.failing
    }

    /// Should the driver read more input now? False while the queue is full and the server
    /// answers (backpressure); true while the server is away (the oldest are dropped).
    pub fn wants_input(&self) -> bool {
        !self.closing && (!self.full() || self.failing)
    }

    fn full(&self) -> bool {
        self.queue.len() >= self.cfg.capacity || self.bytes >= self.cfg.capacity_bytes
    }

    /// One line (ending in `\n`) read at `now`. Returns true if an older line had to be
    /// dropped to make room.
    pub fn push(&mut self, line: Vec<u8>, now: Instant) -> bool {
        self.stats.pushed += 1;
        let mut dropped = false;
        while self.queue.len() >= self.cfg.capacity
            || self.bytes + line.len() > self.cfg.capacity_bytes
        {
            // The oldest line not in the request under way (capacity > batch_lines, so
            // there is one when the count is the limit; for the bytes there may be none).
            let Some(old) = self.queue.remove(self.in_flight) else {
                break;
            };
            self.bytes -= old.len();
            self.stats.dropped += 1;
            dropped = true;
            if self.splitting > 0 {
                self.splitting -= 1;
                if self.splitting == 0 {
                    self.limit = usize::MAX;
                }
            }
        }
        self.bytes += line.len();
        self.queue.push_back(line);
        if self.oldest.is_none() {
            self.oldest = Some(now);
        }
        dropped
    }

    /// The input ended (or a signal asked to stop): send what is left without waiting.
    pub fn close(&mut self) {
        self.closing = true;
    }

    /// Closed and everything delivered (or rejected, or dropped).
    pub fn done(&self) -> bool {
        self.closing && self.queue.is_empty()
    }

    /// Gives up on what is left (after the drain timeout): counted as dropped.
    pub fn abandon(&mut self) {
        self.stats.dropped += self.queue.len() as u64;
        self.queue.clear();
        self.bytes = 0;
        self.in_flight = 0;
        self.oldest = None;
    }

    /// What to do at `now`.
    pub fn poll(&mut self, now: Instant) -> Action {
        if self.in_flight > 0 || self.queue.is_empty() {
            return Action::Idle;
        }
        if let Some(t) = self.retry_at {
            if now < t {
                return Action::Wait(t);
            }
            self.retry_at = None;
        }
        let max = self.cfg.batch_lines.min(self.limit);
        let mut n = 0;
        let mut bytes = 0;
        for l in self.queue.iter().take(max) {
            if n > 0 && bytes + l.len() > self.cfg.batch_bytes {
                break;
            }
            n += 1;
            bytes += l.len();
        }
        let full = n == max || n < self.queue.len();
        let due = self.oldest.is_none_or(|t| now >= t + self.cfg.flush_after);
        if !(full || due || self.closing || self.failing) {
            return Action::Wait(self.oldest.unwrap_or(now) + self.cfg.flush_after);
        }
        let mut body = Vec::with_capacity(bytes);
        for l in self.queue.iter().take(n) {
            body.extend_from_slice(l);
        }
        self.in_flight = n;
        self.stats.requests += 1;
        Action::Send(body)
    }

    /// The answer to the request from the last [`Action::Send`].
    pub fn on_result(&mut self, outcome: Outcome, now: Instant) -> Option<Report> {
        let n = std::mem::take(&mut self.in_flight);
        if n == 0 {
            return None;
        }
        match outcome {
            Outcome::Written => {
                self.bytes -= self.queue.drain(..n).map(|l| l.len()).sum::<usize>();
                self.stats.delivered += n as u64;
                self.resolved(n, now);
                self.backoff = self.cfg.backoff_min;
                std::mem::take(&mut self.failing).then_some(Report::Recovered)
            }
            Outcome::Retry(why) => self.failed(why, Duration::ZERO, now),
            Outcome::RetryAfter(why, after) => self.failed(why, after.min(MAX_RETRY_AFTER), now),
            Outcome::Rejected(message) if n == 1 => {
                let line = self.queue.pop_front().unwrap_or_default();
                self.bytes -= line.len();
                self.stats.rejected += 1;
                self.resolved(1, now);
                Some(Report::RejectedLine { line, message })
            }
            Outcome::Rejected(_) => {
                if self.splitting == 0 {
                    self.splitting = n;
                }
                self.limit = n.div_ceil(2);
                None
            }
            Outcome::Fatal(message) => Some(Report::Fatal(message)),
        }
    }

    /// A failed request: the next attempt after the backoff (or `after`, if later).
    fn failed(&mut self, why: String, after: Duration, now: Instant) -> Option<Report> {
        self.stats.failures += 1;
        self.retry_at = Some(now + self.backoff.max(after));
        self.backoff = (self.backoff * 2).min(self.cfg.backoff_max);
        let first = !self.failing;
        self.failing = true;
        first.then_some(Report::Failing(why))
    }

    /// `n` lines left the queue: bookkeeping of the split and of the oldest waiting line.
    fn resolved(&mut self, n: usize, now: Instant) {
        if self.splitting > 0 {
            self.splitting = self.splitting.saturating_sub(n);
            if self.splitting == 0 {
                self.limit = usize::MAX;
            }
        }
        // The lines now at the front have waited at least since the last send; approximate
        // their age by now so a backlog goes out in full batches, not one per flush_after.
        self.oldest = (!self.queue.is_empty()).then_some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cfg(batch: usize, cap: usize) -> Config {
        Config {
            batch_lines: batch,
            batch_bytes: 1 << 20,
            flush_after: Duration::from_secs(1),
            capacity: cap,
            capacity_bytes: 1 << 20,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(4),
        }
    }

    fn line(i: u32) -> Vec<u8> {
        format!("m v={i}\n").into_bytes()
    }

    fn numbers(body: &[u8]) -> Vec<u32> {
        std::str::from_utf8(body)
            .unwrap()
            .lines()
            .map(|l| l[4..].parse().unwrap())
            .collect()
    }

    #[test]
    fn batches_by_size_and_time() {
        let t0 = Instant::now();
        let mut o = Outbox::new(cfg(3, 100));
        o.push(line(1), t0);
        assert_eq!(o.poll(t0), Action::Wait(t0 + Duration::from_secs(1)));
        o.push(line(2), t0);
        o.push(line(3), t0);
        o.push(line(4), t0);
        let Action::Send(b) = o.poll(t0) else {
            panic!()
        };
        assert_eq!(numbers(&b), [1, 2, 3]);
        assert_eq!(o.poll(t0), Action::Idle, "one request at a time");
        assert_eq!(o.on_result(Outcome::Written, t0), None);
        // 4 waits for flush_after, counted from the last send
        assert!(matches!(o.poll(t0), Action::Wait(_)));
        let t1 = t0 + Duration::from_secs(1);
        let Action::Send(b) = o.poll(t1) else {
            panic!()
        };
        assert_eq!(numbers(&b), [4]);
        o.on_result(Outcome::Written, t1);
        assert_eq!(o.poll(t1), Action::Idle);
        assert_eq!(o.stats().delivered, 4);
    }

    #[test]
    fn byte_limit_and_close() {
        let t0 = Instant::now();
        let mut o = Outbox::new(Config {
            batch_bytes: 12,
            ..cfg(100, 1000)
        });
        for i in 1..=3 {
            o.push(line(i), t0);
        }
        o.close();
        assert!(!o.wants_input());
        let Action::Send(b) = o.poll(t0) else {
            panic!()
        };
        assert_eq!(numbers(&b), [1, 2]);
        o.on_result(Outcome::Written, t0);
        let Action::Send(b) = o.poll(t0) else {
            panic!()
        };
        assert_eq!(numbers(&b), [3]);
        assert!(!o.done());
        o.on_result(Outcome::Written, t0);
        assert!(o.done());
    }

    #[test]
    fn retries_with_backoff_in_order() {
        let t0 = Instant::now();
        let mut o = Outbox::new(cfg(2, 100));
        o.push(line(1), t0);
        o.push(line(2), t0);
        let Action::Send(_) = o.poll(t0) else {
            panic!()
        };
        assert_eq!(
            o.on_result(Outcome::Retry("refused".into()), t0),
            Some(Report::Failing("refused".into()))
        );
        assert_eq!(o.poll(t0), Action::Wait(t0 + Duration::from_millis(500)));
        let t1 = t0 + Duration::from_millis(500);
        let Action::Send(b) = o.poll(t1) else {
            panic!()
        };
        assert_eq!(numbers(&b), [1, 2]);
        assert_eq!(o.on_result(Outcome::Retry("refused".into()), t1), None);
        assert_eq!(o.poll(t1), Action::Wait(t1 + Duration::from_secs(1)));
        let t2 = t1 + Duration::from_secs(1);
        let Action::Send(b) = o.poll(t2) else {
            panic!()
        };
        assert_eq!(numbers(&b), [1, 2]);
        assert_eq!(o.on_result(Outcome::Written, t2), Some(Report::Recovered));
        assert_eq!(o.stats().failures, 2);
        assert_eq!(o.stats().delivered, 2);
    }

    #[test]
    fn full_queue_backpressure_while_up_drops_while_down() {
        let t0 = Instant::now();
        let mut o = Outbox::new(cfg(2, 4));
        for i in 1..=4 {
            assert!(o.wants_input());
            assert!(!o.push(line(i), t0));
        }
        assert!(!o.wants_input(), "server up: the input waits");
        let Action::Send(_) = o.poll(t0) else {
            panic!()
        };
        o.on_result(Outcome::Retry("down".into()), t0);
        assert!(o.wants_input(), "server down: the input goes on");
        assert!(o.push(line(5), t0));
        assert!(o.push(line(6), t0));
        assert_eq!(o.stats().dropped, 2);
        let t1 = t0 + Duration::from_secs(1);
        let mut got = Vec::new();
        while let Action::Send(b) = o.poll(t1) {
            got.extend(numbers(&b));
            o.on_result(Outcome::Written, t1);
        }
        assert_eq!(got, [3, 4, 5, 6], "the oldest were dropped, order kept");
    }

    #[test]
    fn rejected_batch_is_split_down_to_the_bad_line() {
        let t0 = Instant::now();
        let mut o = Outbox::new(cfg(8, 100));
        for i in 1..=8 {
            o.push(line(i), t0);
        }
        let mut written = Vec::new();
        let mut reports = Vec::new();
        while let Action::Send(b) = o.poll(t0) {
            let nums = numbers(&b);
            let outcome = if nums.contains(&6) {
                Outcome::Rejected("bad 6".into())
            } else {
                written.extend(nums);
                Outcome::Written
            };
            reports.extend(o.on_result(outcome, t0));
        }
        assert_eq!(written, [1, 2, 3, 4, 5, 7, 8]);
        assert_eq!(
            reports,
            [Report::RejectedLine {
                line: line(6),
                message: "bad 6".into()
            }]
        );
        assert_eq!(o.stats().rejected, 1);
        assert_eq!(o.limit, usize::MAX, "whole batches again after the split");
    }

    #[test]
    fn the_buffer_is_bounded_in_bytes_too() {
        let t0 = Instant::now();
        // 100 000 lines allowed, but only 1000 bytes
        let mut o = Outbox::new(Config {
            capacity_bytes: 1000,
            ..cfg(2, 100_000)
        });
        let big = |i: u32| format!("m v={i:0>95}\n").into_bytes(); // 100 bytes
        for i in 0..10 {
            assert!(!o.push(big(i), t0));
        }
        assert!(
            !o.wants_input(),
            "server up: 1000 bytes is full, the input waits"
        );
        let Action::Send(_) = o.poll(t0) else {
            panic!()
        };
        o.on_result(Outcome::Retry("down".into()), t0);
        assert!(o.wants_input());
        for i in 10..1000 {
            o.push(big(i), t0);
            assert!(o.bytes() <= 1000, "{}", o.bytes());
        }
        assert_eq!(o.len(), 10);
        assert_eq!(o.stats().dropped, 990);
        let s = o.stats();
        assert_eq!(s.pushed, s.dropped + o.len() as u64);
        // a line larger than the whole bound still goes through, alone, and the bytes are
        // counted back down as lines leave
        let t1 = t0 + Duration::from_secs(1);
        o.push(vec![b'x'; 5000], t1);
        assert_eq!((o.len(), o.stats().dropped), (1, 1000));
        while let Action::Send(_) = o.poll(t1 + Duration::from_secs(60)) {
            o.on_result(Outcome::Written, t1);
        }
        assert_eq!((o.len(), o.bytes()), (0, 0));
    }

    #[test]
    fn retry_after_sets_the_next_attempt() {
        let t0 = Instant::now();
        let mut o = Outbox::new(cfg(2, 100));
        o.push(line(1), t0);
        let Action::Send(_) = o.poll(t0 + Duration::from_secs(1)) else {
            panic!()
        };
        o.on_result(
            Outcome::RetryAfter("503".into(), Duration::from_secs(7)),
            t0,
        );
        assert_eq!(o.poll(t0), Action::Wait(t0 + Duration::from_secs(7)));
        let Action::Send(_) = o.poll(t0 + Duration::from_secs(7)) else {
            panic!()
        };
        // a huge one is capped
        o.on_result(
            Outcome::RetryAfter("429".into(), Duration::from_secs(1 << 30)),
            t0,
        );
        assert_eq!(o.poll(t0), Action::Wait(t0 + MAX_RETRY_AFTER));
    }

    #[derive(Debug, Clone)]
    enum Ev {
        Push(u8),
        Tick(u16),
        Answer(u8),
        Close,
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            4 => (1u8..20).prop_map(Ev::Push),
            2 => (0u16..3000).prop_map(Ev::Tick),
            4 => (0u8..10).prop_map(Ev::Answer),
            1 => Just(Ev::Close),
        ]
    }

    proptest! {
        /// Whatever the server does: every line is delivered, rejected or dropped exactly
        /// once, delivered lines keep their order, the buffer stays bounded, and nothing is
        /// dropped while the server answers.
        #[test]
        fn nothing_lost_reordered_or_unbounded(events in prop::collection::vec(ev(), 1..200)) {
            let mut now = Instant::now();
            let mut o = Outbox::new(cfg(5, 12));
            let mut next = 0u32;
            let mut delivered: Vec<u32> = Vec::new();
            let mut sent: Option<Vec<u32>> = None;
            let mut bad_seen = 0u64;
            for e in events {
                match e {
                    Ev::Push(k) => {
                        for _ in 0..k {
                            if !o.wants_input() { break; }
                            let was_failing = o.failing();
                            next += 1;
                            let dropped = o.push(line(next), now);
                            prop_assert!(!dropped || was_failing);
                        }
                    }
                    Ev::Tick(ms) => now += Duration::from_millis(u64::from(ms)),
                    Ev::Close => o.close(),
                    Ev::Answer(a) => {
                        if sent.is_none() {
                            if let Action::Send(b) = o.poll(now) {
                                sent = Some(numbers(&b));
                            }
                        }
                        if let Some(nums) = sent.take() {
                            // lines divisible by 7 are refused; answers 0-2 are failures
                            let outcome = if a < 3 {
                                Outcome::Retry("down".into())
                            } else if nums.iter().any(|n| n.is_multiple_of(7)) {
                                Outcome::Rejected("bad".into())
                            } else {
                                delivered.extend(&nums);
                                Outcome::Written
                            };
                            if let Some(Report::RejectedLine { line: l, .. }) = o.on_result(outcome, now) {
                                let n = numbers(&l);
                                prop_assert!(n[0].is_multiple_of(7));
                                bad_seen += 1;
                            }
                        }
                    }
                }
                prop_assert!(o.len() <= 12);
                prop_assert_eq!(o.bytes(), o.queue.iter().map(Vec::len).sum::<usize>());
                let s = o.stats();
                prop_assert_eq!(s.pushed, s.delivered + s.dropped + s.rejected + o.len() as u64);
            }
            prop_assert!(delivered.windows(2).all(|w| w[0] < w[1]), "{:?}", delivered);
            prop_assert!(delivered.iter().all(|n| !n.is_multiple_of(7)));
            prop_assert_eq!(o.stats().rejected, bad_seen);
            prop_assert_eq!(o.stats().delivered, delivered.len() as u64);
        }
    }
}
