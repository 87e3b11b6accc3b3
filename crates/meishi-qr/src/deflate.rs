//! Raw deflate (RFC 1951) with a preset dictionary, for the payload's field stream.
//! proto-spec/qr.md#compression
//!
//! The encoder is our own: one block with the fixed Huffman codes and an optimal parse (a
//! shortest path over exact bit costs), which beats zlib's dynamic blocks on inputs of a few
//! hundred bytes where a dynamic code table costs more than it saves, and gives the same bytes
//! on every platform so the test vectors are stable. The decoder is miniz_oxide's, fed any valid
//! raw deflate stream, with the dictionary placed before the output so matches can reach it, and
//! with the output capped.

use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

/// Largest match length and distance of deflate.
const MAX_MATCH: usize = 258;
const MIN_MATCH: usize = 3;
const WINDOW: usize = 32 * 1024;
/// Candidates examined per position: bounds the encoder's time on repetitive input.
const MAX_CHAIN: usize = 512;

/// (base length, extra bits) of length codes 257..=285.
const LENGTHS: [(u16, u8); 29] = [
    (3, 0),
    (4, 0),
    (5, 0),
    (6, 0),
    (7, 0),
    (8, 0),
    (9, 0),
    (10, 0),
    (11, 1),
    (13, 1),
    (15, 1),
    (17, 1),
    (19, 2),
    (23, 2),
    (27, 2),
    (31, 2),
    (35, 3),
    (43, 3),
    (51, 3),
    (59, 3),
    (67, 4),
    (83, 4),
    (99, 4),
    (115, 4),
    (131, 5),
    (163, 5),
    (195, 5),
    (227, 5),
    (258, 0),
];
/// (base distance, extra bits) of distance codes 0..=29.
const DISTANCES: [(u16, u8); 30] = [
    (1, 0),
    (2, 0),
    (3, 0),
    (4, 0),
    (5, 1),
    (7, 1),
    (9, 2),
    (13, 2),
    (17, 3),
    (25, 3),
    (33, 4),
    (49, 4),
    (65, 5),
    (97, 5),
    (129, 6),
    (193, 6),
    (257, 7),
    (385, 7),
    (513, 8),
    (769, 8),
    (1025, 9),
    (1537, 9),
    (2049, 10),
    (3073, 10),
    (4097, 11),
    (6145, 11),
    (8193, 12),
    (12289, 12),
    (16385, 13),
    (24577, 13),
];

fn length_code(len: usize) -> (usize, u8, u16) {
    // The last code whose base is <= len; 258 has its own code.
    let i = if len == MAX_MATCH {
        28
    } else {
        LENGTHS
            .iter()
            .rposition(|&(b, _)| usize::from(b) <= len)
            .unwrap_or(0)
    };
    let (base, extra) = LENGTHS[i];
    (257 + i, extra, (len - usize::from(base)) as u16)
}

fn distance_code(dist: usize) -> (usize, u8, u16) {
    let i = DISTANCES
        .iter()
        .rposition(|&(b, _)| usize::from(b) <= dist)
        .unwrap_or(0);
    let (base, extra) = DISTANCES[i];
    (i, extra, (dist - usize::from(base)) as u16)
}

/// Fixed Huffman code of a literal/length symbol: (code, bit length). RFC 1951 section 3.2.6.
fn fixed_code(sym: usize) -> (u16, u8) {
    match sym {
        0..=143 => (0x30 + sym as u16, 8),
        144..=255 => (0x190 + (sym - 144) as u16, 9),
        256..=279 => ((sym - 256) as u16, 7),
        _ => (0xC0 + (sym - 280) as u16, 8),
    }
}

fn literal_cost(byte: u8) -> u32 {
    u32::from(fixed_code(usize::from(byte)).1)
}

fn match_cost(len: usize, dist: usize) -> u32 {
    let (sym, lextra, _) = length_code(len);
    let (_, dextra, _) = distance_code(dist);
    u32::from(fixed_code(sym).1) + u32::from(lextra) + 5 + u32::from(dextra)
}

struct BitWriter {
    out: Vec<u8>,
    acc: u32,
    n: u8,
}

impl BitWriter {
    /// Writes `n` bits of `v`, least significant first (deflate's order for everything but codes).
    fn bits(&mut self, v: u16, n: u8) {
        for i in 0..n {
            self.acc |= u32::from((v >> i) & 1) << self.n;
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc as u8);
                self.acc = 0;
                self.n = 0;
            }
        }
    }
    /// Writes a Huffman code, most significant bit first.
    fn code(&mut self, code: u16, len: u8) {
        for i in (0..len).rev() {
            self.bits((code >> i) & 1, 1);
        }
    }
    fn symbol(&mut self, sym: usize) {
        let (c, l) = fixed_code(sym);
        self.code(c, l);
    }
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

#[derive(Clone, Copy)]
enum Step {
    Literal,
    Match { len: usize, dist: usize },
}

/// Compresses `data` as one final fixed-Huffman block that may refer back into `dict`.
pub fn compress(dict: &[u8], data: &[u8]) -> Vec<u8> {
    let dict = &dict[dict.len().saturating_sub(WINDOW)..];
    let all: Vec<u8> = [dict, data].concat();
    let start = dict.len();
    let n = data.len();

    // Hash chains over 3-byte prefixes of `all`: head[h] is the latest position, prev[p] the one
    // before p with the same hash.
    const HASH_SIZE: usize = 1 << 12;
    let hash = |p: usize| -> usize {
        (usize::from(all[p]) << 8 ^ usize::from(all[p + 1]) << 4 ^ usize::from(all[p + 2]))
            % HASH_SIZE
    };
    let mut head = vec![usize::MAX; HASH_SIZE];
    let mut prev = vec![usize::MAX; all.len()];

    // For each data position, the best (cheapest) distance for every reachable match length.
    // cost[i] = cheapest bits to encode data[..i]; choice[i] = the step that ends at i.
    let mut cost = vec![u32::MAX; n + 1];
    let mut choice = vec![Step::Literal; n + 1];
    cost[0] = 0;
    let insert = |p: usize, head: &mut Vec<usize>, prev: &mut Vec<usize>| {
        if p + MIN_MATCH <= all.len() {
            let h = hash(p);
            prev[p] = head[h];
            head[h] = p;
        }
    };
    for p in 0..start {
        insert(p, &mut head, &mut prev);
    }
    for i in 0..n {
        let pos = start + i;
        let here = cost[i];
        // Literal.
        let c = here + literal_cost(data[i]);
        if c < cost[i + 1] {
            cost[i + 1] = c;
            choice[i + 1] = Step::Literal;
        }
        // Matches: walk candidates nearest first; a longer match at a farther distance only adds
        // the lengths no nearer candidate reached (for a given length the nearest is cheapest).
        if pos + MIN_MATCH <= all.len() {
            let max_len = MAX_MATCH.min(all.len() - pos);
            let mut best_len = MIN_MATCH - 1;
            let mut cand = head[hash(pos)];
            let mut chain = 0;
            while cand != usize::MAX && chain < MAX_CHAIN && pos - cand <= WINDOW {
                chain += 1;
                let mut l = 0;
                while l < max_len && all[cand + l] == all[pos + l] {
                    l += 1;
                }
                if l > best_len {
                    let dist = pos - cand;
                    for len in best_len + 1..=l {
                        let c = here + match_cost(len, dist);
                        if c < cost[i + len] {
                            cost[i + len] = c;
                            choice[i + len] = Step::Match { len, dist };
                        }
                    }
                    best_len = l;
                    if l == max_len {
                        break;
                    }
                }
                cand = prev[cand];
            }
        }
        insert(pos, &mut head, &mut prev);
    }

    // Walk back the cheapest path, then emit it forward.
    let mut steps = Vec::new();
    let mut i = n;
    while i > 0 {
        let s = choice[i];
        steps.push((i, s));
        i -= match s {
            Step::Literal => 1,
            Step::Match { len, .. } => len,
        };
    }
    let mut w = BitWriter {
        out: Vec::with_capacity(n),
        acc: 0,
        n: 0,
    };
    w.bits(1, 1); // BFINAL
    w.bits(1, 2); // BTYPE = 01, fixed Huffman codes
    for &(end, s) in steps.iter().rev() {
        match s {
            Step::Literal => w.symbol(usize::from(data[end - 1])),
            Step::Match { len, dist } => {
                let (sym, lextra, lval) = length_code(len);
                w.symbol(sym);
                w.bits(lval, lextra);
                let (dsym, dextra, dval) = distance_code(dist);
                w.code(dsym as u16, 5);
                w.bits(dval, dextra);
            }
        }
    }
    w.symbol(256);
    w.finish()
}

/// Why a deflate stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InflateError {
    #[error("the compressed fields expand beyond {max} bytes")]
    TooLarge { max: usize },
    #[error("the compressed fields are truncated")]
    Truncated,
    #[error("the compressed fields are not valid deflate data")]
    Malformed,
    #[error("{0} bytes follow the end of the compressed fields")]
    TrailingBytes(usize),
}

/// Decompresses a raw deflate stream whose matches may reach into `dict`, producing at most
/// `max` bytes: decompression stops as soon as the cap would be passed.
pub fn decompress_bounded(dict: &[u8], input: &[u8], max: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = vec![0u8; dict.len() + max];
    out[..dict.len()].copy_from_slice(dict);
    let mut state = DecompressorOxide::new();
    let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (status, used, written) = decompress(&mut state, input, &mut out, dict.len(), flags);
    match status {
        TINFLStatus::Done => {}
        TINFLStatus::HasMoreOutput => return Err(InflateError::TooLarge { max }),
        TINFLStatus::NeedsMoreInput | TINFLStatus::FailedCannotMakeProgress => {
            return Err(InflateError::Truncated)
        }
        _ => return Err(InflateError::Malformed),
    }
    if used != input.len() {
        return Err(InflateError::TrailingBytes(input.len() - used));
    }
    out.truncate(dict.len() + written);
    out.drain(..dict.len());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DICT: &[u8] = b"https://www.github.com/ Engineer Manager";

    #[test]
    fn round_trips_and_uses_dictionary() {
        let data = b"Principal Engineer at https://www.github.com/ada, Engineer";
        let z = compress(DICT, data);
        assert!(z.len() < data.len() - 20, "{} vs {}", z.len(), data.len());
        assert_eq!(decompress_bounded(DICT, &z, 4096).expect("test"), data);
        // Without the dictionary the back-references point before the start.
        assert_eq!(
            decompress_bounded(b"", &z, 4096),
            Err(InflateError::Malformed)
        );
    }

    #[test]
    fn caps_output() {
        let data = vec![b'a'; 5000];
        let z = compress(b"", &data);
        assert!(z.len() < 100);
        assert_eq!(
            decompress_bounded(b"", &z, 4096),
            Err(InflateError::TooLarge { max: 4096 })
        );
        assert_eq!(decompress_bounded(b"", &z, 5000).expect("test"), data);
    }

    #[test]
    fn rejects_truncated_and_trailing() {
        let z = compress(DICT, b"hello hello hello");
        assert_eq!(
            decompress_bounded(DICT, &z[..z.len() - 1], 4096),
            Err(InflateError::Truncated)
        );
        let mut long = z.clone();
        long.push(0);
        assert_eq!(
            decompress_bounded(DICT, &long, 4096),
            Err(InflateError::TrailingBytes(1))
        );
        assert_eq!(
            decompress_bounded(DICT, &[], 4096),
            Err(InflateError::Truncated)
        );
    }

    #[test]
    fn length_and_distance_codes() {
        assert_eq!(length_code(3), (257, 0, 0));
        assert_eq!(length_code(12), (265, 1, 1));
        assert_eq!(length_code(257), (284, 5, 30));
        assert_eq!(length_code(258), (285, 0, 0));
        assert_eq!(distance_code(1), (0, 0, 0));
        assert_eq!(distance_code(32768), (29, 13, 8191));
    }

    proptest::proptest! {
        #[test]
        fn round_trip(data: Vec<u8>, dict: Vec<u8>) {
            let z = compress(&dict, &data);
            proptest::prop_assert_eq!(decompress_bounded(&dict, &z, data.len()).expect("test"), data);
        }

        #[test]
        fn round_trip_repetitive(word in "[ab]{1,6}", reps in 1usize..300) {
            let data = word.repeat(reps).into_bytes();
            let z = compress(b"ab", &data);
            proptest::prop_assert_eq!(decompress_bounded(b"ab", &z, data.len()).expect("test"), data);
        }
    }
}
