//! The HTTP access log (`mist serve --access-log FILE`): one line per answered request, in
//! the Common Log Format nginx and Apache write (`HOST - - [TIME] "METHOD PATH HTTP/1.1"
//! STATUS BYTES`), so the usual tools read it. `BYTES` is the body length when the answer
//! declares one, else `-` (live streams). Lines are written whole, in order, under a lock.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;

use crate::serve::push::target::Civil;

/// An open access log.
#[derive(Debug)]
pub struct AccessLog {
    file: Mutex<File>,
}

impl AccessLog {
    /// Opens `path` for appending (created when missing).
    pub fn open(path: &Path) -> io::Result<AccessLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AccessLog {
            file: Mutex::new(file),
        })
    }

    /// Writes one line. A failed write is reported once per failure and otherwise ignored:
    /// a full disk must not stop serving.
    pub fn log(&self, peer: SocketAddr, method: &str, path: &str, status: u16, bytes: Option<u64>) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let line = line(peer, method, path, status, bytes, now);
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = f.write_all(line.as_bytes()) {
            tracing::warn!("access log: {e}");
        }
    }
}

/// One Common Log Format line (with its newline).
fn line(
    peer: SocketAddr,
    method: &str,
    path: &str,
    status: u16,
    bytes: Option<u64>,
    unix: i64,
) -> String {
    let at = Civil::from_unix(unix);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS[(at.month as usize).clamp(1, 12) - 1];
    // A request line with a quote or a control byte in it is logged escaped, never raw.
    let clean: String = path
        .chars()
        .map(|c| if c == '"' || c.is_control() { '?' } else { c })
        .collect();
    let bytes = bytes.map_or("-".to_string(), |b| b.to_string());
    format!(
        "{} - - [{:02}/{month}/{}:{:02}:{:02}:{:02} +0000] \"{method} {clean} HTTP/1.1\" {status} {bytes}\n",
        peer.ip(),
        at.day, at.year, at.hour, at.minute, at.second,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_common_log_format() {
        // 2009-02-13 23:31:30 UTC is unix time 1234567890.
        let at = 1_234_567_890;
        let peer: SocketAddr = "10.0.0.7:5555".parse().unwrap();
        assert_eq!(
            line(peer, "GET", "/hls/a/1.ts?x=\"y\"", 200, Some(1234), at),
            "10.0.0.7 - - [13/Feb/2009:23:31:30 +0000] \"GET /hls/a/1.ts?x=?y? HTTP/1.1\" 200 1234\n"
        );
        assert!(line(peer, "HEAD", "/a.flv", 404, None, at).ends_with("\" 404 -\n"));
    }
}
