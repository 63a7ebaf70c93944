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
/// `secret`, `passw`, `passphrase`, `pwd`, `api_key`/`apikey`/`api-key`,
/// `private_key`, `access_key`, `ssh_key` (each also without its `_` or
/// with `-`), `credential`, `bearer`, `webhook_url`, or `auth` (but not as
/// part of `author`; `authorization` counts), in any case; any key with
/// `pass` as its last word (`pass`, `db_pass`, `dbPass`; not `passed`,
/// `bypass` or `pass_rate`, a test count); or one misspelt by a single letter (one added, dropped,
/// changed or two swapped): `api_kee`, `pasword`, `secert`, `credentail`.
///
/// A key that merely describes a secret (`password_policy`) counts too:
/// masking a value that was not secret costs a reader one value, leaking
/// one that was costs the secret.
pub fn is_secret_key(key: &str) -> bool {
    contains_secret_word(key) || ends_with_pass(key) || misspells_a_secret_word(key)
}

/// Whether the last word of `key` is `pass`: after anything but a letter
/// or digit, in any case, or after a lower-case letter as `Pass`.
fn ends_with_pass(key: &str) -> bool {
    let Some(head) = key.len().checked_sub(4).and_then(|at| key.get(..at)) else {
        return false;
    };
    let tail = &key[head.len()..];
    match head.chars().next_back() {
        None => tail.eq_ignore_ascii_case("pass"),
        Some(c) if !c.is_ascii_alphanumeric() => tail.eq_ignore_ascii_case("pass"),
        Some(c) => c.is_ascii_lowercase() && tail == "Pass",
    }
}

/// The words a secret key contains (besides `auth`, which has its rule).
const NEEDLES: [&str; 25] = [
    "passphrase",
    "access_key",
    "accesskey",
    "access-key",
    "ssh_key",
    "sshkey",
    "ssh-key",
    "bearer",
    "webhook_url",
    "webhookurl",
    "webhook-url",
    "webhook_uri",
    "webhookuri",
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
    const WORDS: [&str; 7] = [
        "password",
        "passphrase",
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

/// The byte ranges of every URL userinfo in `text`, and of the value of
/// every URL query parameter whose name looks secret
/// ([`is_secret_query_name`]).
pub fn url_secret_ranges(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    // A URL inside another (`?next=https://…`) shares its end and its
    // query: each is found and read once, so a line of `x://x://…` is
    // still read in one pass.
    let mut url_end = 0;
    let mut query: Option<usize> = None;
    // The query last read: its start and its end.
    let mut query_read = (usize::MAX, 0);
    while let Some(i) = text[from..].find("://") {
        let authority = from + i + 3;
        if let Some(r) = userinfo_at(text, authority) {
            out.push(r);
        }
        if url_end <= authority {
            url_end = text[authority..]
                .find(|c: char| {
                    matches!(c, '"' | '\'' | '<' | '>' | '`' | ')' | ']' | '}') || c.is_whitespace()
                })
                .map_or(text.len(), |end| authority + end);
            query = text[authority..url_end]
                .find('?')
                .map(|q| authority + q + 1);
        } else if query.is_some_and(|q| q <= authority) {
            query = text[authority..url_end]
                .find('?')
                .map(|q| authority + q + 1);
        }
        if let Some(q) = query
            && q != query_read.0
        {
            // Past its first pair, a query inside one already read splits
            // where that one did: only its first pair is new.
            let first_only = q < query_read.1;
            query_read = (q, url_end);
            query_secrets(text, q, url_end, first_only, &mut out);
        }
        from = authority;
    }
    out
}

/// Pushes the range of the value of each secret-looking query parameter
/// of the query `text[start..end]` (up to a `#`).
fn query_secrets(
    text: &str,
    start: usize,
    end: usize,
    first_only: bool,
    out: &mut Vec<std::ops::Range<usize>>,
) {
    let mut at = start;
    while at < end {
        let rest = &text[at..end];
        let len = rest.find(['&', ';', '#']).unwrap_or(rest.len());
        if let Some((name, value)) = rest[..len].split_once('=')
            && !value.is_empty()
            && is_secret_query_name(name)
        {
            let from = at + name.len() + 1;
            out.push(from..from + value.len());
        }
        if first_only || len == rest.len() || rest[len..].starts_with('#') {
            break;
        }
        at += len + 1;
    }
}

/// Whether a URL query parameter's name looks secret: a secret key
/// ([`is_secret_key`]: `api_key`, `token`, `access_token`, `password`, …),
/// or one with a word `sig`, `signature`, `key` or `code` (`sig=`,
/// `X-Amz-Signature=`, `key=`, an OAuth `code=`). Percent-encoded names
/// are decoded first.
pub fn is_secret_query_name(name: &str) -> bool {
    let decoded = percent_decode(name);
    is_secret_key(&decoded)
        || decoded
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| {
                ["sig", "signature", "key", "code"]
                    .iter()
                    .any(|s| w.eq_ignore_ascii_case(s))
            })
}

/// `%XX` escapes (and `+` as a space) decoded; anything else kept.
fn percent_decode(text: &str) -> String {
    let bytes = text.replace('+', " ");
    let bytes = bytes.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with the userinfo of every URL and the values of its secret query
/// parameters masked: `https://u:p@host/x?token=abc&page=2` becomes
/// `https://••••••@host/x?token=••••••&page=2`.
pub fn mask_url_secrets(text: &str) -> String {
    let mut ranges = url_secret_ranges(text);
    if ranges.is_empty() {
        return text.to_string();
    }
    ranges.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for r in ranges {
        if r.start < last {
            continue;
        }
        out.push_str(&text[last..r.start]);
        out.push_str(MASK);
        last = r.end;
    }
    out.push_str(&text[last..]);
    out
}

static SALT: OnceLock<[u8; 16]> = OnceLock::new();

/// Keys every later fingerprint with a salt derived from `seed` instead of
/// a random one, so that processes given the same seed (replicas
/// following one branch, which share their webhook secret) mask a secret
/// the same way. Call it before anything is masked: `false` when a salt
/// is already in use (and stays).
pub fn seed_salt(seed: &[u8]) -> bool {
    let mut hasher = Sha256::new();
    hasher.update(b"qa-reload mask salt\0");
    hasher.update(seed);
    let digest = hasher.finalize();
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&digest[..16]);
    SALT.set(salt).is_ok()
}

fn salt() -> &'static [u8; 16] {
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
            // Named outright.
            "passphrase",
            "ssh_passphrase",
            "pass",
            "db_pass",
            "SMTP-PASS",
            "dbPass",
            "access_key",
            "AWS_ACCESS_KEY_ID",
            "accessKey",
            "bearer",
            "ssh_key",
            "deploy-ssh-key",
            "webhook_url",
            "slack_webhook_url",
            "webhookUrl",
            // Describes a secret rather than holding one: masked all the
            // same (a masked policy costs less than a leaked password).
            "password_policy",
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
            // `pass` not as the last word, or inside another word.
            "passed",
            "pass_rate",
            "passes",
            "bypass",
            "compass",
            "passenger",
            "surpass",
            "webhook_enabled",
            "access_level",
            "ssh_host",
            "key",
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
    fn secret_query_parameters_are_masked_in_every_url() {
        assert_eq!(
            mask_url_secrets(
                "see https://h.example/a?api_key=K1&page=2;token=T2#x and http://h/?sig=S3&X-Amz-Signature=S4 end"
            ),
            format!(
                "see https://h.example/a?api_key={MASK}&page=2;token={MASK}#x and http://h/?sig={MASK}&X-Amz-Signature={MASK} end"
            )
        );
        assert_eq!(
            mask_url_secrets("https://u:p@h/x?access%5Ftoken=abc&q=1"),
            format!("https://{MASK}@h/x?access%5Ftoken={MASK}&q=1")
        );
        // Not secret: ordinary parameters, a query outside a URL, an empty
        // value.
        for text in [
            "https://h/search?q=tokens&page=2&author=ann",
            "not a url ?token=abc",
            "https://h/?token=&x=1",
        ] {
            assert_eq!(mask_url_secrets(text), text);
        }
    }

    #[test]
    fn userinfo_is_masked_in_every_url_and_nothing_else() {
        assert_eq!(
            mask_url_secrets("see https://admin:PASSWORD@jira.example.com/x and http://u@h"),
            format!("see https://{MASK}@jira.example.com/x and http://{MASK}@h")
        );
        assert_eq!(
            mask_url_secrets("https://jira.example.com/a@b"),
            "https://jira.example.com/a@b"
        );
        assert_eq!(mask_url_secrets("mail a@b.c"), "mail a@b.c");
        assert_eq!(mask_url_secrets("x://@h"), "x://@h");
    }
}
