//! Files the tools write, safe in a shared directory (/tmp, a textfile-collector directory):
//! never through a symbolic link someone planted there.
//!
//! - [`write_atomically`]: a temporary file beside the target with a unique name, created
//!   exclusively (`O_CREAT|O_EXCL|O_NOFOLLOW`), written, synced and renamed over the target
//!   (a rename replaces a symlink at the target instead of following it); on any failure the
//!   temporary file is removed, so a full disk leaves no empty one behind.
//! - [`open_append`]: an append-only file (`--capture`, `--save`), created if missing, refused
//!   if it is a symlink.
//! - [`open_lock`]: a lock file, the same.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A clearer error than ELOOP's "Too many levels of symbolic links".
fn no_symlink(path: &Path, e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a symbolic link; refusing to write through it",
                path.display()
            ),
        )
    } else {
        e
    }
}

/// Opens `path` for appending, creating it if missing; a symlink there is refused.
pub fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| no_symlink(path, e))
}

/// Opens (creating) the lock file `path` for writing without truncating it; a symlink there
/// is refused.
pub fn open_lock(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| no_symlink(path, e))
}

/// A name for a temporary file beside `path`, unique in this process and across processes:
/// `.<name>.<pid>-<n>.tmp`.
fn temp_name(path: &Path) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let n = N.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}-{n}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` atomically (see the module documentation). With `sync_dir` the
/// directory is synced after the rename, so the new file survives a power cut.
pub fn write_atomically(path: &Path, bytes: &[u8], sync_dir: bool) -> io::Result<()> {
    let (mut f, tmp) = create_temp(path)?;
    let r = (|| {
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if sync_dir {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A new temporary file beside `path`, created exclusively and never through a symlink.
fn create_temp(path: &Path) -> io::Result<(File, PathBuf)> {
    let mut last = None;
    for _ in 0..16 {
        let tmp = temp_name(path);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(f) => return Ok((f, tmp)),
            // Someone else's file (or link) under our name: take another name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no temporary file name left")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bmstap-safefile-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn atomic_writes_replace_a_symlink_and_never_write_through_one() {
        let d = dir("atomic");
        let victim = d.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let target = d.join("state.json");
        // Links planted where a fixed temporary name would be, and at the target itself.
        symlink(&victim, d.join("state.json.tmp")).unwrap();
        for n in 0..4 {
            symlink(
                &victim,
                d.join(format!(".state.json.{}-{n}.tmp", std::process::id())),
            )
            .unwrap();
        }
        symlink(&victim, &target).unwrap();
        write_atomically(&target, b"new", true).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert!(!std::fs::symlink_metadata(&target).unwrap().is_symlink());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let d = dir("fail");
        // Renaming a file over a directory fails after the temporary file was written.
        let target = d.join("target");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("x"), b"x").unwrap();
        assert!(write_atomically(&target, b"data", false).is_err());
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().collect();
        assert_eq!(left.len(), 1, "only the directory: {left:?}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn append_and_lock_refuse_symlinks() {
        let d = dir("append");
        let victim = d.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        symlink(&victim, d.join("cap")).unwrap();
        symlink(&victim, d.join("lock")).unwrap();
        let e = open_append(&d.join("cap")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let e = open_lock(&d.join("lock")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let mut f = open_append(&d.join("real")).unwrap();
        f.write_all(b"a").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        let _ = std::fs::remove_dir_all(&d);
    }
}
