//! Interrupted runs: SIGINT and SIGTERM mid-conversion remove the temporary output and exit
//! with 128 + the signal number, as a shell reports it.
//!
//! Oracle: the folder's contents and the exit code. The input is a named pipe that the test
//! keeps open after writing a whole fixture into it, so mist has written part of its output
//! and is blocked waiting for more: really mid-run when the signal arrives.
#![cfg(unix)]

mod util;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::{fixture, mist, TestDir};

fn interrupt(signal: &str, want: i32, output: &str) {
    let dir = TestDir::new(&format!("signal-{signal}"));
    let fifo = dir.join("in.ts");
    let st = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(st.success(), "mkfifo failed");
    let out = dir.join(output);
    let mut child = mist()
        .args([
            "convert",
            fifo.to_str().unwrap(),
            out.to_str().unwrap(),
            "-q",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mist");
    // Opening the write end blocks until mist opens the read end.
    let mut w = std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("open fifo");
    w.write_all(&std::fs::read(fixture("h264_aac.ts")).unwrap())
        .expect("feed fifo");
    w.flush().unwrap();
    // Wait (bounded) for the temporary output to appear and hold data.
    let t0 = Instant::now();
    let tmp = loop {
        let found = dir
            .files()
            .into_iter()
            .find(|f| f.ends_with(".tmp") && f.starts_with(&format!(".{output}.mist-")));
        if let Some(f) = found {
            // Give it time to write what it has and block on the pipe again.
            std::thread::sleep(Duration::from_millis(300));
            break f;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no temporary output appeared: {:?}",
            dir.files()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(child.try_wait().unwrap().is_none(), "mist ended early");
    let st = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    // Bounded wait for the exit.
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "mist did not exit after SIG{signal}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(w);
    assert_eq!(status.code(), Some(want), "SIG{signal}");
    let left = dir.files();
    assert!(!left.contains(&tmp), "{tmp} left behind: {left:?}");
    assert_eq!(left, vec!["in.ts".to_string()], "SIG{signal}");
}

#[test]
fn sigint_mid_run_removes_the_temporary_output_and_exits_130() {
    interrupt("INT", 130, "out.ts");
}

#[test]
fn sigterm_mid_run_removes_the_temporary_output_and_exits_143() {
    interrupt("TERM", 143, "out.flv");
}
