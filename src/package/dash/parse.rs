//! Reading MPDs (ISO/IEC 23009-1 §5) for `mist analyse`: periods, adaptation sets,
//! representations and their segment templates (inherited from the levels above, §5.3.9.1),
//! with the timeline expanded into segments and their URLs. Each broken rule is a [`Problem`]
//! at a line. XML itself is read by `roxmltree` (no DTDs, no entities beyond XML's own).

use roxmltree::{Document, Node};

/// The MPD namespace (§5.3.1.2, Annex B).
pub const NAMESPACE: &str = "urn:mpeg:dash:schema:mpd:2011";
/// Most segments a timeline is expanded to (an `S@r` of a million is refused past this).
pub const MAX_SEGMENTS: usize = 100_000;
/// Largest MPD read.
pub const MAX_MPD_BYTES: usize = 16 << 20;

/// A broken rule, at a 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Line number (1-based; 0 for the MPD as a whole).
    pub line: u32,
    /// True for a "shall" of the standard, false for a "should" or an oddity.
    pub error: bool,
    /// What is wrong.
    pub message: String,
}

/// An MPD.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mpd {
    /// `type="dynamic"`.
    pub dynamic: bool,
    /// `mediaPresentationDuration`, ms.
    pub duration_ms: Option<i64>,
    /// `availabilityStartTime` as written.
    pub availability_start: Option<String>,
    /// `timeShiftBufferDepth`, ms.
    pub time_shift_ms: Option<i64>,
    /// `minimumUpdatePeriod`, ms.
    pub update_ms: Option<i64>,
    /// The periods.
    pub periods: Vec<Period>,
}

/// A period.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Period {
    /// `id`.
    pub id: Option<String>,
    /// `start`, ms.
    pub start_ms: Option<i64>,
    /// Its adaptation sets.
    pub sets: Vec<AdaptationSet>,
}

/// An adaptation set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AdaptationSet {
    /// `contentType`, or the kind from `mimeType`.
    pub content_type: Option<String>,
    /// `mimeType` (of the set, else of its first representation).
    pub mime: Option<String>,
    /// `startWithSAP`.
    pub start_with_sap: Option<u32>,
    /// Its representations.
    pub reps: Vec<Representation>,
}

/// A representation with its segment template resolved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Representation {
    /// Line of its element.
    pub line: u32,
    /// `id`.
    pub id: String,
    /// `bandwidth`.
    pub bandwidth: Option<u64>,
    /// `codecs` (of the representation, else of its set).
    pub codecs: Option<String>,
    /// `width`, `height`.
    pub size: Option<(u32, u32)>,
    /// The init segment's URL, template variables replaced.
    pub init: Option<String>,
    /// `SegmentTemplate@timescale` (1 when absent).
    pub timescale: u64,
    /// `presentationTimeOffset`, in the timescale.
    pub pto: u64,
    /// The segments of its timeline, in order.
    pub segments: Vec<SegmentRef>,
}

/// One segment of a timeline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentRef {
    /// Start in the template's timescale (the `S@t` it has, written or implied).
    pub t: u64,
    /// Duration in the timescale.
    pub d: u64,
    /// Its number (`startNumber` + position).
    pub number: u64,
    /// Its URL, template variables replaced.
    pub url: String,
    /// Line of the `S` element it comes from.
    pub line: u32,
}

/// An `xs:duration` (`PT1H2M3.5S`, `P1DT2H`) in ms; `None` when it is not one. Years and
/// months have no fixed length and are refused.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let s = s.strip_prefix('P')?;
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut ms: i64 = 0;
    let mut any = false;
    let mut rest = date;
    while !rest.is_empty() {
        let i = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: i64 = rest[..i].parse().ok()?;
        match rest.as_bytes()[i] {
            b'D' => ms = ms.checked_add(n.checked_mul(86_400_000)?)?,
            _ => return None,
        }
        any = true;
        rest = &rest[i + 1..];
    }
    if let Some(t) = time {
        if t.is_empty() {
            return None;
        }
        let mut rest = t;
        while !rest.is_empty() {
            let i = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
            let num = &rest[..i];
            let unit = rest.as_bytes()[i];
            let scale = match unit {
                b'H' => 3_600_000,
                b'M' => 60_000,
                b'S' => 1000,
                _ => return None,
            };
            let part = if unit == b'S' {
                crate::package::hls::parse::parse_seconds_ms(num)?
            } else {
                if num.contains('.') {
                    return None;
                }
                num.parse::<i64>().ok()?.checked_mul(scale)?
            };
            ms = ms.checked_add(part)?;
            any = true;
            rest = &rest[i + 1..];
        }
    }
    any.then_some(if neg { -ms } else { ms })
}

/// `template` with `$RepresentationID$`, `$Number$`, `$Time$`, `$Bandwidth$` (with `%0Nd`
/// widths) and `$$` replaced (§5.3.9.4.4, Table 16).
pub fn expand(template: &str, id: &str, number: u64, time: u64, bandwidth: u64) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let Some(j) = after.find('$') else {
            out.push_str(&rest[i..]);
            return out;
        };
        let ident = &after[..j];
        let (name, width) = match ident.split_once('%') {
            Some((n, f)) => (
                n,
                f.strip_prefix('0')
                    .and_then(|w| w.strip_suffix('d'))
                    .and_then(|w| w.parse::<usize>().ok())
                    .map(|w| w.min(32)),
            ),
            None => (ident, None),
        };
        let value = match name {
            "" => Some("$".to_string()),
            "RepresentationID" => Some(id.to_string()),
            "Number" => Some(number.to_string()),
            "Time" => Some(time.to_string()),
            "Bandwidth" => Some(bandwidth.to_string()),
            _ => None,
        };
        match value {
            Some(v) => match width {
                Some(w) if name != "RepresentationID" => out.push_str(&format!("{v:0>w$}")),
                _ => out.push_str(&v),
            },
            None => {
                out.push('$');
                out.push_str(ident);
                out.push('$');
            }
        }
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    out
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn children<'a, 'i: 'a>(n: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

/// The template's attributes and timeline from the most specific level that has them.
#[derive(Clone, Debug, Default)]
struct Template<'a, 'i> {
    timescale: Option<&'a str>,
    pto: Option<&'a str>,
    media: Option<&'a str>,
    init: Option<&'a str>,
    start_number: Option<&'a str>,
    duration: Option<&'a str>,
    timeline: Option<Node<'a, 'i>>,
}

impl<'a, 'i> Template<'a, 'i> {
    fn over(mut self, n: Option<Node<'a, 'i>>) -> Self {
        let Some(n) = n else { return self };
        let take = |v: &mut Option<&'a str>, a: &str| {
            if let Some(x) = n.attribute(a) {
                *v = Some(x);
            }
        };
        take(&mut self.timescale, "timescale");
        take(&mut self.pto, "presentationTimeOffset");
        take(&mut self.media, "media");
        take(&mut self.init, "initialization");
        take(&mut self.start_number, "startNumber");
        take(&mut self.duration, "duration");
        if let Some(t) = child(n, "SegmentTimeline") {
            self.timeline = Some(t);
        }
        self
    }
}

struct Parser<'d> {
    doc: &'d Document<'d>,
    problems: Vec<Problem>,
}

impl<'d> Parser<'d> {
    fn line(&self, n: Node) -> u32 {
        self.doc.text_pos_at(n.range().start).row
    }

    fn bad(&mut self, n: Option<Node>, error: bool, message: String) {
        let line = n.map_or(0, |n| self.line(n));
        self.problems.push(Problem {
            line,
            error,
            message,
        });
    }

    fn uint(&mut self, n: Node, attr: &str) -> Option<u64> {
        let v = n.attribute(attr)?;
        match v.trim().parse::<u64>() {
            Ok(x) => Some(x),
            Err(_) => {
                self.bad(
                    Some(n),
                    true,
                    format!(
                        "{}@{attr} '{v}' is not an unsigned integer",
                        n.tag_name().name()
                    ),
                );
                None
            }
        }
    }

    fn dur(&mut self, n: Node, attr: &str) -> Option<i64> {
        let v = n.attribute(attr)?;
        match parse_duration_ms(v.trim()) {
            Some(x) => Some(x),
            None => {
                self.bad(
                    Some(n),
                    true,
                    format!("{}@{attr} '{v}' is not an xs:duration", n.tag_name().name()),
                );
                None
            }
        }
    }
}

/// Reads an MPD. `None` when the text is not XML with an `MPD` root at all; the problems
/// found on the way are returned either way.
pub fn parse(text: &str) -> (Option<Mpd>, Vec<Problem>) {
    let mut problems = Vec::new();
    if text.len() > MAX_MPD_BYTES {
        problems.push(Problem {
            line: 0,
            error: true,
            message: format!("larger than {MAX_MPD_BYTES} bytes"),
        });
        return (None, problems);
    }
    let doc = match Document::parse(text) {
        Ok(d) => d,
        Err(e) => {
            problems.push(Problem {
                line: e.pos().row,
                error: true,
                message: format!("not well-formed XML: {e}"),
            });
            return (None, problems);
        }
    };
    let root = doc.root_element();
    if root.tag_name().name() != "MPD" {
        problems.push(Problem {
            line: 1,
            error: true,
            message: format!("the root element is {}, not MPD", root.tag_name().name()),
        });
        return (None, problems);
    }
    let mut p = Parser {
        doc: &doc,
        problems,
    };
    if root.tag_name().namespace() != Some(NAMESPACE) {
        p.bad(
            Some(root),
            true,
            format!("MPD is not in the namespace {NAMESPACE} (§5.3.1.2)"),
        );
    }
    let mut mpd = Mpd::default();
    match root.attribute("type").unwrap_or("static") {
        "static" => {}
        "dynamic" => mpd.dynamic = true,
        other => p.bad(
            Some(root),
            true,
            format!("MPD@type '{other}' is neither static nor dynamic"),
        ),
    }
    if root.attribute("profiles").is_none() {
        p.bad(
            Some(root),
            true,
            "MPD@profiles is missing (§5.3.1.2)".into(),
        );
    }
    if p.dur(root, "minBufferTime").is_none() && root.attribute("minBufferTime").is_none() {
        p.bad(
            Some(root),
            true,
            "MPD@minBufferTime is missing (§5.3.1.2)".into(),
        );
    }
    mpd.duration_ms = p.dur(root, "mediaPresentationDuration");
    mpd.time_shift_ms = p.dur(root, "timeShiftBufferDepth");
    mpd.update_ms = p.dur(root, "minimumUpdatePeriod");
    mpd.availability_start = root.attribute("availabilityStartTime").map(String::from);
    if mpd.dynamic {
        if mpd.availability_start.is_none() {
            p.bad(
                Some(root),
                true,
                "a dynamic MPD without availabilityStartTime (§5.3.1.2)".into(),
            );
        }
        if root.attribute("publishTime").is_none() {
            p.bad(
                Some(root),
                true,
                "a dynamic MPD without publishTime (§5.3.1.2)".into(),
            );
        }
    } else if root.attribute("minimumUpdatePeriod").is_some() {
        p.bad(
            Some(root),
            true,
            "minimumUpdatePeriod in a static MPD (§5.3.1.2)".into(),
        );
    }
    let periods: Vec<Node> = children(root, "Period").collect();
    if periods.is_empty() {
        p.bad(Some(root), true, "no Period (§5.3.1.2)".into());
    }
    let last_has_duration = periods
        .last()
        .is_some_and(|n| n.attribute("duration").is_some());
    if !mpd.dynamic && mpd.duration_ms.is_none() && !last_has_duration {
        p.bad(
            Some(root),
            true,
            "a static MPD needs mediaPresentationDuration or a last Period@duration (§5.3.1.2)"
                .into(),
        );
    }
    let root_template = Template::default().over(child(root, "SegmentTemplate"));
    for pn in periods {
        let mut period = Period {
            id: pn.attribute("id").map(String::from),
            start_ms: p.dur(pn, "start"),
            sets: Vec::new(),
        };
        if mpd.dynamic && period.id.is_none() {
            p.bad(
                Some(pn),
                true,
                "a Period of a dynamic MPD without id (§5.3.2.2)".into(),
            );
        }
        let pt = root_template.clone().over(child(pn, "SegmentTemplate"));
        for an in children(pn, "AdaptationSet") {
            let at = pt.clone().over(child(an, "SegmentTemplate"));
            let mut set = AdaptationSet {
                content_type: an.attribute("contentType").map(String::from),
                mime: an.attribute("mimeType").map(String::from),
                start_with_sap: p.uint(an, "startWithSAP").map(|v| v as u32),
                reps: Vec::new(),
            };
            for rn in children(an, "Representation") {
                let rt = at.clone().over(child(rn, "SegmentTemplate"));
                if let Some(r) = representation(&mut p, an, rn, &rt) {
                    if set.mime.is_none() {
                        set.mime = rn.attribute("mimeType").map(String::from);
                    }
                    set.reps.push(r);
                }
            }
            if set.mime.is_none() {
                p.bad(
                    Some(an),
                    true,
                    "no mimeType on the AdaptationSet or its Representations (§5.3.7.2)".into(),
                );
            }
            if set.content_type.is_none() {
                set.content_type = set
                    .mime
                    .as_deref()
                    .and_then(|m| m.split('/').next())
                    .map(String::from);
            }
            if set.reps.is_empty() {
                p.bad(
                    Some(an),
                    true,
                    "an AdaptationSet without Representation".into(),
                );
            }
            period.sets.push(set);
        }
        mpd.periods.push(period);
    }
    (Some(mpd), p.problems)
}

fn representation<'a, 'i>(
    p: &mut Parser,
    set: Node<'a, 'i>,
    rn: Node<'a, 'i>,
    t: &Template<'a, 'i>,
) -> Option<Representation> {
    let Some(id) = rn.attribute("id") else {
        p.bad(
            Some(rn),
            true,
            "Representation without id (§5.3.5.2)".into(),
        );
        return None;
    };
    if id.contains(char::is_whitespace) {
        p.bad(
            Some(rn),
            true,
            format!("Representation@id '{id}' holds whitespace (§5.3.5.2)"),
        );
    }
    let bandwidth = p.uint(rn, "bandwidth");
    if rn.attribute("bandwidth").is_none() {
        p.bad(
            Some(rn),
            true,
            format!("Representation {id} without bandwidth (§5.3.5.2)"),
        );
    }
    let size = match (p.uint(rn, "width"), p.uint(rn, "height")) {
        (Some(w), Some(h)) => Some((w as u32, h as u32)),
        _ => None,
    };
    let codecs = rn
        .attribute("codecs")
        .or_else(|| set.attribute("codecs"))
        .map(String::from);
    let mut r = Representation {
        line: p.line(rn),
        id: id.to_string(),
        bandwidth,
        codecs,
        size,
        timescale: 1,
        ..Representation::default()
    };
    let Some(media) = t.media else {
        if child(rn, "BaseURL").is_none()
            && child(rn, "SegmentBase").is_none()
            && child(rn, "SegmentList").is_none()
        {
            p.bad(
                Some(rn),
                true,
                format!("Representation {id} has no segment information (§5.3.9.1)"),
            );
        } else {
            p.bad(
                Some(rn),
                false,
                format!("Representation {id}: only SegmentTemplate is checked"),
            );
        }
        return Some(r);
    };
    let bw = bandwidth.unwrap_or(0);
    r.timescale = match t.timescale.map(|v| v.trim().parse::<u64>()) {
        None => 1,
        Some(Ok(0)) | Some(Err(_)) => {
            p.bad(
                Some(rn),
                true,
                format!("Representation {id}: SegmentTemplate@timescale is not a positive integer"),
            );
            1
        }
        Some(Ok(v)) => v,
    };
    r.pto = t
        .pto
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let start_number = t
        .start_number
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    r.init = t.init.map(|i| expand(i, id, start_number, 0, bw));
    if let Some(tl) = t.timeline {
        if !media.contains("$Time$") && !media.contains("$Number") {
            p.bad(
                Some(tl),
                true,
                format!(
                    "Representation {id}: a SegmentTimeline with a media template that names \
                     neither $Time$ nor $Number$ (§5.3.9.4.4)"
                ),
            );
        }
        let mut next: Option<u64> = None;
        let mut number = start_number;
        let entries: Vec<Node> = children(tl, "S").collect();
        for (k, s) in entries.iter().enumerate() {
            let Some(d) = p.uint(*s, "d") else {
                p.bad(
                    Some(*s),
                    true,
                    format!("Representation {id}: S without d (Table 20)"),
                );
                continue;
            };
            let written_t = p.uint(*s, "t");
            let mut t0 = match (written_t, next) {
                (Some(t), Some(n)) if t < n => {
                    p.bad(
                        Some(*s),
                        true,
                        format!(
                            "Representation {id}: S@t {t} starts before the previous segment \
                             ends at {n} (segments overlap, §5.3.9.6)"
                        ),
                    );
                    t
                }
                (Some(t), _) => t,
                (None, Some(n)) => n,
                (None, None) => 0,
            };
            let r_attr: i64 = s
                .attribute("r")
                .map(|v| v.trim().parse::<i64>().unwrap_or(0))
                .unwrap_or(0);
            let repeats: u64 = if r_attr < 0 {
                // Until the next S@t, or the end of the period.
                let until = entries
                    .get(k + 1)
                    .and_then(|n| n.attribute("t"))
                    .and_then(|v| v.parse::<u64>().ok());
                match until {
                    Some(u) if d > 0 => u.saturating_sub(t0).div_ceil(d).saturating_sub(1),
                    _ => 0,
                }
            } else {
                r_attr as u64
            };
            if d == 0 {
                p.bad(Some(*s), true, format!("Representation {id}: S@d is 0"));
            }
            for _ in 0..=repeats {
                if r.segments.len() >= MAX_SEGMENTS {
                    p.bad(
                        Some(*s),
                        true,
                        format!("Representation {id}: more than {MAX_SEGMENTS} segments"),
                    );
                    return Some(r);
                }
                r.segments.push(SegmentRef {
                    t: t0,
                    d,
                    number,
                    url: expand(media, id, number, t0, bw),
                    line: p.line(*s),
                });
                number += 1;
                t0 = t0.saturating_add(d);
            }
            next = Some(t0);
        }
    } else {
        p.bad(
            Some(rn),
            false,
            format!(
                "Representation {id}: a SegmentTemplate without SegmentTimeline is not expanded"
            ),
        );
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_of_xs_duration() {
        assert_eq!(parse_duration_ms("PT0S"), Some(0));
        assert_eq!(parse_duration_ms("PT2.016S"), Some(2016));
        assert_eq!(parse_duration_ms("PT1H2M3.004S"), Some(3_723_004));
        assert_eq!(parse_duration_ms("P1DT1S"), Some(86_401_000));
        assert_eq!(parse_duration_ms("PT30M"), Some(1_800_000));
        for bad in ["", "P", "PT", "2S", "PT1.5M", "P1Y", "PTxS"] {
            assert_eq!(parse_duration_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn templates_expand_as_table_16_says() {
        assert_eq!(
            expand("$RepresentationID$/chunk_$Time$.m4s", "v1", 3, 4000, 0),
            "v1/chunk_4000.m4s"
        );
        assert_eq!(
            expand("seg-$Number%05d$.m4s", "a", 7, 0, 0),
            "seg-00007.m4s"
        );
        assert_eq!(expand("$Bandwidth$$$x", "a", 0, 0, 800), "800$x");
        assert_eq!(expand("$Unknown$", "a", 0, 0, 0), "$Unknown$");
    }

    #[test]
    fn timelines_expand_and_overlaps_are_found() {
        let text = r#"<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="x" type="static"
     mediaPresentationDuration="PT7S" minBufferTime="PT2S">
  <Period id="0">
    <AdaptationSet mimeType="video/mp4">
      <SegmentTemplate timescale="1000" media="$RepresentationID$/c_$Time$.m4s" initialization="$RepresentationID$/i.m4s">
        <SegmentTimeline><S t="100" d="2000" r="1"/><S d="1000"/><S t="4000" d="2000"/></SegmentTimeline>
      </SegmentTemplate>
      <Representation id="1" bandwidth="100" codecs="avc1.64001f"/>
    </AdaptationSet>
  </Period>
</MPD>"#;
        let (m, problems) = parse(text);
        assert!(
            problems.len() == 1
                && problems[0].error
                && problems[0].message.contains("overlap")
                && problems[0].line == 7,
            "{problems:?}"
        );
        let m = m.unwrap();
        let r = &m.periods[0].sets[0].reps[0];
        let got: Vec<(u64, u64, &str)> = r
            .segments
            .iter()
            .map(|s| (s.t, s.d, s.url.as_str()))
            .collect();
        // 100+2000 = 2100, r=1 repeats once; then 4100-5100 follows on; t=4000 is before
        // 5100: an overlap.
        assert_eq!(
            got,
            vec![
                (100, 2000, "1/c_100.m4s"),
                (2100, 2000, "1/c_2100.m4s"),
                (4100, 1000, "1/c_4100.m4s"),
                (4000, 2000, "1/c_4000.m4s"),
            ]
        );
        assert_eq!(r.init.as_deref(), Some("1/i.m4s"));
        // Starting where the one before ends, or later (a gap), is fine.
        for t in ["5100", "9000"] {
            let (_, problems) = parse(&text.replace("<S t=\"4000\"", &format!("<S t=\"{t}\"")));
            assert!(problems.is_empty(), "{t}: {problems:?}");
        }
    }

    #[test]
    fn missing_mandatory_parts_are_reported() {
        let (_, problems) = parse(
            r#"<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic"><Period><AdaptationSet><Representation/></AdaptationSet></Period></MPD>"#,
        );
        let msgs: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        for want in [
            "MPD@profiles",
            "MPD@minBufferTime",
            "without availabilityStartTime",
            "without publishTime",
            "without id",
            "Representation without id",
            "no mimeType",
        ] {
            assert!(msgs.iter().any(|m| m.contains(want)), "{want}: {msgs:?}");
        }
        let (m, problems) = parse("<html/>");
        assert!(m.is_none() && problems[0].error);
        let (m, problems) = parse("<MPD");
        assert!(m.is_none() && problems[0].message.contains("XML"));
    }

    #[test]
    fn what_mist_writes_reads_back_clean() {
        use crate::dtsc::{Codec, Meta, Timebase, Track, TrackId, TrackKind};
        use crate::package::dash::mpd::{mpd, Representation as Rep, Timing};
        use crate::package::{Segment, Variant};
        let meta = Meta {
            tracks: vec![Track::new(
                TrackId(1),
                TrackKind::Audio,
                Codec::Mp3,
                Timebase::MS,
            )],
            ..Meta::default()
        };
        let segs: Vec<Segment> = (0..3)
            .map(|n| Segment {
                number: n,
                start_ms: n as i64 * 2000,
                end_ms: n as i64 * 2000 + 2000,
                discontinuities: 0,
            })
            .collect();
        let text = mpd(
            &meta,
            &[Rep {
                variant: Variant::of(vec![TrackId(1)]),
                bandwidth: 128_000,
                fpks: None,
                segments: segs,
            }],
            Timing::Static,
        );
        let (m, problems) = parse(&text);
        assert!(problems.is_empty(), "{problems:?}\n{text}");
        let r = &m.unwrap().periods[0].sets[0].reps[0];
        let urls: Vec<&str> = r.segments.iter().map(|s| s.url.as_str()).collect();
        assert_eq!(
            urls,
            vec!["1/chunk_0.m4s", "1/chunk_2000.m4s", "1/chunk_4000.m4s"]
        );
        assert_eq!(r.codecs.as_deref(), Some("mp4a.40.34"));
    }
}
