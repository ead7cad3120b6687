//! `*` patterns as Agora applies them at join time: `*` stands for any run of characters
//! (possibly empty); every other character stands for itself.

/// Whether `value` matches `pattern`. Linear-time two-pointer match with one backtrack point,
/// so a hostile pattern like `*a*a*a*…` cannot make it slow.
pub fn matches(pattern: &str, value: &str) -> bool {
    let (p, v) = (pattern.as_bytes(), value.as_bytes());
    if !p.contains(&b'*') {
        // The usual policy pattern: one channel name, compared whole (as `with_stars` would).
        return p == v;
    }
    with_stars(p, v)
}

fn with_stars(p: &[u8], v: &[u8]) -> bool {
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, vi));
            pi += 1;
        } else if pi < p.len() && p[pi] == v[vi] {
            pi += 1;
            vi += 1;
        } else if let Some((sp, sv)) = star {
            // Let the last `*` swallow one more byte and retry after it.
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// Whether a token's channel or user field admits everyone: `""` or `"*"`.
pub fn is_wildcard(field: &str) -> bool {
    field.is_empty() || field == "*"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything"));
        assert!(matches("1*a*2", "1a2"));
        assert!(matches("1*a*2", "1xxaxx2"));
        assert!(!matches("1*a*2", "1xx2"));
        assert!(!matches("1*a*2", "1a2x"));
        assert!(matches("room-*", "room-7"));
        assert!(!matches("room-*", "roo"));
        assert!(matches("abc", "abc"));
        assert!(!matches("abc", "abcd"));
        assert!(matches("a**b", "ab"));
        assert!(matches("*a*a*a*a*a*b", &format!("{}b", "a".repeat(64))));
        assert!(!matches("*a*a*a*a*a*b", &"a".repeat(64)));
    }

    /// A pattern without `*` takes the short way; the general match gives the same answers.
    #[test]
    fn patterns_without_a_star_are_compared_whole() {
        let texts = ["", "a", "ab", "abc", "abd", "room-7", "room-", "ROOM-7", "é", "a*"];
        for p in texts.iter().filter(|p| !p.contains('*')) {
            for v in texts {
                assert_eq!(matches(p, v), p == &v, "{p:?} {v:?}");
                assert_eq!(with_stars(p.as_bytes(), v.as_bytes()), p == &v, "{p:?} {v:?}");
            }
        }
    }

    #[test]
    fn wildcards() {
        assert!(is_wildcard(""));
        assert!(is_wildcard("*"));
        assert!(!is_wildcard("**x"));
    }
}
