//! Stage `api`: the request guards of docs/protocol.md, "Security", as axum
//! middleware, and the bind-address rule the server checks before listening.
//!
//! In order: `Host` and `Origin` may each appear once (400 otherwise); the
//! `Host`, and the authority of an absolute-form target, must be an allowed
//! name (DNS rebinding); a WebSocket upgrade or a state-changing request
//! carrying an `Origin` must come from an allowed host, and off loopback from
//! the request's own host or an `--allow-origin` (cross-site WebSocket
//! hijacking); with a token configured, every path but the page needs it. This module may not log, store or echo
//! the token: it keeps only the token's SHA-256, and removes the credential
//! from the request before the handlers (or any later logging) see it.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::uri::{Authority, PathAndQuery};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{ApiError, ErrorCode};

/// Paths anyone who passed the `Host` check may fetch without the token:
/// the page, which reads the token from its own URL and passes it on (its
/// script and style files are public too: `page::is_public`).
/// Everything else (`/api/…`, `/ws/…`, `/metrics`, and any path not yet
/// routed) needs it, so a new route is protected unless listed here.
/// Also public: the probes a load balancer calls (`/healthz`, `/readyz`)
/// and the webhook route (git hosts send no bearer token: it checks its
/// own signature, and is refused without a secret).
const PUBLIC_PATHS: &[&str] = &["/", "/healthz", "/readyz", "/api/v1/hooks/git"];

/// The name of the query parameter that carries the token (browsers cannot
/// set headers on a WebSocket handshake).
const TOKEN_PARAM: &str = "token";

/// The shortest token `serve` accepts, counting non-blank characters: a
/// token guards the API from the whole network, so it must not be guessable.
pub const MIN_TOKEN_CHARS: usize = 16;

/// What the guards allow. Built once at startup from the bind address.
#[derive(Clone)]
pub struct Security {
    /// SHA-256 of the token: comparing digests takes the same time whatever
    /// the length of the guess, and the token itself is never held here.
    token: Option<[u8; 32]>,
    /// Normalised host names (lower case, no port, IPv6 without brackets).
    allowed_hosts: Vec<String>,
    /// Bound to `0.0.0.0` or `::`: the server answers on every address of the
    /// machine, so any IP-literal `Host` is ours. An IP literal cannot be a
    /// DNS rebinding (that needs a name the attacker controls).
    any_ip_host: bool,
    /// Bound off loopback: an `Origin` must name the request's own host or
    /// be one of `allowed_origins` (an IP literal alone is not enough).
    open_bind: bool,
    /// Normalised origins (`scheme://host[:port]`, default port dropped)
    /// allowed besides those (`--allow-origin`).
    allowed_origins: Vec<String>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("token", &self.token.map(|_| "<set>"))
            .field("allowed_hosts", &self.allowed_hosts)
            .field("any_ip_host", &self.any_ip_host)
            .field("open_bind", &self.open_bind)
            .field("allowed_origins", &self.allowed_origins)
            .finish()
    }
}

impl Security {
    /// Guards for a server bound to `bind`. Loopback names (`localhost`,
    /// `127.0.0.1`, `[::1]`, any port) are always allowed; so is the bind
    /// address itself, and every name in `extra_hosts` (a port there is
    /// ignored). An empty token counts as none.
    pub fn new(bind: SocketAddr, token: Option<&str>, extra_hosts: &[String]) -> Self {
        let mut allowed_hosts = vec!["localhost".to_owned()];
        let ip = canonical_ip(bind.ip());
        if !ip.is_loopback() && !ip.is_unspecified() {
            allowed_hosts.push(ip.to_string());
        }
        allowed_hosts.extend(extra_hosts.iter().filter_map(|h| host_of_authority(h)));
        allowed_hosts.sort();
        allowed_hosts.dedup();
        Self {
            token: token
                .filter(|t| !t.is_empty())
                .map(|t| Sha256::digest(t.as_bytes()).into()),
            allowed_hosts,
            any_ip_host: ip.is_unspecified(),
            open_bind: !ip.is_loopback(),
            allowed_origins: Vec::new(),
        }
    }

    /// Also allows `origins` (`scheme://host[:port]`, as a browser sends
    /// them). An origin that is not of that form is refused, naming it.
    pub fn with_allowed_origins(mut self, origins: &[String]) -> Result<Self, Insecure> {
        for origin in origins {
            let normalised =
                normalise_origin(origin).ok_or_else(|| Insecure::NotAnOrigin(origin.clone()))?;
            self.allowed_origins.push(normalised);
        }
        self.allowed_origins.sort();
        self.allowed_origins.dedup();
        Ok(self)
    }

    pub fn requires_token(&self) -> bool {
        self.token.is_some()
    }

    /// The names (besides loopback IP literals) a `Host` may carry.
    pub fn allowed_hosts(&self) -> &[String] {
        &self.allowed_hosts
    }

    /// Whether `authority` (`name[:port]`, `[v6][:port]`) names this server.
    pub fn allows_host(&self, authority: &str) -> bool {
        host_of_authority(authority).is_some_and(|h| self.allows_normalised(&h))
    }

    fn allows_normalised(&self, host: &str) -> bool {
        match host.parse::<IpAddr>() {
            Ok(ip) => {
                let ip = canonical_ip(ip);
                ip.is_loopback()
                    || (self.any_ip_host && !ip.is_unspecified())
                    || self.allowed_hosts.contains(&ip.to_string())
            }
            Err(_) => self.allowed_hosts.iter().any(|a| a == host),
        }
    }

    /// Every rule of the guard, without touching the request. The order
    /// matters: a foreign page learns nothing about the token (not even
    /// whether one is needed) because `Host` and `Origin` are refused first.
    pub fn check(&self, parts: &Parts) -> Result<(), ApiError> {
        check_single(&parts.headers)?;
        let host = self.check_host(&parts.headers, &parts.uri)?;
        self.check_origin(&parts.method, &parts.headers, &host)?;
        self.check_token(&parts.uri, &parts.headers)
    }

    /// The host the request names (normalised), once it is allowed: the
    /// `Host` header, and the authority of an absolute-form target
    /// (`GET http://host/ HTTP/1.1`) too, which a server must prefer to
    /// `Host` (RFC 9112 §3.2.2), so both must pass.
    fn check_host(&self, headers: &HeaderMap, uri: &Uri) -> Result<String, ApiError> {
        let target = uri.authority().map(|a| a.as_str());
        // HTTP/2 carries the host in the URI's authority instead.
        let host = match headers.get(header::HOST) {
            Some(value) => match value.to_str() {
                Ok(host) => Some(host),
                // Bytes beyond ASCII: no host name this server answers to.
                Err(_) => {
                    return Err(ApiError::new(
                        ErrorCode::HostNotAllowed,
                        "the Host header is not plain ASCII, so it names no host this server \
                         answers to (DNS rebinding protection); open it as localhost or 127.0.0.1",
                    ));
                }
            },
            None => target,
        };
        let Some(host) = host else {
            // RFC 9112 §3.2: a request without Host is answered 400.
            return Err(ApiError::new(
                ErrorCode::HostRequired,
                "the request has no Host header; send one naming this server (e.g. localhost)",
            ));
        };
        for named in [Some(host), target].into_iter().flatten() {
            self.check_host_name(named)?;
        }
        Ok(host_of_authority(host).unwrap_or_default())
    }

    fn check_host_name(&self, host: &str) -> Result<(), ApiError> {
        if self.allows_host(host) {
            return Ok(());
        }
        tracing::warn!(
            host,
            "refused a request for a host name that is not allowed"
        );
        Err(ApiError::new(
            ErrorCode::HostNotAllowed,
            format!(
                "this server does not answer to the host name {host:?} (DNS rebinding \
                 protection); open it as localhost or 127.0.0.1, or start it with that name \
                 among the allowed hosts"
            ),
        ))
    }

    fn check_origin(
        &self,
        method: &Method,
        headers: &HeaderMap,
        request_host: &str,
    ) -> Result<(), ApiError> {
        let upgrade = is_websocket_upgrade(headers);
        if !upgrade && !changes_state(method) {
            return Ok(());
        }
        // No Origin: not a browser (curl, the CLI), which cannot be tricked
        // into acting for another site.
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or("");
        if self.allows_origin(origin, request_host) {
            return Ok(());
        }
        tracing::warn!(
            origin,
            websocket = upgrade,
            "refused a cross-site request from a foreign Origin"
        );
        let what = if upgrade {
            "WebSocket connections"
        } else {
            "changes"
        };
        Err(ApiError::new(
            ErrorCode::OriginNotAllowed,
            format!(
                "{what} from pages served by {origin:?} are refused (cross-site request \
                 protection); use the page this server serves, or start the server with \
                 --allow-origin for that page"
            ),
        ))
    }

    /// On loopback, a page on any allowed host (any port: a dev server on
    /// `localhost:3000` may use this one). Off loopback, only a page on the
    /// host the request itself names: any IP literal reaches a server bound
    /// to `0.0.0.0`, so being an allowed host is not enough. Listed origins
    /// pass either way.
    fn allows_origin(&self, origin: &str, request_host: &str) -> bool {
        if normalise_origin(origin).is_some_and(|o| self.allowed_origins.contains(&o)) {
            return true;
        }
        let Some(host) = origin_host(origin) else {
            return false;
        };
        if self.open_bind {
            !request_host.is_empty() && same_host(&host, request_host)
        } else {
            self.allows_normalised(&host)
        }
    }

    fn check_token(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        if PUBLIC_PATHS.contains(&uri.path()) || super::page::is_public(uri.path()) {
            return Ok(());
        }
        let presented = bearer_token(headers).or_else(|| query_token(uri));
        let Some(presented) = presented else {
            tracing::warn!(path = uri.path(), "refused a request without a token");
            return Err(ApiError::new(
                ErrorCode::TokenRequired,
                "this server requires a token; send the header Authorization: Bearer <token> \
                 or add ?token=<token> to the URL",
            ));
        };
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if bool::from(digest.ct_eq(expected)) {
            return Ok(());
        }
        tracing::warn!(path = uri.path(), "refused a request with a wrong token");
        Err(ApiError::new(
            ErrorCode::TokenInvalid,
            "the token is wrong; use the one the server was started with \
             (--token or QA_RELOAD_TOKEN)",
        ))
    }
}

/// `Host` and `Origin` name one thing each; two of them (which a proxy and
/// this server might read differently) are a malformed request.
fn check_single(headers: &HeaderMap) -> Result<(), ApiError> {
    for (name, code) in [
        (header::HOST, ErrorCode::DuplicateHost),
        (header::ORIGIN, ErrorCode::DuplicateOrigin),
    ] {
        if headers.get_all(&name).iter().nth(1).is_some() {
            tracing::warn!(header = %name, "refused a request with the header twice");
            return Err(ApiError::new(
                code,
                format!("the request has more than one {name} header; send it once"),
            ));
        }
    }
    Ok(())
}

/// Two normalised hosts name the same machine (IP literals compared as
/// addresses, so `::ffff:10.0.0.1` is `10.0.0.1`).
fn same_host(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => canonical_ip(a) == canonical_ip(b),
        _ => a == b,
    }
}

/// The middleware: `axum::middleware::from_fn_with_state(security, guard)`.
/// On success the credential is removed from the request (header and query
/// parameter) so no handler or inner layer can log it; a request-logging
/// layer therefore belongs inside this one (added to the router before it).
pub async fn guard(State(security): State<Arc<Security>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    if header_bytes(&parts.headers) > MAX_HEADER_BYTES {
        return headers_too_large();
    }
    if let Err(refusal) = security.check(&parts) {
        return refusal.into_response();
    }
    parts.headers.remove(header::AUTHORIZATION);
    if let Some(uri) = without_token_param(&parts.uri) {
        parts.uri = uri;
    }
    next.run(Request::from_parts(parts, body)).await
}

/// The most header bytes a request may carry. The HTTP layer refuses more
/// only when they arrive over several reads (it checks its buffer between
/// reads), so headers that arrive in one read are held to the same bound
/// here.
pub const MAX_HEADER_BYTES: usize = 400 * 1024;

/// The headers' size as sent: each `name: value` line with its line end.
fn header_bytes(headers: &axum::http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

/// `431` with the JSON error body, closing the connection as the HTTP
/// layer's own refusal does.
fn headers_too_large() -> Response {
    let mut response = ApiError::new(
        ErrorCode::HeadersTooLarge,
        "the request's headers are too large or too many; send fewer or shorter headers",
    )
    .into_response();
    response.headers_mut().insert(
        header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

/// `router` with [`guard`] in front of every route (add routes and the
/// fallback first: axum applies a layer to the routes that exist).
pub fn protect<S>(router: Router<S>, security: Arc<Security>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(axum::middleware::from_fn_with_state(security, guard))
}

/// Refuses to serve the network without a token: anyone who can reach a
/// non-loopback address could read the configuration and start runs.
/// A token, when one is given, must be long enough not to be guessed (and
/// blank characters do not count).
pub fn check_bind(addr: SocketAddr, token: Option<&str>) -> Result<(), Insecure> {
    if let Some(token) = token {
        check_token_strength(token)?;
    }
    if canonical_ip(addr.ip()).is_loopback() || token.is_some() {
        return Ok(());
    }
    Err(Insecure::NoToken { addr })
}

/// At least [`MIN_TOKEN_CHARS`] non-blank characters, and none at either
/// end (a header value loses them, so such a token could never match).
fn check_token_strength(token: &str) -> Result<(), Insecure> {
    let counted = token.chars().filter(|c| !c.is_whitespace()).count();
    if counted < MIN_TOKEN_CHARS {
        return Err(Insecure::ShortToken { counted });
    }
    if token.trim() != token {
        return Err(Insecure::BlankAtEnds);
    }
    Ok(())
}

/// Why `serve` refuses its security settings. No variant holds the token,
/// so no message can show it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Insecure {
    #[error(
        "refusing to listen on {addr} without a token, since anyone on the network could \
         use the API; pass --token <secret> or set QA_RELOAD_TOKEN (or bind 127.0.0.1)"
    )]
    NoToken { addr: SocketAddr },
    #[error(
        "the token has {counted} non-blank characters; it must have at least \
         {MIN_TOKEN_CHARS} (pass a long random value with --token or QA_RELOAD_TOKEN, \
         e.g. the output of `openssl rand -hex 16`)"
    )]
    ShortToken { counted: usize },
    #[error(
        "the token starts or ends with a blank character, which a request header cannot \
         carry; pass it without surrounding blanks"
    )]
    BlankAtEnds,
    #[error(
        "--allow-origin {0:?} is not an origin; write it as a browser sends it, scheme and \
         host with an optional port (e.g. http://devbox.lan:3000)"
    )]
    NotAnOrigin(String),
}

/// `::ffff:127.0.0.1` is the IPv4 address it maps.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The host of `name[:port]` or `[v6][:port]`, as [`host_of`] reads it;
/// `None` if it is not an authority.
fn host_of_authority(authority: &str) -> Option<String> {
    host_of(&authority.parse().ok()?)
}

/// The host an authority names, lower-cased, without a trailing dot or
/// brackets. `None` when it carries userinfo (a `Host` never does), a port
/// that is not a number, an empty host, or brackets around anything but an
/// IPv6 address.
fn host_of(authority: &Authority) -> Option<String> {
    let text = authority.as_str();
    if text.contains('@') {
        return None;
    }
    let host = authority.host();
    if text.len() > host.len() && authority.port_u16().is_none() {
        return None;
    }
    let host = match host.strip_prefix('[') {
        Some(bracketed) => {
            let v6 = bracketed.strip_suffix(']')?;
            v6.parse::<Ipv6Addr>().ok()?;
            v6
        }
        None => host,
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

/// A serialised origin, `scheme://authority` and nothing else (no
/// userinfo, path, query, not even a trailing `/`): its scheme, lower case,
/// and its authority. `null` and anything without a host are not origins.
fn parse_origin(origin: &str) -> Option<(String, Authority)> {
    let uri: Uri = origin.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?.clone();
    let exact = origin.len() == scheme.len() + "://".len() + authority.as_str().len();
    (exact && !authority.as_str().contains('@')).then_some((scheme, authority))
}

/// An origin as browsers serialise it, lower case, without the scheme's
/// default port: `http://localhost:3000`. `None` for anything else (a path,
/// userinfo, `null`, a scheme other than http or https).
fn normalise_origin(origin: &str) -> Option<String> {
    let (scheme, authority) = parse_origin(origin)?;
    host_of(&authority)?;
    let default = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let host = authority.host().to_ascii_lowercase();
    Some(match authority.port_u16() {
        Some(port) if port != default => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// The host of a serialised origin (any scheme), as [`host_of`] reads it.
fn origin_host(origin: &str) -> Option<String> {
    host_of(&parse_origin(origin)?.1)
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers.get_all(header::UPGRADE).iter().any(|value| {
        value.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
        })
    })
}

/// Methods a cross-site form or script could use to change something.
fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn query_token(uri: &Uri) -> Option<String> {
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == TOKEN_PARAM)
        // A token that does not decode to text was sent, and is wrong.
        .map(|(_, value)| percent_decode(value).unwrap_or_default())
}

/// `uri` without its `token=` parameters, or `None` when it has none.
fn without_token_param(uri: &Uri) -> Option<Uri> {
    let query = uri.query()?;
    let is_token = |pair: &&str| pair.split('=').next() == Some(TOKEN_PARAM);
    if !query.split('&').any(|pair| is_token(&pair)) {
        return None;
    }
    let kept: Vec<&str> = query.split('&').filter(|p| !is_token(p)).collect();
    let path_and_query = if kept.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{}", uri.path(), kept.join("&"))
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).ok()?);
    Uri::from_parts(parts).ok()
}

/// `application/x-www-form-urlencoded` value decoding (`+` is a space, a
/// `%` without two hex digits stays as it is); `None` when the result is
/// not UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let spaced = value.replace('+', " ");
    let decoded = percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()?;
    Some(decoded.into_owned())
}

#[cfg(test)]
#[path = "security_tests.rs"]
mod tests;
