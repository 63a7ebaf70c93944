//! Prometheus text exposition (format 0.0.4) for `GET /metrics`, written by
//! hand: a fixed-bucket [`Histogram`] and [`render`] of a [`MetricsView`].
//!
//! Beside the pipeline, not in it: the API fills a plain `MetricsView` from
//! the engine's status and renders it. This module does no I/O, holds no
//! global registry and knows nothing of the engine.

use std::fmt::Write;
use std::time::Duration;

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds, in seconds, of the reload-duration buckets: a reload is
/// expected to take milliseconds, a slow one (a big checkout) a second or two.
pub const RELOAD_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A histogram with fixed upper bounds in seconds (plus the implicit `+Inf`).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: Vec<f64>,
    /// Observations per bucket, not cumulative; the last one is `+Inf`.
    counts: Vec<u64>,
    sum: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new(&RELOAD_BUCKETS)
    }
}

impl Histogram {
    /// A histogram with these upper bounds. They are sorted and deduplicated;
    /// non-finite bounds are dropped (`+Inf` is always there).
    pub fn new(bounds: &[f64]) -> Self {
        let mut bounds: Vec<f64> = bounds.iter().copied().filter(|b| b.is_finite()).collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let counts = vec![0; bounds.len() + 1];
        Self {
            bounds,
            counts,
            sum: 0.0,
        }
    }

    pub fn observe(&mut self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        // `le` is inclusive: an observation equal to a bound falls in it.
        let bucket = self.bounds.partition_point(|&b| b < seconds);
        self.counts[bucket] += 1;
        self.sum += seconds;
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Sum of all observations, in seconds.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// `(upper bound, cumulative count)` per bucket, ending with `+Inf`.
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let bounds = self.bounds.iter().copied().chain([f64::INFINITY]);
        bounds.zip(&self.counts).scan(0, |total, (bound, &n)| {
            *total += n;
            Some((bound, *total))
        })
    }
}

/// Everything `/metrics` shows, as plain values the API copies from the
/// engine's status.
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// `(integration id, last connection test passed)`, in display order.
    pub integrations_up: Vec<(String, bool)>,
}

/// The view in Prometheus text format 0.0.4, every metric with `# HELP` and
/// `# TYPE`, names prefixed `qa_reload_`.
pub fn render(view: &MetricsView) -> String {
    let mut out = String::new();

    header(
        &mut out,
        "qa_reload_reloads_total",
        "counter",
        "Reloads applied, by result (error: at least one file was refused)",
    );
    sample(
        &mut out,
        "qa_reload_reloads_total",
        &[("result", "ok")],
        view.reloads_ok,
    );
    sample(
        &mut out,
        "qa_reload_reloads_total",
        &[("result", "error")],
        view.reloads_failed,
    );

    header(
        &mut out,
        "qa_reload_last_reload_success",
        "gauge",
        "1 if the last reload applied without errors, else 0",
    );
    sample(
        &mut out,
        "qa_reload_last_reload_success",
        &[],
        u8::from(view.last_reload_success),
    );

    header(
        &mut out,
        "qa_reload_last_reload_timestamp_seconds",
        "gauge",
        "Unix time of the last reload",
    );
    sample(
        &mut out,
        "qa_reload_last_reload_timestamp_seconds",
        &[],
        number(view.last_reload_timestamp_seconds),
    );

    let name = "qa_reload_reload_duration_seconds";
    header(
        &mut out,
        name,
        "histogram",
        "Time from a batch of file events to the broadcast of its revision",
    );
    let bucket = format!("{name}_bucket");
    for (bound, count) in view.reload_duration.cumulative() {
        sample(&mut out, &bucket, &[("le", &number(bound))], count);
    }
    sample(
        &mut out,
        &format!("{name}_sum"),
        &[],
        number(view.reload_duration.sum()),
    );
    sample(
        &mut out,
        &format!("{name}_count"),
        &[],
        view.reload_duration.count(),
    );

    header(
        &mut out,
        "qa_reload_noop_batches_total",
        "counter",
        "Batches of file events that changed nothing, so made no revision",
    );
    sample(
        &mut out,
        "qa_reload_noop_batches_total",
        &[],
        view.noop_batches,
    );

    header(
        &mut out,
        "qa_reload_rescans_total",
        "counter",
        "Full rescans of the repository",
    );
    sample(&mut out, "qa_reload_rescans_total", &[], view.rescans);

    header(
        &mut out,
        "qa_reload_websocket_clients",
        "gauge",
        "WebSocket clients connected now",
    );
    sample(
        &mut out,
        "qa_reload_websocket_clients",
        &[],
        view.websocket_clients,
    );

    header(
        &mut out,
        "qa_reload_http_connections",
        "gauge",
        "HTTP connections open now, WebSockets included",
    );
    sample(
        &mut out,
        "qa_reload_http_connections",
        &[],
        view.http_connections,
    );

    header(
        &mut out,
        "qa_reload_http_connections_max",
        "gauge",
        "The cap on open HTTP connections (--max-connections)",
    );
    sample(
        &mut out,
        "qa_reload_http_connections_max",
        &[],
        view.http_connections_max,
    );

    header(
        &mut out,
        "qa_reload_http_connections_refused_total",
        "counter",
        "Connections answered 503 because the cap was met",
    );
    sample(
        &mut out,
        "qa_reload_http_connections_refused_total",
        &[],
        view.http_refused,
    );

    let name = "qa_reload_http_connections_timed_out_total";
    header(
        &mut out,
        name,
        "counter",
        "Connections closed by a deadline: header (request head too slow) or idle (keep-alive unused)",
    );
    sample(
        &mut out,
        name,
        &[("reason", "header")],
        view.http_header_timeouts,
    );
    sample(
        &mut out,
        name,
        &[("reason", "idle")],
        view.http_idle_timeouts,
    );

    header(
        &mut out,
        "qa_reload_history_events",
        "gauge",
        "Events kept for clients to resume from",
    );
    sample(
        &mut out,
        "qa_reload_history_events",
        &[],
        view.history_events,
    );

    header(
        &mut out,
        "qa_reload_history_bytes",
        "gauge",
        "Bytes the resume history holds, roughly (bounded by history_bytes)",
    );
    sample(&mut out, "qa_reload_history_bytes", &[], view.history_bytes);

    header(
        &mut out,
        "qa_reload_integration_up",
        "gauge",
        "1 if the integration's last connection test passed, else 0",
    );
    for (id, up) in &view.integrations_up {
        sample(
            &mut out,
            "qa_reload_integration_up",
            &[("integration", id)],
            u8::from(*up),
        );
    }

    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{}\"", escape_label_value(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// A float as the format spells it: `+Inf`, `-Inf`, `NaN`, else Rust's
/// shortest round-trip form (`0.0025`, `1`, `2.5`).
fn number(value: f64) -> String {
    if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else if value.is_nan() {
        "NaN".to_owned()
    } else {
        value.to_string()
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `# HELP` text escapes backslash and line feed (quotes stay as they are).
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn renders_a_known_view_exactly() {
        let mut reload_duration = Histogram::default();
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
# HELP qa_reload_reloads_total Reloads applied, by result (error: at least one file was refused)
# TYPE qa_reload_reloads_total counter
qa_reload_reloads_total{result=\"ok\"} 12
qa_reload_reloads_total{result=\"error\"} 2
# HELP qa_reload_last_reload_success 1 if the last reload applied without errors, else 0
# TYPE qa_reload_last_reload_success gauge
qa_reload_last_reload_success 1
# HELP qa_reload_last_reload_timestamp_seconds Unix time of the last reload
# TYPE qa_reload_last_reload_timestamp_seconds gauge
qa_reload_last_reload_timestamp_seconds 1700000000.5
# HELP qa_reload_reload_duration_seconds Time from a batch of file events to the broadcast of its revision
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
# HELP qa_reload_noop_batches_total Batches of file events that changed nothing, so made no revision
# TYPE qa_reload_noop_batches_total counter
qa_reload_noop_batches_total 7
# HELP qa_reload_rescans_total Full rescans of the repository
# TYPE qa_reload_rescans_total counter
qa_reload_rescans_total 1
# HELP qa_reload_websocket_clients WebSocket clients connected now
# TYPE qa_reload_websocket_clients gauge
qa_reload_websocket_clients 3
# HELP qa_reload_http_connections HTTP connections open now, WebSockets included
# TYPE qa_reload_http_connections gauge
qa_reload_http_connections 4
# HELP qa_reload_http_connections_max The cap on open HTTP connections (--max-connections)
# TYPE qa_reload_http_connections_max gauge
qa_reload_http_connections_max 512
# HELP qa_reload_http_connections_refused_total Connections answered 503 because the cap was met
# TYPE qa_reload_http_connections_refused_total counter
qa_reload_http_connections_refused_total 9
# HELP qa_reload_http_connections_timed_out_total Connections closed by a deadline: header (request head too slow) or idle (keep-alive unused)
# TYPE qa_reload_http_connections_timed_out_total counter
qa_reload_http_connections_timed_out_total{reason=\"header\"} 2
qa_reload_http_connections_timed_out_total{reason=\"idle\"} 5
# HELP qa_reload_history_events Events kept for clients to resume from
# TYPE qa_reload_history_events gauge
qa_reload_history_events 6
# HELP qa_reload_history_bytes Bytes the resume history holds, roughly (bounded by history_bytes)
# TYPE qa_reload_history_bytes gauge
qa_reload_history_bytes 70000
# HELP qa_reload_integration_up 1 if the integration's last connection test passed, else 0
# TYPE qa_reload_integration_up gauge
qa_reload_integration_up{integration=\"jira\"} 1
qa_reload_integration_up{integration=\"postman\"} 0
";
        assert_eq!(render(&view), expected);
    }

    #[test]
    fn an_empty_view_still_declares_every_metric() {
        let text = render(&MetricsView::default());
        assert!(
            text.ends_with("# TYPE qa_reload_integration_up gauge\n"),
            "{text}"
        );
        assert_eq!(text.matches("# HELP ").count(), 14);
        assert_eq!(text.matches("# TYPE ").count(), 14);
        assert!(text.contains("qa_reload_reload_duration_seconds_bucket{le=\"+Inf\"} 0\n"));
        assert!(text.contains("qa_reload_reload_duration_seconds_sum 0\n"));
        assert!(text.contains("qa_reload_last_reload_success 0\n"));
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
    fn help_text_escapes_backslash_and_newline_but_not_quotes() {
        assert_eq!(escape_help("a\\b\n\"c\""), "a\\\\b\\n\"c\"");
    }

    #[test]
    fn an_observation_on_a_bound_falls_in_that_bucket() {
        let mut h = Histogram::new(&[0.01, 0.1]);
        h.observe(ms(10));
        h.observe(ms(100));
        h.observe(ms(101));
        let buckets: Vec<_> = h.cumulative().collect();
        assert_eq!(buckets, [(0.01, 1), (0.1, 2), (f64::INFINITY, 3)]);
        assert_eq!(h.count(), 3);
        assert!((h.sum() - 0.211).abs() < 1e-12);
    }

    #[test]
    fn bounds_are_sorted_deduplicated_and_finite() {
        let h = Histogram::new(&[1.0, f64::NAN, 0.5, 1.0, f64::INFINITY]);
        let bounds: Vec<f64> = h.cumulative().map(|(b, _)| b).collect();
        assert_eq!(bounds, [0.5, 1.0, f64::INFINITY]);
    }

    #[test]
    fn special_floats_are_spelled_as_the_format_wants() {
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(0.0025), "0.0025");
        assert_eq!(number(1.0), "1");
    }
}
