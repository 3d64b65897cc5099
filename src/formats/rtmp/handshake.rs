//! The RTMP handshake, plain (RTMP 1.0 §5.2) and digest ("complex", Flash Player 9 and later).
//!
//! ```text
//! C0/S0   1 byte     version (3)
//! C1/S1   1536 bytes time (4, BE) | zero or version (4) | 1528 random bytes
//! C2/S2   1536 bytes plain: an echo of the peer's C1/S1
//! ```
//!
//! **Digest form.** Flash Player sends a non-zero version in C1 bytes 4..8 and hides an
//! HMAC-SHA256 digest of the rest of the packet at an offset computed from four of its own
//! bytes. There are two layouts ([`Scheme`]); the key is the first 30 bytes of
//! [`FP_KEY`] ("Genuine Adobe Flash Player 001"). A server that finds a valid digest answers
//! with an S1 signed the same way with the first 36 bytes of [`FMS_KEY`] ("Genuine Adobe Flash
//! Media Server 001"), and an S2 whose last 32 bytes are `HMAC(HMAC(FMS_KEY, C1 digest), S2
//! without them)`. The client's C2 mirrors that with [`FP_KEY`]. FFmpeg's RTMP client sends a
//! digest C1 and, when playing, checks the server's S1/S2 this way when S1's version byte is 3
//! or more, so a server must get it right or not claim it (a plain S1 has version 0).
//! The keys and layouts are the ones FFmpeg (`rtmpproto.c`), librtmp (`handshake.h`), SRS and
//! nginx-rtmp all carry; the spec itself documents only the plain form.
//!
//! The peer's C2 is read and not checked: clients differ in what they put there (FFmpeg signs
//! it, OBS echoes S1, some send zeros) and nothing depends on it.
//!
//! RTMPE (version 6, Diffie-Hellman + RC4) is refused: no encoder in use needs it.

use bytes::{BufMut, BytesMut};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::formats::error::{FormatError, Problem};

use super::FORMAT;

/// The protocol version in C0/S0.
pub const RTMP_VERSION: u8 = 3;
/// Bytes in C1, S1, C2 and S2.
pub const PACKET_LEN: usize = 1536;
/// Bytes of an HMAC-SHA256 digest.
pub const DIGEST_LEN: usize = 32;
/// Digest offsets range over this many positions within their 764-byte half of the packet.
const OFFSET_RANGE: usize = 728;

/// The Flash Player key: "Genuine Adobe Flash Player 001" plus 32 constant bytes.
pub const FP_KEY: [u8; 62] = {
    let mut k = [0u8; 62];
    let text = b"Genuine Adobe Flash Player 001";
    let mut i = 0;
    while i < text.len() {
        k[i] = text[i];
        i += 1;
    }
    let mut j = 0;
    while j < KEY_TAIL.len() {
        k[text.len() + j] = KEY_TAIL[j];
        j += 1;
    }
    k
};
/// The Flash Media Server key: "Genuine Adobe Flash Media Server 001" plus the same 32 bytes.
pub const FMS_KEY: [u8; 68] = {
    let mut k = [0u8; 68];
    let text = b"Genuine Adobe Flash Media Server 001";
    let mut i = 0;
    while i < text.len() {
        k[i] = text[i];
        i += 1;
    }
    let mut j = 0;
    while j < KEY_TAIL.len() {
        k[text.len() + j] = KEY_TAIL[j];
        j += 1;
    }
    k
};
/// The 32 bytes both keys end with.
const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];
/// C1 digests are keyed with the text part of [`FP_KEY`] only.
const FP_KEY_TEXT: usize = 30;
/// S1 digests are keyed with the text part of [`FMS_KEY`] only.
const FMS_KEY_TEXT: usize = 36;
/// The version this server writes into a digest S1 (FMS 4.5.0.1, as nginx-rtmp and SRS do).
const SERVER_VERSION: [u8; 4] = [4, 5, 0, 1];
/// The version a digest C1 from [`ClientHandshake`] carries (Flash Player 9.0.124.2, FFmpeg's).
const CLIENT_VERSION: [u8; 4] = [9, 0, 124, 2];

/// Where a digest sits in C1/S1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Offset = (sum of bytes 8..12) mod 728 + 12: the "key after digest" layout Flash Player 9
    /// and FFmpeg send.
    Offset8,
    /// Offset = (sum of bytes 772..776) mod 728 + 776: the "digest after key" layout.
    Offset772,
}

impl Scheme {
    /// Both schemes, in the order servers try them.
    pub const ALL: [Scheme; 2] = [Scheme::Offset8, Scheme::Offset772];

    /// The digest's first byte in `packet`.
    pub fn digest_at(self, packet: &[u8; PACKET_LEN]) -> usize {
        let (sum_at, base) = match self {
            Scheme::Offset8 => (8, 12),
            Scheme::Offset772 => (772, 776),
        };
        let sum: usize = packet[sum_at..sum_at + 4]
            .iter()
            .map(|&b| usize::from(b))
            .sum();
        sum % OFFSET_RANGE + base
    }
}

/// What the peer's C1 was answered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeKind {
    /// Echoes (C1 had no valid digest).
    Plain,
    /// Digest S1/S2 in the scheme the client used.
    Digest(Scheme),
}

/// HMAC-SHA256 of the concatenated `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// The digest of `packet` without its 32 bytes at `at`.
fn digest_over(packet: &[u8; PACKET_LEN], at: usize, key: &[u8]) -> [u8; DIGEST_LEN] {
    hmac_sha256(key, &[&packet[..at], &packet[at + DIGEST_LEN..]])
}

/// The scheme whose digest in `packet` is valid under `key`, and the digest.
pub fn find_digest(packet: &[u8; PACKET_LEN], key: &[u8]) -> Option<(Scheme, [u8; DIGEST_LEN])> {
    Scheme::ALL.into_iter().find_map(|s| {
        let at = s.digest_at(packet);
        let want = digest_over(packet, at, key);
        (packet[at..at + DIGEST_LEN] == want).then_some((s, want))
    })
}

/// Writes the digest of `packet` at `scheme`'s offset and returns it.
pub fn sign(packet: &mut [u8; PACKET_LEN], scheme: Scheme, key: &[u8]) -> [u8; DIGEST_LEN] {
    let at = scheme.digest_at(packet);
    let d = digest_over(packet, at, key);
    packet[at..at + DIGEST_LEN].copy_from_slice(&d);
    d
}

/// Signs a C2/S2: its last 32 bytes become `HMAC(HMAC(long_key, peer_digest), the rest)`.
pub fn sign_echo(packet: &mut [u8; PACKET_LEN], peer_digest: &[u8; DIGEST_LEN], long_key: &[u8]) {
    let key = hmac_sha256(long_key, &[peer_digest]);
    let sig = hmac_sha256(&key, &[&packet[..PACKET_LEN - DIGEST_LEN]]);
    packet[PACKET_LEN - DIGEST_LEN..].copy_from_slice(&sig);
}

/// True when a C2/S2 carries the signature [`sign_echo`] writes.
pub fn verify_echo(
    packet: &[u8; PACKET_LEN],
    peer_digest: &[u8; DIGEST_LEN],
    long_key: &[u8],
) -> bool {
    let key = hmac_sha256(long_key, &[peer_digest]);
    let sig = hmac_sha256(&key, &[&packet[..PACKET_LEN - DIGEST_LEN]]);
    packet[PACKET_LEN - DIGEST_LEN..] == sig
}

/// A small deterministic generator for the handshake's filler bytes (splitmix64). The
/// "random" bytes carry no security in RTMP; a caller-provided seed keeps the session sans-IO
/// and its tests reproducible.
#[derive(Clone, Debug)]
pub struct Filler(u64);

impl Filler {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Filler {
        Filler(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fills `out` with filler bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        for c in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

fn bad_version(v: u8, at: u64) -> FormatError {
    let problem = if v == 6 || v == 8 || v == 9 {
        Problem::Unsupported(format!("RTMPE (encrypted RTMP, version {v})"))
    } else {
        Problem::BadValue {
            field: "RTMP version (C0)",
            value: u64::from(v),
        }
    };
    FormatError::new(FORMAT, at, problem)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerState {
    /// Waiting for C0 + C1.
    C0C1,
    /// S0 S1 S2 sent; waiting for C2.
    C2,
    /// Finished: chunk streams follow.
    Done,
}

/// The server side of the handshake: feed the client's bytes, get S0 S1 S2 back.
#[derive(Clone, Debug)]
pub struct ServerHandshake {
    state: ServerState,
    buf: Vec<u8>,
    filler: Filler,
    time_ms: u32,
    kind: Option<HandshakeKind>,
}

impl ServerHandshake {
    /// A handshake whose S1 carries `time_ms` (the server's epoch) and filler from `seed`.
    pub fn new(seed: u64, time_ms: u32) -> ServerHandshake {
        ServerHandshake {
            state: ServerState::C0C1,
            buf: Vec::with_capacity(1 + PACKET_LEN),
            filler: Filler::new(seed),
            time_ms,
            kind: None,
        }
    }

    /// True once C2 has been read.
    pub fn is_done(&self) -> bool {
        self.state == ServerState::Done
    }

    /// How the client was answered, once C1 has been read.
    pub fn kind(&self) -> Option<HandshakeKind> {
        self.kind
    }

    /// Takes what it needs from `input` (whose first byte is at absolute offset `at`) and
    /// appends any answer to `out`; returns the number of bytes consumed. Bytes after C2
    /// belong to the chunk streams and are left alone.
    pub fn feed(
        &mut self,
        input: &[u8],
        at: u64,
        out: &mut BytesMut,
    ) -> Result<usize, FormatError> {
        let mut used = 0;
        while used < input.len() && self.state != ServerState::Done {
            let want = match self.state {
                ServerState::C0C1 => 1 + PACKET_LEN,
                _ => PACKET_LEN,
            };
            if self.state == ServerState::C0C1 && self.buf.is_empty() {
                let v = input[used];
                if v != RTMP_VERSION {
                    return Err(bad_version(v, at + used as u64));
                }
            }
            let n = (want - self.buf.len()).min(input.len() - used);
            self.buf.extend_from_slice(&input[used..used + n]);
            used += n;
            if self.buf.len() < want {
                break;
            }
            match self.state {
                ServerState::C0C1 => {
                    let mut c1 = [0u8; PACKET_LEN];
                    c1.copy_from_slice(&self.buf[1..]);
                    self.answer(&c1, out);
                    self.state = ServerState::C2;
                }
                _ => self.state = ServerState::Done,
            }
            self.buf.clear();
        }
        Ok(used)
    }

    /// S0 S1 S2 for `c1`.
    fn answer(&mut self, c1: &[u8; PACKET_LEN], out: &mut BytesMut) {
        // Only a C1 announcing a version can carry a digest (plain C1s have zeros there).
        let digest = if c1[4..8] != [0, 0, 0, 0] {
            find_digest(c1, &FP_KEY[..FP_KEY_TEXT])
        } else {
            None
        };
        let mut s1 = [0u8; PACKET_LEN];
        self.filler.fill(&mut s1[8..]);
        s1[..4].copy_from_slice(&self.time_ms.to_be_bytes());
        out.reserve(1 + 2 * PACKET_LEN);
        out.put_u8(RTMP_VERSION);
        match digest {
            Some((scheme, client_digest)) => {
                s1[4..8].copy_from_slice(&SERVER_VERSION);
                sign(&mut s1, scheme, &FMS_KEY[..FMS_KEY_TEXT]);
                let mut s2 = [0u8; PACKET_LEN];
                self.filler.fill(&mut s2);
                sign_echo(&mut s2, &client_digest, &FMS_KEY);
                out.put_slice(&s1);
                out.put_slice(&s2);
                self.kind = Some(HandshakeKind::Digest(scheme));
            }
            None => {
                out.put_slice(&s1);
                out.put_slice(c1);
                self.kind = Some(HandshakeKind::Plain);
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientState {
    S0S1S2,
    Done,
}

/// The client side: what mist sends when it pushes or pulls over RTMP, and what the tests use
/// to talk to the server.
#[derive(Clone, Debug)]
pub struct ClientHandshake {
    state: ClientState,
    buf: Vec<u8>,
    digest: Option<[u8; DIGEST_LEN]>,
    filler: Filler,
    verified: Option<bool>,
}

impl ClientHandshake {
    /// A handshake and the C0 C1 to send: plain (`None`) or with a digest in `scheme`.
    pub fn new(seed: u64, scheme: Option<Scheme>) -> (ClientHandshake, Vec<u8>) {
        let mut filler = Filler::new(seed);
        let mut c1 = [0u8; PACKET_LEN];
        filler.fill(&mut c1[8..]);
        let digest = scheme.map(|s| {
            c1[4..8].copy_from_slice(&CLIENT_VERSION);
            sign(&mut c1, s, &FP_KEY[..FP_KEY_TEXT])
        });
        let mut first = Vec::with_capacity(1 + PACKET_LEN);
        first.push(RTMP_VERSION);
        first.extend_from_slice(&c1);
        let hs = ClientHandshake {
            state: ClientState::S0S1S2,
            buf: Vec::with_capacity(1 + 2 * PACKET_LEN),
            digest,
            filler,
            verified: None,
        };
        (hs, first)
    }

    /// True once S0 S1 S2 have been read and C2 written.
    pub fn is_done(&self) -> bool {
        self.state == ClientState::Done
    }

    /// For a digest C1: whether the server's S1 and S2 carried valid digests (`None` before
    /// they arrived or for a plain C1).
    pub fn server_verified(&self) -> Option<bool> {
        self.verified
    }

    /// Takes S0 S1 S2 from `input` and appends C2 to `out`; returns the bytes consumed.
    pub fn feed(&mut self, input: &[u8], at: u64, out: &mut Vec<u8>) -> Result<usize, FormatError> {
        if self.state == ClientState::Done {
            return Ok(0);
        }
        if self.buf.is_empty() {
            if let Some(&v) = input.first() {
                if v != RTMP_VERSION {
                    return Err(bad_version(v, at));
                }
            }
        }
        let want = 1 + 2 * PACKET_LEN;
        let n = (want - self.buf.len()).min(input.len());
        self.buf.extend_from_slice(&input[..n]);
        if self.buf.len() < want {
            return Ok(n);
        }
        let mut s1 = [0u8; PACKET_LEN];
        s1.copy_from_slice(&self.buf[1..1 + PACKET_LEN]);
        let mut s2 = [0u8; PACKET_LEN];
        s2.copy_from_slice(&self.buf[1 + PACKET_LEN..]);
        let server_digest = if self.digest.is_some() && s1[4] != 0 {
            find_digest(&s1, &FMS_KEY[..FMS_KEY_TEXT])
        } else {
            None
        };
        if let Some(mine) = &self.digest {
            self.verified = Some(server_digest.is_some() && verify_echo(&s2, mine, &FMS_KEY));
        }
        match server_digest {
            Some((_, d)) => {
                let mut c2 = [0u8; PACKET_LEN];
                self.filler.fill(&mut c2);
                sign_echo(&mut c2, &d, &FP_KEY);
                out.extend_from_slice(&c2);
            }
            None => out.extend_from_slice(&s1),
        }
        self.state = ClientState::Done;
        self.buf = Vec::new();
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spell_the_published_texts() {
        assert_eq!(&FP_KEY[..30], b"Genuine Adobe Flash Player 001");
        assert_eq!(&FMS_KEY[..36], b"Genuine Adobe Flash Media Server 001");
        assert_eq!(FP_KEY[30..], FMS_KEY[36..]);
        assert_eq!(FMS_KEY[67], 0xAE);
    }

    #[test]
    fn hmac_sha256_matches_rfc4231_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        let d = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        let want = [
            0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
            0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9,
            0x64, 0xec, 0x38, 0x43,
        ];
        assert_eq!(d, want);
    }

    #[test]
    fn digest_offsets_hand_computed() {
        let mut p = [0u8; PACKET_LEN];
        p[8..12].copy_from_slice(&[200, 200, 200, 200]); // 800 % 728 = 72 -> 84
        p[772..776].copy_from_slice(&[1, 2, 3, 4]); // 10 -> 786
        assert_eq!(Scheme::Offset8.digest_at(&p), 84);
        assert_eq!(Scheme::Offset772.digest_at(&p), 786);
        // The largest sums stay inside their half: 1020 % 728 + 12 + 32 <= 764.
        p[8..12].copy_from_slice(&[255; 4]);
        assert!(Scheme::Offset8.digest_at(&p) + DIGEST_LEN <= 772);
    }

    fn run(seed: u64, scheme: Option<Scheme>, split: usize) -> (ClientHandshake, ServerHandshake) {
        let (mut client, c0c1) = ClientHandshake::new(seed, scheme);
        let mut server = ServerHandshake::new(seed ^ 0xABCD, 1234);
        let mut s_out = BytesMut::new();
        let (a, b) = c0c1.split_at(split.min(c0c1.len()));
        assert_eq!(server.feed(a, 0, &mut s_out).unwrap(), a.len());
        assert_eq!(server.feed(b, a.len() as u64, &mut s_out).unwrap(), b.len());
        assert_eq!(s_out.len(), 1 + 2 * PACKET_LEN);
        let mut c2 = Vec::new();
        let (a, b) = s_out.split_at(split.min(s_out.len()));
        client.feed(a, 0, &mut c2).unwrap();
        client.feed(b, 0, &mut c2).unwrap();
        assert!(client.is_done());
        assert_eq!(c2.len(), PACKET_LEN);
        // C2 followed by chunk bytes: the server takes exactly C2.
        c2.extend_from_slice(&[0x02, 0, 0]);
        assert_eq!(server.feed(&c2, 0, &mut s_out).unwrap(), PACKET_LEN);
        assert!(server.is_done());
        (client, server)
    }

    #[test]
    fn plain_round_trip_echoes() {
        let (client, server) = run(7, None, 700);
        assert_eq!(server.kind(), Some(HandshakeKind::Plain));
        assert_eq!(client.server_verified(), None);
    }

    #[test]
    fn digest_round_trip_in_both_schemes_at_every_tenth_split() {
        for scheme in Scheme::ALL {
            for split in (0..=1 + 2 * PACKET_LEN).step_by(97) {
                let (client, server) = run(split as u64, Some(scheme), split);
                assert_eq!(server.kind(), Some(HandshakeKind::Digest(scheme)));
                assert_eq!(client.server_verified(), Some(true));
            }
        }
    }

    #[test]
    fn a_corrupted_digest_gets_a_plain_answer() {
        let (_, mut c0c1) = ClientHandshake::new(3, Some(Scheme::Offset8));
        let mut c1 = [0u8; PACKET_LEN];
        c1.copy_from_slice(&c0c1[1..]);
        let at = Scheme::Offset8.digest_at(&c1);
        c0c1[1 + at] ^= 1;
        let mut server = ServerHandshake::new(1, 0);
        let mut out = BytesMut::new();
        server.feed(&c0c1, 0, &mut out).unwrap();
        assert_eq!(server.kind(), Some(HandshakeKind::Plain));
        // S2 echoes C1 byte for byte.
        assert_eq!(&out[1 + PACKET_LEN..], &c0c1[1..]);
    }

    /// Oracle: a C0+C1 that FFmpeg 5.1 (`ffmpeg -f flv rtmp://127.0.0.1:PORT/live/x`) sent to a
    /// listener that only recorded it (`tests/fixtures/rtmp/README.md` says how). FFmpeg signs
    /// with the first scheme.
    #[test]
    fn ffmpeg_c1_digest_validates() {
        let c0c1 = include_bytes!("../../../tests/fixtures/rtmp/ffmpeg_c0c1.bin");
        assert_eq!(c0c1.len(), 1 + PACKET_LEN);
        assert_eq!(c0c1[0], RTMP_VERSION);
        let mut c1 = [0u8; PACKET_LEN];
        c1.copy_from_slice(&c0c1[1..]);
        assert_eq!(
            &c1[4..8],
            &CLIENT_VERSION,
            "FFmpeg announces Flash Player 9.0.124.2"
        );
        let (scheme, _) = find_digest(&c1, &FP_KEY[..FP_KEY_TEXT]).expect("FFmpeg's digest");
        assert_eq!(scheme, Scheme::Offset8);
        let mut server = ServerHandshake::new(9, 0);
        let mut out = BytesMut::new();
        server.feed(c0c1, 0, &mut out).unwrap();
        assert_eq!(server.kind(), Some(HandshakeKind::Digest(Scheme::Offset8)));
        let mut s1 = [0u8; PACKET_LEN];
        s1.copy_from_slice(&out[1..1 + PACKET_LEN]);
        assert!(find_digest(&s1, &FMS_KEY[..FMS_KEY_TEXT]).is_some());
    }

    #[test]
    fn wrong_versions_are_errors_at_their_offset() {
        let mut server = ServerHandshake::new(0, 0);
        let e = server
            .feed(b"GET / HTTP/1.1", 0, &mut BytesMut::new())
            .unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(e.to_string().contains("RTMP version"), "{e}");
        let mut server = ServerHandshake::new(0, 0);
        let e = server.feed(&[6], 0, &mut BytesMut::new()).unwrap_err();
        assert!(e.to_string().contains("RTMPE"), "{e}");
    }

    #[test]
    fn half_handshake_waits_and_keeps_at_most_one_packet() {
        let mut server = ServerHandshake::new(0, 0);
        let mut out = BytesMut::new();
        let mut c = vec![RTMP_VERSION];
        c.extend_from_slice(&[0x55; 1000]);
        assert_eq!(server.feed(&c, 0, &mut out).unwrap(), c.len());
        assert!(out.is_empty() && !server.is_done());
        assert!(server.buf.capacity() <= 2 * (1 + PACKET_LEN));
    }
}
