//! Whom a trusted proxy says a WebSocket connection is for: the
//! `X-Forwarded-For` header that nginx (and most HTTP proxies) send.
//!
//! Each proxy appends the address it got the request from, so the list's
//! right end is the most trustworthy: walking it from the right past every
//! trusted proxy, the first address that is not one is the client; entries
//! further left were written by that client and are never believed. The
//! caller only asks when the connection itself comes from a trusted proxy.
//! An entry may carry the client's port (`192.0.2.7:51234`,
//! `[2001:db8::7]:51234`); without one the port is 0 (unknown).

use std::net::{IpAddr, SocketAddr};

use crate::support::netaddr;

/// The client named by an `X-Forwarded-For` value, or `None` if the value
/// has no usable entry where the client should be.
pub fn client(header: &str, is_trusted: &dyn Fn(IpAddr) -> bool) -> Option<SocketAddr> {
    let mut leftmost = None;
    for entry in header.rsplit(',') {
        let addr = parse_entry(entry.trim())?;
        if !is_trusted(addr.ip()) {
            return Some(addr);
        }
        leftmost = Some(addr);
    }
    // Every hop a trusted proxy: the first of them is where it started.
    leftmost
}

/// One entry: an address, with or without a port.
fn parse_entry(entry: &str) -> Option<SocketAddr> {
    let addr = entry.parse::<SocketAddr>().ok().or_else(|| {
        entry
            .parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 0))
    })?;
    Some(netaddr::canonical_socket(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(ip: IpAddr) -> bool {
        ip.is_loopback() || ip == "10.0.0.2".parse::<IpAddr>().unwrap()
    }

    fn client_of(header: &str) -> Option<String> {
        client(header, &trusted).map(|addr| addr.to_string())
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        assert_eq!(client_of("203.0.113.7").as_deref(), Some("203.0.113.7:0"));
        assert_eq!(
            client_of("203.0.113.7:51234").as_deref(),
            Some("203.0.113.7:51234")
        );
        assert_eq!(
            client_of("[2001:db8::7]:443").as_deref(),
            Some("[2001:db8::7]:443")
        );
        assert_eq!(client_of("2001:db8::7").as_deref(), Some("[2001:db8::7]:0"));
        // What the client wrote itself (the left) is not believed.
        assert_eq!(
            client_of("1.1.1.1, 203.0.113.7, 10.0.0.2").as_deref(),
            Some("203.0.113.7:0")
        );
        assert_eq!(
            client_of("::ffff:203.0.113.7").as_deref(),
            Some("203.0.113.7:0")
        );
        // Only trusted hops: the first is the client (a local user).
        assert_eq!(
            client_of("127.0.0.1:40000, 10.0.0.2").as_deref(),
            Some("127.0.0.1:40000")
        );
    }

    #[test]
    fn garbage_where_the_client_should_be_names_nobody() {
        for header in [
            "",
            "unknown",
            "203.0.113.7, nonsense",
            "_hidden",
            "1.2.3.4:99999",
            " , ",
        ] {
            assert_eq!(client_of(header), None, "{header:?}");
        }
        // Garbage further left than the client is never looked at.
        assert_eq!(
            client_of("nonsense, 203.0.113.7").as_deref(),
            Some("203.0.113.7:0")
        );
    }
}
