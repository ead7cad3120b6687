#![forbid(unsafe_code)]
#![deny(missing_docs)]
//! agtoken (work in progress)

pub(crate) mod deflate;
