//! Never drop media in silence: an encoder restart (times jump back) in FLV, TS and spliced
//! DTSC, and a TS whose PMT changes half-way, convert whole into every output.
//!
//! Oracle: the input's own packet listing (`analyse` shows the file's times, equal to
//! ffprobe's: tests/ts.rs and tests/flv.rs check the sidecars). Every packet of every track is
//! written; decode times in the output only go up; after the jump, the distance between the
//! first video and the first audio presentation time is the source's (within the 1 ms that
//! FLV and DTSC round to); the jump is one warning line naming its byte offset. With the
//! `interop` feature ffprobe counts the output's packets per stream and checks their order.

mod util;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use util::{analyse_json, fixture, mist, TestDir};

/// Per track (in listing order): (dts, pts, offset) of every packet, times in ms.
fn rows(j: &Value) -> BTreeMap<usize, Vec<(f64, f64, u64)>> {
    let tracks = j["tracks"].as_array().unwrap();
    let mut out: BTreeMap<usize, Vec<(f64, f64, u64)>> = BTreeMap::new();
    for p in j["packets"].as_array().unwrap() {
        let i = tracks.iter().position(|t| t["id"] == p["track"]).unwrap();
        let tb = tracks[i]["timebase"][1].as_f64().unwrap() / 1000.0;
        out.entry(i).or_default().push((
            p["dts"].as_f64().unwrap() / tb,
            p["pts"].as_f64().unwrap() / tb,
            p["offset"].as_u64().unwrap_or(0),
        ));
    }
    out
}

fn convert(input: &Path, out: &Path, extra: &[&str]) -> String {
    let o = mist()
        .args([
            "convert",
            input.to_str().unwrap(),
            out.to_str().unwrap(),
            "-q",
        ])
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{}: {err}", out.display());
    err
}

#[cfg(feature = "interop")]
fn ffprobe_streams(path: &Path) -> Vec<Vec<(i64, i64)>> {
    let probe = util::ffprobe::run(path);
    (0..probe.streams.len())
        .map(|s| {
            probe
                .stream_packets(s)
                .iter()
                .map(|p| (p.dts.unwrap_or(0), p.pts.unwrap_or(0)))
                .collect()
        })
        .collect()
}

#[test]
fn an_encoder_restart_keeps_every_packet_and_the_av_relation() {
    let dir = TestDir::new("restart");
    // Two DTSC files spliced together (`cat a.dtsc a.dtsc`): the second half's times start
    // again from 0, and its header sits mid-file.
    let half = dir.join("half.dtsc");
    convert(&fixture("h264_aac.flv"), &half, &["-f"]);
    let one = std::fs::read(&half).unwrap();
    let spliced = dir.join("spliced.dtsc");
    std::fs::write(&spliced, [one.clone(), one].concat()).unwrap();
    let inputs = [fixture("jump_back.flv"), fixture("jump_back.ts"), spliced];
    for input in &inputs {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let src = rows(&analyse_json(input, &["--detail", "1"]));
        // Where each track restarts: its first packet whose decode time goes back.
        let restart: Vec<usize> = src
            .values()
            .map(|v| v.windows(2).position(|w| w[1].0 < w[0].0).unwrap() + 1)
            .collect();
        let first_jump_at = src
            .values()
            .zip(&restart)
            .map(|(v, &k)| v[k].2)
            .min()
            .unwrap();
        let (v, a) = (&src[&0], &src[&1]);
        let relation = v[restart[0]].1 - a[restart[1]].1;
        // Trimmed, the jump is still said once: reading ahead at opening and reading again
        // after the seek to the start once said it twice for TS.
        for ext in ["ts", "mp4"] {
            let out = dir.join(&format!("trimmed.{ext}"));
            let err = convert(input, &out, &["-f", "--start", "0.5"]);
            assert_eq!(err.lines().count(), 1, "{name} -> {ext} --start 0.5: {err}");
        }
        for ext in ["mp4", "flv", "ts", "dtsc"] {
            let what = format!("{name} -> {ext}");
            let out = dir.join(&format!("out.{ext}"));
            let err = convert(input, &out, &["-f"]);
            let lines: Vec<&str> = err.lines().collect();
            assert_eq!(lines.len(), 1, "{what}: one warning: {err}");
            assert!(
                lines[0].contains("timestamps jump back")
                    && lines[0].contains(&format!("at byte {first_jump_at}:")),
                "{what}: {err}"
            );
            let got = rows(&analyse_json(&out, &["--detail", "1"]));
            for (t, want) in &src {
                let g = &got[t];
                assert_eq!(g.len(), want.len(), "{what}: track {t} packets");
                assert!(
                    g.windows(2).all(|w| w[1].0 >= w[0].0),
                    "{what}: track {t} decode times go back"
                );
            }
            let after = got[&0][restart[0]].1 - got[&1][restart[1]].1;
            assert!(
                (after - relation).abs() <= 1.0,
                "{what}: video - audio after the restart {after} ms, source {relation} ms"
            );
            // ffprobe does not read DTSC.
            #[cfg(feature = "interop")]
            if ext != "dtsc" {
                let streams = ffprobe_streams(&out);
                assert_eq!(streams.len(), src.len(), "{what}: ffprobe streams");
                for (s, pkts) in streams.iter().enumerate() {
                    assert_eq!(pkts.len(), src[&s].len(), "{what}: ffprobe stream {s}");
                    assert!(
                        pkts.windows(2).all(|w| w[1].0 >= w[0].0),
                        "{what}: ffprobe stream {s} dts go back"
                    );
                }
            }
        }
    }
}

#[test]
fn a_pmt_change_keeps_moved_streams_as_their_tracks_and_adds_new_ones() {
    let dir = TestDir::new("pmt_change");
    let input = fixture("pmt_change.ts");
    // analyse lists each PID (as ffprobe): 0x100/0x101 for the first second, then
    // 0x200/0x201 (the same video and audio moved) and 0x202 (a second audio).
    let src = rows(&analyse_json(&input, &["--detail", "1"]));
    assert_eq!(src.len(), 5);
    let want = [
        src[&0].len() + src[&2].len(),
        src[&1].len() + src[&3].len(),
        src[&4].len(),
    ];
    for ext in ["ts", "mp4", "dtsc"] {
        let what = format!("pmt_change.ts -> {ext}");
        let out = dir.join(&format!("out.{ext}"));
        let err = convert(&input, &out, &["-f"]);
        assert_eq!(err, "", "{what}: nothing to warn about");
        let got = rows(&analyse_json(&out, &["--detail", "1"]));
        let counts: Vec<usize> = got.values().map(Vec::len).collect();
        assert_eq!(counts, want, "{what}: packets per track");
        for (t, g) in &got {
            assert!(
                g.windows(2).all(|w| w[1].0 >= w[0].0),
                "{what}: track {t} decode times go back"
            );
        }
        #[cfg(feature = "interop")]
        if ext != "dtsc" {
            let streams = ffprobe_streams(&out);
            let counts: Vec<usize> = streams.iter().map(Vec::len).collect();
            assert_eq!(counts, want, "{what}: ffprobe packets per stream");
        }
    }
}
