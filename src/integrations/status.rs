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
    /// The service answered the test request with a 2xx status.
    Ok,
    /// The test failed; [`IntegrationStatus::failure`] says how.
    Failed,
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

crate::named!(State, FailureKind);

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
            at: SystemTime::now(),
        }
    }

    /// Whether this status is the end of a test (not `testing`).
    pub fn is_settled(&self) -> bool {
        self.status != State::Testing
    }
}

impl fmt::Display for IntegrationStatus {
    /// One line for logs: `jira r3: failed (http 401, 12 ms): ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} r{}: {}", self.id, self.revision, self.status)?;
        let mut extra = Vec::new();
        if let Some(kind) = self.failure {
            extra.push(match self.http_status {
                Some(code) => format!("{kind} {code}"),
                None => kind.to_string(),
            });
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
        let t = IntegrationStatus::new(IntegrationKind::Testmo, 1, State::Testing);
        assert_eq!(t.to_string(), "testmo r1: testing");
        assert!(!t.is_settled());
    }
}
