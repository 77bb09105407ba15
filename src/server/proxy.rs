//! The PROXY protocol, versions 1 and 2 (HAProxy's specification): the
//! header a TLS front (stunnel, HAProxy, nginx's stream module) sends first
//! on each connection it relays, saying whose connection it is.
//!
//! [`parse`] is pure: it looks at the bytes received so far and says whether
//! they are a whole header (and how long), could still become one, or can
//! never be one. Nothing is guessed: a listener that requires the header
//! refuses a connection whose first bytes are anything else, however
//! plausible. [`read_header`] takes exactly the header's bytes off a socket
//! (what follows belongs to the front), within a deadline.
//!
//! - **v1** is one text line of at most 107 bytes including its CRLF:
//!   `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n`, or `PROXY UNKNOWN`
//!   followed by anything up to the CRLF.
//! - **v2** is a 16-byte binary header (a 12-byte signature, version and
//!   command, family and transport, length) and an address block; `LOCAL`
//!   (a health check by the proxy itself) and families other than IPv4 and
//!   IPv6 keep the connection's own address; TLVs after the addresses are
//!   skipped.

use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::support::deadline::is_timeout;

/// The longest v1 header, CRLF included.
pub const MAX_V1: usize = 107;

/// The longest v2 header accepted, TLVs included: more than any proxy sends
/// without client certificates, and a bound on what a connection may make
/// the server hold before it is admitted.
pub const MAX_V2: usize = 16 + 4096;

/// The v2 signature: `\r\n\r\n\0\r\nQUIT\n`.
const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

const V1_PREFIX: &[u8] = b"PROXY ";

/// What a whole header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The proxy relays a client's connection, from `source` to `destination`.
    Proxied {
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// The proxy speaks for itself (v2 `LOCAL`: a health check) or does not
    /// say for whom (v1 `UNKNOWN`, v2 `UNSPEC` or `UNIX`): the connection's
    /// own address stands.
    Local,
}

/// What the bytes received so far are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parse {
    /// A header, `len` bytes long; anything after it is the client's.
    Complete { header: Header, len: usize },
    /// The start of a header: more bytes are needed.
    Incomplete,
    /// Never a header, whatever follows.
    Invalid(&'static str),
}

/// Parses the PROXY header at the start of `bytes`. See the module docs.
pub fn parse(bytes: &[u8]) -> Parse {
    match bytes.first() {
        None => Parse::Incomplete,
        Some(b'P') => parse_v1(bytes),
        Some(b'\r') => parse_v2(bytes),
        Some(_) => Parse::Invalid("the connection does not start with a PROXY header"),
    }
}

fn parse_v1(bytes: &[u8]) -> Parse {
    let within = &bytes[..bytes.len().min(MAX_V1)];
    let Some(newline) = within.iter().position(|&b| b == b'\n') else {
        if !V1_PREFIX.starts_with(&within[..within.len().min(V1_PREFIX.len())]) {
            return Parse::Invalid("the connection does not start with a PROXY header");
        }
        if let Some(cr) = within.iter().position(|&b| b == b'\r') {
            if cr + 1 < within.len() {
                return Parse::Invalid("a v1 header's CR is not followed by LF");
            }
        }
        if within
            .iter()
            .any(|&b| !(b == b'\r' || b == b' ' || b.is_ascii_graphic()))
        {
            return Parse::Invalid("a v1 header holds a byte that is not printable ASCII");
        }
        return if within.len() == MAX_V1 {
            Parse::Invalid("a v1 header longer than 107 bytes")
        } else {
            Parse::Incomplete
        };
    };
    let Some(line) = within[..newline].strip_suffix(b"\r") else {
        return Parse::Invalid("a v1 header does not end in CRLF");
    };
    match parse_v1_line(line) {
        Ok(header) => Parse::Complete {
            header,
            len: newline + 1,
        },
        Err(why) => Parse::Invalid(why),
    }
}

/// A v1 line without its CRLF.
fn parse_v1_line(line: &[u8]) -> Result<Header, &'static str> {
    let rest = line
        .strip_prefix(V1_PREFIX)
        .ok_or("the connection does not start with a PROXY header")?;
    if rest.iter().any(|&b| !(b == b' ' || b.is_ascii_graphic())) {
        return Err("a v1 header holds a byte that is not printable ASCII");
    }
    // Checked to be ASCII just above.
    let rest = std::str::from_utf8(rest).map_err(|_| "a v1 header is not ASCII")?;
    if rest == "UNKNOWN" || rest.starts_with("UNKNOWN ") {
        return Ok(Header::Local);
    }
    let fields: Vec<&str> = rest.split(' ').collect();
    let [family, source, destination, source_port, destination_port] = fields[..] else {
        return Err("a v1 header is not PROXY TCP4|TCP6 SRC DST SPORT DPORT");
    };
    let ip = |text: &str| -> Result<IpAddr, &'static str> {
        match family {
            "TCP4" => text
                .parse::<Ipv4Addr>()
                .map(IpAddr::V4)
                .map_err(|_| "a v1 TCP4 header with an address that is not IPv4"),
            "TCP6" => text
                .parse::<Ipv6Addr>()
                .map(IpAddr::V6)
                .map_err(|_| "a v1 TCP6 header with an address that is not IPv6"),
            _ => Err("a v1 header's protocol is not TCP4, TCP6 or UNKNOWN"),
        }
    };
    Ok(Header::Proxied {
        source: SocketAddr::new(ip(source)?, port(source_port)?),
        destination: SocketAddr::new(ip(destination)?, port(destination_port)?),
    })
}

/// A v1 port: 0 to 65535 in decimal, without leading zeros.
fn port(text: &str) -> Result<u16, &'static str> {
    let bad = "a v1 header's port is not a number from 0 to 65535";
    let digits = !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return Err(bad);
    }
    text.parse().map_err(|_| bad)
}

fn parse_v2(bytes: &[u8]) -> Parse {
    let seen = bytes.len().min(SIGNATURE.len());
    if bytes[..seen] != SIGNATURE[..seen] {
        return Parse::Invalid("the connection does not start with a PROXY header");
    }
    let (version, command) = match bytes.get(12) {
        None => return Parse::Incomplete,
        Some(byte) => (byte >> 4, byte & 0x0F),
    };
    if version != 2 {
        return Parse::Invalid("a v2 header's version is not 2");
    }
    let local = match command {
        0 => true,
        1 => false,
        _ => return Parse::Invalid("a v2 header's command is neither LOCAL nor PROXY"),
    };
    let (family, transport) = match bytes.get(13) {
        None => return Parse::Incomplete,
        Some(byte) => (byte >> 4, byte & 0x0F),
    };
    if family > 3 || transport > 2 {
        return Parse::Invalid("a v2 header's address family or transport is unknown");
    }
    let [Some(high), Some(low)] = [bytes.get(14), bytes.get(15)] else {
        return Parse::Incomplete;
    };
    let len = 16 + usize::from(u16::from_be_bytes([*high, *low]));
    if len > MAX_V2 {
        return Parse::Invalid("a v2 header longer than this server accepts");
    }
    let Some(block) = bytes.get(16..len) else {
        return Parse::Incomplete;
    };
    let header = if local {
        Ok(Header::Local)
    } else {
        v2_addresses(family, transport, block)
    };
    match header {
        Ok(header) => Parse::Complete { header, len },
        Err(why) => Parse::Invalid(why),
    }
}

/// The addresses of a v2 `PROXY` header's block (TLVs after them skipped).
fn v2_addresses(family: u8, transport: u8, block: &[u8]) -> Result<Header, &'static str> {
    const INET: u8 = 1;
    const INET6: u8 = 2;
    const STREAM: u8 = 1;
    let short = "a v2 header whose block is too short for its addresses";
    let mut rest = block;
    let (source, destination): (IpAddr, IpAddr) = match family {
        INET => (
            take::<4>(&mut rest).ok_or(short)?.into(),
            take::<4>(&mut rest).ok_or(short)?.into(),
        ),
        INET6 => (
            take::<16>(&mut rest).ok_or(short)?.into(),
            take::<16>(&mut rest).ok_or(short)?.into(),
        ),
        // UNSPEC and UNIX: nothing this server can use; the connection's
        // own address stands.
        _ => return Ok(Header::Local),
    };
    let source_port = u16::from_be_bytes(take(&mut rest).ok_or(short)?);
    let destination_port = u16::from_be_bytes(take(&mut rest).ok_or(short)?);
    if transport != STREAM {
        return Err("a v2 header relays something other than TCP");
    }
    Ok(Header::Proxied {
        source: SocketAddr::new(source, source_port),
        destination: SocketAddr::new(destination, destination_port),
    })
}

/// Takes the first `N` bytes off `bytes`, if it has that many.
fn take<const N: usize>(bytes: &mut &[u8]) -> Option<[u8; N]> {
    let (first, rest) = bytes.split_first_chunk::<N>()?;
    *bytes = rest;
    Some(*first)
}

/// Why a connection that must start with a PROXY header did not.
#[derive(Debug)]
pub enum HeaderError {
    /// Not a header (see [`Parse::Invalid`]).
    Invalid(&'static str),
    /// No whole header within the deadline.
    TimedOut,
    /// The connection ended before a whole header.
    Closed,
    /// The socket failed.
    Failed(io::Error),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Invalid(why) => f.write_str(why),
            HeaderError::TimedOut => f.write_str("no whole PROXY header in time"),
            HeaderError::Closed => f.write_str("closed before a whole PROXY header"),
            HeaderError::Failed(err) => write!(f, "error reading a PROXY header: {err}"),
        }
    }
}

/// Reads the PROXY header a connection starts with, within `within`, and
/// not a byte more: it peeks at what has arrived and takes only header bytes
/// off the socket, so what follows is the front's to read.
pub fn read_header(stream: &TcpStream, within: Duration) -> Result<Header, HeaderError> {
    let deadline = Instant::now() + within;
    let mut header = Vec::new();
    let mut peeked = vec![0; MAX_V2];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HeaderError::TimedOut);
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(HeaderError::Failed)?;
        let room = MAX_V2.saturating_sub(header.len()).max(1);
        let n = match stream.peek(&mut peeked[..room]) {
            Ok(0) => return Err(HeaderError::Closed),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) if is_timeout(&err) => return Err(HeaderError::TimedOut),
            Err(err) => return Err(HeaderError::Failed(err)),
        };
        let before = header.len();
        header.extend_from_slice(&peeked[..n]);
        // Everything peeked is header if the header is not complete yet;
        // if it is, only its own bytes are taken.
        let (outcome, take) = match parse(&header) {
            // `len` > `before`: what came before was not yet a header.
            Parse::Complete { header, len } => (Some(header), len.saturating_sub(before).min(n)),
            Parse::Incomplete => (None, n),
            Parse::Invalid(why) => return Err(HeaderError::Invalid(why)),
        };
        header.truncate(before + take);
        (&*stream)
            .read_exact(&mut peeked[..take])
            .map_err(HeaderError::Failed)?;
        if let Some(outcome) = outcome {
            return Ok(outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxied(source: &str, destination: &str) -> Header {
        Header::Proxied {
            source: source.parse().unwrap(),
            destination: destination.parse().unwrap(),
        }
    }

    /// Asserts that every proper prefix of `header` is incomplete, that the
    /// whole is `want`, and that bytes after it are not part of it.
    fn complete_only_when_whole(header: &[u8], want: Header) {
        for cut in 0..header.len() {
            assert_eq!(
                parse(&header[..cut]),
                Parse::Incomplete,
                "prefix of {cut} bytes of {header:?}"
            );
        }
        let whole = Parse::Complete {
            header: want,
            len: header.len(),
        };
        assert_eq!(parse(header), whole);
        let mut more = header.to_vec();
        more.extend_from_slice(b"LOGIN alice\r\n");
        assert_eq!(parse(&more), whole, "with the client's bytes after it");
    }

    fn v2(command: u8, family_transport: u8, block: &[u8]) -> Vec<u8> {
        let mut bytes = SIGNATURE.to_vec();
        bytes.push(0x20 | command);
        bytes.push(family_transport);
        bytes.extend_from_slice(&(block.len() as u16).to_be_bytes());
        bytes.extend_from_slice(block);
        bytes
    }

    fn ipv4_block() -> Vec<u8> {
        let mut block = vec![203, 0, 113, 7, 127, 0, 0, 1];
        block.extend_from_slice(&51234u16.to_be_bytes());
        block.extend_from_slice(&4000u16.to_be_bytes());
        block
    }

    #[test]
    fn v1_tcp4_tcp6_and_unknown() {
        complete_only_when_whole(
            b"PROXY TCP4 203.0.113.7 127.0.0.1 51234 4000\r\n",
            proxied("203.0.113.7:51234", "127.0.0.1:4000"),
        );
        complete_only_when_whole(
            b"PROXY TCP6 2001:db8::7 ::1 65535 0\r\n",
            proxied("[2001:db8::7]:65535", "[::1]:0"),
        );
        complete_only_when_whole(b"PROXY UNKNOWN\r\n", Header::Local);
        complete_only_when_whole(
            b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
            Header::Local,
        );
    }

    #[test]
    fn the_longest_v1_header_is_107_bytes() {
        // The longest addresses and ports make 104 bytes; the spec allows 107.
        let longest = b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff \
                        ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert_eq!(longest.len(), 104);
        let max = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535";
        complete_only_when_whole(longest, proxied(max, max));
        let mut unknown = b"PROXY UNKNOWN ".to_vec();
        unknown.resize(MAX_V1 - 2, b'x');
        unknown.extend_from_slice(b"\r\n");
        complete_only_when_whole(&unknown, Header::Local);
        unknown.insert(20, b'x');
        assert!(matches!(parse(&unknown), Parse::Invalid(_)), "108 bytes");
        assert!(matches!(parse(&unknown[..MAX_V1]), Parse::Invalid(_)));
    }

    #[test]
    fn malformed_v1_headers_are_invalid_as_early_as_the_bytes_show() {
        for bad in [
            &b"LOGIN alice\n"[..],
            b"L",
            b"PROXX",
            b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
            b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
            b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8  2\r\n",
            b"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\x00\r\n",
            b"PROXY TCP4 1.2.3.\xc3\xa9 5.6.7.8 1 2\r\n",
            b"PROXY \r\n",
            b"PROXY\r\n",
            b"PROXY UNKNOWNX\r\n",
        ] {
            assert!(
                matches!(parse(bad), Parse::Invalid(_)),
                "{:?} is {:?}",
                String::from_utf8_lossy(bad),
                parse(bad)
            );
        }
    }

    #[test]
    fn v2_proxy_ipv4_ipv6_and_tlvs_skipped() {
        complete_only_when_whole(
            &v2(1, 0x11, &ipv4_block()),
            proxied("203.0.113.7:51234", "127.0.0.1:4000"),
        );
        let mut block = Vec::new();
        block.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        block.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        block.extend_from_slice(&443u16.to_be_bytes());
        block.extend_from_slice(&8080u16.to_be_bytes());
        complete_only_when_whole(
            &v2(1, 0x21, &block),
            proxied("[2001:db8::7]:443", "[::1]:8080"),
        );
        // TLVs (here ALPN "h2" and a NOOP) after the addresses are skipped.
        let mut with_tlvs = ipv4_block();
        with_tlvs.extend_from_slice(&[0x01, 0x00, 0x02, b'h', b'2', 0x04, 0x00, 0x00]);
        complete_only_when_whole(
            &v2(1, 0x11, &with_tlvs),
            proxied("203.0.113.7:51234", "127.0.0.1:4000"),
        );
    }

    #[test]
    fn v2_local_unspec_and_unix_keep_the_connections_address() {
        complete_only_when_whole(&v2(0, 0x00, &[]), Header::Local);
        // LOCAL ignores whatever block it has.
        complete_only_when_whole(&v2(0, 0x11, &ipv4_block()), Header::Local);
        complete_only_when_whole(&v2(1, 0x00, &[]), Header::Local);
        complete_only_when_whole(&v2(1, 0x31, &[0; 216]), Header::Local);
    }

    #[test]
    fn malformed_v2_headers_are_invalid() {
        let good = v2(1, 0x11, &ipv4_block());
        let mut cases: Vec<(Vec<u8>, &str)> = Vec::new();
        let mut changed = |at: usize, byte: u8, what| {
            let mut bad = good.clone();
            bad[at] = byte;
            cases.push((bad, what));
        };
        changed(0, b'\n', "signature, first byte");
        changed(4, 1, "signature, NUL byte");
        changed(11, b'X', "signature, last byte");
        changed(12, 0x11, "version 1 in binary");
        changed(12, 0x31, "version 3");
        changed(12, 0x22, "command 2");
        changed(13, 0x41, "family 4");
        changed(13, 0x13, "transport 3");
        changed(13, 0x12, "IPv4 over UDP");
        cases.push((v2(1, 0x11, &ipv4_block()[..11]), "IPv4 block too short"));
        cases.push((v2(1, 0x21, &[0; 35]), "IPv6 block too short"));
        let mut huge = good[..14].to_vec();
        huge.extend_from_slice(&u16::MAX.to_be_bytes());
        cases.push((huge, "longer than accepted"));
        for (bad, what) in cases {
            assert!(
                matches!(parse(&bad), Parse::Invalid(_)),
                "{what}: {:?}",
                parse(&bad)
            );
        }
        // Wrong from the first differing byte, before the header is whole.
        assert!(matches!(parse(b"\r\n\r\n\x01"), Parse::Invalid(_)));
        assert!(matches!(
            parse(&[&SIGNATURE[..], &[0x12]].concat()),
            Parse::Invalid(_)
        ));
    }

    #[test]
    fn read_header_takes_the_header_and_not_a_byte_more_even_split() {
        use std::io::Write;
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        for header in [
            b"PROXY TCP4 203.0.113.7 127.0.0.1 51234 4000\r\n".to_vec(),
            v2(1, 0x11, &ipv4_block()),
        ] {
            let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server, _) = listener.accept().unwrap();
            client.set_nodelay(true).unwrap();
            let writer = std::thread::spawn(move || {
                for piece in header.chunks(5) {
                    client.write_all(piece).unwrap();
                    std::thread::sleep(Duration::from_millis(5));
                }
                client.write_all(b"LOGIN alice\n").unwrap();
                client
            });
            let got = read_header(&server, Duration::from_secs(10)).unwrap();
            assert_eq!(got, proxied("203.0.113.7:51234", "127.0.0.1:4000"));
            let _client = writer.join().unwrap();
            let mut rest = [0; 12];
            (&server).read_exact(&mut rest).unwrap();
            assert_eq!(&rest, b"LOGIN alice\n");
        }
        // Nothing, or not a header: refused, never guessed.
        let _silent = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let err = read_header(&server, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, HeaderError::TimedOut), "{err}");
        let mut plain = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        plain.write_all(b"LOGIN alice\n").unwrap();
        let (server, _) = listener.accept().unwrap();
        let err = read_header(&server, Duration::from_secs(10)).unwrap_err();
        assert!(matches!(err, HeaderError::Invalid(_)), "{err}");
    }
}
