//! The ways in: one folder per front, each turning its wire's bytes into the
//! session's events and the server's lines into its wire's bytes (its
//! [`Codec`](crate::delivery::Codec)), and refusing a connection in its own
//! words. The hub and the session know nothing of any front's framing.

pub mod irc;
pub mod lines;
pub mod web;

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;

use crate::session::Context;

/// What a front may ask the server about the connection it serves.
pub trait Origin {
    /// Whether `ip` is a trusted proxy, whose `X-Forwarded-For` counts.
    fn is_trusted_proxy(&self, ip: IpAddr) -> bool;
    /// Admits `client`, the real client a trusted proxy named, against the
    /// per-address limits (and logs it); `Err` with the refusal's wire
    /// spelling if they refuse it.
    fn admit_client(&mut self, proxy: SocketAddr, client: SocketAddr) -> Result<(), &'static str>;
}

/// Which front a listener serves.
#[derive(Debug, Clone)]
pub enum Front {
    /// The line protocol (`nc`, telnet, the bundled client).
    Lines,
    /// The web page and its WebSocket gateway.
    Web,
    /// IRC, with the state its connections share.
    Irc(Arc<irc::Irc>),
}

impl Front {
    /// What the log calls the listener.
    pub fn describe(&self) -> &'static str {
        match self {
            Front::Lines => "line protocol",
            Front::Web => "web page and WebSocket",
            Front::Irc(_) => "IRC",
        }
    }

    /// The name of the thread accepting on this front's listener.
    pub fn thread_name(&self) -> &'static str {
        match self {
            Front::Lines => "chat-accept",
            Front::Web => "chat-accept-web",
            Front::Irc(_) => "chat-accept-irc",
        }
    }

    /// The front as the metrics' `front` label says it.
    pub fn label(&self) -> &'static str {
        match self {
            Front::Lines => "lines",
            Front::Web => "web",
            Front::Irc(_) => "irc",
        }
    }

    /// Runs a connection from `peer` (its real address, as far as the server
    /// knows) to its end, on the caller's (its own) thread.
    pub fn serve(
        &self,
        stream: Arc<TcpStream>,
        peer: SocketAddr,
        context: &Context,
        origin: &mut dyn Origin,
    ) {
        match self {
            Front::Lines => lines::serve(stream, peer, context),
            Front::Web => web::serve(stream, peer, context, origin),
            Front::Irc(shared) => irc::serve(shared, stream, peer, context),
        }
    }

    /// Refuses a connection in this front's words (`reason` is the refusal's
    /// wire spelling, e.g. `server-full`), without ever blocking the caller
    /// (the accept loop): the socket is fresh, so the answer fits its buffer.
    pub fn refuse(&self, stream: &TcpStream, reason: &str) {
        match self {
            Front::Lines => lines::refuse(stream, reason),
            Front::Web => web::refuse(stream, reason),
            Front::Irc(_) => irc::refuse(stream, reason),
        }
    }
}
