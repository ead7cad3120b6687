#![forbid(unsafe_code)]
//! The agtoken token server (see issue 3).
