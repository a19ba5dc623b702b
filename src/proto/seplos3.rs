//! Seplos v3 BMS boards over Modbus RTU (protocols.md §14.6): 19200 8N1, CRC-16/MODBUS.
//!
//! A single pack answers at slave 0, the Modbus broadcast address, so replies from 0 are
//! accepted (dbus-serialbattery patches minimalmodbus for the same); packs behind a master
//! answer at 1–16. Per cycle: FC04 input registers 0x1000 (PIA: pack voltage, current,
//! remaining and design capacity, SOC, SOH, cycles) and 0x1100 (PIB: cells, temperatures),
//! and FC01 coils 0x1200 (PIC: status bits, the MOSFETs among them); once per connection
//! FC04 0x1700 (the identity block: factory, model, software version, serial). With several
//! packs behind a master (1–16), the master's system blocks at slave 0 each cycle as one more
//! reading, the bank's: FC04 0x2000 (EIA) and 0x2100 (EIB, 0x16 registers), FC01 0x2200
//! (EIC, the system's MOSFETs). Read-only: only FC01 and FC04 requests exist here; FC05,
//! FC06, FC0F and FC10 (MOSFETs, settings) cannot be expressed.

use crate::proto::codec::{self, Decoded, Judge, Read, Request};
use crate::proto::modbus::{self, ReadRequest, ReplyScan};
use crate::proto::pylontech::round;
use crate::record::{Fields, Info, Value};
use serde_json::{json, Map};

/// The address of a single pack (the broadcast address; see the module docs).
pub const DEFAULT_ADDRESS: u8 = 0;
/// FC04: read input registers.
pub const FC_INPUTS: u8 = 0x04;
/// FC01: read coils.
pub const FC_COILS: u8 = 0x01;
/// PIA: the pack block (aiobmsble's 0x11 registers, as in the real capture).
pub const PIA: (u16, u16) = (0x1000, 0x11);
/// PIB: cells and temperatures.
pub const PIB: (u16, u16) = (0x1100, 0x1A);
/// PIC: status coils (discharge MOSFET bit 0x78, charge MOSFET 0x79).
pub const PIC: (u16, u16) = (0x1200, 0x90);
/// The identity block as a real SG16S200A answered it (0x33 registers; protocols.md §14.6's
/// session): factory name (registers 0–9), model (10–19), software version (20, two ASCII
/// digits) and serial (21–35), where dbus-serialbattery reads each piece.
pub const IDENTITY: (u16, u16) = (0x1700, 0x33);
/// The probe: the factory name alone (10 registers), as dbus-serialbattery identifies a board.
pub const FACTORY: (u16, u16) = (0x1700, 0x0A);
/// EIA: a bank's system block at slave 0 (pack voltage, current, remaining capacity, pack
/// count, cycles, SOC, SOH).
pub const EIA: (u16, u16) = (0x2000, 0x1A);
/// EIB: the system's second block; 0x16 registers (a real board answers exception 02 to a
/// read of 0x1A).
pub const EIB: (u16, u16) = (0x2100, 0x16);
/// EIC: the system's status/alarm coils (FC01); data byte 7 bit 0 the discharge MOSFET,
/// bit 1 the charge MOSFET.
pub const EIC: (u16, u16) = (0x2200, 0x50);
/// The slave a bank's system blocks answer at.
pub const SYSTEM_ADDRESS: u8 = 0;
/// Coil numbers of the MOSFET states in PIC.
pub const COIL_DISCHARGE_FET: u16 = 0x78;
pub const COIL_CHARGE_FET: u16 = 0x79;

/// The reads this codec makes, by function code and block: the whole allow-list.
pub const READS: [(u8, (u16, u16)); 8] = [
    (FC_INPUTS, PIA),
    (FC_INPUTS, PIB),
    (FC_COILS, PIC),
    (FC_INPUTS, IDENTITY),
    (FC_INPUTS, FACTORY),
    (FC_INPUTS, EIA),
    (FC_INPUTS, EIB),
    (FC_COILS, EIC),
];

/// A read request of one of [`READS`] to `address`: 8 bytes with CRC.
pub fn read(address: u8, function: u8, (start, count): (u16, u16)) -> Vec<u8> {
    ReadRequest {
        address,
        function,
        start,
        count,
    }
    .encode()
}

/// Bytes of a coil reply's data for `count` coils.
pub fn coil_bytes(count: u16) -> usize {
    usize::from(count).div_ceil(8)
}

/// An FC01 reply (for the simulator): address, 01, byte count, coil bytes, CRC.
pub fn encode_coils(address: u8, coils: &[u8]) -> Vec<u8> {
    let mut f = vec![address, FC_COILS, coils.len().min(255) as u8];
    f.extend_from_slice(coils);
    modbus::append_crc(&mut f);
    f
}

/// Looks for the FC01 reply to a coil read of `count` coils from `address` in `buf`: the
/// coil bytes, an exception, or None while it may still come.
fn scan_coils(buf: &[u8], address: u8, count: u16) -> Option<Result<Vec<u8>, String>> {
    let n = coil_bytes(count);
    let want = 5 + n;
    for i in 0..buf.len() {
        let b = &buf[i..];
        if b.len() >= want
            && b[0] == address
            && b[1] == FC_COILS
            && usize::from(b[2]) == n
            && modbus::crc_ok(&b[..want])
        {
            return Some(Ok(b[3..3 + n].to_vec()));
        }
        if b.len() >= 5 && b[0] == address && b[1] == FC_COILS | 0x80 && modbus::crc_ok(&b[..5]) {
            return Some(Err(format!(
                "exception {:#04x} ({})",
                b[2],
                modbus::exception_name(b[2])
            )));
        }
    }
    None
}

/// Registers from an FC04 answer's bytes.
fn registers(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|w| u16::from_be_bytes([w[0], w[1]]))
        .collect()
}

/// °C from u16 × 0.1 K (aiobmsble subtracts 2731; dbus-serialbattery 2730).
pub fn celsius(raw: u16) -> f64 {
    round((f64::from(raw) - 2731.0) / 10.0, 1)
}

/// The PIA fields: register 0 pack voltage × 0.01 V, 1 current s16 × 0.01 A, 2 remaining ×
/// 0.01 Ah, 3 design capacity × 0.01 Ah (aiobmsble), 5 SOC × 0.1 %, 6 SOH × 0.1 %, 7 cycles.
pub fn pia_fields(regs: &[u16], f: &mut Fields) -> Result<(), String> {
    if regs.len() < 8 {
        return Err(format!(
            "pack block (0x1000): {} registers, need at least 8",
            regs.len()
        ));
    }
    f.float("pack_voltage", round(f64::from(regs[0]) / 100.0, 2));
    f.float("pack_current", round(f64::from(regs[1] as i16) / 100.0, 2));
    f.float("remaining_ah", round(f64::from(regs[2]) / 100.0, 2));
    f.float("design_capacity_ah", round(f64::from(regs[3]) / 100.0, 2));
    f.float("soc", round(f64::from(regs[5]) / 10.0, 1));
    f.float("soh", round(f64::from(regs[6]) / 10.0, 1));
    f.int("cycle_count", regs[7]);
    Ok(())
}

/// The PIB fields: registers 0–15 cells (mV; a cell reading 0 is not there), 16–19 cell
/// temperatures, 24 environment and 25 MOSFET (aiobmsble), all × 0.1 K.
pub fn pib_fields(regs: &[u16], f: &mut Fields) -> Result<(), String> {
    if regs.len() < 20 {
        return Err(format!(
            "cell block (0x1100): {} registers, need at least 20",
            regs.len()
        ));
    }
    let cells: Vec<f64> = regs[..16]
        .iter()
        .take_while(|&&mv| mv != 0)
        .map(|&mv| f64::from(mv) / 1000.0)
        .collect();
    if cells.is_empty() {
        return Err("cell block (0x1100): no cell voltages".into());
    }
    f.add_cell_stats(&cells);
    f.int("cell_count", cells.len() as i64);
    f.set("cell_voltages", Value::Floats(cells));
    f.set(
        "temperatures",
        Value::Floats(regs[16..20].iter().map(|&t| celsius(t)).collect()),
    );
    if let Some(&env) = regs.get(24) {
        f.float("temperature_env", celsius(env));
    }
    if let Some(&mos) = regs.get(25) {
        f.float("temperature_mos", celsius(mos));
    }
    Ok(())
}

/// A u32 of two registers in swapped word order (low word first), as the system blocks
/// carry them.
fn swapped(regs: &[u16], i: usize) -> u32 {
    u32::from(regs[i + 1]) << 16 | u32::from(regs[i])
}

/// The EIA fields of a bank's system reading (aiobmsble's layout): registers 0–1 pack
/// voltage u32 × 0.01 V and 2–3 current s32 × 0.1 A, both low word first, 4–5 remaining
/// capacity u32 × 0.01 Ah, 22 pack count, 23 cycles, 24 SOC × 0.1 %, 25 SOH × 0.1 %.
pub fn eia_fields(regs: &[u16], f: &mut Fields) -> Result<(), String> {
    if regs.len() < 26 {
        return Err(format!(
            "system block (0x2000): {} registers, need at least 26",
            regs.len()
        ));
    }
    let packs = regs[22];
    if !(1..=16).contains(&packs) {
        return Err(format!(
            "system block (0x2000): implausible pack count {packs}"
        ));
    }
    f.float(
        "pack_voltage",
        round(f64::from(swapped(regs, 0)) / 100.0, 2),
    );
    f.float(
        "pack_current",
        round(f64::from(swapped(regs, 2) as i32) / 10.0, 1),
    );
    f.float(
        "remaining_ah",
        round(f64::from(swapped(regs, 4)) / 100.0, 2),
    );
    f.int("packs_total", packs);
    f.int("cycle_count", regs[23]);
    f.float("soc", round(f64::from(regs[24]) / 10.0, 1));
    f.float("soh", round(f64::from(regs[25]) / 10.0, 1));
    Ok(())
}

/// The EIB field of a bank's system reading: register 10, the average cell temperature,
/// s16 × 0.1 °C (aiobmsble).
pub fn eib_fields(regs: &[u16], f: &mut Fields) -> Result<(), String> {
    let t = regs.get(10).ok_or_else(|| {
        format!(
            "system block (0x2100): {} registers, need at least 11",
            regs.len()
        )
    })?;
    f.float(
        "cell_temperature_avg",
        round(f64::from(*t as i16) / 10.0, 1),
    );
    Ok(())
}

/// Whether coil `n` is set in FC01 data bytes (coil 8k + j is bit j of byte k).
pub fn coil(data: &[u8], n: u16) -> Option<bool> {
    data.get(usize::from(n / 8))
        .map(|b| b & (1 << (n % 8)) != 0)
}

/// The identity from the 0x1700 block: the whole block (factory, model, software version,
/// serial) or the probe's factory name alone. Empty texts are left out; the manufacturer is
/// the board's factory name where it gives one.
pub fn identity(bytes: &[u8]) -> Info {
    let text = |from: usize, len: usize| {
        bytes
            .get(from..(from + len).min(bytes.len()))
            .map(crate::proto::pylontech::text)
            .filter(|s| !s.is_empty())
    };
    let version = bytes
        .get(40..42)
        .filter(|v| v.iter().all(u8::is_ascii_digit))
        .map(|v| format!("{}.{}", v[0] as char, v[1] as char));
    Info {
        manufacturer: text(0, 20).or_else(|| Some("Seplos".into())),
        model: text(20, 20),
        firmware: version,
        serial: text(42, 30),
        ..Info::default()
    }
}

/// The Seplos v3 codec for the poll engine.
#[derive(Debug, Clone, Default)]
pub struct Codec;

impl codec::Codec for Codec {
    fn identity(&self, address: u8) -> Vec<Request> {
        vec![Request::optional(
            read(address, FC_INPUTS, IDENTITY),
            FC_INPUTS,
        )]
    }

    fn status(&self, address: u8) -> Vec<Request> {
        vec![
            Request::required(read(address, FC_INPUTS, PIA), FC_INPUTS),
            Request::required(read(address, FC_INPUTS, PIB), FC_INPUTS),
            Request::optional(read(address, FC_COILS, PIC), FC_COILS),
        ]
    }

    fn judge(
        &self,
        address: u8,
        req: &Request,
        _prior: &[Option<Vec<u8>>],
        buf: &[u8],
        last: bool,
    ) -> Judge {
        let (Some(&function), Some(start), Some(count)) =
            (req.bytes.get(1), req.bytes.get(2..4), req.bytes.get(4..6))
        else {
            return Judge::Done(Err("not a read request".into()));
        };
        let count = u16::from_be_bytes([count[0], count[1]]);
        if function == FC_COILS {
            return match scan_coils(buf, address, count) {
                Some(r) => Judge::Done(r),
                None if last => Judge::Done(Err(if buf.is_empty() {
                    "no reply".into()
                } else {
                    format!("no valid coil reply in {} byte(s)", buf.len())
                })),
                None => Judge::More,
            };
        }
        let rr = ReadRequest {
            address,
            function,
            start: u16::from_be_bytes([start[0], start[1]]),
            count,
        };
        match modbus::scan_reply(buf, &rr) {
            ReplyScan::Done { registers, .. } => {
                Judge::Done(Ok(registers.iter().flat_map(|r| r.to_be_bytes()).collect()))
            }
            ReplyScan::Failed(e) => Judge::Done(Err(e.to_string())),
            ReplyScan::Incomplete if last => {
                Judge::Done(Err(modbus::reply_error(buf, &rr).to_string()))
            }
            ReplyScan::Incomplete if buf.len() >= rr.reply_len() => Judge::Settle,
            ReplyScan::Incomplete => Judge::More,
        }
    }

    fn decode(&self, _address: u8, answers: &[Option<Vec<u8>>]) -> Result<Decoded, String> {
        let pia = registers(
            answers
                .first()
                .and_then(Option::as_deref)
                .ok_or("no pack block")?,
        );
        let pib = registers(
            answers
                .get(1)
                .and_then(Option::as_deref)
                .ok_or("no cell block")?,
        );
        let mut fields = Fields::new();
        pia_fields(&pia, &mut fields)?;
        pib_fields(&pib, &mut fields)?;
        let mut raw = Map::new();
        if let Some(pic) = answers.get(2).and_then(Option::as_deref) {
            if let (Some(d), Some(c)) = (coil(pic, COIL_DISCHARGE_FET), coil(pic, COIL_CHARGE_FET))
            {
                fields.bool("discharge_fet", d);
                fields.bool("charge_fet", c);
            }
            raw.insert("pic".into(), json!(hex::encode(pic)));
        }
        raw.insert("pia".into(), json!(pia));
        raw.insert("pib".into(), json!(pib));
        Ok(Decoded { fields, raw })
    }

    fn decode_identity(&self, _address: u8, answers: &[Option<Vec<u8>>]) -> Option<Info> {
        let bytes = answers.first().and_then(Option::as_deref)?;
        Some(identity(bytes))
    }

    fn probe(&self, address: u8) -> Request {
        Request::required(read(address, FC_INPUTS, FACTORY), FC_INPUTS)
    }

    /// The packs' own reads, and with several packs behind a master (addresses 1–16) the
    /// master's system blocks at slave 0, one bank reading more.
    fn reads(&self, addresses: &[u8]) -> Vec<Read> {
        let mut out: Vec<Read> = addresses.iter().map(|&a| Read::single(a)).collect();
        if addresses.len() >= 2 && addresses.iter().all(|a| (1..=16).contains(a)) {
            out.push(Read {
                address: SYSTEM_ADDRESS,
                devices: vec![SYSTEM_ADDRESS],
                group: true,
            });
        }
        out
    }

    fn group_status(&self, r: &Read) -> Vec<Request> {
        vec![
            Request::required(read(r.address, FC_INPUTS, EIA), FC_INPUTS),
            Request::optional(read(r.address, FC_INPUTS, EIB), FC_INPUTS),
            Request::optional(read(r.address, FC_COILS, EIC), FC_COILS),
        ]
    }

    fn decode_group(
        &self,
        r: &Read,
        answers: &[Option<Vec<u8>>],
    ) -> Vec<(u8, Result<Decoded, String>)> {
        let system = || -> Result<Decoded, String> {
            let eia = registers(
                answers
                    .first()
                    .and_then(Option::as_deref)
                    .ok_or("no system block")?,
            );
            let mut fields = Fields::new();
            eia_fields(&eia, &mut fields)?;
            let mut raw = Map::new();
            raw.insert("eia".into(), json!(eia));
            if let Some(eib) = answers.get(1).and_then(Option::as_deref) {
                let eib = registers(eib);
                eib_fields(&eib, &mut fields)?;
                raw.insert("eib".into(), json!(eib));
            }
            if let Some(eic) = answers.get(2).and_then(Option::as_deref) {
                if let Some(&b) = eic.get(7) {
                    fields.bool("discharge_fet", b & 0x01 != 0);
                    fields.bool("charge_fet", b & 0x02 != 0);
                }
                raw.insert("eic".into(), json!(hex::encode(eic)));
            }
            Ok(Decoded { fields, raw })
        };
        let d = system();
        r.devices.iter().map(|&a| (a, d.clone())).collect()
    }

    fn check_probe(&self, _address: u8, answer: &[u8]) -> Result<Info, String> {
        // 10 registers of text: printable ASCII, spaces or NUL padding, some of it letters.
        let printable = answer
            .iter()
            .all(|&b| b == 0 || b == b' ' || b.is_ascii_graphic());
        if answer.len() != 2 * usize::from(FACTORY.1)
            || !printable
            || !answer.iter().any(u8::is_ascii_alphanumeric)
        {
            return Err(format!(
                "the identity block is not text ({}): not a Seplos v3 board",
                hex::encode(answer)
            ));
        }
        Ok(identity(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::codec::Codec as _;

    #[test]
    fn requests_match_the_published_bytes() {
        // protocols.md §14.6 (the SG16S200A session) and §16's probe.
        assert_eq!(
            read(1, 4, PIA),
            [0x01, 0x04, 0x10, 0x00, 0x00, 0x11, 0x34, 0xC6]
        );
        assert_eq!(
            read(1, 4, PIB),
            [0x01, 0x04, 0x11, 0x00, 0x00, 0x1A, 0x74, 0xFD]
        );
        assert_eq!(
            Codec.probe(0).bytes,
            [0x00, 0x04, 0x17, 0x00, 0x00, 0x0A, 0x74, 0x68]
        );
        // Every request is FC01/FC04 to a block of READS.
        for a in 0..=16 {
            for r in Codec
                .identity(a)
                .into_iter()
                .chain(Codec.status(a))
                .chain([Codec.probe(a)])
            {
                assert!(modbus::crc_ok(&r.bytes));
                assert!(
                    READS.iter().any(|&(fc, b)| read(a, fc, b) == r.bytes),
                    "{r:?}"
                );
            }
        }
    }

    fn pia_regs() -> Vec<u16> {
        // 52.34 V (the aiobmsble test's pack), −3.21 A, 150.00 Ah of 200.00 Ah, SOC 75.0 %,
        // SOH 99.5 %, 42 cycles.
        let mut r = vec![5234, (-321i16) as u16, 15000, 20000, 0, 750, 995, 42];
        r.resize(usize::from(PIA.1), 0);
        r
    }

    fn pib_regs(cells: usize) -> Vec<u16> {
        let mut r: Vec<u16> = (0..16)
            .map(|i| if i < cells { 3270 + i as u16 } else { 0 })
            .collect();
        r.extend([2981, 2991, 3001, 2971, 0, 0, 0, 0, 2961, 3031]);
        r
    }

    fn answer(regs: &[u16]) -> Option<Vec<u8>> {
        Some(regs.iter().flat_map(|r| r.to_be_bytes()).collect())
    }

    #[test]
    fn decodes_the_pack_blocks() {
        let mut pic = vec![0u8; coil_bytes(PIC.1)];
        pic[15] = 0b10; // charge MOSFET on, discharge off
        let d = Codec
            .decode(0, &[answer(&pia_regs()), answer(&pib_regs(15)), Some(pic)])
            .unwrap();
        let get = |n: &str| d.fields.get(n).cloned().unwrap_or_else(|| panic!("{n}"));
        assert_eq!(get("pack_voltage"), Value::Float(52.34));
        assert_eq!(get("pack_current"), Value::Float(-3.21));
        assert_eq!(get("remaining_ah"), Value::Float(150.0));
        assert_eq!(get("design_capacity_ah"), Value::Float(200.0));
        assert_eq!(get("soc"), Value::Float(75.0));
        assert_eq!(get("soh"), Value::Float(99.5));
        assert_eq!(get("cycle_count"), Value::Int(42));
        assert_eq!(get("cell_count"), Value::Int(15));
        assert_eq!(
            get("temperatures"),
            Value::Floats(vec![25.0, 26.0, 27.0, 24.0])
        );
        assert_eq!(get("temperature_env"), Value::Float(23.0));
        assert_eq!(get("temperature_mos"), Value::Float(30.0));
        assert_eq!(get("charge_fet"), Value::Bool(true));
        assert_eq!(get("discharge_fet"), Value::Bool(false));
        for (name, _) in d.fields.iter() {
            assert!(crate::catalog::writes("seplos3", name), "{name}");
        }
        assert!(Codec
            .decode(0, &[answer(&pia_regs()[..7]), answer(&pib_regs(16))])
            .is_err());
        assert!(Codec
            .decode(0, &[answer(&pia_regs()), answer(&[0; 26])])
            .is_err());
    }

    #[test]
    fn judge_accepts_slave_0_and_names_exceptions() {
        let req = Codec.status(0).remove(0);
        let reply = modbus::encode_read_reply(0, 4, &pia_regs());
        let mut buf = req.bytes.clone(); // an adapter's echo first
        buf.extend_from_slice(&reply);
        assert_eq!(
            Codec.judge(0, &req, &[], &buf, false),
            Judge::Done(answer(&pia_regs()).ok_or(String::new()))
        );
        let ex = modbus::encode_exception(0, 4, 2);
        match Codec.judge(0, &req, &[], &ex, false) {
            Judge::Done(Err(e)) => assert!(e.contains("illegal data address"), "{e}"),
            other => panic!("{other:?}"),
        }
        let coils = Codec.status(0).remove(2);
        let reply = encode_coils(0, &[0xFF; 18]);
        assert_eq!(
            Codec.judge(0, &coils, &[], &reply[..10], false),
            Judge::More
        );
        assert_eq!(
            Codec.judge(0, &coils, &[], &reply, false),
            Judge::Done(Ok(vec![0xFF; 18]))
        );
        let ex = modbus::encode_exception(0, 1, 1);
        assert!(matches!(
            Codec.judge(0, &coils, &[], &ex, true),
            Judge::Done(Err(_))
        ));
        assert!(matches!(
            Codec.judge(0, &coils, &[], &[0x55; 7], true),
            Judge::Done(Err(_))
        ));
    }

    #[test]
    fn probe_wants_text() {
        let ok = b"XZH-ElecTech Co.,Ltd";
        assert_eq!(
            Codec.check_probe(0, ok).unwrap().manufacturer.as_deref(),
            Some("XZH-ElecTech Co.,Ltd")
        );
        assert!(Codec.check_probe(0, &[0xFF; 20]).is_err());
        assert!(Codec.check_probe(0, &[0; 20]).is_err());
        assert!(Codec.check_probe(0, b"short").is_err());
    }

    /// Replies of a real SG16S200A (syssi/esphome-seplos-bms
    /// docs/pdus/v3/SG16S200A-SP57B-A-all-frames.txt, the session protocols.md §14.6 cites),
    /// each to the request before it there.
    const REAL_PIA: &str =
        "01042214CDFF776B4080E80122034003E7000A0CFF0B7F0D000CFF0B810B7E000000B400B4D32E";
    const REAL_PIB: &str = "0104340CFF0CFF0D000D000D000CFF0D000CFF0D000D000D000D000D000CFF0CFF0D000B820B7F0B810B7E0AAB0AAB0AAB0AAB0B8C0B7F0113";
    const REAL_EIA: &str = "00043414CD0000FFF3FFFF6B40000080E8000001220000\
        80E8000000010000000000000708000007080000024001D00001000A034003E7F2CC";
    const REAL_IDENTITY: &str = "000466585A482D456C65635465636820436F2E2C4C7464534731365332303041\
        2D53503537422D41000000313553503537422D41323530363132303032320000\
        0000000000000000000000000000000000000000000000000000000000000000\
        000000000000000000634B";

    fn judged(codec: &Codec, address: u8, req: &Request, reply: &str) -> Option<Vec<u8>> {
        let bytes = hex::decode(reply).unwrap();
        match codec.judge(address, req, &[], &bytes, false) {
            Judge::Done(Ok(answer)) => Some(answer),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn golden_real_sg16s200a() {
        let status = Codec.status(1);
        let d = Codec
            .decode(
                1,
                &[
                    judged(&Codec, 1, &status[0], REAL_PIA),
                    judged(&Codec, 1, &status[1], REAL_PIB),
                    None,
                ],
            )
            .unwrap();
        let get = |n: &str| d.fields.get(n).cloned().unwrap_or_else(|| panic!("{n}"));
        // The capture's own EIA block (the system view of this one pack) says 53.25 V,
        // −1.3 A, 274.56 Ah, SOC 83.2 %, SOH 99.9 %, 10 cycles: the pack block agrees.
        assert_eq!(get("pack_voltage"), Value::Float(53.25));
        assert_eq!(get("pack_current"), Value::Float(-1.37));
        assert_eq!(get("remaining_ah"), Value::Float(274.56));
        assert_eq!(get("design_capacity_ah"), Value::Float(330.0));
        assert_eq!(get("soc"), Value::Float(83.2));
        assert_eq!(get("soh"), Value::Float(99.9));
        assert_eq!(get("cycle_count"), Value::Int(10));
        let mv = [
            3327, 3327, 3328, 3328, 3328, 3327, 3328, 3327, 3328, 3328, 3328, 3328, 3328, 3327,
            3327, 3328,
        ];
        assert_eq!(
            get("cell_voltages"),
            Value::Floats(mv.iter().map(|&v| f64::from(v) / 1000.0).collect())
        );
        assert_eq!(
            get("temperatures"),
            Value::Floats(vec![21.5, 21.2, 21.4, 21.1])
        );
        assert_eq!(get("temperature_env"), Value::Float(22.5));
        assert_eq!(get("temperature_mos"), Value::Float(21.2));

        let id = Codec.identity(0).remove(0);
        assert_eq!(
            id.bytes,
            [0x00, 0x04, 0x17, 0x00, 0x00, 0x33, 0xB4, 0x7A],
            "the capture's identity request"
        );
        let info = Codec
            .decode_identity(
                0,
                &[judged(&Codec, 0, &id, &REAL_IDENTITY.replace(' ', ""))],
            )
            .unwrap();
        assert_eq!(info.manufacturer.as_deref(), Some("XZH-ElecTech Co.,Ltd"));
        assert_eq!(info.model.as_deref(), Some("SG16S200A-SP57B-A"));
        assert_eq!(info.firmware.as_deref(), Some("1.5"));
        assert_eq!(info.serial.as_deref(), Some("SP57B-A2506120022"));
        // The same session's system block at slave 0 (EIA, 26 registers; words swapped):
        // the one pack's figures again, and the pack count.
        let eia = Request::required(read(0, FC_INPUTS, EIA), FC_INPUTS);
        assert_eq!(eia.bytes, [0x00, 0x04, 0x20, 0x00, 0x00, 0x1A, 0x7B, 0xD0]);
        let regs = registers(&judged(&Codec, 0, &eia, REAL_EIA).unwrap());
        let mut f = Fields::new();
        eia_fields(&regs, &mut f).unwrap();
        let get = |n: &str| f.get(n).cloned().unwrap_or_else(|| panic!("{n}"));
        assert_eq!(get("pack_voltage"), Value::Float(53.25));
        assert_eq!(get("pack_current"), Value::Float(-1.3));
        assert_eq!(get("remaining_ah"), Value::Float(274.56));
        assert_eq!(get("packs_total"), Value::Int(1));
        assert_eq!(get("cycle_count"), Value::Int(10));
        assert_eq!(get("soc"), Value::Float(83.2));
        assert_eq!(get("soh"), Value::Float(99.9));
        // The probe's factory name alone gives the manufacturer.
        let probe = Codec.check_probe(0, &hex::decode(&REAL_IDENTITY[6..46]).unwrap());
        assert_eq!(
            probe.unwrap().manufacturer.as_deref(),
            Some("XZH-ElecTech Co.,Ltd")
        );
    }

    #[test]
    fn no_panic_on_short_or_odd_blocks() {
        for n in 0..40 {
            let regs: Vec<u16> = (0..n).map(|i| i * 977).collect();
            let _ = pia_fields(&regs, &mut Fields::new());
            let _ = pib_fields(&regs, &mut Fields::new());
            let bytes: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let _ = Codec.decode(0, &[Some(bytes.clone()), Some(bytes.clone()), Some(bytes)]);
        }
        let _ = Codec.decode(0, &[]);
        for req in Codec.status(3) {
            for n in 0..12 {
                let _ = Codec.judge(3, &req, &[], &vec![3; n], true);
            }
        }
    }

    /// A bank's system blocks: a computed EIA/EIB reply pair (values chosen so every swapped
    /// u32 has a high word) through the judge and the group decoder.
    #[test]
    fn decodes_the_system_blocks_as_one_bank_reading() {
        let reads = Codec.reads(&[1, 2, 3]);
        assert_eq!(reads.len(), 4);
        let system = &reads[3];
        assert_eq!((system.address, system.group), (0, true));
        assert_eq!(system.devices, vec![0]);
        // One pack, or a pack at 0, has no system read.
        assert!(Codec.reads(&[1]).iter().all(|r| !r.group));
        assert!(Codec.reads(&[0, 1]).iter().all(|r| !r.group));
        let reqs = Codec.group_status(system);
        // protocols.md §14.6: the captured EIA request and the computed 0x16-register EIB.
        assert_eq!(
            reqs[0].bytes,
            [0x00, 0x04, 0x20, 0x00, 0x00, 0x1A, 0x7B, 0xD0]
        );
        assert_eq!(
            reqs[1].bytes,
            [0x00, 0x04, 0x21, 0x00, 0x00, 0x16, 0x7A, 0x29]
        );
        assert!(reqs[0].required && !reqs[1].required);
        // 53.12 V, -123.4 A (s32), 1234.56 Ah (above 16 bits), 3 packs,
        // 17 cycles, SOC 61.7 %, SOH 99.5 %; the average cell temperature -2.5 °C.
        let mut eia = vec![0u16; usize::from(EIA.1)];
        eia[0] = 5312;
        let amps = (-1234i32) as u32;
        eia[2] = amps as u16;
        eia[3] = (amps >> 16) as u16;
        eia[4] = 0xE240;
        eia[5] = 0x0001;
        eia[22] = 3;
        eia[23] = 17;
        eia[24] = 617;
        eia[25] = 995;
        let mut eib = vec![0u16; usize::from(EIB.1)];
        eib[10] = (-25i16) as u16;
        let mut answers = Vec::new();
        for (req, regs) in reqs.iter().zip([&eia, &eib]) {
            let frame = modbus::encode_read_reply(0, FC_INPUTS, regs);
            match Codec.judge(0, req, &[], &frame, false) {
                Judge::Done(Ok(a)) => answers.push(Some(a)),
                other => panic!("{other:?}"),
            }
        }
        // EIC: byte 7 = 0b10, the charge MOSFET on, the discharge MOSFET off.
        assert_eq!(
            reqs[2].bytes,
            [0x00, 0x01, 0x22, 0x00, 0x00, 0x50, 0x37, 0x9F]
        );
        let mut eic = vec![0u8; coil_bytes(EIC.1)];
        eic[7] = 0b10;
        match Codec.judge(0, &reqs[2], &[], &encode_coils(0, &eic), false) {
            Judge::Done(Ok(a)) => answers.push(Some(a)),
            other => panic!("{other:?}"),
        }
        let got = Codec.decode_group(system, &answers);
        assert_eq!(got.len(), 1);
        let (address, d) = &got[0];
        assert_eq!(*address, 0);
        let d = d.as_ref().unwrap();
        let get = |n: &str| d.fields.get(n).cloned().unwrap_or_else(|| panic!("{n}"));
        assert_eq!(get("pack_voltage"), Value::Float(53.12));
        assert_eq!(get("pack_current"), Value::Float(-123.4));
        assert_eq!(get("remaining_ah"), Value::Float(1234.56));
        assert_eq!(get("packs_total"), Value::Int(3));
        assert_eq!(get("cycle_count"), Value::Int(17));
        assert_eq!(get("soc"), Value::Float(61.7));
        assert_eq!(get("soh"), Value::Float(99.5));
        assert_eq!(get("cell_temperature_avg"), Value::Float(-2.5));
        assert_eq!(get("charge_fet"), Value::Bool(true));
        assert_eq!(get("discharge_fet"), Value::Bool(false));
        for (name, _) in d.fields.iter() {
            assert!(crate::catalog::writes("seplos3", name), "{name}");
        }
        assert_eq!(d.raw["eia"], json!(eia));
        // Without EIB and EIC the reading still comes, without the temperature and MOSFETs.
        let d = Codec.decode_group(system, &[answers[0].clone(), None, None]);
        let d = d[0].1.as_ref().unwrap();
        assert!(d.fields.get("cell_temperature_avg").is_none());
        assert!(d.fields.get("charge_fet").is_none());
        // A pack count of 0, a short block, no block: errors naming the block.
        let mut zero = eia.clone();
        zero[22] = 0;
        let e = Codec
            .decode_group(system, &[answer(&zero)])
            .remove(0)
            .1
            .unwrap_err();
        assert!(e.contains("0x2000") && e.contains("pack count 0"), "{e}");
        let e = Codec
            .decode_group(system, &[answer(&eia[..25])])
            .remove(0)
            .1
            .unwrap_err();
        assert!(e.contains("26"), "{e}");
        let e = Codec.decode_group(system, &[None]).remove(0).1.unwrap_err();
        assert_eq!(e, "no system block");
        let e = Codec
            .decode_group(system, &[answer(&eia), answer(&eib[..10])])
            .remove(0)
            .1
            .unwrap_err();
        assert!(e.contains("0x2100"), "{e}");
        for n in 0..30 {
            let regs: Vec<u16> = (0..n).map(|i: u16| i.wrapping_mul(4099)).collect();
            let _ = eia_fields(&regs, &mut Fields::new());
            let _ = eib_fields(&regs, &mut Fields::new());
        }
    }
}
