//! The PROXY protocol (v1 and v2) and `X-Forwarded-For`, by hand over real
//! sockets against the real binary: the real client's address is what the
//! log shows, a listener that requires a header refuses a connection
//! without a valid one (never guessing), and only trusted proxies are
//! believed. The parser's every malformed case is unit-tested in
//! `src/server/proxy.rs`; the real fronts are in `tests/fronts.rs`.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use common::ws::Ws;
use common::{Client, Running, PATIENCE};

/// A v2 header relaying `client` (IPv4) to `server`.
fn proxy_v2(client: SocketAddr, server: SocketAddr) -> Vec<u8> {
    let (SocketAddr::V4(client), SocketAddr::V4(server)) = (client, server) else {
        panic!("IPv4 only here");
    };
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    header.extend_from_slice(&client.ip().octets());
    header.extend_from_slice(&server.ip().octets());
    header.extend_from_slice(&client.port().to_be_bytes());
    header.extend_from_slice(&server.port().to_be_bytes());
    header
}

/// A free loopback port for a listener the CLI cannot pick itself.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|free| free.local_addr())
        .unwrap()
        .port()
}

/// Asserts that the server closes `stream` without a byte.
fn closed_without_a_word(mut stream: TcpStream) {
    stream.set_read_timeout(Some(3 * PATIENCE)).unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
}

#[test]
fn the_real_address_from_a_v1_or_v2_header_is_what_the_log_shows() {
    let mut server = Running::start(&["--proxy-protocol", "lines"]);
    let mut alice = Client::connect(server.addr);
    let proxy = alice.stream.local_addr().unwrap();
    alice.send_raw(b"PROXY TCP4 203.0.113.7 127.0.0.1 51234 4000\r\nLOGIN alice\n");
    alice.expect("OK");
    let connect = server.log_containing("connect via proxy");
    assert!(
        connect.contains(&format!("203.0.113.7:51234 connect via proxy {proxy}")),
        "{connect}"
    );
    let login = server.log_containing("login alice");
    assert!(login.contains("203.0.113.7:51234 login alice"), "{login}");

    // v2, arriving a few bytes at a time.
    let mut bob = Client::connect(server.addr);
    let header = proxy_v2("198.51.100.5:6000".parse().unwrap(), server.addr);
    for piece in header.chunks(3) {
        bob.send_raw(piece);
        thread::sleep(Duration::from_millis(2));
    }
    bob.send("LOGIN bob");
    bob.expect("OK");
    alice.expect("INFO bob connected");
    let login = server.log_containing("login bob");
    assert!(login.contains("198.51.100.5:6000 login bob"), "{login}");

    // A health check (v2 LOCAL) is the proxy's own connection.
    let mut check = Client::connect(server.addr);
    let local = check.stream.local_addr().unwrap();
    check.send_raw(b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00PING hc\n");
    check.expect("PONG hc");
    let connect = server.log_containing("connect via proxy");
    assert!(
        connect.contains(&format!("{local} connect via proxy {local}")),
        "{connect}"
    );
}

#[test]
fn without_a_valid_header_a_proxy_listener_closes_the_connection() {
    let mut server = Running::start(&["--proxy-protocol", "lines"]);
    for (sent, why) in [
        (&b"LOGIN alice\n"[..], "does not start with a PROXY header"),
        (b"PROXY TCP4 203.0.113.7 nowhere 1 2\r\n", "not IPv4"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "CRLF"),
    ] {
        let mut c = Client::connect(server.addr);
        c.send_raw(sent);
        closed_without_a_word(c.stream);
        let refused = server.log_containing("refused: no valid PROXY header");
        assert!(refused.contains(why), "{refused}");
    }
    // Silence: refused once the header's 5 seconds are up.
    let silent = TcpStream::connect(server.addr).unwrap();
    closed_without_a_word(silent);
    server.log_containing("no whole PROXY header in time");
    // Users behind the proxy are still served.
    let mut ok = Client::connect_as(server.addr, "203.0.113.9:1");
    ok.expect_nothing_pending();
}

#[test]
fn only_trusted_proxies_may_send_a_header_or_x_forwarded_for() {
    let web = free_port();
    let mut server = Running::start(&[
        "--proxy-protocol",
        "lines",
        "--trusted-proxy",
        "10.0.0.0/8,2001:db8::/32",
        "--web-port",
        &web.to_string(),
    ]);
    let forger = Client::connect_as(server.addr, "203.0.113.7:1");
    closed_without_a_word(forger.stream);
    server.log_containing("refused: not a trusted proxy");
    // On the web port loopback is not a proxy either: its X-Forwarded-For
    // is not believed.
    let mut ws = Ws::connect_with(
        ([127, 0, 0, 1], web).into(),
        "X-Forwarded-For: 203.0.113.7\r\n",
    );
    let own = ws.stream.local_addr().unwrap();
    ws.send("LOGIN carol");
    ws.expect("OK");
    let login = server.log_containing("login carol");
    assert!(login.contains(&format!("{own} login carol")), "{login}");
}

#[test]
fn a_trusted_proxys_x_forwarded_for_names_the_websocket_client() {
    let web = free_port();
    let mut server = Running::start(&["--web-port", &web.to_string()]);
    let web: SocketAddr = ([127, 0, 0, 1], web).into();
    // What nginx sends: the client's own header first, then the address
    // it saw (here with its port, as README's configuration has it).
    let mut ws = Ws::connect_with(web, "X-Forwarded-For: 192.0.2.1, 198.51.100.23:4242\r\n");
    let proxy = ws.stream.local_addr().unwrap();
    ws.send("LOGIN dana");
    ws.expect("OK");
    let forwarded = server.log_containing("forwarded by proxy");
    assert!(
        forwarded.contains(&format!("198.51.100.23:4242 forwarded by proxy {proxy}")),
        "{forwarded}"
    );
    let login = server.log_containing("login dana");
    assert!(login.contains("198.51.100.23:4242 login dana"), "{login}");
}

#[test]
fn the_web_port_can_require_the_header_too() {
    let web = free_port();
    let mut server = Running::start(&["--proxy-protocol", "web", "--web-port", &web.to_string()]);
    let web: SocketAddr = ([127, 0, 0, 1], web).into();
    let mut stream = TcpStream::connect(web).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    std::io::Write::write_all(
        &mut stream,
        &proxy_v2("203.0.113.50:7777".parse().unwrap(), web),
    )
    .unwrap();
    let mut ws = Ws::handshake(stream, "");
    ws.send("LOGIN erin");
    ws.expect("OK");
    let login = server.log_containing("login erin");
    assert!(login.contains("203.0.113.50:7777 login erin"), "{login}");
    // The line port does not require it.
    let mut direct = Client::login(server.addr, "frank");
    direct.expect_nothing_pending();
}
