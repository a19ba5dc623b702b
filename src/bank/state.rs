//! The state file: every device's and every bank's energy counters across restarts.
//!
//! ```text
//! {"version":1,"devices":{"rack-1":{"charged_uj":1800000000000,"discharged_uj":0,
//!   "last":[1790000000000,500000]}},"banks":{"bank":{...}}}
//! ```
//!
//! Written atomically: a temporary file beside it with a unique name (`.FILE.<pid>-<n>.tmp`,
//! created exclusively, never through a symlink, removed if the write fails), fsync, rename
//! over `FILE`, fsync of the directory, so a crash leaves either the old or the new state,
//! never a torn one. `FILE.lock` is held (flock) for as long as the tool runs: a second
//! instance on the same file is refused at once; a symlink there is refused. A file that
//! cannot be parsed is renamed aside (`FILE.corrupt-<unix seconds>`) with a warning and the
//! counters start again at zero.
//!
//! What it keeps: the devices readings-bank keeps (at most 1024, none silent for 30 days in
//! the readings' time: forgotten devices leave the file at the next save), and no time ahead
//! of the machine's clock (a saved one is dropped on start, the counters stay).

use super::energy::Counters;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// What the file holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    #[serde(default)]
    pub devices: BTreeMap<String, Counters>,
    #[serde(default)]
    pub banks: BTreeMap<String, Counters>,
}

/// The state file, locked for this process.
pub struct StateFile {
    path: PathBuf,
    _lock: File,
}

/// Why the state file could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process holds the lock.
    #[error("{path}: in use by another readings-bank (lock {lock} is held)")]
    Locked { path: String, lock: String },
    /// Any other I/O failure (directory missing, no permission).
    #[error("{0:#}")]
    Io(anyhow::Error),
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl StateFile {
    /// Takes the lock and loads the state: empty if the file does not exist, and empty
    /// with a warning (the file renamed aside) if it cannot be parsed.
    pub fn open(path: &Path) -> Result<(StateFile, State), OpenError> {
        let lock_path = with_suffix(path, ".lock");
        let lock = crate::io::safefile::open_lock(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))
            .map_err(OpenError::Io)?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        let r = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(OpenError::Locked {
                    path: path.display().to_string(),
                    lock: lock_path.display().to_string(),
                });
            }
            return Err(OpenError::Io(
                anyhow::Error::new(e).context(format!("locking {}", lock_path.display())),
            ));
        }
        let file = StateFile {
            path: path.to_path_buf(),
            _lock: lock,
        };
        let state = match fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
                Ok(s) if s.version == 1 => s,
                Ok(s) => file.set_aside(format!("unknown version {}", s.version))?,
                Err(e) => file.set_aside(format!("cannot be parsed ({e})"))?,
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                log::info!("{}: no state yet; counters start at zero", path.display());
                State {
                    version: 1,
                    ..State::default()
                }
            }
            Err(e) => {
                return Err(OpenError::Io(
                    anyhow::Error::new(e).context(format!("reading {}", path.display())),
                ))
            }
        };
        Ok((file, state))
    }

    fn set_aside(&self, why: String) -> Result<State, OpenError> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let aside = with_suffix(&self.path, &format!(".corrupt-{secs}"));
        fs::rename(&self.path, &aside)
            .with_context(|| format!("renaming {} aside", self.path.display()))
            .map_err(OpenError::Io)?;
        log::warn!(
            "{}: {why}; kept as {}, counters start again at zero",
            self.path.display(),
            aside.display()
        );
        Ok(State {
            version: 1,
            ..State::default()
        })
    }

    /// Writes `state` atomically (a unique temporary file, never through a symlink; removed
    /// again if the write fails).
    pub fn save(&self, state: &State) -> anyhow::Result<()> {
        let mut bytes = serde_json::to_vec(state)?;
        bytes.push(b'\n');
        crate::io::safefile::write_atomically(&self.path, &bytes, true)
            .with_context(|| format!("saving {}", self.path.display()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bmstap-state-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn saves_loads_locks_and_sets_corrupt_files_aside() {
        let d = dir("unit");
        let p = d.join("bank.json");
        let (f, mut s) = StateFile::open(&p).unwrap();
        assert!(s.devices.is_empty());
        s.devices.insert(
            "a".into(),
            Counters {
                charged_uj: 5,
                discharged_uj: 7,
                last: Some((1, -2)),
            },
        );
        f.save(&s).unwrap();
        assert!(matches!(StateFile::open(&p), Err(OpenError::Locked { .. })));
        drop(f);
        let (f, again) = StateFile::open(&p).unwrap();
        assert_eq!(again, s);
        drop(f);
        fs::write(&p, b"{\"version\":1,\"devices\":{\"a\":{\"charged_uj\":-1").unwrap();
        let (_f, fresh) = StateFile::open(&p).unwrap();
        assert!(fresh.devices.is_empty());
        assert!(!p.exists());
        let aside: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1);
        let _ = fs::remove_dir_all(&d);
    }
}
