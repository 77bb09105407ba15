//! A minimal WebSocket client for the tests, written from RFC 6455 by hand
//! (masked client frames, server frames read back), independently of the
//! server's own `src/front/web/websocket.rs`. It runs over any byte stream:
//! a `TcpStream`, or the pipes of an `openssl s_client` talking TLS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use super::PATIENCE;

/// A frame from the server: opcode and payload.
pub type Frame = (u8, Vec<u8>);

/// A WebSocket client connection.
pub struct Ws<S: Read + Write = TcpStream> {
    pub stream: S,
}

impl Ws<TcpStream> {
    /// Connects to a web listener and completes the handshake.
    pub fn connect(addr: SocketAddr) -> Ws<TcpStream> {
        Ws::connect_with(addr, "")
    }

    /// Like [`Ws::connect`], with extra request header lines (each ending
    /// in `\r\n`).
    pub fn connect_with(addr: SocketAddr, headers: &str) -> Ws<TcpStream> {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        Ws::handshake(stream, headers)
    }
}

impl<S: Read + Write> Ws<S> {
    /// Sends the opening handshake over `stream` and checks the answer.
    pub fn handshake(mut stream: S, headers: &str) -> Ws<S> {
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n{headers}\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        stream.flush().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).expect("handshake answer");
            head.push(byte[0]);
            assert!(head.len() < 16 * 1024, "no end of the answer's head");
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        // The accept key from RFC 6455's own example (header names are
        // case-insensitive; HAProxy, for one, writes them in lower case).
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
            "{head}"
        );
        Ws { stream }
    }

    /// Sends one frame, masked as a client must (or not, to break the rules).
    pub fn send_frame(&mut self, first_byte: u8, payload: &[u8], masked: bool) {
        let _ = self.stream.write_all(&frame(first_byte, payload, masked));
        let _ = self.stream.flush();
    }

    pub fn send(&mut self, line: &str) {
        self.send_frame(0x81, line.as_bytes(), true);
    }

    pub fn frame(&mut self) -> Frame {
        let mut head = [0u8; 2];
        self.stream.read_exact(&mut head).expect("a frame header");
        assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
        let len = match head[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                self.stream.read_exact(&mut b).unwrap();
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                self.stream.read_exact(&mut b).unwrap();
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        self.stream.read_exact(&mut payload).unwrap();
        (head[0] & 0x0f, payload)
    }

    /// The next text frame, as a line.
    pub fn line(&mut self) -> String {
        let (opcode, payload) = self.frame();
        assert_eq!(opcode, 1, "a text frame, got {payload:?}");
        String::from_utf8(payload).unwrap()
    }

    pub fn expect(&mut self, want: &str) {
        assert_eq!(self.line(), want);
    }

    /// Reads up to the close frame and returns its status.
    pub fn close_status(&mut self) -> u16 {
        for _ in 0..10_000 {
            let (opcode, payload) = self.frame();
            if opcode == 8 {
                assert!(payload.len() >= 2, "close frame with a status");
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
        panic!("no close frame in 10,000 frames");
    }
}

/// One client frame: `first_byte` (FIN and opcode), then the payload,
/// masked or not.
pub fn frame(first_byte: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut frame = vec![first_byte];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => frame.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let key = [0x37, 0xfa, 0x21, 0x3d];
    if masked {
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        frame.extend_from_slice(payload);
    }
    frame
}

/// A text frame carrying `line`, as a browser sends it.
pub fn text_frame(line: &str) -> Vec<u8> {
    frame(0x81, line.as_bytes(), true)
}
