//! Little-endian primitives of both formats: a writer that refuses what cannot be encoded,
//! and a reader that checks every length before it reads.

use std::collections::BTreeMap;

/// Base64 as both formats use it: standard alphabet; padding optional on input, as in Node's
/// decoder, which the reference libraries use.
pub(crate) const BASE64_IN: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

use crate::error::{Error, Result};

/// Appends the format's primitives to a byte buffer.
pub(crate) trait Put {
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_i16(&mut self, v: i16);
    /// `u16` length + bytes; a value over 65535 bytes is an error naming `field`.
    fn put_bytes(&mut self, field: &'static str, v: &[u8]) -> Result<()>;
    /// `u16` count + sorted (`u16` key, `u32` value) pairs.
    fn put_privileges(&mut self, field: &'static str, map: &BTreeMap<u16, u32>) -> Result<()>;
}

impl Put for Vec<u8> {
    #[inline]
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn put_i16(&mut self, v: i16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn put_bytes(&mut self, field: &'static str, v: &[u8]) -> Result<()> {
        let len = u16::try_from(v.len()).map_err(|_| Error::TooLong { field, len: v.len() })?;
        self.put_u16(len);
        self.extend_from_slice(v);
        Ok(())
    }
    fn put_privileges(&mut self, field: &'static str, map: &BTreeMap<u16, u32>) -> Result<()> {
        let count = u16::try_from(map.len()).map_err(|_| Error::TooLong { field, len: map.len() })?;
        self.put_u16(count);
        for (&key, &value) in map {
            self.put_u16(key);
            self.put_u32(value);
        }
        Ok(())
    }
}

/// Reads the format's primitives from a byte slice, never past its end.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The bytes not read yet, consuming them.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        self.pos = self.buf.len();
        rest
    }

    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(Error::truncated(field, self.pos, n, self.remaining()));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16> {
        let b = self.take(field, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16> {
        let b = self.take(field, 2)?;
        Ok(i16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32> {
        let b = self.take(field, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn bytes(&mut self, field: &'static str) -> Result<&'a [u8]> {
        let len = self.u16(field)? as usize;
        self.take(field, len)
    }

    pub(crate) fn string(&mut self, field: &'static str) -> Result<String> {
        let b = self.bytes(field)?;
        std::str::from_utf8(b).map(str::to_owned).map_err(|_| Error::NotUtf8 { field })
    }

    /// A privilege map. Keys must ascend strictly, as every encoder writes them; anything
    /// else would make two different byte strings mean the same map.
    pub(crate) fn privileges(&mut self, field: &'static str) -> Result<BTreeMap<u16, u32>> {
        let count = self.u16(field)? as usize;
        // Each entry is 6 bytes: refuse a count the input cannot hold before looping.
        if count * 6 > self.remaining() {
            return Err(Error::truncated(field, self.pos, count * 6, self.remaining()));
        }
        let mut map = BTreeMap::new();
        let mut last: Option<u16> = None;
        for _ in 0..count {
            let key = self.u16(field)?;
            let value = self.u32(field)?;
            if last.is_some_and(|l| key <= l) {
                return Err(Error::Malformed { field, rule: "privilege keys must be in strictly ascending order" });
            }
            last = Some(key);
            map.insert(key, value);
        }
        Ok(map)
    }

    pub(crate) fn finish(&self, after: &'static str) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(Error::TrailingBytes { count, after }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_long_string_is_an_error_not_a_truncation() {
        let mut out = Vec::new();
        let long = vec![b'a'; 65536];
        assert_eq!(out.put_bytes("channel_name", &long), Err(Error::TooLong { field: "channel_name", len: 65536 }));
        assert!(out.put_bytes("channel_name", &long[..65535]).is_ok());
        assert_eq!(out.len(), 65537);
    }

    #[test]
    fn reader_refuses_lengths_past_the_end() {
        let mut r = Reader::new(&[5, 0, b'a', b'b']);
        assert!(matches!(r.bytes("uid"), Err(Error::Truncated { field: "uid", needed: 5, available: 2, .. })));
    }

    #[test]
    fn privilege_count_larger_than_input_is_refused_without_looping() {
        let mut r = Reader::new(&[0xff, 0xff, 1, 0]);
        assert!(matches!(r.privileges("privileges"), Err(Error::Truncated { .. })));
    }

    #[test]
    fn unsorted_privileges_are_malformed() {
        let mut buf = Vec::new();
        buf.put_u16(2);
        buf.put_u16(2);
        buf.put_u32(1);
        buf.put_u16(1);
        buf.put_u32(1);
        assert!(matches!(Reader::new(&buf).privileges("privileges"), Err(Error::Malformed { .. })));
    }
}
