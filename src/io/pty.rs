//! Pseudo-terminals for the simulator: the master side is the "pack", the slave path is
//! what a poller opens as if it were /dev/ttyUSB0. The slave is kept open here too, so the
//! master never sees a hang-up (EIO) while pollers come and go.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;

/// An open pseudo-terminal pair.
pub struct Pty {
    /// The simulator's end.
    pub master: File,
    /// Held open so the line stays up between pollers.
    _slave: File,
    /// The path pollers open (`/dev/pts/N`).
    pub path: PathBuf,
}

impl Pty {
    /// Opens a pair with the slave in raw mode (no echo, no line discipline).
    pub fn open() -> io::Result<Pty> {
        let mut master: libc::c_int = -1;
        let mut slave: libc::c_int = -1;
        // SAFETY: openpty writes two descriptors into the provided ints; the name, termios
        // and winsize pointers may be null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just returned by openpty and are owned by nobody else.
        let (master, slave) = unsafe { (File::from_raw_fd(master), File::from_raw_fd(slave)) };
        set_raw(&slave)?;
        let mut buf = [0 as libc::c_char; 128];
        // SAFETY: buf is valid for buf.len() bytes; ttyname_r NUL-terminates on success.
        let rc = unsafe { libc::ttyname_r(slave.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // SAFETY: ttyname_r succeeded, so buf holds a NUL-terminated string.
        let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
        let path = PathBuf::from(name.to_string_lossy().into_owned());
        Ok(Pty {
            master,
            _slave: slave,
            path,
        })
    }
}

fn set_raw(f: &File) -> io::Result<()> {
    // SAFETY: termios is plain data; tcgetattr fills it from a valid descriptor.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(f.as_raw_fd(), &mut t) != 0 {
            return Err(io::Error::last_os_error());
        }
        libc::cfmakeraw(&mut t);
        if libc::tcsetattr(f.as_raw_fd(), libc::TCSANOW, &t) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
