//! Room history on disk. So far: the checksum and record framing its files
//! are made of, and message times.

pub mod crc32;
pub mod record;
mod time;

pub use time::{now_ms, rfc3339};
