//! The web listener over real sockets: WebSocket users are full users of the
//! same room as line-protocol users, broken frames close with the right status
//! and free the name, and plain HTTP gets correct answers, never a hang.
//!
//! The WebSocket client (`common::ws`) is written from RFC 6455 by hand
//! (masked client frames, server frames read back), independently of the
//! server's.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use chat::server::{Config, Server};
use common::ws::Ws;
use common::{start_web, Client, PATIENCE};

/// Sends a raw HTTP request and returns the whole response (the server closes).
fn http(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

#[test]
fn websocket_and_tcp_users_share_one_room() {
    let server = start_web();
    let web = server.web_addr().expect("web listener");
    let mut tcp = Client::login(server.addr(), "tcpuser");
    let mut ws = Ws::connect(web);
    ws.send("LOGIN webby");
    ws.expect("OK");
    tcp.expect("INFO webby connected");
    ws.send("MSG hello from the browser");
    ws.expect("MSG webby hello from the browser");
    tcp.expect("MSG webby hello from the browser");
    tcp.send("MSG hi web");
    tcp.expect("MSG tcpuser hi web");
    ws.expect("MSG tcpuser hi web");
    tcp.send("DM WEBBY psst");
    ws.expect("DM tcpuser psst");
    ws.send("DM tcpuser back at you");
    tcp.expect("DM webby back at you");
    ws.send("WHO");
    ws.expect("USER tcpuser");
    ws.expect("USER webby");
    // Browser pings are answered and count as activity.
    ws.send_frame(0x89, b"are you there", true);
    assert_eq!(ws.frame(), (0xA, b"are you there".to_vec()));
    ws.send("QUIT");
    ws.expect("BYE");
    assert_eq!(ws.close_status(), 1000);
    tcp.expect("INFO webby disconnected");
    tcp.expect_nothing_pending();
}

/// A way of breaking the framing rules.
type Breakage = Box<dyn Fn(&mut Ws)>;

#[test]
fn broken_frames_close_with_the_right_status_and_free_the_name() {
    let server = start_web();
    let web = server.web_addr().unwrap();
    let mut tcp = Client::login(server.addr(), "watcher");
    let cases: [(&str, Breakage, u16); 5] = [
        (
            "unmasked",
            Box::new(|ws| ws.send_frame(0x81, b"MSG hi", false)),
            1002,
        ),
        (
            "unknown opcode",
            Box::new(|ws| ws.send_frame(0x83, b"", true)),
            1002,
        ),
        (
            "control frame over 125 bytes",
            Box::new(|ws| ws.send_frame(0x89, &[b'p'; 200], true)),
            1002,
        ),
        (
            "invalid UTF-8",
            Box::new(|ws| ws.send_frame(0x81, b"MSG caf\xe9", true)),
            1007,
        ),
        (
            "over the line limit",
            Box::new(|ws| ws.send_frame(0x81, &[b'x'; 5000], true)),
            1009,
        ),
    ];
    for (what, break_it, status) in cases {
        let mut ws = Ws::connect(web);
        ws.send("LOGIN breaker");
        ws.expect("OK");
        tcp.expect("INFO breaker connected");
        break_it(&mut ws);
        assert_eq!(ws.close_status(), status, "{what}");
        tcp.expect("INFO breaker disconnected");
    }
    tcp.expect_nothing_pending();
}

#[test]
fn plain_http_gets_proper_answers() {
    let server = start_web();
    let web = server.web_addr().unwrap();
    let page = http(web, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200"), "{page:.200}");
    assert!(page.contains("text/html"), "{page:.300}");
    assert!(page.contains("<html"), "the page itself");
    let missing = http(web, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let post = http(
        web,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    assert!(post.contains("Allow: GET"), "{post}");
    let not_upgrade = http(web, b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(not_upgrade.starts_with("HTTP/1.1 400"), "{not_upgrade}");
    let garbage = http(web, b"\x16\x03\x01 hello?\r\n\r\n");
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    let mut huge = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..200 {
        huge.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "y".repeat(60)).as_bytes());
    }
    huge.extend_from_slice(b"\r\n");
    let too_big = http(web, &huge);
    assert!(too_big.starts_with("HTTP/1.1 431"), "{too_big:.100}");
}

#[test]
fn browser_pings_keep_a_websocket_user_alive() {
    let server = Server::bind(Config {
        idle_timeout: std::time::Duration::from_millis(1000),
        ..common::web_config()
    })
    .unwrap();
    let mut pinging = Ws::connect(server.web_addr().unwrap());
    let mut silent = Ws::connect(server.web_addr().unwrap());
    for _ in 0..8 {
        std::thread::sleep(std::time::Duration::from_millis(300));
        pinging.send_frame(0x89, b"hb", true);
        assert_eq!(pinging.frame(), (0xA, b"hb".to_vec()));
    }
    // 2.4 s later the pinging user is still served; the silent one is gone.
    silent.expect("BYE idle-timeout");
    assert_eq!(silent.close_status(), 1000);
    pinging.send("PING still");
    pinging.expect("PONG still");
}

#[test]
fn a_broken_frame_is_logged_with_its_close_status() {
    // The CLI has no "pick a free web port": find one (nobody else takes
    // loopback ports from under a test here).
    let web = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|free| free.local_addr())
        .unwrap();
    let mut server = common::Running::start(&["--web-port", &web.port().to_string()]);
    let listening = server.next_log();
    assert!(
        listening.contains(&format!("listening on {web}")),
        "{listening}"
    );
    let mut ws = Ws::connect(web);
    ws.send_frame(0x81, b"MSG hi", false);
    assert_eq!(ws.close_status(), 1002);
    let left = server.log_containing(" left ");
    assert!(
        left.ends_with("left (not logged in): websocket protocol violation (close 1002)"),
        "{left}"
    );
}
