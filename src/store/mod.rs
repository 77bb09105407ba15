//! Room history on disk. So far: the checksum and record framing its files
//! are made of.

pub mod crc32;
pub mod record;
