//! The library's deflater (`agtoken::deflate::zlib_compress`, behind the `internals` feature) on
//! arbitrary bytes: zlib (flate2 on its zlib-rs backend) and the library's own inflater must both
//! give the bytes back.
//!
//! Input: the first byte chooses the mode. `0xF0 | k`: the rest is repeated to `(k + 1) * 6 KiB`
//! (6 to 96 KiB), so that short fuzz inputs also reach the several-chunk path (the deflater
//! parses 32 KiB at a time, with matches reaching back into the previous chunk); any other first
//! byte: the rest is the data as is. Either way at most 128 KiB (libFuzzer's `-max_len` keeps
//! plain inputs far below that; the deflater itself takes any length).
//!
//! What must hold for data of `n` bytes:
//! - the stream is appended after what the vector held, which stays as it was;
//! - it starts with the header 0x78 0x9C and is never longer than stored blocks would be
//!   (`2 + n + 5 per 32 KiB chunk (at least one) + 4`);
//! - zlib reaches the stream end consuming every byte and produces exactly the data;
//! - the library inflates it with a cap of `n` to exactly the data, and refuses it with
//!   `TooLarge` with a cap of `n − 1`.
#![no_main]

use agtoken::deflate::{zlib_compress, zlib_decompress, InflateError};
use flate2::{Decompress, FlushDecompress, Status};
use libfuzzer_sys::fuzz_target;

/// The deflater's chunk (one block per chunk at most, stored when that is smaller).
const CHUNK: usize = 32 * 1024;
const MAX_INPUT: usize = 128 * 1024;

fn zlib_inflate(stream: &[u8], expected_len: usize) -> Vec<u8> {
    let mut d = Decompress::new(true);
    let mut out = Vec::with_capacity(expected_len + 1);
    let status = d.decompress_vec(stream, &mut out, FlushDecompress::Finish).expect("zlib accepts our stream");
    assert_eq!(
        status,
        Status::StreamEnd,
        "zlib: stream not finished ({} of {} bytes read)",
        d.total_in(),
        stream.len()
    );
    assert_eq!(d.total_in() as usize, stream.len(), "zlib: bytes after the stream end");
    out
}

fuzz_target!(|raw: &[u8]| {
    let expanded;
    let data = match raw.split_first() {
        Some((&first, rest)) if first & 0xF0 == 0xF0 && !rest.is_empty() => {
            let target = (usize::from(first & 0x0F) + 1) * 6 * 1024;
            expanded = rest.iter().copied().cycle().take(target.max(rest.len())).collect::<Vec<u8>>();
            &expanded[..]
        }
        Some((_, rest)) => rest,
        None => return,
    };
    if data.len() > MAX_INPUT {
        return;
    }
    let n = data.len();

    let mut stream = b"prefix".to_vec();
    zlib_compress(data, &mut stream);
    assert!(stream.starts_with(b"prefix"), "bytes before the stream changed");
    let stream = &stream[6..];
    assert_eq!(&stream[..2], [0x78, 0x9C]);
    let stored = 2 + n + 5 * n.div_ceil(CHUNK).max(1) + 4;
    assert!(stream.len() <= stored, "{} bytes > {stored} (stored blocks)", stream.len());

    assert!(zlib_inflate(stream, n) == data, "zlib inflates our stream to other bytes");

    let mut out = b"kept".to_vec();
    zlib_decompress(stream, &mut out, n).expect("the library inflates its own stream");
    assert!(out[4..] == *data && out.starts_with(b"kept"), "the library inflates its stream to other bytes");
    if n > 0 {
        let mut out = Vec::new();
        assert_eq!(zlib_decompress(stream, &mut out, n - 1), Err(InflateError::TooLarge));
        assert!(out.is_empty());
    }
});
