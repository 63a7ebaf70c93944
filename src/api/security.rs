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
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// Paths anyone who passed the `Host` check may fetch without the token:
/// the page, which reads the token from its own URL and passes it on (its
/// script and style files are public too: `page::is_public`).
/// Everything else (`/api/…`, `/ws/…`, `/metrics`, and any path not yet
/// routed) needs it, so a new route is protected unless listed here.
const PUBLIC_PATHS: &[&str] = &["/"];

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
    /// them). An origin that is not of that form is refused with a message
    /// naming it.
    pub fn with_allowed_origins(mut self, origins: &[String]) -> Result<Self, String> {
        for origin in origins {
            let normalised = normalise_origin(origin).ok_or_else(|| {
                format!(
                    "--allow-origin {origin:?} is not an origin; write it as a browser sends \
                     it, scheme and host with an optional port (e.g. http://devbox.lan:3000)"
                )
            })?;
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
            Some(value) => value.to_str().ok(),
            None => target,
        };
        let Some(host) = host else {
            return Err(ApiError::forbidden(
                "host_required",
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
        Err(ApiError::forbidden(
            "host_not_allowed",
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
        Err(ApiError::forbidden(
            "origin_not_allowed",
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
            return Err(ApiError::unauthorized(
                "token_required",
                "this server requires a token; send the header Authorization: Bearer <token> \
                 or add ?token=<token> to the URL",
            ));
        };
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if bool::from(digest.ct_eq(expected)) {
            return Ok(());
        }
        tracing::warn!(path = uri.path(), "refused a request with a wrong token");
        Err(ApiError::unauthorized(
            "token_invalid",
            "the token is wrong; use the one the server was started with \
             (--token or QA_RELOAD_TOKEN)",
        ))
    }
}

/// `Host` and `Origin` name one thing each; two of them (which a proxy and
/// this server might read differently) are a malformed request.
fn check_single(headers: &HeaderMap) -> Result<(), ApiError> {
    for (name, code) in [
        (header::HOST, "duplicate_host"),
        (header::ORIGIN, "duplicate_origin"),
    ] {
        if headers.get_all(&name).iter().nth(1).is_some() {
            tracing::warn!(header = %name, "refused a request with the header twice");
            return Err(ApiError::bad_request(
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
    if let Err(refusal) = security.check(&parts) {
        return refusal.into_response();
    }
    parts.headers.remove(header::AUTHORIZATION);
    if let Some(uri) = without_token_param(&parts.uri) {
        parts.uri = uri;
    }
    next.run(Request::from_parts(parts, body)).await
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
pub fn check_bind(addr: SocketAddr, token: Option<&str>) -> Result<(), String> {
    if let Some(token) = token {
        check_token_strength(token)?;
    }
    if canonical_ip(addr.ip()).is_loopback() || token.is_some() {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {addr} without a token, since anyone on the network could \
         use the API; pass --token <secret> or set QA_RELOAD_TOKEN (or bind 127.0.0.1)"
    ))
}

/// At least [`MIN_TOKEN_CHARS`] non-blank characters, and none at either
/// end (a header value loses them, so such a token could never match).
/// The message never shows the token.
fn check_token_strength(token: &str) -> Result<(), String> {
    let counted = token.chars().filter(|c| !c.is_whitespace()).count();
    if counted < MIN_TOKEN_CHARS {
        return Err(format!(
            "the token has {counted} non-blank characters; it must have at least \
             {MIN_TOKEN_CHARS} (pass a long random value with --token or QA_RELOAD_TOKEN, \
             e.g. the output of `openssl rand -hex 16`)"
        ));
    }
    if token.trim() != token {
        return Err(
            "the token starts or ends with a blank character, which a request header cannot \
             carry; pass it without surrounding blanks"
                .to_owned(),
        );
    }
    Ok(())
}

/// An origin as browsers serialise it, lower case, without the scheme's
/// default port: `http://localhost:3000`. `None` for anything else (a path,
/// userinfo, `null`, a scheme other than http or https).
fn normalise_origin(origin: &str) -> Option<String> {
    let uri: Uri = origin.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    if authority.as_str().contains('@')
        || !matches!(uri.path(), "" | "/")
        || uri.query().is_some()
        || origin.ends_with('/')
    {
        return None;
    }
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

/// `::ffff:127.0.0.1` is the IPv4 address it maps.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The host of `name[:port]` or `[v6][:port]`, lower-cased, without a
/// trailing dot; `None` if it is not of that form.
fn host_of_authority(authority: &str) -> Option<String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (v6, port)
    } else {
        match authority.split_once(':') {
            // A second colon: an unbracketed IPv6 address or garbage.
            Some((_, port)) if port.contains(':') => return None,
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

/// The host of a serialised origin (`scheme://host[:port]`). `null` and
/// anything without a host has none.
fn origin_host(origin: &str) -> Option<String> {
    let (scheme, authority) = origin.split_once("://")?;
    if scheme.is_empty() || authority.contains(['/', '@']) {
        return None;
    }
    host_of_authority(authority)
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
        .and_then(|(_, value)| percent_decode(value))
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

/// `application/x-www-form-urlencoded` value decoding; `None` when the
/// result is not UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match value.get(i + 1..i + 3).and_then(hex_byte) {
                Some(byte) => {
                    out.push(byte);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Two hex digits as a byte (`from_str_radix` alone would accept `+f`).
fn hex_byte(hex: &str) -> Option<u8> {
    if hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        u8::from_str_radix(hex, 16).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::test_support::Captured;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    const TOKEN: &str = "s3cret-t0ken-long-enough";

    fn loopback() -> SocketAddr {
        "127.0.0.1:7878".parse().unwrap()
    }

    /// Each route answers the URI and `Authorization` header it was given,
    /// so tests see what the guard passed on.
    fn app(security: Security) -> Router {
        async fn echo(req: Request) -> String {
            let auth = req.headers().get(header::AUTHORIZATION).is_some();
            format!("{} auth={auth}", req.uri())
        }
        let router = Router::new()
            .route("/", get(echo))
            .route("/metrics", get(echo))
            .route("/api/v1/workflows", get(echo).post(echo).delete(echo))
            .route("/ws/hot-reload", get(echo));
        protect(router, Arc::new(security))
    }

    struct Answer {
        status: StatusCode,
        body: String,
    }

    impl Answer {
        /// The `code` of a JSON refusal, or `"passed"` for a 200.
        fn outcome(&self) -> String {
            if self.status == StatusCode::OK {
                return "passed".to_owned();
            }
            let body: serde_json::Value = serde_json::from_str(&self.body).unwrap();
            format!(
                "{} {}",
                self.status.as_u16(),
                body["code"].as_str().unwrap()
            )
        }
    }

    async fn send(security: &Security, request: Request) -> Answer {
        let response = app(security.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    /// `(host header or "-" for none, expected outcome)` against `security`.
    async fn check_hosts(security: &Security, table: &[(&str, &str)]) {
        for (host, expect) in table {
            let headers: &[(&str, &str)] = if *host == "-" { &[] } else { &[("host", host)] };
            let answer = send(security, request("GET", "/", headers)).await;
            assert_eq!(answer.outcome(), *expect, "Host: {host}");
        }
    }

    #[tokio::test]
    async fn loopback_bind_accepts_loopback_hosts_on_any_port_and_refuses_others() {
        let security = Security::new(loopback(), None, &[]);
        check_hosts(
            &security,
            &[
                ("localhost", "passed"),
                ("localhost:7878", "passed"),
                ("LocalHost:3000", "passed"),
                ("localhost.:7878", "passed"),
                ("127.0.0.1", "passed"),
                ("127.0.0.1:7878", "passed"),
                ("127.0.0.2:7878", "passed"),
                ("[::1]", "passed"),
                ("[::1]:7878", "passed"),
                ("[::ffff:127.0.0.1]:7878", "passed"),
                ("evil.example", "403 host_not_allowed"),
                ("evil.example:7878", "403 host_not_allowed"),
                ("localhost.evil.example", "403 host_not_allowed"),
                ("192.168.1.5:7878", "403 host_not_allowed"),
                ("0.0.0.0:7878", "403 host_not_allowed"),
                ("::1", "403 host_not_allowed"),
                ("[::1", "403 host_not_allowed"),
                ("localhost:", "403 host_not_allowed"),
                ("localhost:80x", "403 host_not_allowed"),
                ("", "403 host_not_allowed"),
                ("-", "403 host_required"),
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn non_loopback_bind_also_accepts_its_own_address_and_extra_names() {
        let bind = "192.168.1.5:7878".parse().unwrap();
        let extra = ["devbox.lan:7878".to_owned(), "QA.Example.COM".to_owned()];
        let security = Security::new(bind, Some(TOKEN), &extra);
        assert_eq!(
            security.allowed_hosts(),
            ["192.168.1.5", "devbox.lan", "localhost", "qa.example.com"]
        );
        check_hosts(
            &security,
            &[
                ("192.168.1.5:7878", "passed"),
                ("devbox.lan", "passed"),
                ("qa.example.com:443", "passed"),
                ("localhost:7878", "passed"),
                ("192.168.1.6:7878", "403 host_not_allowed"),
                ("evil.example", "403 host_not_allowed"),
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn unspecified_bind_accepts_any_ip_literal_but_only_configured_names() {
        let bind = "[::]:7878".parse().unwrap();
        let security = Security::new(bind, Some(TOKEN), &["devbox.lan".to_owned()]);
        check_hosts(
            &security,
            &[
                ("10.1.2.3:7878", "passed"),
                ("[fe80::1]:7878", "passed"),
                ("devbox.lan:7878", "passed"),
                ("[::]:7878", "403 host_not_allowed"),
                ("evil.example", "403 host_not_allowed"),
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn http2_authority_stands_in_for_a_missing_host_header() {
        let security = Security::new(loopback(), None, &[]);
        let ok = request("GET", "http://localhost:7878/", &[]);
        assert_eq!(send(&security, ok).await.outcome(), "passed");
        let foreign = request("GET", "http://evil.example/", &[]);
        assert_eq!(
            send(&security, foreign).await.outcome(),
            "403 host_not_allowed"
        );
    }

    #[tokio::test]
    async fn websocket_upgrades_and_changes_need_an_allowed_origin_when_one_is_sent() {
        let security = Security::new(loopback(), None, &[]);
        let ws = [("upgrade", "websocket"), ("connection", "upgrade")];
        // (method, path, Upgrade: websocket?, Origin or "-", expected outcome)
        let table = [
            ("GET", "/ws/hot-reload", true, "-", "passed"),
            (
                "GET",
                "/ws/hot-reload",
                true,
                "http://localhost:7878",
                "passed",
            ),
            (
                "GET",
                "/ws/hot-reload",
                true,
                "http://localhost:3000",
                "passed",
            ),
            ("GET", "/ws/hot-reload", true, "https://127.0.0.1", "passed"),
            ("GET", "/ws/hot-reload", true, "http://[::1]:5173", "passed"),
            (
                "GET",
                "/ws/hot-reload",
                true,
                "http://evil.example",
                "403 origin_not_allowed",
            ),
            (
                "GET",
                "/ws/hot-reload",
                true,
                "http://localhost.evil.example",
                "403 origin_not_allowed",
            ),
            (
                "GET",
                "/ws/hot-reload",
                true,
                "null",
                "403 origin_not_allowed",
            ),
            (
                "GET",
                "/ws/hot-reload",
                true,
                "localhost",
                "403 origin_not_allowed",
            ),
            (
                "GET",
                "/ws/hot-reload",
                true,
                "chrome-extension://abcdef",
                "403 origin_not_allowed",
            ),
            (
                "GET",
                "/ws/hot-reload",
                true,
                "http://user@localhost",
                "403 origin_not_allowed",
            ),
            // Any path: the upgrade is what matters.
            (
                "GET",
                "/api/v1/workflows",
                true,
                "http://evil.example",
                "403 origin_not_allowed",
            ),
            ("POST", "/api/v1/workflows", false, "-", "passed"),
            (
                "POST",
                "/api/v1/workflows",
                false,
                "http://localhost:3000",
                "passed",
            ),
            (
                "POST",
                "/api/v1/workflows",
                false,
                "http://evil.example",
                "403 origin_not_allowed",
            ),
            (
                "POST",
                "/api/v1/workflows",
                false,
                "null",
                "403 origin_not_allowed",
            ),
            (
                "DELETE",
                "/api/v1/workflows",
                false,
                "http://evil.example",
                "403 origin_not_allowed",
            ),
            // A plain cross-site GET cannot read the answer (no CORS) nor change anything.
            (
                "GET",
                "/api/v1/workflows",
                false,
                "http://evil.example",
                "passed",
            ),
        ];
        for (method, path, upgrade, origin, expect) in table {
            let mut headers: Vec<(&str, &str)> = vec![("host", "localhost:7878")];
            if upgrade {
                headers.extend(ws);
            }
            if origin != "-" {
                headers.push(("origin", origin));
            }
            let answer = send(&security, request(method, path, &headers)).await;
            assert_eq!(
                answer.outcome(),
                expect,
                "{method} {path} upgrade={upgrade} Origin: {origin}"
            );
        }
    }

    #[tokio::test]
    async fn upgrade_header_is_matched_case_insensitively_in_a_list() {
        let security = Security::new(loopback(), None, &[]);
        let headers = [
            ("host", "localhost"),
            ("upgrade", "h2c, WebSocket"),
            ("origin", "http://evil.example"),
        ];
        let answer = send(&security, request("GET", "/ws/hot-reload", &headers)).await;
        assert_eq!(answer.outcome(), "403 origin_not_allowed");
    }

    #[tokio::test]
    async fn without_a_configured_token_nothing_asks_for_one() {
        let security = Security::new(loopback(), None, &[]);
        for path in ["/", "/api/v1/workflows", "/ws/hot-reload", "/metrics"] {
            let answer = send(&security, request("GET", path, &[("host", "localhost")])).await;
            assert_eq!(answer.outcome(), "passed", "{path}");
        }
        let empty = Security::new(loopback(), Some(""), &[]);
        assert!(!empty.requires_token());
    }

    #[tokio::test]
    async fn with_a_token_every_path_but_the_page_needs_it() {
        let security = Security::new(loopback(), Some(TOKEN), &[]);
        let bearer = format!("Bearer {TOKEN}");
        let lower = format!("bearer {TOKEN}");
        let wrong = format!("Bearer {TOKEN}x");
        let in_query = format!("/ws/hot-reload?since=3&token={TOKEN}");
        // (path, Authorization or "-", expected outcome)
        let table = [
            ("/", "-", "passed"),
            ("/?x=1", "-", "passed"),
            ("/api/v1/workflows", "-", "401 token_required"),
            ("/ws/hot-reload", "-", "401 token_required"),
            ("/metrics", "-", "401 token_required"),
            ("/not-routed-yet", "-", "401 token_required"),
            ("//api/v1/workflows", "-", "401 token_required"),
            (
                "/api/v1/workflows",
                "Basic dXNlcjpwYXNz",
                "401 token_required",
            ),
            ("/api/v1/workflows", "Bearer", "401 token_required"),
            ("/api/v1/workflows", &wrong, "401 token_invalid"),
            ("/api/v1/workflows", "Bearer s3cret", "401 token_invalid"),
            ("/metrics?token=nope", "-", "401 token_invalid"),
            ("/api/v1/workflows", &bearer, "passed"),
            ("/api/v1/workflows", &lower, "passed"),
            ("/metrics", &bearer, "passed"),
            (&in_query, "-", "passed"),
            (
                "/ws/hot-reload?token=s3cret%2Dt0ken%2Dlong-enough",
                "-",
                "passed",
            ),
        ];
        for (path, auth, expect) in table {
            let mut headers = vec![("host", "localhost")];
            if auth != "-" {
                headers.push(("authorization", auth));
            }
            let answer = send(&security, request("GET", path, &headers)).await;
            assert_eq!(answer.outcome(), expect, "{path} Authorization: {auth}");
        }
    }

    #[tokio::test]
    async fn a_401_tells_the_client_to_use_a_bearer_token() {
        let security = Security::new(loopback(), Some(TOKEN), &[]);
        let response = app(security)
            .oneshot(request("GET", "/metrics", &[("host", "localhost")]))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[tokio::test]
    async fn foreign_host_is_refused_before_the_token_is_looked_at() {
        let security = Security::new(loopback(), Some(TOKEN), &[]);
        let answer = send(
            &security,
            request("GET", "/api/v1/workflows", &[("host", "evil.example")]),
        )
        .await;
        assert_eq!(answer.outcome(), "403 host_not_allowed");
    }

    #[tokio::test]
    async fn handlers_never_see_the_credential() {
        let security = Security::new(loopback(), Some(TOKEN), &[]);
        let bearer = format!("Bearer {TOKEN}");
        let cases = [
            (
                format!("/ws/hot-reload?since=3&token={TOKEN}"),
                "-",
                "/ws/hot-reload?since=3 auth=false",
            ),
            (
                format!("/ws/hot-reload?token={TOKEN}&since=3"),
                "-",
                "/ws/hot-reload?since=3 auth=false",
            ),
            (
                format!("/ws/hot-reload?token={TOKEN}"),
                "-",
                "/ws/hot-reload auth=false",
            ),
            (
                "/api/v1/workflows?a=1".to_owned(),
                bearer.as_str(),
                "/api/v1/workflows?a=1 auth=false",
            ),
        ];
        for (path, auth, seen) in cases {
            let mut headers = vec![("host", "localhost")];
            if auth != "-" {
                headers.push(("authorization", auth));
            }
            let answer = send(&security, request("GET", &path, &headers)).await;
            assert_eq!(answer.body, seen, "{path}");
        }
    }

    #[tokio::test]
    async fn the_token_is_never_logged_nor_echoed() {
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        // The test runtime is single-threaded, so the thread-local default
        // subscriber sees everything the guard logs.
        let _default = tracing::subscriber::set_default(subscriber);

        let security = Security::new(loopback(), Some(TOKEN), &[]);
        assert!(!format!("{security:?}").contains(TOKEN));
        let near_miss = format!("Bearer {TOKEN}x");
        let requests = [
            request(
                "GET",
                "/metrics",
                &[("host", "localhost"), ("authorization", &near_miss)],
            ),
            request(
                "GET",
                &format!("/metrics?token={TOKEN}x"),
                &[("host", "localhost")],
            ),
            request(
                "GET",
                &format!("/metrics?token={TOKEN}"),
                &[("host", "evil.example")],
            ),
            request(
                "GET",
                &format!("/ws/hot-reload?token={TOKEN}"),
                &[
                    ("host", "localhost"),
                    ("upgrade", "websocket"),
                    ("origin", "null"),
                ],
            ),
            request("GET", "/metrics", &[("host", "localhost")]),
        ];
        let mut refusals = 0;
        for req in requests {
            let answer = send(&security, req).await;
            assert_ne!(answer.status, StatusCode::OK);
            assert!(!answer.body.contains(TOKEN), "{}", answer.body);
            refusals += 1;
        }
        let logged = log.text();
        assert_eq!(logged.lines().count(), refusals, "{logged}");
        assert!(!logged.contains(TOKEN), "{logged}");
    }

    #[test]
    fn check_bind_refuses_a_network_bind_without_a_token() {
        let table: &[(&str, Option<&str>, bool)] = &[
            ("127.0.0.1:7878", None, true),
            ("127.0.0.2:7878", None, true),
            ("[::1]:7878", None, true),
            ("[::ffff:127.0.0.1]:7878", None, true),
            ("0.0.0.0:7878", None, false),
            ("[::]:7878", None, false),
            ("192.168.1.5:7878", None, false),
            ("192.168.1.5:7878", Some(""), false),
            ("192.168.1.5:7878", Some(TOKEN), true),
            ("0.0.0.0:7878", Some(TOKEN), true),
            // Too short or blank: refused wherever it is used.
            ("0.0.0.0:7878", Some(" "), false),
            ("0.0.0.0:7878", Some("                    "), false),
            ("0.0.0.0:7878", Some("fifteen-chars-x"), false),
            ("0.0.0.0:7878", Some("sixteen-chars-xy"), true),
            ("0.0.0.0:7878", Some("fifteen chars xy z w"), true),
            ("0.0.0.0:7878", Some(" sixteen-chars-xy"), false),
            ("127.0.0.1:7878", Some("short"), false),
        ];
        for (addr, token, ok) in table {
            let result = check_bind(addr.parse().unwrap(), *token);
            assert_eq!(result.is_ok(), *ok, "{addr} {token:?}");
        }
        let message = check_bind("0.0.0.0:7878".parse().unwrap(), None).unwrap_err();
        assert_eq!(
            message,
            "refusing to listen on 0.0.0.0:7878 without a token, since anyone on the network \
             could use the API; pass --token <secret> or set QA_RELOAD_TOKEN (or bind 127.0.0.1)"
        );
        assert!(!message.contains('\n'));
    }

    #[test]
    fn a_short_token_is_refused_without_showing_it() {
        let message = check_bind("0.0.0.0:7878".parse().unwrap(), Some("hunter2")).unwrap_err();
        assert!(message.contains("at least 16"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[tokio::test]
    async fn host_and_origin_may_appear_only_once() {
        let security = Security::new(loopback(), None, &[]);
        let table: &[(&[(&str, &str)], &str)] = &[
            (
                &[("host", "localhost"), ("host", "evil.example")],
                "400 duplicate_host",
            ),
            (
                &[("host", "localhost"), ("host", "localhost")],
                "400 duplicate_host",
            ),
            (
                &[
                    ("host", "localhost"),
                    ("origin", "http://localhost"),
                    ("origin", "http://evil.example"),
                ],
                "400 duplicate_origin",
            ),
            (
                &[("host", "localhost"), ("origin", "http://localhost")],
                "passed",
            ),
        ];
        for (headers, expect) in table {
            let answer = send(&security, request("POST", "/api/v1/workflows", headers)).await;
            assert_eq!(answer.outcome(), *expect, "{headers:?}");
        }
    }

    #[tokio::test]
    async fn an_absolute_form_target_must_name_an_allowed_host_too() {
        let security = Security::new(loopback(), None, &[]);
        let table = [
            (
                "http://localhost:7878/api/v1/workflows",
                "localhost",
                "passed",
            ),
            (
                "http://evil.example/api/v1/workflows",
                "localhost",
                "403 host_not_allowed",
            ),
            (
                "http://localhost/api/v1/workflows",
                "evil.example",
                "403 host_not_allowed",
            ),
        ];
        for (target, host, expect) in table {
            let answer = send(&security, request("GET", target, &[("host", host)])).await;
            assert_eq!(answer.outcome(), expect, "{target} Host: {host}");
        }
    }

    #[tokio::test]
    async fn off_loopback_an_origin_must_name_the_requests_own_host_or_be_listed() {
        let bind = "0.0.0.0:7878".parse().unwrap();
        let security = Security::new(bind, Some(TOKEN), &["devbox.lan".to_owned()])
            .with_allowed_origins(&[
                "HTTP://App.Example:3000".to_owned(),
                "https://ci.example:443".to_owned(),
            ])
            .unwrap();
        let bearer = format!("Bearer {TOKEN}");
        // (Host, Origin, expected outcome) of a POST
        let table = [
            ("10.0.0.5:7878", "http://10.0.0.5:7878", "passed"),
            ("10.0.0.5:7878", "http://10.0.0.5:3000", "passed"),
            ("10.0.0.5:7878", "http://10.0.0.9", "403 origin_not_allowed"),
            (
                "10.0.0.5:7878",
                "http://[fe80::1]",
                "403 origin_not_allowed",
            ),
            (
                "10.0.0.5:7878",
                "http://localhost",
                "403 origin_not_allowed",
            ),
            ("devbox.lan:7878", "http://devbox.lan", "passed"),
            (
                "devbox.lan:7878",
                "http://10.0.0.5",
                "403 origin_not_allowed",
            ),
            ("localhost:7878", "http://localhost:3000", "passed"),
            ("10.0.0.5:7878", "http://app.example:3000", "passed"),
            (
                "10.0.0.5:7878",
                "http://app.example",
                "403 origin_not_allowed",
            ),
            ("10.0.0.5:7878", "https://ci.example", "passed"),
        ];
        for (host, origin, expect) in table {
            let headers = [
                ("host", host),
                ("origin", origin),
                ("authorization", &bearer),
            ];
            let answer = send(&security, request("POST", "/api/v1/workflows", &headers)).await;
            assert_eq!(answer.outcome(), expect, "Host: {host} Origin: {origin}");
        }
    }

    #[test]
    fn allowed_origins_must_be_origins() {
        let security = Security::new(loopback(), None, &[]);
        for bad in [
            "localhost:3000",
            "http://a.example/path",
            "http://u@a.example",
            "null",
            "ftp://a.example",
            "http://a.example/",
        ] {
            let message = security
                .clone()
                .with_allowed_origins(&[bad.to_owned()])
                .unwrap_err();
            assert!(message.contains(bad), "{message}");
        }
        let table = [
            ("http://A.example:80", Some("http://a.example")),
            ("https://a.example:8443", Some("https://a.example:8443")),
            ("http://[::1]:3000", Some("http://[::1]:3000")),
        ];
        for (origin, normalised) in table {
            assert_eq!(normalise_origin(origin).as_deref(), normalised, "{origin}");
        }
    }

    #[test]
    fn percent_decoding_of_query_values() {
        let table = [
            ("abc", Some("abc")),
            ("a%2Db", Some("a-b")),
            ("a+b", Some("a b")),
            ("100%", Some("100%")),
            ("%zz", Some("%zz")),
            ("%+f", Some("% f")),
            ("%C3%A9", Some("é")),
            ("%FF", None),
        ];
        for (raw, decoded) in table {
            assert_eq!(percent_decode(raw).as_deref(), decoded, "{raw}");
        }
    }
}
