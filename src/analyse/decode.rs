//! Decoded views of the codec structures several containers carry: H.264 configuration
//! records, parameter sets and NAL units, AAC AudioSpecificConfig. Each analyser shows them
//! the same way, as [`Node`]s with the spec's field names.

use bytes::Bytes;

use crate::codec::aac::{AudioSpecificConfig, SbrSignalling};
use crate::codec::h264::{AvcConfig, NalType, Pps, SliceHeader, SliceType, Sps};
use crate::formats::raw::sei;

use super::tree::{map, Node, Val};

/// SEI user data text shown, in characters.
const MAX_USER_DATA_TEXT: usize = 160;
/// NAL units listed per payload.
pub const MAX_NALS: usize = 64;

/// A 16.16 fixed-point number (`tkhd` width and height, `mvhd` rate): whole values as
/// integers, as ffprobe shows 640 rather than 640.0.
pub fn fixed_16_16(v: u32) -> Val {
    if v & 0xFFFF == 0 {
        Val::Int(i64::from(v >> 16))
    } else {
        Val::Float(f64::from(v) / 65536.0)
    }
}

/// An 8.8 fixed-point number (`mvhd`/`tkhd` volume).
pub fn fixed_8_8(v: u16) -> Val {
    if v & 0xFF == 0 {
        Val::Int(i64::from(v >> 8))
    } else {
        Val::Float(f64::from(v) / 256.0)
    }
}

/// `Constrained Baseline`, `High`, … or `profile_idc N`.
fn profile_name(s: &Sps) -> String {
    s.profile_name()
        .map_or_else(|| format!("profile_idc {}", s.profile_idc), str::to_string)
}

/// An AVCDecoderConfigurationRecord (14496-15 5.3.3.1): its bytes and its fields, with
/// each parameter set decoded as a child.
pub fn avc_config(data: &[u8], offset: u64) -> Node {
    let mut n = Node::new("config", "AVCDecoderConfigurationRecord")
        .at(offset)
        .sized(data.len() as u64)
        .field("data", Val::Bytes(data.to_vec()));
    match AvcConfig::parse(&Bytes::copy_from_slice(data), offset) {
        Ok(c) => {
            let sps = c.first_sps().ok();
            n = n
                .field("configuration_version", data.first().copied().unwrap_or(0))
                .field("avc_profile_indication", c.profile_idc)
                .field_opt("profile", sps.as_ref().map(profile_name))
                .field("profile_compatibility", c.profile_compatibility)
                .field("avc_level_indication", c.level_idc)
                .field_opt("level", sps.as_ref().map(Sps::level_name))
                .field("nal_length_size", c.length_size);
            if let Some(ext) = &c.ext {
                n = n
                    .field("chroma_format", ext.chroma_format)
                    .field("bit_depth_luma", ext.bit_depth_luma_minus8 + 8)
                    .field("bit_depth_chroma", ext.bit_depth_chroma_minus8 + 8);
            }
            // The parameter sets' offsets: after the 6-byte head, each behind a 2-byte length.
            let mut at = offset + 6;
            for s in &c.sps {
                n = n.child(nal(s, at + 2, None));
                at += 2 + s.len() as u64;
            }
            at += 1;
            for p in &c.pps {
                n = n.child(nal(p, at + 2, None));
                at += 2 + p.len() as u64;
            }
        }
        Err(e) => n = n.field("error", e.to_string()),
    }
    n
}

/// An AudioSpecificConfig (14496-3 1.6.2.1): its bytes and decoded fields.
pub fn audio_specific_config(data: &[u8], offset: u64) -> Node {
    let mut n = Node::new("config", "AudioSpecificConfig")
        .at(offset)
        .sized(data.len() as u64)
        .field("data", Val::Bytes(data.to_vec()));
    match AudioSpecificConfig::parse(data, offset) {
        Ok(a) => {
            n = n
                .field("audio_object_type", a.object_type)
                .field_opt("profile", a.profile_name())
                .field("sampling_frequency_index", a.sampling_frequency_index)
                .field("sampling_frequency", a.sampling_frequency)
                .field("channel_configuration", a.channel_configuration)
                .field_opt("channels", a.channels())
                .field("frame_length", a.samples_per_frame());
            let sbr = match a.sbr {
                SbrSignalling::None => "not signalled",
                SbrSignalling::Hierarchical { .. } => "explicit (hierarchical)",
                SbrSignalling::SyncExtension { .. } => "explicit (backward compatible)",
            };
            n = n.field("sbr_signalling", sbr);
            if a.sbr_present() {
                n = n
                    .field("sbr", true)
                    .field("ps", a.ps_present())
                    .field("output_sampling_frequency", a.output_sampling_frequency());
            }
        }
        Err(e) => n = n.field("error", e.to_string()),
    }
    n
}

/// The fields of a sequence parameter set (7.3.2.1.1), decoded: picture size after
/// cropping, profile and level names, VUI timing.
pub fn sps_fields(n: Node, s: &Sps) -> Node {
    let mut n = n
        .field("profile_idc", s.profile_idc)
        .field("profile", profile_name(s))
        .field(
            "constraint_set_flags",
            Val::Str(format!("{:06b}", s.constraint_flags >> 2)),
        )
        .field("level_idc", s.level_idc)
        .field("level", s.level_name())
        .field("seq_parameter_set_id", s.sps_id)
        .field(
            "chroma_format",
            match s.chroma_format_idc {
                0 => "4:0:0",
                1 => "4:2:0",
                2 => "4:2:2",
                _ => "4:4:4",
            },
        )
        .field("bit_depth_luma", s.bit_depth_luma)
        .field("bit_depth_chroma", s.bit_depth_chroma)
        .field("log2_max_frame_num", s.log2_max_frame_num)
        .field("pic_order_cnt_type", s.pic_order_cnt_type);
    if s.pic_order_cnt_type == 0 {
        n = n.field("log2_max_pic_order_cnt_lsb", s.log2_max_pic_order_cnt_lsb);
    }
    n = n
        .field("max_num_ref_frames", s.max_num_ref_frames)
        .field("width", s.width())
        .field("height", s.height())
        .field("coded_width", s.coded_width())
        .field("coded_height", s.coded_height());
    if let Some([l, r, t, b]) = s.frame_crop {
        n = n.field(
            "frame_crop",
            map()
                .with("left", l)
                .with("right", r)
                .with("top", t)
                .with("bottom", b),
        );
    }
    n = n
        .field("frame_mbs_only", s.frame_mbs_only)
        .field("direct_8x8_inference", s.direct_8x8_inference);
    if let Some(vui) = &s.vui {
        let mut v = map();
        if let Some((w, h)) = vui.sample_aspect_ratio {
            v = v.with("sample_aspect_ratio", format!("{w}:{h}"));
        }
        if let Some(f) = vui.video_full_range {
            v = v.with("video_full_range", f);
        }
        if let Some((p, t, m)) = vui.colour_description {
            v = v
                .with("colour_primaries", p)
                .with("transfer_characteristics", t)
                .with("matrix_coefficients", m);
        }
        v = v
            .with_opt("num_units_in_tick", vui.num_units_in_tick)
            .with_opt("time_scale", vui.time_scale)
            .with("fixed_frame_rate", vui.fixed_frame_rate);
        if let Some((num, den)) = s.fps() {
            v = v.with("frame_rate", format!("{num}/{den}"));
        }
        v = v
            .with_opt("max_num_reorder_frames", vui.max_num_reorder_frames)
            .with_opt("max_dec_frame_buffering", vui.max_dec_frame_buffering);
        n = n.field("vui", v);
    }
    n
}

/// The fields of a picture parameter set (7.3.2.2).
pub fn pps_fields(n: Node, p: &Pps) -> Node {
    n.field("pic_parameter_set_id", p.pps_id)
        .field("seq_parameter_set_id", p.sps_id)
        .field(
            "entropy_coding",
            if p.entropy_coding_mode {
                "CABAC"
            } else {
                "CAVLC"
            },
        )
        .field("num_slice_groups", p.num_slice_groups)
        .field(
            "num_ref_idx_l0_default_active",
            p.num_ref_idx_l0_default_active_minus1 + 1,
        )
        .field(
            "num_ref_idx_l1_default_active",
            p.num_ref_idx_l1_default_active_minus1 + 1,
        )
        .field("weighted_pred", p.weighted_pred)
        .field("weighted_bipred_idc", p.weighted_bipred_idc)
        .field("pic_init_qp", 26 + p.pic_init_qp_minus26)
        .field("chroma_qp_index_offset", p.chroma_qp_index_offset)
        .field("transform_8x8_mode", p.transform_8x8_mode)
        .field(
            "deblocking_filter_control_present",
            p.deblocking_filter_control_present,
        )
}

/// `P`, `B`, `I`, `SP`, `SI`.
pub fn slice_type_name(t: SliceType) -> &'static str {
    match t {
        SliceType::P => "P",
        SliceType::B => "B",
        SliceType::I => "I",
        SliceType::Sp => "SP",
        SliceType::Si => "SI",
    }
}

/// The fields of a slice header (7.3.3) that say what the picture is.
pub fn slice_fields(n: Node, sh: &SliceHeader) -> Node {
    let n = n
        .field("slice_type", slice_type_name(sh.slice_type()))
        .field("first_mb_in_slice", sh.first_mb_in_slice)
        .field("pic_parameter_set_id", sh.pps_id)
        .field("frame_num", sh.frame_num);
    let n = if sh.field_pic {
        n.field("field", if sh.bottom_field { "bottom" } else { "top" })
    } else {
        n
    };
    n.field_opt("idr_pic_id", sh.idr_pic_id)
        .field("pic_order_cnt_lsb", sh.pic_order_cnt_lsb)
}

/// SEI messages (7.3.2.3) as a list of records.
pub fn sei_messages(data: &[u8], at: u64) -> Val {
    match sei::parse(data, at) {
        Ok(msgs) => Val::List(
            msgs.iter()
                .map(|m| {
                    let mut v = map()
                        .with("payload_type", m.payload_type.0)
                        .with("name", m.payload_type.name())
                        .with("size", m.payload.len());
                    if let Some(r) = m.recovery_point {
                        v = v
                            .with("recovery_frame_cnt", r.recovery_frame_cnt)
                            .with("exact_match", r.exact_match)
                            .with("broken_link", r.broken_link);
                    }
                    if let Some((uuid, text)) = m.user_data() {
                        let text: String = text.chars().take(MAX_USER_DATA_TEXT).collect();
                        v = v.with("uuid", uuid.to_string()).with("text", text);
                    }
                    v
                })
                .collect(),
        ),
        Err(e) => Val::Str(format!("not readable: {e}")),
    }
}

/// Parameter sets known so far, to decode slice headers.
pub trait ParamSets {
    /// The PPS with this id.
    fn pps(&self, id: u32) -> Option<&Pps>;
    /// The SPS with this id.
    fn sps(&self, id: u32) -> Option<&Sps>;
}

/// One H.264 NAL unit (`data` starts at its header byte, at byte `offset`), decoded as far
/// as its type allows; slice headers need the parameter sets.
pub fn nal(data: &[u8], offset: u64, sets: Option<&dyn ParamSets>) -> Node {
    let t = NalType(data.first().map_or(0, |b| b & 0x1F));
    let name = t.name().unwrap_or("unspecified");
    let ref_idc = data.first().map_or(0, |b| (b >> 5) & 3);
    let n = Node::new("nal", name)
        .at(offset)
        .sized(data.len() as u64)
        .field("nal_unit_type", t.0)
        .field("nal_ref_idc", ref_idc);
    match t {
        NalType::SPS => match Sps::parse(data, offset) {
            Ok(s) => sps_fields(n, &s),
            Err(e) => n.field("error", e.to_string()),
        },
        NalType::PPS => match Pps::parse(data, offset) {
            Ok(p) => pps_fields(n, &p),
            Err(e) => n.field("error", e.to_string()),
        },
        NalType::SEI => n.field("messages", sei_messages(data, offset)),
        NalType::AUD => n.field("primary_pic_type", data.get(1).map_or(0, |b| b >> 5)),
        NalType::SLICE | NalType::IDR => {
            let header = sets.and_then(|sets| {
                let id = SliceHeader::pps_id_of(data, offset).ok()?;
                let pps = sets.pps(id)?;
                let sps = sets.sps(pps.sps_id)?;
                SliceHeader::parse(data, offset, sps, pps).ok()
            });
            match header {
                Some(sh) => slice_fields(n, &sh),
                None => n,
            }
        }
        _ => n,
    }
}

/// The NAL units of a length-prefixed payload (AVC in FLV and MP4), with `n`-byte lengths;
/// bytes that do not form a NAL unit become a last `garbage` node.
pub fn length_prefixed_nals(data: &[u8], n: u8, offset: u64) -> Vec<Node> {
    let n = usize::from(n.clamp(1, 4));
    let mut out = Vec::new();
    let mut p = 0usize;
    while p + n <= data.len() && out.len() < MAX_NALS {
        let len = data[p..p + n]
            .iter()
            .fold(0usize, |a, b| a << 8 | usize::from(*b));
        let Some(body) = data.get(p + n..p + n + len) else {
            break;
        };
        out.push(nal(body, offset + (p + n) as u64, None));
        p += n + len;
    }
    if p < data.len() && out.len() < MAX_NALS {
        out.push(
            Node::new("garbage", "bytes that do not form a NAL unit")
                .at(offset + p as u64)
                .sized((data.len() - p) as u64),
        );
    }
    out
}
