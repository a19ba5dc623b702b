//! Live SocketCAN input (`--interface can0`): classic frames with the kernel's receive time.
//! A missing interface is "unavailable" (exit 75); an interface that goes down while we
//! read ("network is down") is waited out, as eflexcan2mqtt does, keeping all state.

use socketcan::{CanFrame, CanSocket, EmbeddedFrame, Id, Socket};
use std::io;
use std::time::{Duration, SystemTime};

/// A received data frame.
pub struct Received {
    pub id: u32,
    pub extended: bool,
    pub data: [u8; 8],
    pub len: usize,
    pub time: SystemTime,
}

/// An open CAN interface.
pub struct CanInput {
    socket: CanSocket,
    pub iface: String,
}

impl CanInput {
    pub fn open(iface: &str) -> io::Result<CanInput> {
        let socket = CanSocket::open(iface)?;
        socket.set_read_timeout(Duration::from_secs(1))?;
        Ok(CanInput {
            socket,
            iface: iface.to_string(),
        })
    }

    /// The next data frame; `Ok(None)` on a read timeout (a quiet bus). Remote and error
    /// frames are skipped.
    pub fn next_frame(&mut self) -> io::Result<Option<Received>> {
        let (frame, time) = match self.socket.read_frame_with_timestamp() {
            Ok(f) => f,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let CanFrame::Data(frame) = frame else {
            return Ok(None);
        };
        let (id, extended) = match frame.id() {
            Id::Standard(s) => (u32::from(s.as_raw()), false),
            Id::Extended(x) => (x.as_raw(), true),
        };
        let mut data = [0u8; 8];
        let d = frame.data();
        data[..d.len()].copy_from_slice(d);
        Ok(Some(Received {
            id,
            extended,
            data,
            len: d.len(),
            time,
        }))
    }
}

/// Is this the error of an interface that exists but is down?
pub fn is_down(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENETDOWN)
}
