//! Agora's documented input rules, applied by the strict builders.
//!
//! The official libraries check almost none of these and hand out tokens that the SDK or
//! the edge then refuses. Each failure names the field and the rule.

use crate::error::{Error, Result};
use crate::time::{Expiry, UnixTime, MAX_LIFETIME_SECS};

/// Characters Agora allows in channel names (and `*` for wildcard patterns in tokens).
const CHANNEL_PUNCTUATION: &[u8] = b" !#$%&()+-:;<=.>?@[]^_{}|~,*";

/// Channel names must be shorter than 64 bytes.
pub const MAX_CHANNEL_BYTES: usize = 63;
/// User accounts: at most 255 bytes.
pub const MAX_ACCOUNT_BYTES: usize = 255;
/// RTM user ids: at most 64 bytes.
pub const MAX_RTM_USER_ID_BYTES: usize = 64;
/// Chat user ids and APaaS uuids: at most 255 bytes.
pub const MAX_CHAT_USER_ID_BYTES: usize = 255;

/// A channel name (or a `*` pattern): shorter than 64 bytes, from Agora's character set.
pub fn channel_name(field: &'static str, name: &str) -> Result<()> {
    if name.len() > MAX_CHANNEL_BYTES {
        return Err(Error::invalid(field, "must be shorter than 64 bytes", name));
    }
    if name.bytes().any(|b| !(b.is_ascii_alphanumeric() || CHANNEL_PUNCTUATION.contains(&b))) {
        return Err(Error::invalid(
            field,
            "may contain only a-z A-Z 0-9 space ! # $ % & ( ) + - : ; < = . > ? @ [ ] ^ _ { } | ~ , and * for patterns",
            name,
        ));
    }
    Ok(())
}

/// A string user account: 1 to 255 bytes. (The wildcard is `Uid::Any`, not an empty account.)
pub fn account(field: &'static str, account: &str) -> Result<()> {
    if account.is_empty() {
        return Err(Error::invalid(field, "must not be empty (use Uid::Any, uid 0, for any user)", account));
    }
    if account.len() > MAX_ACCOUNT_BYTES {
        return Err(Error::invalid(field, "must be at most 255 bytes", account));
    }
    Ok(())
}

/// An RTM user id: 1 to 64 bytes.
pub fn rtm_user_id(field: &'static str, user_id: &str) -> Result<()> {
    if user_id.is_empty() {
        return Err(Error::invalid(field, "must not be empty", user_id));
    }
    if user_id.len() > MAX_RTM_USER_ID_BYTES {
        return Err(Error::invalid(field, "must be at most 64 bytes", user_id));
    }
    Ok(())
}

/// A Chat user id or an APaaS uuid: 1 to 255 bytes.
pub fn chat_user_id(field: &'static str, user_id: &str) -> Result<()> {
    if user_id.is_empty() {
        return Err(Error::invalid(field, "must not be empty", user_id));
    }
    if user_id.len() > MAX_CHAT_USER_ID_BYTES {
        return Err(Error::invalid(field, "must be at most 255 bytes", user_id));
    }
    Ok(())
}

/// The rule a zero lifetime breaks ([`lifetime`]), for callers that say it in their own terms
/// (the CLI's `--valid-for unlimited`, a request's field).
pub const ZERO_LIFETIME_RULE: &str =
    "a lifetime of 0 s would be stored as 0, which Agora reads as no limit of its own: use Expiry::Unlimited for that";

/// A lifetime: not before the issue time, and at most 24 hours after it (Agora ends every
/// token then). [`Expiry::Unlimited`] (stored as 0) keeps its documented meaning.
pub fn lifetime(field: &'static str, expiry: Expiry, issued_at: UnixTime) -> Result<()> {
    if let Expiry::At(t) = expiry {
        if t < issued_at {
            return Err(Error::invalid(field, "must not be before the issue time", t.to_string()));
        }
    }
    match expiry.lifetime_secs(issued_at) {
        // 0 on the wire means "no limit of its own", the opposite of what a zero duration says.
        Some(0) => Err(Error::invalid(field, ZERO_LIFETIME_RULE, "0 s")),
        Some(secs) if secs > MAX_LIFETIME_SECS => Err(Error::invalid(
            field,
            "must be at most 24 hours (86400 s) after issue: Agora refuses longer-lived tokens",
            format!("{secs} s"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_rules() {
        assert!(channel_name("channel", "").is_ok());
        assert!(channel_name("channel", "room-1 !#$%&()+-:;<=.>?@[]^_{}|~,").is_ok());
        assert!(channel_name("channel", "1*a*2").is_ok());
        assert!(channel_name("channel", &"a".repeat(63)).is_ok());
        let err = channel_name("channel", &"a".repeat(64)).unwrap_err();
        assert!(err.to_string().contains("shorter than 64 bytes"), "{err}");
        for bad in ["a/b", "é", "a\"b", "a'b", "a\\b", "a\nb", "a`b"] {
            let err = channel_name("channel", bad).unwrap_err();
            assert!(matches!(err, Error::Invalid { field: "channel", .. }), "{bad}");
        }
    }

    #[test]
    fn lifetime_rules() {
        let t = UnixTime(1_000_000);
        assert!(lifetime("expire", Expiry::secs(86400), t).is_ok());
        assert!(lifetime("expire", Expiry::Unlimited, t).is_ok());
        assert!(lifetime("expire", Expiry::secs(86401), t).is_err());
        assert!(lifetime("expire", Expiry::At(t.plus_secs(86401)), t).is_err());
        assert!(lifetime("expire", Expiry::At(UnixTime(999_999)), t).is_err());
        assert!(lifetime("expire", Expiry::secs(0), t).is_err());
        assert!(lifetime("expire", Expiry::At(t), t).is_err());
    }

    #[test]
    fn id_rules() {
        assert!(account("account", &"x".repeat(255)).is_ok());
        assert!(account("account", &"x".repeat(256)).is_err());
        assert!(account("account", "").is_err());
        assert!(rtm_user_id("user_id", &"x".repeat(64)).is_ok());
        assert!(rtm_user_id("user_id", &"x".repeat(65)).is_err());
        assert!(chat_user_id("user_id", "").is_err());
    }
}
