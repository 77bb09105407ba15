//! Terminals and signals on Linux. The numbers are those of the generic Linux
//! ABI (x86, Arm, RISC-V), which is what the cfg in `sys/mod.rs` admits.

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
