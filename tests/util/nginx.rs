//! nginx with Debian's RTMP module as a real peer for interop tests: `live` with HLS into its
//! own folder, that folder served over HTTP, both on ports chosen at run time. Stopped when
//! dropped. Needs nginx and libnginx-mod-rtmp (`.ci/run` installs them); fails loudly when
//! either is missing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{require, TestDir};

/// Where Debian's libnginx-mod-rtmp puts the module.
pub const RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// A running nginx-rtmp: `rtmp://127.0.0.1:{rtmp}/live/NAME`, and its HLS at
/// `http://127.0.0.1:{http}/hls/NAME.m3u8`.
pub struct Nginx {
    child: Child,
    /// RTMP port.
    pub rtmp: u16,
    /// HTTP port (the HLS folder under `/hls/`).
    pub http: u16,
    _dir: TestDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Starts nginx-rtmp and waits until its RTMP port answers.
pub fn start() -> Nginx {
    require("nginx");
    assert!(
        Path::new(RTMP_MODULE).exists(),
        "\n\n*** this test needs libnginx-mod-rtmp ({RTMP_MODULE}); .ci/run installs it ***\n"
    );
    let dir = TestDir::new("nginx-rtmp");
    let (rtmp, http) = (free_port(), free_port());
    let p = dir.path().display().to_string();
    std::fs::create_dir_all(dir.join("hls")).expect("hls folder");
    let conf = format!(
        "load_module {RTMP_MODULE};\ndaemon off;\nmaster_process off;\nworker_processes 1;\n\
         error_log stderr warn;\npid {p}/nginx.pid;\nevents {{ worker_connections 256; }}\n\
         rtmp {{ server {{ listen 127.0.0.1:{rtmp}; chunk_size 4096;\n\
           application live {{ live on; record off; hls on; hls_path {p}/hls; hls_fragment 1s; hls_playlist_length 6s; }} }} }}\n\
         http {{ access_log off; client_body_temp_path {p}/t1; proxy_temp_path {p}/t2;\n\
           fastcgi_temp_path {p}/t3; uwsgi_temp_path {p}/t4; scgi_temp_path {p}/t5;\n\
           types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; }}\n\
           server {{ listen 127.0.0.1:{http}; location /hls/ {{ root {p}; add_header Cache-Control no-cache; }} }} }}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf");
    let child = Command::new("nginx")
        .args(["-p", &p, "-c", &format!("{p}/nginx.conf")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run nginx");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", rtmp)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Nginx {
        child,
        rtmp,
        http,
        _dir: dir,
    }
}
