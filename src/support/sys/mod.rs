//! Every call into the C library that `std` itself links (no crate involved),
//! for what `std` does not offer.
//!
//! - [`send_nonblocking`]: one `send` that never waits, while the socket stays
//!   blocking for every other thread using it. `set_nonblocking` cannot do that:
//!   it changes the socket for everybody, including the session blocked reading
//!   it. This is what lets whoever queued a line write it out at once, without
//!   waking another thread, and without any risk of blocking (see `outbox`).
//! - [`raise_listen_backlog`]: `std` listens with a backlog of 128, which a burst
//!   of logins overflows; the kernel then drops connection attempts and clients
//!   wait a second or more for their SYN to be resent.
//! - [`cap_send_buffer`]: `SO_SNDBUF`, so that a client that stops reading
//!   cannot make the kernel hold megabytes for it (autotuning grows a send
//!   buffer up to `tcp_wmem`'s maximum, 4 MiB by default).
//! - [`TerminationSignals`]: SIGTERM and SIGINT as something a thread can wait
//!   for, through a pipe the signal handler writes one byte to (the one thing
//!   a handler can safely do), for a graceful stop.
//! - `Poller` (Linux): `epoll(7)`, which sockets of thousands have something to
//!   read, for `chat-bench`'s readers; `poll(2)` over that many spends its time
//!   registering and unregistering wait queues.
//! - `die_with_parent` (Linux): a spawned process that cannot outlive the one
//!   that started it, for the server `chat-bench` runs.
//! - [`local_time`]: the local time as `chat-client` shows it; the C
//!   library knows `TZ` and `/etc/localtime`, and reading a time zone database
//!   is not a chat client's job.
//!
//! - [`poll`]: which of a few descriptors (the keyboard, the server, a wake-up
//!   pipe) has something for `chat-client`'s one event loop, so that it never
//!   blocks on any one of them.
//! - Terminals, for `chat-client` at a keyboard: [`TermMode`] (`termios`: raw
//!   mode and back), [`window_size`] (`ioctl(TIOCGWINSZ)`), and the signals a
//!   full-screen program must handle ([`catch_signals`], [`take_signals`],
//!   [`stop_self`]). The handler only sets a bit in an atomic and writes one
//!   byte to a pipe: the event loop does the real work, outside it. Linux
//!   only (the layout of `struct termios` and the signal numbers differ
//!   elsewhere); other systems get `Unsupported` and the client stays in line
//!   mode.
//!
//! Elsewhere than Linux both socket calls step aside: `send_nonblocking` reports
//! that it would block (so a writer thread does every write) and the backlog
//! stays 128. `chat-bench` is for Linux only.

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

/// Sets the socket's send buffer to `bytes` (`SO_SNDBUF`; Linux doubles the
/// value for its own bookkeeping and stops autotuning the buffer).
#[cfg(target_os = "linux")]
pub fn cap_send_buffer(stream: &TcpStream, bytes: usize) -> io::Result<()> {
    use std::ffi::c_int;
    use std::os::fd::AsRawFd;
    let value = c_int::try_from(bytes).unwrap_or(c_int::MAX);
    // SAFETY: the option value points at a live c_int whose size is passed,
    // and the descriptor belongs to `stream`.
    let set = unsafe {
        linux::setsockopt(
            stream.as_raw_fd(),
            linux::SOL_SOCKET,
            linux::SO_SNDBUF,
            (&value as *const c_int).cast(),
            std::mem::size_of::<c_int>() as u32,
        )
    };
    if set < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
pub fn cap_send_buffer(_stream: &TcpStream, _bytes: usize) -> io::Result<()> {
    Ok(())
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::{c_int, c_void};

    pub const MSG_DONTWAIT: c_int = 0x40;
    pub const MSG_NOSIGNAL: c_int = 0x4000;
    pub const SOL_SOCKET: c_int = 1;
    pub const SO_SNDBUF: c_int = 7;

    extern "C" {
        pub fn send(fd: c_int, buf: *const c_void, len: usize, flags: c_int) -> isize;
        pub fn listen(fd: c_int, backlog: c_int) -> c_int;
        pub fn prctl(option: c_int, ...) -> c_int;
        pub fn setsockopt(
            fd: c_int,
            level: c_int,
            name: c_int,
            value: *const c_void,
            len: u32,
        ) -> c_int;
        pub fn signal(signal: c_int, handler: usize) -> usize;
        pub fn write(fd: c_int, buf: *const c_void, len: usize) -> isize;
        pub fn __errno_location() -> *mut c_int;
    }
}

#[cfg(target_os = "linux")]
pub use signals::TerminationSignals;

/// SIGTERM and SIGINT through a self-pipe.
#[cfg(target_os = "linux")]
mod signals {
    use std::ffi::c_int;
    use std::io::{self, Read};
    use std::os::fd::IntoRawFd;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::time::{Duration, Instant};

    use super::linux;

    const SIGINT: c_int = 2;
    const SIGTERM: c_int = 15;
    const SIG_ERR: usize = usize::MAX;

    /// The pipe's write end, for the handler; -1 until installed.
    static PIPE: AtomicI32 = AtomicI32::new(-1);

    /// Runs in whatever thread the signal interrupts: it only writes the
    /// signal's number to the pipe (`write` is async-signal-safe), and
    /// keeps the interrupted code's `errno`.
    extern "C" fn on_signal(signal: c_int) {
        let fd = PIPE.load(Ordering::Relaxed);
        if fd < 0 {
            return;
        }
        let byte = signal as u8;
        // SAFETY: errno is thread-local and its location valid for the
        // thread's life; `byte` is a live byte for the write, and a full
        // pipe makes the non-blocking write fail, never wait.
        unsafe {
            let errno = linux::__errno_location();
            let saved = *errno;
            let _ = linux::write(fd, (&byte as *const u8).cast(), 1);
            *errno = saved;
        }
    }

    /// SIGTERM and SIGINT, received as bytes on a pipe instead of ending the
    /// process. Installed once per process.
    pub struct TerminationSignals {
        pipe: UnixStream,
    }

    impl TerminationSignals {
        pub fn install() -> io::Result<TerminationSignals> {
            let (pipe, write_end) = UnixStream::pair()?;
            write_end.set_nonblocking(true)?;
            // Never closed: the handler may write to it at any moment, and
            // a closed descriptor's number could be somebody else's.
            let fd = write_end.into_raw_fd();
            if PIPE
                .compare_exchange(-1, fd, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "the signal handlers are installed already",
                ));
            }
            for signal in [SIGINT, SIGTERM] {
                let handler = on_signal as extern "C" fn(c_int) as usize;
                // SAFETY: `on_signal` is an `extern "C" fn(c_int)` that only
                // does async-signal-safe things; glibc's `signal` keeps it
                // installed and restarts interrupted calls where it can.
                if unsafe { linux::signal(signal, handler) } == SIG_ERR {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(TerminationSignals { pipe })
        }

        /// Waits for the next signal, for at most `timeout` (`None`: for as
        /// long as it takes), and returns its name.
        pub fn wait(&self, timeout: Option<Duration>) -> Option<&'static str> {
            let deadline = timeout.map(|timeout| Instant::now() + timeout);
            loop {
                let left = match deadline {
                    Some(deadline) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return None;
                        }
                        Some(left)
                    }
                    None => None,
                };
                self.pipe.set_read_timeout(left).ok()?;
                let mut byte = [0];
                match (&self.pipe).read(&mut byte) {
                    Ok(1) => {
                        return Some(match c_int::from(byte[0]) {
                            SIGINT => "SIGINT",
                            _ => "SIGTERM",
                        })
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    _ => return None,
                }
            }
        }
    }
}

/// Asks the kernel to kill this (child) process when its parent dies, so a
/// spawned server cannot outlive a bench that was interrupted. Meant for
/// `CommandExt::pre_exec`: it makes one async-signal-safe system call.
#[cfg(target_os = "linux")]
pub fn die_with_parent() -> io::Result<()> {
    use std::ffi::{c_int, c_ulong};
    const PR_SET_PDEATHSIG: c_int = 1;
    const SIGKILL: c_ulong = 9;
    // SAFETY: prctl(PR_SET_PDEATHSIG, signal) takes one integer argument and
    // touches no memory of ours.
    match unsafe { linux::prctl(PR_SET_PDEATHSIG, SIGKILL) } {
        -1 => Err(io::Error::last_os_error()),
        _ => Ok(()),
    }
}

#[cfg(target_os = "linux")]
pub use epoll::{EpollEvent, Poller, Tokens};

/// `epoll(7)`, behind a [`Poller`] that only hands out tokens.
#[cfg(target_os = "linux")]
mod epoll {
    use std::ffi::c_int;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    /// `struct epoll_event` from `<sys/epoll.h>`: packed on x86-64 only. Only
    /// [`Poller::wait`] fills it in; a buffer of them starts out as `default()`.
    #[cfg_attr(target_arch = "x86_64", repr(C, packed))]
    #[cfg_attr(not(target_arch = "x86_64"), repr(C))]
    #[derive(Clone, Copy, Default)]
    pub struct EpollEvent {
        events: u32,
        data: u64,
    }

    extern "C" {
        fn epoll_create1(flags: c_int) -> c_int;
        fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, event: *mut EpollEvent) -> c_int;
        fn epoll_wait(epfd: c_int, events: *mut EpollEvent, max: c_int, timeout_ms: c_int)
            -> c_int;
    }

    /// An epoll instance: which of many sockets have something to read. Each
    /// socket is added with a token, which is what [`Poller::wait`] hands back.
    pub struct Poller {
        epoll: OwnedFd,
    }

    impl Poller {
        const CLOEXEC: c_int = 0o2_000_000;
        const ADD: c_int = 1;
        const DELETE: c_int = 2;
        const READABLE: u32 = 0x1;

        pub fn new() -> io::Result<Poller> {
            // SAFETY: epoll_create1 takes a flag and returns a new descriptor or -1.
            let fd = unsafe { epoll_create1(Self::CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` was just created, is open, and nothing else owns it.
            let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
            Ok(Poller { epoll })
        }

        fn control(&self, op: c_int, fd: RawFd, token: u64) -> io::Result<()> {
            let mut event = EpollEvent {
                events: Self::READABLE,
                data: token,
            };
            // SAFETY: `event` is a valid epoll_event for the duration of the call;
            // the kernel only reads it.
            match unsafe { epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) } {
                -1 => Err(io::Error::last_os_error()),
                _ => Ok(()),
            }
        }

        /// Watches `fd` for something to read, reported as `token`.
        pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
            self.control(Self::ADD, fd, token)
        }

        /// Stops watching `fd`.
        pub fn remove(&self, fd: RawFd) -> io::Result<()> {
            self.control(Self::DELETE, fd, 0)
        }

        /// Waits up to `timeout_ms` and returns the tokens of readable sockets
        /// (those closed or in error too: reading tells which), at most as many
        /// as `events` holds.
        pub fn wait<'e>(
            &self,
            events: &'e mut [EpollEvent],
            timeout_ms: c_int,
        ) -> io::Result<Tokens<'e>> {
            let max = c_int::try_from(events.len()).unwrap_or(c_int::MAX);
            // SAFETY: `events` is an exclusively borrowed array of at least `max`
            // epoll_event structs, which is all the kernel writes to.
            let ready =
                unsafe { epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) };
            match usize::try_from(ready) {
                Ok(ready) => Ok(Tokens(events.get(..ready).unwrap_or_default().iter())),
                Err(_) => Err(io::Error::last_os_error()),
            }
        }
    }

    /// The tokens of the events one [`Poller::wait`] returned.
    pub struct Tokens<'e>(std::slice::Iter<'e, EpollEvent>);

    impl ExactSizeIterator for Tokens<'_> {}

    impl Iterator for Tokens<'_> {
        type Item = u64;
        fn next(&mut self) -> Option<u64> {
            // Copy the field out: a reference into a packed struct is not allowed.
            self.0.next().map(|event| event.data)
        }

        fn size_hint(&self) -> (usize, Option<usize>) {
            self.0.size_hint()
        }
    }
}

/// A local date and time of day, as `localtime_r` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    /// May be 60, a leap second.
    pub second: u8,
}

/// The local date and time at `unix` seconds since 1970, from the C library's
/// `localtime_r`; `None` if it cannot say.
#[cfg(all(unix, target_pointer_width = "64"))]
pub fn local_time(unix: i64) -> Option<LocalTime> {
    use std::os::raw::{c_char, c_int, c_long};

    /// `struct tm`: nine `int`s (seconds, minutes, hours, day of the month,
    /// month from 0, years since 1900, then fields we do not read) on every
    /// Unix, then fields that differ between systems, followed here by spare
    /// room so that ours is never smaller than the library's.
    #[repr(C)]
    struct Tm {
        fields: [c_int; 9],
        _gmtoff: c_long,
        _zone: *const c_char,
        _spare: [c_long; 8],
    }

    extern "C" {
        fn localtime_r(time: *const c_long, result: *mut Tm) -> *mut Tm;
    }

    // On 64-bit Unix, `time_t` is a `long`.
    let time: c_long = unix;
    let mut tm = Tm {
        fields: [0; 9],
        _gmtoff: 0,
        _zone: std::ptr::null(),
        _spare: [0; 8],
    };
    // SAFETY: both pointers are valid for the call: `time` is a live `time_t`,
    // and `tm` is a live buffer at least as large as the C `struct tm`, which
    // `localtime_r` fills (it is the re-entrant variant: no shared static).
    let filled = unsafe { localtime_r(&time, &mut tm) };
    if filled.is_null() {
        return None;
    }
    let [second, minute, hour, day, month, year, ..] = tm.fields;
    let small = |value: c_int, range: std::ops::RangeInclusive<u8>| {
        u8::try_from(value).ok().filter(|v| range.contains(v))
    };
    Some(LocalTime {
        year: year.checked_add(1900)?,
        month: small(month.checked_add(1)?, 1..=12)?,
        day: small(day, 1..=31)?,
        hour: small(hour, 0..=23)?,
        minute: small(minute, 0..=59)?,
        second: small(second, 0..=60)?,
    })
}

#[cfg(not(all(unix, target_pointer_width = "64")))]
pub fn local_time(_unix: i64) -> Option<LocalTime> {
    None
}

/// One entry of a [`poll`] set: `struct pollfd`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PollFd {
    fd: std::ffi::c_int,
    events: std::ffi::c_short,
    revents: std::ffi::c_short,
}

impl PollFd {
    const IN: std::ffi::c_short = 0x1;
    const OUT: std::ffi::c_short = 0x4;
    /// Error, hang-up, invalid descriptor: reading or writing tells which.
    const TROUBLE: std::ffi::c_short = 0x8 | 0x10 | 0x20;

    /// Watches `fd` for something to read and, if `write`, for room to write.
    pub fn new(fd: std::os::fd::RawFd, write: bool) -> PollFd {
        PollFd {
            fd,
            events: if write {
                Self::IN | Self::OUT
            } else {
                Self::IN
            },
            revents: 0,
        }
    }

    /// Something to read, or an end or error that a read reports.
    pub fn readable(&self) -> bool {
        self.revents & (Self::IN | Self::TROUBLE) != 0
    }

    /// Room to write, or an error that a write reports.
    pub fn writable(&self) -> bool {
        self.revents & (Self::OUT | Self::TROUBLE) != 0
    }
}

/// Waits up to `timeout_ms` (at most) until one of `fds` is ready, and says
/// how many are. A signal cuts the wait short with `Interrupted`.
#[cfg(unix)]
pub fn poll(fds: &mut [PollFd], timeout_ms: i32) -> io::Result<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    type Count = std::ffi::c_ulong;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    type Count = std::ffi::c_uint;
    extern "C" {
        fn poll(fds: *mut PollFd, count: Count, timeout_ms: std::ffi::c_int) -> std::ffi::c_int;
    }
    let count = Count::try_from(fds.len()).unwrap_or(Count::MAX);
    // SAFETY: `fds` is an exclusively borrowed array of `count` pollfd structs,
    // which the kernel reads and whose `revents` it writes.
    let ready = unsafe { poll(fds.as_mut_ptr(), count, timeout_ms) };
    usize::try_from(ready).map_err(|_| io::Error::last_os_error())
}

/// Whether a read from `fd` would not wait now: bytes are there, or the end
/// of the stream or an error (which the read then reports).
#[cfg(unix)]
pub fn readable_now(fd: std::os::fd::RawFd) -> bool {
    let mut fds = [PollFd::new(fd, false)];
    matches!(poll(&mut fds, 0), Ok(n) if n > 0) && fds[0].readable()
}

/// Gives the memory the allocator holds free back to the system (glibc's
/// `malloc_trim(0)`): after a burst, the buffers it freed would otherwise stay
/// resident, scattered between live allocations. Takes a few milliseconds for
/// a few hundred MiB of heap; does nothing elsewhere.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free_memory() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim takes the allocator's own locks and touches no
    // memory that is still allocated.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}

pub use tty::{
    catch_signals, set_terminal_mode, stop_self, take_signals, terminal_mode, window_size, TermMode,
};

// Signal numbers of the generic Linux ABI (where `tty` is not, none arrive).
const SIGHUP: std::ffi::c_int = 1;
const SIGINT: std::ffi::c_int = 2;
const SIGTERM: std::ffi::c_int = 15;
const SIGCONT: std::ffi::c_int = 18;
const SIGTSTP: std::ffi::c_int = 20;
const SIGWINCH: std::ffi::c_int = 28;

/// Signals that arrived, as [`take_signals`] hands them over: one bit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals(u32);

impl Signals {
    /// Ctrl-C from elsewhere, `kill`, or the terminal closed: time to leave.
    pub fn leave(self) -> bool {
        self.0 & (1 << SIGINT | 1 << SIGTERM | 1 << SIGHUP) != 0
    }
    /// `SIGTSTP` (`kill -TSTP`; Ctrl-Z is a key in raw mode).
    pub fn stop(self) -> bool {
        self.0 & 1 << SIGTSTP != 0
    }
    /// `SIGCONT`: the process was continued after a stop.
    pub fn resumed(self) -> bool {
        self.0 & 1 << SIGCONT != 0
    }
    /// `SIGWINCH`: the window changed size.
    pub fn resized(self) -> bool {
        self.0 & 1 << SIGWINCH != 0
    }
}

/// Terminals and signals: the Linux calls, or line mode only elsewhere.
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64"
    )
))]
#[path = "tty_linux.rs"]
mod tty;

#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64"
    )
)))]
#[path = "tty_other.rs"]
mod tty;

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

    #[test]
    fn the_poller_hands_back_the_token_of_a_readable_socket() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut sender = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (receiver, _) = listener.accept().unwrap();
        let poller = Poller::new().unwrap();
        poller.add(receiver.as_raw_fd(), 7).unwrap();
        let mut events = [EpollEvent::default(); 4];
        assert_eq!(poller.wait(&mut events, 0).unwrap().count(), 0);
        sender.write_all(b"x").unwrap();
        let ready: Vec<u64> = poller.wait(&mut events, 10_000).unwrap().collect();
        assert_eq!(ready, [7]);
        poller.remove(receiver.as_raw_fd()).unwrap();
        assert_eq!(poller.wait(&mut events, 0).unwrap().count(), 0);
    }

    #[test]
    fn poll_says_which_descriptor_is_ready() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        use std::os::unix::net::UnixStream;
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut fds = [PollFd::new(b.as_raw_fd(), false)];
        assert_eq!(poll(&mut fds, 0).unwrap(), 0);
        assert!(!fds[0].readable());
        a.write_all(b"x").unwrap();
        assert_eq!(poll(&mut fds, 10_000).unwrap(), 1);
        assert!(fds[0].readable());
        let mut fds = [PollFd::new(b.as_raw_fd(), true)];
        assert_eq!(poll(&mut fds, 10_000).unwrap(), 1);
        assert!(fds[0].writable());
    }

    #[test]
    fn a_pipe_is_not_a_terminal() {
        use std::os::fd::AsRawFd;
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert!(terminal_mode(a.as_raw_fd()).is_err());
        assert_eq!(window_size(a.as_raw_fd()), None);
        assert_eq!(take_signals(), Signals::default());
    }
}
