//! SEI messages (H.264 7.3.2.3, D.1): the payload type/size loop, payload names, and the two
//! payloads mist reads: the recovery point (D.1.8, a random access point without an IDR) and
//! unregistered user data (D.1.7, where x264 writes its settings).

use bytes::Bytes;

use crate::codec::h264::remove_emulation_prevention;
use crate::formats::error::{FormatError, Problem};
use crate::io::BitReader;

/// At most this many messages are read from one SEI NAL unit.
pub const MAX_SEI_MESSAGES: usize = 64;

/// `payloadType`: an open set with named constants (H.264 Table D-1 / 7.3.2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeiType(pub u32);

impl SeiType {
    /// Buffering period.
    pub const BUFFERING_PERIOD: Self = Self(0);
    /// Picture timing.
    pub const PIC_TIMING: Self = Self(1);
    /// Registered user data (ITU-T T.35: closed captions, HDR metadata).
    pub const USER_DATA_REGISTERED: Self = Self(4);
    /// Unregistered user data (a UUID and bytes).
    pub const USER_DATA_UNREGISTERED: Self = Self(5);
    /// Recovery point.
    pub const RECOVERY_POINT: Self = Self(6);

    /// The spec's name for the payload type, when it has one.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "buffering_period",
            1 => "pic_timing",
            2 => "pan_scan_rect",
            3 => "filler_payload",
            4 => "user_data_registered_itu_t_t35",
            5 => "user_data_unregistered",
            6 => "recovery_point",
            7 => "dec_ref_pic_marking_repetition",
            8 => "spare_pic",
            9 => "scene_info",
            10 => "sub_seq_info",
            11 => "sub_seq_layer_characteristics",
            12 => "sub_seq_characteristics",
            13 => "full_frame_freeze",
            14 => "full_frame_freeze_release",
            15 => "full_frame_snapshot",
            16 => "progressive_refinement_segment_start",
            17 => "progressive_refinement_segment_end",
            18 => "motion_constrained_slice_group_set",
            19 => "film_grain_characteristics",
            20 => "deblocking_filter_display_preference",
            21 => "stereo_video_info",
            22 => "post_filter_hint",
            23 => "tone_mapping_info",
            45 => "frame_packing_arrangement",
            47 => "display_orientation",
            137 => "mastering_display_colour_volume",
            144 => "content_light_level_info",
            147 => "alternative_transfer_characteristics",
            _ => "reserved",
        }
    }
}

/// `recovery_point` (D.1.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveryPoint {
    /// `recovery_frame_cnt`: frames until output is exact.
    pub recovery_frame_cnt: u32,
    /// `exact_match_flag`.
    pub exact_match: bool,
    /// `broken_link_flag`.
    pub broken_link: bool,
}

/// One SEI message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeiMessage {
    /// `payloadType`.
    pub payload_type: SeiType,
    /// The payload (RBSP bytes, emulation prevention removed).
    pub payload: Bytes,
    /// The recovery point, for type 6.
    pub recovery_point: Option<RecoveryPoint>,
}

impl SeiMessage {
    /// For unregistered user data: the UUID (hex) and the printable text after it.
    pub fn user_data(&self) -> Option<(String, String)> {
        if self.payload_type != SeiType::USER_DATA_UNREGISTERED || self.payload.len() < 16 {
            return None;
        }
        let uuid: String = self.payload[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let text: String = self.payload[16..]
            .iter()
            .take_while(|&&b| b != 0)
            .map(|&b| {
                if (0x20..0x7f).contains(&b) {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        Some((uuid, text))
    }
}

/// Reads an ff-coded value (`0xFF` bytes add 255 each, the last byte adds itself).
fn ff_value(data: &[u8], pos: &mut usize, what: &'static str, at: u64) -> Result<u32, FormatError> {
    let mut v: u32 = 0;
    loop {
        let Some(&b) = data.get(*pos) else {
            return Err(FormatError::new(
                "h264 sei",
                at + *pos as u64,
                Problem::Truncated { what, need: 1 },
            ));
        };
        *pos += 1;
        v = v.saturating_add(u32::from(b));
        if b != 0xff {
            return Ok(v);
        }
    }
}

/// Parses the messages of an SEI NAL unit (header byte included); `offset` is the NAL unit's
/// absolute offset. Offsets in errors count RBSP bytes after the header.
pub fn parse(nal: &[u8], offset: u64) -> Result<Vec<SeiMessage>, FormatError> {
    let rbsp = remove_emulation_prevention(nal.get(1..).unwrap_or(&[]));
    let rbsp = Bytes::copy_from_slice(&rbsp);
    let base = offset + 1;
    let mut pos = 0usize;
    let mut out = Vec::new();
    // more_rbsp_data(): stop at the rbsp_stop_one_bit byte (0x80) at the end.
    while pos < rbsp.len() && !(pos + 1 == rbsp.len() && rbsp[pos] == 0x80) {
        if out.len() >= MAX_SEI_MESSAGES {
            return Err(FormatError::new(
                "h264 sei",
                base + pos as u64,
                Problem::Limit {
                    what: "SEI messages in one NAL unit",
                    limit: MAX_SEI_MESSAGES as u64,
                },
            ));
        }
        let payload_type = SeiType(ff_value(&rbsp, &mut pos, "payloadType", base)?);
        let size = ff_value(&rbsp, &mut pos, "payloadSize", base)? as usize;
        let Some(payload) = rbsp.get(pos..pos.saturating_add(size)) else {
            return Err(FormatError::new(
                "h264 sei",
                base + pos as u64,
                Problem::Truncated {
                    what: "SEI payload",
                    need: (pos + size - rbsp.len()) as u64,
                },
            ));
        };
        let recovery_point = if payload_type == SeiType::RECOVERY_POINT {
            let mut r = BitReader::new(payload, base + pos as u64, "h264 sei");
            Some(RecoveryPoint {
                recovery_frame_cnt: r.read_ue("recovery_frame_cnt")?,
                exact_match: r.read_bit("exact_match_flag")?,
                broken_link: r.read_bit("broken_link_flag")?,
            })
        } else {
            None
        };
        out.push(SeiMessage {
            payload_type,
            payload: rbsp.slice(pos..pos + size),
            recovery_point,
        });
        pos += size;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_point_and_user_data() {
        // Hand-made SEI NAL: header 0x06; message type 6 size 1 with `1 1 0 00 1xx`:
        // recovery_frame_cnt ue(v) "1" = 0, exact_match 1, broken_link 0, changing_slice_group_idc 00
        // = 0b1100_0100 = 0xc4; then type 5 size 17: a UUID of 0x11 bytes + 'A'; stop bit 0x80.
        let mut nal = vec![0x06, 6, 1, 0xc4, 5, 17];
        nal.extend_from_slice(&[0x11; 16]);
        nal.push(b'A');
        nal.push(0x80);
        let m = parse(&nal, 100).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0].recovery_point,
            Some(RecoveryPoint {
                recovery_frame_cnt: 0,
                exact_match: true,
                broken_link: false
            })
        );
        assert_eq!(m[1].payload_type.name(), "user_data_unregistered");
        assert_eq!(m[1].user_data().unwrap().1, "A");
        // Payload running past the end: an error at the payload's first byte (RBSP offset).
        let e = parse(&[0x06, 5, 40, 1, 2], 100).unwrap_err();
        assert_eq!(e.offset, 103);
    }
}
