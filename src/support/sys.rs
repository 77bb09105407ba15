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

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::{c_int, c_void};

    pub const MSG_DONTWAIT: c_int = 0x40;
    pub const MSG_NOSIGNAL: c_int = 0x4000;

    extern "C" {
        pub fn send(fd: c_int, buf: *const c_void, len: usize, flags: c_int) -> isize;
        pub fn listen(fd: c_int, backlog: c_int) -> c_int;
        pub fn prctl(option: c_int, ...) -> c_int;
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

/// Terminals and signals on Linux. The numbers are those of the generic Linux
/// ABI (x86, Arm, RISC-V), which is what the cfg below admits.
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
mod tty {
    use std::ffi::{c_int, c_uint, c_ulong, c_void};
    use std::io;
    use std::os::fd::RawFd;
    use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

    /// `struct termios` of glibc and musl (60 bytes).
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Termios {
        iflag: c_uint,
        oflag: c_uint,
        cflag: c_uint,
        lflag: c_uint,
        line: u8,
        cc: [u8; 32],
        ispeed: c_uint,
        ospeed: c_uint,
    }

    /// `struct winsize`.
    #[repr(C)]
    struct WinSize {
        rows: u16,
        cols: u16,
        x_pixels: u16,
        y_pixels: u16,
    }

    extern "C" {
        fn tcgetattr(fd: c_int, termios: *mut Termios) -> c_int;
        fn tcsetattr(fd: c_int, when: c_int, termios: *const Termios) -> c_int;
        fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
        fn signal(signal: c_int, handler: usize) -> usize;
        fn raise(signal: c_int) -> c_int;
        fn write(fd: c_int, buf: *const c_void, len: usize) -> isize;
        fn __errno_location() -> *mut c_int;
    }

    const TCSANOW: c_int = 0;
    const TIOCGWINSZ: c_ulong = 0x5413;
    const SIG_DFL: usize = 0;
    const SIG_ERR: usize = usize::MAX;

    use super::{Signals, SIGCONT, SIGHUP, SIGINT, SIGTERM, SIGTSTP, SIGWINCH};

    /// A terminal's settings, to be changed and put back.
    #[derive(Clone, Copy)]
    pub struct TermMode(Termios);

    impl TermMode {
        /// The same settings in raw mode: keys arrive one by one and unechoed,
        /// Ctrl-C, Ctrl-Z, Ctrl-S and Ctrl-V are keys like the others, Enter
        /// is `\r`. Output processing (`\n` as a new line) stays on.
        pub fn raw(&self) -> TermMode {
            const BRKINT: c_uint = 0o2;
            const INPCK: c_uint = 0o20;
            const ISTRIP: c_uint = 0o40;
            const ICRNL: c_uint = 0o400;
            const IXON: c_uint = 0o2000;
            const ISIG: c_uint = 0o1;
            const ICANON: c_uint = 0o2;
            const ECHO: c_uint = 0o10;
            const IEXTEN: c_uint = 0o100000;
            const VTIME: usize = 5;
            const VMIN: usize = 6;
            let mut raw = self.0;
            raw.iflag &= !(BRKINT | INPCK | ISTRIP | ICRNL | IXON);
            raw.lflag &= !(ISIG | ICANON | ECHO | IEXTEN);
            raw.cc[VMIN] = 1;
            raw.cc[VTIME] = 0;
            TermMode(raw)
        }
    }

    /// The settings of the terminal on `fd` (`tcgetattr`).
    pub fn terminal_mode(fd: RawFd) -> io::Result<TermMode> {
        let mut termios = Termios {
            iflag: 0,
            oflag: 0,
            cflag: 0,
            lflag: 0,
            line: 0,
            cc: [0; 32],
            ispeed: 0,
            ospeed: 0,
        };
        // SAFETY: `termios` is a live struct of the C library's layout, which
        // the call fills in.
        match unsafe { tcgetattr(fd, &mut termios) } {
            0 => Ok(TermMode(termios)),
            _ => Err(io::Error::last_os_error()),
        }
    }

    /// Applies `mode` to the terminal on `fd` at once (`tcsetattr`, `TCSANOW`).
    pub fn set_terminal_mode(fd: RawFd, mode: &TermMode) -> io::Result<()> {
        // SAFETY: the pointer is to a live, initialised termios, only read.
        match unsafe { tcsetattr(fd, TCSANOW, &mode.0) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }

    /// The size of the terminal on `fd` as (columns, rows), if it has one.
    pub fn window_size(fd: RawFd) -> Option<(u16, u16)> {
        let mut size = WinSize {
            rows: 0,
            cols: 0,
            x_pixels: 0,
            y_pixels: 0,
        };
        // SAFETY: TIOCGWINSZ writes one struct winsize to the pointer given,
        // which points to a live one.
        let done = unsafe { ioctl(fd, TIOCGWINSZ, &mut size as *mut WinSize) };
        (done == 0 && size.cols > 0 && size.rows > 0).then_some((size.cols, size.rows))
    }

    /// The signals caught since the last call, and `wake`'s descriptor.
    static PENDING: AtomicU32 = AtomicU32::new(0);
    static WAKE: AtomicI32 = AtomicI32::new(-1);
    const CAUGHT: [c_int; 6] = [SIGHUP, SIGINT, SIGTERM, SIGCONT, SIGTSTP, SIGWINCH];

    /// The handler: one atomic bit and one byte to the wake-up pipe, both
    /// async-signal-safe; `errno` is kept for whatever the signal interrupted.
    extern "C" fn on_signal(signal: c_int) {
        if let Ok(bit) = u32::try_from(signal) {
            PENDING.fetch_or(1u32.checked_shl(bit).unwrap_or(0), Ordering::SeqCst);
        }
        let fd = WAKE.load(Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: errno is this thread's; write gets a live one-byte buffer.
            unsafe {
                let errno = *__errno_location();
                let _ = write(fd, [1u8].as_ptr().cast(), 1);
                *__errno_location() = errno;
            }
        }
    }

    fn install(signal_number: c_int, handler: usize) -> io::Result<()> {
        // SAFETY: `handler` is SIG_DFL or `on_signal`, which only touches atomics
        // and calls write(2).
        match unsafe { signal(signal_number, handler) } {
            SIG_ERR => Err(io::Error::last_os_error()),
            _ => Ok(()),
        }
    }

    /// From now on, `SIGINT`, `SIGTERM`, `SIGHUP`, `SIGTSTP`, `SIGCONT` and
    /// `SIGWINCH` are noted for [`take_signals`] and a byte is written to `wake`
    /// (which should be non-blocking: a full pipe loses nothing).
    pub fn catch_signals(wake: RawFd) -> io::Result<()> {
        WAKE.store(wake, Ordering::SeqCst);
        CAUGHT
            .iter()
            .try_for_each(|&number| install(number, on_signal as extern "C" fn(c_int) as usize))
    }

    /// The signals caught since the last call.
    pub fn take_signals() -> Signals {
        Signals(PENDING.swap(0, Ordering::SeqCst))
    }

    /// Stops this process as Ctrl-Z would (the default `SIGTSTP`), and returns
    /// once it is continued, with the handler back in place.
    pub fn stop_self() -> io::Result<()> {
        install(SIGTSTP, SIG_DFL)?;
        // SAFETY: raise only sends a signal to this process.
        let raised = unsafe { raise(SIGTSTP) };
        install(SIGTSTP, on_signal as extern "C" fn(c_int) as usize)?;
        match raised {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }
}

/// Elsewhere: no raw mode and no signals; the client stays in line mode.
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
mod tty {
    use std::io;
    use std::os::fd::RawFd;

    #[derive(Clone, Copy)]
    pub struct TermMode;

    impl TermMode {
        pub fn raw(&self) -> TermMode {
            TermMode
        }
    }

    pub fn terminal_mode(_fd: RawFd) -> io::Result<TermMode> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub fn set_terminal_mode(_fd: RawFd, _mode: &TermMode) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub fn window_size(_fd: RawFd) -> Option<(u16, u16)> {
        None
    }

    pub fn catch_signals(_wake: RawFd) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub fn take_signals() -> super::Signals {
        super::Signals::default()
    }

    pub fn stop_self() -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
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
