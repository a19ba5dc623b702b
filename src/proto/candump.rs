//! can-utils `candump` text: one line in, one CAN frame (or a non-frame line) out.
//!
//! Every flavour candump writes is read by [`parse_line`]; [`format_log_line`] writes
//! the log flavour back (for simulators and tests). Pure: no I/O, and `parse_line`
//! does not allocate (the interface name is borrowed, data sits in a `[u8; 64]`).
//!
//! Log format (`candump -l`, `-L`, canplayer input), the one to prefer:
//!
//! ```text
//! (1715987139.061290) can0 102#01020E0213FFFD45
//!  │          │       │    │   └ data, 0–8 bytes as hex pairs ('.' between bytes allowed)
//!  │          │       │    └ CAN id: 3 hex digits = 11-bit, 8 digits = 29-bit
//!  │          │       └ interface, right-aligned to the longest name (split on runs of blanks)
//!  │          └ fraction: 6 digits (µs) or 9 digits (ns, `-N`)
//!  └ seconds: 10 digits = Unix time; `-t z` writes 3 digits, relative to the first frame
//! (000.000512) can0 12345678#R T      remote request, extended id, `-x` column: T sent / R received
//! (1715987139.061290) can0 123##5112233  CAN FD: '##', flags nibble (1 BRS, 2 ESI, 4 FDF), data
//! (1715987139.061290) can0 123#1122334455667788_E   len 8 with raw DLC 14
//! (1715987139.061290) can0 20000080#0000000000000000  error frame (id carries 0x20000000)
//! DROPCOUNT: dropped 2 CAN frames on 'can0' socket (total drops 2)
//! ```
//!
//! Default human format (`candump can0`, optionally `-t a|d|z|A`, `-x`, `-8`, `-a`):
//!
//! ```text
//!   can0  101   [8]  08 22 11 00 75 46 03 BB
//!  (1715987139.061290)  can0  RX - -  101   [8]  08 22 11 00 75 46 03 BB   '."..uF..'
//!  (2024-05-17 23:05:39.061290)  can0  12345678   [3]  11 22 33
//!  (000.000000)  can0       123   [0]  remote request
//!   can0  123  [12]  11 22 33 44 55 66 77 88 99 AA BB CC      CAN FD: two-digit length
//!   can0  321   {B}  11 22 33 44 55 66 77 88                  `-8`: raw DLC instead of [len]
//!   can0  20000080   [8]  00 00 00 00 00 00 00 00   ERRORFRAME
//! ```
//!
//! What the parser cannot know from one line, it does not guess:
//! * `-t d` (delta to previous frame) and `-t z` (since the first frame) print the same
//!   `(%03llu.%06llu)` form, so both come back as [`Timestamp::Relative`].
//! * `-t A` prints local civil time without a zone; it comes back as [`Timestamp::Civil`]
//!   and the caller decides which zone it was in.
//! * The human format shows CAN FD flags only through the `-x` column (`B` = BRS,
//!   `E` = ESI); without it [`CanFrame::fd`] is `Some(0)`.
//!
//! Lines that are not frames: blank lines ([`Line::Blank`]), `DROPCOUNT:` notices
//! ([`Line::DropCount`]), the tab-indented error details that `-e` prints below an
//! error frame ([`Line::ErrorDetail`]), and CAN XL frames, which are recognised and
//! reported as [`Line::Unsupported`] rather than as errors. Binary (`-i`), swapped
//! (`-S`) and coloured (`-c`) output are not parsed: they are for eyes, not files.

use std::fmt;

/// Longest line [`parse_line`] accepts. A CAN XL log line with 2048 data bytes and
/// `.` separators is about 6,200 bytes; everything else is far shorter.
pub const MAX_LINE_LEN: usize = 8192;

/// `CAN_EFF_FLAG` of `linux/can.h`: the id is 29 bits.
pub const EFF_FLAG: u32 = 0x8000_0000;
/// `CAN_RTR_FLAG`: remote transmission request.
pub const RTR_FLAG: u32 = 0x4000_0000;
/// `CAN_ERR_FLAG`: error frame (lib.h's comment writes it as 0x2000000, a typo).
pub const ERR_FLAG: u32 = 0x2000_0000;
/// `CAN_SFF_MASK`: largest 11-bit id.
pub const SFF_MASK: u32 = 0x7FF;
/// `CAN_EFF_MASK`: largest 29-bit id.
pub const EFF_MASK: u32 = 0x1FFF_FFFF;
/// CAN FD flag bit: bit-rate switch.
pub const CANFD_BRS: u8 = 0x01;
/// CAN FD flag bit: error state indicator.
pub const CANFD_ESI: u8 = 0x02;
/// CAN FD flag bit: FD frame (set by kernels that know CAN XL).
pub const CANFD_FDF: u8 = 0x04;

/// One parsed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A CAN frame, in any of the formats.
    Frame(LogFrame<'a>),
    /// `DROPCOUNT: dropped 2 CAN frames on 'can0' socket (total drops 2)`.
    DropCount(DropCount<'a>),
    /// A tab-indented line of `candump -e` error-frame detail, e.g.
    /// `\tprotocol-violation{{frame-format-error}{}}` (the text after the tab).
    ErrorDetail(&'a str),
    /// A frame of a kind this parser recognises but does not decode (CAN XL).
    Unsupported {
        /// The timestamp, if the line had one.
        ts: Option<Timestamp>,
        /// The interface name.
        iface: &'a str,
        /// What it is, e.g. `"CAN XL frame"`.
        what: &'static str,
    },
    /// Empty or whitespace only.
    Blank,
}

/// A frame line: timestamp, interface, frame, and direction when `-x` was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogFrame<'a> {
    /// `None` for the default human format without `-t`.
    pub ts: Option<Timestamp>,
    /// Interface name as printed (`can0`, `vcan1`, ...).
    pub iface: &'a str,
    /// The frame itself.
    pub frame: CanFrame,
    /// `Some` only when the line carried the `-x` column (` R`/` T`, `RX`/`TX`).
    pub dir: Option<Dir>,
}

/// Direction from the `-x` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Received from the bus (`R`, `RX`).
    Rx,
    /// Sent by this host (`T`, `TX`).
    Tx,
}

/// The timestamp in front of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamp {
    /// Seconds since the Unix epoch (`-l`, `-L`, `-t a`): 10 or more second digits.
    Absolute {
        /// Whole seconds.
        secs: u64,
        /// Fraction in nanoseconds (µs × 1000 for 6-digit fractions).
        nanos: u32,
    },
    /// Seconds since the first frame (`-t z`) or since the previous one (`-t d`);
    /// both print 3 (or more, but fewer than 10) second digits, so one line cannot
    /// tell them apart. The caller knows which flag produced the file.
    Relative {
        /// Whole seconds.
        secs: u64,
        /// Fraction in nanoseconds.
        nanos: u32,
    },
    /// `-t A`: `(YYYY-MM-DD HH:MM:SS.ffffff)` in the capturing host's local time zone,
    /// which the line does not state.
    Civil {
        /// Year, four digits.
        year: u16,
        /// Month 1–12.
        month: u8,
        /// Day 1–31.
        day: u8,
        /// Hour 0–23.
        hour: u8,
        /// Minute 0–59.
        minute: u8,
        /// Second 0–60 (60 for a leap second).
        second: u8,
        /// Fraction in nanoseconds.
        nanos: u32,
    },
}

/// What kind of frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// An ordinary data frame.
    Data,
    /// A remote transmission request: no payload, [`CanFrame::len`] is the requested length.
    Remote,
    /// An error frame: [`CanFrame::id`] holds the error class bits (`linux/can/error.h`),
    /// the data the error details.
    Error,
}

/// One classic CAN or CAN FD frame.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CanFrame {
    /// Identifier without flag bits: 11 bits, or 29 bits when `extended`. For error
    /// frames, the error class (the id with 0x20000000 removed).
    pub id: u32,
    /// Data, remote request or error frame.
    pub kind: FrameKind,
    /// 29-bit id (written with 8 hex digits). Always `false` for error frames.
    pub extended: bool,
    /// `Some(flags)` for CAN FD frames: the low nibble of `canfd_frame.flags`
    /// (`CANFD_BRS`, `CANFD_ESI`, `CANFD_FDF`).
    pub fd: Option<u8>,
    /// Payload length (0–8 classic, 0–64 FD); for remote frames the requested length.
    pub len: u8,
    /// Classic frames with len 8 may carry a raw DLC of 9–15 (`_X`, `{X}`).
    pub raw_dlc: Option<u8>,
    data: [u8; 64],
}

impl CanFrame {
    /// A classic data frame with id 0 and no data; the parser's starting point.
    pub const EMPTY: CanFrame = CanFrame {
        id: 0,
        kind: FrameKind::Data,
        extended: false,
        fd: None,
        len: 0,
        raw_dlc: None,
        data: [0; 64],
    };

    /// A classic data frame: standard id when `id <= 0x7FF`, extended otherwise.
    /// `None` if `id` does not fit 29 bits or `data` is longer than 8 bytes.
    pub fn classic(id: u32, data: &[u8]) -> Option<CanFrame> {
        if id > EFF_MASK || data.len() > 8 {
            return None;
        }
        let mut f = CanFrame {
            id,
            extended: id > SFF_MASK,
            len: data.len() as u8,
            ..CanFrame::EMPTY
        };
        f.data[..data.len()].copy_from_slice(data);
        Some(f)
    }

    /// The payload: `len` bytes, empty for remote requests.
    pub fn data(&self) -> &[u8] {
        match self.kind {
            FrameKind::Remote => &[],
            // `len` is public; clamp so a hand-built frame cannot make this panic.
            _ => &self.data[..usize::from(self.len).min(64)],
        }
    }
}

impl fmt::Debug for CanFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanFrame")
            .field("id", &format_args!("{:#X}", self.id))
            .field("kind", &self.kind)
            .field("extended", &self.extended)
            .field("fd", &self.fd)
            .field("len", &self.len)
            .field("raw_dlc", &self.raw_dlc)
            .field("data", &HexBytes(self.data()))
            .finish()
    }
}

struct HexBytes<'a>(&'a [u8]);

impl fmt::Debug for HexBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// The compact syntax of `candump -L` / `cansend` (`102#01020E02`, `123##1AB`,
/// `12345678#R`, `20000080#00…`), upper-case hex, no `.` separators. It parses back
/// to the same frame with [`parse_compact`].
impl fmt::Display for CanFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            FrameKind::Error => write!(f, "{:08X}#", (self.id & EFF_MASK) | ERR_FLAG)?,
            _ if self.extended => write!(f, "{:08X}#", self.id & EFF_MASK)?,
            _ => write!(f, "{:03X}#", self.id & SFF_MASK)?,
        }
        if self.kind == FrameKind::Remote {
            f.write_str("R")?;
            if self.len > 0 {
                write!(f, "{}", self.len)?;
            }
        } else {
            if let Some(flags) = self.fd {
                write!(f, "#{:X}", flags & 0xF)?;
            }
            HexBytesUpper(self.data()).fmt(f)?;
        }
        if let Some(dlc) = self.raw_dlc {
            write!(f, "_{:X}", dlc & 0xF)?;
        }
        Ok(())
    }
}

struct HexBytesUpper<'a>(&'a [u8]);

impl fmt::Display for HexBytesUpper<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut buf = [0u8; 128];
        for (i, b) in self.0.iter().take(64).enumerate() {
            buf[2 * i] = HEX[usize::from(b >> 4)];
            buf[2 * i + 1] = HEX[usize::from(b & 0xF)];
        }
        let n = 2 * self.0.len().min(64);
        // Only ASCII hex digits were written, so this cannot fail.
        f.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
    }
}

/// A `DROPCOUNT:` line: candump lost frames in the socket queue. The numbers are
/// `None` when the text does not have the usual shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropCount<'a> {
    /// Frames dropped since the previous notice.
    pub dropped: Option<u32>,
    /// The interface argument as given to candump (`can0`, `any`).
    pub socket: Option<&'a str>,
    /// Drops since the socket was opened.
    pub total: Option<u32>,
    /// The whole line, trimmed.
    pub text: &'a str,
}

/// Why a line did not parse, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// What was wrong.
    pub kind: ErrorKind,
    /// 1-based byte column in the line where it was found.
    pub column: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::TooLong { .. } => write!(f, "{}", self.kind),
            _ => write!(f, "{} at column {}", self.kind, self.column),
        }
    }
}

impl std::error::Error for ParseError {}

/// The kinds of [`ParseError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The line exceeds [`MAX_LINE_LEN`].
    #[error("line longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// The line is not UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// A character that should have been a hex digit.
    #[error("bad hex digit {found:?}")]
    BadHex {
        /// The offending character.
        found: char,
    },
    /// The text before `#` (or the id column) is neither 3 nor 8 hex digits.
    #[error("CAN id must be 3 or 8 hex digits, found {digits}")]
    IdLength {
        /// How many characters there were.
        digits: usize,
    },
    /// A 3-digit id above 0x7FF.
    #[error("standard CAN id above 0x7FF")]
    SffRange,
    /// An 8-digit id with the EFF or RTR flag bit written into it.
    #[error("CAN id has flag bits 0xC0000000 set")]
    IdFlags,
    /// `(` without a matching `)`.
    #[error("timestamp without closing ')'")]
    UnclosedTimestamp,
    /// Something inside the parentheses is not a timestamp.
    #[error("malformed timestamp")]
    BadTimestamp,
    /// The fraction has a digit count other than 6 or 9 (canplayer rejects those too).
    #[error("timestamp fraction must have 6 or 9 digits, found {found}")]
    FractionDigits {
        /// How many digits there were.
        found: usize,
    },
    /// The seconds do not fit 64 bits.
    #[error("timestamp seconds overflow")]
    SecondsOverflow,
    /// No interface name before the frame.
    #[error("missing interface name")]
    MissingIface,
    /// An interface name with a control, space-like or non-ASCII byte (NUL, say): no
    /// interface is named that, so the line is corrupt.
    #[error("interface name with a byte that is not printable ASCII")]
    BadIface,
    /// Nothing after the interface name.
    #[error("missing CAN frame")]
    MissingFrame,
    /// Data ends in the middle of a byte.
    #[error("odd number of hex digits in data")]
    OddDigits,
    /// More data bytes than the frame type allows.
    #[error("more than {max} data bytes")]
    TooManyBytes {
        /// 8 for classic CAN, 64 for CAN FD.
        max: usize,
    },
    /// `_X` raw DLC on a frame whose length is not 8, or X outside 9..F.
    #[error("raw DLC '_X' needs len 8 and X in 9..F")]
    BadRawDlc,
    /// `R` followed by something other than a length digit 0..8 (and `_X` after `R8`).
    #[error("remote request length must be a digit 0..8")]
    BadRemoteLen,
    /// An error frame written as remote or CAN FD.
    #[error("an error frame cannot be a remote request or CAN FD")]
    ErrorFrameKind,
    /// `##` without the flags nibble.
    #[error("CAN FD frame needs a flags nibble after '##'")]
    MissingFdFlags,
    /// The human format's `[len]` / `{dlc}` column is missing or malformed.
    #[error("expected [len] or {{dlc}} after the CAN id")]
    BadLength,
    /// The human format's length column and the number of data bytes disagree.
    #[error("expected {expected} data bytes, found {found}")]
    DataCount {
        /// From `[len]`.
        expected: u8,
        /// Counted.
        found: u8,
    },
    /// A data column that is not two hex digits.
    #[error("data byte must be 2 hex digits")]
    DataByte,
    /// `RX`/`TX` not followed by its two flag columns.
    #[error("-x column must be RX or TX and two flag characters")]
    BadDirColumn,
    /// Text after a complete frame that no candump option produces.
    #[error("unexpected text after the frame")]
    Trailing,
}

impl ParseError {
    fn at(kind: ErrorKind, pos: usize) -> ParseError {
        ParseError {
            kind,
            column: pos + 1,
        }
    }
}

/// Parses one line of candump output, with or without its line ending.
///
/// Never panics and never allocates; the returned [`Line`] borrows from `line`.
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, ParseError> {
    let line = strip_eol(line);
    if let Some(frame) = parse_log_fast(line) {
        return Ok(Line::Frame(frame));
    }
    if line.len() > MAX_LINE_LEN {
        return Err(ParseError::at(
            ErrorKind::TooLong { max: MAX_LINE_LEN },
            MAX_LINE_LEN,
        ));
    }
    // Validate once; every slice taken below starts and ends next to an ASCII byte
    // or at an end of the line, so converting it again cannot fail.
    if !line.is_ascii() {
        std::str::from_utf8(line)
            .map_err(|e| ParseError::at(ErrorKind::InvalidUtf8, e.valid_up_to()))?;
    }
    let as_str = |start: usize, end: usize| {
        std::str::from_utf8(&line[start..end])
            .map_err(|e| ParseError::at(ErrorKind::InvalidUtf8, start + e.valid_up_to()))
    };
    let mut c = Cursor::new(line);

    // `candump -e` puts its error details on lines of their own that start with a
    // tab; candump never starts a frame line with one.
    if line.first() == Some(&b'\t') {
        let detail = as_str(0, line.len())?.trim();
        return Ok(if detail.is_empty() {
            Line::Blank
        } else {
            Line::ErrorDetail(detail)
        });
    }

    c.skip_ws();
    if c.at_end() {
        return Ok(Line::Blank);
    }
    if c.rest().starts_with(b"DROPCOUNT:") {
        return Ok(Line::DropCount(parse_dropcount(
            as_str(0, line.len())?.trim(),
        )));
    }

    // Built in place: copying results through several Result layers showed up in
    // profiles (store-forwarding stalls on the unaligned enum payloads).
    let mut out = LogFrame {
        ts: None,
        iface: "",
        frame: CanFrame::EMPTY,
        dir: None,
    };
    if c.peek() == Some(b'(') {
        parse_timestamp(&mut c, &mut out.ts)?;
        c.skip_ws();
    }

    let (istart, iend) = c.token();
    if istart == iend || line[istart..iend].contains(&b'#') {
        return Err(ParseError::at(ErrorKind::MissingIface, istart));
    }
    if let Some(bad) = line[istart..iend]
        .iter()
        .position(|b| !b.is_ascii_graphic())
    {
        return Err(ParseError::at(ErrorKind::BadIface, istart + bad));
    }
    out.iface = as_str(istart, iend)?;
    c.skip_ws();

    // Fast path for what `candump -L` writes for classic data frames.
    if let Some(end) = parse_compact_fast(line, c.pos, &mut out.frame) {
        c.pos = end;
        out.dir = compact_tail(&mut c)?;
        return Ok(Line::Frame(out));
    }
    out.frame = CanFrame::EMPTY;

    let (fstart, fend) = c.token();
    if fstart == fend {
        return Err(ParseError::at(ErrorKind::MissingFrame, fstart));
    }
    let tok = &line[fstart..fend];

    if let Some(hash) = tok.iter().position(|&b| b == b'#') {
        // Log / compact format.
        if hash == 5 && tok.contains(&b':') {
            return Ok(Line::Unsupported {
                ts: out.ts,
                iface: out.iface,
                what: "CAN XL frame",
            });
        }
        parse_compact_into(line, fstart, fend, &mut out.frame)?;
        out.dir = compact_tail(&mut c)?;
        return Ok(Line::Frame(out));
    }

    // Human format, maybe with the `-x` column first.
    let mut fd_flags = 0u8;
    let (mut istart, mut iend) = (fstart, fend);
    if tok == b"RX" || tok == b"TX" {
        out.dir = Some(if tok == b"RX" { Dir::Rx } else { Dir::Tx });
        let mut flags_seen = 0;
        loop {
            c.skip_ws();
            let (s, e) = c.token();
            if e - s != 1 || flags_seen == 3 {
                if flags_seen < 2 {
                    return Err(ParseError::at(ErrorKind::BadDirColumn, s));
                }
                istart = s;
                iend = e;
                break;
            }
            match (flags_seen, line[s]) {
                (0, b'B') => fd_flags |= CANFD_BRS,
                (1, b'E') => fd_flags |= CANFD_ESI,
                _ => {}
            }
            flags_seen += 1;
        }
    }
    if parse_long(&mut c, line, istart, iend, fd_flags, &mut out.frame)? {
        Ok(Line::Frame(out))
    } else {
        Ok(Line::Unsupported {
            ts: out.ts,
            iface: out.iface,
            what: "CAN XL frame",
        })
    }
}

/// After a compact frame: the optional `-x` direction (` R` / ` T`), then nothing.
#[inline]
fn compact_tail(c: &mut Cursor<'_>) -> Result<Option<Dir>, ParseError> {
    c.skip_ws();
    let (dstart, dend) = c.token();
    let dir = match &c.s[dstart..dend] {
        b"" => return Ok(None),
        b"R" => Dir::Rx,
        b"T" => Dir::Tx,
        _ => return Err(ParseError::at(ErrorKind::Trailing, dstart)),
    };
    c.skip_ws();
    if !c.at_end() {
        return Err(ParseError::at(ErrorKind::Trailing, c.pos));
    }
    Ok(Some(dir))
}

/// The common case of the compact syntax in one pass: `XXX#` or `XXXXXXXX#` and up
/// to 8 data bytes, no separators, ending at a blank or the end of the line. Returns
/// the end position, or `None` for anything else, which then goes the careful way
/// (`parse_compact_into`), possibly to an error. `f` must be `EMPTY`.
#[inline]
fn parse_compact_fast(s: &[u8], start: usize, f: &mut CanFrame) -> Option<usize> {
    let rest = s.get(start..)?;
    let id_len = if rest.get(3) == Some(&b'#') {
        3
    } else if rest.get(8) == Some(&b'#') {
        8
    } else {
        return None;
    };
    let mut id = 0u32;
    for &b in &rest[..id_len] {
        let d = HEX_LUT[usize::from(b)];
        if d > 15 {
            return None;
        }
        id = (id << 4) | u32::from(d);
    }
    if id_len == 3 {
        if id > SFF_MASK {
            return None;
        }
    } else if id & (EFF_FLAG | RTR_FLAG | ERR_FLAG) != 0 {
        return None;
    } else {
        f.extended = true;
    }
    f.id = id;
    let data = &rest[id_len + 1..];
    let mut i = 0;
    let mut n = 0;
    while i < data.len() {
        let b = data[i];
        if b == b' ' || b == b'\t' {
            break;
        }
        let hi = HEX_LUT[usize::from(b)];
        let lo = HEX_LUT[usize::from(*data.get(i + 1)?)];
        if (hi | lo) > 15 || n == 8 {
            return None;
        }
        f.data[n] = (hi << 4) | lo;
        n += 1;
        i += 2;
    }
    f.len = n as u8;
    Some(start + id_len + 1 + i)
}

/// Parses the compact frame syntax alone (`123#1122`, `123##1AB`, `123#R`, ...), as
/// `cansend` takes it and the log format carries it. CAN XL is an error here.
pub fn parse_compact(s: &[u8]) -> Result<CanFrame, ParseError> {
    let mut f = CanFrame::EMPTY;
    parse_compact_into(s, 0, s.len(), &mut f)?;
    Ok(f)
}

/// Writes one `candump -L` line (without line ending) of a classic data frame:
/// `(0000000000.000000) can0 102#01020E0213FFFD45`. Ids above 0x7FF are written as
/// 8-digit extended ids. Keep `data` to 8 bytes and `id` to 29 bits, as a classic
/// frame has them; anything else is written as given and will not parse back.
pub fn format_log_line(ts_secs: u64, ts_micros: u32, iface: &str, id: u32, data: &[u8]) -> String {
    let mut out = String::with_capacity(40 + iface.len() + 2 * data.len());
    write_log_line(&mut out, ts_secs, ts_micros, iface, id, data);
    out
}

/// [`format_log_line`] appending to `out`, for writers that reuse one buffer.
pub fn write_log_line(
    out: &mut String,
    ts_secs: u64,
    ts_micros: u32,
    iface: &str,
    id: u32,
    data: &[u8],
) {
    use std::fmt::Write;
    // Writing into a String cannot fail.
    let _ = if id > SFF_MASK {
        write!(out, "({ts_secs:010}.{ts_micros:06}) {iface} {id:08X}#")
    } else {
        write!(out, "({ts_secs:010}.{ts_micros:06}) {iface} {id:03X}#")
    };
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in data {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xF)]));
    }
}

// ---------------------------------------------------------------------------

/// The shape nearly every line of a `candump -l`/`-L` file has:
/// `(SSSSSSSSSS.ffffff) IFACE III#HEXDATA[ R|T]` with a 3-digit standard id, 0–8 bytes of
/// data without separators, 6 or 9 fraction digits. Parsed here in one pass at a fraction of
/// the general parser's cost (decoding a long log is dominated by it); anything else,
/// including every error, goes to the general parser, which gives the same result for these
/// lines (property-tested).
fn parse_log_fast(line: &[u8]) -> Option<LogFrame<'_>> {
    let rest = line.strip_prefix(b"(")?;
    let digits = |s: &[u8]| -> Option<u64> {
        let mut v: u64 = 0;
        for &b in s {
            if !b.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u64::from(b - b'0');
        }
        Some(v)
    };
    // Ten seconds digits (candump's %010llu): an absolute time.
    let secs = digits(rest.get(..10)?)?;
    if rest.get(10) != Some(&b'.') {
        return None;
    }
    let (nanos, rest) = match (rest.get(17), rest.get(20)) {
        (Some(b')'), _) => (digits(&rest[11..17])? * 1000, &rest[18..]),
        (_, Some(b')')) => (digits(&rest[11..20])?, &rest[21..]),
        _ => return None,
    };
    let rest = rest.strip_prefix(b" ")?;
    let sp = rest.iter().position(|&b| b == b' ')?;
    let iface = &rest[..sp];
    if iface.is_empty()
        || !iface
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'#' && b != b'(')
    {
        return None;
    }
    let rest = &rest[sp + 1..];
    if rest.len() < 4 || rest[3] != b'#' {
        return None;
    }
    let id = (u32::from(hex_val(rest[0])?) << 8)
        | (u32::from(hex_val(rest[1])?) << 4)
        | u32::from(hex_val(rest[2])?);
    if id > SFF_MASK {
        return None;
    }
    let rest = &rest[4..];
    let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    let (hexdata, tail) = rest.split_at(end);
    let dir = match tail {
        b"" => None,
        b" R" => Some(Dir::Rx),
        b" T" => Some(Dir::Tx),
        _ => return None,
    };
    if hexdata.len() % 2 != 0 || hexdata.len() > 16 {
        return None;
    }
    let mut data = [0u8; 8];
    for (i, pair) in hexdata.chunks_exact(2).enumerate() {
        data[i] = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
    }
    let frame = CanFrame::classic(id, &data[..hexdata.len() / 2])?;
    Some(LogFrame {
        ts: Some(Timestamp::Absolute {
            secs,
            nanos: nanos as u32,
        }),
        // Checked above: printable ASCII.
        iface: std::str::from_utf8(iface).ok()?,
        frame,
        dir,
    })
}

fn strip_eol(mut line: &[u8]) -> &[u8] {
    if let [rest @ .., b'\n'] = line {
        line = rest;
    }
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    line
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a [u8]) -> Self {
        Cursor { s, pos: 0 }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn rest(&self) -> &'a [u8] {
        self.s.get(self.pos..).unwrap_or(&[])
    }

    #[inline]
    fn skip_ws(&mut self) {
        let s = self.s;
        let mut i = self.pos;
        while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
            i += 1;
        }
        self.pos = i;
    }

    /// The next run of non-blank bytes as (start, end); empty at the end of line.
    #[inline]
    fn token(&mut self) -> (usize, usize) {
        let s = self.s;
        let start = self.pos;
        let mut i = start;
        while i < s.len() && s[i] != b' ' && s[i] != b'\t' {
            i += 1;
        }
        self.pos = i;
        (start, i)
    }

    /// Reads a run of decimal digits, returning (value, digit count); the value is
    /// `None` if it does not fit a u64.
    #[inline]
    fn digits(&mut self) -> (Option<u64>, usize) {
        let s = self.s;
        let start = self.pos;
        let mut i = start;
        let mut v: u64 = 0;
        while i < s.len() {
            let d = s[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            v = v.wrapping_mul(10).wrapping_add(u64::from(d));
            i += 1;
        }
        self.pos = i;
        let count = i - start;
        // 19 decimal digits always fit a u64; only longer runs need checking.
        if count <= 19 {
            return (Some(v), count);
        }
        let mut checked = Some(0u64);
        for &b in &s[start..i] {
            checked = checked
                .and_then(|v| v.checked_mul(10))
                .and_then(|v| v.checked_add(u64::from(b - b'0')));
        }
        (checked, count)
    }

    fn expect(&mut self, byte: u8, kind: ErrorKind) -> Result<(), ParseError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(ParseError::at(kind, self.pos))
        }
    }

    /// Exactly `n` digits, as a number.
    fn fixed(&mut self, n: usize) -> Result<u64, ParseError> {
        let start = self.pos;
        match self.digits() {
            (Some(v), count) if count == n => Ok(v),
            _ => Err(ParseError::at(ErrorKind::BadTimestamp, start)),
        }
    }
}

fn bad_hex(s: &[u8], pos: usize) -> ParseError {
    let found = std::str::from_utf8(s.get(pos..).unwrap_or(&[]))
        .ok()
        .and_then(|t| t.chars().next())
        .unwrap_or_else(|| s.get(pos).map_or('\u{FFFD}', |&b| char::from(b)));
    ParseError::at(ErrorKind::BadHex { found }, pos)
}

/// Hex digit values, 0xFF for everything that is not a hex digit.
const HEX_LUT: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'A' as usize + i] = 10 + i as u8;
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

#[inline]
fn hex_val(b: u8) -> Option<u8> {
    let v = HEX_LUT[usize::from(b)];
    if v < 16 {
        Some(v)
    } else {
        None
    }
}

fn hex_u32(s: &[u8], start: usize, end: usize) -> Result<u32, ParseError> {
    let mut v = 0u32;
    for i in start..end {
        let d = hex_val(s[i]).ok_or_else(|| bad_hex(s, i))?;
        v = (v << 4) | u32::from(d);
    }
    Ok(v)
}

fn fraction_nanos(value: u64, digits: usize, pos: usize) -> Result<u32, ParseError> {
    match digits {
        6 => Ok((value * 1000) as u32),
        9 => Ok(value as u32),
        found => Err(ParseError::at(ErrorKind::FractionDigits { found }, pos)),
    }
}

/// `(SECS.FRAC)` or `(YYYY-MM-DD HH:MM:SS.FRAC)`; the cursor is on `(`.
fn parse_timestamp(c: &mut Cursor<'_>, out: &mut Option<Timestamp>) -> Result<(), ParseError> {
    let open = c.pos;
    c.pos += 1;
    let start = c.pos;
    let (first, ndig) = c.digits();
    let first = first.ok_or(ParseError::at(ErrorKind::SecondsOverflow, start))?;
    let ts = match c.peek() {
        Some(b'.') if ndig > 0 => {
            c.pos += 1;
            let fstart = c.pos;
            let (frac, fdig) = c.digits();
            let nanos = fraction_nanos(frac.unwrap_or(0), fdig, fstart)?;
            if ndig >= 10 {
                Timestamp::Absolute { secs: first, nanos }
            } else {
                Timestamp::Relative { secs: first, nanos }
            }
        }
        Some(b'-') if ndig == 4 => {
            c.pos += 1;
            let month = c.fixed(2)?;
            c.expect(b'-', ErrorKind::BadTimestamp)?;
            let day = c.fixed(2)?;
            c.expect(b' ', ErrorKind::BadTimestamp)?;
            let hour = c.fixed(2)?;
            c.expect(b':', ErrorKind::BadTimestamp)?;
            let minute = c.fixed(2)?;
            c.expect(b':', ErrorKind::BadTimestamp)?;
            let second = c.fixed(2)?;
            c.expect(b'.', ErrorKind::BadTimestamp)?;
            let fstart = c.pos;
            let (frac, fdig) = c.digits();
            let nanos = fraction_nanos(frac.unwrap_or(0), fdig, fstart)?;
            if !(1..=12).contains(&month)
                || !(1..=31).contains(&day)
                || hour > 23
                || minute > 59
                || second > 60
            {
                return Err(ParseError::at(ErrorKind::BadTimestamp, start));
            }
            Timestamp::Civil {
                year: first as u16,
                month: month as u8,
                day: day as u8,
                hour: hour as u8,
                minute: minute as u8,
                second: second as u8,
                nanos,
            }
        }
        None => return Err(ParseError::at(ErrorKind::UnclosedTimestamp, open)),
        _ => return Err(ParseError::at(ErrorKind::BadTimestamp, c.pos)),
    };
    match c.peek() {
        Some(b')') => {
            c.pos += 1;
            *out = Some(ts);
            Ok(())
        }
        None => Err(ParseError::at(ErrorKind::UnclosedTimestamp, open)),
        _ => Err(ParseError::at(ErrorKind::BadTimestamp, c.pos)),
    }
}

/// Compact frame syntax in `s[start..end]`; error columns are positions in `s`.
fn parse_compact_into(
    s: &[u8],
    start: usize,
    end: usize,
    f: &mut CanFrame,
) -> Result<(), ParseError> {
    let tok = &s[start..end];
    let hash = match tok.iter().position(|&b| b == b'#') {
        Some(h) => h,
        None => {
            return Err(ParseError::at(
                ErrorKind::IdLength { digits: tok.len() },
                start,
            ))
        }
    };
    set_id(f, s, start, start + hash)?;

    let mut pos = start + hash + 1;
    match s.get(pos).filter(|_| pos < end) {
        Some(b'R' | b'r') => {
            if f.kind == FrameKind::Error {
                return Err(ParseError::at(ErrorKind::ErrorFrameKind, pos));
            }
            f.kind = FrameKind::Remote;
            pos += 1;
            if pos < end {
                match s[pos] {
                    d @ b'0'..=b'8' => f.len = d - b'0',
                    _ => return Err(ParseError::at(ErrorKind::BadRemoteLen, pos)),
                }
                pos += 1;
            }
            if pos < end {
                if s[pos] != b'_' {
                    return Err(ParseError::at(ErrorKind::BadRemoteLen, pos));
                }
                f.raw_dlc = Some(parse_raw_dlc(s, pos, end, f.len)?);
            }
            return Ok(());
        }
        Some(b'#') => {
            if f.kind == FrameKind::Error {
                return Err(ParseError::at(ErrorKind::ErrorFrameKind, pos));
            }
            pos += 1;
            let flags = s
                .get(pos)
                .filter(|_| pos < end)
                .ok_or(ParseError::at(ErrorKind::MissingFdFlags, pos))?;
            f.fd = Some(hex_val(*flags).ok_or_else(|| bad_hex(s, pos))?);
            pos += 1;
        }
        _ => {}
    }

    let max = if f.fd.is_some() { 64 } else { 8 };
    let mut n = 0usize;
    loop {
        if pos < end && s[pos] == b'.' {
            pos += 1;
        }
        if pos >= end || (s[pos] == b'_' && f.fd.is_none()) {
            break;
        }
        let hi = hex_val(s[pos]).ok_or_else(|| bad_hex(s, pos))?;
        if pos + 1 >= end {
            return Err(ParseError::at(ErrorKind::OddDigits, pos));
        }
        let lo = hex_val(s[pos + 1]).ok_or_else(|| bad_hex(s, pos + 1))?;
        if n == max {
            return Err(ParseError::at(ErrorKind::TooManyBytes { max }, pos));
        }
        f.data[n] = (hi << 4) | lo;
        n += 1;
        pos += 2;
    }
    f.len = n as u8;
    if pos < end {
        // Only a '_' on a classic frame gets here.
        f.raw_dlc = Some(parse_raw_dlc(s, pos, end, f.len)?);
    }
    Ok(())
}

/// The id in `s[start..end]` (3 or 8 hex digits) into `f`, which must be `EMPTY`.
fn set_id(f: &mut CanFrame, s: &[u8], start: usize, end: usize) -> Result<(), ParseError> {
    let digits = end - start;
    if digits != 3 && digits != 8 {
        return Err(ParseError::at(ErrorKind::IdLength { digits }, start));
    }
    let raw_id = hex_u32(s, start, end)?;
    f.id = raw_id;
    if digits == 3 {
        if raw_id > SFF_MASK {
            return Err(ParseError::at(ErrorKind::SffRange, start));
        }
    } else if raw_id & (EFF_FLAG | RTR_FLAG) != 0 {
        return Err(ParseError::at(ErrorKind::IdFlags, start));
    } else if raw_id & ERR_FLAG != 0 {
        f.kind = FrameKind::Error;
        f.id = raw_id & EFF_MASK;
    } else {
        f.extended = true;
    }
    Ok(())
}

/// `_X` at `s[pos]` up to `end`: X a hex digit 9..F, only when len is 8.
fn parse_raw_dlc(s: &[u8], pos: usize, end: usize, len: u8) -> Result<u8, ParseError> {
    if len != 8 || end != pos + 2 {
        return Err(ParseError::at(ErrorKind::BadRawDlc, pos));
    }
    match hex_val(s[pos + 1]) {
        Some(d @ 9..=15) => Ok(d),
        Some(_) => Err(ParseError::at(ErrorKind::BadRawDlc, pos + 1)),
        None => Err(bad_hex(s, pos + 1)),
    }
}

/// The human format after the interface (and `-x`) columns; `s[istart..iend]` is the id.
/// Fills `f` (which must be `EMPTY`); `Ok(false)` for a CAN XL frame.
fn parse_long(
    c: &mut Cursor<'_>,
    s: &[u8],
    istart: usize,
    iend: usize,
    fd_flags: u8,
    f: &mut CanFrame,
) -> Result<bool, ParseError> {
    set_id(f, s, istart, iend)?;

    c.skip_ws();
    let (lstart, lend) = c.token();
    let ltok = &s[lstart..lend];
    let bad_len = ParseError::at(ErrorKind::BadLength, lstart);
    let dec = |b: u8| {
        if b.is_ascii_digit() {
            Some(b - b'0')
        } else {
            None
        }
    };
    match ltok {
        [b'[', d, b']'] => f.len = dec(*d).filter(|&v| v <= 8).ok_or(bad_len)?,
        [b'[', d1, d2, b']'] => {
            let v = dec(*d1)
                .zip(dec(*d2))
                .map(|(a, b)| a * 10 + b)
                .filter(|&v| v <= 64)
                .ok_or(bad_len)?;
            f.len = v;
            f.fd = Some(fd_flags);
        }
        [b'{', d, b'}'] => {
            let v = hex_val(*d).ok_or(bad_len)?;
            if v > 8 {
                f.len = 8;
                f.raw_dlc = Some(v);
            } else {
                f.len = v;
            }
        }
        [b'[', d @ .., b']'] if d.len() == 4 && d.iter().all(u8::is_ascii_digit) => {
            return Ok(false);
        }
        _ => return Err(bad_len),
    }
    if f.fd.is_some() && f.kind == FrameKind::Error {
        return Err(ParseError::at(ErrorKind::ErrorFrameKind, lstart));
    }

    c.skip_ws();
    if f.fd.is_none() && c.rest().starts_with(b"remote request") {
        if f.kind == FrameKind::Error {
            return Err(ParseError::at(ErrorKind::ErrorFrameKind, c.pos));
        }
        f.kind = FrameKind::Remote;
        c.pos += b"remote request".len();
        c.skip_ws();
        if !c.at_end() {
            return Err(ParseError::at(ErrorKind::Trailing, c.pos));
        }
        return Ok(true);
    }

    let mut n: u8 = 0;
    loop {
        c.skip_ws();
        let (ds, de) = c.token();
        if ds == de {
            break;
        }
        let t = &s[ds..de];
        if t == b"ERRORFRAME" || t[0] == b'\'' || t[0] == b'`' {
            // ERRORFRAME marker or the `-a` ASCII column: the rest is for humans.
            if n == f.len {
                return Ok(true);
            }
            return Err(ParseError::at(
                ErrorKind::DataCount {
                    expected: f.len,
                    found: n,
                },
                ds,
            ));
        }
        if t.len() != 2 {
            if let Some(i) = t.iter().position(|&b| hex_val(b).is_none()) {
                return Err(bad_hex(s, ds + i));
            }
            return Err(ParseError::at(ErrorKind::DataByte, ds));
        }
        let hi = hex_val(t[0]).ok_or_else(|| bad_hex(s, ds))?;
        let lo = hex_val(t[1]).ok_or_else(|| bad_hex(s, ds + 1))?;
        if n == f.len {
            return Err(ParseError::at(ErrorKind::Trailing, ds));
        }
        f.data[usize::from(n)] = (hi << 4) | lo;
        n += 1;
    }
    if n != f.len {
        return Err(ParseError::at(
            ErrorKind::DataCount {
                expected: f.len,
                found: n,
            },
            c.pos,
        ));
    }
    Ok(true)
}

fn parse_dropcount(text: &str) -> DropCount<'_> {
    // "DROPCOUNT: dropped %d CAN frame%s on '%s' socket (total drops %d)"; candump
    // prints the u32 counters with %d, so large ones come out negative.
    fn number(s: &str) -> Option<u32> {
        let end = s
            .char_indices()
            .find(|&(i, ch)| !(ch.is_ascii_digit() || (i == 0 && ch == '-')))
            .map_or(s.len(), |(i, _)| i);
        let v: i64 = s[..end].parse().ok()?;
        if v < 0 {
            i32::try_from(v).ok().map(|v| v as u32)
        } else {
            u32::try_from(v).ok()
        }
    }
    let dropped = text
        .find("dropped ")
        .and_then(|i| number(&text[i + "dropped ".len()..]));
    let socket = text.find(" on '").and_then(|i| {
        let rest = &text[i + " on '".len()..];
        rest.find('\'').map(|j| &rest[..j])
    });
    let total = text
        .find("(total drops ")
        .and_then(|i| number(&text[i + "(total drops ".len()..]));
    DropCount {
        dropped,
        socket,
        total,
        text,
    }
}

/// The CAN protocols this toolkit decodes, told apart by their 11-bit ids, so that a decoder
/// that made nothing of a log can say which tool its frames are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Fortress eFlex: battery n on 0x100+n and 0x600+n (n 1–15).
    Eflex,
    /// The battery-to-inverter link (Pylon LV and cousins): 0x305/0x307 from the inverter,
    /// 0x351–0x35F and 0x370–0x379 from the bank.
    Pylon,
}

impl Protocol {
    /// The protocol whose frames carry this id, if any of ours.
    pub fn of(frame: &CanFrame) -> Option<Protocol> {
        if frame.kind != FrameKind::Data || frame.extended {
            return None;
        }
        match frame.id {
            0x101..=0x10F | 0x601..=0x60F => Some(Protocol::Eflex),
            0x305 | 0x307 | 0x351..=0x35F | 0x370..=0x379 => Some(Protocol::Pylon),
            _ => None,
        }
    }

    /// The tool that decodes it.
    pub fn decoder(self) -> &'static str {
        match self {
            Protocol::Eflex => "eflex-candump-decode",
            Protocol::Pylon => "pylon-candump-decode",
        }
    }

    /// Its name and ids, for a message.
    pub fn describe(self) -> &'static str {
        match self {
            Protocol::Eflex => "Fortress eFlex frames (ids 0x101-0x10F, 0x601-0x60F)",
            Protocol::Pylon => {
                "battery-to-inverter (Pylon) frames (ids 0x305, 0x351-0x35F, 0x370-0x379)"
            }
        }
    }
}

/// Which protocols' frames an input held: counts per protocol, and the first few other ids.
#[derive(Debug, Clone, Default)]
pub struct IdCensus {
    pub frames: u64,
    pub eflex: u64,
    pub pylon: u64,
    /// Up to [`IdCensus::KEEP`] distinct ids of no protocol of ours, in order of appearance.
    pub others: Vec<(u32, bool)>,
}

impl IdCensus {
    const KEEP: usize = 8;

    pub fn add(&mut self, frame: &CanFrame) {
        if frame.kind != FrameKind::Data {
            return;
        }
        self.frames += 1;
        match Protocol::of(frame) {
            Some(Protocol::Eflex) => self.eflex += 1,
            Some(Protocol::Pylon) => self.pylon += 1,
            None => {
                let id = (frame.id, frame.extended);
                if self.others.len() < Self::KEEP && !self.others.contains(&id) {
                    self.others.push(id);
                }
            }
        }
    }

    /// When `frames` data frames gave no reading to the decoder of `mine`: one line saying
    /// what they were and which tool reads them. `None` when there were no frames.
    pub fn no_readings(&self, mine: Protocol) -> Option<String> {
        if self.frames == 0 {
            return None;
        }
        let (own, foreign_n, foreign) = match mine {
            Protocol::Eflex => (self.eflex, self.pylon, Protocol::Pylon),
            Protocol::Pylon => (self.pylon, self.eflex, Protocol::Eflex),
        };
        let n = self.frames;
        Some(if foreign_n > own {
            format!(
                "{n} frames gave no reading: {foreign_n} of them are {}; decode them with {}",
                foreign.describe(),
                foreign.decoder()
            )
        } else if own > 0 {
            format!(
                "{n} frames gave no reading: {own} of them are {}, but no complete {} (too short a log, or frames missing: -v says what was dropped)",
                mine.describe(),
                match mine {
                    Protocol::Eflex => "battery cycle",
                    Protocol::Pylon => "telegram",
                }
            )
        } else {
            let ids: Vec<String> = self
                .others
                .iter()
                .map(|&(id, ext)| {
                    if ext {
                        format!("0x{id:08X}")
                    } else {
                        format!("0x{id:03X}")
                    }
                })
                .collect();
            format!(
                "{n} frames gave no reading: none of them are {} (ids seen: {}{})",
                mine.describe(),
                ids.join(", "),
                if self.others.len() == Self::KEEP {
                    ", ..."
                } else {
                    ""
                }
            )
        })
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn census_names_the_decoder_the_frames_belong_to() {
        let frame = |s: &str| parse_compact(s.as_bytes()).unwrap();
        let mut c = IdCensus::default();
        assert_eq!(c.no_readings(Protocol::Pylon), None);
        for _ in 0..3 {
            c.add(&frame("102#01020E0213FFFD45"));
            c.add(&frame("602#01F90CF90CF80CF9"));
        }
        let m = c.no_readings(Protocol::Pylon).unwrap();
        assert!(
            m.starts_with("6 frames gave no reading: 6 of them are Fortress eFlex"),
            "{m}"
        );
        assert!(m.ends_with("decode them with eflex-candump-decode"), "{m}");
        let m = c.no_readings(Protocol::Eflex).unwrap();
        assert!(m.contains("no complete battery cycle"), "{m}");

        let mut c = IdCensus::default();
        c.add(&frame("351#1402C012C012C201"));
        c.add(&frame("305#0000000000000000"));
        c.add(&frame("12345678#11"));
        let m = c.no_readings(Protocol::Eflex).unwrap();
        assert!(
            m.contains("2 of them are battery-to-inverter (Pylon) frames"),
            "{m}"
        );
        assert!(m.ends_with("pylon-candump-decode"), "{m}");

        let mut c = IdCensus::default();
        c.add(&frame("123#11"));
        c.add(&frame("12345678#11"));
        c.add(&frame("123#R"));
        let m = c.no_readings(Protocol::Eflex).unwrap();
        assert!(m.contains("2 frames"), "{m}");
        assert!(m.ends_with("(ids seen: 0x123, 0x12345678)"), "{m}");
    }
    use super::*;
    use proptest::prelude::*;

    fn frame(line: &str) -> LogFrame<'_> {
        match parse_line(line.as_bytes()) {
            Ok(Line::Frame(f)) => f,
            other => panic!("{line:?}: expected a frame, got {other:?}"),
        }
    }

    fn err(line: &str) -> ParseError {
        match parse_line(line.as_bytes()) {
            Err(e) => e,
            Ok(l) => panic!("{line:?}: expected an error, got {l:?}"),
        }
    }

    const ABS: Timestamp = Timestamp::Absolute {
        secs: 1_715_987_139,
        nanos: 61_290_000,
    };

    struct Case {
        line: &'static str,
        ts: Option<Timestamp>,
        iface: &'static str,
        id: u32,
        kind: FrameKind,
        extended: bool,
        fd: Option<u8>,
        len: u8,
        raw_dlc: Option<u8>,
        data: &'static [u8],
        dir: Option<Dir>,
    }

    const D8: &[u8] = &[0x08, 0x22, 0x11, 0x00, 0x75, 0x46, 0x03, 0xBB];

    fn base(line: &'static str) -> Case {
        Case {
            line,
            ts: Some(ABS),
            iface: "can0",
            id: 0x101,
            kind: FrameKind::Data,
            extended: false,
            fd: None,
            len: 8,
            raw_dlc: None,
            data: D8,
            dir: None,
        }
    }

    fn cases() -> Vec<Case> {
        vec![
            // Log format (-l / -L).
            base("(1715987139.061290) can0 101#08221100754603BB"),
            base("(1715987139.061290) can0 101#08221100754603BB\n"),
            base("(1715987139.061290) can0 101#08221100754603BB\r\n"),
            Case {
                ts: Some(Timestamp::Absolute {
                    secs: 1_715_987_139,
                    nanos: 61_290_123,
                }),
                ..base("(1715987139.061290123) can0 101#08221100754603BB")
            },
            Case {
                dir: Some(Dir::Rx),
                ..base("(1715987139.061290) can0 101#08221100754603BB R")
            },
            Case {
                dir: Some(Dir::Tx),
                ..base("(1715987139.061290)   can0   101#08221100754603bb   T  ")
            },
            Case {
                ts: Some(Timestamp::Relative {
                    secs: 0,
                    nanos: 512_000,
                }),
                iface: "vcan10",
                ..base("(000.000512) vcan10 101#08.22.11.00.75.46.03.BB")
            },
            Case {
                id: 0x1234_5678,
                extended: true,
                len: 3,
                data: &[0x11, 0x22, 0x33],
                ..base("(1715987139.061290) can0 12345678#112233")
            },
            Case {
                id: 0x123,
                kind: FrameKind::Remote,
                len: 0,
                data: &[],
                ..base("(1715987139.061290) can0 123#R")
            },
            Case {
                id: 0x7A1,
                kind: FrameKind::Remote,
                len: 7,
                data: &[],
                ..base("(1715987139.061290) can0 7a1#r7")
            },
            Case {
                id: 0x123,
                kind: FrameKind::Remote,
                len: 8,
                raw_dlc: Some(9),
                data: &[],
                ..base("(1715987139.061290) can0 123#R8_9")
            },
            Case {
                id: 0x123,
                raw_dlc: Some(0xE),
                data: &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88],
                ..base("(1715987139.061290) can0 123#1122334455667788_E")
            },
            Case {
                id: 0x123,
                len: 0,
                data: &[],
                ..base("(1715987139.061290) can0 123#")
            },
            Case {
                id: 0x123,
                fd: Some(4),
                len: 3,
                data: &[0x11, 0x22, 0x33],
                ..base("(1715987139.061290) can0 123##4112233")
            },
            Case {
                id: 0x123,
                fd: Some(0xF),
                len: 0,
                data: &[],
                ..base("(1715987139.061290) can0 123##F")
            },
            Case {
                id: 0x0000_0080,
                kind: FrameKind::Error,
                data: &[0; 8],
                ..base("(1715987139.061290) can0 20000080#0000000000000000")
            },
            // Default human format.
            Case {
                ts: None,
                ..base("  can0  101   [8]  08 22 11 00 75 46 03 BB")
            },
            Case {
                ts: None,
                ..base("  can0       101   [8]  08 22 11 00 75 46 03 BB")
            },
            base(" (1715987139.061290)  can0  101   [8]  08 22 11 00 75 46 03 BB"),
            Case {
                ts: Some(Timestamp::Relative {
                    secs: 12,
                    nanos: 345_678_000,
                }),
                ..base(" (012.345678)  can0  101   [8]  08 22 11 00 75 46 03 BB")
            },
            Case {
                ts: Some(Timestamp::Civil {
                    year: 2024,
                    month: 5,
                    day: 17,
                    hour: 23,
                    minute: 5,
                    second: 39,
                    nanos: 61_290_000,
                }),
                ..base(" (2024-05-17 23:05:39.061290)  can0  101   [8]  08 22 11 00 75 46 03 BB")
            },
            Case {
                dir: Some(Dir::Rx),
                ..base(" (1715987139.061290)  can0  RX - -  101   [8]  08 22 11 00 75 46 03 BB")
            },
            Case {
                ts: None,
                ..base("  can0  101   [8]  08 22 11 00 75 46 03 BB   '.\"..uF..'")
            },
            Case {
                ts: None,
                id: 0x1234_5678,
                extended: true,
                len: 3,
                data: &[0x11, 0x22, 0x33],
                ..base("  can0  12345678   [3]  11 22 33")
            },
            Case {
                ts: None,
                id: 0x123,
                kind: FrameKind::Remote,
                len: 0,
                data: &[],
                ..base("  can0  123   [0]  remote request")
            },
            Case {
                ts: None,
                id: 0x321,
                raw_dlc: Some(0xB),
                data: &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88],
                ..base("  can0  321   {B}  11 22 33 44 55 66 77 88")
            },
            Case {
                ts: None,
                id: 0x123,
                fd: Some(0),
                len: 3,
                data: &[0x11, 0x22, 0x33],
                ..base("  can0  123  [03]  11 22 33")
            },
            Case {
                ts: None,
                id: 0x1234_5678,
                extended: true,
                fd: Some(CANFD_BRS | CANFD_ESI),
                len: 3,
                data: &[0x11, 0x22, 0x33],
                dir: Some(Dir::Tx),
                ..base("  can0  TX B E  12345678  [03]  11 22 33")
            },
            Case {
                ts: None,
                id: 0x1111,
                kind: FrameKind::Error,
                len: 7,
                data: &[0xC6, 0x23, 0x7B, 0x32, 0x69, 0x98, 0x3C],
                ..base("  can0  20001111   [7]  C6 23 7B 32 69 98 3C      ERRORFRAME")
            },
        ]
    }

    #[test]
    fn every_flavour_parses() {
        for c in cases() {
            let f = frame(c.line);
            assert_eq!(f.ts, c.ts, "{}", c.line);
            assert_eq!(f.iface, c.iface, "{}", c.line);
            assert_eq!(f.dir, c.dir, "{}", c.line);
            assert_eq!(f.frame.id, c.id, "{}", c.line);
            assert_eq!(f.frame.kind, c.kind, "{}", c.line);
            assert_eq!(f.frame.extended, c.extended, "{}", c.line);
            assert_eq!(f.frame.fd, c.fd, "{}", c.line);
            assert_eq!(f.frame.len, c.len, "{}", c.line);
            assert_eq!(f.frame.raw_dlc, c.raw_dlc, "{}", c.line);
            assert_eq!(f.frame.data(), c.data, "{}", c.line);
        }
    }

    #[test]
    fn non_frame_lines() {
        assert_eq!(parse_line(b""), Ok(Line::Blank));
        assert_eq!(parse_line(b"   \r\n"), Ok(Line::Blank));
        let Ok(Line::DropCount(d)) =
            parse_line(b"DROPCOUNT: dropped 2 CAN frames on 'can0' socket (total drops 2)\n")
        else {
            panic!("not a dropcount")
        };
        assert_eq!(
            (d.dropped, d.socket, d.total),
            (Some(2), Some("can0"), Some(2))
        );
        let Ok(Line::DropCount(d)) =
            parse_line(b"DROPCOUNT: dropped 1 CAN frame on 'any' socket (total drops -294967296)")
        else {
            panic!("not a dropcount")
        };
        assert_eq!(
            (d.dropped, d.socket, d.total),
            (Some(1), Some("any"), Some(4_000_000_000))
        );
        assert_eq!(
            parse_line(b"\tprotocol-violation{{frame-format-error}{}}"),
            Ok(Line::ErrorDetail(
                "protocol-violation{{frame-format-error}{}}"
            ))
        );
        assert_eq!(
            parse_line(b"(1715987139.061290) can0 45123#81:00:12345678#11223344.556677"),
            Ok(Line::Unsupported {
                ts: Some(ABS),
                iface: "can0",
                what: "CAN XL frame"
            })
        );
        assert!(matches!(
            parse_line(b"  can0       123 [0003] (45|81:00:12345678) 11 22 33"),
            Ok(Line::Unsupported { iface: "can0", .. })
        ));
    }

    #[test]
    fn junk_gives_errors_with_columns() {
        let e = err("(1715987139.061290) can0 102#01020E0213FFGD45");
        assert_eq!(e.kind, ErrorKind::BadHex { found: 'G' });
        assert_eq!(e.to_string(), "bad hex digit 'G' at column 42");
        assert_eq!(
            err("(1715987139.061290) can0 1020#00").kind,
            ErrorKind::IdLength { digits: 4 }
        );
        assert_eq!(
            err("(1715987139.061290) can0 1020#00").to_string(),
            "CAN id must be 3 or 8 hex digits, found 4 at column 26"
        );
        assert_eq!(
            err("(1715987139.0612) can0 102#00").kind,
            ErrorKind::FractionDigits { found: 4 }
        );
        assert_eq!(
            err("(1715987139.061290 can0 102#00").kind,
            ErrorKind::BadTimestamp
        );
        assert_eq!(err("(1715987139.061290").kind, ErrorKind::UnclosedTimestamp);
        assert_eq!(
            err("(1715987139.061290) 102#00").kind,
            ErrorKind::MissingIface
        );
        let nul = parse_line(b"(1715987139.061290) can0\0 102#00").unwrap_err();
        assert_eq!((nul.kind, nul.column), (ErrorKind::BadIface, 25));
        assert_eq!(
            err("(1715987139.061290) can0").kind,
            ErrorKind::MissingFrame
        );
        assert_eq!(
            err("(1715987139.061290) can0 102#0").kind,
            ErrorKind::OddDigits
        );
        assert_eq!(
            err("(1715987139.061290) can0 102#001122334455667788").kind,
            ErrorKind::TooManyBytes { max: 8 }
        );
        assert_eq!(
            err("(1715987139.061290) can0 102#0011_E").kind,
            ErrorKind::BadRawDlc
        );
        assert_eq!(
            err("(1715987139.061290) can0 102#0011223344556677_8").kind,
            ErrorKind::BadRawDlc
        );
        assert_eq!(
            err("(1715987139.061290) can0 102#R9").kind,
            ErrorKind::BadRemoteLen
        );
        assert_eq!(
            err("(1715987139.061290) can0 102#R7_9").kind,
            ErrorKind::BadRawDlc
        );
        assert_eq!(
            err("(1715987139.061290) can0 800#00").kind,
            ErrorKind::SffRange
        );
        assert_eq!(
            err("(1715987139.061290) can0 80000123#00").kind,
            ErrorKind::IdFlags
        );
        assert_eq!(
            err("(1715987139.061290) can0 20000080#R").kind,
            ErrorKind::ErrorFrameKind
        );
        assert_eq!(
            err("(1715987139.061290) can0 102##").kind,
            ErrorKind::MissingFdFlags
        );
        assert_eq!(
            err("(1715987139.061290) can0 102#00 X").kind,
            ErrorKind::Trailing
        );
        assert_eq!(
            err("  can0  101   [8]  08 22").kind,
            ErrorKind::DataCount {
                expected: 8,
                found: 2
            }
        );
        assert_eq!(err("  can0  101   [2]  08 22 33").kind, ErrorKind::Trailing);
        assert_eq!(err("  can0  101   [9]  08").kind, ErrorKind::BadLength);
        assert_eq!(err("  can0  101   8  08").kind, ErrorKind::BadLength);
        assert_eq!(err("  can0  101   [1]  0822").kind, ErrorKind::DataByte);
        assert_eq!(
            err("  can0  RX -  101   [1]  08").kind,
            ErrorKind::BadDirColumn
        );
        assert_eq!(err("hello world").kind, ErrorKind::IdLength { digits: 5 });
        let e = err("(1715987139.061290) can0 102#00\u{e9}");
        assert_eq!(e.kind, ErrorKind::BadHex { found: '\u{e9}' });
        assert_eq!(
            parse_line(b"(1715987139.061290) c\xffn0 102#00")
                .unwrap_err()
                .kind,
            ErrorKind::InvalidUtf8
        );
        let long = vec![b' '; MAX_LINE_LEN + 1];
        let e = parse_line(&long).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("line longer than {MAX_LINE_LEN} bytes")
        );
    }

    #[test]
    fn format_log_line_matches_candump() {
        assert_eq!(
            format_log_line(
                1_715_987_139,
                61_290,
                "can0",
                0x102,
                &[0x01, 0x02, 0x0E, 0x02, 0x13, 0xFF, 0xFD, 0x45]
            ),
            "(1715987139.061290) can0 102#01020E0213FFFD45"
        );
        assert_eq!(
            format_log_line(
                0,
                0,
                "can0",
                0x102,
                &[0x01, 0x02, 0x0E, 0x02, 0x13, 0xFF, 0xFD, 0x45]
            ),
            "(0000000000.000000) can0 102#01020E0213FFFD45"
        );
        assert_eq!(
            format_log_line(5, 7, "vcan1", 0x1234_5678, &[]),
            "(0000000005.000007) vcan1 12345678#"
        );
    }

    #[test]
    fn display_is_compact_syntax() {
        for (text, shown) in [
            ("123#11.22.33", "123#112233"),
            ("123#r", "123#R"),
            ("123#R8_9", "123#R8_9"),
            ("12345678#R5", "12345678#R5"),
            ("123##2112233", "123##2112233"),
            ("123#1122334455667788_e", "123#1122334455667788_E"),
            ("32345678#112233", "32345678#112233"),
        ] {
            let f = parse_compact(text.as_bytes()).unwrap();
            assert_eq!(f.to_string(), shown);
            assert_eq!(parse_compact(shown.as_bytes()), Ok(f));
        }
    }

    fn arb_frame() -> impl Strategy<Value = CanFrame> {
        (
            0u32..=EFF_MASK,
            any::<bool>(),
            0u8..3,
            proptest::option::of(0u8..16),
            proptest::collection::vec(any::<u8>(), 0..=64),
            9u8..16,
            any::<bool>(),
        )
            .prop_map(|(id, ext, kind, fd, data, dlc, use_dlc)| {
                let mut f = CanFrame::classic(0, &[]).unwrap_or_else(|| unreachable!());
                f.extended = ext;
                f.id = if ext { id } else { id & SFF_MASK };
                match kind {
                    0 => {
                        f.fd = fd;
                        let n = if fd.is_some() {
                            data.len()
                        } else {
                            data.len().min(8)
                        };
                        f.data[..n].copy_from_slice(&data[..n]);
                        f.len = n as u8;
                        if fd.is_none() && n == 8 && use_dlc {
                            f.raw_dlc = Some(dlc);
                        }
                    }
                    1 => {
                        f.kind = FrameKind::Remote;
                        f.len = (data.len() % 9) as u8;
                        if f.len == 8 && use_dlc {
                            f.raw_dlc = Some(dlc);
                        }
                    }
                    _ => {
                        f.kind = FrameKind::Error;
                        f.extended = false;
                        f.id = id;
                        let n = data.len().min(8);
                        f.data[..n].copy_from_slice(&data[..n]);
                        f.len = n as u8;
                    }
                }
                f
            })
    }

    proptest! {
        #[test]
        fn parse_line_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_line(&bytes);
        }

        #[test]
        fn parse_line_never_panics_on_near_misses(
            s in "[ \\t]{0,2}(\\([0-9]{0,11}(\\.[0-9]{0,10})?\\)?)?[ ]{0,3}[a-z0-9]{0,5}[ ]{1,3}\
                  (RX|TX)?[ ]?[-BE ]{0,4}[0-9A-Fa-f]{0,9}[#.]{0,2}[0-9A-FRr_.#]{0,20}\
                  [ ]{0,3}(\\[[0-9]{1,4}\\]|\\{[0-9A-F]\\})?[ 0-9A-F]{0,30}(R|T|ERRORFRAME|'ab')?"
        ) {
            let _ = parse_line(s.as_bytes());
        }

        #[test]
        fn display_round_trips(f in arb_frame()) {
            let text = f.to_string();
            prop_assert_eq!(parse_compact(text.as_bytes()), Ok(f), "{}", text);
            let line = format!("(1715987139.061290) can0 {text}");
            let Ok(Line::Frame(lf)) = parse_line(line.as_bytes()) else {
                return Err(TestCaseError::fail(line));
            };
            prop_assert_eq!(lf.frame, f);
        }

        #[test]
        fn log_line_round_trips(
            secs in 0u64..10_000_000_000,
            micros in 0u32..1_000_000,
            id in 0u32..=EFF_MASK,
            data in proptest::collection::vec(any::<u8>(), 0..=8),
        ) {
            let line = format_log_line(secs, micros, "can0", id, &data);
            let Ok(Line::Frame(lf)) = parse_line(line.as_bytes()) else {
                return Err(TestCaseError::fail(line));
            };
            prop_assert_eq!(lf.ts, Some(Timestamp::Absolute { secs, nanos: micros * 1000 }));
            prop_assert_eq!(lf.frame.id, id);
            prop_assert_eq!(lf.frame.extended, id > SFF_MASK);
            prop_assert_eq!(lf.frame.data(), &data[..]);
        }
    }

    /// Throughput check, run by hand:
    /// `cargo test --release -- --ignored --nocapture throughput`
    #[test]
    #[ignore]
    fn throughput() {
        const N: usize = 5_000_000;
        let mut text = String::with_capacity(N * 48);
        for i in 0..N {
            let id = 0x100 + (i % 16) as u32;
            let d = (i as u64).to_be_bytes();
            write_log_line(
                &mut text,
                1_715_987_139 + (i / 1000) as u64,
                (i % 1_000_000) as u32,
                "can0",
                id,
                &d,
            );
            text.push('\n');
        }
        let start = std::time::Instant::now();
        let mut frames = 0usize;
        let mut checksum = 0u64;
        for line in text.as_bytes().split(|&b| b == b'\n') {
            if let Ok(Line::Frame(f)) = parse_line(line) {
                frames += 1;
                checksum = checksum.wrapping_add(u64::from(f.frame.data()[7]));
            }
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(frames, N);
        eprintln!(
            "parsed {N} lines in {secs:.3} s: {:.1} M lines/s (checksum {checksum})",
            N as f64 / secs / 1e6
        );
    }

    /// The fast path for log lines gives exactly what the general parser gives.
    #[test]
    fn fast_log_path_agrees_with_the_general_parser() {
        let mut rng = 0x1234_5678_9abc_def0u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let hex = b"0123456789abcdefABCDEF";
        let mut hits = 0;
        for _ in 0..20_000 {
            let mut line = format!("({:010}.", next() % 10_000_000_000);
            line += &if next() % 2 == 0 {
                format!("{:06})", next() % 1_000_000)
            } else {
                format!("{:09})", next() % 1_000_000_000)
            };
            line += [" can0 ", " vcan12 ", "  can0 "][(next() % 3) as usize];
            for _ in 0..3 {
                line.push(char::from(hex[(next() % 22) as usize]));
            }
            line.push('#');
            for _ in 0..(next() % 10) * 2 {
                line.push(char::from(hex[(next() % 22) as usize]));
            }
            line += ["", " R", " T", " X", "  R"][(next() % 5) as usize];
            if next() % 7 == 0 {
                // damage one byte
                let mut b = line.into_bytes();
                let i = (next() as usize) % b.len();
                b[i] = [b'#', b' ', b'.', b'(', b'Z', b'9'][(next() % 6) as usize];
                line = String::from_utf8(b).unwrap();
            }
            let fast = parse_log_fast(line.as_bytes());
            // The general parser, with the fast path bypassed.
            let mut padded = line.clone().into_bytes();
            padded.insert(0, b' ');
            let general = parse_line(&padded);
            if let Some(f) = fast {
                hits += 1;
                match general {
                    Ok(Line::Frame(g)) => assert_eq!(f, g, "{line}"),
                    other => panic!("{line}: fast {f:?}, general {other:?}"),
                }
            }
        }
        assert!(hits > 2_000, "the fast path took only {hits} lines");
    }
}
