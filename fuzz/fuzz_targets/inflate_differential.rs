//! The library's inflater (`agtoken::deflate::zlib_decompress`, behind the `internals` feature)
//! against zlib (flate2 on its zlib-rs backend) on arbitrary bytes taken as one zlib stream.
//!
//! What each side "accepts":
//! - the library: `Ok(())` from `zlib_decompress(input, out, CAP)`. Its contract (deflate.rs):
//!   one complete zlib stream, header checked (CM 8, CINFO ≤ 7, FCHECK, no FDICT), Adler-32
//!   checked, no byte after the Adler-32, at most `CAP` bytes of output, `out` untouched on error.
//! - zlib: `Decompress::new(true)` fed the whole input reaches `Status::StreamEnd` (so the
//!   Adler-32 was present and matched) **and** consumed every input byte. zlib stops at the end of
//!   the stream and leaves trailing bytes unread; that is a refusal here, as for the library.
//!   Running out of input before the stream end (a truncated stream, a missing Adler-32) is a
//!   refusal. zlib's output is not capped at `CAP`: it runs until the end, an error, or
//!   `CAP + 65_536` bytes (past which the library must have given up, see below).
//!
//! With `n` the bytes zlib produced, what must hold:
//! 1. zlib accepts with `n ≤ CAP` ⇔ the library accepts, with identical output.
//! 2. zlib accepts with `n > CAP`: the library refuses with `TooLarge`; with a cap of exactly `n`
//!    it accepts with identical output. Whenever zlib accepts, a cap of `n − 1` gives `TooLarge`.
//! 3. zlib reaches the stream end but input is left over: `TrailingData` (`TooLarge` if `n > CAP`).
//! 4. The library says `TooLarge` only if zlib produced more than `CAP` bytes; and when zlib
//!    produced more than `CAP` bytes the library says `TooLarge` — or `Truncated` when zlib ran out
//!    of input and produced at most `CAP + 65_535` (the library refuses a stored block whose bytes
//!    are missing before it checks their room; zlib copies what is there first).
//! 5. Refusal reasons that both sides decide on the same bits (with `n ≤ CAP`): zlib's header
//!    errors ⇔ `BadHeader`, "incorrect data check" ⇔ `ChecksumMismatch`, "invalid distance too far
//!    back" ⇔ `DistanceTooFar`, a preset dictionary ⇒ `PresetDictionary` (zlib-rs's message quirk
//!    is allowed for, see below). Other reasons are not
//!    compared: near the end of the input one side may need more bits than the other to see that a
//!    pattern is invalid (zlib reads a repeat code's extra bits before refusing it, the library
//!    walks an incomplete code to 15 bits before calling a pattern invalid), so `Truncated` on one
//!    side may meet a malformed-block error on the other.
//! 6. On any error the library leaves the output vector as it was.
//!
//! Random bytes rarely carry a matching Adler-32, so when zlib's only complaint is the checksum,
//! the same stream is compared again with the trailer set to the Adler-32 of zlib's output: the
//! fuzzer's mutations of the deflate data then count.
#![no_main]

use agtoken::deflate::{zlib_decompress, InflateError};
use flate2::{Decompress, FlushDecompress, Status};
use libfuzzer_sys::fuzz_target;

/// The library's output limit in the main comparison (the token parser uses a similar bound).
const CAP: usize = 4096;
/// Largest stored block: the library may stop this far behind zlib on a truncated one.
const STORED_MAX: usize = 65_535;
/// zlib stops once it has produced more than this.
const ZLIB_LIMIT: usize = CAP + STORED_MAX + 1;
/// What the library's output vector holds before each call (errors must leave it so).
const PREFIX: &[u8] = b"kept";

#[derive(Debug)]
enum Zlib {
    /// Reached the stream end; `trailing` input bytes were left unread.
    End { out: Vec<u8>, trailing: usize },
    /// Ran out of input before the stream end.
    NeedsInput { produced: usize },
    /// Refused after producing `out`; `at` is how many input bytes it had consumed.
    Error { out: Vec<u8>, message: Option<String>, dictionary: bool, at: usize },
    /// Produced more than `ZLIB_LIMIT` bytes and was stopped.
    OverLimit,
}

fn zlib(input: &[u8]) -> Zlib {
    let mut d = Decompress::new(true);
    let mut out = Vec::with_capacity(ZLIB_LIMIT + 1);
    loop {
        let (in_before, out_before) = (d.total_in(), d.total_out());
        let rest = &input[in_before as usize..];
        match d.decompress_vec(rest, &mut out, FlushDecompress::None) {
            Err(e) => {
                return Zlib::Error {
                    message: e.message().map(str::to_owned),
                    dictionary: e.needs_dictionary().is_some(),
                    at: d.total_in() as usize,
                    out,
                }
            }
            Ok(Status::StreamEnd) => return Zlib::End { trailing: input.len() - d.total_in() as usize, out },
            Ok(_) => {
                if out.len() > ZLIB_LIMIT {
                    return Zlib::OverLimit;
                }
                // No progress with output room left: the input is used up.
                if d.total_in() == in_before && d.total_out() == out_before {
                    return Zlib::NeedsInput { produced: out.len() };
                }
            }
        }
    }
}

/// The library's inflate with `cap`, checking that an error leaves the output as it was.
fn ours(input: &[u8], cap: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = PREFIX.to_vec();
    match zlib_decompress(input, &mut out, cap) {
        Ok(()) => {
            assert!(out.starts_with(PREFIX), "the bytes before the output changed");
            assert!(out.len() - PREFIX.len() <= cap, "output beyond the cap");
            Ok(out.split_off(PREFIX.len()))
        }
        Err(e) => {
            assert_eq!(out, PREFIX, "an error ({e:?}) changed the output vector");
            Err(e)
        }
    }
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    b << 16 | a
}

/// Compares both sides on `input`; returns zlib's verdict.
fn compare(input: &[u8]) -> Zlib {
    let z = zlib(input);
    let lib = ours(input, CAP);
    match &z {
        Zlib::End { out, trailing: 0 } => {
            let n = out.len();
            if n <= CAP {
                assert_eq!(lib.as_ref(), Ok(out), "zlib accepts ({n} bytes), the library does not (or differs)");
            } else {
                assert_eq!(lib, Err(InflateError::TooLarge), "zlib accepts {n} bytes > cap {CAP}");
                assert_eq!(ours(input, n).as_ref(), Ok(out), "zlib accepts {n} bytes; the library with cap {n}");
            }
            if n > 0 {
                assert_eq!(ours(input, n - 1), Err(InflateError::TooLarge), "cap one below the {n} bytes");
            }
        }
        Zlib::End { out, trailing } => {
            let expected = if out.len() > CAP { InflateError::TooLarge } else { InflateError::TrailingData };
            assert_eq!(lib, Err(expected), "zlib ends the stream with {trailing} bytes left over");
        }
        Zlib::OverLimit => {
            assert_eq!(lib, Err(InflateError::TooLarge), "zlib produced over {ZLIB_LIMIT} bytes");
        }
        &Zlib::NeedsInput { produced } if produced > CAP => {
            assert!(
                matches!(lib, Err(InflateError::TooLarge | InflateError::Truncated)),
                "zlib produced {produced} bytes and wants more input; library: {lib:?}"
            );
        }
        Zlib::Error { out, message, .. } if out.len() > CAP => {
            let n = out.len();
            assert_eq!(lib, Err(InflateError::TooLarge), "zlib produced {n} bytes, then refused: {message:?}");
        }
        Zlib::NeedsInput { .. } => {
            assert!(
                matches!(
                    lib,
                    Err(InflateError::Truncated
                        | InflateError::PresetDictionary
                        | InflateError::InvalidBlock
                        | InflateError::InvalidCode)
                ),
                "zlib wants more input; library: {lib:?}"
            );
        }
        Zlib::Error { message, dictionary, at, .. } => {
            let Err(e) = lib else { panic!("zlib refuses ({message:?} at byte {at}), the library accepts") };
            assert!(
                !matches!(e, InflateError::TooLarge | InflateError::TrailingData),
                "zlib: {message:?} at byte {at}, library: {e:?}"
            );
            let header = matches!(
                message.as_deref(),
                Some("incorrect header check" | "unknown compression method" | "invalid window size")
            );
            assert_eq!(header, e == InflateError::BadHeader, "zlib: {message:?} at byte {at}, library: {e:?}");
            let checksum = message.as_deref() == Some("incorrect data check");
            assert_eq!(checksum, e == InflateError::ChecksumMismatch, "zlib: {message:?} at byte {at}, library: {e:?}");
            // zlib-rs 0.6.8 reports the errors its fast decoding loop finds (a distance too far
            // back, an invalid literal/length or distance code) as "repeated call with bad state":
            // the loop records the real message, then the main loop sees the bad state and
            // overwrites it. Such a refusal may be any of the three.
            let fast_loop = message.as_deref() == Some("repeated call with bad state");
            let too_far = message.as_deref() == Some("invalid distance too far back");
            if too_far {
                assert_eq!(e, InflateError::DistanceTooFar, "zlib: {message:?} at byte {at}");
            }
            if e == InflateError::DistanceTooFar {
                assert!(too_far || fast_loop, "zlib: {message:?} at byte {at}, library: {e:?}");
            }
            if fast_loop {
                assert!(
                    matches!(e, InflateError::DistanceTooFar | InflateError::InvalidCode),
                    "zlib: {message:?} at byte {at}, library: {e:?}"
                );
            }
            if *dictionary {
                assert_eq!(e, InflateError::PresetDictionary, "zlib wants a dictionary");
            }
        }
    }
    // Never more than `CAP` bytes, whatever the verdict (checked in `ours`), and a `TooLarge`
    // only when zlib went past the cap.
    if lib == Err(InflateError::TooLarge) {
        let past = match &z {
            Zlib::End { out, .. } => out.len() > CAP,
            Zlib::OverLimit => true,
            Zlib::Error { out, .. } => out.len() > CAP,
            &Zlib::NeedsInput { produced } => produced > CAP,
        };
        assert!(past, "the library says TooLarge, zlib produced at most {CAP} bytes");
    }
    z
}

fuzz_target!(|data: &[u8]| {
    // Only the checksum was wrong: compare again with the right one in the trailer (the four
    // bytes zlib read last).
    if let Zlib::Error { message: Some(m), at, out, .. } = compare(data) {
        if m == "incorrect data check" && at >= 4 {
            let mut fixed = data.to_vec();
            fixed[at - 4..at].copy_from_slice(&adler32(&out).to_be_bytes());
            compare(&fixed);
        }
    }
});
