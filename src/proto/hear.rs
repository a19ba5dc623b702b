//! What a family that can be *heard* gives the listening engine ([`crate::listen`]), without
//! any I/O: bytes in, readings and identities out, each with the bus address it belongs to.
//! Listening is the other mode of the engine next to polling: a family declares in the table
//! ([`crate::family::Reach`]) whether it can be asked, heard, or both. rtu-sniff's LifePower4
//! decoding ([`Lp4`]) and bms-poll's JK-PB listener ([`JkPb`]) are both hearers.

use crate::proto::jkpb::{self, Framer, Kind, Settings};
use crate::proto::{lp4, rtu};
use crate::record::{Fields, Info};
use std::collections::BTreeMap;

/// Something heard on the bus.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    /// A status reading of the pack at `address`.
    Reading {
        address: u8,
        fields: Fields,
        raw: serde_json::Map<String, serde_json::Value>,
    },
    /// The pack at `address` said who it is.
    Identity { address: u8, info: Info },
}

/// A family's listener for one port.
pub trait Hearer: Send {
    /// Feeds received bytes; returns what they completed.
    fn feed(&mut self, bytes: &[u8]) -> Vec<Heard>;
    /// The line went quiet or the input ended: whatever was held back.
    fn flush(&mut self) -> Vec<Heard>;
    /// Counters for the log (records, damaged frames, bytes skipped).
    fn counts(&self) -> (u64, u64, u64);
}

/// The JK-PB listener: records attributed to addresses by [`Framer`]; a settings record is
/// kept per address and adds its fields to that pack's next readings; an about record gives
/// the identity; a damaged or implausible record is counted and dropped.
#[derive(Debug, Default)]
pub struct JkPb {
    framer: Framer,
    settings: BTreeMap<u8, Settings>,
    pub invert_current: bool,
}

impl JkPb {
    pub fn new(invert_current: bool) -> JkPb {
        JkPb {
            invert_current,
            ..JkPb::default()
        }
    }

    fn decode(&mut self, heard: Vec<jkpb::Heard>) -> Vec<Heard> {
        let mut out = Vec::new();
        for h in heard {
            match h.kind {
                Kind::Live => match jkpb::parse_live(&h.record) {
                    Ok(mut l) if l.plausible().is_ok() => {
                        if self.invert_current {
                            l.current_ma = l.current_ma.saturating_neg();
                        }
                        let s = self.settings.get(&h.address);
                        out.push(Heard::Reading {
                            address: h.address,
                            fields: jkpb::fields(&l, s),
                            raw: jkpb::raw(&l, s),
                        });
                    }
                    Ok(l) => log::debug!(
                        "jk-pb address {}: implausible record: {}",
                        h.address,
                        l.plausible().err().unwrap_or_default()
                    ),
                    Err(e) => log::debug!("jk-pb address {}: {e}", h.address),
                },
                Kind::Settings => {
                    if let Ok(s) = jkpb::parse_settings(&h.record) {
                        self.settings.insert(h.address, s);
                    }
                }
                Kind::About => {
                    if let Ok(a) = jkpb::parse_about(&h.record) {
                        out.push(Heard::Identity {
                            address: h.address,
                            info: jkpb::info(&a),
                        });
                    }
                }
            }
        }
        out
    }
}

impl Hearer for JkPb {
    fn feed(&mut self, bytes: &[u8]) -> Vec<Heard> {
        let h = self.framer.feed(bytes);
        self.decode(h)
    }

    fn flush(&mut self) -> Vec<Heard> {
        let h = self.framer.flush();
        self.decode(h)
    }

    fn counts(&self) -> (u64, u64, u64) {
        (self.framer.records, self.framer.bad, self.framer.skipped)
    }
}

/// LifePower4 v2 readings from the Modbus RTU responses another master's polls draw out (an
/// inverter polling its batteries): what `rtu-sniff --decode lp4` prints. The RTU framer pairs
/// each response with its request, which gives the first register of the window.
pub struct Lp4 {
    pub map: lp4::Map,
    framer: rtu::Framer,
}

impl Lp4 {
    pub fn new(map: lp4::Map) -> Lp4 {
        Lp4 {
            map,
            framer: rtu::Framer::new(),
        }
    }

    /// What one fc 3/4 response frame tells: the identity when its window covers the
    /// identity block, and a reading when any of its registers decode.
    pub fn response(map: lp4::Map, f: &rtu::Frame<'_>) -> Vec<Heard> {
        let mut out = Vec::new();
        if f.kind != rtu::Kind::Response || !matches!(f.function, 3 | 4) {
            return out;
        }
        let (Some(start), Some(regs)) = (f.start, f.registers()) else {
            log::debug!(
                "response from address {} without its request: start unknown",
                f.address
            );
            return out;
        };
        let regs: Vec<u16> = regs.collect();
        let window = lp4::Window { start, regs: &regs };
        let (id_start, id_count) = lp4::IDENTITY_BLOCK;
        if start <= id_start && usize::from(start) + regs.len() >= usize::from(id_start + id_count)
        {
            out.push(Heard::Identity {
                address: f.address,
                info: lp4::decode_identity(window),
            });
        }
        let fields = lp4::decode(map, window);
        if !fields.is_empty() {
            out.push(Heard::Reading {
                address: f.address,
                fields,
                raw: lp4::raw(window),
            });
        }
        out
    }

    fn collect(map: lp4::Map, out: &mut Vec<Heard>) -> impl FnMut(rtu::Event<'_>) + '_ {
        move |e| {
            if let rtu::Event::Frame(f) = e {
                out.extend(Lp4::response(map, &f));
            }
        }
    }
}

impl Hearer for Lp4 {
    fn feed(&mut self, bytes: &[u8]) -> Vec<Heard> {
        let mut out = Vec::new();
        self.framer
            .push(bytes, None, Lp4::collect(self.map, &mut out));
        out
    }

    fn flush(&mut self) -> Vec<Heard> {
        let mut out = Vec::new();
        self.framer.idle(Lp4::collect(self.map, &mut out));
        out
    }

    fn counts(&self) -> (u64, u64, u64) {
        let s = self.framer.stats();
        (s.responses, s.crc_failures, s.bytes_skipped)
    }
}

/// The listener of a family that can be heard, by the family's name.
pub fn hearer(family: &str, invert_current: bool) -> Option<Box<dyn Hearer>> {
    match family {
        "jk-pb" => Some(Box::new(JkPb::new(invert_current))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::jkpb::tests::{unhex, ABOUT_CAPTURE, LIVE_RECORD, SETTINGS_CAPTURE};
    use crate::proto::jkpb::{encode_ack, Trigger};
    use crate::record::Value;

    /// An inverter's poll of a LifePower4's status and identity blocks, heard: one identity,
    /// one reading per response, the request paired to give the window's start.
    #[test]
    fn lp4_responses_heard_on_a_polled_bus() {
        use crate::proto::modbus::{encode_read_reply, ReadRequest};
        let mut model =
            crate::sim::lp4::PackModel::new(3, "SIM-HEAR-03".into(), std::time::Instant::now());
        let regs = model.image(std::time::Instant::now()).registers();
        let mut bus = Vec::new();
        for (start, count) in [(0u16, 39u16), lp4::IDENTITY_BLOCK] {
            bus.extend(ReadRequest::holding(3, start, count).encode());
            let window = &regs[usize::from(start)..usize::from(start + count)];
            bus.extend(encode_read_reply(3, 3, window));
        }
        let mut h = Lp4::new(lp4::Map::V0106);
        let mut got = Vec::new();
        for chunk in bus.chunks(5) {
            got.extend(h.feed(chunk));
        }
        got.extend(h.flush());
        let Some(Heard::Reading {
            address, fields, ..
        }) = got.first()
        else {
            panic!("{got:?}")
        };
        assert_eq!(*address, 3);
        assert!(fields.get("pack_voltage").is_some() && fields.get("soc").is_some());
        assert!(got.iter().any(|g| matches!(
            g,
            Heard::Identity { address: 3, info } if info.serial.as_deref() == Some("SIM-HEAR-03")
        )));
        assert_eq!(h.counts().0, 2);
    }

    #[test]
    fn settings_join_the_next_reading_and_about_names_the_pack() {
        let mut bus = Vec::new();
        bus.extend(Trigger::Settings.frame(1).unwrap());
        bus.extend(unhex(SETTINGS_CAPTURE));
        bus.extend(Trigger::Live.frame(1).unwrap());
        bus.extend(unhex(LIVE_RECORD));
        bus.extend(encode_ack(1, 0x1620));
        bus.extend(Trigger::About.frame(1).unwrap());
        bus.extend(unhex(ABOUT_CAPTURE));
        let mut h = JkPb::new(true);
        let mut got = h.feed(&bus);
        got.extend(h.flush());
        assert_eq!(got.len(), 2, "{got:?}");
        let Heard::Reading {
            address, fields, ..
        } = &got[0]
        else {
            panic!("{got:?}")
        };
        assert_eq!(*address, 1);
        assert_eq!(fields.get("design_capacity_ah"), Some(&Value::Float(220.0)));
        assert_eq!(fields.get("pack_current"), Some(&Value::Float(-31.881)));
        let Heard::Identity { address, info } = &got[1] else {
            panic!("{got:?}")
        };
        assert_eq!((*address, info.serial.as_deref()), (1, Some("31213480085")));
        assert_eq!(h.counts().0, 3);
    }
}
