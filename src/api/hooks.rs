//! Stage `api`: `POST /api/v1/hooks/git`, the git hosts' push webhooks
//! for `serve --follow`. A webhook only wakes the follower: its payload is
//! never read for content, so a forged one can at most cause a fetch, and
//! only with the shared secret.
//!
//! Each host signs differently; the headers tell which one sent it:
//!
//! ```text
//! Forgejo    X-Forgejo-Signature: <hex HMAC-SHA256 of the body>
//! Gitea      X-Gitea-Signature:   <hex HMAC-SHA256 of the body>
//! GitLab     X-Gitlab-Token:      <the secret itself>
//! GitHub     X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>
//! Bitbucket  X-Hub-Signature:     sha256=<hex HMAC-SHA256 of the body>
//! ```
//!
//! Comparisons are constant-time (`subtle`). A valid delivery is answered
//! `202` at once and the fetch runs in the background (hosts give up after
//! 10 s); a delivery id seen before is answered `200 duplicate` and
//! fetches nothing; a ping is answered `200 pong`.
//!
//! May not: read the payload beyond verifying it, fetch itself, or log a
//! signature, a token or the secret.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::extract::Json;
use super::state::AppState;
use super::wire::{HookProvider, HookResult, HookWire};

/// The largest webhook body read; a larger one is refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Delivery ids remembered to ignore a repeated delivery.
const DELIVERIES_KEPT: usize = 4096;

/// A refused webhook is logged at most this often per source address.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Source addresses whose last logged refusal is remembered.
const ADDRESSES_KEPT: usize = 4096;

/// The webhook secret and what the route remembers between deliveries.
pub struct Webhooks {
    /// `None`: every webhook is refused.
    secret: Option<Vec<u8>>,
    deliveries: Mutex<Deliveries>,
    refusals: Mutex<HashMap<IpAddr, Instant>>,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("secret", &self.secret.as_ref().map(|_| "set"))
            .finish_non_exhaustive()
    }
}

impl Webhooks {
    /// `secret` empty or blank counts as none.
    pub fn new(secret: Option<&str>) -> Self {
        Webhooks {
            secret: secret
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.as_bytes().to_vec()),
            deliveries: Mutex::new(Deliveries::default()),
            refusals: Mutex::new(HashMap::new()),
        }
    }

    /// Whether signed webhooks are accepted (a secret is configured).
    pub fn accepts(&self) -> bool {
        self.secret.is_some()
    }

    /// Whether a refusal from `from` should be logged now (once a minute
    /// per address).
    fn log_refusal(&self, from: IpAddr) -> bool {
        let now = Instant::now();
        let mut seen = self.refusals.lock();
        if seen.len() >= ADDRESSES_KEPT {
            seen.retain(|_, at| now.duration_since(*at) < LOG_EVERY);
            if seen.len() >= ADDRESSES_KEPT {
                seen.clear();
            }
        }
        match seen.get(&from) {
            Some(at) if now.duration_since(*at) < LOG_EVERY => false,
            _ => {
                seen.insert(from, now);
                true
            }
        }
    }
}

/// The delivery ids seen last, oldest first.
#[derive(Default)]
struct Deliveries {
    order: VecDeque<String>,
    seen: HashSet<String>,
}

impl Deliveries {
    /// Records `id`; false when it was already there.
    fn first(&mut self, id: String) -> bool {
        if self.seen.contains(&id) {
            return false;
        }
        if self.order.len() >= DELIVERIES_KEPT
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.order.push_back(id.clone());
        self.seen.insert(id);
        true
    }
}

/// A delivery whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub provider: HookProvider,
    /// The host's event name (`push`, `ping`, `Push Hook`, `repo:push`…).
    pub event: Option<String>,
    /// The host's delivery id, when it sends one.
    pub id: Option<String>,
}

impl Delivery {
    fn is_ping(&self) -> bool {
        matches!(
            (self.provider, self.event.as_deref()),
            (HookProvider::Github, Some("ping"))
                | (HookProvider::Bitbucket, Some("diagnostics:ping"))
        )
    }
}

/// Why a delivery was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No header of any known host.
    Unsigned,
    /// A known host's header with a signature or token that is not ours.
    Wrong(HookProvider),
}

/// Which host sent `headers`, and whether its signature of `body` (or its
/// token) is the one `secret` makes.
pub fn verify(headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<Delivery, Refusal> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let owned = |name: &str| header(name).map(str::to_owned);
    // Forgejo also sends Gitea's headers, and Gitea GitHub's: the most
    // specific host first.
    let (provider, valid) = if let Some(sig) = header("x-forgejo-signature") {
        (HookProvider::Forgejo, hmac_matches(secret, body, sig))
    } else if let Some(sig) = header("x-gitea-signature") {
        (HookProvider::Gitea, hmac_matches(secret, body, sig))
    } else if let Some(token) = header("x-gitlab-token") {
        // Equal digests, compared in constant time: the length of the
        // secret is not given away either.
        let valid = Sha256::digest(token.as_bytes())
            .ct_eq(&Sha256::digest(secret))
            .into();
        (HookProvider::Gitlab, valid)
    } else if let Some(sig) = header("x-hub-signature-256") {
        let valid = sig
            .strip_prefix("sha256=")
            .is_some_and(|hex| hmac_matches(secret, body, hex));
        (HookProvider::Github, valid)
    } else if let Some(sig) = header("x-hub-signature") {
        let valid = sig
            .strip_prefix("sha256=")
            .is_some_and(|hex| hmac_matches(secret, body, hex));
        (HookProvider::Bitbucket, valid)
    } else {
        return Err(Refusal::Unsigned);
    };
    if !valid {
        return Err(Refusal::Wrong(provider));
    }
    let (event, id) = match provider {
        HookProvider::Forgejo => (owned("x-forgejo-event"), owned("x-forgejo-delivery")),
        HookProvider::Gitea => (owned("x-gitea-event"), owned("x-gitea-delivery")),
        HookProvider::Gitlab => (
            owned("x-gitlab-event"),
            owned("x-gitlab-event-uuid").or_else(|| owned("idempotency-key")),
        ),
        HookProvider::Github => (owned("x-github-event"), owned("x-github-delivery")),
        HookProvider::Bitbucket => (
            owned("x-event-key"),
            owned("x-request-uuid").or_else(|| owned("x-request-id")),
        ),
    };
    Ok(Delivery {
        provider,
        event,
        id: id.filter(|id| !id.is_empty()),
    })
}

/// Whether `hex` is the HMAC-SHA256 of `body` under `secret`, compared in
/// constant time (a malformed `hex` is simply not a match).
fn hmac_matches(secret: &[u8], body: &[u8], hex: &str) -> bool {
    let Some(given) = decode_hex(hex) else {
        return false;
    };
    hmac_sha256(secret, body).ct_eq(&given[..]).into()
}

/// HMAC-SHA256 (RFC 2104) over `sha2`'s SHA-256: the key hashed when
/// longer than a block, padded with zeros, XORed with the inner and outer
/// pads.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// 32 bytes from 64 hex digits (either case); anything else is `None`.
fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16);
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

/// A push webhook from a git host: verified, then a fetch is queued.
#[utoipa::path(post, path = "/api/v1/hooks/git", tag = "follow",
    request_body(content = Object, description = "the host's payload (verified, never read for content)"),
    responses(
        (status = 202, description = "verified; a fetch of the remote is queued", body = HookWire),
        (status = 200, description = "a ping, or a delivery id already seen: nothing fetched", body = HookWire),
        (status = 401, description = "no signature, or not the one the secret makes", body = ErrorBody),
        (status = 403, description = "no webhook secret is configured: every webhook is refused", body = ErrorBody),
        (status = 404, description = "this server does not follow a remote", body = ErrorBody),
        (status = 413, description = "the body is over 1 MiB", body = ErrorBody),
    ))]
pub async fn git(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // The server's accept loop gives every request its peer; a router
    // driven in process (tests) has none.
    let from = peer.map_or(IpAddr::from([0, 0, 0, 0]), |Extension(ConnectInfo(p))| {
        p.ip()
    });
    let Some(follow) = &state.follow else {
        return Err(ApiError::new(
            ErrorCode::NotFollowing,
            "this server serves a working tree, not a remote; webhooks are for `serve --follow`",
        ));
    };
    let Some(secret) = &state.webhooks.secret else {
        if state.webhooks.log_refusal(from) {
            tracing::warn!(from = %from, "refused a webhook: no webhook secret is configured");
        }
        return Err(ApiError::new(
            ErrorCode::WebhookSecretUnset,
            "this server accepts no webhooks: start it with QA_RELOAD_WEBHOOK_SECRET set to the secret the git host signs with",
        ));
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(ApiError::new(
                ErrorCode::BodyTooLarge,
                "the webhook body is over 1 MiB; configure the host to send push events only",
            ));
        }
        Err(_) => {
            return Err(ApiError::new(
                ErrorCode::UnreadableBody,
                "the webhook body could not be read; the host may deliver it again",
            ));
        }
    };
    let delivery = match verify(&headers, &body, secret) {
        Ok(delivery) => delivery,
        Err(refusal) => {
            let (code, message, provider) = match refusal {
                Refusal::Unsigned => (
                    ErrorCode::SignatureRequired,
                    "the webhook carries no signature: set the secret in the git host's webhook settings",
                    None,
                ),
                Refusal::Wrong(p) => (
                    ErrorCode::SignatureInvalid,
                    "the webhook's signature is not the one this server's secret makes: check the secret in the git host's webhook settings",
                    Some(p),
                ),
            };
            if state.webhooks.log_refusal(from) {
                tracing::warn!(
                    from = %from,
                    provider = provider.map(|p| p.as_str()),
                    "refused a webhook: {code}"
                );
            }
            return Err(ApiError::new(code, message));
        }
    };
    let answer = |status: StatusCode, result: HookResult| {
        (
            status,
            Json(HookWire {
                provider: delivery.provider,
                result,
            }),
        )
            .into_response()
    };
    if delivery.is_ping() {
        return Ok(answer(StatusCode::OK, HookResult::Pong));
    }
    if let Some(id) = &delivery.id {
        let key = format!("{}:{id}", delivery.provider.as_str());
        if !state.webhooks.deliveries.lock().first(key) {
            return Ok(answer(StatusCode::OK, HookResult::Duplicate));
        }
    }
    tracing::debug!(
        provider = delivery.provider.as_str(),
        event = delivery.event.as_deref(),
        "webhook: fetch queued"
    );
    follow.trigger();
    Ok(answer(StatusCode::ACCEPTED, HookResult::Queued))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use axum::http::HeaderValue;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_the_rfc_4231_vectors() {
        // Test case 2: a short key.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than a block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn each_host_is_told_by_its_header_and_checked() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = hex(&hmac_sha256(b"s3cret", body));
        let bad = hex(&hmac_sha256(b"other", body));
        let table = [
            ("x-forgejo-signature", "", HookProvider::Forgejo),
            ("x-gitea-signature", "", HookProvider::Gitea),
            ("x-hub-signature-256", "sha256=", HookProvider::Github),
            ("x-hub-signature", "sha256=", HookProvider::Bitbucket),
        ];
        for (name, prefix, provider) in table {
            let ok = verify(
                &headers(&[(name, format!("{prefix}{good}"))]),
                body,
                b"s3cret",
            );
            assert_eq!(ok.map(|d| d.provider), Ok(provider), "{name}");
            let wrong = verify(
                &headers(&[(name, format!("{prefix}{bad}"))]),
                body,
                b"s3cret",
            );
            assert_eq!(wrong, Err(Refusal::Wrong(provider)), "{name}");
            // The right signature of another body.
            let other = verify(
                &headers(&[(name, format!("{prefix}{good}"))]),
                b"{}",
                b"s3cret",
            );
            assert_eq!(other, Err(Refusal::Wrong(provider)), "{name}");
        }
        assert_eq!(
            verify(
                &headers(&[("x-gitlab-token", "s3cret".into())]),
                body,
                b"s3cret"
            )
            .map(|d| d.provider),
            Ok(HookProvider::Gitlab)
        );
        assert_eq!(
            verify(
                &headers(&[("x-gitlab-token", "s3cre".into())]),
                body,
                b"s3cret"
            ),
            Err(Refusal::Wrong(HookProvider::Gitlab))
        );
        assert_eq!(
            verify(&HeaderMap::new(), body, b"s3cret"),
            Err(Refusal::Unsigned)
        );
        // GitHub's old SHA-1 header is not taken as Bitbucket's SHA-256.
        assert_eq!(
            verify(
                &headers(&[("x-hub-signature", format!("sha1={good}"))]),
                body,
                b"s3cret"
            ),
            Err(Refusal::Wrong(HookProvider::Bitbucket))
        );
        // Malformed hex is a wrong signature, not a panic.
        assert_eq!(
            verify(
                &headers(&[("x-gitea-signature", "zz".repeat(32))]),
                body,
                b"s3cret"
            ),
            Err(Refusal::Wrong(HookProvider::Gitea))
        );
    }

    #[test]
    fn a_delivery_id_is_taken_once() {
        let mut d = Deliveries::default();
        assert!(d.first("github:1".into()));
        assert!(!d.first("github:1".into()));
        for i in 0..DELIVERIES_KEPT {
            d.first(format!("n{i}"));
        }
        // The oldest ids are forgotten, the set stays bounded.
        assert!(d.first("github:1".into()));
        assert_eq!(d.order.len(), DELIVERIES_KEPT);
        assert_eq!(d.seen.len(), DELIVERIES_KEPT);
    }

    #[test]
    fn refusals_are_logged_once_a_minute_per_address() {
        let hooks = Webhooks::new(Some("s"));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(hooks.log_refusal(a));
        assert!(!hooks.log_refusal(a));
        assert!(hooks.log_refusal(b));
    }

    #[test]
    fn a_blank_secret_is_none() {
        assert!(Webhooks::new(Some("  ")).secret.is_none());
        assert!(Webhooks::new(None).secret.is_none());
    }
}
