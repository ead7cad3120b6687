//! AccessToken, version "006": the legacy format.
//!
//! `"006" + app_id + base64(string(signature) + u32 crc32(channel) + u32 crc32(uid) + string(message))`
//! with `message = u32 salt + u32 ts + privileges`. Privilege values and `ts` are absolute
//! Unix times. The channel and uid are signed but stored only as CRC-32, so verifying a 006
//! token needs the channel and uid the client claims.

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::ids::{AppCertificate, CertificateSet};
use crate::verify::{SignedToken, Token};
use crate::wire::{Put, Reader, BASE64_IN};

/// The version prefix of AccessToken.
pub const VERSION_006: &str = "006";

privilege_enum!(
    /// Privileges of a 006 token.
    Privilege006 {
        /// 1: join channel.
        JoinChannel = 1 => "join_channel",
        /// 2: publish audio.
        PublishAudioStream = 2 => "publish_audio_stream",
        /// 3: publish video.
        PublishVideoStream = 3 => "publish_video_stream",
        /// 4: publish data stream.
        PublishDataStream = 4 => "publish_data_stream",
        /// 101: administrate channel.
        AdministrateChannel = 101 => "administrate_channel",
        /// 1000: RTM login.
        RtmLogin = 1000 => "rtm_login",
    }
);

impl Privilege006 {
    /// The service a 006 privilege belongs to: RTM for RTM login (1000), RTC for the others.
    pub fn service(self) -> crate::v007::ServiceType {
        match self {
            Privilege006::RtmLogin => crate::v007::ServiceType::Rtm,
            _ => crate::v007::ServiceType::Rtc,
        }
    }
}

/// A 006 token as a structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken006 {
    /// App id (stored in clear; 32 characters).
    pub app_id: String,
    /// Channel name (RTM tokens: the user account).
    pub channel_name: String,
    /// The uid string that is signed (`""` for uid 0 and for RTM tokens).
    pub uid: String,
    /// Random salt.
    pub salt: u32,
    /// Token expiry, absolute Unix time (the reference sets now + 24 h).
    pub ts: u32,
    /// Privilege key → absolute Unix time (`0` = no expiry).
    pub privileges: BTreeMap<u16, u32>,
}

type HmacSha256 = Hmac<Sha256>;

fn message_bytes(salt: u32, ts: u32, privileges: &BTreeMap<u16, u32>) -> Result<Vec<u8>> {
    let mut m = Vec::with_capacity(10 + privileges.len() * 6);
    m.put_u32(salt);
    m.put_u32(ts);
    m.put_privileges("privileges", privileges)?;
    Ok(m)
}

fn signature(certificate: &AppCertificate, app_id: &str, channel: &str, uid: &str, message: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(certificate.secret()).expect("HMAC takes any key length");
    mac.update(app_id.as_bytes());
    mac.update(channel.as_bytes());
    mac.update(uid.as_bytes());
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// CRC-32 (IEEE), as the format stores channel and uid.
pub fn crc32(text: &str) -> u32 {
    crc32fast::hash(text.as_bytes())
}

impl AccessToken006 {
    /// Signs and encodes.
    pub fn encode(&self, certificate: &AppCertificate) -> Result<String> {
        Ok(self.encode_content(certificate)?.0)
    }

    /// Signs with the primary certificate of `certificates` and encodes, as
    /// [`AccessToken006::encode`] does, and gives with the text its verified view for the
    /// channel and uid it signs, read by the library from the very content bytes it signed
    /// (what a full [`crate::Token::parse`] and [`crate::Token::verify_claimed`] of the text
    /// for them with `certificates` would give, without decoding and re-checking the fresh
    /// signature).
    pub fn encode_verified(&self, certificates: &CertificateSet) -> Result<SignedToken> {
        let (text, content) = self.encode_content(certificates.primary())?;
        let parsed = parse_content(&self.app_id, &content)?;
        let identity = (self.channel_name.clone(), self.uid.clone());
        Ok(SignedToken::new(text, Token::V006(parsed), Some(identity)))
    }

    /// The text and the (base64-decoded) content bytes it carries after the app id.
    fn encode_content(&self, certificate: &AppCertificate) -> Result<(String, Vec<u8>)> {
        if self.app_id.len() != 32 {
            // The app id is in clear at a fixed width: any other length cannot be parsed back.
            return Err(Error::invalid("app_id", "a 006 token stores the app id in 32 characters", &self.app_id));
        }
        let message = message_bytes(self.salt, self.ts, &self.privileges)?;
        let sig = signature(certificate, &self.app_id, &self.channel_name, &self.uid, &message);
        let mut content = Vec::with_capacity(46 + message.len());
        content.put_bytes("signature", &sig)?;
        content.put_u32(crc32(&self.channel_name));
        content.put_u32(crc32(&self.uid));
        content.put_bytes("privileges", &message)?;
        let mut out = String::with_capacity(35 + content.len().div_ceil(3) * 4);
        out.push_str(VERSION_006);
        out.push_str(&self.app_id);
        base64::engine::general_purpose::STANDARD.encode_string(&content, &mut out);
        Ok((out, content))
    }

    /// Parses a `"006…"` token. The channel and uid are not in it: only their CRC-32.
    pub fn parse(token: &str) -> Result<ParsedAccessToken006> {
        let rest = token
            .strip_prefix(VERSION_006)
            .ok_or_else(|| Error::UnknownVersion { prefix: token.chars().take(3).collect() })?;
        let app_id = rest.get(..32).ok_or(Error::Malformed {
            field: "app_id",
            rule: "a 006 token holds a 32-character app id after \"006\"",
        })?;
        let content = BASE64_IN.decode(rest[32..].trim_end()).map_err(|e| Error::Base64 { reason: e.to_string() })?;
        parse_content(app_id, &content)
    }
}

/// Reads a 006 token's content (the bytes after the app id, base64-decoded).
fn parse_content(app_id: &str, content: &[u8]) -> Result<ParsedAccessToken006> {
    let mut r = Reader::new(content);
    let signature = r.bytes("signature")?.to_vec();
    let crc_channel_name = r.u32("crc_channel_name")?;
    let crc_uid = r.u32("crc_uid")?;
    let message = r.bytes("privileges")?.to_vec();
    r.finish("privilege message")?;
    let mut m = Reader::new(&message);
    let salt = m.u32("salt")?;
    let ts = m.u32("ts")?;
    let privileges = m.privileges("privileges")?;
    m.finish("privileges")?;
    Ok(ParsedAccessToken006 {
        app_id: app_id.to_owned(),
        signature,
        crc_channel_name,
        crc_uid,
        salt,
        ts,
        privileges,
        message,
    })
}

/// A 006 token as read from its text, signature not yet checked. **Read-only** (private
/// fields, accessors): what verification vouches for is what was read from the signed bytes.
/// To change a token, edit an [`AccessToken006`] and sign it anew.
///
/// ```compile_fail
/// # let t = agtoken::AccessToken006 { app_id: "970CA35de60c44645bbae8a215061b33".into(),
/// #     channel_name: "c".into(), uid: "1".into(), salt: 1, ts: 2, privileges: Default::default() }
/// #     .encode(&agtoken::AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").unwrap()).unwrap();
/// let mut parsed = agtoken::AccessToken006::parse(&t).unwrap();
/// parsed.ts = u32::MAX; // error[E0616]: field `ts` of struct `ParsedAccessToken006` is private
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedAccessToken006 {
    app_id: String,
    signature: Vec<u8>,
    crc_channel_name: u32,
    crc_uid: u32,
    salt: u32,
    ts: u32,
    privileges: BTreeMap<u16, u32>,
    message: Vec<u8>,
}

impl ParsedAccessToken006 {
    /// App id (in clear).
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The signature as found.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// CRC-32 of the channel name (RTM tokens: of the user account).
    pub fn crc_channel_name(&self) -> u32 {
        self.crc_channel_name
    }

    /// CRC-32 of the packed uid string.
    pub fn crc_uid(&self) -> u32 {
        self.crc_uid
    }

    /// Salt.
    pub fn salt(&self) -> u32 {
        self.salt
    }

    /// Token expiry (absolute Unix time).
    pub fn ts(&self) -> u32 {
        self.ts
    }

    /// Privilege id → absolute Unix time (`0` = no limit of its own).
    pub fn privileges(&self) -> &BTreeMap<u16, u32> {
        &self.privileges
    }

    /// Whether `channel` has the CRC the token holds.
    pub fn channel_matches(&self, channel: &str) -> bool {
        crc32(channel) == self.crc_channel_name
    }

    /// Whether `uid` (the packed string) has the CRC the token holds.
    pub fn uid_matches(&self, uid: &str) -> bool {
        crc32(uid) == self.crc_uid
    }

    /// Which certificate signed this token for `channel` and `uid` (the packed uid string),
    /// comparing in constant time. A channel or uid whose CRC differs is reported as such.
    pub fn verify_signature(&self, certificates: &CertificateSet, channel: &str, uid: &str) -> Result<usize> {
        if !self.channel_matches(channel) {
            return Err(Error::ChannelMismatch {
                token: format!("<crc32 {:08x}>", self.crc_channel_name),
                requested: channel.to_owned(),
            });
        }
        if !self.uid_matches(uid) {
            return Err(Error::UidMismatch {
                token: format!("<crc32 {:08x}>", self.crc_uid),
                requested: format!("{uid:?}"),
            });
        }
        for (index, certificate) in certificates.iter().enumerate() {
            let expected = signature(certificate, &self.app_id, channel, uid, &self.message);
            if bool::from(expected.as_slice().ct_eq(&self.signature)) {
                return Ok(index);
            }
        }
        Err(Error::InvalidSignature { certificates: certificates.len() })
    }

    /// The structure, given the channel and uid the token was made for.
    pub fn with_identity(&self, channel: &str, uid: &str) -> AccessToken006 {
        AccessToken006 {
            app_id: self.app_id.clone(),
            channel_name: channel.to_owned(),
            uid: uid.to_owned(),
            salt: self.salt,
            ts: self.ts,
            privileges: self.privileges.clone(),
        }
    }
}
