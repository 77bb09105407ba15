//! Several servers in one sitting: ours, then every `--peer` (speaking IRC),
//! round after round (A, B, C, A, B, C, …), so that all of them share the same
//! minutes of a noisy machine; one column per server shows the median of its
//! rounds and their range, and the ratios (ours against the best peer)
//! are worked out from the medians.

use std::fmt::Write as _;
use std::thread;
use std::time::Duration;

use crate::dialect::Dialect;
use crate::options::{Options, Target};
use crate::report::Report;
use crate::workloads;

/// One server's runs.
pub struct Column {
    pub name: String,
    pub reports: Vec<Report>,
}

/// Between two runs: an attached server needs a moment to see the last run's
/// clients go before the next run logs in with the same names.
const BETWEEN_RUNS: Duration = Duration::from_secs(2);

/// Runs the workload `options.rounds` times against ours and each peer in
/// turn; `each` sees every report as it comes.
pub fn run(options: &Options, mut each: impl FnMut(&Report)) -> Result<Vec<Column>, String> {
    let mut runs = vec![("ours".to_string(), options.clone())];
    for peer in &options.peers {
        let target = Target::Attach {
            addr: peer.addr,
            pid: peer.pid,
        };
        let dialect = Dialect::Irc;
        runs.push((
            peer.name.clone(),
            Options {
                target,
                dialect,
                ..options.clone()
            },
        ));
    }
    let mut columns: Vec<Column> = runs
        .iter()
        .map(|(name, _)| Column {
            name: name.clone(),
            reports: Vec::new(),
        })
        .collect();
    for round in 0..options.rounds {
        for (column, (name, options)) in columns.iter_mut().zip(&runs) {
            if round > 0 || !column.name.eq("ours") {
                thread::sleep(BETWEEN_RUNS);
            }
            let mut report = workloads::run(options).map_err(|e| format!("{name}: {e}"))?;
            report.server = name.clone();
            each(&report);
            column.reports.push(report);
        }
    }
    Ok(columns)
}

/// A figure's median over the runs that have it, and its range.
fn spread(reports: &[Report], figure: impl Fn(&Report) -> Option<f64>) -> Option<(f64, f64, f64)> {
    let mut values: Vec<f64> = reports.iter().filter_map(figure).collect();
    values.sort_by(f64::total_cmp);
    let median = match values.len() {
        0 => return None,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    };
    Some((median, values[0], values[values.len() - 1]))
}

fn deliveries_m(r: &Report) -> Option<f64> {
    Some(r.deliveries_per_sec() / 1e6)
}

fn p99_ms(r: &Report) -> Option<f64> {
    r.latency.map(|l| l.p99 as f64 / 1000.0)
}

/// The table: one row per figure, one column per server.
pub fn table(columns: &[Column]) -> String {
    type Figure = fn(&Report) -> Option<f64>;
    let figures: [(&str, Figure, usize); 9] = [
        ("deliveries/s (M)", deliveries_m, 3),
        (
            "latency p50 ms",
            |r| r.latency.map(|l| l.p50 as f64 / 1000.0),
            2,
        ),
        ("latency p99 ms", p99_ms, 2),
        ("time s", |r| Some(r.seconds), 2),
        ("server CPU s/M deliv.", |r| r.cpu_per_million().0, 3),
        ("bench CPU s/M deliv.", |r| r.cpu_per_million().1, 3),
        ("RSS per client KiB", Report::rss_kib_per_client, 1),
        ("server CPU s", |r| r.server_cpu, 2),
        ("stalled dropped at s", |r| r.stalled_dropped_after, 2),
    ];
    let mut out = String::new();
    let first = columns.first().and_then(|c| c.reports.first());
    if let Some(r) = first {
        let rounds = columns.iter().map(|c| c.reports.len()).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "  {} with {} clients, {rounds} round(s) each, medians (range)",
            r.workload, r.clients
        );
    }
    let _ = write!(out, "  {:<22}", "");
    for column in columns {
        let _ = write!(out, " {:<24}", column.name);
    }
    out.push('\n');
    for (label, figure, decimals) in figures {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match spread(&c.reports, figure) {
                None => "-".into(),
                Some((m, lo, hi)) if c.reports.len() > 1 => {
                    format!("{m:.decimals$} ({lo:.decimals$}-{hi:.decimals$})")
                }
                Some((m, ..)) => format!("{m:.decimals$}"),
            })
            .collect();
        if cells.iter().all(|c| c == "-") {
            continue;
        }
        let _ = write!(out, "  {label:<22}");
        for cell in cells {
            let _ = write!(out, " {cell:<24}");
        }
        out.push('\n');
    }
    let _ = write!(out, "  {:<22}", "complete, nothing lost");
    for column in columns {
        let clean = column
            .reports
            .iter()
            .filter(|r| r.complete && r.lost == 0 && r.duplicates == 0 && r.same_order)
            .count();
        let _ = write!(
            out,
            " {:<24}",
            format!("{clean} of {}", column.reports.len())
        );
    }
    out.push('\n');
    if let Some(load) = spread(
        &columns
            .iter()
            .flat_map(|c| c.reports.clone())
            .collect::<Vec<_>>(),
        |r| r.load_average,
    ) {
        let _ = writeln!(
            out,
            "  {:<22} {:.2} ({:.2}-{:.2}) at the runs' start",
            "load average", load.0, load.1, load.2
        );
    }
    out += &ratios(columns);
    out
}

/// Ours against the best peer, where the issue sets a ratio.
fn ratios(columns: &[Column]) -> String {
    let Some((ours, peers)) = columns.split_first() else {
        return String::new();
    };
    let median = |c: &Column, f: fn(&Report) -> Option<f64>| spread(&c.reports, f).map(|s| s.0);
    let best = |f: fn(&Report) -> Option<f64>, better: fn(f64, f64) -> f64| {
        peers.iter().filter_map(|p| median(p, f)).reduce(better)
    };
    let workload = ours.reports.first().map_or("", |r| r.workload);
    let mut out = String::new();
    let mut verdict = |what: &str, ratio: f64, met: bool| {
        let verdict = if met { "met" } else { "MISSED" };
        let _ = writeln!(out, "  {:<22} {ratio:.2}x {what}: {verdict}", "target");
    };
    let fastest = || Some((median(ours, deliveries_m)?, best(deliveries_m, f64::max)?));
    match workload {
        "fanout" => {
            if let Some((ours, best)) = fastest() {
                verdict(
                    "the fastest peer's deliveries/s (>= 2x)",
                    ours / best,
                    ours >= 2.0 * best,
                );
            }
        }
        // The issue sets no ratio for rooms: the ratio alone.
        "rooms" => {
            if let Some((ours, best)) = fastest() {
                let _ = writeln!(
                    out,
                    "  {:<22} {:.2}x the fastest peer's deliveries/s",
                    "ratio",
                    ours / best
                );
            }
        }
        "latency" => {
            if let (Some(ours), Some(best)) = (median(ours, p99_ms), best(p99_ms, f64::min)) {
                verdict(
                    "the best peer's p99 (<= 0.5x)",
                    ours / best,
                    ours <= 0.5 * best,
                );
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::Percentiles;

    fn fanout(name: &str, per_sec: &[f64]) -> Column {
        Column {
            name: name.into(),
            reports: per_sec
                .iter()
                .map(|&m| Report {
                    workload: "fanout",
                    clients: 100,
                    complete: true,
                    same_order: true,
                    seconds: 1.0,
                    deliveries: (m * 1e6) as u64,
                    server_cpu: Some(0.5),
                    latency: Some(Percentiles {
                        p50: 1000,
                        p99: 2000,
                        p999: 3000,
                        max: 4000,
                    }),
                    ..Report::default()
                })
                .collect(),
        }
    }

    #[test]
    fn medians_ranges_and_the_ratio_to_the_best_peer() {
        let columns = [
            fanout("ours", &[6.0, 8.0, 7.0]),
            fanout("ngircd", &[3.0, 4.0, 3.5]),
            fanout("inspircd", &[0.4, 0.5, 0.6]),
        ];
        let text = table(&columns);
        assert!(text.contains("7.000 (6.000-8.000)"), "{text}");
        assert!(text.contains("3.500 (3.000-4.000)"), "{text}");
        assert!(text.contains("3 of 3"), "{text}");
        assert!(
            text.contains("2.00x the fastest peer's deliveries/s (>= 2x): met"),
            "{text}"
        );
        let slower = [fanout("ours", &[6.0]), fanout("ngircd", &[3.5])];
        assert!(table(&slower).contains("1.71x the fastest peer's deliveries/s (>= 2x): MISSED"));
    }
}
