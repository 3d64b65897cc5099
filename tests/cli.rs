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
