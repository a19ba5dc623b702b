//! Fortress Power eFlex batteries on CAN (250 kbit/s, 11-bit ids, DLC 8).
//!
//! Battery n (1–15, its position in the chain, not a stable identity) sends 11 frames
//! on id 0x100+n and then 7 frames on 0x600+n, about once per second. Byte 0 of each
//! frame is a sequence tag, bytes 1–7 are payload; the payloads of one id, in tag
//! order, form a block: 11 × 7 = 77 bytes ("block10") and 7 × 7 = 49 bytes ("block60").
//! Offset k of a block lives in the frame with tag ⌊k/7⌋+1 (0x11 for the last 0x60n
//! frame), data byte (k mod 7)+1.
//!
//! ```text
//! 102#01 02 0E 0213 FFFD 45     tag 1: battery 2, 14 in system, 53.1 V, -0.3 A, SOC 69 %
//! 102#02 03 0000 0212 0101      tag 2: status 0x03 (G), 0, system average 53.0 V, flags (G)
//!  ...                          tags 3-7: limits, cell extremes, temps (G), lifetime
//!                               discharge 0x0002330A, pre-voltage, insulation, sw 4006, hw 'a'
//! 102#08 22 05 00 75 45 025C    tag 8: serial "22" "05" "0" "75" 'E' "0604" = 2205075E0604
//!  ...                          tags 9-11: unknown, a second voltage (G)
//! 602#01 F90C F90C F80C F9      tags 1-5: 16 cells, little-endian mV: 3321 3321 3320 33..
//!  ...
//! 602#11 41 40 40 40 41 43 00   tag 0x11: six temperature bytes (G), one zero
//! ```
//!
//! Status: fields named in [`Battery`] are the ones confirmed by the only public decoder
//! (djoly/eflexcan2mqtt); the inferred ("G") bytes are kept raw in [`Inferred`] for
//! the caller's `raw` map until a capture settles them.
//!
//! [`Assembler`] turns frames into complete battery cycles (a complete block10 and
//! then the complete block60 of the same node), checks every tag including the
//! closing 0x11, drops incomplete or out-of-order groups with a named reason, and
//! resynchronises on the next 0x10n tag 1. Nodes may interleave. Memory is fixed.
//! [`decode`] reads the blocks; [`encode`] and [`frames`] go the other way, for
//! simulators and round-trip tests. Pure: no I/O.

use std::fmt;

use super::candump::{CanFrame, FrameKind};

/// Length of the 0x10n block.
pub const BLOCK10_LEN: usize = 77;
/// Length of the 0x60n block.
pub const BLOCK60_LEN: usize = 49;
/// Tags of the 0x60n frames, in bus order.
pub const TAGS60: [u8; 7] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x11];
const FRAMES10: u8 = 11;
const FRAMES60: u8 = 7;

/// The two kinds of block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// 0x100+n, 11 frames, 77 bytes.
    B10,
    /// 0x600+n, 7 frames, 49 bytes.
    B60,
}

impl Block {
    fn id(self, node: u8) -> u16 {
        match self {
            Block::B10 => 0x100 + u16::from(node),
            Block::B60 => 0x600 + u16::from(node),
        }
    }

    fn frames(self) -> u8 {
        match self {
            Block::B10 => FRAMES10,
            Block::B60 => FRAMES60,
        }
    }
}

/// What [`Assembler::push`] reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<T> {
    /// A battery's complete cycle.
    Cycle(Cycle<T>),
    /// A group of frames was thrown away.
    Dropped(Dropped<T>),
}

/// A complete block10 followed by the complete block60 of the same node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle<T> {
    /// Node 1–15, from the CAN id (the chain position).
    pub node: u8,
    /// Payload of the 11 frames on 0x100+node.
    pub block10: [u8; BLOCK10_LEN],
    /// Payload of the 7 frames on 0x600+node.
    pub block60: [u8; BLOCK60_LEN],
    /// Timestamp of the last (0x11) frame.
    pub ts: T,
}

impl<T> Cycle<T> {
    /// [`decode`] of the two blocks.
    pub fn decode(&self) -> Battery {
        decode(&self.block10, &self.block60)
    }
}

/// A dropped group: which node, why, and the timestamp of the frame that showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped<T> {
    /// Node 1–15.
    pub node: u8,
    /// Why.
    pub reason: DropReason,
    /// Timestamp of the frame that revealed the problem (for [`Assembler::finish`],
    /// the timestamp passed to it).
    pub ts: T,
}

/// `node 2: frame tag 5 after tag 3 on 0x102`
impl<T> fmt::Display for Dropped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {}: {}", self.node, self.reason)
    }
}

/// Why a group was dropped. `id` is the CAN id (0x10n or 0x60n) concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A frame whose tag is not the next one of its block: `frame tag 5 after tag 3 on
    /// 0x102`; `prev` is `None` when no block of that id was open (a capture starting
    /// mid-block): `frame tag 5 without a preceding tag 1 on 0x102`.
    OutOfOrder {
        /// CAN id.
        id: u16,
        /// Tag of the last accepted frame of the block, if one was open.
        prev: Option<u8>,
        /// Tag received.
        got: u8,
    },
    /// A block was interrupted by a new start (tag 1 on the same node) or by the
    /// other block before it was complete: `0x603 block ended early`.
    EndedEarly {
        /// CAN id of the incomplete block.
        id: u16,
        /// Frames it had received.
        frames: u8,
    },
    /// A complete 0x10n block was followed by another 0x10n block instead of its
    /// 0x60n block: `0x102 block not followed by a 0x602 block`.
    Missing60 {
        /// CAN id of the 0x10n block.
        id: u16,
    },
    /// A 0x60n block started without a complete 0x10n block before it:
    /// `0x602 block without a complete 0x102 block`.
    Missing10 {
        /// CAN id of the 0x60n block.
        id: u16,
    },
    /// Input ended with this block incomplete (from [`Assembler::finish`]):
    /// `0x602 block unfinished at end of input (3 of 7 frames)`.
    Unfinished {
        /// CAN id of the incomplete block.
        id: u16,
        /// Frames it had received.
        frames: u8,
        /// Frames a complete block has.
        of: u8,
    },
}

/// Tags below 10 print as decimal digits (as in `tag 5`), larger ones in hex (`tag
/// 0x11`), so the message reads the same as the bytes in a candump line.
struct Tag(u8);

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 10 {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:#04x}", self.0)
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DropReason::OutOfOrder {
                id,
                prev: Some(prev),
                got,
            } => write!(
                f,
                "frame tag {} after tag {} on {id:#05x}",
                Tag(got),
                Tag(prev)
            ),
            DropReason::OutOfOrder {
                id,
                prev: None,
                got,
            } => write!(
                f,
                "frame tag {} without a preceding tag 1 on {id:#05x}",
                Tag(got)
            ),
            DropReason::EndedEarly { id, .. } => write!(f, "{id:#05x} block ended early"),
            DropReason::Missing60 { id } => write!(
                f,
                "{id:#05x} block not followed by a {:#05x} block",
                id.wrapping_add(0x500)
            ),
            DropReason::Missing10 { id } => write!(
                f,
                "{id:#05x} block without a complete {:#05x} block",
                id.wrapping_sub(0x500)
            ),
            DropReason::Unfinished { id, frames, of } => write!(
                f,
                "{id:#05x} block unfinished at end of input ({frames} of {of} frames)"
            ),
        }
    }
}

/// Counters kept by the [`Assembler`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames pushed.
    pub frames: u64,
    /// Frames that are not eFlex frames: other ids, DLC other than 8.
    pub ignored: u64,
    /// eFlex frames discarded silently while waiting to resynchronise after a drop.
    pub skipped: u64,
    /// Complete cycles emitted.
    pub cycles: u64,
    /// Drops: see [`DropReason::OutOfOrder`].
    pub out_of_order: u64,
    /// See [`DropReason::EndedEarly`].
    pub ended_early: u64,
    /// See [`DropReason::Missing60`] and [`DropReason::Missing10`].
    pub unpaired: u64,
    /// See [`DropReason::Unfinished`].
    pub unfinished: u64,
}

impl Stats {
    /// All drops together.
    pub fn dropped(&self) -> u64 {
        self.out_of_order + self.ended_early + self.unpaired + self.unfinished
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for 0x10n tag 1; anything else is reported once, then `Skip`.
    Idle,
    /// After a drop: waiting silently for 0x10n tag 1.
    Skip,
    /// Collecting block10; `next` is the tag expected (2..=11).
    In10 { next: u8 },
    /// Block10 complete; waiting for 0x60n tag 1.
    Wait60,
    /// Collecting block60; `next` is the 1-based index of the frame expected (2..=7).
    In60 { next: u8 },
}

#[derive(Clone)]
struct Node {
    phase: Phase,
    b10: [u8; BLOCK10_LEN],
    b60: [u8; BLOCK60_LEN],
}

/// Reassembles eFlex frames into battery cycles, per node, in fixed memory.
///
/// Push every frame read with [`Assembler::push`] (or [`Assembler::push_frame`]);
/// a returned [`Event::Cycle`] is decoded with [`Cycle::decode`], an
/// [`Event::Dropped`] is worth a counted warning. At end of input,
/// [`Assembler::finish`] reports the groups still open.
#[derive(Clone)]
pub struct Assembler {
    nodes: [Node; 15],
    stats: Stats,
    check_last_tag: bool,
}

impl Default for Assembler {
    fn default() -> Self {
        Assembler::new()
    }
}

impl fmt::Debug for Assembler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Assembler")
            .field("stats", &self.stats)
            .field("check_last_tag", &self.check_last_tag)
            .finish_non_exhaustive()
    }
}

impl Assembler {
    /// An assembler with every node idle, checking all 18 tags.
    pub fn new() -> Assembler {
        const IDLE: Node = Node {
            phase: Phase::Idle,
            b10: [0; BLOCK10_LEN],
            b60: [0; BLOCK60_LEN],
        };
        Assembler {
            nodes: [IDLE; 15],
            stats: Stats::default(),
            check_last_tag: true,
        }
    }

    /// Whether the 7th 0x60n frame must carry tag 0x11 (default: yes). djoly's
    /// decoder does not check it; turn this off if a pack variant uses another tag.
    pub fn set_check_last_tag(&mut self, on: bool) {
        self.check_last_tag = on;
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Feeds a frame from [`super::candump`]: only classic standard-id data frames
    /// are considered, everything else is counted as ignored.
    pub fn push_frame<T>(&mut self, frame: &CanFrame, ts: T) -> Option<Event<T>> {
        if frame.kind != FrameKind::Data || frame.extended || frame.fd.is_some() {
            self.stats.frames += 1;
            self.stats.ignored += 1;
            return None;
        }
        self.push(frame.id, frame.data(), ts)
    }

    /// Feeds one frame: `id` is the 11-bit id of a standard data frame (the caller
    /// filters out extended, remote and error frames), `ts` any timestamp type.
    /// Returns a completed cycle, a dropped group, or `None`. Ids other than
    /// 0x101–0x10F / 0x601–0x60F and data lengths other than 8 are ignored.
    pub fn push<T>(&mut self, id: u32, data: &[u8], ts: T) -> Option<Event<T>> {
        self.stats.frames += 1;
        let (block, node) = match id {
            0x101..=0x10F => (Block::B10, (id - 0x100) as u8),
            0x601..=0x60F => (Block::B60, (id - 0x600) as u8),
            _ => {
                self.stats.ignored += 1;
                return None;
            }
        };
        let data: &[u8; 8] = match data.try_into() {
            Ok(d) => d,
            Err(_) => {
                self.stats.ignored += 1;
                return None;
            }
        };
        let tag = data[0];
        let check_last_tag = self.check_last_tag;
        let st = &mut self.nodes[usize::from(node - 1)];
        let id10 = Block::B10.id(node);
        let id60 = Block::B60.id(node);

        let reason = match (block, st.phase) {
            // A 0x10n tag 1 always starts a new cycle; whatever was open is lost.
            (Block::B10, phase) if tag == 1 => {
                st.b10[..7].copy_from_slice(&data[1..]);
                st.phase = Phase::In10 { next: 2 };
                match phase {
                    Phase::Idle | Phase::Skip => return None,
                    Phase::In10 { next } => DropReason::EndedEarly {
                        id: id10,
                        frames: next - 1,
                    },
                    Phase::Wait60 => DropReason::Missing60 { id: id10 },
                    Phase::In60 { next } => DropReason::EndedEarly {
                        id: id60,
                        frames: next - 1,
                    },
                }
            }
            (_, Phase::Skip) => {
                self.stats.skipped += 1;
                return None;
            }
            (Block::B10, Phase::In10 { next }) if tag == next => {
                let at = 7 * usize::from(next - 1);
                st.b10[at..at + 7].copy_from_slice(&data[1..]);
                st.phase = if next == FRAMES10 {
                    Phase::Wait60
                } else {
                    Phase::In10 { next: next + 1 }
                };
                return None;
            }
            (Block::B10, Phase::In10 { next }) => DropReason::OutOfOrder {
                id: id10,
                prev: Some(next - 1),
                got: tag,
            },
            (Block::B10, Phase::Idle) => DropReason::OutOfOrder {
                id: id10,
                prev: None,
                got: tag,
            },
            (Block::B10, Phase::Wait60 | Phase::In60 { .. }) => DropReason::OutOfOrder {
                id: id10,
                prev: Some(FRAMES10),
                got: tag,
            },
            (Block::B60, Phase::Wait60) if tag == 1 => {
                st.b60[..7].copy_from_slice(&data[1..]);
                st.phase = Phase::In60 { next: 2 };
                return None;
            }
            (Block::B60, Phase::In60 { next }) => {
                let i = usize::from(next - 1);
                let last = next == FRAMES60;
                if tag == TAGS60[i] || (last && !check_last_tag && tag != 1) {
                    st.b60[7 * i..7 * i + 7].copy_from_slice(&data[1..]);
                    if !last {
                        st.phase = Phase::In60 { next: next + 1 };
                        return None;
                    }
                    st.phase = Phase::Idle;
                    self.stats.cycles += 1;
                    return Some(Event::Cycle(Cycle {
                        node,
                        block10: st.b10,
                        block60: st.b60,
                        ts,
                    }));
                }
                if tag == 1 {
                    DropReason::EndedEarly {
                        id: id60,
                        frames: next - 1,
                    }
                } else {
                    DropReason::OutOfOrder {
                        id: id60,
                        prev: Some(TAGS60[i - 1]),
                        got: tag,
                    }
                }
            }
            (Block::B60, Phase::Wait60 | Phase::Idle) if tag != 1 => DropReason::OutOfOrder {
                id: id60,
                prev: None,
                got: tag,
            },
            (Block::B60, Phase::Idle) => DropReason::Missing10 { id: id60 },
            (Block::B60, Phase::In10 { next }) => DropReason::EndedEarly {
                id: id10,
                frames: next - 1,
            },
            // Unreachable: Wait60 with tag 1 is handled above. Kept total for safety.
            (Block::B60, Phase::Wait60) => DropReason::Missing10 { id: id60 },
        };
        // A drop caused by a 0x10n tag 1 has already started the next block.
        if !(block == Block::B10 && tag == 1) {
            st.phase = Phase::Skip;
        }
        Some(Event::Dropped(self.record_drop(node, reason, ts)))
    }

    /// End of input: every node with an incomplete cycle is reported (and reset).
    pub fn finish<T: Clone>(&mut self, ts: T) -> Vec<Dropped<T>> {
        let mut out = Vec::new();
        for i in 0..self.nodes.len() {
            let node = i as u8 + 1;
            let reason = match self.nodes[i].phase {
                Phase::Idle | Phase::Skip => None,
                Phase::In10 { next } => Some((Block::B10, next - 1)),
                Phase::Wait60 => Some((Block::B60, 0)),
                Phase::In60 { next } => Some((Block::B60, next - 1)),
            };
            self.nodes[i].phase = Phase::Idle;
            if let Some((block, frames)) = reason {
                let reason = DropReason::Unfinished {
                    id: block.id(node),
                    frames,
                    of: block.frames(),
                };
                out.push(self.record_drop(node, reason, ts.clone()));
            }
        }
        out
    }

    fn record_drop<T>(&mut self, node: u8, reason: DropReason, ts: T) -> Dropped<T> {
        let counter = match reason {
            DropReason::OutOfOrder { .. } => &mut self.stats.out_of_order,
            DropReason::EndedEarly { .. } => &mut self.stats.ended_early,
            DropReason::Missing60 { .. } | DropReason::Missing10 { .. } => &mut self.stats.unpaired,
            DropReason::Unfinished { .. } => &mut self.stats.unfinished,
        };
        *counter += 1;
        Dropped { node, reason, ts }
    }
}

/// One decoded battery cycle.
///
/// Numbers are as on the wire, scaled by division (`531 → 53.1`). In particular the
/// current keeps the wire's sign, which no source states; the readings contract wants
/// positive = charging, so the caller applies (and documents) the convention once it is
/// known from a capture with a known charge direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Battery {
    /// Chain position reported by the battery (block10 offset 0).
    pub battery_number: u8,
    /// Batteries in the system (offset 1).
    pub batteries_in_system: u8,
    /// Pack voltage, V (offset 2, u16 × 0.1).
    pub pack_voltage: f64,
    /// Pack current, A (offset 4, s16 × 0.1), sign as on the wire.
    pub pack_current: f64,
    /// State of charge, % (offset 6).
    pub soc: u8,
    /// System average voltage, V (offset 10, u16 × 0.1).
    pub system_average_voltage: f64,
    /// Lifetime discharge energy, raw u32, unit unknown (offset 31).
    pub lifetime_discharge_energy: u32,
    /// "Pre-voltage", V (offset 35, u16 × 0.1).
    pub pre_voltage: f64,
    /// "Insulation resistance", raw u16 (offset 37; 0xFFFF in every capture).
    pub insulation_resistance: u16,
    /// Software version (offset 46, u16).
    pub software_version: u16,
    /// Hardware version, one character (offset 48; byte value as a Latin-1 char).
    pub hardware_version: char,
    /// The 7 serial-number bytes (offsets 49–55); see [`Battery::serial`].
    pub serial_bytes: [u8; 7],
    /// Cells 1–16, mV (block60 offsets 0–31, little-endian u16).
    pub cell_voltages_mv: [u16; 16],
    /// Bytes whose meaning is inferred, not confirmed.
    pub inferred: Inferred,
}

impl Battery {
    /// The serial number, the battery's identity ([`format_serial`]).
    pub fn serial(&self) -> String {
        format_serial(&self.serial_bytes)
    }
}

/// Bytes whose meaning is a guess (status G in protocols.md §3.3–3.4), raw, for the
/// reading's `raw` map ([`Inferred::hex_fields`]). Offsets are into block10 unless
/// the name says block60.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Inferred {
    /// Offset 7: 0x03 in every capture (relay/contactor bits?).
    pub status: u8,
    /// Offsets 12–20: flags `01 01`, two limits (0x01F4, 0x0258), `00 01 2A`.
    pub flags_limits: [u8; 9],
    /// Offsets 21–26: highest cell mV (BE u16), its 1-based index, lowest cell mV,
    /// its index.
    pub cell_extremes: [u8; 6],
    /// Offsets 27–30: SOH? (0x64), highest and lowest temperature code, unknown.
    pub soh_temps: [u8; 4],
    /// Offset 41: a temperature in °C?
    pub temperature_41: u8,
    /// Offsets 56–59: a constant 32-bit value per battery (an identifier?).
    pub id32: [u8; 4],
    /// Offsets 68–69: another voltage (u16 × 0.1 V?).
    pub voltage_68: [u8; 2],
    /// Block60 offsets 42–47: six temperature sensors, raw (°C = raw − 40, inferred from
    /// the 13-battery capture, protocols.md §3.7).
    pub temperatures: [u8; 6],
    /// Offset 61: 1 where the charge limit is above 0, 0 where it is 0 in the 13-battery
    /// capture ("charge allowed", inferred).
    pub charge_enable: u8,
}

impl Inferred {
    /// Offsets 14–15: charge current limit, A (u16 × 0.1; inferred, §3.7).
    pub fn charge_current_limit(&self) -> f64 {
        f64::from(u16::from_be_bytes([
            self.flags_limits[2],
            self.flags_limits[3],
        ])) / 10.0
    }

    /// Offsets 16–17: discharge current limit, A (u16 × 0.1; inferred, §3.7).
    pub fn discharge_current_limit(&self) -> f64 {
        f64::from(u16::from_be_bytes([
            self.flags_limits[4],
            self.flags_limits[5],
        ])) / 10.0
    }

    /// The six probe temperatures, °C (raw − 40; inferred, §3.7).
    pub fn temperatures_c(&self) -> [i64; 6] {
        self.temperatures.map(|t| i64::from(t) - 40)
    }
}

impl Inferred {
    /// The bytes as (key, lower-case hex) pairs, keys naming the block and offsets.
    pub fn hex_fields(&self) -> [(&'static str, String); 9] {
        [
            ("b10_07_status", hex(&[self.status])),
            ("b10_12_20_flags_limits", hex(&self.flags_limits)),
            ("b10_21_26_cell_extremes", hex(&self.cell_extremes)),
            ("b10_27_30_soh_temps", hex(&self.soh_temps)),
            ("b10_41_temperature", hex(&[self.temperature_41])),
            ("b10_56_59_id32", hex(&self.id32)),
            ("b10_61_charge_enable", hex(&[self.charge_enable])),
            ("b10_68_69_voltage", hex(&self.voltage_68)),
            ("b60_42_47_temperatures", hex(&self.temperatures)),
        ]
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn arr<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[at..at + N]);
    out
}

/// Decodes a cycle's two blocks (see [`Battery`] for the offsets).
pub fn decode(block10: &[u8; BLOCK10_LEN], block60: &[u8; BLOCK60_LEN]) -> Battery {
    let b = block10;
    let mut cells = [0u16; 16];
    for (i, cell) in cells.iter_mut().enumerate() {
        *cell = u16::from_le_bytes([block60[2 * i], block60[2 * i + 1]]);
    }
    Battery {
        battery_number: b[0],
        batteries_in_system: b[1],
        pack_voltage: f64::from(be16(b, 2)) / 10.0,
        pack_current: f64::from(be16(b, 4) as i16) / 10.0,
        soc: b[6],
        system_average_voltage: f64::from(be16(b, 10)) / 10.0,
        lifetime_discharge_energy: u32::from_be_bytes(arr(b, 31)),
        pre_voltage: f64::from(be16(b, 35)) / 10.0,
        insulation_resistance: be16(b, 37),
        software_version: be16(b, 46),
        hardware_version: char::from(b[48]),
        serial_bytes: arr(b, 49),
        cell_voltages_mv: cells,
        inferred: Inferred {
            status: b[7],
            flags_limits: arr(b, 12),
            cell_extremes: arr(b, 21),
            soh_temps: arr(b, 27),
            temperature_41: b[41],
            id32: arr(b, 56),
            voltage_68: arr(b, 68),
            temperatures: arr(block60, 42),
            charge_enable: b[61],
        },
    }
}

/// Formats the serial number (block10 offsets 49–55) the way djoly's `parse_serial`
/// does, so existing users keep their device ids:
/// byte 0 and byte 1 as two lower-case hex digits each, byte 2 in decimal without
/// padding, byte 3 as two hex digits, byte 4 as a character, bytes 5–6 as a
/// big-endian u16 in decimal padded to 4 digits.
/// `22 05 00 75 45 02 5C` → `2205075E0604`.
///
/// Byte 4 is expected to be printable ASCII; any other value is written as two hex
/// digits so that the result stays printable and distinct.
pub fn format_serial(bytes: &[u8; 7]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(16);
    let _ = write!(
        s,
        "{:02x}{:02x}{}{:02x}",
        bytes[0], bytes[1], bytes[2], bytes[3]
    );
    if bytes[4].is_ascii_graphic() {
        s.push(char::from(bytes[4]));
    } else {
        let _ = write!(s, "{:02x}", bytes[4]);
    }
    let _ = write!(s, "{:04}", u16::from_be_bytes([bytes[5], bytes[6]]));
    s
}

fn scaled_u16(v: f64) -> u16 {
    // `as` saturates (and maps NaN to 0), which is what a simulator wants.
    (v * 10.0).round() as u16
}

/// Builds the two blocks for a battery, the inverse of [`decode`]. Bytes no field
/// covers get the values seen in every capture (0, except offsets 62 and 76 = 0x01),
/// so `encode(&decode(b10, b60)) == (b10, b60)` for real captures. Scaled values are
/// rounded to the nearest 0.1 and saturate at the field's range.
pub fn encode(b: &Battery) -> ([u8; BLOCK10_LEN], [u8; BLOCK60_LEN]) {
    let mut b10 = [0u8; BLOCK10_LEN];
    let mut b60 = [0u8; BLOCK60_LEN];
    let put = |buf: &mut [u8], at: usize, bytes: &[u8]| {
        buf[at..at + bytes.len()].copy_from_slice(bytes);
    };
    b10[0] = b.battery_number;
    b10[1] = b.batteries_in_system;
    put(&mut b10, 2, &scaled_u16(b.pack_voltage).to_be_bytes());
    let current = (b.pack_current * 10.0).round() as i16;
    put(&mut b10, 4, &current.to_be_bytes());
    b10[6] = b.soc;
    b10[7] = b.inferred.status;
    put(
        &mut b10,
        10,
        &scaled_u16(b.system_average_voltage).to_be_bytes(),
    );
    put(&mut b10, 12, &b.inferred.flags_limits);
    put(&mut b10, 21, &b.inferred.cell_extremes);
    put(&mut b10, 27, &b.inferred.soh_temps);
    put(&mut b10, 31, &b.lifetime_discharge_energy.to_be_bytes());
    put(&mut b10, 35, &scaled_u16(b.pre_voltage).to_be_bytes());
    put(&mut b10, 37, &b.insulation_resistance.to_be_bytes());
    b10[41] = b.inferred.temperature_41;
    put(&mut b10, 46, &b.software_version.to_be_bytes());
    b10[48] = u8::try_from(b.hardware_version).unwrap_or(b'?');
    put(&mut b10, 49, &b.serial_bytes);
    put(&mut b10, 56, &b.inferred.id32);
    b10[61] = b.inferred.charge_enable;
    b10[62] = 0x01;
    put(&mut b10, 68, &b.inferred.voltage_68);
    b10[76] = 0x01;
    for (i, mv) in b.cell_voltages_mv.iter().enumerate() {
        put(&mut b60, 2 * i, &mv.to_le_bytes());
    }
    put(&mut b60, 42, &b.inferred.temperatures);
    (b10, b60)
}

/// The 18 frames of one cycle in bus order: 11 on 0x100+node (tags 1..11), then 7
/// on 0x600+node (tags 1..6, 0x11). `node` should be 1–15; other values give ids
/// the [`Assembler`] ignores.
pub fn frames(
    node: u8,
    block10: &[u8; BLOCK10_LEN],
    block60: &[u8; BLOCK60_LEN],
) -> [(u32, [u8; 8]); 18] {
    let mut out = [(0u32, [0u8; 8]); 18];
    let mut k = 0;
    for (i, chunk) in block10.chunks_exact(7).enumerate() {
        out[k].0 = 0x100 + u32::from(node);
        out[k].1[0] = i as u8 + 1;
        out[k].1[1..].copy_from_slice(chunk);
        k += 1;
    }
    for (i, chunk) in block60.chunks_exact(7).enumerate() {
        out[k].0 = 0x600 + u32::from(node);
        out[k].1[0] = TAGS60[i];
        out[k].1[1..].copy_from_slice(chunk);
        k += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------
// Readings: the contract's fields from a decoded battery (decision 4: the confirmed fields
// get names, the inferred bytes stay in `raw` as hex).

/// The readings-contract fields of one battery cycle. The current keeps the wire's sign:
/// the capture shows −0.3 A on a pack at rest, and no source states the convention.
pub fn fields(b: &Battery) -> crate::record::Fields {
    use crate::record::{Fields, Value};
    let mut f = Fields::new();
    f.float("pack_voltage", b.pack_voltage);
    f.float("pack_current", b.pack_current);
    f.int("soc", b.soc);
    let cells: Vec<f64> = b
        .cell_voltages_mv
        .iter()
        .map(|&m| f64::from(m) / 1000.0)
        .collect();
    f.set("cell_voltages", Value::Floats(cells.clone()));
    f.add_cell_stats(&cells);
    f.int("battery_number", b.battery_number);
    f.int("batteries_in_system", b.batteries_in_system);
    f.float("system_average_voltage", b.system_average_voltage);
    f.float("pre_voltage", b.pre_voltage);
    f.int("insulation_resistance", b.insulation_resistance);
    f.int("lifetime_discharge_energy", b.lifetime_discharge_energy);
    // Inferred from real captures (protocols.md §3.7); their bytes stay in `raw` too.
    let inf = &b.inferred;
    f.set("temperatures", Value::Ints(inf.temperatures_c().to_vec()));
    f.int("temperature_bms", inf.temperature_41);
    f.float("charge_current_limit", inf.charge_current_limit());
    f.float("discharge_current_limit", inf.discharge_current_limit());
    f.bool("charge_enable", inf.charge_enable != 0);
    f
}

/// What the battery says about itself.
pub fn info(b: &Battery) -> crate::record::Info {
    crate::record::Info {
        manufacturer: Some("Fortress Power".into()),
        model: Some("eFlex".into()),
        firmware: Some(b.software_version.to_string()),
        hardware: Some(b.hardware_version.to_string())
            .filter(|h| h.chars().all(|c| c.is_ascii_graphic())),
        serial: Some(b.serial()),
    }
}

/// The inferred bytes as hex (and, with `blocks`, both reassembled blocks whole).
pub fn raw(
    b: &Battery,
    blocks: Option<(&[u8; BLOCK10_LEN], &[u8; BLOCK60_LEN])>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    for (k, v) in b.inferred.hex_fields() {
        m.insert(k.into(), v.into());
    }
    if let Some((b10, b60)) = blocks {
        m.insert("block10".into(), hex(b10).into());
        m.insert("block60".into(), hex(b60).into());
    }
    m
}

/// Appends a battery's reading as one JSON line (no newline) straight from the decoded
/// values, without building a [`crate::record::Reading`]: byte for byte what
/// `Record::Reading` with [`fields`], [`info`] and [`raw`] writes (property-tested), with no
/// allocation but the serial. A long log holds one reading per 18 lines, so this is the
/// decoder's hot path.
pub fn write_json(
    b: &Battery,
    ts: crate::time::Timestamp,
    blocks: Option<(&[u8; BLOCK10_LEN], &[u8; BLOCK60_LEN])>,
    out: &mut Vec<u8>,
) -> serde_json::Result<()> {
    use crate::record::{json_str, CellStats};
    fn key(out: &mut Vec<u8>, k: &str) {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\":");
    }
    fn num<T: serde::Serialize>(out: &mut Vec<u8>, k: &str, v: T) -> serde_json::Result<()> {
        key(out, k);
        serde_json::to_writer(&mut *out, &v)
    }
    let serial = b.serial();
    out.extend_from_slice(b"{\"type\":\"reading\",\"ts\":\"");
    out.extend_from_slice(&ts.rfc3339());
    out.extend_from_slice(b"\",\"source\":\"eflex\",\"device\":");
    json_str(out, &crate::record::device_id(&serial))?;
    out.extend_from_slice(b",\"fields\":{\"pack_voltage\":");
    serde_json::to_writer(&mut *out, &b.pack_voltage)?;
    num(out, "pack_current", b.pack_current)?;
    num(out, "soc", i64::from(b.soc))?;
    let mut cells = [0f64; 16];
    for (c, &mv) in cells.iter_mut().zip(&b.cell_voltages_mv) {
        *c = f64::from(mv) / 1000.0;
    }
    out.extend_from_slice(b",\"cell_voltages\":[");
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, c)?;
    }
    out.push(b']');
    if let Some(s) = CellStats::of(&cells) {
        num(out, "cell_voltage_min", s.min)?;
        num(out, "cell_voltage_max", s.max)?;
        num(out, "cell_voltage_delta_mv", s.delta_mv)?;
        num(out, "cell_lowest", s.lowest)?;
        num(out, "cell_highest", s.highest)?;
    }
    num(out, "battery_number", i64::from(b.battery_number))?;
    num(out, "batteries_in_system", i64::from(b.batteries_in_system))?;
    num(out, "system_average_voltage", b.system_average_voltage)?;
    num(out, "pre_voltage", b.pre_voltage)?;
    num(
        out,
        "insulation_resistance",
        i64::from(b.insulation_resistance),
    )?;
    num(
        out,
        "lifetime_discharge_energy",
        i64::from(b.lifetime_discharge_energy),
    )?;
    let inf = &b.inferred;
    num(out, "temperatures", inf.temperatures_c())?;
    num(out, "temperature_bms", i64::from(inf.temperature_41))?;
    num(out, "charge_current_limit", inf.charge_current_limit())?;
    num(
        out,
        "discharge_current_limit",
        inf.discharge_current_limit(),
    )?;
    num(out, "charge_enable", inf.charge_enable != 0)?;
    out.extend_from_slice(
        b"},\"info\":{\"manufacturer\":\"Fortress Power\",\"model\":\"eFlex\",\"firmware\":\"",
    );
    out.extend_from_slice(b.software_version.to_string().as_bytes());
    out.push(b'"');
    if b.hardware_version.is_ascii_graphic() {
        out.extend_from_slice(b",\"hardware\":");
        json_str(out, b.hardware_version.encode_utf8(&mut [0; 4]))?;
    }
    out.extend_from_slice(b",\"serial\":");
    json_str(out, &serial)?;
    out.extend_from_slice(b"},\"raw\":{");
    // serde_json's map is ordered by key: the b10_/b60_ names, then block10, block60.
    for (i, (k, v)) in b.inferred.hex_fields().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\":\"");
        out.extend_from_slice(v.as_bytes());
        out.push(b'"');
    }
    if let Some((b10, b60)) = blocks {
        out.extend_from_slice(b",\"block10\":\"");
        out.extend_from_slice(hex(b10).as_bytes());
        out.extend_from_slice(b"\",\"block60\":\"");
        out.extend_from_slice(hex(b60).as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"}}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::candump::{format_log_line, parse_line, Line, Timestamp};
    use super::*;
    use proptest::prelude::*;

    /// protocols.md §3.6: battery 2, second cycle of the conftest capture.
    const EXAMPLE: &str = "\
(1715987139.061290) can0 102#01020E0213FFFD45
(1715987139.061584) can0 102#0203000002120101
(1715987139.062039) can0 102#0301F4025800012A
(1715987139.062504) can0 102#040CF9010CF80364
(1715987139.062983) can0 102#054340260002330A
(1715987139.063445) can0 102#060214FFFF000018
(1715987139.064023) can0 102#07000000000FA661
(1715987139.064477) can0 102#082205007545025C
(1715987139.064961) can0 102#0912AF9B12000001
(1715987139.065425) can0 102#0A00000000000214
(1715987139.065888) can0 102#0B00000000000001
(1715987139.066338) can0 602#01F90CF90CF80CF9
(1715987139.066927) can0 602#020CF90CF90CF80C
(1715987139.067379) can0 602#03F90CF90CF90CF9
(1715987139.067830) can0 602#040CF90CF90CF90C
(1715987139.068325) can0 602#05F90CF90C000000
(1715987139.068823) can0 602#0600000000000000
(1715987139.069323) can0 602#1141404040414300
";

    /// Parses candump lines into (id, data, ts) frames.
    fn log_frames(text: &str) -> Vec<(u32, Vec<u8>, Timestamp)> {
        text.lines()
            .map(|l| match parse_line(l.as_bytes()) {
                Ok(Line::Frame(f)) => (f.frame.id, f.frame.data().to_vec(), f.ts.unwrap()),
                other => panic!("{l}: {other:?}"),
            })
            .collect()
    }

    fn example_frames() -> Vec<(u32, [u8; 8])> {
        log_frames(EXAMPLE)
            .into_iter()
            .map(|(id, d, _)| (id, d.try_into().unwrap()))
            .collect()
    }

    fn example_cycle() -> Cycle<Timestamp> {
        let mut asm = Assembler::new();
        let mut events: Vec<_> = log_frames(EXAMPLE)
            .into_iter()
            .filter_map(|(id, d, ts)| asm.push(id, &d, ts))
            .collect();
        assert_eq!(events.len(), 1, "{events:?}");
        match events.pop() {
            Some(Event::Cycle(c)) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn worked_example_decodes_to_the_listed_values() {
        let c = example_cycle();
        assert_eq!(c.node, 2);
        assert_eq!(
            c.ts,
            Timestamp::Absolute {
                secs: 1_715_987_139,
                nanos: 69_323_000
            }
        );
        let b = c.decode();
        assert_eq!(b.battery_number, 2);
        assert_eq!(b.batteries_in_system, 14);
        assert_eq!(b.pack_voltage, 53.1);
        assert_eq!(b.pack_current, -0.3);
        assert_eq!(b.soc, 69);
        assert_eq!(b.system_average_voltage, 53.0);
        assert_eq!(b.lifetime_discharge_energy, 144_138);
        assert_eq!(b.pre_voltage, 53.2);
        assert_eq!(b.insulation_resistance, 0xFFFF);
        assert_eq!(b.software_version, 4006);
        assert_eq!(b.hardware_version, 'a');
        assert_eq!(b.serial(), "2205075E0604");
        assert_eq!(
            b.cell_voltages_mv,
            [
                3321, 3321, 3320, 3321, 3321, 3321, 3320, 3321, 3321, 3321, 3321, 3321, 3321, 3321,
                3321, 3321
            ]
        );
        assert_eq!(
            b.inferred.temperatures,
            [0x41, 0x40, 0x40, 0x40, 0x41, 0x43]
        );
        // The inferred fields agree with §3.6's reading of them.
        let e = b.inferred.cell_extremes;
        assert_eq!((u16::from_be_bytes([e[0], e[1]]), e[2]), (3321, 1));
        assert_eq!((u16::from_be_bytes([e[3], e[4]]), e[5]), (3320, 3));
        assert_eq!(b.inferred.soh_temps[..3], [100, 0x43, 0x40]);
        assert_eq!(b.inferred.status, 0x03);
        assert_eq!(b.inferred.temperature_41, 0x18);
        assert_eq!(b.inferred.id32, [0x12, 0xAF, 0x9B, 0x12]);
        assert_eq!(b.inferred.voltage_68, [0x02, 0x14]);
        let raw = b.inferred.hex_fields();
        assert_eq!(
            raw[1],
            ("b10_12_20_flags_limits", "010101f4025800012a".to_string())
        );
        assert_eq!(
            raw[8],
            ("b60_42_47_temperatures", "414040404143".to_string())
        );
        // §3.6's temperature bytes 41 40 40 40 41 43 with the −40 offset (§3.7), byte 41
        // 0x18 in plain °C, and the limits 50.0 / 60.0 A.
        let f = fields(&b);
        use crate::record::Value;
        assert_eq!(
            f.get("temperatures"),
            Some(&Value::Ints(vec![25, 24, 24, 24, 25, 27]))
        );
        assert_eq!(f.get("temperature_bms"), Some(&Value::Int(24)));
        assert_eq!(f.get("charge_current_limit"), Some(&Value::Float(50.0)));
        assert_eq!(f.get("discharge_current_limit"), Some(&Value::Float(60.0)));
        assert_eq!(f.get("charge_enable"), Some(&Value::Bool(false)));
    }

    #[test]
    fn encode_reproduces_the_captured_blocks() {
        let c = example_cycle();
        assert_eq!(encode(&c.decode()), (c.block10, c.block60));
        let f = frames(2, &c.block10, &c.block60);
        assert_eq!(f.to_vec(), example_frames());
    }

    #[test]
    fn serial_vectors() {
        for (bytes, want) in [
            ([0x22, 0x11, 0x00, 0x54, 0x46, 0x27, 0x0F], "2211054F9999"),
            ([0x22, 0x11, 0x00, 0x54, 0x46, 0x03, 0xE7], "2211054F0999"),
            ([0x22, 0x05, 0x00, 0x54, 0x45, 0x00, 0x03], "2205054E0003"),
            ([0x22, 0x11, 0x00, 0x75, 0x46, 0x03, 0xC4], "2211075F0964"),
            ([0x22, 0x05, 0x00, 0x75, 0x45, 0x02, 0x5C], "2205075E0604"),
        ] {
            assert_eq!(format_serial(&bytes), want);
        }
        // Untested by the sources: hex bytes are lower case (as djoly prints them),
        // byte 2 is decimal, the u16 is padded to at least 4 digits.
        assert_eq!(
            format_serial(&[0xAB, 0x0C, 0xFF, 0xDE, b'X', 0xFF, 0xFF]),
            "ab0c255deX65535"
        );
        assert_eq!(
            format_serial(&[0x22, 0x05, 0x00, 0x75, 0x00, 0x00, 0x01]),
            "2205075000001"
        );
    }

    type RawFrame = (u32, [u8; 8]);

    /// The frames of one cycle of `node`, from the example with the node patched in.
    fn cycle_frames(node: u8) -> [RawFrame; 18] {
        let c = example_cycle();
        let mut b10 = c.block10;
        b10[0] = node;
        frames(node, &b10, &c.block60)
    }

    fn push_all(asm: &mut Assembler, frames: &[(u32, [u8; 8])]) -> Vec<Event<usize>> {
        frames
            .iter()
            .enumerate()
            .filter_map(|(i, (id, d))| asm.push(*id, d, i))
            .collect()
    }

    fn summary(events: &[Event<usize>]) -> Vec<String> {
        events
            .iter()
            .map(|e| match e {
                Event::Cycle(c) => format!("cycle node {} at {}", c.node, c.ts),
                Event::Dropped(d) => format!("{d} at {}", d.ts),
            })
            .collect()
    }

    #[test]
    fn interleaved_nodes_assemble() {
        let (a, b) = (cycle_frames(1), cycle_frames(3));
        let mut mixed = Vec::new();
        for i in 0..18 {
            mixed.push(a[i]);
            mixed.push(b[i]);
        }
        let mut asm = Assembler::new();
        let ev = push_all(&mut asm, &mixed);
        assert_eq!(summary(&ev), ["cycle node 1 at 34", "cycle node 3 at 35"]);
        let Event::Cycle(c) = &ev[1] else { panic!() };
        assert_eq!(c.decode().battery_number, 3);
        assert_eq!(asm.stats().cycles, 2);
        assert_eq!(asm.stats().dropped(), 0);
    }

    #[test]
    fn partial_groups_at_start_and_end_are_dropped_and_counted() {
        let f = cycle_frames(2);
        let mut input = Vec::new();
        input.extend_from_slice(&f[5..]); // capture starts mid-0x102
        input.extend_from_slice(&f); // one good cycle
        input.extend_from_slice(&f[..14]); // capture ends inside 0x602
        input.push((0x123, [0; 8])); // foreign id
        let mut asm = Assembler::new();
        let ev = push_all(&mut asm, &input);
        assert_eq!(
            summary(&ev),
            [
                "node 2: frame tag 6 without a preceding tag 1 on 0x102 at 0",
                "cycle node 2 at 30",
            ]
        );
        assert!(asm.push(0x102, &[1, 2, 3], 99).is_none()); // DLC 3: ignored
        let tail = asm.finish(100);
        assert_eq!(tail.len(), 1);
        assert_eq!(
            tail[0].to_string(),
            "node 2: 0x602 block unfinished at end of input (3 of 7 frames)"
        );
        let s = asm.stats();
        assert_eq!(s.frames, 13 + 18 + 14 + 1 + 1);
        assert_eq!(s.ignored, 2);
        assert_eq!(s.skipped, 12);
        assert_eq!(
            (s.cycles, s.out_of_order, s.unfinished, s.dropped()),
            (1, 1, 1, 2)
        );
    }

    #[test]
    fn out_of_order_tag_is_rejected_then_a_good_cycle_decodes() {
        let f = cycle_frames(2);
        let mut input = Vec::new();
        input.extend_from_slice(&f[..3]); // tags 1, 2, 3
        input.push(f[4]); // tag 5
        input.extend_from_slice(&f[5..]); // rest of that cycle: skipped
        input.extend_from_slice(&f); // good
        let mut asm = Assembler::new();
        let ev = push_all(&mut asm, &input);
        assert_eq!(
            summary(&ev),
            [
                "node 2: frame tag 5 after tag 3 on 0x102 at 3",
                "cycle node 2 at 34",
            ]
        );
        let Event::Cycle(c) = &ev[1] else { panic!() };
        assert_eq!(c.decode().serial(), "2205075E0604");
        assert_eq!(asm.stats().skipped, 13);
    }

    #[test]
    fn drop_reasons_are_named() {
        let f = cycle_frames(3);
        let cases: Vec<(Vec<RawFrame>, &str)> = vec![
            // 0x603 restarts before its 7th frame.
            (
                [&f[..15], &f[11..12]].concat(),
                "node 3: 0x603 block ended early",
            ),
            // A new 0x103 cycle while 0x603 is open.
            (
                [&f[..15], &f[..1]].concat(),
                "node 3: 0x603 block ended early",
            ),
            // 0x103 restarts at tag 1 in the middle.
            (
                [&f[..4], &f[..1]].concat(),
                "node 3: 0x103 block ended early",
            ),
            // 0x603 starts while 0x103 is incomplete.
            (
                [&f[..10], &f[11..12]].concat(),
                "node 3: 0x103 block ended early",
            ),
            // 0x103 complete, then 0x103 again.
            (
                [&f[..11], &f[..1]].concat(),
                "node 3: 0x103 block not followed by a 0x603 block",
            ),
            // 0x603 with no 0x103 before it.
            (
                f[11..12].to_vec(),
                "node 3: 0x603 block without a complete 0x103 block",
            ),
            // Last 0x603 tag wrong.
            (
                {
                    let mut v = f.to_vec();
                    v[17].1[0] = 0x07;
                    v
                },
                "node 3: frame tag 7 after tag 6 on 0x603",
            ),
            // Extra 0x103 frame after the block completed.
            (
                [&f[..11], &f[10..11]].concat(),
                "node 3: frame tag 0x0b after tag 0x0b on 0x103",
            ),
        ];
        for (input, want) in cases {
            let mut asm = Assembler::new();
            let ev = push_all(&mut asm, &input);
            let drops: Vec<String> = ev
                .iter()
                .filter_map(|e| match e {
                    Event::Dropped(d) => Some(d.to_string()),
                    Event::Cycle(_) => None,
                })
                .collect();
            assert_eq!(drops, [want]);
        }
    }

    #[test]
    fn last_tag_check_can_be_relaxed() {
        let mut f = cycle_frames(4);
        f[17].1[0] = 0x07;
        let mut asm = Assembler::new();
        asm.set_check_last_tag(false);
        let ev = push_all(&mut asm, &f);
        assert!(matches!(ev[..], [Event::Cycle(_)]));
    }

    #[test]
    fn push_frame_ignores_non_data_frames() {
        let mut asm = Assembler::new();
        let Ok(Line::Frame(f)) = parse_line(b"(0000000001.000000) can0 102#R8") else {
            panic!()
        };
        assert!(asm.push_frame(&f.frame, 0).is_none());
        assert_eq!(asm.stats().ignored, 1);
    }

    fn arb_battery() -> impl Strategy<Value = Battery> {
        (
            (
                any::<u8>(),
                any::<u8>(),
                any::<u16>(),
                any::<i16>(),
                any::<u8>(),
            ),
            (
                any::<u16>(),
                any::<u32>(),
                any::<u16>(),
                any::<u16>(),
                any::<u16>(),
            ),
            (0x20u8..0x7F, any::<[u8; 7]>(), any::<[u16; 16]>()),
            (
                any::<u8>(),
                any::<[u8; 9]>(),
                any::<[u8; 6]>(),
                any::<[u8; 4]>(),
            ),
            (
                any::<u8>(),
                any::<[u8; 4]>(),
                any::<[u8; 2]>(),
                any::<[u8; 6]>(),
                any::<u8>(),
            ),
        )
            .prop_map(|(a, b, c, d, e)| Battery {
                battery_number: a.0,
                batteries_in_system: a.1,
                pack_voltage: f64::from(a.2) / 10.0,
                pack_current: f64::from(a.3) / 10.0,
                soc: a.4,
                system_average_voltage: f64::from(b.0) / 10.0,
                lifetime_discharge_energy: b.1,
                pre_voltage: f64::from(b.2) / 10.0,
                insulation_resistance: b.3,
                software_version: b.4,
                hardware_version: char::from(c.0),
                serial_bytes: c.1,
                cell_voltages_mv: c.2,
                inferred: Inferred {
                    status: d.0,
                    flags_limits: d.1,
                    cell_extremes: d.2,
                    soh_temps: d.3,
                    temperature_41: e.0,
                    id32: e.1,
                    voltage_68: e.2,
                    temperatures: e.3,
                    charge_enable: e.4,
                },
            })
    }

    proptest! {
        /// encode → frames → candump -L text → parse → assemble → decode.
        #[test]
        fn round_trip_through_candump_text(
            bat in arb_battery(),
            node in 1u8..=15,
            secs in 0u64..10_000_000_000,
        ) {
            let (b10, b60) = encode(&bat);
            let mut asm = Assembler::new();
            let mut got = Vec::new();
            for (i, (id, data)) in frames(node, &b10, &b60).iter().enumerate() {
                let line = format_log_line(secs, 500 * i as u32, "can0", *id, data);
                let Ok(Line::Frame(f)) = parse_line(line.as_bytes()) else {
                    return Err(TestCaseError::fail(line));
                };
                got.extend(asm.push_frame(&f.frame, f.ts));
            }
            prop_assert_eq!(got.len(), 1);
            let Event::Cycle(c) = &got[0] else {
                return Err(TestCaseError::fail(format!("{:?}", got[0])));
            };
            prop_assert_eq!(c.node, node);
            prop_assert_eq!(c.ts, Some(Timestamp::Absolute { secs, nanos: 8_500_000 }));
            prop_assert_eq!(c.decode(), bat);
            prop_assert_eq!(encode(&c.decode()), (b10, b60));
        }

        #[test]
        fn push_never_panics(
            input in proptest::collection::vec(
                (
                    prop_oneof![0u32..0x800, 0x100u32..0x110, 0x600u32..0x610, any::<u32>()],
                    proptest::collection::vec(prop_oneof![0u8..3, 0u8..0x12, any::<u8>()], 0..10),
                ),
                0..300,
            )
        ) {
            let mut asm = Assembler::new();
            let mut events = 0u64;
            for (i, (id, data)) in input.iter().enumerate() {
                if asm.push(*id, data, i).is_some() {
                    events += 1;
                }
            }
            events += asm.finish(input.len()).len() as u64;
            let s = asm.stats();
            prop_assert_eq!(s.frames, input.len() as u64);
            prop_assert_eq!(s.cycles + s.dropped(), events);
        }

        #[test]
        fn decode_never_panics(
            b10 in proptest::collection::vec(any::<u8>(), BLOCK10_LEN),
            b60 in proptest::collection::vec(any::<u8>(), BLOCK60_LEN),
        ) {
            let block10: [u8; BLOCK10_LEN] = b10.try_into().unwrap();
            let block60: [u8; BLOCK60_LEN] = b60.try_into().unwrap();
            let bat = decode(&block10, &block60);
            let _ = bat.serial();
            let _ = bat.inferred.hex_fields();
        }
    }

    /// Frames of all 15 nodes, every tag, shuffled a little, must never produce a
    /// cycle whose blocks mix nodes.
    #[test]
    fn cycles_never_mix_nodes() {
        let mut all = Vec::new();
        for node in 1..=15u8 {
            all.push(cycle_frames(node));
        }
        let mut input = Vec::new();
        for i in 0..18 {
            for (n, f) in all.iter().enumerate() {
                // Drop frame 5 of every third node to force drops.
                if n % 3 == 0 && i == 5 {
                    continue;
                }
                input.push(f[i]);
            }
        }
        let mut asm = Assembler::new();
        for e in push_all(&mut asm, &input) {
            if let Event::Cycle(c) = e {
                assert_eq!(c.block10[0], c.node);
                assert_ne!(c.node % 3, 1);
            }
        }
        assert_eq!(asm.stats().cycles, 10);
        assert_eq!(asm.stats().out_of_order, 5);
    }

    proptest::proptest! {
        /// The direct writer gives exactly the generic reading's JSON.
        #[test]
        fn direct_json_equals_generic_reading(
            b10 in proptest::collection::vec(proptest::prelude::any::<u8>(), BLOCK10_LEN),
            b60 in proptest::collection::vec(proptest::prelude::any::<u8>(), BLOCK60_LEN),
            ms in 0i64..4_000_000_000_000,
            blocks in proptest::prelude::any::<bool>(),
        ) {
            use crate::record::{device_id, Reading, Record};
            let b10: [u8; BLOCK10_LEN] = b10.try_into().unwrap();
            let b60: [u8; BLOCK60_LEN] = b60.try_into().unwrap();
            let b = decode(&b10, &b60);
            let ts = crate::time::Timestamp { unix_ms: ms };
            let blocks = blocks.then_some((&b10, &b60));
            let generic = Record::Reading(Reading {
                ts,
                source: "eflex",
                device: device_id(&b.serial()),
                fields: fields(&b),
                info: info(&b),
                raw: raw(&b, blocks),
            });
            let mut want = Vec::new();
            generic.write_json(&mut want).unwrap();
            let mut got = Vec::new();
            write_json(&b, ts, blocks, &mut got).unwrap();
            proptest::prop_assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(want).unwrap());
        }
    }
}
