//! What a request/reply BMS family's codec gives the poll engine, without any I/O: the
//! requests of a read (built only from the family's allow-list of read commands), a judge of
//! the bytes received for each, and the decoders. `bms-poll` drives every family through this
//! trait; the family table (`crate::family`) names each codec with its defaults.

use crate::record::{Fields, Info};

/// One request of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The bytes sent, exactly.
    pub bytes: Vec<u8>,
    /// What it asks for (the family's command, register or data id), for the codec's judge.
    pub what: u8,
    /// A read without this answer fails; an optional answer only leaves its fields out.
    pub required: bool,
}

impl Request {
    pub fn required(bytes: Vec<u8>, what: u8) -> Request {
        Request {
            bytes,
            what,
            required: true,
        }
    }

    pub fn optional(bytes: Vec<u8>, what: u8) -> Request {
        Request {
            bytes,
            what,
            required: false,
        }
    }
}

/// The codec's judgement of the bytes received so far for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judge {
    /// Keep reading until the deadline.
    More,
    /// Complete-looking: finish unless more arrives soon (a multi-frame answer that may go on,
    /// or a frame that failed its check and may be followed by the real one).
    Settle,
    /// Finished: the answer (what the decoder takes) or why there is none.
    Done(Result<Vec<u8>, String>),
}

/// A decoded status read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    pub fields: Fields,
    pub raw: serde_json::Map<String, serde_json::Value>,
}

/// One read of a cycle: requests sent to the device at `address` whose answers give a
/// reading (or a reason there is none) for each device of `devices`. Most reads are one
/// pack's [`Codec::status`] (`group` false, `devices` that pack alone); a group read's
/// requests come from [`Codec::group_status`] and may answer for several devices (a
/// Pylontech master's `INFO FF`, a Seplos v3 bank's system blocks at slave 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub address: u8,
    pub devices: Vec<u8>,
    pub group: bool,
}

impl Read {
    /// One pack's status read.
    pub fn single(address: u8) -> Read {
        Read {
            address,
            devices: vec![address],
            group: false,
        }
    }
}

/// A family's codec for one port (it may keep per-port settings, never I/O).
pub trait Codec: Send {
    /// Requests read once per connection for the pack's `info`; may be empty.
    fn identity(&self, address: u8) -> Vec<Request>;

    /// The requests of one status read, in order.
    fn status(&self, address: u8) -> Vec<Request>;

    /// Judges `buf`, everything received for `req` so far; `last` on the final call at the
    /// deadline, when the answer must be `Done`. `prior` holds the answers to the earlier
    /// requests of the same read (a multi-frame answer's length may depend on them).
    fn judge(
        &self,
        address: u8,
        req: &Request,
        prior: &[Option<Vec<u8>>],
        buf: &[u8],
        last: bool,
    ) -> Judge;

    /// Decodes a status read: one answer per request of [`Codec::status`], None where an
    /// optional one failed.
    fn decode(&self, address: u8, answers: &[Option<Vec<u8>>]) -> Result<Decoded, String>;

    /// Decodes the identity answers (one per request of [`Codec::identity`]).
    fn decode_identity(&self, address: u8, answers: &[Option<Vec<u8>>]) -> Option<Info>;

    /// The detection probe for a pack at `address`: one read-only request whose answer alone
    /// proves the family (checked by [`Codec::judge`] and then [`Codec::check_probe`]).
    fn probe(&self, address: u8) -> Request;

    /// Checks a probe's answer for plausible values; Ok with what it tells of the device.
    fn check_probe(&self, address: u8, answer: &[u8]) -> Result<Info, String>;

    /// Whether `error` (from [`Codec::judge`]) is the device saying it does not know the
    /// command (Pylon-ASCII RTN 04): the engine then stops sending that optional request to
    /// that device until the port is reopened.
    fn unsupported(&self, _error: &str) -> bool {
        false
    }

    /// The reads of one cycle over the packs at `addresses` (the user's, in order): one
    /// [`Codec::status`] read per pack unless the family can do better. A device of a group
    /// read that is not among `addresses` (a bank's system reading) becomes a device of its
    /// own.
    fn reads(&self, addresses: &[u8]) -> Vec<Read> {
        addresses.iter().map(|&a| Read::single(a)).collect()
    }

    /// The requests of a group read (one of [`Codec::reads`] with `group` set).
    fn group_status(&self, _read: &Read) -> Vec<Request> {
        Vec::new()
    }

    /// After detection found a device at `address`: a read-only request asking it which
    /// devices answer behind it (a Pylontech master: 0x42 `INFO FF`), or None.
    fn members_probe(&self, _address: u8) -> Option<Request> {
        None
    }

    /// The addresses of the devices an answer to [`Codec::members_probe`] lists (the asked
    /// device's own among them).
    fn members(&self, _address: u8, _answer: &[u8]) -> Result<Vec<u8>, String> {
        Ok(Vec::new())
    }

    /// Decodes a group read's answers (one per request of [`Codec::group_status`], None where
    /// an optional one failed): per device of `read.devices`, its reading or why there is
    /// none. A device left out of the result is reported as not answering.
    fn decode_group(
        &self,
        _read: &Read,
        _answers: &[Option<Vec<u8>>],
    ) -> Vec<(u8, Result<Decoded, String>)> {
        Vec::new()
    }

    /// Fields from the identity answers (one per request of [`Codec::identity`]): configured
    /// settings such as protection thresholds, read once per connection with the identity and
    /// added to every reading of the device. None by default.
    fn identity_fields(&self, _address: u8, _answers: &[Option<Vec<u8>>]) -> Fields {
        Fields::new()
    }
}

/// Every distinct request a codec can send to the addresses given: identity, status, probe,
/// members-probe and group requests (the group reads of every address list a user may give: each address
/// alone, the whole range, and every run of consecutive addresses from its first). The
/// read-only tests check each against the family's allow-list.
pub fn every_request(codec: &dyn Codec, addresses: impl IntoIterator<Item = u8>) -> Vec<Vec<u8>> {
    let addresses: Vec<u8> = addresses.into_iter().collect();
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut lists: Vec<Vec<u8>> = addresses.iter().map(|&a| vec![a]).collect();
    for start in 0..addresses.len() {
        for end in start + 2..=addresses.len() {
            lists.push(addresses[start..end].to_vec());
        }
    }
    for list in &lists {
        for read in codec.reads(list).iter().filter(|r| r.group) {
            for r in codec.group_status(read) {
                if !r.bytes.is_empty() && !out.contains(&r.bytes) {
                    out.push(r.bytes);
                }
            }
        }
    }
    for a in addresses {
        for r in codec
            .identity(a)
            .into_iter()
            .chain(codec.status(a))
            .chain(std::iter::once(codec.probe(a)))
            .chain(codec.members_probe(a))
        {
            // An empty request (a probe of an address the family cannot ask) sends nothing.
            if !r.bytes.is_empty() && !out.contains(&r.bytes) {
                out.push(r.bytes);
            }
        }
    }
    out
}
