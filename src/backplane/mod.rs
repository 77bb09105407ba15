//! Several servers as one chat, through Redis.

mod redis;
mod resp;
