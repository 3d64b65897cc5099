//! The pages people open: `/` (every stream, linked) and `/STREAM.html` (a player for one),
//! with the player's script at `/player.js` (MistServer's URL for its own). The player page
//! and its script are committed files (`assets/`), compiled in.

use crate::serve::config::PushRule;
use crate::serve::hub::{Role, State};
use crate::serve::input::folder;
use crate::serve::Shared;

use super::info::url_encode;

/// The player page (the same for every stream: the script reads the name from the URL).
pub const PLAYER_HTML: &str = include_str!("assets/player.html");
/// The player script.
pub const PLAYER_JS: &str = include_str!("assets/player.js");

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One row of the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Stream name.
    pub name: String,
    /// What it is now (`live`, `waiting for its publisher`, `file`, `offline`).
    pub state: String,
    /// Viewers connected now.
    pub viewers: usize,
    /// Where it comes from (a file path or `push://`), if worth showing.
    pub source: String,
}

/// The streams the server knows: live ones first, then the files of the served folder and
/// configured streams that are not live.
pub fn rows(shared: &Shared) -> Vec<Row> {
    let hub = &shared.hub;
    let clients = hub.stats.clients();
    let viewers = |name: &str| {
        clients
            .iter()
            .filter(|c| c.role == Role::Output && c.stream == name)
            .count()
    };
    let mut out: Vec<Row> = Vec::new();
    for s in hub.live_streams() {
        let state = match s.state() {
            State::Live => "live",
            State::Waiting { .. } => "waiting for its publisher",
            State::Ended => continue,
        };
        out.push(Row {
            name: s.name().to_string(),
            state: state.into(),
            viewers: viewers(s.name()),
            source: "push://".into(),
        });
    }
    let config = hub.config();
    for (name, sc) in &config.streams {
        if out.iter().any(|r| &r.name == name) {
            continue;
        }
        let push = PushRule::parse(&sc.source).is_some();
        out.push(Row {
            name: name.clone(),
            state: if push { "offline" } else { "on demand" }.into(),
            viewers: viewers(name),
            source: sc.source.clone(),
        });
    }
    if let Some(dir) = &config.folder {
        for (name, path) in folder::list(dir) {
            if out.iter().any(|r| r.name == name) {
                continue;
            }
            out.push(Row {
                viewers: viewers(&name),
                name,
                state: "on demand".into(),
                source: path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            });
        }
    }
    out
}

/// The index page for `rows`; `rtmp` is `HOST:PORT` of the RTMP listener, if any.
pub fn index_html(rows: &[Row], rtmp: Option<&str>) -> String {
    let mut body = String::new();
    if rows.is_empty() {
        body.push_str(
            "<p>No streams yet. Publish one over RTMP, or serve a folder of media files.</p>\n",
        );
    } else {
        body.push_str(
            "<table>\n<tr><th>stream</th><th>state</th><th>viewers</th><th>source</th><th>play</th></tr>\n",
        );
        for r in rows {
            let n = url_encode(&r.name);
            let mut links = format!("<a href=\"{n}.html\">player</a>");
            for ext in ["flv", "ts", "mp4", "mp3"] {
                links.push_str(&format!(" <a href=\"{n}.{ext}\">.{ext}</a>"));
            }
            links.push_str(&format!(" <a href=\"json_{n}.js\">info</a>"));
            if let Some(h) = rtmp {
                links.push_str(&format!(" <code>rtmp://{}/live/{}</code>", esc(h), esc(&n)));
            }
            body.push_str(&format!(
                "<tr><td><a href=\"{n}.html\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{links}</td></tr>\n",
                esc(&r.name),
                esc(&r.state),
                r.viewers,
                esc(&r.source),
            ));
        }
        body.push_str("</table>\n");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>mist streams</title>\n<style>\n\
         body {{ font: 14px/1.5 system-ui, sans-serif; margin: 2em; color: #222; }}\n\
         table {{ border-collapse: collapse; }}\n\
         td, th {{ padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }}\n\
         code {{ font-size: 90%; color: #555; }}\n</style>\n</head>\n<body>\n\
         <h1>mist streams</h1>\n{body}</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_escapes_names_and_links_every_output() {
        let rows = vec![Row {
            name: "a+<b>\"c".into(),
            state: "live".into(),
            viewers: 3,
            source: "push://".into(),
        }];
        let html = index_html(&rows, Some("127.0.0.1:1935"));
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("a+&lt;b&gt;&quot;c"));
        for ext in ["html", "flv", "ts", "mp4", "mp3"] {
            assert!(
                html.contains(&format!("href=\"a%2B%3Cb%3E%22c.{ext}\"")),
                "{ext}"
            );
        }
        assert!(html.contains("rtmp://127.0.0.1:1935/live/a%2B%3Cb%3E%22c"));
        assert!(html.contains("<td>3</td>"));
        assert!(index_html(&[], None).contains("No streams yet"));
    }

    #[test]
    fn the_player_is_our_own() {
        // No third-party script: the page loads only player.js, relative to itself.
        assert_eq!(PLAYER_HTML.matches("<script").count(), 1);
        assert!(PLAYER_HTML.contains("<script src=\"player.js\"></script>"));
        assert!(PLAYER_JS.contains("window.mistPlay = mistPlay"));
        assert!(!PLAYER_JS.contains("http://") && !PLAYER_JS.contains("https://"));
    }
}
