//! Checking that a delivery comes from the forge: GitHub's HMAC signature, GitLab's token.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Checks `X-Hub-Signature-256: sha256=HEX` against HMAC-SHA256 of the body, in constant time.
pub fn github_signature_ok(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Some(signature) = decode_hex(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// Compares `X-Gitlab-Token` with the secret in constant time (over digests, so the secret's
/// length does not leak either).
pub fn gitlab_token_ok(secret: &str, header: &str) -> bool {
    let expected = Sha256::digest(secret.as_bytes());
    let presented = Sha256::digest(header.as_bytes());
    expected.ct_eq(&presented).into()
}

/// The GitHub signature of a body, `sha256=HEX` (for tests and tools that send deliveries).
pub fn github_sign(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_example_from_the_docs() {
        // The example of GitHub's "Validating webhook deliveries" page.
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(github_signature_ok(
            "It's a Secret to Everybody",
            b"Hello, World!",
            header
        ));
        assert_eq!(
            github_sign("It's a Secret to Everybody", b"Hello, World!"),
            header
        );
    }

    #[test]
    fn github_rejects_wrong_secret_body_or_format() {
        let good = github_sign("k", b"body");
        assert!(github_signature_ok("k", b"body", &good));
        assert!(!github_signature_ok("other", b"body", &good));
        assert!(!github_signature_ok("k", b"bodY", &good));
        assert!(!github_signature_ok(
            "k",
            b"body",
            good.trim_start_matches("sha256=")
        ));
        assert!(!github_signature_ok("k", b"body", "sha256=zz"));
        assert!(!github_signature_ok("k", b"body", "sha256="));
    }

    #[test]
    fn gitlab_token_must_match_exactly() {
        assert!(gitlab_token_ok("tok", "tok"));
        assert!(!gitlab_token_ok("tok", "to"));
        assert!(!gitlab_token_ok("tok", ""));
    }
}
