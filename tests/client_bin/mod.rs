//! `chat-client` run for real with piped standard input and output: started,
//! typed to, read line by line, waited for; killed if a test fails first.
#![allow(dead_code)] // each client test file uses its own subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::common::PATIENCE;

pub const BIN: &str = env!("CARGO_BIN_EXE_chat-client");

/// A running `chat-client`, killed if a test fails before it exits.
pub struct Running {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

/// How a client run ended: exit status, the lines not yet read, standard error.
pub struct Ended {
    pub code: i32,
    pub rest: Vec<String>,
    pub stderr: String,
}

impl Running {
    /// Starts the client against `addr` with `args`, and with `env` set.
    pub fn start(addr: SocketAddr, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut child = Command::new(BIN)
            .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chat-client");
        let (lines, stdout) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        Running {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr: Some(stderr),
        }
    }

    /// Types one line.
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// The next line shown; fails the test if none comes in time.
    pub fn line(&mut self) -> String {
        self.stdout
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|err| panic!("no line from the client: {err}"))
    }

    /// Ends the input (Ctrl-D) and waits for the client to exit.
    pub fn close_input_and_wait(&mut self) -> Ended {
        self.stdin = None;
        self.wait()
    }

    /// Waits for the client to exit by itself.
    pub fn wait(&mut self) -> Ended {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the client did not exit");
            thread::sleep(Duration::from_millis(20));
        };
        let stderr = self.stderr.take().expect("waited once").join().unwrap();
        // The client has exited; its last lines may still be on their way
        // through the reading thread, which hangs up at the end of the pipe.
        let mut rest = Vec::new();
        while let Ok(line) = self.stdout.recv_timeout(PATIENCE) {
            rest.push(line);
        }
        Ended {
            code: status.code().unwrap_or(-1),
            rest,
            stderr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the client with all of `input` piped in, to its exit.
pub fn script(addr: SocketAddr, args: &[&str], input: &str) -> Ended {
    let mut client = Running::start(addr, args, &[]);
    // A client that already left (a refused name) no longer reads.
    let _ = client.stdin.as_mut().unwrap().write_all(input.as_bytes());
    client.close_input_and_wait()
}

/// The line with its `[HH:MM:SS]` time replaced by `[t]`, checking its format.
pub fn untimed(line: &str) -> String {
    match line.strip_prefix('[') {
        Some(rest) => {
            let (time, text) = rest.split_once("] ").expect("a timestamp");
            assert!(time_of_day(time) < 24 * 3600, "{line}");
            format!("[t] {text}")
        }
        None => line.to_string(),
    }
}

/// Seconds since midnight of an `HH:MM:SS` time, checking its format.
pub fn time_of_day(time: &str) -> u32 {
    let parts: Vec<u32> = time.split(':').map(|p| p.parse().unwrap()).collect();
    assert!(
        time.len() == 8 && parts.len() == 3 && parts[1] < 60 && parts[2] <= 60,
        "not a time: {time:?}"
    );
    parts[0] * 3600 + parts[1] * 60 + parts[2]
}
