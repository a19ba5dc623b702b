//! Modbus RTU reads over a serial [`Link`]: send a request, collect the reply with the
//! framing rules of `proto::modbus`, keep exceptions apart from line failures.

use crate::io::serial::{Link, LinkError, Step};
use crate::proto::modbus::{reply_error, scan_reply, ReadRequest, ReplyError, ReplyScan};
use std::time::Duration;

/// A failed register read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("{0}")]
    Reply(ReplyError),
}

impl From<ReadError> for LinkError {
    fn from(e: ReadError) -> LinkError {
        match e {
            ReadError::Link(l) => l,
            ReadError::Reply(r) => LinkError::Reply(r.to_string()),
        }
    }
}

/// Reads `req.count` registers from `req.start`.
pub fn read_registers(
    link: &mut Link,
    req: &ReadRequest,
    timeout: Duration,
) -> Result<Vec<u16>, ReadError> {
    let frame = req.encode();
    let result = link.transact(&frame, timeout, |buf, last| match scan_reply(buf, req) {
        ReplyScan::Done { registers, stray } => {
            if stray > 0 {
                log::debug!("{stray} stray byte(s) around the reply");
            }
            Step::Done(Ok(Ok(registers)))
        }
        ReplyScan::Failed(e) => Step::Done(Ok(Err(e))),
        ReplyScan::Incomplete if last => Step::Done(Ok(Err(reply_error(buf, req)))),
        ReplyScan::Incomplete if buf.len() >= req.reply_len() => Step::Settle,
        ReplyScan::Incomplete => Step::More,
    })?;
    result.map_err(ReadError::Reply)
}
