//! Prometheus text exposition (format 0.0.4) for `GET /metrics`, written by
//! the Prometheus project's own client (`prometheus-client`): the
//! reload-duration [`Histogram`] and [`render`] of a [`MetricsView`].
//!
//! Beside the pipeline, not in it: the API fills a plain `MetricsView` from
//! the engine's status and renders it. This module does no I/O, holds no
//! global registry (each render builds its own from the view) and knows
//! nothing of the engine.
//!
//! The crate's Prometheus 0.0.4 encoder is used rather than its OpenMetrics
//! one: same names and labels either way, but 0.0.4 keeps the
//! `Content-Type` scrapers and tests already rely on (`text/plain`), where
//! OpenMetrics would change it and end the body with `# EOF`.

use std::time::Duration;

use prometheus_client::encoding::prometheus_text::encode;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`render`]'s output.
pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds, in seconds, of the reload-duration buckets: a reload is
/// expected to take milliseconds, a slow one (a big checkout) a second or two.
pub const RELOAD_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Reload durations in [`RELOAD_BUCKETS`] (plus `+Inf`; a bound is
/// inclusive). Clones share the counts: the engine observes into it and
/// `/metrics` renders a clone.
#[derive(Debug, Clone)]
pub struct Histogram(histogram::Histogram);

impl Default for Histogram {
    fn default() -> Self {
        Histogram(histogram::Histogram::new(RELOAD_BUCKETS))
    }
}

impl Histogram {
    pub fn observe(&self, duration: Duration) {
        self.0.observe(duration.as_secs_f64());
    }
}

/// Everything `/metrics` shows, as plain values the API copies from the
/// engine's status.
#[derive(Debug, Clone, Default)]
pub struct MetricsView {
    /// Reloads that applied without errors.
    pub reloads_ok: u64,
    /// Reloads that reported at least one error.
    pub reloads_failed: u64,
    pub last_reload_success: bool,
    /// Unix time of the last reload, in seconds.
    pub last_reload_timestamp_seconds: f64,
    /// Time from batch to broadcast of each reload.
    pub reload_duration: Histogram,
    /// Batches that changed nothing on disk, so made no revision.
    pub noop_batches: u64,
    /// Full rescans (startup, manual, watcher overflow or error).
    pub rescans: u64,
    /// WebSocket clients connected now.
    pub websocket_clients: u64,
    /// HTTP connections open now (WebSockets included) and the cap.
    pub http_connections: u64,
    pub http_connections_max: u64,
    /// Connections answered `503` because the cap was met.
    pub http_refused: u64,
    /// Connections closed for sending their request head too slowly.
    pub http_header_timeouts: u64,
    /// Keep-alive connections closed for being idle too long.
    pub http_idle_timeouts: u64,
    /// Events in the resume history and the bytes they hold.
    pub history_events: u64,
    pub history_bytes: u64,
    /// `(integration id, last connection test passed)`.
    pub integrations_up: Vec<(String, bool)>,
}

/// One label, as the families below are keyed.
type Label = [(&'static str, String); 1];

/// A counter family with one label, from `(label value, count)` pairs.
fn counters(label: &'static str, values: &[(&str, u64)]) -> Family<Label, Counter> {
    let family = Family::<Label, Counter>::default();
    for (value, n) in values {
        family
            .get_or_create(&[(label, (*value).to_owned())])
            .inc_by(*n);
    }
    family
}

/// The view in Prometheus text format 0.0.4, every metric with `# HELP` and
/// `# TYPE`, names prefixed `qa_reload_`. A family with no sample yet
/// (`integration_up` before any integration) is left out. The order of the
/// samples within a family is not fixed.
pub fn render(view: &MetricsView) -> String {
    let mut registry = Registry::with_prefix("qa_reload");
    registry.register(
        "reloads",
        "Reloads applied, by result (error: at least one file was refused)",
        counters(
            "result",
            &[("ok", view.reloads_ok), ("error", view.reloads_failed)],
        ),
    );
    registry.register(
        "last_reload_success",
        "1 if the last reload applied without errors, else 0",
        ConstGauge::new(u64::from(view.last_reload_success)),
    );
    registry.register(
        "last_reload_timestamp_seconds",
        "Unix time of the last reload",
        ConstGauge::new(view.last_reload_timestamp_seconds),
    );
    registry.register(
        "reload_duration_seconds",
        "Time from a batch of file events to the broadcast of its revision",
        view.reload_duration.0.clone(),
    );
    registry.register(
        "noop_batches",
        "Batches of file events that changed nothing, so made no revision",
        ConstCounter::new(view.noop_batches),
    );
    registry.register(
        "rescans",
        "Full rescans of the repository",
        ConstCounter::new(view.rescans),
    );
    registry.register(
        "websocket_clients",
        "WebSocket clients connected now",
        ConstGauge::new(view.websocket_clients),
    );
    registry.register(
        "http_connections",
        "HTTP connections open now, WebSockets included",
        ConstGauge::new(view.http_connections),
    );
    registry.register(
        "http_connections_max",
        "The cap on open HTTP connections (--max-connections)",
        ConstGauge::new(view.http_connections_max),
    );
    registry.register(
        "http_connections_refused",
        "Connections answered 503 because the cap was met",
        ConstCounter::new(view.http_refused),
    );
    registry.register(
        "http_connections_timed_out",
        "Connections closed by a deadline: header (request head too slow) or idle (keep-alive unused)",
        counters(
            "reason",
            &[
                ("header", view.http_header_timeouts),
                ("idle", view.http_idle_timeouts),
            ],
        ),
    );
    registry.register(
        "history_events",
        "Events kept for clients to resume from",
        ConstGauge::new(view.history_events),
    );
    registry.register(
        "history_bytes",
        "Bytes the resume history holds, roughly (bounded by history_bytes)",
        ConstGauge::new(view.history_bytes),
    );
    let up = Family::<Label, Gauge>::default();
    for (id, passed) in &view.integrations_up {
        up.get_or_create(&[("integration", id.clone())])
            .set(i64::from(*passed));
    }
    registry.register(
        "integration_up",
        "1 if the integration's last connection test passed, else 0",
        up,
    );
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The lines of `text`, sorted: samples within a family come in no fixed
    /// order.
    fn sorted_lines(text: &str) -> Vec<&str> {
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort_unstable();
        lines
    }

    #[test]
    fn renders_a_known_view_exactly() {
        let reload_duration = Histogram::default();
        // 1 ms lies on a bound: `le` is inclusive.
        for d in [ms(1), ms(3), ms(3), ms(40), ms(3000)] {
            reload_duration.observe(d);
        }
        let view = MetricsView {
            reloads_ok: 12,
            reloads_failed: 2,
            last_reload_success: true,
            last_reload_timestamp_seconds: 1_700_000_000.5,
            reload_duration,
            noop_batches: 7,
            rescans: 1,
            websocket_clients: 3,
            http_connections: 4,
            http_connections_max: 512,
            http_refused: 9,
            http_header_timeouts: 2,
            http_idle_timeouts: 5,
            history_events: 6,
            history_bytes: 70_000,
            integrations_up: vec![("jira".to_owned(), true), ("postman".to_owned(), false)],
        };
        let expected = "\
# HELP qa_reload_reloads_total Reloads applied, by result (error: at least one file was refused).
# TYPE qa_reload_reloads_total counter
qa_reload_reloads_total{result=\"ok\"} 12
qa_reload_reloads_total{result=\"error\"} 2
# HELP qa_reload_last_reload_success 1 if the last reload applied without errors, else 0.
# TYPE qa_reload_last_reload_success gauge
qa_reload_last_reload_success 1
# HELP qa_reload_last_reload_timestamp_seconds Unix time of the last reload.
# TYPE qa_reload_last_reload_timestamp_seconds gauge
qa_reload_last_reload_timestamp_seconds 1700000000.5
# HELP qa_reload_reload_duration_seconds Time from a batch of file events to the broadcast of its revision.
# TYPE qa_reload_reload_duration_seconds histogram
qa_reload_reload_duration_seconds_bucket{le=\"0.001\"} 1
qa_reload_reload_duration_seconds_bucket{le=\"0.0025\"} 1
qa_reload_reload_duration_seconds_bucket{le=\"0.005\"} 3
qa_reload_reload_duration_seconds_bucket{le=\"0.01\"} 3
qa_reload_reload_duration_seconds_bucket{le=\"0.025\"} 3
qa_reload_reload_duration_seconds_bucket{le=\"0.05\"} 4
qa_reload_reload_duration_seconds_bucket{le=\"0.1\"} 4
qa_reload_reload_duration_seconds_bucket{le=\"0.25\"} 4
qa_reload_reload_duration_seconds_bucket{le=\"0.5\"} 4
qa_reload_reload_duration_seconds_bucket{le=\"1\"} 4
qa_reload_reload_duration_seconds_bucket{le=\"2.5\"} 4
qa_reload_reload_duration_seconds_bucket{le=\"+Inf\"} 5
qa_reload_reload_duration_seconds_sum 3.047
qa_reload_reload_duration_seconds_count 5
# HELP qa_reload_noop_batches_total Batches of file events that changed nothing, so made no revision.
# TYPE qa_reload_noop_batches_total counter
qa_reload_noop_batches_total 7
# HELP qa_reload_rescans_total Full rescans of the repository.
# TYPE qa_reload_rescans_total counter
qa_reload_rescans_total 1
# HELP qa_reload_websocket_clients WebSocket clients connected now.
# TYPE qa_reload_websocket_clients gauge
qa_reload_websocket_clients 3
# HELP qa_reload_http_connections HTTP connections open now, WebSockets included.
# TYPE qa_reload_http_connections gauge
qa_reload_http_connections 4
# HELP qa_reload_http_connections_max The cap on open HTTP connections (--max-connections).
# TYPE qa_reload_http_connections_max gauge
qa_reload_http_connections_max 512
# HELP qa_reload_http_connections_refused_total Connections answered 503 because the cap was met.
# TYPE qa_reload_http_connections_refused_total counter
qa_reload_http_connections_refused_total 9
# HELP qa_reload_http_connections_timed_out_total Connections closed by a deadline: header (request head too slow) or idle (keep-alive unused).
# TYPE qa_reload_http_connections_timed_out_total counter
qa_reload_http_connections_timed_out_total{reason=\"header\"} 2
qa_reload_http_connections_timed_out_total{reason=\"idle\"} 5
# HELP qa_reload_history_events Events kept for clients to resume from.
# TYPE qa_reload_history_events gauge
qa_reload_history_events 6
# HELP qa_reload_history_bytes Bytes the resume history holds, roughly (bounded by history_bytes).
# TYPE qa_reload_history_bytes gauge
qa_reload_history_bytes 70000
# HELP qa_reload_integration_up 1 if the integration's last connection test passed, else 0.
# TYPE qa_reload_integration_up gauge
qa_reload_integration_up{integration=\"jira\"} 1
qa_reload_integration_up{integration=\"postman\"} 0
";
        let text = render(&view);
        assert_eq!(sorted_lines(&text), sorted_lines(expected), "{text}");
        // Families stay in the order above, each under its own header.
        let headers: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        let expected_headers: Vec<&str> = expected
            .lines()
            .filter(|l| l.starts_with("# TYPE"))
            .collect();
        assert_eq!(headers, expected_headers);
    }

    #[test]
    fn an_empty_view_declares_every_metric_that_has_a_sample() {
        let text = render(&MetricsView::default());
        assert_eq!(text.matches("# HELP ").count(), 13, "{text}");
        assert_eq!(text.matches("# TYPE ").count(), 13, "{text}");
        assert!(!text.contains("integration_up"), "{text}");
        assert!(text.contains("qa_reload_reload_duration_seconds_bucket{le=\"+Inf\"} 0\n"));
        assert!(text.contains("qa_reload_reload_duration_seconds_sum 0.0\n"));
        assert!(text.contains("qa_reload_last_reload_success 0\n"));
        assert!(text.contains("qa_reload_reloads_total{result=\"error\"} 0\n"));
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        let view = MetricsView {
            integrations_up: vec![("a\\b\"c\nd".to_owned(), true)],
            ..MetricsView::default()
        };
        let text = render(&view);
        assert!(
            text.contains("qa_reload_integration_up{integration=\"a\\\\b\\\"c\\nd\"} 1\n"),
            "{text}"
        );
        // Every sample stays on one line.
        assert!(
            text.lines()
                .all(|l| l.starts_with('#') || l.starts_with("qa_reload_"))
        );
    }

    #[test]
    fn the_content_type_is_prometheus_text() {
        assert_eq!(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    }
}
