//! `/metrics`: the scheduler's counters in Prometheus' text exposition format (version 0.0.4).

use kiln_scheduler::SchedulerStats;
use kiln_types::BuildResult;
use std::fmt::Write as _;

/// Every result, so each `kiln_builds_total` series exists from the start (at 0).
const RESULTS: [BuildResult; 5] = [
    BuildResult::Success,
    BuildResult::Unstable,
    BuildResult::Failure,
    BuildResult::NotBuilt,
    BuildResult::Aborted,
];

/// Renders the metrics page.
pub fn render(stats: &SchedulerStats) -> String {
    let mut out = String::new();
    gauge(
        &mut out,
        "kiln_queue_length",
        "Builds waiting in the queue.",
        stats.queued as f64,
    );
    gauge(
        &mut out,
        "kiln_running_builds",
        "Builds running, including those waiting for input.",
        stats.running as f64,
    );
    gauge(
        &mut out,
        "kiln_waiting_for_input_builds",
        "Builds paused at an input step.",
        stats.waiting_for_input as f64,
    );
    gauge(
        &mut out,
        "kiln_capacity",
        "Builds that may run at once.",
        stats.capacity as f64,
    );
    header(
        &mut out,
        "kiln_builds_total",
        "Builds finished since the server started, by result.",
        "counter",
    );
    for result in RESULTS {
        let n = stats.finished_by_result.get(&result).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "kiln_builds_total{{result=\"{}\"}} {n}",
            result.as_str()
        );
    }
    header(
        &mut out,
        "kiln_build_duration_seconds",
        "Run time of finished builds (queue time excluded).",
        "summary",
    );
    let _ = writeln!(
        out,
        "kiln_build_duration_seconds_sum {}",
        number(stats.duration_seconds_sum)
    );
    let _ = writeln!(
        out,
        "kiln_build_duration_seconds_count {}",
        stats.duration_count
    );
    header(
        &mut out,
        "kiln_queue_wait_seconds",
        "Time finished builds waited in the queue.",
        "summary",
    );
    let _ = writeln!(
        out,
        "kiln_queue_wait_seconds_sum {}",
        number(stats.queue_seconds_sum)
    );
    let _ = writeln!(
        out,
        "kiln_queue_wait_seconds_count {}",
        stats.duration_count
    );
    out
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    header(out, name, help, "gauge");
    let _ = writeln!(out, "{name} {}", number(value));
}

/// Prometheus floats: integers without a fraction, `NaN` and infinities spelled its way.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_present_with_help_and_type() {
        let mut stats = SchedulerStats {
            queued: 3,
            running: 1,
            duration_seconds_sum: 2.5,
            duration_count: 2,
            ..SchedulerStats::default()
        };
        stats.finished_by_result.insert(BuildResult::Success, 2);
        let text = render(&stats);
        for line in [
            "# TYPE kiln_queue_length gauge",
            "kiln_queue_length 3",
            "kiln_running_builds 1",
            "# TYPE kiln_builds_total counter",
            "kiln_builds_total{result=\"SUCCESS\"} 2",
            "kiln_builds_total{result=\"ABORTED\"} 0",
            "# TYPE kiln_build_duration_seconds summary",
            "kiln_build_duration_seconds_sum 2.5",
            "kiln_build_duration_seconds_count 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in\n{text}"
            );
        }
    }
}
