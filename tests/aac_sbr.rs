//! SBR payloads of real HE-AAC and HE-AAC v2 streams (encoded by Fraunhofer's libfdk-aac, see
//! tests/fixtures/generate_fdk.sh): every payload of every frame must parse to within the
//! fill bits of its fill element, and parametric stereo must be found exactly in the v2
//! streams.
//!
//! The end check is what makes this an oracle: `sbr_data()` has no length field of its own,
//! so a wrong Huffman table, a wrong band count from the frequency table derivation or a
//! misread grid leaves the parse off by some bits, and the parser rejects any payload that
//! does not end fewer than 8 bits before its fill element's end.

use mist::codec::aac::frame::AdtsFrame;
use mist::codec::aac::sbr::{SbrBands, SbrHeader, SbrParser};
use mist::codec::aac::syntax::{ElementKind, EXT_SBR_DATA, EXT_SBR_DATA_CRC};
use mist::codec::aac::{AdtsHeader, SAMPLING_FREQUENCIES};

/// What walking one stream found.
#[derive(Debug, Default)]
struct Walk {
    frames: usize,
    /// SBR fill payloads seen.
    payloads: usize,
    /// Payloads parsed (a header was in force).
    parsed: usize,
    /// Payloads carrying an sbr_header.
    headers: usize,
    /// Payloads whose extended data is parametric stereo.
    ps: usize,
    /// Payloads extending a channel pair.
    pairs: usize,
    /// Distinct headers and their band tables, in order of appearance.
    configs: Vec<(SbrHeader, SbrBands)>,
    /// Payloads that failed to parse.
    errors: Vec<String>,
}

/// Calls `each(parser before the payload, frame, frame offset, span, pair)` for every SBR
/// payload of the ADTS stream in `data`, in order, then parses it with `parser`.
fn for_each_payload(
    data: &[u8],
    mut each: impl FnMut(&SbrParser, &[u8], u64, (usize, usize), bool),
    parser: &mut Option<SbrParser>,
    w: &mut Walk,
) {
    let mut pos = 0usize;
    while pos < data.len() {
        let h = AdtsHeader::parse(&data[pos..], pos as u64).expect("ADTS header");
        let len = usize::from(h.frame_length);
        let frame = &data[pos..pos + len];
        let core = SAMPLING_FREQUENCIES[usize::from(h.sampling_frequency_index)];
        let parser = parser.get_or_insert_with(|| SbrParser::new(core));
        let parsed = AdtsFrame::parse(frame, &h, pos as u64).expect("raw data blocks");
        for block in &parsed.blocks {
            // A fill element's SBR payload extends the channel element just before it.
            let mut last = None;
            for e in &block.elements {
                match e.kind {
                    ElementKind::Sce | ElementKind::Cpe | ElementKind::Cce => last = Some(e.kind),
                    ElementKind::Fil
                        if matches!(e.extension, Some(EXT_SBR_DATA | EXT_SBR_DATA_CRC)) =>
                    {
                        w.payloads += 1;
                        let span = e.payload.expect("payload span");
                        let pair = last.expect("SBR after a channel element") == ElementKind::Cpe;
                        w.pairs += usize::from(pair);
                        each(parser, frame, pos as u64, span, pair);
                        match parser.parse_payload_detail(frame, pos as u64, span, pair) {
                            Ok(Some(p)) => {
                                w.parsed += 1;
                                w.headers += usize::from(p.header);
                                w.ps += usize::from(p.parametric_stereo());
                                assert!(p.end <= span.1 && span.1 - p.end < 8);
                            }
                            Ok(None) => {}
                            Err(e) => w.errors.push(format!("frame {}: {e}", w.frames)),
                        }
                        if let Some((h, b)) = parser.header() {
                            if w.configs.last().map(|c| &c.0) != Some(h) {
                                w.configs.push((*h, b.clone()));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        w.frames += 1;
        pos += len;
    }
}

/// The first sbr_header of a fixture.
fn walk_header(name: &str) -> SbrHeader {
    let w = walk(&format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ));
    w.configs.first().map(|c| c.0).expect("a header")
}

fn walk(path: &str) -> Walk {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut w = Walk::default();
    for_each_payload(&data, |_, _, _, _, _| {}, &mut None, &mut w);
    w
}

/// Walks a committed fixture and checks what every stream must show: all payloads parse
/// exactly, the first carries a header (fdk sends one at the start), and more follow.
fn fixture(name: &str) -> Walk {
    let w = walk(&format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ));
    assert!(w.errors.is_empty(), "{name}: {:#?}", w.errors);
    assert!(w.frames > 15, "{name}: {} frames", w.frames);
    assert_eq!(w.payloads, w.frames, "{name}: one SBR payload per frame");
    assert_eq!(w.parsed, w.payloads, "{name}: every payload parsed");
    assert!(w.headers > 1, "{name}: {} headers", w.headers);
    w
}

#[test]
fn he_aac_stereo_payloads_parse_exactly_without_ps() {
    for name in [
        "sbr_he_stereo_44k.aac",
        "sbr_he_stereo_48k.aac",
        "sbr_he_stereo_16k.aac",
    ] {
        let w = fixture(name);
        assert_eq!(w.pairs, w.payloads, "{name}: SBR of a channel pair");
        assert_eq!(w.ps, 0, "{name}: no parametric stereo in HE-AAC");
    }
}

#[test]
fn he_aac_mono_payloads_parse_exactly_without_ps() {
    // ffprobe calls these HE-AACv2 and decodes them to stereo: ffmpeg switches implicit PS on
    // for any mono SBR stream before it has seen PS data. The encoder wrote AOT 5, no PS.
    for name in ["sbr_he_mono_32k.aac", "sbr_he_mono_96k.aac"] {
        let w = fixture(name);
        assert_eq!((w.pairs, w.ps), (0, 0), "{name}");
    }
}

#[test]
fn he_aac_v2_has_parametric_stereo_in_every_payload() {
    for name in ["sbr_hev2_48k.aac", "sbr_hev2_24k.aac"] {
        let w = fixture(name);
        assert_eq!(w.pairs, 0, "{name}: PS extends a single channel element");
        assert_eq!(w.ps, w.payloads, "{name}");
    }
}

#[test]
fn short_form_agrees_with_the_detail() {
    let path = format!(
        "{}/tests/fixtures/sbr_hev2_24k.aac",
        env!("CARGO_MANIFEST_DIR")
    );
    let data = std::fs::read(path).expect("fixture");
    let mut found = 0;
    let each = |p: &SbrParser, frame: &[u8], base, span, pair| {
        let mut short = p.clone();
        if short
            .parse_payload(frame, base, span, pair)
            .expect("parses")
        {
            found += 1;
        }
    };
    let mut w = Walk::default();
    for_each_payload(&data, each, &mut None, &mut w);
    assert_eq!(found, w.ps);
    assert_eq!(found, w.payloads);
}

#[test]
fn wrong_band_tables_or_element_type_are_caught() {
    // The power of the end check. The syntax depends on the band tables only through their
    // counts (N_high, N_low, N_Q), so a rate whose tables shift but keep the counts parses the
    // same; the wrong rates here are picked (and checked) to change the counts. Band counts
    // from the wrong rate, or a channel pair read as a single channel, change how many
    // Huffman codewords each envelope has, and nearly every payload must then fail to end
    // where its fill element does. Ok(None) (no valid header in force) counts as caught too.
    for (name, core) in [
        ("sbr_he_stereo_44k.aac", 22050),
        ("sbr_he_mono_32k.aac", 16000),
        ("sbr_hev2_48k.aac", 24000),
    ] {
        let first = walk_header(name);
        let counts = |core: u32| {
            SbrBands::derive(&first, 2 * core)
                .map(|b| (b.high, b.low, b.noise))
                .ok()
        };
        assert!(counts(core).is_some());
        let wrong: Vec<u32> = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000]
            .into_iter()
            .filter(|&c| counts(c).is_some() && counts(c) != counts(core))
            .collect();
        assert!(!wrong.is_empty(), "{name}: no rate with other band counts");
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let data = std::fs::read(path).expect("fixture");
        for wrong_core in wrong {
            let mut w = Walk::default();
            let mut parser = Some(SbrParser::new(wrong_core));
            for_each_payload(&data, |_, _, _, _, _| {}, &mut parser, &mut w);
            eprintln!(
                "{name} at {wrong_core} Hz ({:?} for {:?}): {} of {} payloads still parse",
                counts(wrong_core),
                counts(core),
                w.parsed,
                w.payloads
            );
            assert!(
                w.parsed * 2 < w.payloads,
                "{name} at {wrong_core} Hz: {} of {} payloads still parse",
                w.parsed,
                w.payloads
            );
        }
        // The right rate, but every payload read as the other element type.
        let (mut tried, mut passed) = (0, 0);
        let each = |p: &SbrParser, frame: &[u8], base, span, pair: bool| {
            if p.header().is_some() {
                tried += 1;
                let mut q = p.clone();
                passed += usize::from(q.parse_payload(frame, base, span, !pair).is_ok());
            }
        };
        let mut w = Walk::default();
        for_each_payload(&data, each, &mut Some(SbrParser::new(core)), &mut w);
        assert!(w.errors.is_empty(), "{name}: {:?}", w.errors);
        eprintln!("{name}: {passed} of {tried} payloads parse as the wrong element type");
        assert!(
            tried > 15 && passed * 5 < tried,
            "{name}: {passed} of {tried} payloads parse as the wrong element type"
        );
    }
}
