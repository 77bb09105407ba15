//! Who may connect: the connection limits (`--max-clients`, and per address
//! `--max-per-ip` and `--max-connect-rate`), and the slot each open
//! connection holds until it ends.
//!
//! A connection is admitted in two steps. Its [`Slot`] is taken as it is
//! accepted (`--max-clients` counts every connection, so threads stay
//! bounded); its address is admitted once the server knows the real one
//! ([`Slot::admit_address`]): at once for a direct connection, after the
//! PROXY header or the `X-Forwarded-For` header for one through a trusted
//! proxy. Per-address limits count address groups (an IPv4 address, an IPv6
//! /64: see [`Group`]), and loopback peers are exempt from each unless its
//! flag was given.

use std::collections::HashMap;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::throttle::Throttle;
use crate::front::Front;
use crate::session::RateLimit;
use crate::support::netaddr::{self, Group};
use crate::support::sync;

/// Why a connection is refused; its wire spelling is the same in every front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-clients` connections are open (or the kernel allows no more threads).
    ServerFull,
    /// `--max-per-ip` connections are open from this address.
    TooManyConnections,
    /// This address has used up `--max-connect-rate`.
    ConnectingTooFast,
}

impl Refusal {
    /// The reason as clients see it (`BYE server-full`, a 503 body).
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::ServerFull => "server-full",
            Refusal::TooManyConnections => "too-many-connections",
            Refusal::ConnectingTooFast => "connecting-too-fast",
        }
    }
}

/// The per-address limits as configured.
pub struct AddressLimits {
    pub max_per_ip: usize,
    /// Whether `max_per_ip` applies to loopback too.
    pub per_ip_loopback: bool,
    pub connect_rate: Option<RateLimit>,
    /// Whether `connect_rate` applies to loopback too.
    pub connect_rate_loopback: bool,
}

/// The limits and the open connections they count.
pub struct Admission {
    max_clients: usize,
    limits: AddressLimits,
    connections: Mutex<Connections>,
}

/// Open connections, for the limits and for hanging up on everybody at stop.
struct Connections {
    next_id: u64,
    /// Each connection's socket and its front's label.
    open: HashMap<u64, (Arc<TcpStream>, &'static str)>,
    per_group: HashMap<Group, usize>,
    throttle: Option<Throttle>,
}

impl Admission {
    pub fn new(max_clients: usize, limits: AddressLimits) -> Arc<Admission> {
        let throttle = limits
            .connect_rate
            .map(|limit| Throttle::new(limit, Instant::now()));
        Arc::new(Admission {
            max_clients,
            limits,
            connections: Mutex::new(Connections {
                next_id: 0,
                open: HashMap::new(),
                per_group: HashMap::new(),
                throttle,
            }),
        })
    }

    fn connections(&self) -> MutexGuard<'_, Connections> {
        sync::lock(&self.connections)
    }

    /// Takes a connection slot, or refuses with `ServerFull`.
    pub fn admit(
        self: &Arc<Self>,
        stream: &Arc<TcpStream>,
        front: &Front,
    ) -> Result<Slot, Refusal> {
        let mut connections = self.connections();
        if connections.open.len() >= self.max_clients {
            return Err(Refusal::ServerFull);
        }
        let id = connections.next_id;
        connections.next_id += 1;
        connections
            .open
            .insert(id, (Arc::clone(stream), front.label()));
        Ok(Slot {
            admission: Arc::clone(self),
            id,
            group: None,
        })
    }

    /// How many connections are open on the front labelled `front`.
    pub fn open_on(&self, front: &str) -> usize {
        let connections = self.connections();
        connections
            .open
            .values()
            .filter(|(_, f)| *f == front)
            .count()
    }

    /// How many connections are open.
    pub fn open(&self) -> usize {
        self.connections().open.len()
    }

    /// Shuts down every open connection (`how`), which ends their threads'
    /// reads (and with `Both`, their writes).
    pub fn hang_up_all(&self, how: Shutdown) {
        for (stream, _) in self.connections().open.values() {
            let _ = stream.shutdown(how);
        }
    }
}

/// A connection's place in the limits, given back when the connection ends
/// (the slot is dropped by its thread, or right away if the thread never starts).
pub struct Slot {
    admission: Arc<Admission>,
    id: u64,
    /// The address group this connection counts against, once admitted.
    group: Option<Group>,
}

impl Slot {
    /// Admits the connection's real address against the per-address limits,
    /// or says which refuses it. Admitting another address later (a proxied
    /// connection's real client) moves the connection to that address.
    pub fn admit_address(&mut self, ip: IpAddr) -> Result<(), Refusal> {
        let limits = &self.admission.limits;
        let mut connections = self.admission.connections();
        let connections = &mut *connections;
        if let Some(old) = self.group.take() {
            release(&mut connections.per_group, old);
        }
        let group = Group::of(ip);
        let loopback = netaddr::is_loopback(ip);
        let from_group = connections.per_group.get(&group).copied().unwrap_or(0);
        if (limits.per_ip_loopback || !loopback) && from_group >= limits.max_per_ip {
            return Err(Refusal::TooManyConnections);
        }
        if limits.connect_rate_loopback || !loopback {
            if let Some(throttle) = connections.throttle.as_mut() {
                if !throttle.allow(group, Instant::now()) {
                    return Err(Refusal::ConnectingTooFast);
                }
            }
        }
        connections.per_group.insert(group, from_group + 1);
        self.group = Some(group);
        Ok(())
    }
}

/// Counts one connection from `group` less.
fn release(per_group: &mut HashMap<Group, usize>, group: Group) {
    if let Some(count) = per_group.get_mut(&group) {
        *count -= 1;
        if *count == 0 {
            per_group.remove(&group);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut connections = self.admission.connections();
        connections.open.remove(&self.id);
        if let Some(group) = self.group {
            release(&mut connections.per_group, group);
        }
    }
}
