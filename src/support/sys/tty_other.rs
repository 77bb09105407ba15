//! Elsewhere: no raw mode and no signals; the client stays in line mode.

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
