//! IP addresses as the server's limits see them: one spelling per host
//! ([`canonical`]: an IPv4 client on a `::` listener is its IPv4 address,
//! not `::ffff:a.b.c.d`), one group per party ([`Group`]: an IPv4 address, or
//! an IPv6 /64, which is what one subscriber gets), and networks given as
//! `ADDR/PREFIX` ([`Network`], for the trusted proxies).
//!
//! The rule this file keeps: every decision by address (limits, the
//! loopback exemption, trust) is made on the canonical address, so that no
//! spelling of an address escapes it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// The one spelling of `ip`: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
/// what a dual-stack `::` listener reports for IPv4 clients) becomes the
/// IPv4 address; everything else stays as it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// `addr` with its address in [`canonical`] form.
pub fn canonical_socket(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(canonical(addr.ip()), addr.port())
}

/// Whether `ip` is a loopback address, in any spelling (`127.0.0.0/8`,
/// `::1`, `::ffff:127.0.0.1`).
pub fn is_loopback(ip: IpAddr) -> bool {
    canonical(ip).is_loopback()
}

/// The party an address belongs to for per-address limits: an IPv4 address
/// on its own, an IPv6 address by its /64 (one host or household usually has
/// a whole /64, so counting exact IPv6 addresses would leave it unlimited;
/// Ergo and InspIRCd group the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    V4(Ipv4Addr),
    /// The first 64 bits of the address.
    V6(u64),
}

impl Group {
    pub fn of(ip: IpAddr) -> Group {
        match canonical(ip) {
            IpAddr::V4(v4) => Group::V4(v4),
            IpAddr::V6(v6) => Group::V6((v6.to_bits() >> 64) as u64),
        }
    }
}

/// A network, `ADDR/PREFIX` (a bare address is a network of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Loopback in both families: `127.0.0.0/8` and `::1/128`.
    pub fn loopback() -> Vec<Network> {
        vec![
            Network {
                addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
                prefix: 8,
            },
            Network {
                addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
                prefix: 128,
            },
        ]
    }

    /// Whether `ip` (in any spelling) is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_bits(u128::from(net.to_bits()), 32, self.prefix)
                    == prefix_bits(u128::from(ip.to_bits()), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_bits(net.to_bits(), 128, self.prefix)
                    == prefix_bits(ip.to_bits(), 128, self.prefix)
            }
            _ => false,
        }
    }

    /// Parses a comma-separated list (`127.0.0.1/8,10.0.0.0/8,::1`).
    pub fn parse_list(list: &str) -> Result<Vec<Network>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(Network::from_str)
            .collect()
    }
}

/// The first `prefix` of `width` bits of `bits`.
fn prefix_bits(bits: u128, width: u32, prefix: u8) -> u128 {
    let keep = u32::from(prefix).min(width);
    if keep == 0 {
        0
    } else {
        bits >> (width - keep)
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Network, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{text}' is not an address or ADDR/PREFIX"))?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= width)
                .ok_or_else(|| format!("'{text}': the prefix must be 0 to {width}"))?,
        };
        // `::ffff:10.0.0.0/104` is the IPv4 network 10.0.0.0/8, which is how
        // its addresses are compared.
        Ok(match (canonical(addr), addr) {
            (IpAddr::V4(v4), IpAddr::V6(_)) if prefix >= 96 => Network {
                addr: IpAddr::V4(v4),
                prefix: prefix - 96,
            },
            _ => Network { addr, prefix },
        })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv4_mapped_addresses_are_their_ipv4_address() {
        assert_eq!(canonical(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(canonical(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(canonical(ip("2001:db8::7")), ip("2001:db8::7"));
        // IPv4-compatible (deprecated) and NAT64 addresses are IPv6 hosts.
        assert_eq!(canonical(ip("::192.0.2.7")), ip("::192.0.2.7"));
        assert_eq!(canonical(ip("64:ff9b::c000:207")), ip("64:ff9b::c000:207"));
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:4000".parse().unwrap();
        assert_eq!(canonical_socket(mapped).to_string(), "127.0.0.1:4000");
    }

    #[test]
    fn loopback_in_every_spelling() {
        for text in ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ip(text)), "{text}");
        }
        for text in ["192.0.2.1", "::ffff:192.0.2.1", "::", "0.0.0.0", "::2"] {
            assert!(!is_loopback(ip(text)), "{text}");
        }
    }

    #[test]
    fn ipv6_groups_by_slash_64_and_ipv4_by_address() {
        let g = |text| Group::of(ip(text));
        assert_eq!(g("2001:db8:1:2::1"), g("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_eq!(g("2001:db8:1:2::1"), g("2001:db8:1:2:abcd::9"));
        assert_ne!(g("2001:db8:1:2::1"), g("2001:db8:1:3::1"));
        assert_ne!(g("2001:db8:1:2::1"), g("2001:db9:1:2::1"));
        assert_eq!(g("192.0.2.1"), g("::ffff:192.0.2.1"));
        assert_ne!(g("192.0.2.1"), g("192.0.2.2"));
        // An IPv4 address and the IPv6 /64 that holds the same bits differ.
        assert_ne!(g("0.0.0.0"), g("::"));
    }

    #[test]
    fn networks_contain_their_addresses_in_any_spelling() {
        let net = |text: &str| text.parse::<Network>().unwrap();
        assert!(net("10.0.0.0/8").contains(ip("10.200.1.1")));
        assert!(net("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("192.0.2.7").contains(ip("192.0.2.7")));
        assert!(!net("192.0.2.7").contains(ip("192.0.2.8")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.1")));
        assert!(!net("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(net("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
        assert!(!net("2001:db8::/32").contains(ip("2001:db9::1")));
        assert!(net("::/0").contains(ip("2001:db8::1")));
        assert!(net("::ffff:10.0.0.0/104").contains(ip("10.9.0.1")));
        assert!(!net("::ffff:10.0.0.0/104").contains(ip("11.0.0.1")));
        let loopback = Network::loopback();
        for text in ["127.0.0.1", "::1", "::ffff:127.0.0.2"] {
            assert!(loopback.iter().any(|n| n.contains(ip(text))), "{text}");
        }
    }

    #[test]
    fn network_lists_parse_and_refuse_nonsense() {
        let list = Network::parse_list("127.0.0.0/8, ::1,10.1.2.3").unwrap();
        assert_eq!(
            list.iter().map(Network::to_string).collect::<Vec<_>>(),
            ["127.0.0.0/8", "::1/128", "10.1.2.3/32"]
        );
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "nonsense",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "/8",
        ] {
            assert!(Network::parse_list(bad).is_err(), "{bad}");
        }
    }
}
