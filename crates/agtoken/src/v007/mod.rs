//! AccessToken2, version "007": the current format.

mod service;
mod token;

pub use service::{
    ApaasPrivilege, ChatPrivilege, FcdnPrivilege, FpaPrivilege, Privileges, RtcPrivilege, Rtm2Permission,
    Rtm2Permissions, Rtm2Resource, RtmPrivilege, Service, ServiceType, StreamingPrivilege,
};
pub use token::{AccessToken2, ParsedAccessToken2, MAX_CONTENT_BYTES, VERSION_007};
