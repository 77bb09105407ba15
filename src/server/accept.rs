//! Accepting: the loop on each listener, and each connection's way from
//! `accept` to its front: the connection slot, the real address (the PROXY
//! header on a listener that requires one), the per-address limits, the
//! connection's own thread.
//!
//! The rule: every limit and every log line uses the real client's address,
//! in its one canonical spelling, and a proxy's word counts only when it is
//! a trusted proxy (`--trusted-proxy`).

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::admission::{Refusal, Slot};
use super::proxy::{self, Header};
use super::Shared;
use crate::front::{Front, Origin};
use crate::support::metrics::METRICS;
use crate::support::netaddr;
use crate::support::sys;

/// Longest pause after failed accepts (e.g. out of file descriptors).
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// How long a proxy has to send its PROXY header.
const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// The kernel's send buffer per client socket, as set with `SO_SNDBUF`
/// (Linux doubles it for its bookkeeping, and counts 256 KiB): without a
/// cap, a client that stops reading holds up to `tcp_wmem`'s 4 MiB of
/// kernel memory. 256 KiB still fills a 20 Mbit/s link at 100 ms.
pub const SEND_BUFFER: usize = 128 * 1024;

pub(super) fn accept_loop(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    front: &Front,
    proxied: bool,
) {
    let mut backoff = Duration::from_millis(10);
    while !shared.stopping.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(10);
                if shared.stopping.load(Ordering::SeqCst) {
                    break;
                }
                start_connection(stream, peer, shared, front, proxied);
            }
            Err(err) => {
                shared.context.log.event(
                    None,
                    format_args!("accept failed: {err}; pausing {} ms", backoff.as_millis()),
                );
                thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
        }
    }
}

fn start_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    front: &Front,
    proxied: bool,
) {
    // Lines are small and latency matters more than packet count; the writer
    // already batches everything queued into one write.
    let _ = stream.set_nodelay(true);
    let _ = sys::cap_send_buffer(&stream, SEND_BUFFER);
    let peer = netaddr::canonical_socket(peer);
    METRICS.accepted.inc(front.label());
    let stream = Arc::new(stream);
    let mut slot = match shared.admission.admit(&stream, front) {
        Ok(slot) => slot,
        Err(refusal) => return refuse(shared, &stream, peer, front, refusal),
    };
    if proxied {
        if !shared.is_trusted_proxy(peer.ip()) {
            // Not a proxy we know: its header would be a forgery, and there
            // is no other way in on this listener. Closed without a word.
            shared.refusals.refused(
                peer,
                "untrusted-proxy",
                format_args!("not a trusted proxy (--trusted-proxy), on a PROXY listener"),
            );
            return;
        }
    } else {
        if let Err(refusal) = slot.admit_address(peer.ip()) {
            return refuse(shared, &stream, peer, front, refusal);
        }
        shared
            .context
            .log
            .event(Some(peer), format_args!("connect"));
    }
    let spawned = {
        let shared = Arc::clone(shared);
        let stream = Arc::clone(&stream);
        let front = front.clone();
        shared.context.threads.clone().spawn("chat-conn", move || {
            let peer = match proxied {
                true => match behind_proxy(&shared, &stream, peer, &front, &mut slot) {
                    Some(client) => client,
                    None => return,
                },
                false => peer,
            };
            let mut origin = Connection {
                shared: &shared,
                slot,
            };
            front.serve(stream, peer, &shared.context, &mut origin);
        })
    };
    if let Err(err) = spawned {
        // The closure (and with it the slot) was dropped: the slot is free again.
        shared.refusals.refused(
            peer,
            "no-thread",
            format_args!("cannot start a thread: {err}"),
        );
        front.refuse(&stream, Refusal::ServerFull.as_str());
        thread::sleep(Duration::from_millis(10));
    }
}

/// Refuses a connection in its front's words, and logs it (rate-limited).
fn refuse(shared: &Shared, stream: &TcpStream, peer: SocketAddr, front: &Front, refusal: Refusal) {
    let reason = refusal.as_str();
    shared
        .refusals
        .refused(peer, reason, format_args!("{reason}"));
    front.refuse(stream, reason);
}

/// Reads the PROXY header of a connection from trusted `proxy` and admits
/// the client it names; `None` if there is no valid header or the limits
/// refuse the client (the connection is then done).
fn behind_proxy(
    shared: &Shared,
    stream: &TcpStream,
    proxy: SocketAddr,
    front: &Front,
    slot: &mut Slot,
) -> Option<SocketAddr> {
    let client = match proxy::read_header(stream, PROXY_HEADER_TIMEOUT) {
        Ok(Header::Proxied { source, .. }) => netaddr::canonical_socket(source),
        // The proxy's own connection (a health check): its address stands.
        Ok(Header::Local) => proxy,
        Err(err) => {
            shared.refusals.refused(
                proxy,
                "bad-proxy-header",
                format_args!("no valid PROXY header: {err}"),
            );
            return None;
        }
    };
    if let Err(refusal) = slot.admit_address(client.ip()) {
        refuse(shared, stream, client, front, refusal);
        return None;
    }
    shared
        .context
        .log
        .event(Some(client), format_args!("connect via proxy {proxy}"));
    Some(client)
}

/// A connection being served, as its front sees the server.
struct Connection<'a> {
    shared: &'a Shared,
    slot: Slot,
}

impl Origin for Connection<'_> {
    fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.shared.is_trusted_proxy(ip)
    }

    fn admit_client(&mut self, proxy: SocketAddr, client: SocketAddr) -> Result<(), &'static str> {
        let shared = self.shared;
        match self.slot.admit_address(client.ip()) {
            Ok(()) => {
                shared
                    .context
                    .log
                    .event(Some(client), format_args!("forwarded by proxy {proxy}"));
                Ok(())
            }
            Err(refusal) => {
                let reason = refusal.as_str();
                shared.refusals.refused(
                    client,
                    reason,
                    format_args!("{reason} (forwarded by {proxy})"),
                );
                Err(reason)
            }
        }
    }
}
