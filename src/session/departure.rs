//! Why a connection ended, which decides its farewell and its log line.

use std::io;

use crate::delivery::Farewell;

/// Why a connection ended; it decides the farewell and the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    Quit,
    Closed,
    IdleTimeout,
    Flooding,
    TooSlow,
    /// `AUTH` on another connection took the name over.
    TakenOver,
    /// A WebSocket client broke the framing rules; the close status says which.
    WebSocketViolation(u16),
    Failed(io::ErrorKind),
}

impl Departure {
    /// How a connection whose outbox already said farewell ended: dropped as
    /// too slow, taken over, or for breaking its front's framing rules.
    pub(super) fn from_farewell(farewell: Farewell) -> Option<Departure> {
        match farewell {
            Farewell::TooSlow => Some(Departure::TooSlow),
            Farewell::TakenOver => Some(Departure::TakenOver),
            Farewell::Violation(status) => Some(Departure::WebSocketViolation(status)),
            Farewell::Bye(_) | Farewell::Silent => None,
        }
    }

    pub(super) fn farewell(self) -> Farewell {
        match self {
            Departure::Quit => Farewell::Bye(None),
            Departure::IdleTimeout => Farewell::Bye(Some("idle-timeout")),
            Departure::Flooding => Farewell::Bye(Some("flooding")),
            Departure::TooSlow => Farewell::TooSlow,
            Departure::TakenOver => Farewell::TakenOver,
            Departure::WebSocketViolation(status) => Farewell::Violation(status),
            Departure::Closed | Departure::Failed(_) => Farewell::Silent,
        }
    }

    pub(super) fn describe(self) -> String {
        match self {
            Departure::Quit => "quit".into(),
            Departure::Closed => "closed".into(),
            Departure::IdleTimeout => "idle-timeout".into(),
            Departure::Flooding => "flooding".into(),
            Departure::TooSlow => "too-slow".into(),
            Departure::TakenOver => "logged-in-elsewhere".into(),
            Departure::WebSocketViolation(status) => {
                format!("websocket protocol violation (close {status})")
            }
            Departure::Failed(kind) => format!("error: {kind}"),
        }
    }
}
