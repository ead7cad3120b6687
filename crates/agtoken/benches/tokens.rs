//! Criterion benchmarks: token build and parse+verify, and beside them the floor — what the
//! cryptography and encoding alone cost (3 × HMAC-SHA256, the deflate of the same content,
//! base64) — with general-purpose deflaters for comparison, fresh and with a reused state.
//!
//! `cargo bench -p agtoken --features internals --bench tokens` (numbers in the README). The
//! rows for the crate's own deflate/inflate need the `internals` feature (the module is private
//! without it); without the feature the other rows still run.

use std::hint::black_box;

#[cfg(feature = "internals")]
use agtoken::deflate;
use agtoken::{Action, AppCertificate, AppId, CertificateSet, FixedSalt, Role, RtcToken, Token, Uid, UnixTime};
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const CHANNEL: &str = "7d72365eb983485397e3e3f9d460bdda";

fn benches(c: &mut Criterion) {
    let app = AppId::new("970CA35de60c44645bbae8a215061b33").unwrap();
    let cert = AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").unwrap();
    let now = UnixTime::from_secs(1_700_000_000);
    let builder = || {
        RtcToken::builder(&app, &cert).channel(CHANNEL).uid(Uid::Int(2882341273)).role(Role::Publisher).issued_at(now)
    };
    let token = builder().build().unwrap();
    let certs = CertificateSet::new(cert.clone());
    let content = match Token::parse(&token).unwrap() {
        Token::V007(p) => p.content().to_vec(),
        Token::V006(_) => unreachable!("built as 007"),
    };

    let mut g = c.benchmark_group("token");
    g.bench_function("007 RTC build (random salt)", |b| b.iter(|| black_box(builder().build().unwrap())));
    g.bench_function("007 RTC build (fixed salt)", |b| {
        let salts = FixedSalt(12345);
        b.iter(|| black_box(builder().salts(&salts).build().unwrap()))
    });
    g.bench_function("006 RTC build", |b| b.iter(|| black_box(builder().build_v006().unwrap())));
    g.bench_function("007 parse+verify", |b| {
        b.iter(|| black_box(Token::parse(black_box(&token)).unwrap().verify(&certs).unwrap()))
    });
    let join = Action::JoinChannel { channel: CHANNEL.into(), uid: Uid::Int(2882341273) };
    g.bench_function("007 parse+verify+admit", |b| {
        b.iter(|| {
            let v = Token::parse(black_box(&token)).unwrap().verify(&certs).unwrap();
            black_box(v.check(&app, &join, now).unwrap())
        })
    });
    // What a server judging each token it signs pays: the signed view, and its grants.
    g.bench_function("007 RTC build, signed view (encode_verified)", |b| {
        let token = builder().build_token().unwrap();
        b.iter(|| black_box(token.encode_verified(&certs).unwrap()))
    });
    let verified = Token::parse(&token).unwrap().verify(&certs).unwrap();
    g.bench_function("007 RTC grants (shared texts)", |b| b.iter(|| black_box(verified.grants())));
    g.bench_function("007 RTC grants (borrowed, walked)", |b| {
        b.iter(|| black_box(verified.borrowed_grants().fold(0u64, |n, g| n + g.until.as_secs())))
    });
    g.bench_function("007 RTC admit (verified)", |b| b.iter(|| black_box(verified.check(&app, &join, now).unwrap())));
    g.finish();

    let mut g = c.benchmark_group("floor");
    g.bench_function("3 x HMAC-SHA256", |b| {
        b.iter(|| {
            let mut m = Hmac::<Sha256>::new_from_slice(&now.as_secs().to_le_bytes()[..4]).unwrap();
            m.update(cert.expose_secret().as_bytes());
            let k1 = m.finalize().into_bytes();
            let mut m = Hmac::<Sha256>::new_from_slice(&12345u32.to_le_bytes()).unwrap();
            m.update(&k1);
            let k2 = m.finalize().into_bytes();
            let mut m = Hmac::<Sha256>::new_from_slice(&k2).unwrap();
            m.update(black_box(&content[34..]));
            black_box(m.finalize().into_bytes())
        })
    });
    let n = content.len();
    #[cfg(feature = "internals")]
    g.bench_function(format!("deflate {n} bytes (agtoken)"), |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(256);
            deflate::zlib_compress(black_box(&content), &mut out);
            black_box(out)
        })
    });
    // General-purpose deflaters, zlib format, on the same content: miniz_oxide directly, zlib-rs
    // through flate2 (its `zlib-rs` backend, see Cargo.toml). "fresh" builds the state per call
    // (what `compress_to_vec_zlib` does); "reused" keeps one compressor and resets it between
    // inputs, the best case for a server that keeps one per thread.
    for level in [1u8, 6] {
        g.bench_function(format!("deflate {n} bytes (miniz_oxide level {level}, fresh)"), |b| {
            b.iter(|| black_box(miniz_oxide::deflate::compress_to_vec_zlib(black_box(&content), level)))
        });
        g.bench_function(format!("deflate {n} bytes (miniz_oxide level {level}, reused CompressorOxide)"), |b| {
            use miniz_oxide::deflate::core::{compress, create_comp_flags_from_zip_params, CompressorOxide};
            use miniz_oxide::deflate::core::{TDEFLFlush, TDEFLStatus};
            let mut compressor = CompressorOxide::new(create_comp_flags_from_zip_params(level.into(), 15, 0));
            let mut out = vec![0; 512];
            b.iter(|| {
                compressor.reset();
                let (status, _, written) = compress(&mut compressor, black_box(&content), &mut out, TDEFLFlush::Finish);
                assert_eq!(status, TDEFLStatus::Done);
                black_box(&out[..written]);
            })
        });
        g.bench_function(format!("deflate {n} bytes (flate2/zlib-rs level {level}, reused Compress)"), |b| {
            let mut compressor = flate2::Compress::new(flate2::Compression::new(level.into()), true);
            let mut out = Vec::with_capacity(512);
            b.iter(|| {
                compressor.reset();
                out.clear();
                let status =
                    compressor.compress_vec(black_box(&content), &mut out, flate2::FlushCompress::Finish).unwrap();
                assert_eq!(status, flate2::Status::StreamEnd);
                black_box(&out);
            })
        });
    }
    // The token's own zlib stream (no need for the crate's deflater to get one).
    let compressed = base64::engine::general_purpose::STANDARD.decode(&token[3..]).unwrap();
    #[cfg(feature = "internals")]
    g.bench_function("inflate (agtoken)", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(256);
            deflate::zlib_decompress(black_box(&compressed), &mut out, 1 << 20).unwrap();
            black_box(out)
        })
    });
    g.bench_function("inflate (flate2/zlib-rs, reused Decompress)", |b| {
        let mut decompressor = flate2::Decompress::new(true);
        let mut out = Vec::with_capacity(512);
        b.iter(|| {
            decompressor.reset(true);
            out.clear();
            let status =
                decompressor.decompress_vec(black_box(&compressed), &mut out, flate2::FlushDecompress::Finish).unwrap();
            assert_eq!(status, flate2::Status::StreamEnd);
            black_box(&out);
        })
    });
    g.bench_function("base64 encode", |b| {
        b.iter(|| black_box(base64::engine::general_purpose::STANDARD.encode(black_box(&compressed))))
    });
    g.finish();
}

criterion_group!(name = group; config = Criterion::default().sample_size(50); targets = benches);
criterion_main!(group);
