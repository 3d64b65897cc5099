//! The command line itself: help texts, not-built-yet messages, exit codes.

mod util;

use util::*;

#[test]
fn help_lists_every_subcommand_with_examples() {
    let out = mist_ok(&["--help"]);
    for sub in ["convert", "remux", "analyse", "serve", "completions"] {
        assert!(out.contains(sub), "--help lacks {sub}:\n{out}");
    }
    assert!(out.contains("Examples:"), "{out}");
    for sub in ["convert", "remux", "analyse", "serve", "completions"] {
        let h = mist_ok(&[sub, "--help"]);
        assert!(
            h.contains("Examples:"),
            "{sub} --help has no examples:\n{h}"
        );
    }
}

#[test]
fn what_is_not_built_says_so_in_one_line_and_exits_1() {
    let dir = TestDir::new("cli-folder");
    let (code, err) = mist_err(&[
        "remux",
        interop("vod_idx0.dtsc").to_str().unwrap(),
        dir.path().to_str().unwrap(),
        "--to",
        "dtsc",
    ]);
    // A folder takes a packaging, not a container: the message says which ones.
    assert_eq!(code, 2);
    assert!(err.contains("--to hls"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn missing_input_is_one_line_exit_1() {
    let (code, err) = mist_err(&["analyse", "/nonexistent/x.dtsc"]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/x.dtsc"), "{err}");
}

/// `mist -V` is the version everywhere; no subcommand reuses `-V` (analyse's validate has
/// only its long form), and `--detail` stops at 3.
#[test]
fn short_flags_and_detail_range() {
    let v = mist_ok(&["-V"]);
    assert!(v.starts_with("mist "), "{v}");
    let f = fixture("faststart.mp4");
    let f = f.to_str().unwrap();
    let (code, err) = mist_err(&["analyse", "-V", f]);
    assert_eq!(code, 2);
    assert!(err.contains("unexpected argument '-V'"), "{err}");
    let (code, err) = mist_err(&["analyse", f, "--detail", "4"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: invalid value '4' for '--detail <DETAIL>': 4 is not in 0..=3"),
        "{err}"
    );
    // -d is --detail.
    let short = mist_ok(&["analyse", f, "-d", "1"]);
    let long = mist_ok(&["analyse", f, "--detail", "1"]);
    assert_eq!(short, long);
}

/// Runs `mist ARGS` in a fresh folder and expects a usage error with exactly `want` on
/// stderr and nothing written.
fn refused(dir: &TestDir, args: &[&str], want: &str) {
    let out = run(mist().current_dir(dir.path()).args(args), false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err, format!("mist: {want}\n"), "{args:?}");
    assert!(dir.files().is_empty(), "{args:?} left {:?}", dir.files());
}

/// Options that would do nothing are refused with a reason, before any output exists.
#[test]
fn options_that_would_do_nothing_are_usage_errors() {
    let dir = TestDir::new("cli-noop");
    let ts = fixture("h264_aac.ts");
    let ts = ts.to_str().unwrap();
    let mp4 = fixture("faststart.mp4");
    let mp4 = mp4.to_str().unwrap();
    let flv = fixture("h264_aac.flv");
    let flv = flv.to_str().unwrap();
    refused(
        &dir,
        &["convert", ts, "o.ts", "--sidx"],
        "--sidx only applies to fragmented MP4 output; o.ts is ts",
    );
    refused(
        &dir,
        &["convert", ts, "o.mp4", "--fragment-duration", "2000"],
        "--fragment-duration only applies to fragmented MP4 output; o.mp4 is progressive mp4 \
         (add --to fmp4)",
    );
    refused(
        &dir,
        &["analyse", flv, "--pid", "256"],
        &format!("--pid only applies to MPEG-TS input; {flv} is flv"),
    );
    refused(
        &dir,
        &["convert", flv, "o.ts", "--fps", "25"],
        &format!(
            "--fps only applies to raw H.264 input; {flv} is flv (its packets carry their own times)"
        ),
    );
    refused(
        &dir,
        &["convert", flv, "o.ts", "--program", "1"],
        &format!("--program only applies to MPEG-TS input; {flv} is flv"),
    );
    // faststart.mp4 lasts 2 s; its last packet (audio) starts at 2.064 s of the input's
    // clock, which begins at the video's first (negative, B-frame) decode time.
    refused(
        &dir,
        &["convert", mp4, "o.mp4", "--start", "99"],
        &format!("--start 99.000s is past the end of {mp4} (its last packet starts at 2.064s)"),
    );
    refused(
        &dir,
        &["convert", mp4, "o.mp4", "--end", "0"],
        "--end 0 leaves nothing to write (it counts from the start of the input)",
    );
}

/// An unknown selector is named (with a suggestion); so is an id the file does not have.
#[test]
fn unknown_track_selectors_are_named() {
    let dir = TestDir::new("cli-tracks");
    let f = fixture("h264_aac.flv");
    let f = f.to_str().unwrap();
    refused(
        &dir,
        &["convert", f, "o.mp4", "--tracks", "vidoe"],
        &format!(
            "--tracks: 'vidoe' (did you mean 'video'?) matches no track of {f} (it has 1 video \
             h264, 2 audio aac); selectors are track ids, video, audio, meta, subtitle, a codec \
             name or all"
        ),
    );
    refused(
        &dir,
        &["convert", f, "o.mp4", "--tracks", "1,7,opsu"],
        &format!(
            "--tracks: '7', 'opsu' (did you mean 'opus'?) match no track of {f} (it has 1 video \
             h264, 2 audio aac); selectors are track ids, video, audio, meta, subtitle, a codec \
             name or all"
        ),
    );
    let two = fixture("two_audio.ts");
    let two = two.to_str().unwrap();
    refused(
        &dir,
        &["convert", two, "o.flv", "--tracks", "audio"],
        "--tracks audio: keeps 2 audio tracks (257, 258) but flv holds one; choose one, e.g. \
         --tracks 257",
    );
}

/// Outputs with one track of a kind take the first of each kind, as ffmpeg does, and say in
/// one line what they left out (nothing with -q). Oracle: the track ids of the input (from
/// its ffprobe sidecar: PIDs 256, 257, 258) and what analyse finds in the output.
#[test]
fn single_track_outputs_take_the_first_of_each_kind_with_a_note() {
    let dir = TestDir::new("cli-default-tracks");
    let two = fixture("two_audio.ts");
    let two = two.to_str().unwrap();
    for (out, want_note, want_codecs) in [
        (
            "o.flv",
            "o.flv: left out audio track 258 (aac): flv holds one audio track (choose with \
             --tracks)",
            vec!["h264", "aac"],
        ),
        (
            "o.aac",
            "o.aac: left out video track 256 (h264): aac cannot carry h264; audio track 258 \
             (aac): aac holds one audio track (choose with --tracks)",
            vec!["aac"],
        ),
        (
            "o.h264",
            "o.h264: left out audio track 257 (aac): h264 cannot carry aac; audio track 258 \
             (aac): h264 cannot carry aac (choose with --tracks)",
            vec!["h264"],
        ),
    ] {
        let o = run(
            mist().current_dir(dir.path()).args(["convert", two, out]),
            true,
        );
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            format!("mist: note: {want_note}\n")
        );
        let j = analyse_json(&dir.join(out), &[]);
        let codecs: Vec<&str> = j["tracks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["codec"].as_str().unwrap())
            .collect();
        assert_eq!(codecs, want_codecs, "{out}");
        // The first audio track: English (257), not French.
        if out != "o.h264" {
            let packets = |p: &std::path::Path| {
                analyse_json(p, &[])["tracks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|t| t["type"] == "audio")
                    .unwrap()["bytes"]
                    .as_u64()
                    .unwrap()
            };
            let src = analyse_json(&fixture("two_audio.ts"), &[]);
            let eng = src["tracks"][1]["bytes"].as_u64().unwrap();
            assert_eq!(src["tracks"][1]["lang"], "eng");
            // ADTS keeps the 7-byte headers ffprobe counts in TS; FLV carries raw frames.
            let got = packets(&dir.join(out));
            let frames = src["tracks"][1]["packets"].as_u64().unwrap();
            assert!(
                got == eng || got == eng - 7 * frames,
                "{out}: {got} vs {eng}"
            );
        }
        let q = run(
            mist()
                .current_dir(dir.path())
                .args(["convert", "-q", "--force", two, out]),
            true,
        );
        assert!(
            q.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&q.stderr)
        );
    }
}

/// Errors that are not about a byte name no byte: a file without `moov` is not broken at
/// byte 0.
#[test]
fn errors_name_a_true_location() {
    let dir = TestDir::new("cli-where");
    // An ftyp box and nothing else.
    let mut ftyp = vec![0, 0, 0, 16];
    ftyp.extend_from_slice(b"ftypisom\0\0\0\x01");
    let p = dir.join("no_moov.mp4");
    std::fs::write(&p, &ftyp).unwrap();
    let (code, err) = mist_err(&["analyse", p.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(err, format!("mist: {}: mp4: no 'moov' box\n", p.display()));
    // A TS whose PAT packet became a null packet (PID 0x1fff): "no PAT" is about the whole
    // stream, so it has no offset, in JSON or in text.
    let mut ts = std::fs::read(fixture("h264_aac.ts")).unwrap();
    let mut pats = 0;
    for p in ts.chunks_mut(188) {
        if p[1] & 0x1f == 0 && p[2] == 0 {
            p[1] |= 0x1f;
            p[2] = 0xff;
            pats += 1;
        }
    }
    assert!(pats > 0);
    let p = dir.join("no_pat.ts");
    std::fs::write(&p, &ts).unwrap();
    let j = run(
        mist().args(["analyse", p.to_str().unwrap(), "--validate", "--json"]),
        false,
    );
    let doc: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    let f = doc["findings"].as_array().unwrap();
    let no_pat = f
        .iter()
        .find(|f| f["message"] == "no PAT in the stream")
        .expect("a no-PAT finding");
    assert!(no_pat.get("offset").is_none(), "{no_pat}");
    let text = run(
        mist().args(["analyse", p.to_str().unwrap(), "--validate"]),
        false,
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("\nerror: no PAT in the stream\n"), "{text}");
    // A byte problem keeps its byte: the FLV tag whose size field runs past the end.
    let mut flv = std::fs::read(fixture("h264_aac.flv")).unwrap();
    flv.truncate(2000);
    let p = dir.join("cut.flv");
    std::fs::write(&p, &flv).unwrap();
    let (code, err) = mist_err(&[
        "convert",
        p.to_str().unwrap(),
        dir.join("o.ts").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains(" at byte "), "{err}");
    assert!(!err.contains(" at byte 0"), "{err}");
}

/// The summary: plurals, video before audio, no keyframe interval for audio, the table
/// fitted to `COLUMNS`, ASCII borders unless the locale is UTF-8.
#[test]
fn summary_table_fits_the_width_and_the_locale() {
    let summary = |file: &str, columns: &str, lang: &str| {
        // A relative name: a path longer than the terminal cannot be wrapped.
        let o = run(
            mist()
                .current_dir(fixture(file).parent().unwrap())
                .env("COLUMNS", columns)
                .env_remove("LC_ALL")
                .env_remove("LC_CTYPE")
                .env("LANG", lang)
                .args(["analyse", file]),
            true,
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let mp3 = summary("cbr_id3.mp3", "200", "C.UTF-8");
    assert!(mp3.lines().next().unwrap().contains(", 1 track, "), "{mp3}");
    assert!(
        !mp3.contains("keys every"),
        "audio only: no keyframe column\n{mp3}"
    );
    let two = summary("two_audio.ts", "200", "C.UTF-8");
    assert!(two.contains("3 tracks"), "{two}");
    assert!(two.contains('│') && !two.contains('|'), "{two}");
    let rows: Vec<&str> = two
        .lines()
        .filter(|l| l.contains(" aac ") || l.contains(" h264 "))
        .collect();
    assert_eq!(rows.len(), 3, "{two}");
    assert!(rows[0].contains("video"), "video first: {two}");
    // The audio rows leave the keyframe cell empty: 8 cells, the 7th blank.
    for audio in &rows[1..] {
        let cells: Vec<&str> = audio.split('┆').map(str::trim).collect();
        assert_eq!(cells[6], "", "{audio}");
    }
    let ascii = summary("two_audio.ts", "200", "C");
    assert!(ascii.is_ascii(), "{ascii}");
    assert!(ascii.contains("+-") && ascii.contains('|'), "{ascii}");
    for width in [120usize, 100, 80, 60, 40] {
        let s = summary("two_audio.ts", &width.to_string(), "en_US.UTF-8");
        for l in s.lines() {
            assert!(
                l.chars().count() <= width,
                "COLUMNS={width}: {} chars\n{s}",
                l.chars().count()
            );
        }
        // Everything is still there, wrapped or not.
        for needle in ["256", "257", "258", "320x240", "language fra", "1.000 s"] {
            assert!(s.contains(needle), "COLUMNS={width} lost {needle}\n{s}");
        }
    }
}

/// Several files: one summary each; `--json` an array in the order given; a missing file
/// is reported and the others still analysed (exit 1).
#[test]
fn analyse_takes_several_files() {
    let a = fixture("h264_aac.flv");
    let b = fixture("cbr_id3.mp3");
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let text = mist_ok(&["analyse", a, b]);
    assert!(text.contains(&format!("{a}: flv")) && text.contains(&format!("{b}: mp3")));
    let j: serde_json::Value =
        serde_json::from_str(&mist_ok(&["analyse", "--json", a, b])).unwrap();
    let files: Vec<&str> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, vec![a, b]);
    let one: serde_json::Value = serde_json::from_str(&mist_ok(&["analyse", "--json", a])).unwrap();
    assert!(one.is_object(), "one file stays one object");
    let o = run(
        mist().args(["analyse", "--json", a, "/nonexistent/x.ts", b]),
        false,
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "mist: /nonexistent/x.ts: No such file or directory (os error 2)\n"
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j.as_array().unwrap().len(), 2);
}

/// Runs `sh -c SCRIPT` on a pseudo-terminal of 100 columns (util-linux `script`, in every
/// Debian install), returning what the terminal showed and the exit code.
fn on_terminal(dir: &TestDir, script: &str) -> (String, i32) {
    let o = std::process::Command::new("script")
        .current_dir(dir.path())
        .args([
            "-qefc",
            &format!("stty cols 100 rows 24; {script}"),
            "/dev/null",
        ])
        .env("RUST_BACKTRACE", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("`script` (util-linux) runs the pty tests");
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        o.status.code().unwrap_or(-1),
    )
}

/// The frames indicatif drew (separated by carriage returns), without escape sequences.
fn frames(screen: &str) -> Vec<String> {
    screen
        .split('\r')
        .map(|f| {
            f.replace("\x1b[2K", "")
                .replace('\n', "")
                .trim()
                .to_string()
        })
        .filter(|f| !f.is_empty())
        .collect()
}

/// Progress through a pseudo-terminal: a file shows MB done of its total, throughput and an
/// ETA that is `--:--` until enough is known; stdin shows MB and throughput with no total;
/// both end with one summary line; `-q` shows nothing.
#[test]
fn progress_on_a_terminal() {
    let dir = TestDir::new("cli-progress");
    let mist = env!("CARGO_BIN_EXE_mist");
    let src = interop("vod_idx0.dtsc");
    let src = src.to_str().unwrap();
    let (screen, code) = on_terminal(&dir, &format!("exec {mist} convert {src} o.flv"));
    assert_eq!(code, 0, "{screen}");
    let f = frames(&screen);
    let last = f.last().unwrap();
    assert!(
        last.starts_with("done: 768 packets, ")
            && last.contains(" MB written in ")
            && last.ends_with("x realtime)"),
        "{screen:?}"
    );
    let bars: Vec<&String> = f.iter().filter(|l| l.contains(" MB/s")).collect();
    assert!(bars.len() >= 2, "{screen:?}");
    for b in &bars[..bars.len() - 1] {
        assert!(b.contains(" / 1.1 MB  "), "the file's total: {b}");
        let eta = b.rsplit("ETA ").next().unwrap();
        assert!(
            eta == "--:--" || eta.starts_with("0:0"),
            "a 1 MB file needs seconds at most: {b}"
        );
    }
    assert_eq!(
        bars[0].rsplit("ETA ").next().unwrap(),
        "--:--",
        "first frame: {bars:?}"
    );

    // stdin, fed in 256 kB pieces: no total, no ETA.
    let feed = format!(
        "i=0; while [ $i -lt 5 ]; do dd if={src} bs=262144 skip=$i count=1 status=none; \
         sleep 0.1; i=$((i+1)); done | exec {mist} convert - o.ts"
    );
    let (screen, code) = on_terminal(&dir, &feed);
    assert_eq!(code, 0, "{screen}");
    let f = frames(&screen);
    assert!(
        f.last().unwrap().starts_with("done: 768 packets, "),
        "{screen:?}"
    );
    let bars: Vec<&String> = f
        .iter()
        .filter(|l| l.contains(" MB/s") && !l.starts_with("done"))
        .collect();
    assert!(!bars.is_empty(), "{screen:?}");
    for b in bars {
        assert!(!b.contains(" / "), "no total on stdin: {b}");
        assert!(!b.contains("ETA"), "no ETA on stdin: {b}");
    }

    let (screen, code) = on_terminal(&dir, &format!("exec {mist} convert -q --force {src} o.flv"));
    assert_eq!(code, 0);
    assert_eq!(screen, "", "-q shows nothing");
}

/// An output that needs the whole input's index first (FLV's keyframes, faststart MP4) made
/// from a pipe: the input is spooled to a scratch file beside the output, so it works as from
/// a file, and the scratch file does not stay behind.
#[test]
fn index_needing_outputs_from_a_pipe_are_spooled() {
    use std::io::Write;
    let dir = TestDir::new("cli-pipe");
    let data = std::fs::read(fixture("h264_aac.ts")).unwrap();
    for out in ["o.flv", "o.mp4"] {
        let mut child = mist()
            .current_dir(dir.path())
            .args(["convert", "-", out])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&data).unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let piped = analyse_json(&dir.join(out), &["--detail", "1"]);
        let direct_out = dir.join(&format!("direct-{out}"));
        mist_ok(&[
            "convert",
            fixture("h264_aac.ts").to_str().unwrap(),
            direct_out.to_str().unwrap(),
        ]);
        let direct = analyse_json(&direct_out, &["--detail", "1"]);
        // Times, sizes and keys; offsets may differ (FLV from a pipe reserves default
        // keyframe slots in onMetaData).
        let packets = |j: &serde_json::Value| -> Vec<serde_json::Value> {
            let mut ps = j["packets"].as_array().unwrap().clone();
            for p in &mut ps {
                p.as_object_mut().unwrap().remove("offset");
            }
            ps
        };
        let (p, d) = (packets(&piped), packets(&direct));
        assert_eq!(p.len(), d.len(), "{out}: packet counts");
        assert!(p == d, "{out}: packets differ");
    }
    let mut left = dir.files();
    left.sort();
    assert_eq!(left, ["direct-o.flv", "direct-o.mp4", "o.flv", "o.mp4"]);
}
