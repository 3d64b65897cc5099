//! Outputs that appear only when complete: write to a temp file beside the target, rename on
//! success, remove on failure (or when dropped without `commit`).
//!
//! Every temp file in progress is also listed process-wide, so a signal (Ctrl-C, `kill`) can
//! remove them all before the process exits: [`remove_pending`]. The list is held under one
//! lock with the renames, so a file is either committed or removed, never half of each.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Temp files being written, and whether the process is shutting down.
struct Pending {
    paths: Vec<PathBuf>,
    closed: bool,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    paths: Vec::new(),
    closed: false,
});

fn pending() -> MutexGuard<'static, Pending> {
    // A panic while holding the lock leaves the list as valid as before: keep using it.
    PENDING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes every temp file still being written and refuses new ones from now on: what a
/// signal handler calls before the process exits, so an interrupted run leaves nothing behind.
/// Returns how many files were removed.
pub fn remove_pending() -> usize {
    let mut p = pending();
    p.closed = true;
    let mut n = 0;
    for path in p.paths.drain(..) {
        if fs::remove_file(&path).is_ok() {
            n += 1;
        }
    }
    n
}

/// Temp files currently being written (for tests and diagnostics).
pub fn pending_count() -> usize {
    pending().paths.len()
}

/// A file being written under a temporary name next to its final path.
pub struct AtomicFile {
    tmp: PathBuf,
    target: PathBuf,
    file: Option<File>,
    done: bool,
}

impl AtomicFile {
    /// Creates `.NAME.mist-PID-N.tmp` beside `target`. Fails if `target` exists and `!force`.
    pub fn create(target: &Path, force: bool) -> io::Result<AtomicFile> {
        if !force && target.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "output exists (use --force to overwrite)",
            ));
        }
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let mut n = 0u32;
        loop {
            let tmp = dir.join(format!(".{name}.mist-{}-{n}.tmp", std::process::id()));
            // Created and listed under the lock, so a signal between the two cannot miss it.
            let mut p = pending();
            if p.closed {
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "interrupted: no new output is started",
                ));
            }
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp)
            {
                Ok(file) => {
                    p.paths.push(tmp.clone());
                    return Ok(AtomicFile {
                        tmp,
                        target: target.to_path_buf(),
                        file: Some(file),
                        done: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// The file to write into.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("file is present until commit")
    }

    /// Takes the file out (to wrap it in a sink); give it back with [`put_back`](Self::put_back).
    pub fn take_file(&mut self) -> File {
        self.file.take().expect("file is present until commit")
    }

    /// Returns a file taken with [`take_file`](Self::take_file).
    pub fn put_back(&mut self, file: File) {
        self.file = Some(file);
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames onto the target. Like `cp` and ffmpeg it does not fsync: that would tie a
    /// batch conversion to the disk's write speed; the rename still guarantees no reader
    /// ever sees a half-written file under the target name.
    pub fn commit(mut self) -> io::Result<()> {
        self.file.take();
        let mut p = pending();
        if p.closed {
            // A signal already removed the temp file: nothing to publish.
            self.done = true;
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        fs::rename(&self.tmp, &self.target)?;
        p.paths.retain(|x| x != &self.tmp);
        self.done = true;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.done {
            self.file.take();
            let mut p = pending();
            let _ = fs::remove_file(&self.tmp);
            p.paths.retain(|x| x != &self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mist-atomic-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn dropped_without_commit_leaves_nothing() {
        let d = scratch("drop");
        let target = d.join("out.bin");
        {
            let mut a = AtomicFile::create(&target, false).unwrap();
            a.file().write_all(b"half").unwrap();
        }
        assert!(!target.exists());
        assert_eq!(fs::read_dir(&d).unwrap().count(), 0);
    }

    #[test]
    fn pending_files_are_listed_until_committed_or_dropped() {
        let d = scratch("pending");
        let a = AtomicFile::create(&d.join("a.bin"), false).unwrap();
        let tmp = a.tmp.clone();
        assert!(pending().paths.contains(&tmp));
        a.commit().unwrap();
        assert!(!pending().paths.contains(&tmp));
        let b = AtomicFile::create(&d.join("b.bin"), false).unwrap();
        let tmp = b.tmp.clone();
        drop(b);
        assert!(!pending().paths.contains(&tmp));
        // remove_pending itself is exercised by tests/signals.rs: it closes the process-wide
        // list, which would break the other tests of this binary.
    }

    #[test]
    fn commit_renames_and_refuses_to_overwrite_without_force() {
        let d = scratch("commit");
        let target = d.join("out.bin");
        let mut a = AtomicFile::create(&target, false).unwrap();
        a.file().write_all(b"whole").unwrap();
        a.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"whole");
        assert!(AtomicFile::create(&target, false).is_err());
        assert!(AtomicFile::create(&target, true).is_ok());
    }
}
