//! Test harness shared by the integration tests: the real `mist` binary, fixtures, a fresh
//! temporary folder per test, and asserts that print what differed.
#![allow(dead_code)]

pub mod browser;
pub mod ffprobe;
pub mod nginx;
pub mod rtmp;
pub mod serve;
pub mod statics;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A `Command` for the `mist` binary built by cargo for these tests.
pub fn mist() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mist"));
    c.env("RUST_BACKTRACE", "0").env_remove("MIST_LOG");
    c
}

/// Path of a committed fixture under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    assert!(p.exists(), "fixture {} is missing", p.display());
    p
}

/// Names of the committed media fixtures a packager takes whole, sorted: every container and
/// raw stream, without those the damage policy refuses by default (tests/damage.rs): the cut
/// recordings, and the ADTS file whose two-block frames cannot all be separated.
pub fn media_fixtures() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            let ext = n.rsplit('.').next().unwrap_or("");
            ["flv", "ts", "mp4", "mp3", "h264", "aac"].contains(&ext)
                && !n.starts_with("truncated.")
                && n != "crc_lc_blocks_damaged.aac"
        })
        .collect();
    v.sort();
    assert!(v.len() > 20, "{v:?}");
    v
}

/// Path of a file MistServer wrote, under `tests/fixtures/interop/`.
pub fn interop(name: &str) -> PathBuf {
    fixture(&format!("interop/{name}"))
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A fresh folder for one test, removed when dropped (kept if the test panics, to look at).
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// Creates `target/test-scratch/<name>-<pid>-<n>`.
    pub fn new(name: &str) -> TestDir {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create test dir");
        TestDir { path }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the folder.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Copies a file into the folder under `name`, returning its new path.
    pub fn copy_in(&self, from: &Path, name: &str) -> PathBuf {
        let to = self.join(name);
        std::fs::copy(from, &to).expect("copy into test dir");
        to
    }

    /// Names of the files in the folder, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.path)
            .expect("read test dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        v.sort();
        v
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Runs a command and returns its output, printing both streams if `expect_ok` is not met.
pub fn run(cmd: &mut Command, expect_ok: bool) -> Output {
    let out = cmd.output().expect("run mist");
    if out.status.success() != expect_ok {
        panic!(
            "{:?} exited with {:?} (expected {})\n--- stdout\n{}\n--- stderr\n{}",
            cmd,
            out.status.code(),
            if expect_ok { "success" } else { "failure" },
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Runs `mist ARGS`, expecting success; returns stdout as text.
pub fn mist_ok(args: &[&str]) -> String {
    let out = run(mist().args(args), true);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `mist ARGS`, expecting failure; returns (exit code, stderr).
pub fn mist_err(args: &[&str]) -> (i32, String) {
    let out = run(mist().args(args), false);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Parses `mist analyse --json` output of a file.
pub fn analyse_json(path: &Path, extra: &[&str]) -> serde_json::Value {
    let p = path.to_str().expect("utf-8 path");
    let mut args = vec!["analyse", p, "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&mist_ok(&args)).expect("analyse --json prints JSON")
}

/// Asserts two byte strings are equal, reporting the first differing offset instead of
/// dumping megabytes.
pub fn assert_same_bytes(what: &str, got: &[u8], want: &[u8]) {
    if got == want {
        return;
    }
    let first = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    panic!(
        "{what}: bytes differ at offset {first} (got {} bytes, want {}); got {:02x?}, want {:02x?}",
        got.len(),
        want.len(),
        &got[first..(first + 16).min(got.len())],
        &want[first..(first + 16).min(want.len())]
    );
}

/// Panics loudly unless `tool` (e.g. `ffmpeg`, `ffprobe`) runs: interop tests must fail, not
/// skip, on a machine without it (`.ci/run` installs it with `apt-get install -y ffmpeg`).
pub fn require(tool: &str) {
    let ok = Command::new(tool)
        .arg("-version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "\n\n*** interop test needs `{tool}` on PATH and it is missing or broken. \
         Install it (Debian: apt-get install -y ffmpeg) or run `cargo test` without \
         --features interop. ***\n"
    );
}

/// A live `--json` output: one `{"packet": …}` line per packet as it came, then the report
/// on one line; returned as the report with the packets put back in.
pub fn json_lines(out: &str) -> serde_json::Value {
    let mut packets = Vec::new();
    let mut report = None;
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        assert!(report.is_none(), "the report is the last line");
        match v.get("packet") {
            Some(p) => packets.push(p.clone()),
            None => report = Some(v),
        }
    }
    let mut report = report.expect("a report line");
    assert!(report.get("packets").is_none(), "packets are not repeated");
    report["packets"] = serde_json::Value::Array(packets);
    report
}
