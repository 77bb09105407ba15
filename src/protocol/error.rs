//! The codes after `ERR`, spelled once for the server and read back by the client.

/// The code after `ERR` (or, for [`ErrorCode::InvalidUsername`], the reason a
/// name was refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    UsernameTaken,
    InvalidUsername,
    AlreadyLoggedIn,
    EmptyMessage,
    UserNotFound,
    InvalidDm,
    NotLoggedIn,
    UnknownCommand,
    LineTooLong,
    InvalidUtf8,
    RateLimited,
    InvalidRoom,
    AlreadyInRoom,
    TooManyRooms,
    NotInRoom,
    CannotLeaveLobby,
    NoSuchRoom,
    InvalidHistory,
    StorageFailed,
    AlreadyRegistered,
    WeakPassword,
    WrongPassword,
    NotRegistered,
    NameReserved,
}

impl ErrorCode {
    /// Every code, so that [`ErrorCode::parse`] reads back exactly what
    /// [`ErrorCode::as_str`] writes, with no second list of spellings to drift.
    pub const ALL: [ErrorCode; 24] = [
        ErrorCode::UsernameTaken,
        ErrorCode::InvalidUsername,
        ErrorCode::AlreadyLoggedIn,
        ErrorCode::EmptyMessage,
        ErrorCode::UserNotFound,
        ErrorCode::InvalidDm,
        ErrorCode::NotLoggedIn,
        ErrorCode::UnknownCommand,
        ErrorCode::LineTooLong,
        ErrorCode::InvalidUtf8,
        ErrorCode::RateLimited,
        ErrorCode::InvalidRoom,
        ErrorCode::AlreadyInRoom,
        ErrorCode::TooManyRooms,
        ErrorCode::NotInRoom,
        ErrorCode::CannotLeaveLobby,
        ErrorCode::NoSuchRoom,
        ErrorCode::InvalidHistory,
        ErrorCode::StorageFailed,
        ErrorCode::AlreadyRegistered,
        ErrorCode::WeakPassword,
        ErrorCode::WrongPassword,
        ErrorCode::NotRegistered,
        ErrorCode::NameReserved,
    ];

    /// The code spelled `code` on the wire; `None` for one this build does not
    /// know (a newer server may have more).
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|known| known.as_str() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::UsernameTaken => "username-taken",
            ErrorCode::InvalidUsername => "invalid-username",
            ErrorCode::AlreadyLoggedIn => "already-logged-in",
            ErrorCode::EmptyMessage => "empty-message",
            ErrorCode::UserNotFound => "user-not-found",
            ErrorCode::InvalidDm => "invalid-dm",
            ErrorCode::NotLoggedIn => "not-logged-in",
            ErrorCode::UnknownCommand => "unknown-command",
            ErrorCode::LineTooLong => "line-too-long",
            ErrorCode::InvalidUtf8 => "invalid-utf8",
            ErrorCode::RateLimited => "rate-limited",
            ErrorCode::InvalidRoom => "invalid-room",
            ErrorCode::AlreadyInRoom => "already-in-room",
            ErrorCode::TooManyRooms => "too-many-rooms",
            ErrorCode::NotInRoom => "not-in-room",
            ErrorCode::CannotLeaveLobby => "cannot-leave-lobby",
            ErrorCode::NoSuchRoom => "no-such-room",
            ErrorCode::InvalidHistory => "invalid-history",
            ErrorCode::StorageFailed => "storage-failed",
            ErrorCode::AlreadyRegistered => "already-registered",
            ErrorCode::WeakPassword => "weak-password",
            ErrorCode::WrongPassword => "wrong-password",
            ErrorCode::NotRegistered => "not-registered",
            ErrorCode::NameReserved => "name-reserved",
        }
    }
}
