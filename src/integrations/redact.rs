//! Stage `integrations`: masking of secrets in text that leaves a connection
//! test (details, body excerpts, error messages, log lines).
//!
//! Pure string work, no I/O, never panics. Three layers, so a secret that
//! one of them misses is caught by another: the integration's own secret
//! values (and the Basic credential made from them) are replaced wherever
//! they appear, in any case, raw, URL-encoded or base64-encoded (also inside
//! a longer base64 text); URL userinfo (`https://user:pass@host`) is masked;
//! and the value after a secret-looking key (`api_key=…`, `"token": "…"`,
//! `Authorization: Bearer …`) or an auth scheme (`Bearer …`) is masked.
//! A base URL read from `${VAR}` is a secret too: its host and its forms as
//! a URL parser rewrites it (lower case, default port dropped) are masked.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::model::{Integration, IntegrationFields, Setting};
use crate::secret::{self, MASK};

/// How long a body excerpt may be, in characters.
pub const EXCERPT_CHARS: usize = 200;

/// Masks one integration's secrets (and anything that looks like one).
#[derive(Clone, Default)]
pub struct Redactor {
    /// Every form a secret may take in text, lower-cased (ASCII) for a
    /// case-insensitive match, with the value whose fingerprint replaces it;
    /// longest first, so a secret that contains another is masked whole.
    needles: Vec<(String, String)>,
    /// One automaton over every form (leftmost, then longest), built on
    /// first use after the last [`add`](Self::add): a text is read once,
    /// not once per form.
    automaton: OnceLock<Option<AhoCorasick>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} forms)", self.needles.len())
    }
}

impl Redactor {
    /// A redactor that knows no values; it still masks userinfo and the
    /// values after secret keys and auth schemes.
    pub fn new() -> Self {
        Redactor::default()
    }

    /// Knows every masked setting of `integration` (secret keys and `${VAR}`
    /// values), the userinfo of its base URL, and for Jira the Basic
    /// credential `base64(email:token)`.
    pub fn for_integration(integration: &Integration) -> Self {
        let mut r = Redactor::new();
        r.add_setting(&integration.base_url);
        if let Some(url) = integration.base_url.expose() {
            for part in userinfo(url) {
                r.add(part);
            }
            if integration.base_url.masked {
                r.add_url(url);
            }
        }
        match &integration.fields {
            IntegrationFields::Jira {
                email,
                api_token,
                project_key,
                ..
            } => {
                if let Some(e) = email {
                    r.add_setting(e);
                }
                r.add_setting(api_token);
                if let Some(p) = project_key {
                    r.add_setting(p);
                }
                if let (Some(e), Some(t)) =
                    (email.as_ref().and_then(Setting::expose), api_token.expose())
                {
                    r.add(&base64(format!("{e}:{t}").as_bytes()));
                }
            }
            IntegrationFields::Postman {
                api_key,
                workspace_id,
            } => {
                r.add_setting(api_key);
                if let Some(w) = workspace_id {
                    r.add_setting(w);
                }
            }
            IntegrationFields::Testmo {
                api_token,
                project_id,
            } => {
                r.add_setting(api_token);
                if let Some(p) = project_id {
                    r.add_setting(p);
                }
            }
        }
        r
    }

    fn add_setting(&mut self, s: &Setting) {
        if s.masked
            && let Some(v) = s.expose()
        {
            self.add(v);
        }
    }

    /// Adds a raw secret value to mask wherever it appears, in any case,
    /// raw, URL-encoded (`+` or `%20` for a space) and base64-encoded.
    pub fn add(&mut self, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut forms = vec![value.to_string()];
        forms.extend(percent_forms(value));
        forms.extend(base64_forms(value.as_bytes()));
        for form in forms {
            let form = form.to_ascii_lowercase();
            if !form.is_empty() && !self.needles.iter().any(|(n, _)| *n == form) {
                self.needles.push((form, value.to_string()));
            }
        }
        self.needles
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        self.automaton = OnceLock::new();
    }

    /// Adds a secret URL: the text as written, its host, and the URL as a
    /// parser rewrites it (lower-case scheme and host, default port gone),
    /// since error messages quote it that way.
    fn add_url(&mut self, raw: &str) {
        let Ok(url) = reqwest::Url::parse(raw) else {
            return;
        };
        if let Some(host) = url.host_str() {
            self.add(host);
            if let Some(port) = url.port() {
                self.add(&format!("{host}:{port}"));
            }
        }
        self.add(url.as_str());
        self.add(url.as_str().trim_end_matches('/'));
    }

    /// `text` with every secret masked.
    pub fn redact(&self, text: &str) -> String {
        let known = self.mask_known(text);
        let urls = secret::mask_url_secrets(&known);
        mask_after_keys(&urls)
    }

    /// A short excerpt of a response body: JSON values under secret keys
    /// masked, secrets masked, whitespace collapsed, at most
    /// [`EXCERPT_CHARS`] characters (`…` when cut).
    pub fn excerpt(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        let text = match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(mut json) => {
                mask_json(&mut json);
                json.to_string()
            }
            Err(_) => text.into_owned(),
        };
        let redacted = self.redact(&text);
        let collapsed = redacted.split_whitespace().collect::<Vec<_>>().join(" ");
        truncate(&collapsed, EXCERPT_CHARS)
    }

    /// The service's own message from an error body, as a person reads it:
    /// Jira's `errorMessages` and `errors`, Postman's `error.message`,
    /// Testmo's and most APIs' `message`. Values under secret keys and
    /// secrets masked, control characters and runs of whitespace made one
    /// space, at most [`EXCERPT_CHARS`] characters. A body that is not JSON,
    /// or holds none of those, gives its [`Self::excerpt`].
    pub fn service_message(&self, body: &[u8]) -> String {
        let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(body) else {
            return self.excerpt(body);
        };
        mask_json(&mut json);
        let Some(message) = json_message(&json) else {
            return self.excerpt(body);
        };
        let redacted = self.redact(&message);
        let collapsed = redacted
            .split(|c: char| c.is_whitespace() || c.is_control())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        truncate(&collapsed, EXCERPT_CHARS)
    }

    /// One pass, left to right, longest form first at each position, so a
    /// mask just written is never searched again.
    fn mask_known(&self, text: &str) -> String {
        if self.needles.is_empty() {
            return text.to_string();
        }
        let automaton = self.automaton.get_or_init(|| {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(self.needles.iter().map(|(form, _)| form))
                .ok()
        });
        let Some(automaton) = automaton else {
            // No automaton, no way to tell what is secret: show nothing.
            return MASK.to_string();
        };
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for m in automaton.find_iter(text) {
            // An ASCII-case-insensitive match of valid UTF-8 starts and ends
            // on character boundaries, as the form does.
            out.push_str(text.get(last..m.start()).unwrap_or_default());
            match self.needles.get(m.pattern().as_usize()) {
                Some((_, value)) => out.push_str(&secret::mask(value)),
                None => out.push_str(MASK),
            }
            last = m.end();
        }
        out.push_str(text.get(last..).unwrap_or_default());
        out
    }
}

/// The message fields of the error bodies the services document, in the
/// order they are tried; `None` when none holds text.
fn json_message(json: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let text = |v: &Value| {
        v.as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let mut parts: Vec<String> = Vec::new();
    // Jira: {"errorMessages": ["..."], "errors": {"field": "..."}}.
    if let Some(list) = json.get("errorMessages").and_then(Value::as_array) {
        parts.extend(list.iter().filter_map(text));
    }
    if let Some(fields) = json.get("errors").and_then(Value::as_object) {
        parts.extend(
            fields
                .iter()
                .filter_map(|(k, v)| text(v).map(|v| format!("{k}: {v}"))),
        );
    }
    if parts.is_empty() {
        // Postman: {"error": {"name": "...", "message": "..."}}; others
        // {"message": "..."} or {"error": "..."}.
        let found = json
            .get("error")
            .and_then(|e| e.get("message"))
            .and_then(text)
            .or_else(|| json.get("message").and_then(text))
            .or_else(|| json.get("error").and_then(text))
            .or_else(|| json.get("detail").and_then(text));
        parts.extend(found);
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// What a URL query or form encodes: every byte but the unreserved
/// characters (letters, digits, `-`, `_`, `.`, `~`).
const URL_ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The percent-encoded forms of `value`: as a URL query writes it (`%20`
/// for a space), as a form writes it (`+`), and with every byte but ASCII
/// letters and digits as `%XX` (as some encoders write even `-._~`).
fn percent_forms(value: &str) -> [String; 3] {
    let url = utf8_percent_encode(value, URL_ENCODED).to_string();
    let form = url.replace("%20", "+");
    let all = utf8_percent_encode(value, NON_ALPHANUMERIC).to_string();
    [url, form, all]
}

/// The base64 forms of `bytes` (standard and URL-safe alphabets): the whole
/// encoding, and for each of the three alignments it can have inside a
/// longer encoded text (such as `base64(email:token)`), the characters that
/// depend on `bytes` alone. Forms under 4 characters are left out: they
/// would mask unrelated text.
fn base64_forms(bytes: &[u8]) -> Vec<String> {
    let mut out = vec![base64(bytes)];
    for offset in 0..3usize {
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(bytes);
        let encoded = base64(&padded);
        // Bits of `bytes` run from 8·offset to 8·(offset + len); a character
        // covers 6 bits.
        let first = (8 * offset).div_ceil(6);
        let end = (8 * (offset + bytes.len())) / 6;
        if let Some(stable) = encoded.get(first..end)
            && stable.len() >= 4
        {
            out.push(stable.to_string());
        }
    }
    let url_safe: Vec<String> = out
        .iter()
        .map(|s| {
            s.replace('+', "-")
                .replace('/', "_")
                .trim_end_matches('=')
                .to_string()
        })
        .collect();
    out.extend(url_safe);
    out
}

/// `s` cut to at most `max` characters, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// The user and password of a URL's userinfo, if it has any.
fn userinfo(url: &str) -> Vec<&str> {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return Vec::new();
    };
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let authority = &url[start..authority_end];
    match authority.rfind('@') {
        Some(at) => authority[..at]
            .split(':')
            .filter(|p| !p.is_empty())
            .collect(),
        None => Vec::new(),
    }
}

/// Auth schemes whose next word is a credential.
const SCHEMES: [&str; 3] = ["bearer", "basic", "token"];

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Where a credential value ends.
fn is_value_end(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '"' | '\'' | ',' | '&' | ';' | '}' | ']' | ')' | '<' | '>'
        )
}

/// Masks the value after a secret-looking key followed by `:` or `=`
/// (`api_key=abc`, `"token": "abc"`, `Authorization: Bearer abc`) and the
/// credential after an auth scheme (`Bearer abc123…`).
pub fn mask_after_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let Some(c) = rest.chars().next() else { break };
        let at_word_start = !text[..i].chars().next_back().is_some_and(is_word_char);
        if !(is_word_char(c) && at_word_start) {
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let word_len = rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len());
        let word = &rest[..word_len];
        out.push_str(word);
        i += word_len;
        // `bearer` is both a secret key (`bearer: abc`) and a scheme
        // (`Bearer abc`): without a separator it is read as the scheme.
        let separated = if secret::is_secret_key(word) {
            separator(&text[i..])
        } else {
            None
        };
        if let Some(skip) = separated {
            out.push_str(&text[i..i + skip]);
            i += skip;
            i += mask_value(&text[i..], &mut out, true);
        } else if SCHEMES.contains(&word.to_ascii_lowercase().as_str())
            && text[i..].starts_with(' ')
        {
            let value = &text[i + 1..];
            let len = value.find(is_value_end).unwrap_or(value.len());
            if looks_like_credential(&value[..len]) {
                out.push(' ');
                out.push_str(MASK);
                i += 1 + len;
            }
        }
    }
    out
}

/// The length of `"`/`'` + spaces + `:` or `=` + spaces + opening quote
/// after a key, or `None` when the key is not followed by a separator.
fn separator(s: &str) -> Option<usize> {
    let mut chars = s.char_indices().peekable();
    while let Some(&(_, c)) = chars.peek() {
        if c == '"' || c == '\'' || c == ' ' {
            chars.next();
        } else {
            break;
        }
    }
    match chars.next() {
        Some((_, ':' | '=')) => {}
        _ => return None,
    }
    let mut end = s.len();
    for (j, c) in chars {
        if c != ' ' && c != '"' && c != '\'' {
            end = j;
            break;
        }
    }
    Some(end)
}

/// Masks the value at the start of `s` (an auth scheme and its credential
/// count as one value); returns how many bytes it took.
fn mask_value(s: &str, out: &mut String, allow_scheme: bool) -> usize {
    let len = s.find(is_value_end).unwrap_or(s.len());
    if len == 0 {
        return 0;
    }
    let word = &s[..len];
    if allow_scheme
        && SCHEMES.contains(&word.to_ascii_lowercase().as_str())
        && s[len..].starts_with(' ')
    {
        out.push_str(word);
        out.push(' ');
        return len + 1 + mask_value(&s[len + 1..], out, false);
    }
    out.push_str(MASK);
    len
}

/// Whether the word after `Bearer`/`Basic` is a credential rather than
/// prose ("Basic authentication failed").
fn looks_like_credential(word: &str) -> bool {
    word.len() >= 20 || (word.len() >= 8 && word.chars().any(|c| c.is_ascii_digit() || c == '='))
}

/// Masks, in place, every string value under a secret key.
fn mask_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if secret::is_secret_key(k) && !v.is_object() && !v.is_array() && !v.is_null() {
                    *v = serde_json::Value::String(MASK.to_string());
                } else {
                    mask_json(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_json),
        _ => {}
    }
}

/// Standard base64 with padding: the Basic credential the client sends and
/// the redactor must recognise.
pub(crate) fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::IntegrationKind;

    fn jira() -> Integration {
        Integration {
            id: IntegrationKind::Jira,
            enabled: true,
            base_url: Setting::literal("https://admin:hunter22@jira.example.com"),
            timeout_ms: 1000,
            retest_minutes: 60,
            fields: IntegrationFields::Jira {
                deployment: crate::model::JiraDeployment::Cloud,
                email: Some(Setting::literal("qa@example.com")),
                api_token: Setting::new(
                    Some("tok-SECRET-123".into()),
                    vec!["JIRA_API_TOKEN".into()],
                    true,
                ),
                project_key: None,
            },
        }
    }

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("qa@example.com:tok", "cWFAZXhhbXBsZS5jb206dG9r"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected, "{input}");
        }
    }

    #[test]
    fn masks_secrets_in_every_form() {
        let r = Redactor::for_integration(&jira());
        let basic = base64(b"qa@example.com:tok-SECRET-123");
        let secrets = ["tok-SECRET-123", "hunter22", "admin", basic.as_str()];
        // (text, what must still be there)
        let cases = [
            ("invalid token tok-SECRET-123 given", "invalid token ••••••"),
            (
                "see https://admin:hunter22@jira.example.com/x",
                "https://••••••",
            ),
            (
                "see https://someone:pw9@other.example/x",
                "https://••••••@other.example/x",
            ),
            (
                &format!("Authorization: Basic {basic}") as &str,
                "Authorization: Basic ••••••",
            ),
            (
                "Authorization: Bearer abcdefgh12345678",
                "Authorization: Bearer ••••••",
            ),
            ("header X-Api-Key: PMAK-abc123 refused", "X-Api-Key: ••••••"),
            ("GET /x?api_key=zz9&user=bob", "api_key=••••••&user=bob"),
            (r#"{"token": "zz9yy8"}"#, r#""token": "••••••""#),
            (
                "Bearer eyJhbGciOiJIUzI1NiJ9 rejected",
                "Bearer •••••• rejected",
            ),
            ("Basic authentication failed", "Basic authentication failed"),
            ("the token is invalid", "the token is invalid"),
        ];
        for (text, keep) in cases {
            let out = r.redact(text);
            for s in secrets {
                assert!(!out.contains(s), "{text:?} -> {out:?} shows {s}");
            }
            assert!(!out.contains("zz9"), "{out}");
            assert!(!out.contains("PMAK-abc123"), "{out}");
            assert!(!out.contains("abcdefgh12345678"), "{out}");
            assert!(out.contains(keep), "{text:?} -> {out:?}, expected {keep:?}");
        }
    }

    #[test]
    fn percent_forms_keep_the_unreserved_characters_or_encode_them_all() {
        assert_eq!(
            percent_forms("a-b_c.d~e f/é"),
            [
                "a-b_c.d~e%20f%2F%C3%A9",
                "a-b_c.d~e+f%2F%C3%A9",
                "a%2Db%5Fc%2Ed%7Ee%20f%2F%C3%A9",
            ]
        );
    }

    #[test]
    fn secrets_are_masked_encoded_in_any_case_and_inside_longer_base64() {
        let mut r = Redactor::new();
        r.add("tok SECRET/123+x");
        let value = "tok SECRET/123+x";
        let forms = [
            value.to_string(),
            value.to_lowercase(),
            value.to_uppercase(),
            "tok%20SECRET%2F123%2Bx".to_string(),
            "tok%20secret%2f123%2bx".to_string(),
            "tok+SECRET%2F123%2Bx".to_string(),
            base64(value.as_bytes()),
            base64(format!("qa@example.com:{value}").as_bytes()),
            base64(format!("a:{value}").as_bytes()),
            base64(format!("ab:{value}").as_bytes()),
            base64(format!("abc:{value}").as_bytes())
                .replace('+', "-")
                .replace('/', "_"),
        ];
        for form in forms {
            let out = r.redact(&format!("echo [{form}] done"));
            assert!(!out.contains(&form), "{form} -> {out}");
            assert!(out.contains(MASK), "{form} -> {out}");
            assert!(
                out.starts_with("echo [") && out.ends_with("] done"),
                "{out}"
            );
        }
    }

    #[test]
    fn a_secret_base_url_hides_its_host_in_every_spelling() {
        let mut i = jira();
        i.base_url = Setting::new(
            Some("HTTPS://Secret-Tenant.example:443/jira".into()),
            vec!["JIRA_URL".into()],
            true,
        );
        let r = Redactor::for_integration(&i);
        for text in [
            "error sending request for url (https://secret-tenant.example/jira)",
            "cannot resolve SECRET-TENANT.EXAMPLE",
            "dns error: secret-tenant.example: no such host",
        ] {
            let out = r.redact(text);
            assert!(!out.to_lowercase().contains("secret-tenant"), "{out}");
        }
    }

    #[test]
    fn excerpt_masks_json_secrets_collapses_and_cuts() {
        let r = Redactor::for_integration(&jira());
        let body = br#"{"errorMessages": ["Client must be authenticated"],
              "echo": {"apiKey": "k-777"}, "note": "tok-SECRET-123"}"#;
        let e = r.excerpt(body);
        assert!(e.contains("Client must be authenticated"), "{e}");
        assert!(!e.contains("k-777") && !e.contains("tok-SECRET-123"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let long = "x".repeat(500);
        let e = r.excerpt(long.as_bytes());
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 1);
        assert!(e.ends_with('…'));
        assert_eq!(r.excerpt(b"\xff\xfe oops"), "�� oops");
    }

    #[test]
    fn truncate_counts_characters_not_bytes() {
        assert_eq!(truncate("ééé", 2), "éé…");
        assert_eq!(truncate("ab", 2), "ab");
    }
}
