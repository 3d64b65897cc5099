//! A running `mist serve` for integration tests: started on ports the system picks, its
//! addresses read from what it prints, killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::Duration;

/// A `mist serve` process.
pub struct MistServer {
    child: Child,
    /// Where it serves RTMP.
    pub rtmp: SocketAddr,
}

impl MistServer {
    /// Starts `mist serve ARGS --rtmp 127.0.0.1:0 --http 127.0.0.1:0 --api off` and waits
    /// (at most 20 s) for the RTMP address it prints.
    pub fn start(args: &[&str]) -> MistServer {
        let mut child = super::mist()
            .arg("serve")
            .args(args)
            .args([
                "--rtmp",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--api",
                "off",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mist serve");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(rest) = line.trim().strip_prefix("RTMP  rtmp://") {
                    let _ = tx.send(rest.split('/').next().unwrap_or("").to_string());
                }
            }
        });
        let hostport = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("mist serve printed no RTMP address");
        MistServer {
            child,
            rtmp: hostport.parse().expect("RTMP address"),
        }
    }

    /// `rtmp://ADDR/live/NAME`.
    pub fn url(&self, name: &str) -> String {
        format!("rtmp://{}/live/{name}", self.rtmp)
    }

    /// Resident memory of the server, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("server status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }
}

impl Drop for MistServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
