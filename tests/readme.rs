//! The README as a newcomer reads it: its main command works with only committed files, the
//! install step comes before the first example that calls `mist`, it links nothing outside
//! the repository, and every line of its examples runs, as written, in a fresh folder.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;

use util::*;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The lines of the ```sh blocks between `## heading` and the next `## `.
fn sh_lines(text: &str, heading: &str) -> Vec<String> {
    let start = text
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("README has no '## {heading}'"));
    let section = &text[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut lines = Vec::new();
    let mut inside = false;
    for l in section.lines() {
        match (inside, l.trim()) {
            (false, "```sh") => inside = true,
            (true, "```") => inside = false,
            (true, line) if !line.is_empty() && !line.starts_with('#') => {
                lines.push(line.to_string())
            }
            _ => {}
        }
    }
    lines
}

/// What an example's comment promises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Promise {
    /// Exits with this code.
    Exit(i32),
    /// A server: "runs until Ctrl-C".
    Serves,
}

/// A command and what its comment promises: exit code 1 when it says "exits 1", a server
/// when it says "runs until Ctrl-C", else success.
fn split_comment(line: &str) -> (&str, Promise) {
    match line.split_once("  #") {
        Some((cmd, comment)) if comment.contains("exits 1") => (cmd.trim(), Promise::Exit(1)),
        Some((cmd, comment)) if comment.contains("runs until Ctrl-C") => {
            (cmd.trim(), Promise::Serves)
        }
        Some((cmd, _)) => (cmd.trim(), Promise::Exit(0)),
        None => (line.trim(), Promise::Exit(0)),
    }
}

/// Runs a server example as written plus listen addresses on ports the system picks (its
/// defaults are fixed ports, which tests never bind): it must say where it listens within
/// 20 s and still be running, and it must stop with exit 0 on SIGTERM, as on Ctrl-C.
fn check_server(dir: &TestDir, path: &str, cmd: &str) {
    use std::io::BufRead;
    let mut child = Command::new("sh")
        .args([
            "-c",
            &format!("exec {cmd} --http 127.0.0.1:0 --rtmp 127.0.0.1:0 --api 127.0.0.1:0"),
        ])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("HOME", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run sh");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(std::time::Duration::from_secs(20));
    let still_running = child.try_wait().unwrap().is_none();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert_eq!(
        first.as_deref(),
        Ok("mist serve: listening"),
        "`{cmd}` did not say where it listens"
    );
    assert!(still_running, "`{cmd}` stopped by itself");
    assert_eq!(status.code(), Some(0), "`{cmd}` after SIGTERM");
}

/// A fresh folder with `mist` on PATH (a link to the binary under test) and HOME inside it.
fn sandbox(name: &str) -> (TestDir, String) {
    let dir = TestDir::new(name);
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_mist"), bin.join("mist")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (dir, path)
}

fn sh(dir: &TestDir, path: &str, line: &str) -> std::process::Output {
    Command::new("sh")
        .args(["-c", line])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("HOME", dir.path())
        .env("RUST_BACKTRACE", "0")
        .env_remove("MIST_LOG")
        .output()
        .expect("run sh")
}

/// The stand-ins the examples name, each a committed fixture.
const INPUTS: &[(&str, &str)] = &[
    ("in.flv", "h264_mp3.flv"),
    ("in.mp4", "faststart.mp4"),
    ("in.ts", "h264_aac.ts"),
    ("in.h264", "h264_bframes.h264"),
    ("in.mp3", "cbr_id3.mp3"),
    ("multi.ts", "two_programs.ts"),
    ("in.dtsc", "interop/vod_idx0.dtsc"),
    ("in.dtsc.dtsh", "interop/vod_idx0.dtsc.dtsh"),
];

/// Every example line runs as written, in order, in one fresh folder holding copies of the
/// fixtures under the names the examples use; each exits as its comment says, and each
/// `convert`/`remux` leaves the output it names.
#[test]
fn every_readme_example_runs() {
    let lines = sh_lines(&readme(), "Examples");
    assert!(lines.len() >= 20, "examples found: {lines:?}");
    let (dir, path) = sandbox("readme-examples");
    for (name, from) in INPUTS {
        dir.copy_in(&fixture(from), name);
    }
    // A recording cut off two thirds in, as an interrupted one is.
    let flv = std::fs::read(fixture("h264_aac.flv")).unwrap();
    std::fs::write(dir.join("cut.flv"), &flv[..flv.len() * 2 / 3]).unwrap();
    for line in &lines {
        let (cmd, promise) = split_comment(line);
        let want = match promise {
            Promise::Serves => {
                check_server(&dir, &path, cmd);
                continue;
            }
            Promise::Exit(code) => code,
        };
        let out = sh(&dir, &path, cmd);
        assert_eq!(
            out.status.code(),
            Some(want),
            "README example `{cmd}`\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let words: Vec<&str> = cmd.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| *w == "convert" || *w == "remux") {
            let target = words[i + 2];
            if target.ends_with('/') {
                // The top playlist or manifest of HLS, DASH, HDS or Smooth Streaming.
                assert!(
                    ["index.m3u8", "index.mpd", "manifest.f4m", "Manifest"]
                        .iter()
                        .any(|top| dir.join(target).join(top).is_file()),
                    "`{cmd}` did not package into {target}"
                );
            } else if target != "-" {
                assert!(dir.join(target).is_file(), "`{cmd}` did not write {target}");
            }
        }
    }
    assert!(dir
        .join(".local/share/bash-completion/completions/mist")
        .is_file());
}

/// The commands of "The two commands" need nothing but the repository: the main one serves
/// the committed samples (copied by `git ls-files`, so an untracked file cannot make it pass)
/// with the built binary for `cargo run --release --`, prints a URL per stream, and what it
/// prints plays; the convert example converts a committed sample.
#[test]
fn the_main_commands_work_with_committed_files_only() {
    let lines = sh_lines(&readme(), "The two commands");
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[1].starts_with("cargo test"), "{lines:?}");
    let (dir, path) = sandbox("readme-main");
    let committed = |input: &str| -> Vec<String> {
        let out = Command::new("git")
            .args(["ls-files", "--", input])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("git");
        assert!(out.status.success());
        let files: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        assert!(!files.is_empty(), "{input} is not committed");
        for f in &files {
            let to = dir.join(f);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(f), &to).unwrap();
        }
        files
    };

    // The main command: a server that lists its streams.
    let (cmd, promise) = split_comment(&lines[0]);
    assert_eq!(promise, Promise::Serves, "{cmd}");
    let rest = cmd
        .strip_prefix("cargo run --release -- ")
        .expect("the main command runs mist through cargo");
    let words: Vec<&str> = rest.split_whitespace().collect();
    assert_eq!(words[0], "serve", "{cmd}");
    committed(words[1]);
    let serve = util::serve::Serve::start_in(Some(dir.path()), &words[1..]);
    let http = serve.http.expect("an HTTP listener");
    let urls: Vec<&str> = serve
        .banner
        .iter()
        .filter_map(|l| l.trim().strip_prefix(&format!("http://{http}/")))
        .filter(|u| u.ends_with(".flv"))
        .collect();
    assert!(urls.len() >= 10, "not a URL per stream: {:?}", serve.banner);
    let timeout = std::time::Duration::from_secs(20);
    let played: Vec<&&str> = urls.iter().filter(|u| u.starts_with("h264_aac")).collect();
    assert!(!played.is_empty(), "no h264_aac stream: {urls:?}");
    for u in played {
        let flv = util::serve::get(http, &format!("/{u}"), &[], 64 << 10, timeout);
        assert_eq!(flv.status, 200, "/{u}");
        assert!(flv.body.starts_with(b"FLV"), "/{u} is not FLV");
        // The other URLs the README names for the same stream.
        let name = u.strip_suffix(".flv").unwrap();
        for other in [
            format!("/{name}.html"),
            format!("/{name}.ts"),
            format!("/{name}.mp4"),
            format!("/hls/{name}/index.m3u8"),
            format!("/dynamic/{name}/manifest.f4m"),
            format!("/smooth/{name}.ism/Manifest"),
        ] {
            let r = util::serve::get(http, &other, &[], 1 << 20, timeout);
            assert_eq!(r.status, 200, "{other}");
        }
    }
    assert_eq!(
        serve.terminate(timeout).and_then(|s| s.code()),
        Some(0),
        "`{cmd}` after SIGTERM"
    );

    // The convert example.
    let (cmd, _) = split_comment(&lines[2]);
    let rest = cmd
        .strip_prefix("cargo run --release -- ")
        .expect("the convert example runs mist through cargo");
    let words: Vec<&str> = rest.split_whitespace().collect();
    assert_eq!(words[0], "convert", "{cmd}");
    committed(words[1]);
    let out = sh(&dir, &path, &format!("mist {rest}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let output = dir.join(words[2]);
    let j = analyse_json(&output, &[]);
    assert_eq!(j["tracks"].as_array().unwrap().len(), 2, "{j}");
}

/// `cargo install --path .` comes before the first line that calls `mist`, and the README
/// links nowhere outside the repository (no URLs, no `../`).
#[test]
fn install_first_and_no_outside_links() {
    let text = readme();
    let install = text
        .find("cargo install --path .")
        .expect("an install step");
    let first_use = text
        .lines()
        .scan(0, |at, l| {
            let here = *at;
            *at += l.len() + 1;
            Some((here, l))
        })
        .find(|(_, l)| l.trim_start().starts_with("mist "))
        .map(|(at, _)| at)
        .expect("examples calling mist");
    assert!(
        install < first_use,
        "install step after the first `mist` line"
    );
    // Links, not URLs: examples name http(s):// sources and addresses in code.
    for bad in [
        "](http://",
        "](https://",
        "<http://",
        "<https://",
        "](../",
        "../shared",
    ] {
        assert!(
            !text.contains(bad),
            "README links outside the repository: {bad}"
        );
    }
    // Every relative link points at a file of the repository.
    for part in text.split("](").skip(1) {
        let target = &part[..part.find(')').unwrap()];
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(target);
        assert!(p.exists(), "README links to {target}, which does not exist");
    }
}
