//! AccessToken2: header, services, signature, and the text form `"007" + base64(zlib(content))`.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::service::Service;
use crate::deflate;
use crate::error::{Error, Result};
use crate::ids::{AppCertificate, CertificateSet};
use crate::verify::{SignedToken, Token};
use crate::wire::{Put, Reader, BASE64_IN};

type HmacSha256 = Hmac<Sha256>;

/// The version prefix of AccessToken2.
pub const VERSION_007: &str = "007";

/// The largest content a 007 token may inflate to: 8 KiB. The largest content any reference
/// library makes in the public vectors is a few hundred bytes (a full RTC + RTM + Chat token is
/// under 300); 8 KiB leaves room for long accounts and RTM 2 permission tables while keeping a
/// parse from being an amplifier (a 1.4 KB token could otherwise inflate to megabytes).
pub const MAX_CONTENT_BYTES: usize = 8 << 10;

/// An AccessToken2 ("007") as a structure: what is signed, without the signature.
///
/// This is the low-level form. It encodes anything the format can hold (needed to reproduce
/// the reference byte for byte); the builders in [`crate::build`] decide what is sensible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken2 {
    /// App id, as stored (32 hex characters when made by a builder).
    pub app_id: String,
    /// Issue time, Unix seconds.
    pub issued_at: u32,
    /// Seconds after `issued_at` when the token stops admitting new joins (`0`: Agora's 24 h cap).
    pub expire: u32,
    /// Random salt.
    pub salt: u32,
    /// Services, in insertion order. They are packed sorted by type (stable, so services of
    /// one type keep this order); a parsed token lists them in packed order.
    pub services: Vec<Service>,
}

/// `HMAC(u32le(salt), HMAC(u32le(issued_at), certificate))`: the key that signs the content.
pub(crate) fn signing_key(certificate: &AppCertificate, issued_at: u32, salt: u32) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(&issued_at.to_le_bytes()).expect("HMAC takes any key length");
    mac.update(certificate.secret());
    let k1 = mac.finalize().into_bytes();
    let mut mac = HmacSha256::new_from_slice(&salt.to_le_bytes()).expect("HMAC takes any key length");
    mac.update(&k1);
    mac.finalize().into_bytes().into()
}

fn sign(key: &[u8; 32], signing_info: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(signing_info);
    mac.finalize().into_bytes().into()
}

/// Standard alphabet with padding on output (input: [`BASE64_IN`]).
const B64_OUT: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl AccessToken2 {
    /// A token with no services yet.
    pub fn new(app_id: impl Into<String>, issued_at: u32, expire: u32, salt: u32) -> Self {
        AccessToken2 { app_id: app_id.into(), issued_at, expire, salt, services: Vec::new() }
    }

    /// Adds a service (packed after every service of a lower type and of the same type added before).
    pub fn add_service(&mut self, service: Service) -> &mut Self {
        self.services.push(service);
        self
    }

    /// The services in the order the format packs them: by type, stable.
    pub fn packed_services(&self) -> Vec<&Service> {
        let mut sorted: Vec<&Service> = self.services.iter().collect();
        sorted.sort_by_key(|s| s.type_code());
        sorted
    }

    /// The signed bytes: app id, issue time, expire, salt, services.
    pub fn signing_info(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(128);
        self.write_signing_info(&mut out)?;
        Ok(out)
    }

    fn write_signing_info(&self, out: &mut Vec<u8>) -> Result<()> {
        out.put_bytes("app_id", self.app_id.as_bytes())?;
        out.put_u32(self.issued_at);
        out.put_u32(self.expire);
        out.put_u32(self.salt);
        // An unknown service stands for every service the header declared from it on.
        let declared: usize = self
            .services
            .iter()
            .map(|s| match s {
                Service::Unknown { declared_services, .. } => *declared_services as usize,
                _ => 1,
            })
            .sum();
        let count = u16::try_from(declared).map_err(|_| Error::TooLong { field: "services", len: declared })?;
        out.put_u16(count);
        let already_sorted = self.services.windows(2).all(|w| w[0].type_code() <= w[1].type_code());
        if already_sorted {
            for s in &self.services {
                s.encode(out)?;
            }
        } else {
            for s in self.packed_services() {
                s.encode(out)?;
            }
        }
        Ok(())
    }

    /// The uncompressed content: `string(signature) + signing_info`.
    pub fn content(&self, certificate: &AppCertificate) -> Result<Vec<u8>> {
        // Signature slot first, filled in once the signing info behind it is known: one buffer.
        let mut content = Vec::with_capacity(256);
        content.put_u16(32);
        content.extend_from_slice(&[0; 32]);
        self.write_signing_info(&mut content)?;
        let key = signing_key(certificate, self.issued_at, self.salt);
        let signature = sign(&key, &content[34..]);
        content[2..34].copy_from_slice(&signature);
        Ok(content)
    }

    /// Signs and encodes: `"007" + base64(zlib(content))`.
    pub fn encode(&self, certificate: &AppCertificate) -> Result<String> {
        let content = self.content(certificate)?;
        Ok(encode_content(&content))
    }

    /// Signs with the primary certificate of `certificates` and encodes, as
    /// [`AccessToken2::encode`] does, and gives with the text its verified view, read by the
    /// library from the very content bytes it signed and compressed (what a full
    /// [`crate::Token::parse`] and [`crate::Token::verify`] of the text with `certificates`
    /// would give, without decoding, inflating and re-checking the fresh signature).
    pub fn encode_verified(&self, certificates: &CertificateSet) -> Result<SignedToken> {
        let content = self.content(certificates.primary())?;
        let text = encode_content(&content);
        let parsed = ParsedAccessToken2::from_content(content)?;
        Ok(SignedToken::new(text, Token::V007(parsed), None))
    }

    /// Parses a `"007…"` token. Nothing is trusted: see [`crate::Token::verify`].
    pub fn parse(token: &str) -> Result<ParsedAccessToken2> {
        let body = token
            .strip_prefix(VERSION_007)
            .ok_or_else(|| Error::UnknownVersion { prefix: token.chars().take(3).collect() })?;
        let body = body.trim_end().as_bytes();
        // Token-sized bodies decode on the stack: no allocation for a transient buffer.
        let mut stack = [0u8; 768];
        let heap;
        let compressed: &[u8] = if body.len() / 4 * 3 + 3 <= stack.len() {
            let n = BASE64_IN.decode_slice(body, &mut stack).map_err(|e| Error::Base64 { reason: e.to_string() })?;
            &stack[..n]
        } else {
            heap = BASE64_IN.decode(body).map_err(|e| Error::Base64 { reason: e.to_string() })?;
            &heap
        };
        let mut content = Vec::with_capacity(compressed.len() * 2 + 64);
        deflate::zlib_decompress(compressed, &mut content, MAX_CONTENT_BYTES)
            .map_err(|e| Error::Inflate { reason: e.to_string() })?;
        ParsedAccessToken2::from_content(content)
    }
}

/// `"007" + base64(zlib(content))`.
pub(crate) fn encode_content(content: &[u8]) -> String {
    let mut compressed = Vec::with_capacity(content.len() + 16);
    deflate::zlib_compress(content, &mut compressed);
    let mut out = String::with_capacity(3 + compressed.len().div_ceil(3) * 4);
    out.push_str(VERSION_007);
    B64_OUT.encode_string(&compressed, &mut out);
    out
}

/// A 007 token as read from its text, signature not yet checked. **Read-only**: its fields are
/// private, so what [`crate::Token::verify`] later vouches for is exactly what was read from
/// the signed bytes. To change a token, edit an [`AccessToken2`] (e.g. a clone of
/// [`ParsedAccessToken2::structure`]) and sign it anew.
///
/// ```compile_fail
/// # let t = agtoken::AccessToken2::new("970CA35de60c44645bbae8a215061b33", 1, 600, 1)
/// #     .encode(&agtoken::AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").unwrap()).unwrap();
/// let mut parsed = agtoken::AccessToken2::parse(&t).unwrap();
/// parsed.token.expire = 0; // error[E0616]: field `token` of struct `ParsedAccessToken2` is private
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedAccessToken2 {
    token: AccessToken2,
    content: Vec<u8>,
    signing_info_start: usize,
}

impl ParsedAccessToken2 {
    /// Parses inflated content.
    pub fn from_content(content: Vec<u8>) -> Result<Self> {
        let mut r = Reader::new(&content);
        r.bytes("signature")?;
        let signing_info_start = r.position();
        let app_id = r.string("app_id")?;
        let issued_at = r.u32("issued_at")?;
        let expire = r.u32("expire")?;
        let salt = r.u32("salt")?;
        let declared = r.u16("service count")?;
        let mut services = Vec::with_capacity(declared.min(16) as usize);
        for i in 0..declared {
            let service = Service::decode(&mut r, declared - i)?;
            let unknown = matches!(service, Service::Unknown { .. });
            services.push(service);
            if unknown {
                break;
            }
        }
        r.finish("last service")?;
        let token = AccessToken2 { app_id, issued_at, expire, salt, services };
        Ok(ParsedAccessToken2 { token, content, signing_info_start })
    }

    /// The structure read from the content (a copy to edit is `structure().clone()`).
    pub fn structure(&self) -> &AccessToken2 {
        &self.token
    }

    /// The inflated content, exactly as found.
    pub fn content(&self) -> &[u8] {
        &self.content
    }

    /// The signature as found (32 bytes in any token a reference library made).
    pub fn signature(&self) -> &[u8] {
        &self.content[2..self.signing_info_start]
    }

    /// The signed bytes, exactly as found in the token.
    pub fn signing_info(&self) -> &[u8] {
        &self.content[self.signing_info_start..]
    }

    /// Services of a type this library does not know (kept, with their bytes).
    pub fn unknown_services(&self) -> impl Iterator<Item = &Service> {
        self.token.services.iter().filter(|s| matches!(s, Service::Unknown { .. }))
    }

    /// Which certificate of the set signed this token (index 0 = primary), comparing in
    /// constant time. The bytes checked are the token's own, so a service this library does
    /// not know is covered too.
    pub fn verify_signature(&self, certificates: &CertificateSet) -> Result<usize> {
        for (index, certificate) in certificates.iter().enumerate() {
            let key = signing_key(certificate, self.token.issued_at, self.token.salt);
            let expected = sign(&key, self.signing_info());
            if bool::from(expected.as_slice().ct_eq(self.signature())) {
                return Ok(index);
            }
        }
        Err(Error::InvalidSignature { certificates: certificates.len() })
    }
}
