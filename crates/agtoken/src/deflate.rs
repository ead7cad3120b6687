//! TEMPORARY stand-in (miniz_oxide) until the tiny-input deflater lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    Invalid,
}
impl std::fmt::Display for InflateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid zlib stream")
    }
}
pub(crate) fn zlib_compress(input: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec_zlib(input, 6));
}
pub(crate) fn zlib_decompress(input: &[u8], out: &mut Vec<u8>, max_output: usize) -> Result<(), InflateError> {
    let v = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(input, max_output)
        .map_err(|_| InflateError::Invalid)?;
    out.extend_from_slice(&v);
    Ok(())
}
