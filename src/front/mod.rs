//! The ways in: one folder per front, each turning its wire's bytes into the
//! session's events and the server's lines into its wire's bytes (its
//! [`Codec`](crate::delivery::Codec)), and refusing a connection in its own
//! words. The hub and the session know nothing of any front's framing.

pub mod irc;
pub mod lines;
pub mod web;

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use crate::session::Context;

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

    /// Runs a connection to its end, on the caller's (its own) thread.
    pub fn serve(&self, stream: Arc<TcpStream>, peer: SocketAddr, context: &Context) {
        match self {
            Front::Lines => lines::serve(stream, peer, context),
            Front::Web => web::serve(stream, peer, context),
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
