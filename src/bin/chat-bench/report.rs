//! What a run measured, whether it met its target, and how that is printed: a
//! table for people or one line of JSON for scripts.

use std::fmt::Write as _;

use chat::support::json;

use crate::histogram::Percentiles;

/// What a run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub workload: &'static str,
    /// Which server this was (`ours`, or a peer's name).
    pub server: String,
    pub clients: usize,
    /// Servers that served them (more than one: the nodes of a cluster; the
    /// memory, thread and CPU figures are then theirs and their Redis's,
    /// summed).
    pub nodes: usize,
    /// Clients the server refused (`BYE …` instead of `OK`).
    pub refused: usize,
    /// Reading clients the server dropped after letting them in (`BYE …`
    /// after `OK`); the stalled client of `slow` is not one of them.
    pub dropped: u64,
    /// Whether every client got in and everything expected arrived before
    /// the time ran out.
    pub complete: bool,
    /// `connect`: until everybody settled; otherwise from the first message
    /// sent until the last one arrived (or the time ran out).
    pub seconds: f64,
    /// Message lines sent (all senders together).
    pub sent: u64,
    /// Lines received: `MSG`s, or for `connect` the join notices.
    pub deliveries: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Whether every receiver saw the messages in one and the same order.
    pub same_order: bool,
    pub latency: Option<Percentiles>,
    /// Server memory (VmRSS, KiB) before any client connected, its peak during
    /// the run (VmHWM), and at the end with every client still connected.
    pub rss_kb_start: Option<u64>,
    pub rss_kb_peak: Option<u64>,
    pub rss_kb_end: Option<u64>,
    /// VmRSS once a second while messages were being sent.
    pub rss_kb_timeline: Vec<u64>,
    /// Server threads at the end, every client still connected.
    pub threads: Option<u64>,
    /// CPU time (user + system, all threads) the server and this generator
    /// used over `seconds`: who the two shared cores went to.
    pub server_cpu: Option<f64>,
    pub bench_cpu: Option<f64>,
    /// `slow` only: whether the stalled client was dropped, and when (seconds
    /// after the first message).
    pub stalled_dropped: Option<bool>,
    pub stalled_dropped_after: Option<f64>,
    /// Why the run could not do all it meant to, if it could not.
    pub problem: Option<String>,
    /// The machine's one-minute load average when the run began: other work
    /// competing for the cores makes every figure worse.
    pub load_average: Option<f64>,
}

impl Report {
    pub fn deliveries_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.deliveries as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// CPU seconds the server and this generator used per million deliveries.
    pub fn cpu_per_million(&self) -> (Option<f64>, Option<f64>) {
        let per = |cpu: Option<f64>| {
            cpu.filter(|_| self.deliveries > 0)
                .map(|cpu| cpu * 1e6 / self.deliveries as f64)
        };
        (per(self.server_cpu), per(self.bench_cpu))
    }

    /// RSS growth per connected client from start to end, in KiB.
    pub fn rss_kib_per_client(&self) -> Option<f64> {
        let (start, end) = (self.rss_kb_start?, self.rss_kb_end?);
        let served = self.clients.saturating_sub(self.refused).max(1);
        Some(end.saturating_sub(start) as f64 / served as f64)
    }

    /// Whether memory stayed flat while messages flowed: the second half of
    /// the timeline never rises more than 10% + 1 MiB above the first half's
    /// peak. `None` with fewer than four samples.
    pub fn rss_flat(&self) -> Option<bool> {
        let samples = &self.rss_kb_timeline;
        if samples.len() < 4 {
            return None;
        }
        let (first, second) = samples.split_at(samples.len() / 2);
        let (first, second) = (first.iter().max()?, second.iter().max()?);
        Some(*second <= first + first / 10 + 1024)
    }

    /// The performance target for this workload (as specified by
    /// [`Options::defaults`](crate::options::Options::defaults)), and whether this run met it.
    pub fn target(&self) -> (&'static str, bool) {
        let p99_within = |ms: u64| self.latency.is_some_and(|l| l.p99 <= ms * 1000);
        let nothing_lost = self.complete && self.lost == 0 && self.duplicates == 0;
        match self.workload {
            "fanout" => (
                ">= 3 M deliveries/s, nothing lost, one order",
                nothing_lost && self.same_order && self.deliveries_per_sec() >= 3e6,
            ),
            "latency" => ("p99 <= 10 ms, nothing lost", nothing_lost && p99_within(10)),
            "cluster" => (
                "p99 <= 15 ms over 3 nodes, nothing lost, one order",
                nothing_lost && self.same_order && p99_within(15),
            ),
            "slow" => (
                "stalled client dropped; others lose nothing, p99 <= 25 ms; RSS flat",
                nothing_lost
                    && self.stalled_dropped == Some(true)
                    && p99_within(25)
                    && self.rss_flat() != Some(false),
            ),
            "rooms" => (
                "nothing lost, one order per room",
                nothing_lost && self.same_order,
            ),
            _ => (
                "all settled within 15 s, <= 16 KiB RSS per client",
                self.complete
                    && self.refused == 0
                    && self.seconds <= 15.0
                    && self.rss_kib_per_client().is_some_and(|kib| kib <= 16.0),
            ),
        }
    }

    /// The `target` row for the table: the target and whether it was met.
    pub fn target_row(&self) -> String {
        let (target, met) = self.target();
        let verdict = if met { "met" } else { "MISSED" };
        format!("  {:<20} {target}: {verdict}\n", "target")
    }

    /// A human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(out, "  {k:<20} {v}");
        };
        let mib = |kb: u64| format!("{:.1}", kb as f64 / 1024.0);
        row("workload", self.workload.to_string());
        if !self.server.is_empty() {
            row("server", self.server.clone());
        }
        row(
            "clients",
            format!("{} ({} refused)", self.clients, self.refused),
        );
        if self.nodes > 1 {
            row("nodes", format!("{} and their redis-server", self.nodes));
        }
        row("complete", yes_no(self.complete).into());
        if let Some(problem) = &self.problem {
            row("problem", problem.clone());
        }
        row("time", format!("{:.2} s", self.seconds));
        if self.sent > 0 {
            row("sent", self.sent.to_string());
        }
        row("deliveries", self.deliveries.to_string());
        row(
            "deliveries/s",
            format!("{:.3} M", self.deliveries_per_sec() / 1e6),
        );
        row("lost", self.lost.to_string());
        row("dropped", self.dropped.to_string());
        row("duplicates", self.duplicates.to_string());
        row("same order", yes_no(self.same_order).into());
        if let Some(l) = self.latency {
            let ms = |us: u64| format!("{:.2}", us as f64 / 1000.0);
            row(
                "latency ms",
                format!(
                    "p50 {}  p99 {}  p99.9 {}  max {}",
                    ms(l.p50),
                    ms(l.p99),
                    ms(l.p999),
                    ms(l.max)
                ),
            );
        }
        if let (Some(s), Some(p), Some(e)) = (self.rss_kb_start, self.rss_kb_peak, self.rss_kb_end)
        {
            row(
                "server RSS MiB",
                format!("start {}  peak {}  end {}", mib(s), mib(p), mib(e)),
            );
        }
        if !self.rss_kb_timeline.is_empty() {
            let timeline: Vec<String> = self.rss_kb_timeline.iter().map(|&kb| mib(kb)).collect();
            let flat = self
                .rss_flat()
                .map_or("", |f| if f { "  (flat)" } else { "  (GROWING)" });
            row(
                "RSS MiB per second",
                format!("{}{flat}", timeline.join(" ")),
            );
        }
        if let Some(per) = self.rss_kib_per_client() {
            row("RSS per client", format!("{per:.1} KiB"));
        }
        if let Some(t) = self.threads {
            row("server threads", t.to_string());
        }
        if let (Some(server), Some(bench)) = (self.server_cpu, self.bench_cpu) {
            row(
                "CPU seconds",
                format!(
                    "server {server:.2}  bench {bench:.2}  (over {:.2} s)",
                    self.seconds
                ),
            );
        }
        if let (Some(server), Some(bench)) = self.cpu_per_million() {
            row(
                "CPU s per M deliv.",
                format!("server {server:.3}  bench {bench:.3}"),
            );
        }
        if let Some(load) = self.load_average {
            row("load average", format!("{load:.2} (at start)"));
        }
        if let Some(dropped) = self.stalled_dropped {
            let after = self
                .stalled_dropped_after
                .map_or(String::new(), |s| format!(" after {s:.2} s"));
            row("stalled dropped", format!("{}{after}", yes_no(dropped)));
        }
        out
    }

    /// One line of JSON.
    pub fn json(&self) -> String {
        let opt = |v: Option<u64>| v.map_or("null".to_string(), |v| v.to_string());
        let latency = self.latency.map_or("null".to_string(), |l| {
            format!(
                "{{\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{}}}",
                l.p50, l.p99, l.p999, l.max
            )
        });
        let timeline: Vec<String> = self.rss_kb_timeline.iter().map(u64::to_string).collect();
        format!(
            "{{\"workload\":\"{}\",\"clients\":{},\"nodes\":{},\"refused\":{},\"complete\":{},\"seconds\":{:.3},\
             \"sent\":{},\"deliveries\":{},\"deliveries_per_sec\":{:.0},\"lost\":{},\
             \"dropped\":{},\"duplicates\":{},\"same_order\":{},\"latency\":{},\"rss_kb_start\":{},\
             \"rss_kb_peak\":{},\"rss_kb_end\":{},\"rss_kb_timeline\":[{}],\"rss_flat\":{},\
             \"rss_kib_per_client\":{},\"threads\":{},\"server_cpu_s\":{},\"bench_cpu_s\":{},\
             \"stalled_dropped\":{},\
             \"stalled_dropped_after\":{},\"problem\":{},\"load_average\":{},\
             \"server\":{},\"server_cpu_s_per_m\":{},\"bench_cpu_s_per_m\":{}}}",
            self.workload,
            self.clients,
            self.nodes,
            self.refused,
            self.complete,
            self.seconds,
            self.sent,
            self.deliveries,
            self.deliveries_per_sec(),
            self.lost,
            self.dropped,
            self.duplicates,
            self.same_order,
            latency,
            opt(self.rss_kb_start),
            opt(self.rss_kb_peak),
            opt(self.rss_kb_end),
            timeline.join(","),
            self.rss_flat().map_or("null".to_string(), |f| f.to_string()),
            self.rss_kib_per_client()
                .map_or("null".to_string(), |k| format!("{k:.1}")),
            opt(self.threads),
            seconds(self.server_cpu),
            seconds(self.bench_cpu),
            self.stalled_dropped
                .map_or("null".to_string(), |d| d.to_string()),
            seconds(self.stalled_dropped_after),
            self.problem.as_deref().map_or("null".to_string(), json::string_literal),
            self.load_average
                .map_or("null".to_string(), |l| format!("{l:.2}")),
            json::string_literal(&self.server),
            seconds(self.cpu_per_million().0),
            seconds(self.cpu_per_million().1),
        )
    }
}

/// Seconds with millisecond precision, or `null`.
fn seconds(value: Option<f64>) -> String {
    value.map_or("null".to_string(), |s| format!("{s:.3}"))
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::{Options, Target, Workload};
    use std::time::Duration;

    #[test]
    fn rss_flat_or_growing() {
        let report = |timeline: &[u64]| Report {
            rss_kb_timeline: timeline.to_vec(),
            ..Report::default()
        };
        assert_eq!(report(&[1, 2, 3]).rss_flat(), None);
        assert_eq!(
            report(&[10_000, 12_000, 11_500, 11_900]).rss_flat(),
            Some(true)
        );
        assert_eq!(
            report(&[10_000, 20_000, 30_000, 40_000]).rss_flat(),
            Some(false)
        );
    }

    #[test]
    fn targets_apply_to_the_standard_workloads_and_say_whether_they_were_met() {
        let standard = Options::defaults(Workload::Latency);
        assert!(standard.is_standard());
        let elsewhere = Options {
            target: Target::Attach {
                addr: "127.0.0.1:4000".parse().unwrap(),
                pid: None,
            },
            timeout: Duration::from_secs(5),
            json: true,
            ..standard.clone()
        };
        assert!(elsewhere.is_standard());
        let smaller = Options {
            clients: 10,
            ..standard
        };
        assert!(!smaller.is_standard());

        let latency = |p99_ms: u64, lost: u64| Report {
            workload: "latency",
            complete: true,
            lost,
            latency: Some(Percentiles {
                p50: 1,
                p99: p99_ms * 1000,
                p999: p99_ms * 1000,
                max: p99_ms * 1000,
            }),
            ..Report::default()
        };
        assert!(latency(10, 0).target().1);
        assert!(!latency(11, 0).target().1);
        let cluster = |p99_ms: u64, same_order: bool| Report {
            workload: "cluster",
            same_order,
            ..latency(p99_ms, 0)
        };
        assert!(cluster(15, true).target().1);
        assert!(!cluster(16, true).target().1);
        assert!(!cluster(5, false).target().1);
        assert!(Options::defaults(Workload::Cluster).is_standard());
        assert_eq!(Options::defaults(Workload::Cluster).nodes, 3);
        assert!(!latency(5, 1).target().1);
        assert!(latency(11, 0)
            .target_row()
            .ends_with("p99 <= 10 ms, nothing lost: MISSED\n"));
        let connect = |seconds: f64, kib_per_client: u64| Report {
            workload: "connect",
            clients: 100,
            complete: true,
            seconds,
            rss_kb_start: Some(0),
            rss_kb_end: Some(100 * kib_per_client),
            ..Report::default()
        };
        assert!(connect(14.0, 16).target().1);
        assert!(!connect(16.0, 16).target().1);
        assert!(!connect(14.0, 17).target().1);
    }

    #[test]
    fn json_is_one_line() {
        let report = Report {
            workload: "slow",
            clients: 4,
            latency: Some(Percentiles {
                p50: 1,
                p99: 2,
                p999: 3,
                max: 4,
            }),
            rss_kb_start: Some(1000),
            rss_kb_end: Some(1400),
            rss_kb_timeline: vec![1, 2],
            stalled_dropped: Some(true),
            stalled_dropped_after: Some(1.5),
            ..Report::default()
        };
        let json = report.json();
        assert!(!json.contains('\n'));
        assert!(json.starts_with("{\"workload\":\"slow\",\"clients\":4,\"nodes\":0,"));
        assert!(json.contains("\"latency\":{\"p50_us\":1,\"p99_us\":2,\"p999_us\":3,\"max_us\":4}"));
        assert!(json.contains("\"rss_kb_timeline\":[1,2],\"rss_flat\":null,"));
        assert!(json.contains("\"rss_kib_per_client\":100.0,"));
        assert!(json
            .contains("\"stalled_dropped_after\":1.500,\"problem\":null,\"load_average\":null,"));
        assert!(json
            .ends_with("\"server\":\"\",\"server_cpu_s_per_m\":null,\"bench_cpu_s_per_m\":null}"));
        assert_eq!(json.matches('{').count(), json.matches('}').count());
        let table = report.table();
        assert!(
            table.contains("stalled dropped      yes after 1.50 s"),
            "{table}"
        );
    }
}
