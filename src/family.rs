//! The protocol table: every BMS family `bms-poll` speaks, with its defaults, its codec and its
//! simulator. Adding a family is its codec file in `src/proto/` (requests from an allow-list of
//! reads, a reply judge, decoders: [`crate::proto::codec::Codec`]), its simulator in `src/sim/`,
//! and one row in [`FAMILIES`]. `bms-poll --protocol`, `--detect` (in table order), `bms-sim`'s
//! subcommands, the man page, the completions and the read-only tests all come from the table.

use crate::proto::codec::Codec;
use crate::proto::{
    daly, jbd, jk, jkpb, lp4, pace, pylon_ascii, pylontech, seplos, seplos3, tianpower,
};
use crate::sim::{self, Responder};
use std::time::Duration;

/// How packs on one port are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// No address on the wire: one pack per port (address 0 in device ids).
    Single,
    /// Bus addresses `min..=max`; `default` when none is given; `probe`: the addresses
    /// `--detect` tries, in order.
    Bus {
        default: u8,
        min: u8,
        max: u8,
        probe: &'static [u8],
    },
}

/// What a family can do on a bus: be asked (the poll engine sends its requests), be heard (a
/// listener decodes what crosses the bus without sending a byte), or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    pub asked: bool,
    pub heard: bool,
}

impl Reach {
    /// Polled only: the family's packs speak when spoken to.
    pub const ASKED: Reach = Reach {
        asked: true,
        heard: false,
    };
    /// Listened to by default (another master drives the bus); asked only when the user
    /// allows it.
    pub const HEARD_FIRST: Reach = Reach {
        asked: true,
        heard: true,
    };
}

/// Settings a family's codec may take from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Daly: the host address requests are sent from (0x40 RS-485, 0x80 UART/Bluetooth).
    pub daly_host: u8,
    /// Flip the sign of the current (firmware known to send it inverted).
    pub invert_current: bool,
    /// JK-PB: the user allows the three trigger frames (FC16 writes of the command page).
    pub jk_trigger: bool,
    /// JK-PB: ask with plain FC03 reads instead (unreliable on a cold bus).
    pub jk_modbus_read: bool,
    /// Pylontech: read each group's analog values with one `INFO FF` request to its master.
    pub pylontech_group: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            daly_host: daly::HOST_RS485,
            invert_current: false,
            jk_trigger: false,
            jk_modbus_read: false,
            pylontech_group: false,
        }
    }
}

/// What `bms-sim FAMILY` is asked to simulate.
#[derive(Debug, Clone, Default)]
pub struct SimSpec {
    pub addresses: Vec<u8>,
    /// Addresses that never answer.
    pub silent: Vec<u8>,
    /// Damage every Nth reply's checksum.
    pub bad_every: Option<u64>,
    /// (address or all, field name) faults to raise.
    pub faults: Vec<(Option<u8>, String)>,
    /// Cells per pack.
    pub cells: usize,
    /// Addresses of packs asleep (a Daly echoes requests and answers nothing).
    pub asleep: Vec<u8>,
    /// Send every frame of a multi-frame answer (Daly over Bluetooth) rather than only those
    /// with data.
    pub all_frames: bool,
    /// Tag in simulated serial numbers.
    pub tag: String,
    /// Daly: answer only requests from this host address (the port's: 0x40 RS-485, 0x80 UART).
    pub host: Option<u8>,
}

/// Builds a family's simulated bus.
pub type Simulator = fn(&SimSpec) -> Result<Box<dyn Responder>, String>;

/// One family of the table.
pub struct Family {
    /// `--protocol` value and the readings' `source`.
    pub name: &'static str,
    /// One line for --help and the man page.
    pub about: &'static str,
    pub default_baud: u32,
    /// Line speeds `--detect` tries, in order.
    pub detect_bauds: &'static [u32],
    pub addressing: Addressing,
    /// Asked, heard, or both (bms-poll listens or polls accordingly).
    pub reach: Reach,
    /// Modbus RTU framing: `modbus-tcp://` gateways work.
    pub modbus: bool,
    /// Default pause between two packs' reads on one bus.
    pub gap: Duration,
    /// Pause before each further request of one read.
    pub pause: Duration,
    /// Default reply timeout.
    pub timeout: Duration,
    /// Reply timeout of a detection probe.
    pub probe_timeout: Duration,
    pub codec: fn(&Options) -> Box<dyn Codec>,
    /// The settings detection tries, in order, starting from the user's (Daly: host 0x40,
    /// then 0x80, as the port is not known).
    pub variants: fn(&Options) -> Vec<Options>,
    /// `bms-sim NAME`; None where bms-sim has a dedicated subcommand (lp4, eg4-7e).
    pub simulator: Option<Simulator>,
    /// Extra words for --help / docs: wiring, quirks.
    pub notes: &'static str,
}

impl Family {
    /// The address used when none is given.
    pub fn default_address(&self) -> u8 {
        match self.addressing {
            Addressing::Single => 0,
            Addressing::Bus { default, .. } => default,
        }
    }

    /// Checks a user's address list against the family's scheme.
    pub fn check_addresses(&self, addrs: &[u8]) -> Result<(), String> {
        match self.addressing {
            Addressing::Single if addrs.iter().any(|&a| a != 0) => Err(format!(
                "{} has no bus address: one pack per port (give one PORT per pack)",
                self.name
            )),
            Addressing::Bus { min, max, .. } => match addrs.iter().find(|&&a| a < min || a > max) {
                Some(a) => Err(format!(
                    "address {a} out of range: {} packs have addresses {min}-{max}",
                    self.name
                )),
                None => Ok(()),
            },
            Addressing::Single => Ok(()),
        }
    }

    /// The addresses `--detect` probes.
    pub fn probe_addresses(&self) -> &'static [u8] {
        match self.addressing {
            Addressing::Single => &[0],
            Addressing::Bus { probe, .. } => probe,
        }
    }
}

fn as_given(o: &Options) -> Vec<Options> {
    vec![o.clone()]
}

fn daly_hosts(o: &Options) -> Vec<Options> {
    let mut out = vec![o.clone()];
    for host in [daly::HOST_RS485, daly::HOST_UART] {
        if host != o.daly_host {
            out.push(Options {
                daly_host: host,
                ..o.clone()
            });
        }
    }
    out
}

fn jbd_codec(_: &Options) -> Box<dyn Codec> {
    Box::new(jbd::Codec)
}

fn daly_codec(o: &Options) -> Box<dyn Codec> {
    Box::new(daly::Codec {
        host: o.daly_host,
        invert_current: o.invert_current,
    })
}

fn pylontech_codec(o: &Options) -> Box<dyn Codec> {
    if o.pylontech_group {
        Box::new(pylontech::GroupCodec)
    } else {
        Box::new(pylontech::Codec)
    }
}

fn seplos_codec(_: &Options) -> Box<dyn Codec> {
    Box::new(seplos::Codec)
}

fn pace_codec(_: &Options) -> Box<dyn Codec> {
    Box::new(pace::Codec)
}

fn seplos3_codec(_: &Options) -> Box<dyn Codec> {
    Box::new(seplos3::Codec)
}

fn e7_codec(_: &Options) -> Box<dyn Codec> {
    Box::new(tianpower::Codec)
}

fn jk_codec(o: &Options) -> Box<dyn Codec> {
    Box::new(jk::Codec {
        invert_current: o.invert_current,
    })
}

fn jkpb_codec(o: &Options) -> Box<dyn Codec> {
    // The trigger frames only when the user allowed them; FC03 reads otherwise.
    Box::new(jkpb::Codec {
        modbus_read: o.jk_modbus_read || !o.jk_trigger,
        invert_current: o.invert_current,
    })
}

fn lp4_codec(_: &Options) -> Box<dyn Codec> {
    Box::new(lp4::Codec {
        map: lp4::Map::V0106,
    })
}

/// Every family, in `--detect` order: quick, unambiguous probes first; LP4, whose silent
/// addresses each cost a full timeout, last (protocols.md §16).
pub static FAMILIES: &[Family] = &[
    Family {
        name: "jbd",
        about: "JBD / Jiabaida / Xiaoxiang / Overkill Solar BMS (DD ... 77 frames, UART or RS-485)",
        default_baud: 9600,
        detect_bauds: &[9600],
        addressing: Addressing::Single,
        reach: Reach::ASKED,
        modbus: false,
        gap: Duration::from_millis(100),
        pause: Duration::from_millis(20),
        timeout: Duration::from_millis(500),
        probe_timeout: Duration::from_millis(500),
        codec: jbd_codec,
        variants: as_given,
        simulator: Some(sim::jbd::simulator),
        notes: "One pack per port (no bus address). Reads 0x03 basic info and 0x04 cells every \
                cycle, 0x05 model once per connection.",
    },
    Family {
        name: "daly",
        about: "Daly BMS, classic 13-byte A5 frames (RS-485 or UART port)",
        default_baud: 9600,
        detect_bauds: &[9600],
        addressing: Addressing::Bus {
            default: 1,
            min: 1,
            max: 16,
            probe: &[1],
        },
        reach: Reach::ASKED,
        modbus: false,
        gap: Duration::from_millis(100),
        pause: Duration::from_millis(20),
        timeout: Duration::from_millis(500),
        probe_timeout: Duration::from_millis(500),
        codec: daly_codec,
        variants: daly_hosts,
        simulator: Some(sim::daly::simulator),
        notes: "Board numbers are the addresses (1 for a single BMS). Requests come from host \
                address 0x40 (RS-485 port); --daly-host 0x80 for the UART/Bluetooth port. A \
                sleeping Daly echoes requests and answers nothing until current flows.",
    },
    Family {
        name: "pylontech",
        about:
            "Pylontech US2000/US3000/US5000/UP2500 on the RS-485/console port (ASCII ~...CR frames)",
        default_baud: 115200,
        detect_bauds: &[115200, 9600],
        addressing: Addressing::Bus {
            default: 2,
            min: 2,
            max: 0x7F,
            probe: &[2],
        },
        reach: Reach::ASKED,
        modbus: false,
        gap: Duration::from_millis(100),
        pause: Duration::from_millis(20),
        timeout: Duration::from_secs(1),
        probe_timeout: Duration::from_secs(2),
        codec: pylontech_codec,
        variants: as_given,
        simulator: Some(sim::pylontech::simulator),
        notes: "Master pack at address 2, slaves 3-13 (group m adds 16 x m). DIP 1 on the master \
                selects 9600 (up) or 115200 (down). Reads 0x42 analog values, 0x44 alarms and \
                0x92 limits every cycle, 0x51/0x93/0x96 identity and 0x47 system parameters \
                once per connection; never 0x94/0x95. --pylontech-group reads every module of a \
                group with one 0x42 INFO FF to its master instead (no alarms or limits then).",
    },
    Family {
        name: "seplos",
        about:
            "Seplos v2 BMS boards (DIY 16S kits) on the RS-485/RS-232 port (ASCII ~...CR frames)",
        default_baud: 19200,
        detect_bauds: &[19200, 9600],
        addressing: Addressing::Bus {
            default: seplos::DEFAULT_ADDRESS,
            min: 0,
            max: 15,
            probe: &[0],
        },
        reach: Reach::ASKED,
        modbus: false,
        gap: Duration::from_millis(100),
        pause: Duration::from_millis(20),
        timeout: Duration::from_secs(1),
        probe_timeout: Duration::from_secs(1),
        codec: seplos_codec,
        variants: as_given,
        simulator: Some(sim::seplos::simulator),
        notes: "The DIP switches set the address (all off: 0, one pack). 19200 baud (some \
                firmware 9600; detection tries both). Reads 0x42 analog values and 0x44 alarms \
                every cycle, 0x51 device name once per connection; nothing but 0x42, 0x44, \
                0x47, 0x51 and 0x4F is ever sent.",
    },
    Family {
        name: "pace",
        about: "PACE v25 BMS boards (SOK, Gobel, Jakiper, BSL, ...) on the RS-485/RS-232 port (ASCII ~...CR frames, VER 0x25)",
        default_baud: 9600,
        detect_bauds: &[9600],
        addressing: Addressing::Bus {
            default: pace::DEFAULT_ADDRESS,
            min: 0,
            max: 15,
            probe: &[pace::DEFAULT_ADDRESS, pace::CONSOLE_ADDRESS],
        },
        reach: Reach::ASKED,
        modbus: false,
        gap: Duration::from_millis(100),
        pause: Duration::from_millis(20),
        timeout: Duration::from_secs(1),
        probe_timeout: Duration::from_secs(1),
        codec: pace_codec,
        variants: as_given,
        simulator: Some(sim::pace::simulator),
        notes: "Address 0 on the RS-485 port, 1 on the RS-232 console port (a bank's DIP \
                switches set 0-15). Reads 0x42 analog values and 0x44 status every cycle, \
                0xC1 hardware version, 0xC2 serial number and the odd threshold reads \
                0xD1-0xDF once per connection; never 0x99 switch control, 0x9A-0x9C \
                MOSFETs/reboot or any set-configuration code (the even 0xD0-0xE6 among them).",
    },
    Family {
        name: "eg4-7e",
        about: "First-generation EG4 LifePower (TianPower BMS) over the 7E/0D protocol",
        default_baud: 9600,
        detect_bauds: &[9600],
        addressing: Addressing::Bus {
            default: 1,
            min: 0,
            max: 15,
            probe: &[1, 0, 2, 3, 4, 5, 6, 7],
        },
        reach: Reach::ASKED,
        modbus: false,
        gap: Duration::from_secs(2),
        pause: Duration::from_millis(200),
        timeout: Duration::from_secs(1),
        probe_timeout: Duration::from_millis(400),
        codec: e7_codec,
        variants: as_given,
        simulator: None,
        notes: "The same codec as eg4-7e-query; requests 2 s apart by default (--gap).",
    },
    Family {
        name: "jk",
        about: "JK-B / JK-BD BMS (4E 57 frames, UART-TTL GPS port or RS-485 adapter)",
        default_baud: 115200,
        detect_bauds: &[115200],
        addressing: Addressing::Single,
        reach: Reach::ASKED,
        modbus: false,
        gap: Duration::from_millis(100),
        pause: Duration::from_millis(20),
        timeout: Duration::from_millis(500),
        probe_timeout: Duration::from_millis(500),
        codec: jk_codec,
        variants: as_given,
        simulator: Some(sim::jk::simulator),
        notes: "One pack per port (no bus address). Sends only the read-all request (command \
                0x06) every cycle; never activate, write or password (0x01, 0x02, 0x05).",
    },
    Family {
        name: "jk-pb",
        about:
            "JK-PB inverter BMS (PB2A16S15P/20P) on RS-485: listens to the bus master by default",
        default_baud: 115200,
        detect_bauds: &[115200],
        addressing: Addressing::Bus {
            default: 1,
            min: 0,
            max: 15,
            probe: &[1],
        },
        reach: Reach::HEARD_FIRST,
        modbus: false,
        gap: Duration::from_millis(100),
        pause: Duration::from_millis(100),
        timeout: Duration::from_millis(300),
        probe_timeout: Duration::from_millis(250),
        codec: jkpb_codec,
        variants: as_given,
        simulator: None,
        notes: "DIP address 0 is the bus master: it polls the other packs and every record \
                crosses the bus, so bms-poll listens and sends nothing (every address heard, or \
                --address to pick). --jk-trigger allows the three trigger frames (only when no \
                master is heard); --jk-modbus-read asks with FC03 reads instead (unreliable on \
                a cold bus).",
    },
    Family {
        name: "lp4",
        about: "EG4 LifePower4 v2 over Modbus RTU (the codec of lp4-poll)",
        default_baud: 9600,
        detect_bauds: &[9600, 19200],
        addressing: Addressing::Bus {
            default: 1,
            min: 1,
            max: 247,
            probe: &[1, 2, 3, 4, 16, 0x40],
        },
        reach: Reach::ASKED,
        modbus: true,
        gap: Duration::from_millis(200),
        pause: Duration::ZERO,
        timeout: Duration::from_secs(1),
        probe_timeout: Duration::from_millis(500),
        codec: lp4_codec,
        variants: as_given,
        simulator: None,
        notes: "The same codec as lp4-poll (V01.06 map); modbus-tcp:// gateways work.",
    },
    Family {
        name: "seplos3",
        about: "Seplos v3 BMS boards over Modbus RTU (RS-485)",
        default_baud: 19200,
        detect_bauds: &[19200],
        addressing: Addressing::Bus {
            default: seplos3::DEFAULT_ADDRESS,
            min: 0,
            max: 16,
            probe: &[seplos3::DEFAULT_ADDRESS, 1],
        },
        reach: Reach::ASKED,
        modbus: true,
        gap: Duration::from_millis(100),
        pause: Duration::from_millis(20),
        timeout: Duration::from_millis(500),
        probe_timeout: Duration::from_millis(400),
        codec: seplos3_codec,
        variants: as_given,
        simulator: Some(sim::seplos3::simulator),
        notes: "A single pack answers at address 0 (the Modbus broadcast address: poll it only \
                where the Seplos is alone on the line), packs behind a master at 1-16; \
                detection tries it last. Reads FC04 0x1000 pack and 0x1100 cell blocks and the \
                FC01 0x1200 status coils every cycle, the 0x1700 identity block (factory, model, \
                version, serial: the device id) once per connection; with several packs at \
                1-16, the master's system blocks 0x2000 and 0x2100 (and the 0x2200 coils) at 0 \
                as one more reading (the bank's, device PORT-0); never FC05/06/0F/10. \
                modbus-tcp:// gateways work.",
    },
];

/// The protocol table as Markdown, for docs/bms-poll.md (scripts/gen-docs keeps it current).
pub fn markdown() -> String {
    let mut out = String::from(
        "| protocol | what | baud | addresses | detection tries | Modbus TCP | notes |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for f in FAMILIES {
        let addrs = match f.addressing {
            Addressing::Single => "none (one pack per port)".to_string(),
            Addressing::Bus {
                default, min, max, ..
            } => format!("{min}-{max}, default {default}"),
        };
        let probes: Vec<String> = f.probe_addresses().iter().map(u8::to_string).collect();
        let bauds: Vec<String> = f.detect_bauds.iter().map(u32::to_string).collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} baud, address {}; {} ms each | {} | {} |\n",
            f.name,
            f.about,
            f.default_baud,
            addrs,
            bauds.join(", "),
            probes.join(", "),
            f.probe_timeout.as_millis(),
            if f.modbus { "yes" } else { "no" },
            f.notes
        ));
    }
    out
}

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Family")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What the bytes that came back instead of a valid reply look like, when that points at a
/// wrong protocol or gateway mode: a line for the user, or None. `expected` is the source of
/// the protocol being polled.
pub fn recognize(bytes: &[u8], expected: &str) -> Option<String> {
    if bytes.len() < 6 {
        return None;
    }
    // A Modbus TCP gateway answering raw RTU requests with MBAP frames.
    if bytes.len() >= 8 && bytes[2..4] == [0, 0] {
        let len = usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
        if len >= 2 && len + 6 == bytes.len() {
            return Some(
                "the replies are Modbus TCP (MBAP) frames: the gateway is in Modbus TCP mode; \
                 use modbus-tcp://HOST:PORT (lp4), or set the gateway to transparent mode"
                    .into(),
            );
        }
    }
    let found = which_framing(bytes)?;
    // Framing alone does not tell Pylontech from Seplos v2 (both VER 0x20), nor LP4 from
    // Seplos v3 (both Modbus RTU).
    let alike = |a: &str, b: &str| {
        a == b
            || [a, b].iter().all(|n| ["pylontech", "seplos"].contains(n))
            || [a, b].iter().all(|n| ["lp4", "seplos3"].contains(n))
    };
    (!alike(found, expected)).then(|| {
        format!(
            "the bytes on this bus are {found} frames, not {expected}: is it the right \
             protocol? (bms-poll --detect finds out; bms-poll --protocol {found} reads it)"
        )
    })
}

/// The family whose framing a complete, checksum-valid frame in `bytes` has.
fn which_framing(bytes: &[u8]) -> Option<&'static str> {
    for pos in 0..bytes.len() {
        let b = &bytes[pos..];
        if let tianpower::Scan::Frame { .. } = tianpower::scan(b) {
            return Some("eg4-7e");
        }
        if let jbd::Scan::Frame { .. } = jbd::scan(b) {
            return Some("jbd");
        }
        if let pylon_ascii::Scan::Frame { len } = pylon_ascii::scan(b) {
            let pace = pylon_ascii::parse(&b[..len]).is_ok_and(|f| f.ver == pylon_ascii::VER_25);
            return Some(if pace { "pace" } else { "pylontech" });
        }
        if daly::scan(b) == daly::Scan::Frame {
            return Some("daly");
        }
        if let jk::Scan::Frame { .. } = jk::scan(b) {
            return Some("jk");
        }
        if let jkpb::Piece::Record { .. } = jkpb::scan(b) {
            return Some("jk-pb");
        }
        if b.len() >= 5 && b[0] != 0 && (b[1] == 0x03 || b[1] == 0x04) {
            let len = 5 + usize::from(b[2]);
            if b.len() >= len && crate::proto::modbus::crc_ok(&b[..len]) {
                return Some("lp4");
            }
        }
    }
    None
}

/// The family named `name`.
pub fn find(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.name == name)
}

/// The `--protocol` values, for help and errors.
pub fn names() -> Vec<&'static str> {
    FAMILIES.iter().map(|f| f.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::codec::every_request;

    /// Every request any family's codec can send, to any address its scheme allows and from
    /// either Daly host, checked against that family's allow-list of read commands.
    #[test]
    fn every_request_any_family_can_send_is_an_allowed_read() {
        let mut total = 0;
        for f in FAMILIES {
            for (host, invert, fc03) in [
                (daly::HOST_RS485, false, false),
                (daly::HOST_UART, true, true),
            ] {
                let codec = (f.codec)(&Options {
                    daly_host: host,
                    invert_current: invert,
                    jk_trigger: !fc03,
                    jk_modbus_read: fc03,
                    pylontech_group: fc03,
                });
                let addrs: Vec<u8> = match f.addressing {
                    Addressing::Single => vec![0],
                    Addressing::Bus { min, max, .. } => (min..=max).collect(),
                };
                for req in every_request(codec.as_ref(), addrs) {
                    total += 1;
                    allowed(f.name, &req).unwrap_or_else(|e| panic!("{}: {e}: {req:02x?}", f.name));
                }
            }
        }
        assert!(total > 1000, "{total}");
    }

    /// No PACE request, to any address, is a write: not an even code of 0xD0-0xE6 (the
    /// threshold writes beside the odd reads), 0xA8/0xAE/0xB5 (sleep, full charge, balance
    /// writes) nor 0x99-0x9C (switch control, MOSFETs, reboot); and each of the eight odd
    /// threshold reads is sent, without INFO.
    #[test]
    fn pace_sends_no_even_neighbour_of_its_threshold_reads() {
        let f = FAMILIES.iter().find(|f| f.name == "pace").unwrap();
        let codec = (f.codec)(&Options::default());
        let mut writes: Vec<u8> = (0xD0..=0xE6).step_by(2).collect();
        writes.extend([0xA8, 0xAE, 0xB5, 0x99, 0x9A, 0x9B, 0x9C]);
        let mut reads = Vec::new();
        for req in every_request(codec.as_ref(), 0..=255) {
            let frame = pylon_ascii::parse(&req).unwrap();
            assert!(!writes.contains(&frame.cid2), "{req:02x?}");
            if (0xD0..=0xE6).contains(&frame.cid2) {
                assert!(frame.info.is_empty(), "{req:02x?}");
                reads.push(frame.cid2);
            }
        }
        reads.sort_unstable();
        reads.dedup();
        assert_eq!(reads, [0xD1, 0xD3, 0xD5, 0xD7, 0xD9, 0xDB, 0xDD, 0xDF]);
    }

    /// The allow-list of each family, written out from protocols.md §16.1 independently of
    /// the codecs.
    fn allowed(family: &str, req: &[u8]) -> Result<(), String> {
        match family {
            "jbd" => {
                let reads = ["dda50300fffd77", "dda50400fffc77", "dda50500fffb77"];
                reads
                    .contains(&hex::encode(req).as_str())
                    .then_some(())
                    .ok_or("not one of the three JBD reads".into())
            }
            "daly" => {
                let ok = req.len() == 13
                    && req[0] == 0xA5
                    && (0x90..=0x98).contains(&req[2])
                    && req[3] == 8
                    && req[4..12].iter().all(|&b| b == 0)
                    && req[12] == daly::checksum(&req[..12]);
                ok.then_some(()).ok_or("not a Daly 0x90-0x98 read".into())
            }
            "eg4-7e" => {
                let ok = req.len() == 6
                    && req[0] == 0x7E
                    && [0x01, 0x33, 0x42].contains(&req[2])
                    && req[3] == 0
                    && req[5] == 0x0D;
                ok.then_some(())
                    .ok_or("not a 7E status/firmware/hardware read".into())
            }
            "lp4" => {
                let ok = req.len() == 8
                    && req[1] == 0x03
                    && req[0] != 0
                    && crate::proto::modbus::crc_ok(req);
                ok.then_some(()).ok_or("not a Modbus FC03 read".into())
            }
            "pylontech" => {
                // ~ VER 20, CID1 46, CID2 one of the reads (never 0x94/0x95), checksums valid.
                let f = pylon_ascii::parse(req).map_err(|e| e.to_string())?;
                let ok = f.ver == 0x20
                    && f.cid1 == 0x46
                    && [0x4F, 0x42, 0x44, 0x47, 0x51, 0x92, 0x93, 0x96].contains(&f.cid2)
                    && f.info.len() <= 1;
                ok.then_some(())
                    .ok_or("not a Pylontech 0x42/0x44/0x47/0x4F/0x51/0x92/0x93/0x96 read".into())
            }
            "jk" => {
                let read_all = "4e57001300000000060300000000000068000001 29".replace(' ', "");
                (hex::encode(req) == read_all)
                    .then_some(())
                    .ok_or("not the JK-B read-all request".into())
            }
            "jk-pb" => {
                // The three byte-exact triggers (FC16 of value 0 to 0x161C/0x161E/0x1620) or an
                // FC03 read of at most 40 registers inside 0x1200-0x12FF or 0x1400-0x14FF; to
                // slaves 1-15 only. Never 0x1600-0x1612's other registers, never 0x1000.
                let crc = crate::proto::modbus::crc_ok(req);
                let trigger = req.len() == 11
                    && req[1..3] == [0x10, 0x16]
                    && [0x1C, 0x1E, 0x20].contains(&req[3])
                    && req[4..9] == [0, 1, 2, 0, 0];
                let read = req.len() == 8
                    && req[1] == 0x03
                    && [0x12, 0x14].contains(&req[2])
                    && req[4] == 0
                    && (1..=40).contains(&req[5])
                    && usize::from(req[3]) + 2 * usize::from(req[5]) <= 0x100;
                let ok = crc && (1..=15).contains(&req[0]) && (trigger || read);
                ok.then_some(())
                    .ok_or("not a JK-PB trigger or an FC03 read of 0x1200/0x1400".into())
            }
            "seplos" => {
                // ~ VER 20, CID1 46, CID2 0x42/0x44/0x47/0x51/0x4F only (§16.1).
                let f = pylon_ascii::parse(req).map_err(|e| e.to_string())?;
                let ok = f.ver == 0x20
                    && f.cid1 == 0x46
                    && [0x4F, 0x42, 0x44, 0x47, 0x51].contains(&f.cid2)
                    && f.info.len() <= 1;
                ok.then_some(())
                    .ok_or("not a Seplos v2 0x42/0x44/0x47/0x4F/0x51 read".into())
            }
            "pace" => {
                // ~ VER 25, CID1 46, CID2 0x42/0x44/0x47/0x4F/0xC1/0xC2, or one of the odd
                // threshold reads 0xD1-0xDF without INFO (never 0x99-0x9C nor a
                // set-configuration code, the even neighbours among them, §14.5).
                let f = pylon_ascii::parse(req).map_err(|e| e.to_string())?;
                let thresholds = [0xD1, 0xD3, 0xD5, 0xD7, 0xD9, 0xDB, 0xDD, 0xDF];
                let ok = f.ver == 0x25
                    && f.cid1 == 0x46
                    && (([0x4F, 0x42, 0x44, 0x47, 0xC1, 0xC2].contains(&f.cid2)
                        && f.info.len() <= 1)
                        || (thresholds.contains(&f.cid2) && f.info.is_empty()));
                ok.then_some(())
                    .ok_or("not a PACE 0x42/0x44/0x47/0x4F/0xC1/0xC2/0xD1-0xDF read".into())
            }
            "seplos3" => {
                // FC04 of the 0x1000/0x1100/0x1700 blocks, of the system blocks 0x2000 (0x1A
                // registers) and 0x2100 (0x16) at slave 0 only, or FC01 of the 0x1200 coils
                // (and of the system's 0x2200 at slave 0), CRC valid; never FC05/06/0F/10
                // (§14.6).
                let blocks = [
                    (4u8, 0x1000u16, 0x11u16),
                    (4, 0x1100, 0x1A),
                    (4, 0x1700, 0x0A),
                    (4, 0x1700, 0x33),
                    (1, 0x1200, 0x90),
                    (4, 0x2000, 0x1A),
                    (4, 0x2100, 0x16),
                    (1, 0x2200, 0x50),
                ];
                let ok = req.len() == 8
                    && crate::proto::modbus::crc_ok(req)
                    && (req[2] < 0x20 || req[0] == 0)
                    && blocks.iter().any(|&(fc, start, count)| {
                        req[1] == fc
                            && u16::from_be_bytes([req[2], req[3]]) == start
                            && u16::from_be_bytes([req[4], req[5]]) == count
                    });
                ok.then_some(())
                    .ok_or("not a Seplos v3 FC04/FC01 read of a known block".into())
            }
            other => Err(format!("no allow-list written for {other}")),
        }
    }

    #[test]
    fn the_table_is_consistent() {
        for (i, f) in FAMILIES.iter().enumerate() {
            assert!(crate::record::is_device_id(f.name), "{}", f.name);
            assert!(
                FAMILIES[..i].iter().all(|g| g.name != f.name),
                "{} twice",
                f.name
            );
            assert!(f.detect_bauds.contains(&f.default_baud), "{}", f.name);
            assert!(
                f.check_addresses(&[f.default_address()]).is_ok(),
                "{}",
                f.name
            );
            for &a in f.probe_addresses() {
                assert!(f.check_addresses(&[a]).is_ok(), "{} probe {a}", f.name);
            }
            let codec = (f.codec)(&Options::default());
            let probe = codec.probe(f.default_address());
            assert!(probe.required);
        }
        // LP4's slow probes go last but one; the read at Modbus address 0 (Seplos v3) last.
        let n = FAMILIES.len();
        assert_eq!(FAMILIES[n - 2].name, "lp4");
        assert_eq!(FAMILIES[n - 1].name, "seplos3");
        assert!(find("jbd").is_some() && find("nope").is_none());
    }

    /// JK-PB's trigger frames are FC16 writes: the codec builds them only with --jk-trigger.
    #[test]
    fn jk_pb_triggers_only_when_allowed() {
        let f = find("jk-pb").unwrap();
        let codec = (f.codec)(&Options::default());
        for req in every_request(codec.as_ref(), 0..=15) {
            assert_eq!(req[1], 0x03, "{req:02x?}");
        }
        let codec = (f.codec)(&Options {
            jk_trigger: true,
            ..Options::default()
        });
        let reqs = every_request(codec.as_ref(), 1..=15);
        assert_eq!(reqs.iter().filter(|r| r[1] == 0x10).count(), 45);
    }

    #[test]
    fn recognizes_the_wrong_protocol_and_gateway_mode() {
        // A 7E status reply on a bus polled as LP4.
        let e7 = tianpower::encode_frame(tianpower::SOI, 1, 1, &[0, 1, 2]).unwrap();
        let hint = recognize(&e7, "lp4").unwrap();
        assert!(hint.contains("eg4-7e frames, not lp4"), "{hint}");
        assert!(recognize(&e7, "eg4-7e").is_none());
        // An LP4 (Modbus RTU) reply on a bus polled as 7E, after noise.
        let mut rtu = vec![0xFF, 0x00];
        rtu.extend(crate::proto::modbus::encode_read_reply(1, 3, &[1, 2, 3]));
        assert!(recognize(&rtu, "eg4-7e").unwrap().contains("lp4 frames"));
        // MBAP frames from a Modbus TCP gateway polled as tcp://.
        let mbap = [0, 1, 0, 0, 0, 5, 1, 0x83, 0x02, 0, 0];
        assert!(recognize(&mbap, "lp4").unwrap().contains("modbus-tcp://"));
        // A JK-PB record on a bus polled as JBD; a JK-B reply polled as Daly.
        let rec = jkpb::encode_record(jkpb::Kind::Live, 1, &[3; 64]);
        assert!(recognize(&rec, "jbd").unwrap().contains("jk-pb frames"));
        let jk_reply = jk::encode_reply(&[0x85, 50]).unwrap();
        assert!(recognize(&jk_reply, "daly").unwrap().contains("jk frames"));
        // Pylon-ASCII frames: VER 0x25 is PACE; VER 0x20 may be Pylontech or Seplos v2.
        let pace = pylon_ascii::reply(0x25, 1, 0, &[1, 2]);
        assert!(recognize(&pace, "seplos").unwrap().contains("pace frames"));
        assert!(recognize(&pace, "pace").is_none());
        let v20 = pylon_ascii::reply(0x20, 0, 0, &[1, 2]);
        assert!(recognize(&v20, "seplos").is_none());
        assert!(recognize(&v20, "pace")
            .unwrap()
            .contains("pylontech frames"));
        assert!(recognize(&rtu, "seplos3").is_none());
        // Noise says nothing.
        assert!(recognize(&[1, 2, 3, 4, 5, 6, 7, 8, 9], "lp4").is_none());
        assert!(recognize(&[], "lp4").is_none());
    }
}
