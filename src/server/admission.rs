//! Who may connect: the connection limits (`--max-clients`, `--max-per-ip`),
//! and the slot each open connection holds until it ends.

use std::collections::HashMap;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::support::sync;

/// Why a connection is refused; its wire spelling is the same in every front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-clients` connections are open (or the kernel allows no more threads).
    ServerFull,
    /// `--max-per-ip` connections are open from this address.
    TooManyConnections,
}

impl Refusal {
    /// The reason as clients see it (`BYE server-full`, a 503 body).
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::ServerFull => "server-full",
            Refusal::TooManyConnections => "too-many-connections",
        }
    }
}

/// The limits and the open connections they count.
pub struct Admission {
    max_clients: usize,
    max_per_ip: usize,
    /// Whether `max_per_ip` applies to loopback too.
    limit_loopback: bool,
    connections: Mutex<Connections>,
}

/// Open connections, for the limits and for hanging up on everybody at stop.
#[derive(Default)]
struct Connections {
    next_id: u64,
    open: HashMap<u64, Arc<TcpStream>>,
    per_ip: HashMap<IpAddr, usize>,
}

impl Admission {
    pub fn new(max_clients: usize, max_per_ip: usize, limit_loopback: bool) -> Arc<Admission> {
        Arc::new(Admission {
            max_clients,
            max_per_ip,
            limit_loopback,
            connections: Mutex::default(),
        })
    }

    fn connections(&self) -> MutexGuard<'_, Connections> {
        sync::lock(&self.connections)
    }

    /// Takes a connection slot, or says which limit refuses it.
    pub fn admit(self: &Arc<Self>, stream: &Arc<TcpStream>, ip: IpAddr) -> Result<Slot, Refusal> {
        let mut connections = self.connections();
        if connections.open.len() >= self.max_clients {
            return Err(Refusal::ServerFull);
        }
        let per_ip_applies = self.limit_loopback || !ip.is_loopback();
        let from_ip = connections.per_ip.get(&ip).copied().unwrap_or(0);
        if per_ip_applies && from_ip >= self.max_per_ip {
            return Err(Refusal::TooManyConnections);
        }
        connections.per_ip.insert(ip, from_ip + 1);
        let id = connections.next_id;
        connections.next_id += 1;
        connections.open.insert(id, Arc::clone(stream));
        Ok(Slot {
            admission: Arc::clone(self),
            id,
            ip,
        })
    }

    /// Shuts down every open connection, which ends their sessions.
    pub fn hang_up_all(&self) {
        for stream in self.connections().open.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// A connection's place in the limits, given back when the connection ends
/// (the slot is dropped by its thread, or right away if the thread never starts).
pub struct Slot {
    admission: Arc<Admission>,
    id: u64,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut connections = self.admission.connections();
        connections.open.remove(&self.id);
        if let Some(count) = connections.per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                connections.per_ip.remove(&self.ip);
            }
        }
    }
}
