//! The node's lease thread: renews the node's lease, reaps the nodes whose
//! lease ran out, lets go of the names of sessions that left, steps down if
//! this node's own lease was lost, and on the way out leaves the cluster.
//!
//! Rules kept:
//! - **Renewed well within the lease**: every second for a 10 s lease, and at
//!   once when the reader finds Redis back after an outage or a script says
//!   the lease is gone.
//! - **Departures at once**: a session that leaves wakes this thread, which
//!   lets go of its name right away; while Redis is away they wait, queued,
//!   retried every 200 ms, and go out in the order they came.
//! - **A lost lease is a step-down**: the node's sessions are no longer the
//!   cluster's; they are disconnected, and the node joins again, anew.

use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use super::redis::Client;
use super::resp::Value;
use super::script::Outcome;
use super::{lease_ms, Backplane};
use crate::delivery::Claims;

const RENEW_EVERY: Duration = Duration::from_secs(1);

/// How often departures that could not be announced are tried again.
const RETRY: Duration = Duration::from_millis(200);

pub fn run(node: &Backplane, mut client: Client) {
    let mut next_renewal = Instant::now() + RENEW_EVERY;
    let mut stalled = false;
    while !node.stopping() {
        let wait = next_renewal.saturating_duration_since(Instant::now());
        if stalled {
            thread::sleep(wait.min(RETRY));
        } else {
            node.departures.wait(wait);
        }
        stalled = !node.let_go();
        let due = Instant::now() >= next_renewal;
        if due || node.renew_now.swap(false, Ordering::SeqCst) {
            renew(node, &mut client);
            next_renewal = Instant::now() + RENEW_EVERY;
        }
    }
    // Leaving: the departures queued so far, then everybody still here.
    node.let_go();
    let token = node.token.as_bytes();
    match node.script.run(&mut client, "exit", &[token]) {
        Ok(Outcome::Done(_)) => node.log.event(
            None,
            format_args!("cluster: node {} left the cluster", node.name),
        ),
        _ => node.log.event(
            None,
            format_args!(
                "cluster: node {} could not leave the cluster (redis unavailable); the others \
                 will find its lease run out",
                node.name
            ),
        ),
    }
}

fn renew(node: &Backplane, client: &mut Client) {
    let token = node.token.as_bytes();
    match node.script.run(client, "renew", &[token, &lease_ms()]) {
        Ok(Outcome::Done(rest)) => {
            node.health.works();
            let reaped = rest.first().and_then(Value::integer).unwrap_or(0);
            if reaped > 0 {
                node.log.event(
                    None,
                    format_args!(
                        "cluster: a node's lease ran out; its {reaped} users were let go of"
                    ),
                );
            }
        }
        Ok(Outcome::Lost) => {
            node.log.event(
                None,
                format_args!(
                    "cluster: node {}'s lease ran out and the cluster let its users go; they \
                     are disconnected, and the node joins anew",
                    node.name
                ),
            );
            let claims = Claims::default();
            node.step_down(false, &claims);
            claims.flush();
            if let Err(failure) = node.script.run(client, "hello", &[token, &lease_ms()]) {
                node.health.failed(&failure);
            }
        }
        Ok(Outcome::Refused(code)) => node.health.failed(&code.as_str()),
        Err(failure) => node.health.failed(&failure),
    }
}
