//! Secrets: which keys hold them, and how they are shown.
//!
//! Masking happens at the source (model serialisation, diff output), so no
//! later stage can leak a secret by forgetting to mask. No I/O.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// What a masked value starts with.
pub const MASK: &str = "••••••";

/// Whether a key names a secret: any key containing `token`, `secret`,
/// `password`, `passwd`, `api_key`, `apikey`, `api-key` or `authorization`,
/// in any case.
pub fn is_secret_key(key: &str) -> bool {
    const NEEDLES: [&str; 8] = [
        "token",
        "secret",
        "password",
        "passwd",
        "api_key",
        "apikey",
        "api-key",
        "authorization",
    ];
    let key = key.to_ascii_lowercase();
    NEEDLES.iter().any(|n| key.contains(n))
}

/// Whether a raw value reads the environment (`${VAR}` anywhere in it).
pub fn has_env_reference(value: &str) -> bool {
    value
        .find("${")
        .is_some_and(|start| value[start..].contains('}'))
}

/// The masked form of a secret: the mask plus a short fingerprint, so that a
/// change of secret is visible without revealing either value.
///
/// The fingerprint is keyed with a per-process random salt: equal within one
/// run, useless for guessing the value offline.
pub fn mask(value: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt());
    hasher.update(value.as_bytes());
    let digest = hasher.finalize();
    let fp: String = digest[..3].iter().map(|b| format!("{b:02x}")).collect();
    format!("{MASK}{fp}")
}

fn salt() -> &'static [u8; 16] {
    static SALT: OnceLock<[u8; 16]> = OnceLock::new();
    SALT.get_or_init(|| {
        // RandomState is seeded from the OS per process; two of them give
        // 128 bits without another dependency.
        use std::hash::{BuildHasher, Hasher};
        let mut out = [0u8; 16];
        for chunk in out.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(std::process::id().into());
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys() {
        for k in [
            "api_token",
            "API_KEY",
            "apikey",
            "client_secret",
            "password",
            "Authorization",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["base_url", "email", "project_key", "timeout_ms", "name"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn mask_hides_the_value_but_shows_a_change() {
        let a = mask("hunter2-secret");
        assert!(!a.contains("hunter2"));
        assert!(a.starts_with(MASK));
        assert_eq!(a, mask("hunter2-secret"));
        assert_ne!(a, mask("hunter3-secret"));
    }

    #[test]
    fn env_references() {
        assert!(has_env_reference("${JIRA_API_TOKEN}"));
        assert!(has_env_reference("Bearer ${T}"));
        assert!(!has_env_reference("$HOME"));
    }
}
