//! zlib (RFC 1950) around deflate (RFC 1951), tuned for the 100-400 byte token bodies.
//!
//! Why not a general-purpose deflater: on the 156-byte content of a typical token,
//! miniz_oxide takes 10-11 µs and zlib-rs 5 µs (level 1) to 9-10 µs (level 6) even with a
//! reused, reset state (`benches/tokens.rs`, numbers in the README), while a whole token
//! build has a 3 µs budget (its three HMAC-SHA256 take 0.7 µs). A stored block would be fast but makes tokens ~20% longer. Inputs
//! this small afford something better than greedy matching: a shortest-path parse
//! over hash-chain matches priced in fixed-Huffman bits, emitted as one fixed-Huffman
//! block (or stored, when that is smaller); dynamic Huffman tables rarely pay for their
//! header at these sizes. On the published test vectors the streams come out shorter
//! on average than Node's zlib at level 6, in under a microsecond for a typical token
//! body.
//!
//! The inflater accepts every valid zlib stream (stored, fixed and dynamic blocks),
//! checks the header and the Adler-32, refuses trailing bytes and never produces (or
//! reserves) more than the caller's limit.

use std::fmt;

/// Largest back-reference distance deflate allows.
const WINDOW: usize = 32 * 1024;
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
/// Hash-chain candidates examined per position; plenty for token-sized inputs and a
/// bound on the work for long degenerate ones.
const MAX_CHAIN: usize = 16;
/// Match length that ends the search at a position (see `best_match`).
const NICE_MATCH: usize = 16;
/// Input bytes parsed (and emitted as one block) at a time on the large-input path;
/// also keeps a stored fallback block below the 65 535-byte limit.
const CHUNK: usize = 32 * 1024;

/// Base length of length symbols 257..=285.
const LEN_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
/// Base distance of distance symbols 0..=29.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/// Order in which code-length code lengths are transmitted in a dynamic block header.
const CL_ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// Reverses the low `len` bits of `code` (Huffman codes are sent MSB first into an
/// LSB-first bit stream).
const fn reverse_bits(code: u32, len: u32) -> u32 {
    let mut out = 0;
    let mut i = 0;
    while i < len {
        out |= ((code >> i) & 1) << (len - 1 - i);
        i += 1;
    }
    out
}

/// Code length of literal/length symbol `sym` in the fixed Huffman code.
const fn fixed_lit_len(sym: usize) -> u32 {
    match sym {
        0..=143 => 8,
        144..=255 => 9,
        256..=279 => 7,
        _ => 8,
    }
}

/// Canonical code of literal/length symbol `sym` in the fixed Huffman code.
const fn fixed_lit_code(sym: usize) -> u32 {
    match sym {
        0..=143 => 0x30 + sym as u32,
        144..=255 => 0x190 + (sym as u32 - 144),
        256..=279 => sym as u32 - 256,
        _ => 0xC0 + (sym as u32 - 280),
    }
}

/// Packs bits to emit with their count: `value | count << 24`.
const fn packed(value: u32, count: u32) -> u32 {
    value | count << 24
}

/// Fixed-code literal: reversed code and length, packed.
const LIT_ENC: [u32; 256] = {
    let mut t = [0; 256];
    let mut sym = 0;
    while sym < 256 {
        let len = fixed_lit_len(sym);
        t[sym] = packed(reverse_bits(fixed_lit_code(sym), len), len);
        sym += 1;
    }
    t
};

/// Bits of each fixed-code literal (for pricing).
const LIT_BITS: [u8; 256] = {
    let mut t = [0; 256];
    let mut sym = 0;
    while sym < 256 {
        t[sym] = fixed_lit_len(sym) as u8;
        sym += 1;
    }
    t
};

/// Fixed-code match length 3..=258: reversed symbol code followed by the extra bits.
const LEN_ENC: [u32; MAX_MATCH + 1] = {
    let mut t = [0; MAX_MATCH + 1];
    let mut idx = 0;
    while idx < 29 {
        let sym = 257 + idx;
        let len = fixed_lit_len(sym);
        let code = reverse_bits(fixed_lit_code(sym), len);
        let extra = LEN_EXTRA[idx] as u32;
        let mut k = 0;
        while k < (1 << extra) {
            let length = LEN_BASE[idx] as usize + k;
            // Length 258 is reachable as 227 + 31 but must use its own symbol 285.
            if length <= MAX_MATCH && (length < MAX_MATCH || idx == 28) {
                t[length] = packed(code | (k as u32) << len, len + extra);
            }
            k += 1;
        }
        idx += 1;
    }
    t
};

/// The five fixed distance-code bits, reversed.
const DIST_CODE_REV: [u8; 32] = {
    let mut t = [0; 32];
    let mut i = 0;
    while i < 32 {
        t[i] = reverse_bits(i as u32, 5) as u8;
        i += 1;
    }
    t
};

/// Distance 1..=32768 as packed fixed-code bits (symbol then extra bits).
#[inline]
fn dist_enc(dist: usize) -> u32 {
    let x = (dist - 1) as u32;
    if x < 4 {
        return packed(u32::from(DIST_CODE_REV[x as usize]), 5);
    }
    // Symbols come in pairs per power of two: 2*log2 plus the bit below the top one.
    let log = 31 - x.leading_zeros();
    let extra = log - 1;
    let sym = 2 * log + ((x >> extra) & 1);
    let rev = u32::from(DIST_CODE_REV[sym as usize]);
    packed(rev | (x & ((1 << extra) - 1)) << 5, 5 + extra)
}

/// Bits of distance 1..=32768 in the fixed code (cheaper than `dist_enc` for pricing).
#[inline]
fn dist_bits(dist: usize) -> u32 {
    let x = (dist - 1) as u32;
    if x < 4 {
        5
    } else {
        4 + (31 - x.leading_zeros())
    }
}

#[inline]
fn load_u64(data: &[u8], at: usize) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&data[at..at + 8]);
    u64::from_le_bytes(bytes)
}

/// Length of the common prefix of `data[a..]` and `data[b..]`, at most `max`
/// (`b + max` must not exceed `data.len()`, and `a < b`).
#[inline]
fn match_len(data: &[u8], a: usize, b: usize, max: usize) -> usize {
    let mut len = 0;
    while len + 8 <= max {
        let diff = load_u64(data, a + len) ^ load_u64(data, b + len);
        if diff != 0 {
            return len + (diff.trailing_zeros() / 8) as usize;
        }
        len += 8;
    }
    while len < max && data[a + len] == data[b + len] {
        len += 1;
    }
    len
}

/// LSB-first bit sink appending to a `Vec`.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    len: u32,
}

impl BitWriter<'_> {
    /// Appends a `packed` value (at most 31 bits).
    #[inline(always)]
    fn put(&mut self, packed: u32) {
        self.acc |= u64::from(packed & 0x00FF_FFFF) << self.len;
        self.len += packed >> 24;
        if self.len >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.len -= 32;
        }
    }

    /// Flushes pending bits, zero-padding to a byte boundary.
    fn align(&mut self) {
        let bytes = self.len.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
        self.acc = 0;
        self.len = 0;
    }
}

/// Appends a complete zlib stream (header 0x78 0x9C, deflate data, Adler-32) of
/// `input` to `out`.
pub fn zlib_compress(input: &[u8], out: &mut Vec<u8>) {
    let n = input.len();
    // Never more than stored blocks plus header, trailer and bit-flush slack.
    out.reserve(n + 5 * (n / CHUNK + 1) + 10);
    out.extend_from_slice(&[0x78, 0x9C]);
    let mut w = BitWriter { out, acc: 0, len: 0 };
    // Scratch sized to the input: token-sized inputs stay on the stack (and pay only
    // for zeroing a few KiB), anything larger gets chunked heap buffers.
    if n < 256 {
        deflate::<512>(input, &mut [0; 512], &mut [0; 256], &mut [0; 257], n, &mut w);
    } else if n < 1024 {
        deflate::<2048>(input, &mut [0; 2048], &mut [0; 1024], &mut [0; 1025], n, &mut w);
    } else {
        let mut head: Box<[u32; 1 << 15]> = vec![0; 1 << 15].into_boxed_slice().try_into().expect("length matches");
        let span = n.min(WINDOW + CHUNK);
        deflate(input, &mut head, &mut vec![0; span], &mut vec![0; span + 1], CHUNK, &mut w);
    }
    w.align();
    out.extend_from_slice(&adler32(input).to_be_bytes());
}

/// Deflates `input` in chunks of `chunk` bytes, one block per chunk.
///
/// Each chunk is parsed together with the window before it: `head` maps a 3-byte hash
/// to its latest position (`H` is a power of two), `link` and `cost` (one longer)
/// cover window plus chunk.
fn deflate<const H: usize>(
    input: &[u8],
    head: &mut [u32; H],
    link: &mut [u32],
    cost: &mut [u32],
    chunk: usize,
    w: &mut BitWriter<'_>,
) {
    let n = input.len();
    let mut start = 0;
    loop {
        let end = n.min(start + chunk);
        let base = start.saturating_sub(WINDOW);
        if start > 0 {
            head.fill(0);
        }
        let data = &input[base..end];
        hash_chains(data, head, link);
        parse(data, start - base, link, cost);
        emit_block(data, start - base, link, cost[start - base], end == n, w);
        if end == n {
            break;
        }
        start = end;
    }
}

/// Links every position of `data` that starts a 3-byte sequence to the previous one
/// with the same hash: `link[i]` is that position + 1, or 0 at the end of a chain.
fn hash_chains<const H: usize>(data: &[u8], head: &mut [u32; H], link: &mut [u32]) {
    let Some(last) = data.len().checked_sub(MIN_MATCH) else {
        return;
    };
    // Rolling 3-byte prefix: one load per position.
    let mut prefix = u32::from(data[0]) << 8 | u32::from(data[1]) << 16;
    for (i, (slot, &next)) in link[..=last].iter_mut().zip(&data[2..]).enumerate() {
        prefix = prefix >> 8 | u32::from(next) << 16;
        let h = (prefix.wrapping_mul(0x9E37_79B1) >> (32 - H.trailing_zeros())) as usize;
        *slot = head[h];
        head[h] = i as u32 + 1;
    }
}

/// Cheapest parse of `data[from..]` under fixed-Huffman prices, back to front;
/// `data[..from]` is the window. Leaves in `cost[p]` the cheapest bit count from `p`
/// to the end.
///
/// A position's chain only reaches earlier positions, so once a position is priced its
/// `link` slot is free to hold the chosen step: 0 for a literal, else
/// `length | distance << 9`.
fn parse(data: &[u8], from: usize, link: &mut [u32], cost: &mut [u32]) {
    let n = data.len();
    let link = &mut link[..n];
    let cost = &mut cost[..=n];
    cost[n] = 0;
    // Cost from `p + 1`, kept in a register for the literal case.
    let mut next = 0;
    let mut long = LongMatch::default();
    for p in (from..n).rev() {
        let mut best = next + u32::from(LIT_BITS[usize::from(data[p])]);
        let mut step = 0;
        let cand = link[p];
        if cand != 0 && n - p >= MIN_MATCH {
            let (dist, len) = (long.dist as usize, long.len as usize);
            if len != 0 && p >= dist && data[p] == data[p - dist] {
                // Inside a repetition: the long match from `p + 1` continues one byte
                // longer; pricing just that keeps long repetitions linear.
                let len = (len + 1).min(n - p).min(MAX_MATCH);
                let c = (LEN_ENC[len] >> 24) + dist_bits(dist) + cost[p + len];
                if c <= best {
                    best = c;
                    step = len as u32 | (dist as u32) << 9;
                }
                long.len = len as u32;
            } else {
                (best, step, long) = best_match(data, link, cost, p, cand, best);
            }
        } else {
            long = LongMatch::default();
        }
        cost[p] = best;
        link[p] = step;
        next = best;
    }
}

/// A match of at least `NICE_MATCH` bytes: its distance and exact length.
#[derive(Clone, Copy, Default)]
struct LongMatch {
    dist: u32,
    len: u32,
}

/// Prices the matches at `p` (first chain candidate `cand`) against the literal price
/// `best`; returns the cheapest cost, its step (0 if the literal wins) and the long
/// match found at `p`, if any.
///
/// Candidates come nearest first, so each length is priced with the smallest (never
/// more expensive) distance that reaches it. Lengths are priced one by one only up to
/// `NICE_MATCH`; the search stops at the first candidate reaching that, and prices its
/// full length alone. Pricing every length of long matches at every position (and
/// re-measuring them) would make repetitive inputs quadratic for next to no gain.
#[inline(never)]
fn best_match(
    data: &[u8],
    link: &[u32],
    cost: &[u32],
    p: usize,
    mut cand: u32,
    mut best: u32,
) -> (u32, u32, LongMatch) {
    let max_len = (data.len() - p).min(MAX_MATCH);
    let cap = max_len.min(NICE_MATCH);
    let mut step = 0;
    let mut price = |len: usize, dist: usize| {
        let c = (LEN_ENC[len] >> 24) + dist_bits(dist) + cost[p + len];
        // Ties go to the match: fewer symbols to decode.
        if c <= best {
            best = c;
            step = len as u32 | (dist as u32) << 9;
        }
    };
    let mut best_len = MIN_MATCH - 1;
    let mut budget = MAX_CHAIN;
    let mut long = LongMatch::default();
    while cand != 0 && budget != 0 {
        let j = cand as usize - 1;
        let dist = p - j;
        if dist > WINDOW {
            break;
        }
        // Only a candidate that beats `best_len` adds new lengths.
        if data[j + best_len] == data[p + best_len] {
            let len = match_len(data, j, p, cap);
            if len > best_len {
                for l in best_len + 1..=len {
                    price(l, dist);
                }
                best_len = len;
                if len == cap {
                    if max_len > cap {
                        let full = cap + match_len(data, j + cap, p + cap, max_len - cap);
                        if full > cap {
                            price(full, dist);
                        }
                        long = LongMatch { dist: dist as u32, len: full as u32 };
                    }
                    break;
                }
            }
        }
        cand = link[j];
        budget -= 1;
    }
    (best, step, long)
}

/// Emits `data[from..]` as one block: fixed Huffman along the parse in `link` (`bits`
/// long), or stored when that is smaller.
fn emit_block(data: &[u8], from: usize, link: &[u32], bits: u32, last: bool, w: &mut BitWriter<'_>) {
    let span = data.len() - from;
    let fixed = 3 + bits as usize + 7;
    let pad = (8 - (w.len as usize + 3) % 8) % 8;
    let stored = 3 + pad + 32 + 8 * span;
    if stored < fixed {
        w.put(packed(u32::from(last), 3));
        w.align();
        let len = span as u16;
        w.out.extend_from_slice(&len.to_le_bytes());
        w.out.extend_from_slice(&(!len).to_le_bytes());
        w.out.extend_from_slice(&data[from..]);
        return;
    }
    // A local copy keeps the bit accumulator in registers.
    let mut bw = BitWriter { out: &mut *w.out, acc: w.acc, len: w.len };
    bw.put(packed(u32::from(last) | 1 << 1, 3));
    let mut p = from;
    while let (Some(&step), Some(&byte)) = (link.get(p), data.get(p)) {
        if step == 0 {
            bw.put(LIT_ENC[usize::from(byte)]);
            p += 1;
        } else {
            let len = (step & 0x1FF) as usize;
            bw.put(LEN_ENC[len]);
            bw.put(dist_enc((step >> 9) as usize));
            p += len;
        }
    }
    // End of block: symbol 256 is seven zero bits.
    bw.put(packed(0, 7));
    (w.acc, w.len) = (bw.acc, bw.len);
}

/// Adler-32 (RFC 1950).
///
/// The textbook loop adds one byte per step on a chain of dependent additions. Here a
/// step takes 32 bytes, summed plainly and position-weighted in 16-bit lanes of `u64`s
/// (see `spread`), which takes a token-sized input in about half the time.
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    // Longest run (a multiple of 32) whose sums cannot overflow u32 before reducing.
    const BLOCK: usize = 5536;
    let (mut a, mut b) = (1u32, 0u32);
    for block in data.chunks(BLOCK) {
        let mut chunks = block.chunks_exact(32);
        for chunk in &mut chunks {
            let [(e0, o0), (e1, o1), (e2, o2), (e3, o3)] = [0, 8, 16, 24].map(|at| spread(load_u64(chunk, at)));
            let (p0, p1, p2, p3) = (e0 + o0, e1 + o1, e2 + o2, e3 + o3);
            // 32 steps: `b` gains 32 times the old `a` plus each byte times the number
            // of steps counting it, 8 * (3 - quarter) + (8 - index in quarter).
            b += 32 * a + 8 * lane_sum(3 * p0 + 2 * p1 + p2) + weigh(e0 + e1 + e2 + e3, o0 + o1 + o2 + o3);
            a += lane_sum(p0 + p1 + p2 + p3);
        }
        let mut rest = chunks.remainder();
        while let Some((eight, tail)) = rest.split_first_chunk::<8>() {
            let (even, odd) = spread(u64::from_le_bytes(*eight));
            b += 8 * a + weigh(even, odd);
            a += lane_sum(even + odd);
            rest = tail;
        }
        for &x in rest {
            a += u32::from(x);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    b << 16 | a
}

/// Splits the 8 bytes of `v` (little-endian) into 16-bit lanes: even-indexed bytes and
/// odd-indexed bytes. Byte 0 lands in the lowest lane.
///
/// Sums of lanes stay below 2^16 here (at most 255 * 144, in `weigh`), so products
/// with the constants below never carry from one lane into the next, and the top lane
/// of such a product is an exact dot product.
#[inline(always)]
fn spread(v: u64) -> (u64, u64) {
    const LANES: u64 = 0x00FF_00FF_00FF_00FF;
    (v & LANES, (v >> 8) & LANES)
}

/// Sum of the four 16-bit lanes of `x`.
#[inline(always)]
fn lane_sum(x: u64) -> u32 {
    (x.wrapping_mul(0x0001_0001_0001_0001) >> 48) as u32
}

/// Weighted sum of spread bytes: byte 0 counts 8, byte 1 counts 7, ..., byte 7 counts 1
/// (a lane pairs with the opposite lane of the constant in the top lane).
#[inline(always)]
fn weigh(even: u64, odd: u64) -> u32 {
    const EVEN_WEIGHTS: u64 = 0x0008_0006_0004_0002;
    const ODD_WEIGHTS: u64 = 0x0007_0005_0003_0001;
    (even.wrapping_mul(EVEN_WEIGHTS).wrapping_add(odd.wrapping_mul(ODD_WEIGHTS)) >> 48) as u32
}

/// Why a zlib stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// Not a deflate zlib header (method, window size or header check).
    BadHeader,
    /// The stream needs a preset dictionary, which tokens never use.
    PresetDictionary,
    /// The input ends before the stream does.
    Truncated,
    /// Reserved block type, bad stored length or malformed dynamic code tables.
    InvalidBlock,
    /// A bit pattern that no symbol has, or a symbol deflate reserves.
    InvalidCode,
    /// A match reaches back before the start of the output.
    DistanceTooFar,
    /// The output would exceed the caller's limit.
    TooLarge,
    /// The Adler-32 does not match the inflated data.
    ChecksumMismatch,
    /// Bytes follow the Adler-32.
    TrailingData,
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadHeader => "invalid zlib header",
            Self::PresetDictionary => "zlib preset dictionary not supported",
            Self::Truncated => "truncated zlib stream",
            Self::InvalidBlock => "invalid deflate block",
            Self::InvalidCode => "invalid deflate code",
            Self::DistanceTooFar => "deflate distance too far back",
            Self::TooLarge => "inflated data exceeds size limit",
            Self::ChecksumMismatch => "zlib checksum mismatch",
            Self::TrailingData => "trailing bytes after zlib stream",
        })
    }
}

impl std::error::Error for InflateError {}

/// Bits resolved by the first-level decoding table; longer codes take the slow path.
const FAST_BITS: u32 = 10;
const FAST_SIZE: usize = 1 << FAST_BITS;

/// Canonical Huffman decoder.
struct Huffman {
    /// Indexed by the next `FAST_BITS` input bits: `symbol << 6 | length`, or 0 when
    /// the code there is longer (or absent). Keeping the length in the low bits lets
    /// it feed the shift directly.
    fast: [u16; FAST_SIZE],
    /// Number of codes of each length.
    counts: [u16; 16],
    /// Symbols in canonical code order.
    symbols: [u16; 288],
}

impl Huffman {
    /// Builds the decoder for per-symbol code lengths (each at most 15, at most 288
    /// symbols). Over-subscribed codes are refused, and so are incomplete ones unless
    /// `incomplete` allows them (like zlib, so that both refuse the same streams).
    const fn new(lengths: &[u8], incomplete: Incomplete) -> Result<Self, InflateError> {
        let mut h = Self { fast: [0; FAST_SIZE], counts: [0; 16], symbols: [0; 288] };
        let mut i = 0;
        while i < lengths.len() {
            h.counts[lengths[i] as usize] += 1;
            i += 1;
        }
        h.counts[0] = 0;
        let mut left: i32 = 1;
        let mut codes = 0;
        let mut len = 1;
        while len < 16 {
            left = (left << 1) - h.counts[len] as i32;
            if left < 0 {
                return Err(InflateError::InvalidBlock);
            }
            codes += h.counts[len];
            len += 1;
        }
        let allowed = match incomplete {
            Incomplete::Refused => false,
            Incomplete::SingleCode => codes == 1 && h.counts[1] == 1,
            Incomplete::Allowed => true,
        };
        if left > 0 && codes > 0 && !allowed {
            return Err(InflateError::InvalidBlock);
        }
        // First index into `symbols` and first canonical code of each length.
        let mut offset = [0u16; 16];
        let mut next_code = [0u16; 16];
        len = 1;
        while len < 16 {
            offset[len] = offset[len - 1] + h.counts[len - 1];
            next_code[len] = (next_code[len - 1] + h.counts[len - 1]) << 1;
            len += 1;
        }
        i = 0;
        while i < lengths.len() {
            let len = lengths[i] as usize;
            if len != 0 {
                h.symbols[offset[len] as usize] = i as u16;
                offset[len] += 1;
                let code = next_code[len];
                next_code[len] += 1;
                if len <= FAST_BITS as usize {
                    let entry = (i as u16) << 6 | len as u16;
                    let mut slot = reverse_bits(code as u32, len as u32) as usize;
                    while slot < FAST_SIZE {
                        h.fast[slot] = entry;
                        slot += 1 << len;
                    }
                }
            }
            i += 1;
        }
        Ok(h)
    }
}

/// Which incomplete codes a block may use (no code at all is always fine; reading
/// from it fails).
#[derive(Clone, Copy)]
enum Incomplete {
    /// Code-length codes must be complete.
    Refused,
    /// Literal/length and distance codes may be a single one-bit code.
    SingleCode,
    /// The fixed distance code leaves two patterns unused.
    Allowed,
}

/// The fixed literal/length code (symbols 286 and 287 exist but are refused).
static FIXED_LIT: Huffman = {
    let mut lengths = [0u8; 288];
    let mut sym = 0;
    while sym < 288 {
        lengths[sym] = fixed_lit_len(sym) as u8;
        sym += 1;
    }
    match Huffman::new(&lengths, Incomplete::Refused) {
        Ok(h) => h,
        Err(_) => panic!("fixed literal code"),
    }
};

/// The fixed distance code: 30 five-bit codes (30 and 31 are invalid).
static FIXED_DIST: Huffman = match Huffman::new(&[5; 30], Incomplete::Allowed) {
    Ok(h) => h,
    Err(_) => panic!("fixed distance code"),
};

/// Bits taken by the next two fixed-code symbols, indexed by the next 14 input bits.
///
/// Literal runs are bound by the latency of "look up a code length, shift it out";
/// stepping over two codes per lookup halves that chain (the symbols themselves are
/// looked up off the chain). A fixed code's length follows from its first 5 bits.
static FIXED_PAIR_BITS: [u8; 1 << 14] = {
    const fn len_of(bits: usize) -> usize {
        match reverse_bits(bits as u32 & 31, 5) {
            0..=5 => 7,
            6..=24 => 8,
            _ => 9,
        }
    }
    let mut t = [0; 1 << 14];
    let mut i = 0;
    while i < t.len() {
        let first = len_of(i);
        t[i] = (first + len_of(i >> first)) as u8;
        i += 1;
    }
    t
};

/// LSB-first bit source over the whole input.
///
/// Bits of `buf` above `nbits` are either zero or copies of the bytes at `pos`; the
/// wide refill relies on that, since OR-ing those bytes in again changes nothing.
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    nbits: u32,
}

impl BitReader<'_> {
    /// Tops the buffer up to at least 56 bits, or to whatever input remains.
    #[inline(always)]
    fn refill(&mut self) {
        if self.data.len() - self.pos >= 8 {
            self.buf |= load_u64(self.data, self.pos) << self.nbits;
            let take = (63 - self.nbits) / 8;
            self.pos += take as usize;
            self.nbits += take * 8;
        } else {
            while self.nbits <= 56 && self.pos < self.data.len() {
                self.buf |= u64::from(self.data[self.pos]) << self.nbits;
                self.pos += 1;
                self.nbits += 8;
            }
        }
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.buf >>= n;
        self.nbits -= n;
    }

    /// Reads `n` (at most 32) bits.
    #[inline(always)]
    fn bits(&mut self, n: u32) -> Result<u32, InflateError> {
        if self.nbits < n {
            self.refill();
            if self.nbits < n {
                return Err(InflateError::Truncated);
            }
        }
        let v = (self.buf & ((1u64 << n) - 1)) as u32;
        self.consume(n);
        Ok(v)
    }

    #[inline(always)]
    fn decode(&mut self, h: &Huffman) -> Result<u16, InflateError> {
        if self.nbits < 15 {
            self.refill();
        }
        let entry = h.fast[self.buf as usize & (FAST_SIZE - 1)];
        let len = u32::from(entry & 63);
        if len != 0 && len <= self.nbits {
            self.consume(len);
            return Ok(entry >> 6);
        }
        let (sym, len) = decode_slow(h, self.buf, self.nbits)?;
        self.consume(len);
        Ok(sym)
    }

    /// Drops the bits of a partly read byte and returns the position of the next
    /// whole byte, leaving the reader empty there.
    fn byte_align(&mut self) -> usize {
        let at = self.pos - (self.nbits / 8) as usize;
        self.pos = at;
        self.buf = 0;
        self.nbits = 0;
        at
    }
}

/// Walks the canonical code one bit at a time (codes longer than `FAST_BITS`, invalid
/// patterns, or the end of the input); returns the symbol and its code length.
///
/// Takes the bit buffer by value so that the hot loop's reader never has its address
/// taken and stays in registers.
#[cold]
#[inline(never)]
fn decode_slow(h: &Huffman, buf: u64, nbits: u32) -> Result<(u16, u32), InflateError> {
    // `first` is the first code of the current length, `index` its first symbol.
    let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
    for len in 1..16 {
        if len > nbits {
            return Err(InflateError::Truncated);
        }
        code |= ((buf >> (len - 1)) & 1) as i32;
        let count = i32::from(h.counts[len as usize]);
        if code - first < count {
            return Ok((h.symbols[(index + code - first) as usize], len));
        }
        index += count;
        first = (first + count) << 1;
        code <<= 1;
    }
    Err(InflateError::InvalidCode)
}

/// Output side. `out[start..pos]` is what has been inflated so far and `out[pos..]` is
/// zeroed room: writing by index into room keeps per-byte work to a bounds check
/// (no length or capacity bookkeeping as with `push`). Room grows geometrically but
/// never past `end`, the caller's limit.
struct Sink<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    pos: usize,
    end: usize,
}

impl Sink<'_> {
    /// Makes sure `n` more bytes fit.
    #[inline(always)]
    fn room(&mut self, n: usize) -> Result<(), InflateError> {
        if self.out.len() - self.pos < n {
            self.grow(n)?;
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) -> Result<(), InflateError> {
        if n > self.end - self.pos {
            return Err(InflateError::TooLarge);
        }
        let produced = self.pos - self.start;
        let target = (self.pos + n).max((self.pos + produced.max(256)).min(self.end));
        self.out.reserve_exact(target - self.out.len());
        self.out.resize(target, 0);
        Ok(())
    }

    #[inline(always)]
    fn literal(&mut self, byte: u8) -> Result<(), InflateError> {
        self.room(1)?;
        self.out[self.pos] = byte;
        self.pos += 1;
        Ok(())
    }

    #[inline(always)]
    fn copy_match(&mut self, dist: usize, len: usize) -> Result<(), InflateError> {
        if dist > self.pos - self.start {
            return Err(InflateError::DistanceTooFar);
        }
        self.room(len)?;
        let from = self.pos - dist;
        if len <= 32 {
            // Short matches (the usual kind in tokens): a forward byte copy, which
            // also repeats overlapping sources correctly, beats a memmove call.
            let window = &mut self.out[from..self.pos + len];
            for k in dist..dist + len {
                window[k] = window[k - dist];
            }
        } else if len <= dist {
            self.out.copy_within(from..from + len, self.pos);
        } else {
            // Overlapping: the match repeats the last `dist` bytes. Copying from `from`
            // in doubling runs keeps that period, as every run but the last is a
            // multiple of `dist`.
            let mut done = 0;
            while done < len {
                let run = (len - done).min(self.pos + done - from);
                self.out.copy_within(from..from + run, self.pos + done);
                done += run;
            }
        }
        self.pos += len;
        Ok(())
    }
}

/// Inflates one complete zlib stream from `input`, appending to `out`; refuses output
/// beyond `max_output` bytes, refuses trailing bytes after the Adler-32, verifies the
/// header (CM=8, FCHECK, no FDICT) and the Adler-32. On error `out` is left as it was.
pub fn zlib_decompress(input: &[u8], out: &mut Vec<u8>, max_output: usize) -> Result<(), InflateError> {
    let start = out.len();
    // Token streams inflate to a little more than their size: usually one allocation.
    let initial = max_output.min(input.len().saturating_mul(2) + 64);
    out.reserve_exact(initial);
    out.resize(start + initial, 0);
    let mut sink = Sink { out, start, pos: start, end: start.saturating_add(max_output) };
    let result = inflate_zlib(input, &mut sink);
    let end = if result.is_ok() { sink.pos } else { start };
    out.truncate(end);
    result
}

fn inflate_zlib(input: &[u8], sink: &mut Sink<'_>) -> Result<(), InflateError> {
    let &[cmf, flg, ..] = input else {
        return Err(InflateError::Truncated);
    };
    if cmf & 0x0F != 8 || cmf >> 4 > 7 || (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 {
        return Err(InflateError::BadHeader);
    }
    if flg & 0x20 != 0 {
        return Err(InflateError::PresetDictionary);
    }
    let mut br = BitReader { data: input, pos: 2, buf: 0, nbits: 0 };
    loop {
        let header = br.bits(3)?;
        match header >> 1 {
            0 => stored_block(&mut br, sink)?,
            1 => huffman_block(&mut br, sink, &FIXED_LIT, &FIXED_DIST, Some(&FIXED_PAIR_BITS))?,
            2 => {
                let (lit, dist) = dynamic_tables(&mut br)?;
                huffman_block(&mut br, sink, &lit, &dist, None)?;
            }
            _ => return Err(InflateError::InvalidBlock),
        }
        if header & 1 != 0 {
            break;
        }
    }
    let trailer = &input[br.byte_align()..];
    let Some((checksum, rest)) = trailer.split_first_chunk::<4>() else {
        return Err(InflateError::Truncated);
    };
    if u32::from_be_bytes(*checksum) != adler32(&sink.out[sink.start..sink.pos]) {
        return Err(InflateError::ChecksumMismatch);
    }
    if !rest.is_empty() {
        return Err(InflateError::TrailingData);
    }
    Ok(())
}

fn stored_block(br: &mut BitReader<'_>, sink: &mut Sink<'_>) -> Result<(), InflateError> {
    let at = br.byte_align();
    let Some((header, rest)) = br.data[at..].split_first_chunk::<4>() else {
        return Err(InflateError::Truncated);
    };
    let len = u16::from_le_bytes([header[0], header[1]]);
    if len != !u16::from_le_bytes([header[2], header[3]]) {
        return Err(InflateError::InvalidBlock);
    }
    let len = usize::from(len);
    let Some(data) = rest.get(..len) else {
        return Err(InflateError::Truncated);
    };
    sink.room(len)?;
    sink.out[sink.pos..sink.pos + len].copy_from_slice(data);
    sink.pos += len;
    br.pos = at + 4 + len;
    Ok(())
}

fn huffman_block(
    br: &mut BitReader<'_>,
    sink: &mut Sink<'_>,
    lit: &Huffman,
    dist: &Huffman,
    pair_bits: Option<&[u8; 1 << 14]>,
) -> Result<(), InflateError> {
    // A local copy keeps the bit buffer in registers.
    let mut r = BitReader { ..*br };
    loop {
        // Literal runs dominate token streams. After a refill at least 56 bits are
        // buffered unless the input is nearly used up, so several literals decode
        // without further refills or room checks: three pairs of fixed codes (at most
        // 9 bits each), or five fast-table codes (at most 10 bits each).
        r.refill();
        let room = sink.out.len() - sink.pos;
        if let Some(pair_bits) = pair_bits.filter(|_| r.nbits >= 54 && room >= 6) {
            // Fixed codes are at most 9 bits: three pairs per refill.
            let dst = &mut sink.out[sink.pos..sink.pos + 6];
            let mut pairs = 0;
            while pairs < 3 {
                let first = lit.fast[r.buf as usize & (FAST_SIZE - 1)];
                let second = lit.fast[(r.buf >> (first & 63)) as usize & (FAST_SIZE - 1)];
                if !is_literal(first) || !is_literal(second) {
                    break;
                }
                dst[2 * pairs] = (first >> 6) as u8;
                dst[2 * pairs + 1] = (second >> 6) as u8;
                r.consume(u32::from(pair_bits[r.buf as usize & ((1 << 14) - 1)]));
                pairs += 1;
            }
            sink.pos += 2 * pairs;
            if pairs == 3 {
                continue;
            }
        } else if r.nbits >= 5 * FAST_BITS && room >= 5 {
            let dst = &mut sink.out[sink.pos..sink.pos + 5];
            let mut run = 0;
            while run < 5 {
                let entry = lit.fast[r.buf as usize & (FAST_SIZE - 1)];
                if !is_literal(entry) {
                    break;
                }
                r.consume(u32::from(entry & 63));
                dst[run] = (entry >> 6) as u8;
                run += 1;
            }
            sink.pos += run;
            if run == 5 {
                continue;
            }
        }
        let sym = r.decode(lit)?;
        if sym < 256 {
            sink.literal(sym as u8)?;
            continue;
        }
        if sym == 256 {
            *br = r;
            return Ok(());
        }
        let idx = usize::from(sym - 257);
        let (Some(&base), Some(&extra)) = (LEN_BASE.get(idx), LEN_EXTRA.get(idx)) else {
            return Err(InflateError::InvalidCode);
        };
        let len = usize::from(base) + r.bits(u32::from(extra))? as usize;
        let dsym = usize::from(r.decode(dist)?);
        let (Some(&base), Some(&extra)) = (DIST_BASE.get(dsym), DIST_EXTRA.get(dsym)) else {
            return Err(InflateError::InvalidCode);
        };
        let d = usize::from(base) + r.bits(u32::from(extra))? as usize;
        sink.copy_match(d, len)?;
    }
}

/// Whether a fast-table entry is a literal (entries are `symbol << 6 | length`, and 0
/// means "not in the table").
#[inline(always)]
fn is_literal(entry: u16) -> bool {
    entry.wrapping_sub(1) < (256 << 6) - 1
}

/// Reads a dynamic block's code descriptions (RFC 1951 section 3.2.7).
fn dynamic_tables(br: &mut BitReader<'_>) -> Result<(Huffman, Huffman), InflateError> {
    let nlit = br.bits(5)? as usize + 257;
    let ndist = br.bits(5)? as usize + 1;
    let ncl = br.bits(4)? as usize + 4;
    if nlit > 286 || ndist > 30 {
        return Err(InflateError::InvalidBlock);
    }
    let mut cl_lengths = [0u8; 19];
    for &sym in &CL_ORDER[..ncl] {
        cl_lengths[sym] = br.bits(3)? as u8;
    }
    let cl = Huffman::new(&cl_lengths, Incomplete::Refused)?;
    let mut lengths = [0u8; 286 + 30];
    let total = nlit + ndist;
    let mut i = 0;
    while i < total {
        let (value, repeat) = match br.decode(&cl)? {
            sym @ 0..=15 => (sym as u8, 1),
            16 if i > 0 => (lengths[i - 1], 3 + br.bits(2)? as usize),
            16 => return Err(InflateError::InvalidBlock),
            17 => (0, 3 + br.bits(3)? as usize),
            _ => (0, 11 + br.bits(7)? as usize),
        };
        let Some(run) = lengths[..total].get_mut(i..i + repeat) else {
            return Err(InflateError::InvalidBlock);
        };
        run.fill(value);
        i += repeat;
    }
    // A block that cannot end is malformed.
    if lengths[256] == 0 {
        return Err(InflateError::InvalidBlock);
    }
    Ok((
        Huffman::new(&lengths[..nlit], Incomplete::SingleCode)?,
        Huffman::new(&lengths[nlit..total], Incomplete::SingleCode)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use proptest::prelude::*;
    use std::io::{Read, Write};

    fn compress(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        zlib_compress(data, &mut out);
        out
    }

    fn inflate(stream: &[u8], max_output: usize) -> Result<Vec<u8>, InflateError> {
        let mut out = Vec::new();
        zlib_decompress(stream, &mut out, max_output).map(|()| out)
    }

    fn flate2_inflate(stream: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(stream).read_to_end(&mut out).expect("flate2 accepts our stream");
        out
    }

    fn flate2_deflate(data: &[u8], level: u32) -> Vec<u8> {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    /// Our stream inflates (with flate2 and with us) to the input and is never longer
    /// than stored blocks; flate2's streams at several levels inflate with us.
    fn check_round_trip(data: &[u8]) {
        let stream = compress(data);
        assert_eq!(flate2_inflate(&stream), data);
        assert_eq!(inflate(&stream, data.len()).as_deref(), Ok(data));
        let stored = 2 + data.len() + 5 * data.len().div_ceil(CHUNK).max(1) + 4;
        assert!(stream.len() <= stored, "{} > {stored}", stream.len());
        for level in [0, 1, 6, 9] {
            let theirs = flate2_deflate(data, level);
            assert_eq!(inflate(&theirs, data.len()).as_deref(), Ok(data), "level {level}");
        }
    }

    /// Deterministic noise (xorshift).
    fn noise(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    }

    /// A hand-made stream: zlib header, then `bits` (packed values) and `tail` bytes.
    fn handmade(bits: &[u32], tail: &[u8]) -> Vec<u8> {
        let mut out = vec![0x78, 0x9C];
        let mut w = BitWriter { out: &mut out, acc: 0, len: 0 };
        for &b in bits {
            w.put(b);
        }
        w.align();
        out.extend_from_slice(tail);
        out
    }

    fn fixed_symbol(sym: usize) -> u32 {
        let len = fixed_lit_len(sym);
        packed(reverse_bits(fixed_lit_code(sym), len), len)
    }

    #[test]
    fn empty_input() {
        assert_eq!(compress(b""), [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        check_round_trip(b"");
    }

    #[test]
    fn small_inputs() {
        for data in [&b"a"[..], b"ab", b"abc", b"aaaa", b"abcabcabcabc", &[0xFF; 300]] {
            check_round_trip(data);
        }
    }

    #[test]
    fn repetition_compresses() {
        let data = b"0123456789abcdef".repeat(64);
        let stream = compress(&data);
        assert!(stream.len() < 40, "{} bytes", stream.len());
        check_round_trip(&data);
    }

    #[test]
    fn noise_goes_out_stored() {
        let data = noise(5000, 7);
        let stream = compress(&data);
        // One stored block: header, 5-byte block header, data, Adler-32.
        assert_eq!(stream.len(), 2 + 5 + data.len() + 4);
        assert_eq!(stream[2] & 0b111, 0b001);
        check_round_trip(&data);
    }

    #[test]
    fn appends_after_existing_bytes() {
        let data = b"token token token token";
        let mut stream = b"prefix".to_vec();
        zlib_compress(data, &mut stream);
        assert_eq!(&stream[..6], b"prefix");
        assert_eq!(flate2_inflate(&stream[6..]), data);
        let mut out = b"kept".to_vec();
        zlib_decompress(&stream[6..], &mut out, 100).unwrap();
        assert_eq!(out, b"kepttoken token token token");
    }

    #[test]
    fn large_inputs() {
        // Over 70 KiB: several chunks, matches near the 32 KiB window limit (the noise
        // repeats 40 000 bytes later, out of reach, and 30 000 bytes later, in reach),
        // long runs and an incompressible stretch.
        let first = noise(30_000, 1);
        let mut data = first.clone();
        data.extend(b"the quick brown fox jumps over the lazy dog. ".repeat(200));
        data.extend_from_slice(&first[..10_000]);
        data.extend(vec![0; 40_000]);
        data.extend_from_slice(&first[20_000..]);
        assert!(data.len() > 70 * 1024);
        check_round_trip(&data);
        check_round_trip(&vec![0; 100_000]);
        check_round_trip(&noise(140_000, 3));
    }

    #[test]
    fn adler32_known_values() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"a"), 0x0062_0062);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        // Worst case for the lane sums, compared with the definition.
        for len in [15, 16, 17, 5551, 5552, 5553, 100_000] {
            let data = vec![0xFF; len];
            let (mut a, mut b) = (1u64, 0u64);
            for &x in &data {
                a = (a + u64::from(x)) % 65521;
                b = (b + a) % 65521;
            }
            assert_eq!(adler32(&data), (b << 16 | a) as u32, "len {len}");
        }
    }

    #[test]
    fn reference_vectors() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/public.jsonl");
        let text = std::fs::read_to_string(path).unwrap();
        let (mut count, mut ours_total, mut reference_total) = (0, 0, 0);
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["version"] != "007" {
                continue;
            }
            let hex = v["content_hex"].as_str().unwrap();
            let content: Vec<u8> =
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
            let token = v["token"].as_str().unwrap();
            let reference = base64::engine::general_purpose::STANDARD.decode(&token[3..]).unwrap();
            assert_eq!(inflate(&reference, 1 << 16), Ok(content.clone()), "{}", v["id"]);
            let ours = compress(&content);
            assert_eq!(flate2_inflate(&ours), content);
            assert_eq!(inflate(&ours, content.len()), Ok(content));
            count += 1;
            ours_total += ours.len();
            reference_total += reference.len();
        }
        assert_eq!(count, 312);
        // The reason this module exists: tokens no longer than Node's zlib makes them.
        assert!(ours_total <= reference_total, "{ours_total} > {reference_total}");
    }

    #[test]
    fn reads_multi_block_streams() {
        // Sync flushes end a block with an empty stored block; the data mixes block
        // types.
        let text = b"lorem ipsum dolor sit amet, consectetur adipiscing elit ".repeat(40);
        let chunks = [&text[..], &noise(3000, 9), &text[..700], b"x", b""];
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
        let mut expected = Vec::new();
        for chunk in chunks {
            enc.write_all(chunk).unwrap();
            enc.flush().unwrap();
            expected.extend_from_slice(chunk);
        }
        let stream = enc.finish().unwrap();
        assert_eq!(inflate(&stream, expected.len()), Ok(expected));
    }

    #[test]
    fn reads_dynamic_blocks() {
        // Random hex digits: 16 symbols, so a dynamic code (4 bits a digit) beats the fixed one
        // (8) by far and any deflater picks it (a repeated sentence may get a fixed block).
        let text: Vec<u8> = noise(2000, 5).iter().map(|b| b"0123456789abcdef"[usize::from(b & 15)]).collect();
        let stream = flate2_deflate(&text, 9);
        assert_eq!((stream[2] >> 1) & 3, 2, "expected a dynamic block");
        assert_eq!(inflate(&stream, text.len()).as_deref(), Ok(&text[..]));
    }

    #[test]
    fn header_errors() {
        let good = compress(b"hello");
        let mut bad_method = good.clone();
        bad_method[0] = 0x79;
        assert_eq!(inflate(&bad_method, 100), Err(InflateError::BadHeader));
        // CINFO 8 (a 64 KiB window) with a valid check.
        assert_eq!(inflate(&[0x88, 0x1C, 0x03, 0x00], 100), Err(InflateError::BadHeader));
        let mut bad_check = good.clone();
        bad_check[1] ^= 1;
        assert_eq!(inflate(&bad_check, 100), Err(InflateError::BadHeader));
        assert_eq!(inflate(&[0x78, 0xBB, 0, 0, 0, 0, 0x03, 0x00], 100), Err(InflateError::PresetDictionary));
    }

    #[test]
    fn block_errors() {
        // Reserved block type 3.
        assert_eq!(inflate(&[0x78, 0x9C, 0x07, 0, 0, 0, 0], 100), Err(InflateError::InvalidBlock));
        // Stored block whose NLEN is not the complement of LEN.
        assert_eq!(inflate(&[0x78, 0x9C, 0x01, 0x01, 0x00, 0xFF, 0xFF, b'x'], 100), Err(InflateError::InvalidBlock));
        // Dynamic block announcing 287 literal/length codes.
        let stream = handmade(&[packed(0b101, 3), packed(30, 5), packed(0, 5), packed(0, 4)], &[0; 8]);
        assert_eq!(inflate(&stream, 100), Err(InflateError::InvalidBlock));
        // Dynamic block whose code-length code is over-subscribed (three 1-bit codes).
        let mut bits = vec![packed(0b101, 3), packed(0, 5), packed(0, 5), packed(0, 4)];
        bits.extend([packed(1, 3); 3]);
        bits.push(packed(0, 3));
        assert_eq!(inflate(&handmade(&bits, &[0; 8]), 100), Err(InflateError::InvalidBlock));
        // Dynamic block starting with "repeat previous length".
        let mut bits = vec![packed(0b101, 3), packed(0, 5), packed(0, 5), packed(0, 4)];
        // Code-length code: symbols 16 and 17 with 1-bit codes (16 -> 0, 17 -> 1).
        bits.extend([packed(1, 3), packed(1, 3), packed(0, 3), packed(0, 3)]);
        bits.extend([packed(0, 1), packed(0, 2)]);
        assert_eq!(inflate(&handmade(&bits, &[0; 8]), 100), Err(InflateError::InvalidBlock));
    }

    #[test]
    fn code_completeness() {
        use Incomplete::{Refused, SingleCode};
        let ok = |lengths: &[u8], rule| Huffman::new(lengths, rule).is_ok();
        assert!(ok(&[1, 1], Refused));
        assert!(ok(&[2, 1, 3, 3], Refused));
        assert!(ok(&[0, 0, 0], Refused), "no code at all is fine");
        assert!(!ok(&[1, 1, 1], SingleCode), "over-subscribed");
        assert!(!ok(&[2], Refused), "incomplete");
        assert!(!ok(&[1], Refused), "incomplete");
        assert!(ok(&[0, 1, 0], SingleCode), "a lone one-bit code");
        assert!(!ok(&[2, 0], SingleCode), "a lone two-bit code");
        assert!(!ok(&[1, 2], SingleCode), "incomplete");
    }

    #[test]
    fn code_errors() {
        // Literal/length symbol 286 exists in the fixed code but is invalid.
        let stream = handmade(&[packed(0b011, 3), fixed_symbol(286)], &[0; 8]);
        assert_eq!(inflate(&stream, 100), Err(InflateError::InvalidCode));
        // Distance symbol 30 likewise (after a literal so the distance would be valid).
        let stream = handmade(
            &[packed(0b011, 3), fixed_symbol(usize::from(b'a')), fixed_symbol(257), packed(0b01111, 5)],
            &[0; 8],
        );
        assert_eq!(inflate(&stream, 100), Err(InflateError::InvalidCode));
        // A match before any output.
        let stream = handmade(&[packed(0b011, 3), fixed_symbol(257), packed(0, 5)], &[0; 8]);
        assert_eq!(inflate(&stream, 100), Err(InflateError::DistanceTooFar));
        // One byte of output, then a match reaching two back.
        let stream =
            handmade(&[packed(0b011, 3), fixed_symbol(usize::from(b'a')), fixed_symbol(257), dist_enc(2)], &[0; 8]);
        assert_eq!(inflate(&stream, 100), Err(InflateError::DistanceTooFar));
    }

    #[test]
    fn trailer_and_limit_errors() {
        let data = b"some token content, some token content";
        for stream in [compress(data), flate2_deflate(data, 6)] {
            for cut in 0..stream.len() {
                assert_eq!(inflate(&stream[..cut], 100), Err(InflateError::Truncated), "cut {cut}");
            }
            let mut bad_sum = stream.clone();
            *bad_sum.last_mut().unwrap() ^= 0x40;
            assert_eq!(inflate(&bad_sum, 100), Err(InflateError::ChecksumMismatch));
            let mut trailing = stream.clone();
            trailing.push(0);
            assert_eq!(inflate(&trailing, 100), Err(InflateError::TrailingData));
            assert_eq!(inflate(&stream, data.len() - 1), Err(InflateError::TooLarge));
            assert_eq!(inflate(&stream, data.len()).as_deref(), Ok(&data[..]));
        }
    }

    #[test]
    fn errors_leave_output_untouched() {
        let mut stream = compress(b"abcdefgh abcdefgh abcdefgh");
        *stream.last_mut().unwrap() ^= 1;
        let mut out = b"keep".to_vec();
        assert_eq!(zlib_decompress(&stream, &mut out, 100), Err(InflateError::ChecksumMismatch));
        assert_eq!(out, b"keep");
    }

    #[test]
    fn limit_bounds_memory() {
        let bomb = flate2_deflate(&vec![0; 1 << 20], 9);
        let mut out = Vec::new();
        assert_eq!(zlib_decompress(&bomb, &mut out, 1000), Err(InflateError::TooLarge));
        assert!(out.capacity() <= 1000, "capacity {}", out.capacity());
        let mut out = Vec::new();
        zlib_decompress(&bomb, &mut out, 1 << 20).unwrap();
        assert_eq!(out.len(), 1 << 20);
        assert!(out.capacity() <= 1 << 20, "capacity {}", out.capacity());
    }

    #[test]
    fn error_messages() {
        assert_eq!(InflateError::ChecksumMismatch.to_string(), "zlib checksum mismatch");
        assert_eq!(InflateError::TooLarge.to_string(), "inflated data exceeds size limit");
    }

    proptest! {
        #[test]
        fn round_trip_arbitrary(data in prop::collection::vec(any::<u8>(), 0..2000)) {
            check_round_trip(&data);
        }

        #[test]
        fn round_trip_repetitive(
            pieces in prop::collection::vec(
                (prop::collection::vec(0u8..4, 1..12), 1usize..40),
                1..40,
            )
        ) {
            let data: Vec<u8> = pieces.iter().flat_map(|(p, n)| p.repeat(*n)).collect();
            check_round_trip(&data);
        }

        #[test]
        fn truncation_is_reported(data in prop::collection::vec(any::<u8>(), 0..200), level in 0u32..10) {
            for stream in [compress(&data), flate2_deflate(&data, level)] {
                for cut in 0..stream.len() {
                    prop_assert_eq!(inflate(&stream[..cut], 1000), Err(InflateError::Truncated));
                }
            }
        }

        #[test]
        fn arbitrary_input_never_panics(data in prop::collection::vec(any::<u8>(), 0..600), limit in 0usize..3000) {
            let mut out = vec![1, 2, 3];
            match zlib_decompress(&data, &mut out, limit) {
                Ok(()) => prop_assert!(out.len() - 3 <= limit),
                Err(_) => prop_assert_eq!(out, [1, 2, 3]),
            }
        }

        #[test]
        fn header_then_garbage_never_panics(body in prop::collection::vec(any::<u8>(), 0..400)) {
            let mut stream = vec![0x78, 0x9C];
            stream.extend(body);
            let mut out = Vec::new();
            if zlib_decompress(&stream, &mut out, 4096).is_ok() {
                prop_assert!(out.len() <= 4096);
            }
        }

        #[test]
        fn corrupted_streams_never_panic(
            data in prop::collection::vec(any::<u8>(), 0..400),
            level in 0u32..10,
            ours in any::<bool>(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        ) {
            let mut stream = if ours { compress(&data) } else { flate2_deflate(&data, level) };
            for (at, mask) in flips {
                let i = at.index(stream.len());
                stream[i] ^= mask;
            }
            let mut out = Vec::new();
            if zlib_decompress(&stream, &mut out, 2 * data.len() + 16).is_ok() {
                prop_assert!(out.len() <= 2 * data.len() + 16);
            }
        }
    }
}
