//! Integration tests of the server on a real socket.

mod common;
mod compat;
mod errors;
mod rtc_four;
mod schemas;
mod shutdown;
mod v1;
