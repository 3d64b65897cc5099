//! Scratch files: unlinked as soon as they are created, so they vanish when closed, even when
//! the process is killed (index tables of long outputs, an input spooled from a pipe).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// A new, already unlinked file in `dir`, open for reading and writing.
pub fn unlinked(dir: &Path) -> io::Result<File> {
    for n in 0..1000u32 {
        let p = dir.join(format!(".mist-scratch-{}-{n}", std::process::id()));
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&p)
        {
            Ok(f) => {
                // Unix keeps the open file alive after unlinking; elsewhere it may refuse,
                // and the file is then removed when dropped... best effort.
                let _ = std::fs::remove_file(&p);
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free scratch file name"))
}
