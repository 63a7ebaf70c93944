//! Stage `integrations`: the HTTP client of one integration, built from its
//! [`Integration`] settings, and its connection test (the README, "The files it reads").
//!
//! Every integration shares one `reqwest::Client` (one connection pool, one
//! user agent); what is per integration — URL, credentials, `timeout_ms` —
//! is a prepared request. Nothing here knows about the engine or the wire;
//! every string this file produces goes through the [`Redactor`], and no
//! credential is ever formatted into a message.

use std::error::Error as StdError;
use std::fmt;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Request, Url};

use crate::integrations::redact::{self, Redactor};
use crate::integrations::status::{FailureKind, IntegrationStatus, State};
use crate::model::{Integration, IntegrationFields, IntegrationKind, Setting};
use crate::units::whole_ms;

/// The `User-Agent` of every request: `qa-reload/<version>`.
pub const USER_AGENT: &str = concat!("qa-reload/", env!("CARGO_PKG_VERSION"));

/// How much of a response body is read for an excerpt.
const BODY_CAP: usize = 4096;

/// The HTTP client every integration shares: rustls, the qa-reload user
/// agent, no redirects (a test must not carry credentials to another host,
/// and anything but 2xx counts as a failure).
///
/// `resolver` replaces the system's name resolution when given (tests use
/// one that answers for their own host names, so nothing leaves loopback).
pub fn http_client(resolver: Option<Resolver>) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none());
    match resolver {
        Some(resolver) => builder.dns_resolver(resolver),
        None => builder,
    }
    .build()
}

/// Name resolution for connection tests, when not the system's.
pub type Resolver = std::sync::Arc<dyn reqwest::dns::Resolve>;

/// Why a client could not be built from a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("`{0}` is not set")]
    Missing(&'static str),
    #[error("`base_url` is not a valid URL: {0}")]
    BaseUrl(String),
    #[error("`{0}` cannot be sent in an HTTP header; remove line breaks and control characters")]
    Header(&'static str),
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

/// One integration's client: a prepared connection-test request on the
/// shared pool. Immutable; a changed configuration builds a new one.
pub struct IntegrationClient {
    kind: IntegrationKind,
    http: reqwest::Client,
    /// The connection-test request, credentials set (headers marked
    /// sensitive), cloned for every test.
    test: Request,
    timeout: Duration,
    /// The test URL without userinfo, query or fragment, and masked whole
    /// when `base_url` is a secret (read from `${VAR}`): safe to show.
    shown_url: String,
    redactor: Redactor,
}

impl fmt::Debug for IntegrationClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntegrationClient")
            .field("kind", &self.kind)
            .field("test_url", &self.shown_url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl IntegrationClient {
    /// Prepares the client of `integration` on the shared `http` client.
    /// The request goes to `base_url` without its userinfo, query or
    /// fragment: credentials come from the integration's own fields only.
    pub fn new(integration: &Integration, http: &reqwest::Client) -> Result<Self, ClientError> {
        let redactor = Redactor::for_integration(integration);
        let base = integration
            .base_url
            .expose()
            .ok_or(ClientError::Missing("base_url"))?;
        let mut url =
            Url::parse(base).map_err(|e| ClientError::BaseUrl(redactor.redact(&e.to_string())))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ClientError::BaseUrl(
                "it must be an http or https URL with a host".into(),
            ));
        }
        // Clearing userinfo cannot fail on an http(s) URL with a host.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        url.set_fragment(None);
        let path = match integration.id {
            IntegrationKind::Jira => "rest/api/3/myself",
            IntegrationKind::Postman => "me",
            IntegrationKind::Testmo => "api/v1/projects",
        };
        let joined = format!("{}/{path}", url.path().trim_end_matches('/'));
        url.set_path(&joined);

        let timeout = Duration::from_millis(integration.timeout_ms.max(1));
        let mut request = Request::new(Method::GET, url.clone());
        *request.timeout_mut() = Some(timeout);
        let (name, value) = auth_header(&integration.fields)?;
        request.headers_mut().insert(name, value);
        request.headers_mut().insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let shown_url = if integration.base_url.masked {
            format!("{}/{path}", integration.base_url.shown())
        } else {
            url.to_string()
        };
        Ok(IntegrationClient {
            kind: integration.id,
            http: http.clone(),
            test: request,
            timeout,
            shown_url,
            redactor,
        })
    }

    pub fn kind(&self) -> IntegrationKind {
        self.kind
    }

    /// The connection-test URL, safe to show.
    pub fn test_url(&self) -> &str {
        &self.shown_url
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs the connection test; the status it returns is tagged with
    /// `revision`. Takes at most about `timeout_ms`.
    pub async fn test(&self, revision: u64) -> IntegrationStatus {
        let started = Instant::now();
        let mut status = IntegrationStatus::new(self.kind, revision, State::Failed);
        let Some(request) = self.test.try_clone() else {
            // A GET without a body always clones; say so rather than panic.
            status.failure = Some(FailureKind::Config);
            status.detail = Some("the test request could not be prepared".into());
            return status;
        };
        match self.http.execute(request).await {
            Ok(response) => {
                let latency = started.elapsed();
                let code = response.status();
                status.http_status = Some(code.as_u16());
                status.latency_ms = Some(whole_ms(latency));
                if code.is_success() {
                    status.status = State::Ok;
                    // Drain (a little of) the body so the connection returns
                    // to the pool.
                    let _ = read_capped(response).await;
                } else {
                    let location = response
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        // Masked whole, then cut: a cut first could split a secret.
                        .map(|l| redact::truncate(&self.redactor.redact(l), 120));
                    let body = read_capped(response).await;
                    status.failure = Some(FailureKind::Http);
                    status.detail = Some(self.http_detail(
                        code,
                        whole_ms(started.elapsed()),
                        location,
                        &self.redactor.excerpt(&body),
                    ));
                }
            }
            Err(e) => {
                let elapsed = whole_ms(started.elapsed());
                let kind = classify(&e);
                status.latency_ms = Some(elapsed);
                status.failure = Some(kind);
                status.detail = Some(self.transport_detail(kind, &e.without_url(), elapsed));
            }
        }
        status
    }

    fn http_detail(
        &self,
        code: reqwest::StatusCode,
        elapsed_ms: u64,
        location: Option<String>,
        excerpt: &str,
    ) -> String {
        let reason = code.canonical_reason().unwrap_or("");
        let mut detail = format!(
            "HTTP {} {reason} from {} after {elapsed_ms} ms",
            code.as_u16(),
            self.shown_url
        );
        let hint = match code.as_u16() {
            401 | 403 => Some(match self.kind {
                IntegrationKind::Jira => "check `email` and `api_token`",
                IntegrationKind::Postman => "check `api_key`",
                IntegrationKind::Testmo => "check `api_token`",
            }),
            404 => Some("check `base_url`"),
            _ => None,
        };
        if let Some(location) = location {
            detail.push_str(&format!(" (redirected to {location}; check `base_url`)"));
        }
        if !excerpt.is_empty() {
            detail.push_str(": ");
            detail.push_str(excerpt);
        }
        if let Some(hint) = hint {
            detail.push_str("; ");
            detail.push_str(hint);
        }
        self.redactor.redact(&detail)
    }

    /// What a transport failure says: the step that failed and the URL as
    /// it may be shown, never the host on its own (a host read from
    /// `${VAR}` is a secret).
    fn transport_detail(&self, kind: FailureKind, e: &reqwest::Error, elapsed_ms: u64) -> String {
        let cause = root_cause(e);
        let url = &self.shown_url;
        let detail = match kind {
            FailureKind::Timeout => format!(
                "no answer from {url} within {} ms; check that the service is up, or raise `timeout_ms`",
                self.timeout.as_millis()
            ),
            FailureKind::Dns => {
                format!("cannot resolve the host of {url} ({cause}); check `base_url`")
            }
            FailureKind::Connect => {
                format!("cannot connect to {url} after {elapsed_ms} ms: {cause}")
            }
            FailureKind::Tls => format!("TLS handshake for {url} failed: {cause}"),
            FailureKind::Http | FailureKind::Config | FailureKind::Other => {
                format!("request to {url} failed after {elapsed_ms} ms: {e}: {cause}")
            }
        };
        self.redactor.redact(&detail)
    }
}

/// The header that carries the credential, marked sensitive (so it is never
/// printed by `Debug` and never compressed into HTTP/2 tables).
fn auth_header(fields: &IntegrationFields) -> Result<(HeaderName, HeaderValue), ClientError> {
    fn raw(s: &Setting, key: &'static str) -> Result<String, ClientError> {
        s.expose()
            .map(str::to_owned)
            .ok_or(ClientError::Missing(key))
    }
    let (name, value, key) = match fields {
        IntegrationFields::Jira {
            email, api_token, ..
        } => {
            let credential = format!("{}:{}", raw(email, "email")?, raw(api_token, "api_token")?);
            (
                reqwest::header::AUTHORIZATION,
                format!("Basic {}", redact::base64(credential.as_bytes())),
                "api_token",
            )
        }
        IntegrationFields::Postman { api_key, .. } => (
            HeaderName::from_static("x-api-key"),
            raw(api_key, "api_key")?,
            "api_key",
        ),
        IntegrationFields::Testmo { api_token, .. } => (
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", raw(api_token, "api_token")?),
            "api_token",
        ),
    };
    let mut value = HeaderValue::from_str(&value).map_err(|_| ClientError::Header(key))?;
    value.set_sensitive(true);
    Ok((name, value))
}

/// Up to [`BODY_CAP`] bytes of the body; a body error ends the read (the
/// status line already said what matters).
async fn read_capped(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < BODY_CAP {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(BODY_CAP);
    body
}

/// Which kind of transport failure `e` is. TLS is checked before connect
/// because a failed handshake is also a failed connect.
pub fn classify(e: &reqwest::Error) -> FailureKind {
    if e.is_timeout() {
        FailureKind::Timeout
    } else if e.is_dns() {
        FailureKind::Dns
    } else if is_tls(e) {
        FailureKind::Tls
    } else if e.is_connect() {
        FailureKind::Connect
    } else if e.is_builder() {
        FailureKind::Config
    } else {
        FailureKind::Other
    }
}

/// The errors below `e`. An `io::Error`'s `source()` skips the error it
/// wraps (and so would hide a TLS error), so for those the wrapped error is
/// the next link.
fn chain<'a>(e: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = e.source();
    while let Some(err) = next {
        out.push(err);
        next = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => err.source(),
        };
    }
    out
}

fn is_tls(e: &reqwest::Error) -> bool {
    chain(e).iter().any(|err| err.is::<rustls::Error>())
}

/// The innermost message of the chain ("Connection refused (os error
/// 111)"), which says the most; `e` itself when it has no source.
fn root_cause(e: &reqwest::Error) -> String {
    chain(e)
        .last()
        .map_or_else(|| e.to_string(), |err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integration(kind: IntegrationKind, base_url: &str) -> Integration {
        let secret = |v: &str| Setting::new(Some(v.into()), vec![], true);
        let fields = match kind {
            IntegrationKind::Jira => IntegrationFields::Jira {
                email: Setting::literal("qa@example.com"),
                api_token: secret("jira-tok"),
                project_key: None,
            },
            IntegrationKind::Postman => IntegrationFields::Postman {
                api_key: secret("PMAK-1"),
                workspace_id: None,
            },
            IntegrationKind::Testmo => IntegrationFields::Testmo {
                api_token: secret("tm-tok"),
                project_id: None,
            },
        };
        Integration {
            id: kind,
            enabled: true,
            base_url: Setting::literal(base_url),
            timeout_ms: 750,
            fields,
        }
    }

    #[test]
    fn test_request_per_kind_url_auth_and_timeout() {
        let http = http_client(None).expect("client");
        let cases = [
            (
                IntegrationKind::Jira,
                "https://u:p@jira.example.com/prefix/?q=1#f",
                "https://jira.example.com/prefix/rest/api/3/myself",
                "authorization",
                format!("Basic {}", redact::base64(b"qa@example.com:jira-tok")),
            ),
            (
                IntegrationKind::Postman,
                "https://api.getpostman.example",
                "https://api.getpostman.example/me",
                "x-api-key",
                "PMAK-1".to_string(),
            ),
            (
                IntegrationKind::Testmo,
                "http://127.0.0.1:9/",
                "http://127.0.0.1:9/api/v1/projects",
                "authorization",
                "Bearer tm-tok".to_string(),
            ),
        ];
        for (kind, base, url, header, value) in cases {
            let c = IntegrationClient::new(&integration(kind, base), &http).expect("builds");
            assert_eq!(c.test_url(), url);
            assert_eq!(c.test.url().as_str(), url);
            assert_eq!(c.timeout(), Duration::from_millis(750));
            let h = c.test.headers().get(header).expect("auth header");
            assert_eq!(h.to_str().expect("ascii"), value);
            assert!(h.is_sensitive());
            let debug = format!("{c:?}");
            assert!(!debug.contains("tok") && !debug.contains("PMAK"), "{debug}");
        }
    }

    #[test]
    fn a_token_with_a_line_break_is_a_config_error_naming_the_key() {
        let http = http_client(None).expect("client");
        let mut i = integration(IntegrationKind::Postman, "https://x.example");
        i.fields = IntegrationFields::Postman {
            api_key: Setting::new(Some("a\nb".into()), vec![], true),
            workspace_id: None,
        };
        let e = IntegrationClient::new(&i, &http).expect_err("refused");
        assert_eq!(e, ClientError::Header("api_key"));
        assert!(e.to_string().contains("`api_key` cannot be sent"));
    }

    #[test]
    fn user_agent_names_qa_reload_and_its_version() {
        assert_eq!(
            USER_AGENT,
            format!("qa-reload/{}", env!("CARGO_PKG_VERSION"))
        );
    }
}
