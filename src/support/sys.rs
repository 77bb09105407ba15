//! The two socket calls `std` does not offer, declared against the C library
//! that `std` itself links (no crate involved).
//!
//! - [`send_nonblocking`]: one `send` that never waits, while the socket stays
//!   blocking for every other thread using it. `set_nonblocking` cannot do that:
//!   it changes the socket for everybody, including the session blocked reading
//!   it. This is what lets whoever queued a line write it out at once, without
//!   waking another thread, and without any risk of blocking (see `outbox`).
//! - [`raise_listen_backlog`]: `std` listens with a backlog of 128, which a burst
//!   of logins overflows; the kernel then drops connection attempts and clients
//!   wait a second or more for their SYN to be resent.
//!
//! Elsewhere than Linux both calls step aside: `send_nonblocking` reports that it
//! would block (so a writer thread does every write) and the backlog stays 128.

use std::io;
use std::net::{TcpListener, TcpStream};

/// Sends as much of `bytes` as fits in the socket's buffer right now; `Err`
/// with `WouldBlock` when nothing fits.
#[cfg(target_os = "linux")]
pub fn send_nonblocking(stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let sent = unsafe {
        // SAFETY: the pointer and length describe a live, initialised slice,
        // and the descriptor belongs to `stream`, which outlives the call.
        linux::send(
            stream.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            linux::MSG_DONTWAIT | linux::MSG_NOSIGNAL,
        )
    };
    if sent < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(sent.unsigned_abs())
    }
}

#[cfg(not(target_os = "linux"))]
pub fn send_nonblocking(_stream: &TcpStream, _bytes: &[u8]) -> io::Result<usize> {
    Err(io::ErrorKind::WouldBlock.into())
}

/// How many finished handshakes may wait for `accept` (the kernel caps it at
/// `net.core.somaxconn`, 4096 by default).
pub const LISTEN_BACKLOG: i32 = 4096;

/// Calls `listen` again on a listening socket with [`LISTEN_BACKLOG`]; Linux
/// allows that, and it only changes the queue length.
#[cfg(target_os = "linux")]
pub fn raise_listen_backlog(listener: &TcpListener) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain system call on a descriptor owned by `listener`.
    if unsafe { linux::listen(listener.as_raw_fd(), LISTEN_BACKLOG) } < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
pub fn raise_listen_backlog(_listener: &TcpListener) -> io::Result<()> {
    Ok(())
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::{c_int, c_void};

    pub const MSG_DONTWAIT: c_int = 0x40;
    pub const MSG_NOSIGNAL: c_int = 0x4000;

    extern "C" {
        pub fn send(fd: c_int, buf: *const c_void, len: usize, flags: c_int) -> isize;
        pub fn listen(fd: c_int, backlog: c_int) -> c_int;
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_nonblocking_send_fills_the_buffer_and_then_says_would_block() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        raise_listen_backlog(&listener).unwrap();
        let sender = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut receiver, _) = listener.accept().unwrap();
        assert_eq!(send_nonblocking(&sender, b"hello\n").unwrap(), 6);
        let mut got = [0; 6];
        receiver.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello\n");
        // Nobody reads now: sooner or later the buffers are full, and the call
        // says so instead of waiting.
        let block = vec![b'x'; 1 << 20];
        let mut total = 0usize;
        let full = loop {
            match send_nonblocking(&sender, &block) {
                Ok(n) => total += n,
                Err(err) => break err,
            }
            assert!(total < 1 << 30, "a socket buffer never filled");
        };
        assert_eq!(full.kind(), io::ErrorKind::WouldBlock);
        assert!(total > 0);
        // The socket itself is still blocking for everybody else.
        sender
            .set_read_timeout(Some(std::time::Duration::from_millis(50)))
            .unwrap();
        let err = (&sender).read(&mut got).unwrap_err();
        assert!(matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ));
    }
}
