//! Stage `integrations`: what a connection test tells the world, as domain
//! types ([`IntegrationStatus`], [`State`], [`FailureKind`]).
//!
//! Plain data, no I/O and no JSON: `api/` turns a status into the
//! `integration_status` frame. Every string in here has already been through
//! the redactor, so printing a status can never show a secret.

use std::fmt;

use serde::Serialize;
use std::time::SystemTime;

use crate::model::IntegrationKind;

/// Where an integration's connection test stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ConnectionState)]
pub enum State {
    /// A test of this configuration is running.
    Testing,
    /// Every step of the test was answered with a 2xx status.
    Ok,
    /// The test failed; [`IntegrationStatus::failure`] says how and
    /// [`IntegrationStatus::step`] at which step.
    Failed,
    /// The service answered `429` (or `503` with `Retry-After`): no request
    /// is sent before [`IntegrationStatus::retry_at`], when the test runs
    /// again by itself.
    RateLimited,
    /// `enabled: false`: nothing is tested.
    Disabled,
    /// The configuration file was deleted. Published once; the integration
    /// then leaves [`super::Integrations::statuses`].
    Removed,
}

/// Why a connection test failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The host name did not resolve.
    Dns,
    /// No TCP connection (refused, unreachable, reset while connecting).
    Connect,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// No complete answer within `timeout_ms`.
    Timeout,
    /// The service answered with a status other than 2xx.
    Http,
    /// The configuration cannot be turned into a request (for example a
    /// token that is not a valid header value), or the HTTP client could not
    /// be built.
    Config,
    /// Any other transport error (a connection closed mid-answer, a broken
    /// response).
    Other,
}

/// One step of a connection test, in the order they run. Each integration
/// authenticates first, then checks what its file names (when it names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TestStep {
    /// The credentials: Jira `myself`, Postman `me`, Testmo `user`.
    Authenticate,
    /// Jira's `project_key` or Testmo's `project_id`.
    Project,
    /// Postman's `workspace_id`.
    Workspace,
}

crate::named!(State, FailureKind, TestStep);

/// One integration's connection status, as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationStatus {
    pub id: IntegrationKind,
    /// The revision that applied the configuration this status is about
    /// (for `removed`, the revision that removed it).
    pub revision: u64,
    pub status: State,
    /// Time to the response headers (ok), or until the failure (failed).
    pub latency_ms: Option<u64>,
    /// What a person reads: why it failed, with a short excerpt of the
    /// answer. Secrets masked.
    pub detail: Option<String>,
    /// The HTTP status the service answered with, when it answered.
    pub http_status: Option<u16>,
    pub failure: Option<FailureKind>,
    /// The step that failed or was rate limited; `None` when every step
    /// passed or none could run.
    pub step: Option<TestStep>,
    /// While `rate_limited`: the time before which nothing is sent.
    pub retry_at: Option<SystemTime>,
    /// When the last test that reached the service ended (this one, or an
    /// earlier one when this status was reached without a request).
    pub tested_at: Option<SystemTime>,
    /// When this status was reached.
    pub at: SystemTime,
}

impl IntegrationStatus {
    /// A status with only the state set.
    pub fn new(id: IntegrationKind, revision: u64, status: State) -> Self {
        IntegrationStatus {
            id,
            revision,
            status,
            latency_ms: None,
            detail: None,
            http_status: None,
            failure: None,
            step: None,
            retry_at: None,
            tested_at: None,
            at: SystemTime::now(),
        }
    }

    /// Whether this status is the end of a test (not `testing`).
    pub fn is_settled(&self) -> bool {
        self.status != State::Testing
    }
}

impl fmt::Display for IntegrationStatus {
    /// One line for logs: `jira r3: failed at project (http 404, 12 ms): ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} r{}: {}", self.id, self.revision, self.status)?;
        if let Some(step) = self.step {
            write!(f, " at {step}")?;
        }
        let mut extra = Vec::new();
        match (self.failure, self.http_status) {
            (Some(kind), Some(code)) => extra.push(format!("{kind} {code}")),
            (Some(kind), None) => extra.push(kind.to_string()),
            (None, Some(code)) if self.status == State::RateLimited => {
                extra.push(format!("http {code}"));
            }
            _ => {}
        }
        if let Some(ms) = self.latency_ms {
            extra.push(format!("{ms} ms"));
        }
        if !extra.is_empty() {
            write!(f, " ({})", extra.join(", "))?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_state_failure_status_latency_and_detail() {
        let mut s = IntegrationStatus::new(IntegrationKind::Jira, 3, State::Failed);
        s.failure = Some(FailureKind::Http);
        s.http_status = Some(401);
        s.latency_ms = Some(12);
        s.detail = Some("HTTP 401 Unauthorized".into());
        assert_eq!(
            s.to_string(),
            "jira r3: failed (http 401, 12 ms): HTTP 401 Unauthorized"
        );
        s.step = Some(TestStep::Project);
        s.http_status = Some(404);
        s.detail = None;
        assert_eq!(
            s.to_string(),
            "jira r3: failed at project (http 404, 12 ms)"
        );
        s.status = State::RateLimited;
        s.failure = None;
        s.http_status = Some(429);
        assert_eq!(
            s.to_string(),
            "jira r3: rate_limited at project (http 429, 12 ms)"
        );
        let t = IntegrationStatus::new(IntegrationKind::Testmo, 1, State::Testing);
        assert_eq!(t.to_string(), "testmo r1: testing");
        assert!(!t.is_settled());
    }
}
