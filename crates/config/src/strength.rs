//! How hard a shared secret is to guess: the gateway refuses weak ones on a network-facing bind,
//! `pincer security audit` and `doctor` flag them everywhere.
//!
//! The estimate is length × log2(the alphabet the characters are drawn from), the alphabet being
//! the character classes present (hex counts as 16). It is generous to passphrases made of words,
//! so the well-known placeholders are refused by name as well.

/// Secrets must carry at least this much (a 32-character hex string does).
pub const MIN_BITS: f64 = 128.0;

/// What people leave in configs, compared case-insensitively.
const WELL_KNOWN: [&str; 7] = [
    "secret", "password", "token", "test", "admin", "letmein", "12345678",
];

/// Substrings that mark a value copied from an example.
const PLACEHOLDERS: [&str; 7] = [
    "change-me",
    "changeme",
    "change_me",
    "your-",
    "example",
    "placeholder",
    "generate_with",
];

/// Bits of guessing work `secret` is worth, by the estimate in the module docs.
pub fn estimated_bits(secret: &str) -> f64 {
    let length = secret.chars().count();
    if length == 0 {
        return 0.0;
    }
    // Hex in one case; digits alone fall to the class sum below (10).
    let hex = secret.chars().all(|c| c.is_ascii_hexdigit())
        && secret.chars().any(|c| c.is_ascii_alphabetic())
        && !(secret.chars().any(|c| c.is_ascii_lowercase())
            && secret.chars().any(|c| c.is_ascii_uppercase()));
    let alphabet = if hex {
        16
    } else {
        let has = |member: fn(&char) -> bool| secret.chars().any(|c| member(&c));
        let mut size = 0u32;
        for (member, class_size) in [
            (char::is_ascii_lowercase as fn(&char) -> bool, 26),
            (char::is_ascii_uppercase, 26),
            (char::is_ascii_digit, 10),
            (|c: &char| !c.is_ascii_alphanumeric(), 32),
        ] {
            if has(member) {
                size += class_size;
            }
        }
        size
    };
    length as f64 * f64::from(alphabet).log2()
}

/// Why `secret` is too weak to guard anything, if it is.
pub fn weakness(secret: &str) -> Option<String> {
    let lower = secret.trim().to_ascii_lowercase();
    if WELL_KNOWN.contains(&lower.as_str()) || PLACEHOLDERS.iter().any(|p| lower.contains(p)) {
        return Some("a placeholder or a well-known word".to_owned());
    }
    let distinct: std::collections::BTreeSet<char> = secret.chars().collect();
    if distinct.len() < 8 {
        return Some("too few distinct characters".to_owned());
    }
    let bits = estimated_bits(secret);
    if bits < MIN_BITS {
        return Some(format!(
            "about {bits:.0} bits, at least {MIN_BITS:.0} are needed (`openssl rand -hex 32` gives 256)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_short_secrets_are_weak() {
        for weak in [
            "changeme",
            "your-64-char-hex-token-here",
            "GENERATE_WITH_OPENSSL_RAND",
            "change-me-run-openssl-rand-hex-32",
            "short",
            "test-token",
            &"a".repeat(64),
            // 31 hex characters: 124 bits.
            "3f9c1e0b7a5d4c2e8f6a1b3d5c7e9f0",
        ] {
            assert!(weakness(weak).is_some(), "{weak:?} passed");
        }
    }

    #[test]
    fn generated_secrets_are_strong() {
        for strong in [
            "3f9c1e0b7a5d4c2e8f6a1b3d5c7e9f0a",
            "3f9c1e0b7a5d4c2e8f6a1b3d5c7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e",
            // 22 base64url characters: 132 bits.
            "q8Zt-3vKp_Lw9xYb2NcR7u",
        ] {
            assert_eq!(weakness(strong), None, "{strong:?} refused");
        }
    }

    #[test]
    fn hex_counts_four_bits_a_character() {
        assert_eq!(estimated_bits("00ff"), 16.0);
        assert_eq!(estimated_bits("1000"), 4.0 * 10f64.log2());
        assert_eq!(estimated_bits(""), 0.0);
        assert!(estimated_bits("aB") > 10.0);
    }
}
