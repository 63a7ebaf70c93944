//! Stage `integrations`: test results shared between replicas of
//! `serve --follow` on one PostgreSQL database. Turns a status into the
//! row `store::replica` keeps and back, and names the configuration a
//! result is about (its fingerprint), so a replica shows a result only for
//! the configuration it serves.
//!
//! Plain conversions: no I/O (the supervisor calls the store), no JSON.

use std::time::SystemTime;

use crate::engine::Served;
use crate::integrations::status::{FailureKind, IntegrationStatus, State, TestStep};
use crate::model::{Integration, IntegrationKind};
use crate::store::replica::SharedResult;
use crate::store::sha256_hex;

/// The states a test ends in: the only ones shared (`disabled`, a
/// configuration that makes no client and `removed` every replica works
/// out alone, without a request).
const SHARED_STATES: [State; 3] = [State::Ok, State::Failed, State::RateLimited];

const FAILURES: [FailureKind; 7] = [
    FailureKind::Dns,
    FailureKind::Connect,
    FailureKind::Tls,
    FailureKind::Timeout,
    FailureKind::Http,
    FailureKind::Config,
    FailureKind::Other,
];

const STEPS: [TestStep; 3] = [
    TestStep::Authenticate,
    TestStep::Project,
    TestStep::Workspace,
];

/// SHA-256 (hex) of the configuration file's path and text, the same in
/// every replica that serves that version. (The text as in the
/// repository: values read from the environment are not in it, so
/// replicas are expected to run with the same environment.)
pub(super) fn fingerprint(served: &Served<Integration>) -> String {
    let mut input = String::with_capacity(served.file.len() + served.text.len() + 1);
    input.push_str(&served.file);
    input.push('\0');
    input.push_str(&served.text);
    sha256_hex(input.as_bytes())
}

/// The row for `status`, a result of testing the configuration with
/// `fingerprint` while `commit` was served, tested by server run `by`.
/// `None` for a status that is not the end of a test.
pub(super) fn to_shared(
    status: &IntegrationStatus,
    fingerprint: String,
    commit: Option<String>,
    by: &str,
) -> Option<SharedResult> {
    if !SHARED_STATES.contains(&status.status) {
        return None;
    }
    Some(SharedResult {
        integration: status.id.as_str().to_string(),
        fingerprint,
        commit,
        state: status.status.as_str().to_string(),
        step: status.step.map(|s| s.as_str().to_string()),
        failure: status.failure.map(|f| f.as_str().to_string()),
        http_status: status.http_status,
        latency_ms: status.latency_ms,
        detail: status.detail.clone(),
        retry_at: status.retry_at,
        tested_at: status.tested_at,
        at: status.at,
        tested_by: by.to_string(),
    })
}

/// The status a stored row shows, as the configuration applied by
/// `revision` (revisions are each server run's own); `None` when the row
/// is not one this version can read (written by a newer one, or altered).
pub(super) fn from_shared(
    row: &SharedResult,
    kind: IntegrationKind,
    revision: u64,
) -> Option<IntegrationStatus> {
    if row.integration != kind.as_str() {
        return None;
    }
    let state = named(&SHARED_STATES, &row.state, |s| s.as_str())?;
    let failure = match &row.failure {
        Some(f) => Some(named(&FAILURES, f, |k| k.as_str())?),
        None => None,
    };
    let step = match &row.step {
        Some(s) => Some(named(&STEPS, s, |k| k.as_str())?),
        None => None,
    };
    Some(IntegrationStatus {
        id: kind,
        revision,
        status: state,
        latency_ms: row.latency_ms,
        detail: row.detail.clone(),
        http_status: row.http_status,
        failure,
        step,
        retry_at: row.retry_at,
        tested_at: row.tested_at,
        at: row.at.min(SystemTime::now()),
    })
}

fn named<T: Copy>(all: &[T], text: &str, name: impl Fn(T) -> &'static str) -> Option<T> {
    all.iter().copied().find(|v| name(*v) == text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_result_reads_back_as_the_status_it_was_and_other_states_are_not_shared() {
        let mut s = IntegrationStatus::new(IntegrationKind::Jira, 4, State::Failed);
        s.failure = Some(FailureKind::Http);
        s.step = Some(TestStep::Project);
        s.http_status = Some(404);
        s.latency_ms = Some(12);
        s.detail = Some("HTTP 404: no project QA".into());
        s.tested_at = Some(SystemTime::now());
        let row = to_shared(&s, "f".repeat(64), Some("abc".into()), "run-1").unwrap();
        assert_eq!(row.state, "failed");
        let back = from_shared(&row, IntegrationKind::Jira, 9).unwrap();
        assert_eq!(back.revision, 9, "the reader's own revision");
        assert_eq!(
            IntegrationStatus {
                revision: 4,
                ..back
            },
            s
        );
        assert!(from_shared(&row, IntegrationKind::Testmo, 9).is_none());
        for state in [State::Testing, State::Disabled, State::Removed] {
            let s = IntegrationStatus::new(IntegrationKind::Jira, 1, state);
            assert!(to_shared(&s, String::new(), None, "x").is_none(), "{state}");
        }
        let mut odd = row.clone();
        odd.failure = Some("gremlins".into());
        assert!(from_shared(&odd, IntegrationKind::Jira, 1).is_none());
    }
}
