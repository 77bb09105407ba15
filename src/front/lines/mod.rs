//! The line protocol's front: bytes split into bounded lines ([`LineReader`],
//! which also answers telnet), and the server's lines sent as they are.

mod reader;

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

pub use reader::{LineReader, Next};

use crate::delivery::{Codec, Farewell};
use crate::protocol::ServerLine;
use crate::session::{self, Context, Event, Inbound};
use crate::support::deadline::IdleDeadline;
use crate::support::sys;

/// The line protocol's framing: lines go out exactly as the protocol spells them.
struct LineCodec;

impl Codec for LineCodec {
    fn encode_lines(&self, lines: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(lines);
    }

    fn encode_farewell(&self, farewell: Farewell, out: &mut Vec<u8>) {
        if let Some(line) = farewell.line() {
            line.encode(out);
        }
    }
}

/// Runs a line-protocol connection to its end.
pub fn serve(stream: Arc<TcpStream>, peer: SocketAddr, context: &Context) {
    let outbox = context.outbox(&stream, Box::new(LineCodec));
    let idle = IdleDeadline::new(stream, context.limits.idle_timeout);
    let mut input = LineReader::new(idle, context.limits.max_line);
    session::serve(context, peer, outbox, &mut input);
}

/// Refuses a connection with a one-line `BYE <reason>`, without blocking.
pub fn refuse(stream: &TcpStream, reason: &str) {
    let _ = stream.set_nonblocking(true);
    let _ = (&*stream).write_all(&ServerLine::Bye(Some(reason)).to_bytes());
    let _ = stream.shutdown(Shutdown::Write);
}

impl Inbound for LineReader<IdleDeadline> {
    fn next_event(
        &mut self,
        before_wait: &mut dyn FnMut(),
        may_defer: &dyn Fn() -> bool,
    ) -> io::Result<Event<'_>> {
        let fd = self.get_mut().as_raw_fd();
        Ok(
            match self.read_next_or_wait(before_wait, &|| may_defer() && sys::readable_now(fd))? {
                Next::Line(line) => Event::Line(line),
                Next::TooLong => Event::TooLong,
                // Telnet's option negotiation is not a line and does not count.
                Next::Reply(bytes) => Event::Reply(bytes),
                Next::Closed => Event::Closed,
            },
        )
    }

    fn reset_idle(&mut self) {
        self.get_mut().reset();
    }

    fn cap_deadline(&mut self, at: Option<Instant>) {
        self.get_mut().cap(at);
    }
}
