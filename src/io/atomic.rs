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

/// A folder being written under a temporary name next to its final path: renamed onto the
/// target by [`commit`](Self::commit), removed with everything in it when dropped before.
pub struct AtomicDir {
    tmp: PathBuf,
    target: PathBuf,
    force: bool,
    done: bool,
}

impl AtomicDir {
    /// Creates `.NAME.mist-PID-N.tmp/` beside `target`. Fails if `target` exists (a file, or
    /// a folder with something in it) and `!force`.
    pub fn create(target: &Path, force: bool) -> io::Result<AtomicDir> {
        let occupied = match fs::symlink_metadata(target) {
            Ok(m) if m.is_dir() => fs::read_dir(target)?.next().is_some(),
            Ok(_) => true,
            Err(_) => false,
        };
        if occupied && !force {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "output exists (use --force to replace it)",
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
            match fs::create_dir(&tmp) {
                Ok(()) => {
                    return Ok(AtomicDir {
                        tmp,
                        target: target.to_path_buf(),
                        force,
                        done: false,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// The temporary folder being filled.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Writes `data` to `rel` (a `/`-separated relative path of plain names) inside the
    /// folder, creating sub-folders as needed.
    pub fn write(&self, rel: &str, data: &[u8]) -> io::Result<()> {
        let mut path = self.tmp.clone();
        for part in rel.split('/') {
            if part.is_empty() || part == "." || part == ".." || part.contains('\\') {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("'{rel}' is not a plain relative path"),
                ));
            }
            path.push(part);
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, data)
    }

    /// Renames onto the target (replacing what is there when created with `force`).
    pub fn commit(mut self) -> io::Result<()> {
        if self.force {
            match fs::symlink_metadata(&self.target) {
                Ok(m) if m.is_dir() => fs::remove_dir_all(&self.target)?,
                Ok(_) => fs::remove_file(&self.target)?,
                Err(_) => {}
            }
        }
        fs::rename(&self.tmp, &self.target)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for AtomicDir {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.tmp);
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

    #[test]
    fn a_folder_appears_whole_or_not_at_all() {
        let d = scratch("dir");
        let target = d.join("pkg");
        {
            let a = AtomicDir::create(&target, false).unwrap();
            a.write("1_2/0_2000.ts", b"seg").unwrap();
            assert!(a.write("../escape", b"x").is_err());
        }
        assert!(!target.exists(), "dropped before commit: nothing left");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 0);
        let a = AtomicDir::create(&target, false).unwrap();
        a.write("index.m3u8", b"#EXTM3U\n").unwrap();
        a.write("1_2/0_2000.ts", b"seg").unwrap();
        a.commit().unwrap();
        assert_eq!(fs::read(target.join("1_2/0_2000.ts")).unwrap(), b"seg");
        // Occupied: refused without force, replaced with it.
        assert!(AtomicDir::create(&target, false).is_err());
        let b = AtomicDir::create(&target, true).unwrap();
        b.write("index.m3u8", b"new").unwrap();
        b.commit().unwrap();
        assert!(!target.join("1_2").exists());
        assert_eq!(fs::read(target.join("index.m3u8")).unwrap(), b"new");
        // An empty folder made beforehand is fine without force.
        let empty = d.join("empty");
        fs::create_dir(&empty).unwrap();
        let c = AtomicDir::create(&empty, false).unwrap();
        c.write("x", b"1").unwrap();
        c.commit().unwrap();
        assert_eq!(fs::read(empty.join("x")).unwrap(), b"1");
    }
}
