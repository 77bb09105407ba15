//! IRC users among the other fronts' users, over real sockets: each sees the
//! others in its own protocol, both ways; a room has one order whatever the
//! fronts; history reaches IRC clients marked or timed; long messages are
//! split for them; and a slow IRC reader is dropped without slowing anybody.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::irc::{self, Irc, SERVER};
use common::ws::{self, Ws};
use common::{Client, PATIENCE};

#[test]
fn the_cross_front_table_both_ways() {
    let server = irc::start_with(|config| config.web_addr = Some("127.0.0.1:0".parse().unwrap()));
    let mut nc = Client::login(server.addr(), "nc");
    let mut web = Ws::connect(server.web_addr().unwrap());
    web.send("LOGIN web");
    web.expect("OK");
    nc.expect("INFO web connected");
    let (mut ircy, welcome) = Irc::register(irc::addr(&server), "ircy");
    assert!(
        welcome.contains(&format!(":{SERVER} 353 ircy = #lobby :ircy nc web")),
        "{welcome:#?}"
    );
    nc.expect("INFO ircy connected");
    web.expect("INFO ircy connected");

    nc.send("JOIN #rust");
    nc.expect("JOIN #rust nc");
    nc.expect("HISTORY #rust 0");
    web.send("JOIN #rust");
    web.expect("JOIN #rust web");
    web.expect("HISTORY #rust 0");
    nc.expect("JOIN #rust web");
    ircy.send("JOIN #rust");
    ircy.expect(":ircy!~uircy@irc JOIN #rust");
    ircy.expect(&format!(":{SERVER} 353 ircy = #rust :ircy nc web"));
    ircy.expect(&format!(":{SERVER} 366 ircy #rust :End of /NAMES list"));
    nc.expect("JOIN #rust ircy");
    web.expect("JOIN #rust ircy");

    // Room messages, from each front to the two others.
    nc.send("MSG #rust hi from nc");
    nc.expect("MSG #rust nc hi from nc");
    web.expect("MSG #rust nc hi from nc");
    ircy.expect(":nc!nc@chat PRIVMSG #rust :hi from nc");
    web.send("MSG #rust hi from the browser");
    web.expect("MSG #rust web hi from the browser");
    nc.expect("MSG #rust web hi from the browser");
    ircy.expect(":web!web@chat PRIVMSG #rust :hi from the browser");
    ircy.send("PRIVMSG #rust :hi from irssi");
    nc.expect("MSG #rust ircy hi from irssi");
    web.expect("MSG #rust ircy hi from irssi");
    // The lobby, in the v1 form for the line users.
    nc.send("MSG lobby talk");
    nc.expect("MSG nc lobby talk");
    web.expect("MSG nc lobby talk");
    ircy.expect(":nc!nc@chat PRIVMSG #lobby :lobby talk");
    ircy.send("PRIVMSG #lobby :#rust is where it happens");
    nc.expect("MSG ircy #rust is where it happens");
    web.expect("MSG ircy #rust is where it happens");
    // DMs both ways.
    ircy.send("PRIVMSG nc :psst");
    nc.expect("DM ircy psst");
    ircy.send("NOTICE web :quietly");
    web.expect("DM ircy quietly");
    nc.send("DM ircy back at you");
    ircy.expect(":nc!nc@chat PRIVMSG ircy :back at you");
    web.send("DM IRCY from the page");
    ircy.expect(":web!web@chat PRIVMSG ircy :from the page");
    // Actions both ways, and formatting that would only show as U+FFFD.
    ircy.send("PRIVMSG #rust :\x01ACTION waves\x01");
    nc.expect("MSG #rust ircy /me waves");
    web.expect("MSG #rust ircy /me waves");
    nc.send("MSG #rust /me nods");
    nc.expect("MSG #rust nc /me nods");
    web.expect("MSG #rust nc /me nods");
    ircy.expect(":nc!nc@chat PRIVMSG #rust :\x01ACTION nods\x01");
    ircy.send("PRIVMSG #rust :\x02bold\x02 and \x0304red\x03");
    nc.expect("MSG #rust ircy bold and red");
    web.expect("MSG #rust ircy bold and red");

    // WHO in each front lists all three.
    nc.send("WHO #rust");
    for name in ["ircy", "nc", "web"] {
        nc.expect(&format!("USER {name}"));
    }
    web.send("WHO");
    for name in ["ircy", "nc", "web"] {
        web.expect(&format!("USER {name}"));
    }
    ircy.send("WHO #rust");
    let who = ircy.sync();
    let nicks: Vec<&str> = who
        .iter()
        .filter(|line| line.contains(" 352 "))
        .filter_map(|line| line.split(' ').nth(7))
        .collect();
    assert_eq!(nicks, ["ircy", "nc", "web"], "{who:#?}");

    // Parts and quits: the reason reaches IRC users, line users see theirs.
    nc.send("PART #rust");
    nc.expect("PART #rust nc");
    web.expect("PART #rust nc");
    ircy.expect(":nc!nc@chat PART #rust");
    ircy.send("PART #rust :off to lunch");
    ircy.expect(":ircy!~uircy@irc PART #rust :off to lunch");
    web.expect("PART #rust ircy");
    drop(web);
    nc.expect("INFO web disconnected");
    ircy.expect(":web!web@chat QUIT :Disconnected");
    ircy.send("QUIT :bye all");
    nc.expect("INFO ircy disconnected");
    nc.expect_nothing_pending();
}

#[test]
fn two_irc_users_see_each_other_as_irc_users() {
    let server = irc::start_with(|_| {});
    let addr = irc::addr(&server);
    let mut foo = Irc::join_server(addr, "foo");
    let mut bar = Irc::join_server(addr, "bar");
    foo.expect(":bar!~ubar@irc JOIN #lobby");
    for irc in [&mut foo, &mut bar] {
        irc.send("JOIN #chan");
        irc.until(" 366 ");
    }
    foo.expect(":bar!~ubar@irc JOIN #chan");
    bar.send("QUIT :qux out");
    foo.expect(":bar!~ubar@irc QUIT :Quit: qux out");
}

/// The room lines one member saw, as `(from, text)`.
type Said = Vec<(String, String)>;

/// `(from, text)` of a line-protocol message in `#order`.
fn order_message(line: &str) -> Option<(String, String)> {
    let (from, text) = line.strip_prefix("MSG #order ")?.split_once(' ')?;
    Some((from.to_string(), text.to_string()))
}

/// A room member on threads of its own: one sends `burst` on `out`, the
/// other collects `want` room messages with `listen` (`None` for any other
/// line) and reports them as `name`'s.
fn member(
    name: String,
    mut out: TcpStream,
    burst: Vec<u8>,
    mut listen: impl FnMut() -> Option<(String, String)> + Send + 'static,
    want: usize,
    done: mpsc::Sender<(String, Said)>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut said = Said::new();
        while said.len() < want {
            said.extend(listen());
        }
        let _ = done.send((name, said));
    });
    thread::spawn(move || out.write_all(&burst).unwrap())
}

#[test]
fn one_order_per_room_across_fronts() {
    const EACH: usize = 200;
    let server = irc::start_with(|config| config.web_addr = Some("127.0.0.1:0".parse().unwrap()));
    let irc_addr = irc::addr(&server);
    let mut browser = Ws::connect(server.web_addr().unwrap());
    browser.send("LOGIN w1");
    browser.expect("OK");
    browser.send("JOIN #order");
    browser.expect("JOIN #order w1");
    browser.expect("HISTORY #order 0");
    let mut lines: Vec<Client> = ["l1", "l2"]
        .iter()
        .map(|n| Client::login(server.addr(), n))
        .collect();
    let mut ircs: Vec<Irc> = ["i1", "i2"]
        .iter()
        .map(|n| Irc::join_server(irc_addr, n))
        .collect();
    // Everybody is in before anybody speaks; the readers keep only the
    // room's messages.
    for line in &mut lines {
        line.send("JOIN #order");
        line.skip_until("HISTORY #order 0", std::time::Instant::now() + PATIENCE);
    }
    for irc in &mut ircs {
        irc.send("JOIN #order");
        irc.until(" 366 ");
    }
    let total = EACH * 5;
    let (done, results) = mpsc::channel::<(String, Said)>();
    let mut senders = Vec::new();
    for (i, mut line) in lines.into_iter().enumerate() {
        let name = format!("l{}", i + 1);
        let burst = (0..EACH)
            .map(|n| format!("MSG #order {name} {n}\n"))
            .collect::<String>()
            .into_bytes();
        let out = line.stream.try_clone().unwrap();
        let listen = move || order_message(&line.line());
        senders.push(member(name, out, burst, listen, total, done.clone()));
    }
    for (i, mut irc) in ircs.into_iter().enumerate() {
        let name = format!("i{}", i + 1);
        let burst = (0..EACH)
            .map(|n| format!("PRIVMSG #order :{name} {n}\r\n"))
            .collect::<String>()
            .into_bytes();
        let out = irc.stream.try_clone().unwrap();
        let listen = move || {
            let got = irc.line();
            let (head, text) = got.split_once(" PRIVMSG #order :")?;
            let from = head.trim_start_matches(':').split('!').next()?;
            Some((from.to_string(), text.to_string()))
        };
        // Its own messages are not sent back to an IRC client.
        senders.push(member(name, out, burst, listen, total - EACH, done.clone()));
    }
    let burst = (0..EACH)
        .flat_map(|n| ws::text_frame(&format!("MSG #order w1 {n}")))
        .collect();
    let out = browser.stream.try_clone().unwrap();
    let listen = move || order_message(&browser.line());
    senders.push(member("w1".into(), out, burst, listen, total, done));
    for sender in senders {
        sender.join().unwrap();
    }
    let mut seen: Vec<(String, Said)> = (0..5)
        .map(|_| {
            results
                .recv_timeout(PATIENCE * 3)
                .expect("every member got every message")
        })
        .collect();
    seen.sort();
    // A line or WebSocket user sees everything, its own messages included.
    let reference = seen.iter().find(|(who, _)| who == "l1").unwrap().1.clone();
    assert_eq!(reference.len(), total);
    for (who, said) in &seen {
        let expected: Said = reference
            .iter()
            .filter(|(from, _)| from != who || !who.starts_with('i'))
            .cloned()
            .collect();
        assert_eq!(said, &expected, "{who} saw the room in another order");
    }
}

#[test]
fn history_reaches_irc_clients_marked_or_with_server_time() {
    let server = irc::start_with(|_| {});
    let mut nc = Client::login(server.addr(), "nc");
    nc.send("JOIN #rust");
    nc.expect("JOIN #rust nc");
    nc.expect("HISTORY #rust 0");
    for text in ["anyone here?", "the build is green"] {
        nc.send(&format!("MSG #rust {text}"));
        nc.expect(&format!("MSG #rust nc {text}"));
    }
    let addr = irc::addr(&server);
    let mut plain = Irc::join_server(addr, "plain");
    plain.send("JOIN #rust");
    let joined = plain.until(" 366 plain #rust ");
    assert_eq!(joined[0], ":plain!~uplain@irc JOIN #rust");
    for (line, text) in joined[1..3]
        .iter()
        .zip(["anyone here?", "the build is green"])
    {
        let (head, marked) = line.split_once(" :[history ").expect("marked as history");
        assert_eq!(head, ":nc!nc@chat NOTICE #rust");
        // `2026-12-01 18:04:05 UTC] text`
        let (time, said) = marked.split_once("] ").unwrap();
        assert!(time.ends_with(" UTC") && time.len() == 23, "{time}");
        assert_eq!(said, text);
    }

    let mut timed = Irc::connect(addr);
    timed.send("CAP LS 302");
    timed.send("CAP REQ :server-time");
    timed.send("NICK timed");
    timed.send("USER t 0 * :T");
    timed.send("CAP END");
    timed.nick = "timed".into();
    let welcome = timed.until(" 366 timed #lobby ");
    assert!(welcome.contains(&format!(":{SERVER} CAP * ACK :server-time")));
    let auto_join = welcome
        .iter()
        .find(|line| line.contains(" JOIN #lobby"))
        .unwrap();
    assert!(auto_join.starts_with("@time=") && auto_join.ends_with(" :timed!~t@irc JOIN #lobby"));
    timed.send("JOIN #rust");
    let joined = timed.until(" 366 timed #rust ");
    let history: Vec<&String> = joined
        .iter()
        .filter(|line| line.contains(" PRIVMSG #rust :"))
        .collect();
    assert_eq!(history.len(), 2, "{joined:#?}");
    for (line, text) in history.iter().zip(["anyone here?", "the build is green"]) {
        let (tag, rest) = line.split_once(' ').unwrap();
        let time = tag.strip_prefix("@time=").expect("a time tag");
        assert!(common::is_rfc3339_millis(time), "{time}");
        assert_eq!(rest, format!(":nc!nc@chat PRIVMSG #rust :{text}"));
    }
    // Live lines carry the time too.
    nc.send("MSG #rust now");
    let live = timed.line();
    assert!(
        live.starts_with("@time=") && live.ends_with(" :nc!nc@chat PRIVMSG #rust :now"),
        "{live}"
    );
}

#[test]
fn long_messages_from_other_fronts_are_split_on_character_boundaries() {
    let server = irc::start_with(|_| {});
    let mut nc = Client::login(server.addr(), "nc");
    let mut ircy = Irc::join_server(irc::addr(&server), "ircy");
    nc.expect("INFO ircy connected");
    let text: String = "né 🌍 ".repeat(300);
    let text = text.trim_end();
    nc.send(&format!("MSG {text}"));
    let mut joined = String::new();
    let mut pieces = 0;
    while joined.len() < text.len() {
        let line = ircy.line();
        let piece = line
            .strip_prefix(":nc!nc@chat PRIVMSG #lobby :")
            .expect("a piece");
        joined.push_str(piece);
        pieces += 1;
        assert!(pieces < 20);
    }
    assert!(pieces > 1);
    assert_eq!(joined, text);
}

#[test]
fn a_slow_irc_reader_is_dropped_without_slowing_anybody() {
    const SIZE: usize = 1000;
    const MAX_MESSAGES: usize = 30_000;
    let server = irc::start_with(|config| {
        config.max_backlog = 256 * 1024;
        // Long enough that the stalled socket is still there to read the ERROR.
        config.write_stall_limit = Duration::from_secs(60);
    });
    let addr = irc::addr(&server);
    let mut slow = Irc::join_server(addr, "slow");
    // Never read from `slow` again, until the end.
    let mut fast = Irc::join_server(addr, "fast");
    let mut sender = Client::login(server.addr(), "sender");
    fast.expect(":sender!sender@chat JOIN #lobby");
    let (dropped_tx, dropped) = mpsc::channel();
    let reading = thread::spawn(move || {
        let mut messages = 0;
        loop {
            let line = fast.line();
            if line == ":slow!~uslow@irc QUIT :Disconnected" {
                let _ = dropped_tx.send(());
                return (messages, fast);
            }
            assert!(
                line.starts_with(":sender!sender@chat PRIVMSG #lobby :"),
                "{line}"
            );
            messages += 1;
        }
    });
    let padding = "p".repeat(SIZE - 20);
    let mut sent = 0;
    let mut out = sender.stream.try_clone().unwrap();
    let mut echoes = 0;
    while dropped.try_recv().is_err() {
        assert!(sent < MAX_MESSAGES, "the slow reader was never dropped");
        let batch: String = (sent..sent + 100)
            .map(|n| format!("MSG {n} {padding}\n"))
            .collect();
        out.write_all(batch.as_bytes()).unwrap();
        sent += 100;
        // The sender reads its echoes as it goes, so it never stalls itself.
        while echoes < sent - 50 {
            let line = sender.line();
            if line.starts_with("MSG sender ") {
                echoes += 1;
            }
        }
    }
    let (messages, _fast) = reading
        .join()
        .expect("the fast reader got everything in order");
    assert!(messages > 0);
    // The slow client, reading at last, finds the reason after what it had.
    let rest = slow.read_to_close();
    assert!(
        rest.ends_with("ERROR :Closing Link: 127.0.0.1 (too slow)\r\n"),
        "{:?}",
        &rest[rest.len().saturating_sub(200)..]
    );
}
