//! HMAC-SHA256 signatures in hex, as the platforms that push to the gateway sign their calls
//! (Slack's `v0=`, Meta's `sha256=`).

/// Whether `hex` is the HMAC-SHA256 of `message` under `secret` (compared in constant time).
pub fn hmac_sha256_hex_matches(secret: &[u8], message: &[u8], hex: &str) -> bool {
    let Some(presented) = decode_hex(hex.trim()) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    // Constant time, in ring.
    ring::hmac::verify(&key, message, &presented).is_ok()
}

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_matches_only_its_secret_and_message() {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"secret");
        let tag = ring::hmac::sign(&key, b"body");
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert!(hmac_sha256_hex_matches(b"secret", b"body", &hex));
        assert!(hmac_sha256_hex_matches(
            b"secret",
            b"body",
            &hex.to_uppercase()
        ));
        assert!(!hmac_sha256_hex_matches(b"other", b"body", &hex));
        assert!(!hmac_sha256_hex_matches(b"secret", b"bodx", &hex));
        assert!(!hmac_sha256_hex_matches(b"secret", b"body", "zz"));
        assert!(!hmac_sha256_hex_matches(b"secret", b"body", &hex[1..]));
        assert_eq!(sha256_hex(b"").len(), 64);
    }
}
