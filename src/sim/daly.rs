//! Simulated Daly boards (protocols.md §13): 13-byte A5 frames, boards by number, answering
//! requests from host 0x40 (RS-485) or 0x80 (UART). Values come from the drifting pack model;
//! a board may be asleep (it echoes each request and answers nothing, as a real one does), and
//! multi-frame answers come as a UART does (only frames with data) or, with `all_frames`, as
//! Bluetooth does (every frame). Anything but a read of 0x90-0x98 is refused and reported.

use super::lp4::PackModel;
use super::Responder;
use crate::family::SimSpec;
use crate::proto::daly::{self, DataId, FRAME_LEN, START};
use std::time::Instant;

struct Board {
    number: u8,
    pack: PackModel,
    faults: [u8; 7],
}

pub struct Slave {
    boards: Vec<Board>,
    cells: usize,
    silent: Vec<u8>,
    asleep: Vec<u8>,
    all_frames: bool,
    host: Option<u8>,
    bad_every: Option<u64>,
    replies: u64,
    buf: Vec<u8>,
    /// When the last bytes came: a partial frame older than [`STALE`] is dropped, as a real
    /// board's receiver does after a pause.
    last: Option<Instant>,
    refused: Vec<Vec<u8>>,
}

/// A pause after which a partial frame is dropped.
const STALE: std::time::Duration = std::time::Duration::from_millis(50);

/// Temperature sensors per simulated board.
const SENSORS: usize = 4;

/// The (byte, bit) of a 0x98 fault by field name (`cell_ov` alone means its protection).
fn fault_bit(name: &str) -> Option<(usize, u8)> {
    let candidates = [name.to_string(), format!("protection_{name}")];
    for (byte, names) in daly::FAULT_BITS.iter().enumerate() {
        for (bit, n) in names.iter().enumerate() {
            if n.is_some_and(|n| candidates.iter().any(|c| c == n)) {
                return Some((byte, bit as u8));
            }
        }
    }
    None
}

/// `bms-sim daly`.
pub fn simulator(spec: &SimSpec) -> Result<Box<dyn Responder>, String> {
    let start = Instant::now();
    let mut boards: Vec<Board> = spec
        .addresses
        .iter()
        .map(|&n| Board {
            number: n,
            pack: PackModel::new(n, format!("SIM-{}-{n:02}", spec.tag), start),
            faults: [0; 7],
        })
        .collect();
    for (target, name) in &spec.faults {
        let (byte, bit) = fault_bit(name).ok_or_else(|| {
            format!("unknown fault '{name}' for daly: use a warning_*, protection_* or alarm_* name of 0x98")
        })?;
        for b in boards
            .iter_mut()
            .filter(|b| target.is_none_or(|t| t == b.number))
        {
            b.faults[byte] |= 1 << bit;
        }
    }
    Ok(Box::new(Slave {
        boards,
        cells: spec.cells.clamp(1, 16),
        silent: spec.silent.clone(),
        asleep: spec.asleep.clone(),
        all_frames: spec.all_frames,
        host: spec.host,
        bad_every: spec.bad_every,
        replies: 0,
        buf: Vec::new(),
        last: None,
        refused: Vec::new(),
    }))
}

/// The board a request's address byte asks for: host 0x40 or 0x80 plus board − 1 (only
/// `host`'s when given).
fn board_of(address: u8, host: Option<u8>) -> Option<u8> {
    let (base, board) = match address {
        0x40..=0x5F => (0x40, address - 0x40 + 1),
        0x80..=0x9F => (0x80, address - 0x80 + 1),
        _ => return None,
    };
    host.is_none_or(|h| h == base).then_some(board)
}

impl Slave {
    fn answer(&mut self, board: u8, id: DataId, now: Instant) -> Option<Vec<u8>> {
        let cells = self.cells;
        let all = self.all_frames;
        let b = self.boards.iter_mut().find(|b| b.number == board)?;
        let img = b.pack.image(now);
        let cells_mv = &img.cells_mv[..cells.min(img.cells_mv.len())];
        let temps: Vec<i16> = img.sensors[..SENSORS]
            .iter()
            .map(|&t| i16::from(t))
            .collect();
        let current_deci = i32::from(img.current_centi) / 10;
        let frame = |data: [u8; 8]| daly::encode_frame(board, id.code(), data).to_vec();
        let mut d = [0u8; 8];
        let out: Vec<u8> = match id {
            DataId::Soc => {
                let mv: u32 = cells_mv.iter().map(|&c| u32::from(c)).sum();
                d[0..2].copy_from_slice(&((mv / 100) as u16).to_be_bytes());
                let raw = (30000 - current_deci).clamp(0, 65535) as u16;
                d[4..6].copy_from_slice(&raw.to_be_bytes());
                d[6..8].copy_from_slice(&(img.soc.min(100) * 10).to_be_bytes());
                frame(d)
            }
            DataId::CellRange => {
                let (hi, lo) = extremes(cells_mv);
                d[0..2].copy_from_slice(&cells_mv[hi].to_be_bytes());
                d[2] = hi as u8 + 1;
                d[3..5].copy_from_slice(&cells_mv[lo].to_be_bytes());
                d[5] = lo as u8 + 1;
                frame(d)
            }
            DataId::TempRange => {
                let (hi, lo) = extremes(&temps);
                d = [
                    (temps[hi] + 40) as u8,
                    hi as u8 + 1,
                    (temps[lo] + 40) as u8,
                    lo as u8 + 1,
                    0,
                    0,
                    0,
                    0,
                ];
                frame(d)
            }
            DataId::Mos => {
                d[0] = match img.status {
                    1 => 1,
                    2 => 2,
                    _ => 0,
                };
                let off = b.faults.iter().any(|&f| f != 0);
                d[1] = u8::from(!off);
                d[2] = u8::from(!off);
                d[3] = 200;
                d[4..8].copy_from_slice(&(u32::from(img.remaining_ah) * 1000).to_be_bytes());
                frame(d)
            }
            DataId::Status => {
                d[0] = cells_mv.len() as u8;
                d[1] = SENSORS as u8;
                d[2] = u8::from(current_deci > 0);
                d[3] = u8::from(current_deci < 0);
                d[5..7].copy_from_slice(&(img.cycles as u16).to_be_bytes());
                frame(d)
            }
            DataId::Cells => {
                let n = if all { 16 } else { cells_mv.len().div_ceil(3) };
                (1..=n)
                    .flat_map(|k| {
                        let mut d = [0u8; 8];
                        d[0] = k as u8;
                        for j in 0..3 {
                            let v = cells_mv.get((k - 1) * 3 + j).copied().unwrap_or(0);
                            d[1 + 2 * j..3 + 2 * j].copy_from_slice(&v.to_be_bytes());
                        }
                        frame(d)
                    })
                    .collect()
            }
            DataId::Temperatures => {
                let n = if all { 3 } else { SENSORS.div_ceil(7) };
                (1..=n)
                    .flat_map(|k| {
                        let mut d = [0u8; 8];
                        d[0] = k as u8;
                        for j in 0..7 {
                            d[1 + j] = temps
                                .get((k - 1) * 7 + j)
                                .map_or(0, |&t| (t + 40).clamp(0, 255) as u8);
                        }
                        frame(d)
                    })
                    .collect()
            }
            DataId::Balance => {
                d[0..2].copy_from_slice(&img.balancing.to_le_bytes());
                frame(d)
            }
            DataId::Faults => {
                d[..7].copy_from_slice(&b.faults);
                frame(d)
            }
        };
        Some(out)
    }
}

fn extremes<T: PartialOrd + Copy>(v: &[T]) -> (usize, usize) {
    let (mut hi, mut lo) = (0, 0);
    for (i, x) in v.iter().enumerate() {
        if *x > v[hi] {
            hi = i;
        }
        if *x < v[lo] {
            lo = i;
        }
    }
    (hi, lo)
}

impl Responder for Slave {
    fn feed(&mut self, bytes: &[u8], now: Instant) -> Vec<Vec<u8>> {
        if self.last.is_some_and(|t| now.duration_since(t) > STALE) {
            self.buf.clear();
        }
        self.last = Some(now);
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            let Some(start) = self.buf.iter().position(|&b| b == START) else {
                self.buf.clear();
                break;
            };
            self.buf.drain(..start);
            if self.buf.len() < FRAME_LEN {
                break;
            }
            if daly::scan(&self.buf[..FRAME_LEN]) != daly::Scan::Frame {
                self.buf.drain(..1); // noise: a real board ignores it and looks again
                continue;
            }
            let frame: Vec<u8> = self.buf.drain(..FRAME_LEN).collect();
            let Some((addr, code)) = daly::parse_request(&frame) else {
                self.refused.push(frame);
                continue;
            };
            let Some(board) = board_of(addr, self.host) else {
                continue; // a board's own frame, or another host's
            };
            if !self.boards.iter().any(|b| b.number == board) || self.silent.contains(&board) {
                continue;
            }
            if self.asleep.contains(&board) {
                out.push(frame); // the echo of a sleeping board
                continue;
            }
            let Some(id) = DataId::from_code(code) else {
                continue;
            };
            if let Some(mut reply) = self.answer(board, id, now) {
                self.replies += 1;
                if self
                    .bad_every
                    .is_some_and(|n| n > 0 && self.replies.is_multiple_of(n))
                {
                    let k = reply.len() - 1;
                    reply[k] ^= 0x5A;
                }
                out.push(reply);
            }
        }
        out
    }

    fn foreign(&self, reply: &[u8]) -> Option<Vec<u8>> {
        if reply.is_empty() || !reply.len().is_multiple_of(FRAME_LEN) {
            return None;
        }
        let mut out = Vec::with_capacity(reply.len());
        for f in reply.chunks_exact(FRAME_LEN) {
            let data: [u8; 8] = f[4..12].try_into().ok()?;
            out.extend(daly::encode_frame(super::next_address(f[1]), f[2], data));
        }
        Some(out)
    }

    fn refused(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::daly::{collect, request, Collected, HOST_RS485, HOST_UART};

    fn sim(spec: SimSpec) -> Box<dyn Responder> {
        simulator(&SimSpec { cells: 16, ..spec }).unwrap()
    }

    #[test]
    fn boards_answer_by_number_from_either_host() {
        let mut s = sim(SimSpec {
            addresses: vec![1, 2],
            ..SimSpec::default()
        });
        let now = Instant::now();
        for (host, board) in [(HOST_RS485, 1), (HOST_UART, 2)] {
            let r = s.feed(&request(host, board, DataId::Soc), now);
            assert!(matches!(
                collect(&r[0], board, DataId::Soc, None),
                Collected::Done(_)
            ));
        }
        let r = s.feed(&request(HOST_RS485, 1, DataId::Cells), now);
        assert_eq!(r[0].len(), 6 * FRAME_LEN);
        assert!(s.feed(&request(HOST_RS485, 3, DataId::Soc), now).is_empty());
    }

    #[test]
    fn asleep_echoes_and_writes_are_refused() {
        let mut s = sim(SimSpec {
            addresses: vec![1],
            asleep: vec![1],
            ..SimSpec::default()
        });
        let now = Instant::now();
        let q = request(HOST_RS485, 1, DataId::Soc);
        assert_eq!(s.feed(&q, now), vec![q.to_vec()]);
        let write = daly::encode_frame(0x40, 0xD9, [0; 8]);
        assert!(s.feed(&write, now).is_empty());
        assert_eq!(s.refused(), vec![write.to_vec()]);
    }
}
