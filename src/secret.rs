//! Secrets: which keys hold them, how they are shown, and the URL userinfo
//! rule every stage shares.
//!
//! A secret is the value of any key whose name looks like one (misspelt and
//! unknown keys included), any `${VAR}`-substituted value, and the userinfo
//! of any URL. Masking happens at the source (model serialisation, diff
//! output, error messages), so no later stage can leak a secret by
//! forgetting to mask. No I/O.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// What a masked value starts with.
pub const MASK: &str = "••••••";

/// Whether a key names a secret: any key containing `token`, `tokn`,
/// `secret`, `passw`, `pwd`, `api_key`/`apikey`/`api-key`,
/// `private_key`/`privatekey`/`private-key`, `credential`, or `auth` (but
/// not as part of `author`; `authorization` counts), in any case; or one
/// misspelt by a single letter (one added, dropped, changed or two swapped):
/// `api_kee`, `pasword`, `secert`, `credentail`.
pub fn is_secret_key(key: &str) -> bool {
    contains_secret_word(key) || misspells_a_secret_word(key)
}

/// The words a secret key contains (besides `auth`, which has its rule).
const NEEDLES: [&str; 12] = [
    "token",
    "tokn",
    "secret",
    "passw",
    "pwd",
    "api_key",
    "apikey",
    "api-key",
    "private_key",
    "privatekey",
    "private-key",
    "credential",
];

/// Which lower-cased bytes start a word of [`NEEDLES`] or `auth`: most
/// bytes of most keys start none and need no comparison.
const STARTS_A_WORD: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < NEEDLES.len() {
        table[NEEDLES[i].as_bytes()[0] as usize] = true;
        i += 1;
    }
    table[b'a' as usize] = true;
    table
};

fn contains_secret_word(key: &str) -> bool {
    // Compared in place, ignoring ASCII case: no lowered copy and no
    // substring searcher per needle (this runs for every key of every file).
    let key = key.as_bytes();
    let at = |i: usize, needle: &str| {
        key.get(i..i + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    key.iter().enumerate().any(|(i, c)| {
        let c = c.to_ascii_lowercase();
        if !STARTS_A_WORD[usize::from(c)] {
            return false;
        }
        NEEDLES.iter().any(|n| n.as_bytes()[0] == c && at(i, n))
            // `author` names a person; `authorization` is a credential.
            || (c == b'a'
                && at(i, "auth")
                && (!at(i, "author") || at(i, "authoriz") || at(i, "authoris")))
    })
}

/// Whether a word of `key`, or the whole key without its separators, is
/// one edit away from a secret word. Only words of six letters or more:
/// shorter ones are one edit away from too many ordinary words (`token` and
/// `taken`), and `passwd` is left out for `passed`.
fn misspells_a_secret_word(key: &str) -> bool {
    const WORDS: [&str; 6] = [
        "password",
        "secret",
        "apikey",
        "privatekey",
        "credential",
        "credentials",
    ];
    /// Longer than the longest word by two: never one edit from any.
    const MAX: usize = 13;
    // Lower-cased into a buffer on the stack: this runs for every key.
    let near = |word: &mut dyn Iterator<Item = u8>| {
        let mut buf = [0u8; MAX];
        let mut len = 0;
        // The secret words are all letters: one edit leaves at most one
        // other character (`k00001` is far from any of them).
        let mut others = 0;
        for b in word {
            if len == MAX || others > 1 {
                return false;
            }
            others += usize::from(!b.is_ascii_alphabetic());
            buf[len] = b.to_ascii_lowercase();
            len += 1;
        }
        len >= 6
            && others <= 1
            && WORDS
                .iter()
                .any(|w| one_edit_apart(&buf[..len], w.as_bytes()))
    };
    let bytes = key.as_bytes();
    let mut words = bytes.split(|b| !b.is_ascii_alphanumeric());
    // A key of one word is its own joined form: one look is enough.
    let one_word = !bytes.iter().any(|b| !b.is_ascii_alphanumeric());
    (!one_word && near(&mut bytes.iter().copied().filter(u8::is_ascii_alphanumeric)))
        || words.any(|w| near(&mut w.iter().copied()))
}

/// Whether `a` becomes `b` by one inserted, deleted or changed byte, or by
/// swapping two neighbours (equal strings are not one edit apart).
fn one_edit_apart(a: &[u8], b: &[u8]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > 1 || a == b {
        return false;
    }
    let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    if short.len() == long.len() {
        let (a, b) = (&a[prefix..], &b[prefix..]);
        // One byte changed, or two neighbours swapped.
        a[1..] == b[1..] || (a.len() >= 2 && a[0] == b[1] && a[1] == b[0] && a[2..] == b[2..])
    } else {
        // One byte inserted into `short` at `prefix`.
        short[prefix..] == long[prefix + 1..]
    }
}

/// Whether a raw value reads the environment (`${VAR}` anywhere in it).
pub fn has_env_reference(value: &str) -> bool {
    value
        .find("${")
        .is_some_and(|start| value[start..].contains('}'))
}

/// Whether a raw value is nothing but `${NAME}` references (and spaces):
/// it names where a secret comes from, and the name is not the secret.
pub fn is_only_env_references(value: &str) -> bool {
    let mut rest = value.trim();
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let Some(after) = rest.strip_prefix("${") else {
            return false;
        };
        let Some(end) = after.find('}') else {
            return false;
        };
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return false;
        }
        rest = after[end + 1..].trim_start();
    }
    true
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

/// The byte range of the userinfo (`user:pass`) of the URL whose `://` ends
/// at byte `authority` of `text`, if it has one. The authority ends at the
/// first `/ ? #`, quote, bracket or whitespace.
fn userinfo_at(text: &str, authority: usize) -> Option<std::ops::Range<usize>> {
    let rest = &text[authority..];
    let end = rest
        .find(|c: char| {
            matches!(
                c,
                '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`' | ')' | ']' | '}' | ','
            ) || c.is_whitespace()
        })
        .unwrap_or(rest.len());
    let at = rest[..end].rfind('@')?;
    (at > 0).then(|| authority..authority + at)
}

/// The byte ranges of every URL userinfo in `text`.
pub fn userinfo_ranges(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("://") {
        let authority = from + i + 3;
        if let Some(r) = userinfo_at(text, authority) {
            from = r.end;
            out.push(r);
        } else {
            from = authority;
        }
    }
    out
}

/// `text` with the userinfo of every URL masked: `https://u:p@host` becomes
/// `https://••••••@host`.
pub fn mask_userinfo(text: &str) -> String {
    let ranges = userinfo_ranges(text);
    if ranges.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for r in ranges {
        out.push_str(&text[last..r.start]);
        out.push_str(MASK);
        last = r.end;
    }
    out.push_str(&text[last..]);
    out
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
            "api_tokn",
            "API_KEY",
            "apikey",
            "client_secret",
            "password",
            "passwd",
            "db_pwd",
            "private_key",
            "credentials",
            "Authorization",
            "auth",
            "oauth_client",
            "author_auth",
            // Misspelt by one letter.
            "api_kee",
            "apikye",
            "pasword",
            "jira_passowrd",
            "secert",
            "client_secrte",
            "credentail",
            "privat_key",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "base_url",
            "email",
            "project_key",
            "timeout_ms",
            "name",
            "author",
            "authors",
            "author_name",
            // One letter from a secret word, but too short to tell.
            "taken",
            "passed",
            "select",
            "sector",
            "passport",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    /// The substring rule as first written: lower-case the key, then search
    /// it (`contains_secret_word` compares in place).
    fn is_secret_key_by_search(key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        NEEDLES.iter().any(|n| key.contains(n))
            || key.match_indices("auth").any(|(i, _)| {
                let rest = &key[i..];
                !rest.starts_with("author")
                    || rest.starts_with("authoriz")
                    || rest.starts_with("authoris")
            })
    }

    #[test]
    fn secret_keys_match_the_search_rule_on_every_mix() {
        let parts = [
            "",
            "x",
            "AUTH",
            "or",
            "iz",
            "is",
            "Author",
            "tok",
            "en",
            "Pass",
            "w",
            "é",
            "İ",
            "pwd",
            "_key",
            "api",
            "-",
            "private",
            "credential",
            "SECRET",
            "ß",
        ];
        for a in parts {
            for b in parts {
                for c in parts {
                    let key = format!("{a}{b}{c}");
                    assert_eq!(
                        contains_secret_word(&key),
                        is_secret_key_by_search(&key),
                        "{key}"
                    );
                }
            }
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
        assert!(is_only_env_references("${JIRA_API_TOKEN}"));
        assert!(is_only_env_references(" ${A}${B} "));
        assert!(!is_only_env_references("Bearer ${T}"));
        assert!(!is_only_env_references("${A}x"));
        assert!(!is_only_env_references("${}"));
        assert!(!is_only_env_references("${A B}"));
        assert!(!is_only_env_references(""));
    }

    #[test]
    fn userinfo_is_masked_in_every_url_and_nothing_else() {
        assert_eq!(
            mask_userinfo("see https://admin:PASSWORD@jira.example.com/x and http://u@h"),
            format!("see https://{MASK}@jira.example.com/x and http://{MASK}@h")
        );
        assert_eq!(
            mask_userinfo("https://jira.example.com/a@b"),
            "https://jira.example.com/a@b"
        );
        assert_eq!(mask_userinfo("mail a@b.c"), "mail a@b.c");
        assert_eq!(mask_userinfo("x://@h"), "x://@h");
    }
}
