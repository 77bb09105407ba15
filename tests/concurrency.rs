//! Many clients at once: every broadcast reaches every user exactly once and
//! in one order, a thousand concurrent users are served, and a client whose
//! socket keeps up costs the server one thread.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{start, Client, Running, PATIENCE};

#[test]
fn twenty_senders_everyone_gets_all_4000_once_in_one_order() {
    const CLIENTS: usize = 20;
    const EACH: usize = 200;
    let server = start();
    let addr = server.addr();
    let mut clients: Vec<Client> = (0..CLIENTS)
        .map(|i| Client::login(addr, &format!("c{i}")))
        .collect();
    // Each client first sees the join notices of everybody after it.
    for (i, client) in clients.iter_mut().enumerate() {
        for j in (i + 1)..CLIENTS {
            client.expect(&format!("INFO c{j} connected"));
        }
    }
    // Nobody leaves before everybody has checked that nothing else arrived.
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut writer = client.stream.try_clone().unwrap();
                let sender = thread::spawn(move || {
                    use std::io::Write;
                    let batch: String = (0..EACH).map(|n| format!("MSG {i}:{n}\n")).collect();
                    writer.write_all(batch.as_bytes()).unwrap();
                });
                let received: Vec<String> = (0..CLIENTS * EACH).map(|_| client.line()).collect();
                sender.join().unwrap();
                barrier.wait();
                client.expect_nothing_pending();
                barrier.wait();
                received
            })
        })
        .collect();
    let all: Vec<Vec<String>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let reference = &all[0];
    let mut sorted = reference.clone();
    sorted.sort();
    let mut expected: Vec<String> = (0..CLIENTS)
        .flat_map(|i| (0..EACH).map(move |n| format!("MSG c{i} {i}:{n}")))
        .collect();
    expected.sort();
    assert_eq!(sorted, expected, "every message exactly once");
    for (i, received) in all.iter().enumerate() {
        assert!(received == reference, "client {i} saw a different order");
    }
}

#[test]
fn a_thousand_users_who_and_broadcast() {
    const USERS: usize = 1000;
    let server = start();
    let addr = server.addr();
    let mut users: Vec<Client> = (0..USERS)
        .map(|i| Client::login(addr, &format!("u{i:04}")))
        .collect();
    // Everybody sees the join notices of those who came after them.
    for (i, user) in users.iter_mut().enumerate() {
        for j in (i + 1)..USERS {
            user.expect(&format!("INFO u{j:04} connected"));
        }
    }
    users[0].send("WHO");
    for i in 0..USERS {
        users[0].expect(&format!("USER u{i:04}"));
    }
    users[USERS - 1].send("MSG hello thousand");
    for user in users.iter_mut() {
        user.expect("MSG u0999 hello thousand");
    }
}

#[test]
fn a_client_that_keeps_up_costs_one_thread() {
    const CLIENTS: usize = 50;
    let server = Running::start(&["--quiet"]);
    // Counted with one client in, so that the server has finished starting.
    let mut clients = vec![Client::login(server.addr, "t0")];
    let before = server.status_kb("Threads") - 1;
    clients.extend((1..CLIENTS).map(|i| Client::login(server.addr, &format!("t{i}"))));
    for client in &mut clients {
        client.send("MSG hello");
    }
    // Everybody hears all fifty, so every outbox has been written out.
    for client in &mut clients {
        let mut heard = 0;
        while heard < CLIENTS {
            if client.line().starts_with("MSG ") {
                heard += 1;
            }
        }
    }
    // A writer thread may have helped with a busy moment; once everything is
    // written there is one session thread per client and nothing else.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let threads = server.status_kb("Threads");
        if threads == before + CLIENTS as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{threads} threads for {CLIENTS} clients (before: {before})"
        );
        thread::sleep(Duration::from_millis(20));
    }
}
