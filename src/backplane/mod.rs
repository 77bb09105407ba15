//! Several servers as one chat, through Redis.

mod resp;
