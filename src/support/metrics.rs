//! The server's counters, for `GET /metrics`: relaxed atomics in one
//! process-wide [`METRICS`], so counting costs one uncontended atomic add
//! and no lock on any path; and the Prometheus text format (0.0.4) they are
//! written in ([`Exposition`]).
//!
//! Counters only ever grow and are process-wide, like a Prometheus client
//! library's default registry (`chat-server` runs one server per process).
//! What is a level rather than a count (connections open, users, backlog
//! bytes) is read from the server's own state when scraped, not kept here.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A count that only grows.
pub struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters told apart by one label with a fixed set of values.
pub struct CounterVec<const N: usize> {
    label: &'static str,
    values: [&'static str; N],
    counts: [Counter; N],
}

impl<const N: usize> CounterVec<N> {
    const fn new(label: &'static str, values: [&'static str; N]) -> CounterVec<N> {
        CounterVec {
            label,
            values,
            counts: [const { Counter::new() }; N],
        }
    }

    /// Counts one for `value`; a value not in the set is a bug, counted
    /// nowhere rather than panicking.
    pub fn inc(&self, value: &str) {
        if let Some(i) = self.values.iter().position(|v| *v == value) {
            self.counts[i].inc();
        }
    }

    pub fn get(&self, value: &str) -> u64 {
        self.values
            .iter()
            .position(|v| *v == value)
            .map_or(0, |i| self.counts[i].get())
    }
}

/// Upper bounds of the fsync latency histogram, in seconds.
const FSYNC_BOUNDS: [f64; 10] = [
    0.000_1, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5,
];

/// A latency histogram with fixed buckets.
pub struct Histogram<const N: usize> {
    bounds: [f64; N],
    /// Observations per bucket (not cumulative), and over the last bound.
    buckets: [Counter; N],
    over: Counter,
    count: Counter,
    sum_nanos: Counter,
}

impl<const N: usize> Histogram<N> {
    const fn new(bounds: [f64; N]) -> Histogram<N> {
        Histogram {
            bounds,
            buckets: [const { Counter::new() }; N],
            over: Counter::new(),
            count: Counter::new(),
            sum_nanos: Counter::new(),
        }
    }

    pub fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        match self.bounds.iter().position(|bound| secs <= *bound) {
            Some(i) => self.buckets[i].inc(),
            None => self.over.inc(),
        }
        self.count.inc();
        self.sum_nanos
            .add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
    }
}

/// Everything the server counts.
pub struct Metrics {
    /// Connections accepted, by front.
    pub accepted: CounterVec<2>,
    /// `MSG` and `DM` lines accepted.
    pub messages: Counter,
    /// Lines (or blocks of lines, such as a `WHO` answer) queued to clients.
    pub deliveries: Counter,
    /// Bytes written to client sockets.
    pub bytes_out: Counter,
    /// Connections refused, by reason.
    pub refusals: CounterVec<6>,
    /// Connections ended, by cause.
    pub departures: CounterVec<9>,
    /// Clients dropped because all backlogs together passed `--max-output`.
    pub output_shed: Counter,
    /// Records appended to the history log.
    pub history_appends: Counter,
    /// How long each fsync of the history log took.
    pub history_fsync: Histogram<10>,
}

pub static METRICS: Metrics = Metrics {
    accepted: CounterVec::new("front", ["lines", "web"]),
    messages: Counter::new(),
    deliveries: Counter::new(),
    bytes_out: Counter::new(),
    refusals: CounterVec::new(
        "reason",
        [
            "server-full",
            "too-many-connections",
            "connecting-too-fast",
            "untrusted-proxy",
            "bad-proxy-header",
            "no-thread",
        ],
    ),
    departures: CounterVec::new(
        "reason",
        [
            "quit",
            "closed",
            "idle-timeout",
            "login-timeout",
            "flooding",
            "server-shutdown",
            "too-slow",
            "websocket-violation",
            "error",
        ],
    ),
    output_shed: Counter::new(),
    history_appends: Counter::new(),
    history_fsync: Histogram::new(FSYNC_BOUNDS),
};

impl Metrics {
    /// Writes every counter; the history's only if `history` (it is on disk).
    pub fn write(&self, out: &mut Exposition, history: bool) {
        out.counter_vec(
            "chat_connections_accepted_total",
            "Connections accepted, by front.",
            &self.accepted,
        );
        out.counter_vec(
            "chat_connections_refused_total",
            "Connections refused, by reason.",
            &self.refusals,
        );
        out.counter_vec(
            "chat_disconnects_total",
            "Connections ended, by cause.",
            &self.departures,
        );
        out.counter(
            "chat_messages_total",
            "MSG and DM lines accepted.",
            &self.messages,
        );
        out.counter(
            "chat_deliveries_total",
            "Lines (or blocks of lines, such as a WHO answer) queued to clients.",
            &self.deliveries,
        );
        out.counter(
            "chat_sent_bytes_total",
            "Bytes written to client sockets.",
            &self.bytes_out,
        );
        out.counter(
            "chat_output_budget_drops_total",
            "Clients dropped because all backlogs together passed --max-output.",
            &self.output_shed,
        );
        if history {
            out.counter(
                "chat_history_appends_total",
                "Records appended to the history log.",
                &self.history_appends,
            );
            out.histogram(
                "chat_history_fsync_seconds",
                "How long each fsync of the history log took.",
                &self.history_fsync,
            );
        }
    }
}

/// A page in the Prometheus text exposition format, version 0.0.4: for each
/// metric a `# HELP` and a `# TYPE` line, then its samples, every line
/// ending in `\n`.
#[derive(Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// The `Content-Type` of the page.
    pub const CONTENT_TYPE: &'static str = "text/plain; version=0.0.4; charset=utf-8";

    pub fn into_string(self) -> String {
        self.text
    }

    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// A gauge without labels.
    pub fn gauge(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "gauge", help);
        let _ = writeln!(self.text, "{name} {value}");
    }

    /// A gauge with one label, a sample per value.
    pub fn gauge_by(&mut self, name: &str, help: &str, label: &str, samples: &[(&str, u64)]) {
        self.family(name, "gauge", help);
        for (value, sample) in samples {
            let _ = writeln!(self.text, "{name}{{{label}=\"{value}\"}} {sample}");
        }
    }

    fn counter(&mut self, name: &str, help: &str, counter: &Counter) {
        self.family(name, "counter", help);
        let _ = writeln!(self.text, "{name} {}", counter.get());
    }

    fn counter_vec<const N: usize>(&mut self, name: &str, help: &str, counters: &CounterVec<N>) {
        self.family(name, "counter", help);
        for (value, count) in counters.values.iter().zip(&counters.counts) {
            let _ = writeln!(
                self.text,
                "{name}{{{}=\"{value}\"}} {}",
                counters.label,
                count.get()
            );
        }
    }

    fn histogram<const N: usize>(&mut self, name: &str, help: &str, histogram: &Histogram<N>) {
        self.family(name, "histogram", help);
        let mut cumulative = 0;
        for (bound, bucket) in histogram.bounds.iter().zip(&histogram.buckets) {
            cumulative += bucket.get();
            let _ = writeln!(self.text, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += histogram.over.get();
        let _ = writeln!(self.text, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = histogram.sum_nanos.get() as f64 / 1e9;
        let _ = writeln!(self.text, "{name}_sum {sum}");
        // The count as the +Inf bucket says, so the two always agree.
        let _ = writeln!(self.text, "{name}_count {cumulative}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_help_and_type_for_each_and_ends_in_a_newline() {
        let histogram = Histogram::new([0.001, 0.01]);
        histogram.observe(Duration::from_micros(500));
        histogram.observe(Duration::from_millis(5));
        histogram.observe(Duration::from_secs(1));
        let refusals = CounterVec::new("reason", ["a", "b"]);
        refusals.inc("b");
        refusals.inc("b");
        refusals.inc("not-a-reason");
        let mut page = Exposition::default();
        page.gauge("x_open", "Open things.", 3);
        page.counter_vec("x_refused_total", "Refused.", &refusals);
        page.histogram("x_seconds", "Latency.", &histogram);
        let text = page.into_string();
        assert_eq!(
            text,
            "# HELP x_open Open things.\n# TYPE x_open gauge\nx_open 3\n\
             # HELP x_refused_total Refused.\n# TYPE x_refused_total counter\n\
             x_refused_total{reason=\"a\"} 0\nx_refused_total{reason=\"b\"} 2\n\
             # HELP x_seconds Latency.\n# TYPE x_seconds histogram\n\
             x_seconds_bucket{le=\"0.001\"} 1\nx_seconds_bucket{le=\"0.01\"} 2\n\
             x_seconds_bucket{le=\"+Inf\"} 3\nx_seconds_sum 1.0055\nx_seconds_count 3\n"
        );
        assert_eq!(refusals.get("b"), 2);
    }
}
