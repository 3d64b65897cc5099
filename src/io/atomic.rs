//! Outputs that appear only when complete: write to a temp file beside the target, rename on
//! success, remove on failure (or when dropped without `commit`).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

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
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp)
            {
                Ok(file) => {
                    return Ok(AtomicFile {
                        tmp,
                        target: target.to_path_buf(),
                        file: Some(file),
                        done: false,
                    })
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
        fs::rename(&self.tmp, &self.target)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.done {
            self.file.take();
            let _ = fs::remove_file(&self.tmp);
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
