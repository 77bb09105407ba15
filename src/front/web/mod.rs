//! The web front: one HTTP request per connection ([`http`]), which either
//! gets the chat page or becomes a WebSocket ([`websocket`]) carrying the line
//! protocol, one text message per line.

mod forwarded;
mod http;
mod websocket;

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Origin;
use crate::delivery::{Codec, Farewell};
use crate::session::{self, Context, Event, Inbound};
use crate::support::deadline::IdleDeadline;
use http::Handshake;
use websocket::{MessageReader, Opcode};

/// The longest a web client may take to send its request head.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// WebSocket framing: one text frame per line, and a close frame at the end.
struct WebSocketCodec;

impl Codec for WebSocketCodec {
    fn encode_lines(&self, lines: &[u8], out: &mut Vec<u8>) {
        websocket::encode_lines(lines, out);
    }

    fn encode_farewell(&self, farewell: Farewell, out: &mut Vec<u8>) {
        if let Some(line) = farewell.line() {
            websocket::encode_lines(&line.to_bytes(), out);
        }
        let status = match farewell {
            Farewell::TooSlow => websocket::POLICY_VIOLATION,
            Farewell::Shutdown => websocket::GOING_AWAY,
            Farewell::Violation(status) => status,
            Farewell::Bye(_) | Farewell::TakenOver | Farewell::Silent => websocket::NORMAL,
        };
        websocket::encode_close(status, out);
    }
}

/// Runs a web connection to its end: the page, a refusal, or a chat session.
/// A WebSocket from a trusted proxy is the session of the client its
/// `X-Forwarded-For` names, if the limits admit that client.
pub fn serve(stream: Arc<TcpStream>, peer: SocketAddr, context: &Context, origin: &mut dyn Origin) {
    let timeout = context.limits.idle_timeout.min(HANDSHAKE_TIMEOUT);
    let log = &context.log;
    match http::handshake(&stream, timeout) {
        Ok(Handshake::WebSocket { forwarded_for }) => {
            let outbox = context.outbox(&stream, Box::new(WebSocketCodec));
            let client = forwarded_for
                .filter(|_| origin.is_trusted_proxy(peer.ip()))
                .and_then(|header| forwarded::client(&header, &|ip| origin.is_trusted_proxy(ip)));
            let peer = match client {
                Some(client) => match origin.admit_client(peer, client) {
                    Ok(()) => client,
                    Err(reason) => {
                        context.claims().close(&outbox, Farewell::Bye(Some(reason)));
                        outbox.wait_finished();
                        return;
                    }
                },
                None => peer,
            };
            let idle = IdleDeadline::new(stream, context.limits.idle_timeout);
            let mut input = MessageReader::new(idle, context.limits.max_line);
            session::serve(context, peer, outbox, &mut input);
        }
        Ok(Handshake::Answered(status)) => {
            log.event(Some(peer), format_args!("web: answered {status}"))
        }
        Ok(Handshake::Abandoned) => {}
        Err(err) => log.event(Some(peer), format_args!("web: handshake failed: {err}")),
    }
}

/// Refuses a web connection with a `503` before reading its request.
pub fn refuse(stream: &TcpStream, reason: &str) {
    let _ = stream.set_nonblocking(true);
    let _ = (&*stream).write_all(&http::refusal(reason));
    let _ = stream.shutdown(Shutdown::Write);
}

impl Inbound for MessageReader<IdleDeadline> {
    fn next_event(
        &mut self,
        before_wait: &mut dyn FnMut(),
        _may_defer: &dyn Fn() -> bool,
    ) -> io::Result<Event<'_>> {
        Ok(match self.read_next_or_wait(before_wait)? {
            websocket::Event::Text(text) => Event::Line(text.as_bytes()),
            // A browser's ping or pong shows it is there, like a line does.
            websocket::Event::Ping(payload) => {
                let mut pong = Vec::new();
                websocket::encode_frame(Opcode::Pong, payload, &mut pong);
                Event::Alive(pong)
            }
            websocket::Event::Pong => Event::Alive(Vec::new()),
            websocket::Event::Close(_) | websocket::Event::Ended => Event::Closed,
            websocket::Event::Violation(status) => Event::Violation(status),
        })
    }

    fn reset_idle(&mut self) {
        self.get_mut().reset();
    }

    fn cap_deadline(&mut self, at: Option<Instant>) {
        self.get_mut().cap(at);
    }
}
