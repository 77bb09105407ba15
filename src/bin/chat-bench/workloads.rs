//! One run of a workload, phase by phase: start the server and the readers,
//! log everybody in, send, wait for the deliveries, and account for them.

use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use chat::support::procfs;

use crate::dialect::Dialect;
use crate::options::{Options, Workload};
use crate::plan::Plan;
use crate::readers::{ReaderResult, Readers, Totals};
use crate::report::Report;
use crate::senders::{self, Sent};
use crate::server_process::{Deployment, RssSampler, STARTUP_PATIENCE};

/// Waits until `done()` or the deadline; returns whether it was done.
fn wait_until(deadline: Instant, done: impl Fn() -> bool) -> bool {
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
}

/// After the last message, how long receivers get to catch up.
const GRACE: Duration = Duration::from_secs(10);

/// Runs one workload and reports what it measured.
pub fn run(options: &Options) -> Result<Report, String> {
    let deadline = Instant::now() + options.timeout;
    let load_average = procfs::load_average();
    let server = Deployment::start(&options.target, options.clients, options.nodes)?;
    let plan = Arc::new(options.plan());
    let run = Run {
        options,
        deadline,
        server,
        epoch: Instant::now(),
        totals: Arc::new(Totals::default()),
        plan: Arc::clone(&plan),
    };
    let mut readers = Readers::start(&plan, run.epoch, &run.totals)?;
    let mut report = Report {
        workload: options.workload.name(),
        clients: options.clients,
        nodes: run.server.nodes(),
        rss_kb_start: run.server.status("VmRSS"),
        load_average,
        ..Report::default()
    };
    let stalled = match options.workload {
        // and never read again
        Workload::Slow => Some(senders::stalled_client(run.server.addr(0), plan.dialect)?),
        _ => None,
    };

    // Log everybody in; the `connect` workload measures exactly this.
    let started = Instant::now();
    let cpu_at_login = CpuTimes::now(&run.server);
    let mut logins = run.log_everybody_in(&mut readers)?;
    report.problem = logins.problem.take();
    let settled = report.problem.is_none() && run.settled(logins.connected);

    // Memory over time only means something while messages flow steadily.
    let sampler = match options.paced() {
        true => run
            .server
            .pids()
            .map(|pids| RssSampler::start(pids, deadline)),
        false => None,
    };
    let start = Instant::now();
    let cpu_at_start = match options.workload {
        Workload::Connect => cpu_at_login,
        _ => CpuTimes::now(&run.server),
    };
    let sent = if options.workload == Workload::Connect || !settled {
        Sent {
            per_stream: vec![0; plan.streams.len()],
            problem: None,
        }
    } else if options.paced() {
        senders::pace(&logins.writers, &plan, options, run.epoch, deadline)
    } else {
        senders::blast(
            logins.writers,
            &plan,
            options,
            &run.totals,
            run.epoch,
            deadline,
        )
    };
    if report.problem.is_none() {
        report.problem = sent.problem;
    }
    report.sent = sent.per_stream.iter().sum();
    let expected = plan.expected_deliveries(&sent.per_stream);
    run.wait_for_deliveries(expected, stalled.is_some());
    report.seconds = match options.workload {
        Workload::Connect => started.elapsed().as_secs_f64(),
        _ => start.elapsed().as_secs_f64(),
    };
    if !settled && report.problem.is_none() {
        report.problem = Some("not every login settled before the timeout".into());
    }
    report.complete = report.problem.is_none()
        && run.totals.refused.load(Ordering::Relaxed) == 0
        && run.totals.msgs.load(Ordering::Relaxed) >= expected;
    let cpu_at_end = CpuTimes::now(&run.server);
    let used = |at_start: Option<f64>, now: Option<f64>| Some(now? - at_start?);
    report.server_cpu = used(cpu_at_start.server, cpu_at_end.server);
    report.bench_cpu = used(cpu_at_start.bench, cpu_at_end.bench);
    report.rss_kb_timeline = sampler.map(RssSampler::finish).unwrap_or_default();

    let received = readers.finish();
    report.refused = run.totals.refused.load(Ordering::Relaxed) as usize;
    report.dropped = run.totals.dropped.load(Ordering::Relaxed);
    report.rss_kb_end = run.server.status("VmRSS");
    report.rss_kb_peak = run.server.status("VmHWM");
    report.threads = run.server.status("Threads");
    run.count_deliveries(&mut report, &received, logins.connected, &sent.per_stream);
    if stalled.is_some() {
        run.time_the_stalled_departure(&mut report, start);
    }
    // Stop the server before the clients go, so it does not spend the end of
    // the run announcing thousands of departures.
    drop(run.server);
    Ok(report)
}

/// What every phase of one run needs.
struct Run<'o> {
    options: &'o Options,
    /// The whole run stops by itself at this point, finished or not.
    deadline: Instant,
    server: Deployment,
    /// What every timestamp counts from: in payloads, and so in latencies.
    epoch: Instant,
    totals: Arc<Totals>,
    /// Who is where, and who sends what.
    plan: Arc<Plan>,
}

/// The clients connected so far, each with its `LOGIN` sent.
struct Logins {
    connected: u64,
    /// Clones of the sending clients' sockets, to send from, in
    /// [`Plan::senders`] order.
    writers: Vec<TcpStream>,
    /// Why not every client could connect, if not.
    problem: Option<String>,
}

/// CPU seconds used so far by the server (when its process is known) and by
/// this generator.
struct CpuTimes {
    server: Option<f64>,
    bench: Option<f64>,
}

impl CpuTimes {
    fn now(server: &Deployment) -> CpuTimes {
        CpuTimes {
            server: server.cpu_seconds(),
            bench: procfs::cpu_seconds(std::process::id()),
        }
    }
}

impl Run<'_> {
    /// Connects every client and sends its login, handing each socket to the
    /// readers, with at most `--login-window` logins unanswered at a time.
    fn log_everybody_in(&self, readers: &mut Readers) -> Result<Logins, String> {
        let mut writers = Vec::new();
        let mut sending = self.plan.senders().into_iter().map(|(c, _)| c).peekable();
        let mut connected = 0u64;
        let mut problem = None;
        while connected < self.options.clients as u64 {
            let waited = wait_until(self.deadline, || {
                self.totals.answered() + self.options.login_window >= connected
            });
            let left = self.deadline.saturating_duration_since(Instant::now());
            if !waited || left.is_zero() {
                problem = Some(format!("out of time after {connected} connections"));
                break;
            }
            let index = connected as usize;
            let login = self.plan.login(index);
            let stream =
                match senders::connect(self.server.addr(index), &login, left.min(STARTUP_PATIENCE))
                {
                    Ok(stream) => stream,
                    Err(e) => {
                        problem = Some(format!("{e} (after {connected} connections)"));
                        break;
                    }
                };
            if sending.next_if_eq(&index).is_some() {
                writers.push(stream.try_clone().map_err(|e| e.to_string())?);
            }
            readers.add(stream, index);
            connected += 1;
        }
        Ok(Logins {
            connected,
            writers,
            problem,
        })
    }

    /// Waits until every login was answered (every client in all its rooms)
    /// and every join notice in the lobby arrived; false if the time ran out
    /// first.
    fn settled(&self, connected: u64) -> bool {
        let totals = &self.totals;
        // IRC announces logins only to the channel joined, and in `rooms` no
        // IRC client is in the lobby.
        let announced = self.plan.dialect == Dialect::Chat || self.plan.lobby;
        wait_until(self.deadline, || {
            let oks = totals.oks.load(Ordering::Relaxed);
            totals.answered() == connected
                && (!announced
                    || totals.joins.load(Ordering::Relaxed) == oks * oks.saturating_sub(1) / 2)
        })
    }

    /// Gives the receivers until the end of the grace period to get all
    /// `expected` messages, and to hear of the stalled client's departure too,
    /// if there is one.
    fn wait_for_deliveries(&self, expected: u64, stalled: bool) {
        let grace = match self.options.paced() {
            false => self.deadline,
            true => (Instant::now() + GRACE).min(self.deadline),
        };
        let totals = &self.totals;
        wait_until(grace, || {
            totals.msgs.load(Ordering::Relaxed) >= expected
                && (!stalled
                    || totals.stalled_leaves.load(Ordering::Relaxed) >= self.options.clients as u64)
        });
    }

    /// Deliveries, losses, duplicates, order and latency, from what every
    /// reading client received given what each stream sent.
    fn count_deliveries(
        &self,
        report: &mut Report,
        received: &ReaderResult,
        connected: u64,
        sent_per_stream: &[u64],
    ) {
        let got = || received.clients.iter().map(|c| &c.got);
        if self.options.workload == Workload::Connect {
            report.deliveries = self.totals.joins.load(Ordering::Relaxed);
            report.same_order = true;
            return;
        }
        report.deliveries = got().map(|g| g.msgs).sum();
        report.duplicates = got().map(|g| g.duplicates).sum();
        report.lost = got().map(|g| g.lost_given(sent_per_stream)).sum();
        // Clients that never made it to a reader lost everything.
        let mut read = vec![false; self.plan.clients()];
        for g in got() {
            read[g.client()] = true;
        }
        for (c, _) in read
            .iter()
            .enumerate()
            .take(connected as usize)
            .filter(|(_, r)| !**r)
        {
            let due = (0..sent_per_stream.len()).filter(|&s| self.plan.expects(c, s));
            report.lost += due.map(|s| sent_per_stream[s]).sum::<u64>();
        }
        // One order per room: every member that got a room's messages got
        // them in the same order.
        let mut first = vec![None; self.plan.members.len()];
        report.same_order = got().all(|g| {
            self.plan.rooms_of[g.client()].iter().all(|&room| {
                match (g.order_in(room), &mut first[room as usize]) {
                    (None, _) => true,
                    (Some(order), seen @ None) => {
                        *seen = Some(order);
                        true
                    }
                    (Some(order), Some(seen)) => order == *seen,
                }
            })
        });
        report.latency = received.latencies.percentiles();
    }

    /// Whether the stalled client was dropped, and how long after the first
    /// message (sent at `sending_began`).
    fn time_the_stalled_departure(&self, report: &mut Report, sending_began: Instant) {
        let left_at = self.totals.stalled_left_at.load(Ordering::Relaxed);
        report.stalled_dropped = Some(left_at > 0);
        let send_start = sending_began.duration_since(self.epoch).as_micros() as u64;
        report.stalled_dropped_after =
            (left_at > 0).then(|| left_at.saturating_sub(send_start) as f64 / 1e6);
    }
}
