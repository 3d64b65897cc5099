//! Decoders for the AAC Huffman codebooks: the scalefactor codebook and the eleven spectral
//! codebooks of ISO/IEC 14496-3 4.A, each a binary tree walked one bit at a time.
//!
//! mist only needs to know where each codeword ends and which values it stands for (to count
//! sign bits and escapes), never the dequantised spectrum, so the decoders return indexes.

use std::sync::OnceLock;

use super::tables;
use crate::formats::error::FormatError;
use crate::io::BitReader;

/// A prefix code as a flat binary tree. `nodes[n][bit]` is 0 for "no such code", a positive
/// number for the next node, or `-(index + 1)` for a leaf.
#[derive(Debug)]
pub(super) struct Codebook {
    nodes: Vec<[i32; 2]>,
    /// What the next 8 bits lead to: a codeword of at most 8 bits, or the node 8 bits down
    /// (most codewords are short: one lookup instead of a bit-by-bit walk).
    first_byte: Vec<Step>,
}

/// One entry of [`Codebook::first_byte`].
#[derive(Clone, Copy, Debug)]
enum Step {
    /// A codeword of `len` bits with this index.
    Leaf { index: u16, len: u8 },
    /// No codeword ends within 8 bits: continue from this node.
    Node(u32),
    /// No codeword starts so (an incomplete code).
    Invalid,
}

/// Why a table is not a usable prefix code (only a transcription error can cause this).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum BuildError {
    /// A codeword is a prefix of another, or two codewords are equal.
    NotPrefixFree(usize),
    /// A length of 0 or more than 32 bits.
    BadLength(usize),
}

impl Codebook {
    /// Builds the tree for codewords `codes[i]` of `lens[i]` bits (index `i`).
    pub(super) fn build(codes: &[u32], lens: &[u8]) -> Result<Codebook, BuildError> {
        let mut nodes: Vec<[i32; 2]> = vec![[0, 0]];
        for (index, (&code, &len)) in codes.iter().zip(lens).enumerate() {
            if len == 0 || len > 32 {
                return Err(BuildError::BadLength(index));
            }
            let mut node = 0usize;
            for depth in (0..len).rev() {
                let bit = ((code >> depth) & 1) as usize;
                let slot = nodes[node][bit];
                if depth == 0 {
                    if slot != 0 {
                        return Err(BuildError::NotPrefixFree(index));
                    }
                    nodes[node][bit] = -(index as i32 + 1);
                } else if slot < 0 {
                    return Err(BuildError::NotPrefixFree(index));
                } else if slot == 0 {
                    nodes.push([0, 0]);
                    let next = nodes.len() - 1;
                    nodes[node][bit] = next as i32;
                    node = next;
                } else {
                    node = slot as usize;
                }
            }
        }
        let first_byte = (0..=255u32)
            .map(|byte| {
                let mut node = 0usize;
                for depth in 0..8 {
                    let bit = ((byte >> (7 - depth)) & 1) as usize;
                    match nodes[node][bit] {
                        0 => return Step::Invalid,
                        next if next < 0 => {
                            return Step::Leaf {
                                index: (-next - 1) as u16,
                                len: depth as u8 + 1,
                            }
                        }
                        next => node = next as usize,
                    }
                }
                Step::Node(node as u32)
            })
            .collect();
        Ok(Codebook { nodes, first_byte })
    }

    #[cfg(test)]
    /// True when every path ends in a codeword (the code is complete: Kraft sum 1).
    pub(super) fn is_complete(&self) -> bool {
        self.nodes.iter().all(|n| n[0] != 0 && n[1] != 0)
    }

    /// Reads one codeword and returns its index.
    pub(super) fn decode(
        &self,
        r: &mut BitReader<'_>,
        field: &'static str,
    ) -> Result<usize, FormatError> {
        let mut node = 0usize;
        if r.bits_left() >= 8 {
            match self.first_byte[usize::from(r.peek_byte())] {
                Step::Leaf { index, len } => {
                    r.skip(usize::from(len), field)?;
                    return Ok(usize::from(index));
                }
                Step::Node(n) => {
                    r.skip(8, field)?;
                    node = n as usize;
                }
                Step::Invalid => {}
            }
        }
        loop {
            let bit = r.read_bits(1, field)? as usize;
            let next = self.nodes[node][bit];
            if next < 0 {
                return Ok((-next - 1) as usize);
            }
            if next == 0 {
                // Only reachable for an incomplete code; every AAC codebook is complete.
                return Err(r.invalid(format_args!("{field}: no such Huffman codeword")));
            }
            node = next as usize;
        }
    }
}

/// Shape of a spectral codebook (14496-3 Table 4.148).
#[derive(Clone, Copy, Debug)]
pub(super) struct SpectralShape {
    /// Values per codeword: 4 (codebooks 1–4) or 2 (5–11).
    pub dim: usize,
    /// True for codebooks whose codewords carry magnitudes and separate sign bits.
    pub unsigned: bool,
    /// Values per dimension in the index (LAV + 1 when unsigned, 2·LAV + 1 when signed).
    pub modulo: usize,
}

/// Shapes of spectral codebooks 1..=11 (index 0 is codebook 1).
pub(super) const SPECTRAL_SHAPES: [SpectralShape; 11] = [
    shape(4, false, 3),
    shape(4, false, 3),
    shape(4, true, 3),
    shape(4, true, 3),
    shape(2, false, 9),
    shape(2, false, 9),
    shape(2, true, 8),
    shape(2, true, 8),
    shape(2, true, 13),
    shape(2, true, 13),
    shape(2, true, 17),
];

const fn shape(dim: usize, unsigned: bool, modulo: usize) -> SpectralShape {
    SpectralShape {
        dim,
        unsigned,
        modulo,
    }
}

/// The escape codebook's "escape follows" magnitude.
pub(super) const ESC_FLAG: usize = 16;

/// The scalefactor codebook and spectral codebooks 1..=11 (index 0 is the scalefactor one).
pub(super) fn codebooks() -> &'static [Codebook; 12] {
    static BOOKS: OnceLock<[Codebook; 12]> = OnceLock::new();
    BOOKS.get_or_init(|| {
        let spectral: [(&[u16], &[u8]); 11] = [
            (&tables::CODES_1, &tables::LENS_1),
            (&tables::CODES_2, &tables::LENS_2),
            (&tables::CODES_3, &tables::LENS_3),
            (&tables::CODES_4, &tables::LENS_4),
            (&tables::CODES_5, &tables::LENS_5),
            (&tables::CODES_6, &tables::LENS_6),
            (&tables::CODES_7, &tables::LENS_7),
            (&tables::CODES_8, &tables::LENS_8),
            (&tables::CODES_9, &tables::LENS_9),
            (&tables::CODES_10, &tables::LENS_10),
            (&tables::CODES_11, &tables::LENS_11),
        ];
        // The tables are constants checked by the tests below; an inconsistent one can only
        // be a transcription error, so it yields an empty (always failing) decoder rather
        // than a panic.
        std::array::from_fn(|i| {
            let built = match i.checked_sub(1) {
                None => Codebook::build(&tables::SCALEFACTOR_CODES, &tables::SCALEFACTOR_LENS),
                Some(cb) => {
                    let (codes, lens) = spectral[cb];
                    let codes: Vec<u32> = codes.iter().map(|&c| u32::from(c)).collect();
                    Codebook::build(&codes, lens)
                }
            };
            built.unwrap_or_else(|_| Codebook {
                nodes: vec![[0, 0]],
                first_byte: vec![Step::Invalid; 256],
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spectral_table(cb: usize) -> (Vec<u32>, Vec<u8>) {
        let (codes, lens): (&[u16], &[u8]) = match cb {
            1 => (&tables::CODES_1, &tables::LENS_1),
            2 => (&tables::CODES_2, &tables::LENS_2),
            3 => (&tables::CODES_3, &tables::LENS_3),
            4 => (&tables::CODES_4, &tables::LENS_4),
            5 => (&tables::CODES_5, &tables::LENS_5),
            6 => (&tables::CODES_6, &tables::LENS_6),
            7 => (&tables::CODES_7, &tables::LENS_7),
            8 => (&tables::CODES_8, &tables::LENS_8),
            9 => (&tables::CODES_9, &tables::LENS_9),
            10 => (&tables::CODES_10, &tables::LENS_10),
            _ => (&tables::CODES_11, &tables::LENS_11),
        };
        (codes.iter().map(|&c| u32::from(c)).collect(), lens.to_vec())
    }

    #[test]
    fn every_codebook_is_a_complete_prefix_code_of_the_right_size() {
        // A transcription slip (one wrong bit or length) breaks prefix-freeness or the Kraft
        // equality; the sizes are (LAV+1)^dim or (2·LAV+1)^dim from Table 4.148.
        let sf = Codebook::build(&tables::SCALEFACTOR_CODES, &tables::SCALEFACTOR_LENS);
        assert!(sf.as_ref().is_ok_and(Codebook::is_complete), "{sf:?}");
        for cb in 1..=11 {
            let (codes, lens) = spectral_table(cb);
            let s = SPECTRAL_SHAPES[cb - 1];
            assert_eq!(
                codes.len(),
                s.modulo.pow(s.dim as u32),
                "codebook {cb} size"
            );
            let book = Codebook::build(&codes, &lens).expect("prefix-free");
            assert!(book.is_complete(), "codebook {cb} is not complete");
        }
    }

    #[test]
    fn decodes_each_codeword_back_to_its_index() {
        for (cb, book) in codebooks().iter().enumerate().skip(1) {
            let (codes, lens) = spectral_table(cb);
            let mut w = crate::io::BitWriter::new();
            for (&c, &l) in codes.iter().zip(&lens) {
                w.write_bits(u32::from(l), u64::from(c));
            }
            let bytes = w.into_bytes();
            let mut r = BitReader::new(&bytes, 0, "test");
            for i in 0..codes.len() {
                assert_eq!(book.decode(&mut r, "x").expect("codeword"), i);
            }
        }
        // Scalefactor index 60 (difference 0) is the 1-bit codeword 0.
        let mut r = BitReader::new(&[0x00], 0, "test");
        assert_eq!(codebooks()[0].decode(&mut r, "sf").expect("codeword"), 60);
        assert_eq!(r.bit_position(), 1);
    }
}
