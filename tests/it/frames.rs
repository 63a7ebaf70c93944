//! The wire format of docs/protocol.md, pinned: one frame of each type, built from
//! a real engine on a temp git repo, serialised and compared with a
//! reviewed snapshot (insta). A renamed or dropped field fails here.
//! Volatile values are redacted: times, durations, commit ids, the server
//! instance, and the per-process fingerprint after each secret mask.

use std::time::SystemTime;

use qa_reload::api::wire::{
    EventWire, Frame, HelloWire, IntegrationStatusWire, PROTOCOL, SnapshotWire, Statuses,
};
use qa_reload::integrations::{FailureKind, IntegrationStatus, State, TestStep};
use qa_reload::model::IntegrationKind;
use qa_reload::secret::MASK;

use crate::served::{self, Fed};

/// The frame as a client sees it, with each mask's fingerprint replaced by
/// `[fp]` (fingerprints are salted per process).
fn wire(frame: &Frame) -> serde_json::Value {
    let text = serde_json::to_string(frame).unwrap();
    served::assert_no_secret(&text);
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find(MASK) {
        let after = &rest[i + MASK.len()..];
        let hex = after
            .char_indices()
            .take_while(|(_, c)| c.is_ascii_hexdigit())
            .last()
            .map_or(0, |(j, c)| j + c.len_utf8());
        out.push_str(&rest[..i]);
        out.push_str(MASK);
        out.push_str("[fp]");
        rest = &after[hex..];
    }
    out.push_str(rest);
    serde_json::from_str(&out).unwrap()
}

fn jira_failed(revision: u64) -> IntegrationStatus {
    let mut s = IntegrationStatus::new(IntegrationKind::Jira, revision, State::Failed);
    s.failure = Some(FailureKind::Http);
    s.http_status = Some(401);
    s.latency_ms = Some(12);
    s.detail = Some("HTTP 401 Unauthorized; check `email` and `api_token`".to_owned());
    s.step = Some(TestStep::Authenticate);
    s.tested_at = Some(SystemTime::UNIX_EPOCH);
    s.at = SystemTime::UNIX_EPOCH;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_frame_keeps_the_field_names_of_the_contract() {
    let mut fed = Fed::start(served::repo(256), 1024).await;
    let hello = Frame::Hello(HelloWire {
        revision: fed.engine.snapshot().revision,
        protocol: PROTOCOL,
        instance: fed.engine.instance().to_owned(),
        commit: None,
    });
    insta::assert_json_snapshot!("hello", wire(&hello), { ".instance" => "[instance]" });

    let event = fed
        .change(&[
            ("workflows/smoke.yaml", &served::workflow("Smoke", 12)),
            (
                "config/jira_config.yaml",
                &served::jira_config("lit3ral-secret-B"),
            ),
        ])
        .await;
    insta::assert_json_snapshot!("reload", wire(&Frame::Reload(EventWire::from(&event))), {
        ".at" => "[at]",
        ".timings.detect_ms" => "[ms]",
        ".timings.apply_ms" => "[ms]",
        ".cause.head.commit" => "[commit]",
    });

    let statuses = [jira_failed(event.revision)];
    let snapshot = Frame::Snapshot(SnapshotWire::new(
        &fed.engine.snapshot(),
        Statuses(&statuses),
    ));
    insta::assert_json_snapshot!("snapshot", wire(&snapshot), {
        ".at" => "[at]",
        ".head.commit" => "[commit]",
    });

    let status = Frame::IntegrationStatus(IntegrationStatusWire::from(&statuses[0]));
    insta::assert_json_snapshot!("integration_status", wire(&status));
    fed.shutdown.cancel();
}
