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
use std::time::{Duration, Instant, SystemTime};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Request, StatusCode, Url};

use crate::integrations::redact::{self, Redactor};
use crate::integrations::status::{FailureKind, IntegrationStatus, State, TestStep};
use crate::model::{Integration, IntegrationFields, IntegrationKind, JiraDeployment, Setting};
use crate::units::whole_ms;

/// The `User-Agent` of every request: `qa-reload/<version>`.
pub const USER_AGENT: &str = concat!("qa-reload/", env!("CARGO_PKG_VERSION"));

/// How much of a response body is read for an excerpt.
const BODY_CAP: usize = 4096;

/// How long a `429` without `Retry-After` holds requests back.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(60);

/// The bounds of a wait a service asks for: at least a second (so
/// `Retry-After: 0` cannot make a loop of requests), at most a day (so a
/// hostile or broken answer cannot silence an integration for good).
const MIN_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(24 * 60 * 60);

/// What an id may hold unencoded in a URL path segment: the unreserved
/// characters (letters, digits, `-`, `_`, `.`, `~`); `/`, `?`, `#`, `%` and
/// the rest are percent-encoded, so an id stays one segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

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
    #[error("`{0}` cannot be `.` or `..`; write the id the service shows")]
    Id(&'static str),
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

/// One step of the test: a prepared request and what it checks.
struct Probe {
    step: TestStep,
    /// The request, credentials set (headers marked sensitive), cloned for
    /// every test.
    request: Request,
    /// The URL without userinfo, query or fragment, secrets masked: safe
    /// to show.
    shown_url: String,
    /// For a step that checks a named thing: what it is called in a
    /// message ("project `QA`") and the key that names it.
    subject: Option<(String, &'static str)>,
}

/// One integration's client: the prepared requests of its connection test
/// on the shared pool. Immutable; a changed configuration builds a new one.
pub struct IntegrationClient {
    kind: IntegrationKind,
    /// Jira's deployment (`None` for the other services).
    deployment: Option<JiraDeployment>,
    http: reqwest::Client,
    probes: Vec<Probe>,
    timeout: Duration,
    /// How long a `429` without `Retry-After` holds requests back.
    default_retry: Duration,
    redactor: Redactor,
}

impl fmt::Debug for IntegrationClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntegrationClient")
            .field("kind", &self.kind)
            .field(
                "steps",
                &self
                    .probes
                    .iter()
                    .map(|p| (p.step, p.shown_url.as_str()))
                    .collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// How one step ended.
enum Outcome {
    /// A 2xx answer with this status code.
    Passed(u16),
    /// The test stops here with this status.
    Stopped(IntegrationStatus),
}

impl IntegrationClient {
    /// Prepares the client of `integration` on the shared `http` client.
    /// The requests go to `base_url` without its userinfo, query or
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

        let deployment = match &integration.fields {
            IntegrationFields::Jira { deployment, .. } => Some(*deployment),
            _ => None,
        };
        // (step, path, the setting it names, its key, its noun).
        type Named<'a> = Option<(
            TestStep,
            &'static str,
            &'a Setting,
            &'static str,
            &'static str,
        )>;
        let (auth_path, named): (&str, Named<'_>) = match &integration.fields {
            IntegrationFields::Jira {
                deployment,
                project_key,
                ..
            } => {
                let (auth, project) = match deployment {
                    JiraDeployment::Cloud => ("rest/api/3/myself", "rest/api/3/project"),
                    JiraDeployment::DataCenter => ("rest/api/2/myself", "rest/api/2/project"),
                };
                let named = project_key
                    .as_ref()
                    .map(|k| (TestStep::Project, project, k, "project_key", "project"));
                (auth, named)
            }
            IntegrationFields::Postman { workspace_id, .. } => (
                "me",
                workspace_id.as_ref().map(|w| {
                    (
                        TestStep::Workspace,
                        "workspaces",
                        w,
                        "workspace_id",
                        "workspace",
                    )
                }),
            ),
            IntegrationFields::Testmo { project_id, .. } => (
                "api/v1/user",
                project_id.as_ref().map(|p| {
                    (
                        TestStep::Project,
                        "api/v1/projects",
                        p,
                        "project_id",
                        "project",
                    )
                }),
            ),
        };

        let timeout = Duration::from_millis(integration.timeout_ms.max(1));
        let (name, value) = auth_header(&integration.fields)?;
        let shown_base = integration
            .base_url
            .masked
            .then(|| integration.base_url.shown());
        // `shown` is the path as it may be shown: an id that is a secret
        // masked.
        let prepare = |path: String, shown: String| {
            let mut step_url = url.clone();
            let joined = format!("{}/{path}", url.path().trim_end_matches('/'));
            step_url.set_path(&joined);
            let mut request = Request::new(Method::GET, step_url);
            *request.timeout_mut() = Some(timeout);
            request.headers_mut().insert(name.clone(), value.clone());
            request.headers_mut().insert(
                reqwest::header::ACCEPT,
                HeaderValue::from_static("application/json"),
            );
            let shown_url = match &shown_base {
                Some(base) => format!("{base}/{shown}"),
                None => format!("{}/{shown}", url.as_str().trim_end_matches('/')),
            };
            (request, shown_url)
        };

        let mut probes = Vec::with_capacity(2);
        let (request, shown_url) = prepare(auth_path.to_string(), auth_path.to_string());
        probes.push(Probe {
            step: TestStep::Authenticate,
            request,
            shown_url,
            subject: None,
        });
        if let Some((step, path, setting, key, noun)) = named {
            let id = setting.expose().ok_or(ClientError::Missing(key))?;
            // A `.` or `..` segment would be resolved away by the URL
            // parser, asking another path than the one named.
            if matches!(id, "." | "..") {
                return Err(ClientError::Id(key));
            }
            let segment = utf8_percent_encode(id, SEGMENT).to_string();
            // Control characters (a line break) would split a log line.
            let shown_id: String = setting
                .shown()
                .chars()
                .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
                .collect();
            let shown_id = redact::truncate(&shown_id, 80);
            let shown_segment = if setting.masked {
                shown_id.clone()
            } else {
                segment.clone()
            };
            let (request, shown_url) = prepare(
                format!("{path}/{segment}"),
                format!("{path}/{shown_segment}"),
            );
            probes.push(Probe {
                step,
                request,
                shown_url,
                subject: Some((format!("{noun} `{shown_id}`"), key)),
            });
        }
        Ok(IntegrationClient {
            kind: integration.id,
            deployment,
            http: http.clone(),
            probes,
            timeout,
            default_retry: DEFAULT_RETRY,
            redactor,
        })
    }

    /// The same client, holding requests back this long after a `429` that
    /// names no wait (60 s unless changed; tests shorten it).
    pub fn with_default_retry(mut self, wait: Duration) -> Self {
        self.default_retry = wait;
        self
    }

    pub fn kind(&self) -> IntegrationKind {
        self.kind
    }

    /// The first step's URL (authentication), safe to show.
    pub fn test_url(&self) -> &str {
        self.probes.first().map_or("", |p| p.shown_url.as_str())
    }

    /// The steps of the test, in order, with their URLs (safe to show).
    pub fn steps(&self) -> Vec<(TestStep, &str)> {
        self.probes
            .iter()
            .map(|p| (p.step, p.shown_url.as_str()))
            .collect()
    }

    /// How long each request of the test may take (`timeout_ms`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long the whole test may take: `timeout_ms` per step.
    pub fn deadline(&self) -> Duration {
        self.timeout
            .saturating_mul(u32::try_from(self.probes.len()).unwrap_or(u32::MAX))
    }

    /// Runs the connection test, step by step, stopping at the first step
    /// that does not pass; the status it returns is tagged with `revision`.
    /// Takes at most about [`Self::deadline`].
    pub async fn test(&self, revision: u64) -> IntegrationStatus {
        let started = Instant::now();
        let mut status = IntegrationStatus::new(self.kind, revision, State::Ok);
        for probe in &self.probes {
            match self.probe(probe, revision, started).await {
                Outcome::Passed(code) => status.http_status = Some(code),
                Outcome::Stopped(stopped) => {
                    status = stopped;
                    break;
                }
            }
        }
        if status.status == State::Ok {
            status.latency_ms = Some(whole_ms(started.elapsed()));
        }
        let now = SystemTime::now();
        status.at = now;
        status.tested_at = Some(now);
        status
    }

    async fn probe(&self, probe: &Probe, revision: u64, started: Instant) -> Outcome {
        let mut status = IntegrationStatus::new(self.kind, revision, State::Failed);
        status.step = Some(probe.step);
        let Some(request) = probe.request.try_clone() else {
            // A GET without a body always clones; say so rather than panic.
            status.failure = Some(FailureKind::Config);
            status.detail = Some("the test request could not be prepared".into());
            return Outcome::Stopped(status);
        };
        let response = match self.http.execute(request).await {
            Ok(response) => response,
            Err(e) => {
                let elapsed = whole_ms(started.elapsed());
                let kind = classify(&e);
                status.latency_ms = Some(elapsed);
                status.failure = Some(kind);
                status.detail = Some(self.transport_detail(probe, kind, &e.without_url(), elapsed));
                return Outcome::Stopped(status);
            }
        };
        let code = response.status();
        status.http_status = Some(code.as_u16());
        status.latency_ms = Some(whole_ms(started.elapsed()));
        if code.is_success() {
            // Drain (a little of) the body so the connection returns to
            // the pool.
            let _ = read_capped(response).await;
            return Outcome::Passed(code.as_u16());
        }
        let now = SystemTime::now();
        let wait = hold_for(code, response.headers(), now, self.default_retry);
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            // Masked whole, then cut: a cut first could split a secret.
            .map(|l| redact::truncate(&self.redactor.redact(l), 120));
        let body = read_capped(response).await;
        let message = self.redactor.service_message(&body);
        let elapsed = whole_ms(started.elapsed());
        match wait {
            Some((wait, given)) => {
                status.status = State::RateLimited;
                status.retry_at = Some(now + wait);
                status.detail = Some(self.limited_detail(probe, code, wait, given, &message));
            }
            None => {
                status.failure = Some(FailureKind::Http);
                status.detail = Some(self.http_detail(probe, code, elapsed, location, &message));
            }
        }
        Outcome::Stopped(status)
    }

    fn http_detail(
        &self,
        probe: &Probe,
        code: StatusCode,
        elapsed_ms: u64,
        location: Option<String>,
        message: &str,
    ) -> String {
        let reason = code.canonical_reason().unwrap_or("");
        let mut detail = String::new();
        let mut hint = None;
        if let Some((subject, key)) = &probe.subject
            && matches!(code.as_u16(), 403 | 404)
        {
            let who = match self.kind {
                IntegrationKind::Jira => "account",
                IntegrationKind::Postman => "API key",
                IntegrationKind::Testmo => "token",
            };
            // `; `, not `: `, after the subject: "token: …" would read as
            // a secret's value to the redactor.
            detail.push_str(&format!(
                "{subject} not found or not visible to this {who}; "
            ));
            hint = Some(format!("check `{key}`"));
        }
        detail.push_str(&format!(
            "HTTP {} {reason} from {} after {elapsed_ms} ms",
            code.as_u16(),
            probe.shown_url
        ));
        let hint = hint.or_else(|| self.hint(probe.step, code).map(String::from));
        if let Some(location) = location {
            detail.push_str(&format!(" (redirected to {location}; check `base_url`)"));
        }
        if !message.is_empty() {
            detail.push_str(": ");
            detail.push_str(message);
        }
        if let Some(hint) = hint {
            detail.push_str("; ");
            detail.push_str(&hint);
        }
        self.redactor.redact(&detail)
    }

    /// What usually causes `code` at `step`, and the key to look at.
    fn hint(&self, step: TestStep, code: StatusCode) -> Option<&'static str> {
        let cloud = self.deployment == Some(JiraDeployment::Cloud);
        Some(match (code.as_u16(), self.kind) {
            (401, IntegrationKind::Jira) if cloud => {
                "check `email` and `api_token`: the token may have expired or been revoked, `email` may not be the address of the account that made the token, or a scoped token is used with the site URL (scoped tokens work only through https://api.atlassian.com/ex/jira/<cloud id>)"
            }
            (401, IntegrationKind::Jira) => {
                "check `api_token`: a personal access token of this site, which may have expired or been revoked (with `deployment: data_center`, `email` is not used)"
            }
            (401, IntegrationKind::Postman) => {
                "check `api_key`: it may have expired or been revoked"
            }
            (401, IntegrationKind::Testmo) => {
                "check `api_token`: it may have expired or been revoked"
            }
            (403, IntegrationKind::Jira) if cloud => "check `email` and `api_token`",
            (403, IntegrationKind::Jira | IntegrationKind::Testmo) => "check `api_token`",
            (403, IntegrationKind::Postman) => "check `api_key`",
            (404, IntegrationKind::Jira) if step == TestStep::Authenticate => {
                "check `base_url`, and `deployment` (Jira Data Center and Server have no REST API v3: use `deployment: data_center`)"
            }
            (404, _) => "check `base_url`",
            _ => return None,
        })
    }

    fn limited_detail(
        &self,
        probe: &Probe,
        code: StatusCode,
        wait: Duration,
        given: bool,
        message: &str,
    ) -> String {
        let reason = code.canonical_reason().unwrap_or("");
        let why = if given {
            "as its Retry-After asks"
        } else {
            "it gave no Retry-After"
        };
        let mut detail = format!(
            "rate limited: HTTP {} {reason} from {}; no request for {} s ({why}), then the test runs again",
            code.as_u16(),
            probe.shown_url,
            wait.as_secs_f64().ceil() as u64,
        );
        if !message.is_empty() {
            detail.push_str(": ");
            detail.push_str(message);
        }
        self.redactor.redact(&detail)
    }

    /// What a transport failure says: the step's URL as it may be shown,
    /// never the host on its own (a host read from `${VAR}` is a secret).
    fn transport_detail(
        &self,
        probe: &Probe,
        kind: FailureKind,
        e: &reqwest::Error,
        elapsed_ms: u64,
    ) -> String {
        let cause = root_cause(e);
        let url = &probe.shown_url;
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

/// How long an answer holds requests back, and whether the service said
/// (`Retry-After`): a `429` always (`default` when it names no wait), a
/// `503` only with `Retry-After`; anything else does not.
pub fn hold_for(
    code: StatusCode,
    headers: &HeaderMap,
    now: SystemTime,
    default: Duration,
) -> Option<(Duration, bool)> {
    let asked = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after(v, now))
        .map(|d| d.clamp(MIN_RETRY, MAX_RETRY));
    match (code.as_u16(), asked) {
        (429 | 503, Some(wait)) => Some((wait, true)),
        (429, None) => Some((default, false)),
        _ => None,
    }
}

/// A `Retry-After` value: whole seconds, or an HTTP date (a date already
/// past is no wait).
fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    httpdate::parse_http_date(value)
        .ok()
        .map(|at| at.duration_since(now).unwrap_or_default())
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
            deployment: JiraDeployment::Cloud,
            email,
            api_token,
            ..
        } => {
            let email = email.as_ref().ok_or(ClientError::Missing("email"))?;
            let credential = format!("{}:{}", raw(email, "email")?, raw(api_token, "api_token")?);
            (
                reqwest::header::AUTHORIZATION,
                format!("Basic {}", redact::base64(credential.as_bytes())),
                "api_token",
            )
        }
        IntegrationFields::Jira {
            deployment: JiraDeployment::DataCenter,
            api_token,
            ..
        } => (
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", raw(api_token, "api_token")?),
            "api_token",
        ),
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
                deployment: JiraDeployment::Cloud,
                email: Some(Setting::literal("qa@example.com")),
                api_token: secret("jira-tok"),
                project_key: Some(Setting::literal("QA")),
            },
            IntegrationKind::Postman => IntegrationFields::Postman {
                api_key: secret("PMAK-1"),
                workspace_id: Some(Setting::literal("ws 1/x")),
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
            retest_minutes: 60,
            fields,
        }
    }

    #[test]
    fn test_requests_per_kind_urls_auth_and_timeout() {
        let http = http_client(None).expect("client");
        let cases = [
            (
                IntegrationKind::Jira,
                "https://u:p@jira.example.com/prefix/?q=1#f",
                vec![
                    "https://jira.example.com/prefix/rest/api/3/myself",
                    "https://jira.example.com/prefix/rest/api/3/project/QA",
                ],
                "authorization",
                format!("Basic {}", redact::base64(b"qa@example.com:jira-tok")),
            ),
            (
                IntegrationKind::Postman,
                "https://api.getpostman.example",
                vec![
                    "https://api.getpostman.example/me",
                    "https://api.getpostman.example/workspaces/ws%201%2Fx",
                ],
                "x-api-key",
                "PMAK-1".to_string(),
            ),
            (
                IntegrationKind::Testmo,
                "http://127.0.0.1:9/",
                vec!["http://127.0.0.1:9/api/v1/user"],
                "authorization",
                "Bearer tm-tok".to_string(),
            ),
        ];
        for (kind, base, urls, header, value) in cases {
            let c = IntegrationClient::new(&integration(kind, base), &http).expect("builds");
            assert_eq!(c.test_url(), urls[0]);
            let shown: Vec<&str> = c.steps().into_iter().map(|(_, u)| u).collect();
            assert_eq!(shown, urls);
            assert_eq!(c.deadline(), Duration::from_millis(750) * urls.len() as u32);
            for probe in &c.probes {
                assert_eq!(probe.request.url().as_str(), probe.shown_url);
                assert_eq!(probe.request.timeout(), Some(&Duration::from_millis(750)));
                let h = probe.request.headers().get(header).expect("auth header");
                assert_eq!(h.to_str().expect("ascii"), value);
                assert!(h.is_sensitive());
            }
            let debug = format!("{c:?}");
            assert!(!debug.contains("tok") && !debug.contains("PMAK"), "{debug}");
        }
    }

    #[test]
    fn data_center_uses_rest_v2_and_the_token_as_a_bearer() {
        let http = http_client(None).expect("client");
        let mut i = integration(IntegrationKind::Jira, "https://jira.corp.example");
        i.fields = IntegrationFields::Jira {
            deployment: JiraDeployment::DataCenter,
            email: None,
            api_token: Setting::new(Some("pat-1".into()), vec![], true),
            project_key: Some(Setting::literal("QA")),
        };
        let c = IntegrationClient::new(&i, &http).expect("builds");
        let shown: Vec<_> = c.steps();
        assert_eq!(
            shown,
            [
                (
                    TestStep::Authenticate,
                    "https://jira.corp.example/rest/api/2/myself"
                ),
                (
                    TestStep::Project,
                    "https://jira.corp.example/rest/api/2/project/QA"
                ),
            ]
        );
        let h = c.probes[0]
            .request
            .headers()
            .get("authorization")
            .expect("auth");
        assert_eq!(h.to_str().expect("ascii"), "Bearer pat-1");
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
    fn an_id_of_dots_is_refused_rather_than_resolved_away() {
        let http = http_client(None).expect("client");
        for id in [".", ".."] {
            let mut i = integration(IntegrationKind::Testmo, "https://x.example");
            i.fields = IntegrationFields::Testmo {
                api_token: Setting::literal("t"),
                project_id: Some(Setting::literal(id)),
            };
            let e = IntegrationClient::new(&i, &http).expect_err("refused");
            assert_eq!(e, ClientError::Id("project_id"));
        }
    }

    #[test]
    fn a_wait_is_read_from_retry_after_in_seconds_or_as_a_date_within_bounds() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let default = Duration::from_secs(60);
        let with = |value: Option<&str>| {
            let mut headers = HeaderMap::new();
            if let Some(v) = value {
                headers.insert(
                    reqwest::header::RETRY_AFTER,
                    HeaderValue::from_str(v).expect("header"),
                );
            }
            headers
        };
        let s = Duration::from_secs;
        // (status, Retry-After, the wait and whether the service named it).
        type Case<'a> = (u16, Option<&'a str>, Option<(Duration, bool)>);
        let cases: [Case<'_>; 10] = [
            (429, None, Some((s(60), false))),
            (429, Some("120"), Some((s(120), true))),
            (429, Some(" 7 "), Some((s(7), true))),
            (429, Some("0"), Some((s(1), true))),
            (429, Some("99999999"), Some((s(86_400), true))),
            (429, Some("soon"), Some((s(60), false))),
            // 2023-11-14T22:13:20Z is `now`; 90 s later, and a date past.
            (
                503,
                Some("Tue, 14 Nov 2023 22:14:50 GMT"),
                Some((s(90), true)),
            ),
            (
                429,
                Some("Tue, 14 Nov 2023 22:00:00 GMT"),
                Some((s(1), true)),
            ),
            (503, None, None),
            (500, Some("5"), None),
        ];
        for (code, value, expected) in cases {
            let code = StatusCode::from_u16(code).expect("code");
            assert_eq!(
                hold_for(code, &with(value), now, default),
                expected,
                "{code} {value:?}"
            );
        }
    }

    #[test]
    fn user_agent_names_qa_reload_and_its_version() {
        assert_eq!(
            USER_AGENT,
            format!("qa-reload/{}", env!("CARGO_PKG_VERSION"))
        );
    }
}
