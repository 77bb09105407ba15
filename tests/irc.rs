//! The IRC front over real sockets, once registered: every command it
//! answers and its errors, pings both ways, the input limit, the flood
//! limit, a full server, random lines. (Registration: `irc_registration.rs`;
//! what IRC users and the other fronts see of each other: `irc_fronts.rs`; a
//! real client: `irc_irssi.rs`.)

mod common;

use chat::support::rng::Rng;

use std::time::Duration;

use common::irc::{self, from_server, Irc};
use common::Client;

#[test]
fn join_part_messages_and_names() {
    let server = irc::start_with(|_| {});
    let addr = irc::addr(&server);
    let mut alice = Irc::join_server(addr, "alice");
    let mut bob = Irc::join_server(addr, "bob");
    alice.expect(":bob!~ubob@irc JOIN #lobby");
    alice.send("JOIN #a,#b");
    for room in ["#a", "#b"] {
        // The JOIN, the names, and no 331.
        alice.expect(&format!(":alice!~ualice@irc JOIN {room}"));
        alice.expect(&from_server(&format!("353 alice = {room} :alice")));
        alice.expect(&from_server(&format!(
            "366 alice {room} :End of /NAMES list"
        )));
    }
    bob.send("JOIN #A");
    bob.expect(":bob!~ubob@irc JOIN #a");
    bob.expect(&from_server("353 bob = #a :alice bob"));
    bob.expect(&from_server("366 bob #a :End of /NAMES list"));
    alice.expect(":bob!~ubob@irc JOIN #a");

    alice.send("PRIVMSG #a :hello there");
    bob.expect(":alice!~ualice@irc PRIVMSG #a :hello there");
    alice.send("NOTICE #a :a notice");
    bob.expect(":alice!~ualice@irc NOTICE #a :a notice");
    alice.send("PRIVMSG bob :psst");
    bob.expect(":alice!~ualice@irc PRIVMSG bob :psst");
    alice.send("NOTICE bob :quietly");
    bob.expect(":alice!~ualice@irc NOTICE bob :quietly");
    alice.send("PRIVMSG #lobby :to everybody");
    bob.expect(":alice!~ualice@irc PRIVMSG #lobby :to everybody");
    alice.send("PRIVMSG #a,bob :both");
    bob.expect(":alice!~ualice@irc PRIVMSG #a :both");
    bob.expect(":alice!~ualice@irc PRIVMSG bob :both");
    // A client is not sent its own messages back.
    alice.expect_nothing_pending();

    alice.send("NAMES #A");
    alice.expect(&from_server("353 alice = #a :alice bob"));
    alice.expect(&from_server("366 alice #A :End of /NAMES list"));
    for nothing in ["#nowhere", "invalid"] {
        alice.send(&format!("NAMES {nothing}"));
        alice.expect(&from_server(&format!(
            "366 alice {nothing} :End of /NAMES list"
        )));
    }

    bob.send("PART #a :see you");
    bob.expect(":bob!~ubob@irc PART #a :see you");
    alice.expect(":bob!~ubob@irc PART #a :see you");
    alice.send("PART #b");
    alice.expect(":alice!~ualice@irc PART #b");
    alice.send("PART #lobby");
    alice.expect(&from_server(
        "NOTICE alice :You cannot leave #lobby: every user is in it",
    ));
    // Joining where one is already: nothing to say.
    alice.send("JOIN #lobby");
    alice.send("JOIN #a");
    alice.expect_nothing_pending();
    alice.send("JOIN 0");
    alice.expect(":alice!~ualice@irc PART #a");
    bob.expect_nothing_pending();
}

#[test]
fn who_whois_list_topic_and_mode() {
    let server = irc::start_with(|_| {});
    let addr = irc::addr(&server);
    let mut cool = Irc::connect(addr);
    cool.send("NICK coolNick");
    cool.send("USER myusernam 0 * :My UniqueReal Name");
    cool.nick = "coolNick".into();
    cool.until(" 366 coolNick #lobby ");
    cool.send("JOIN #chan");
    cool.until(" 366 ");
    let mut other = Irc::join_server(addr, "otherNick");
    other.send("JOIN #chan");
    other.until(" 366 ");
    let _line_user = Client::login(server.addr(), "liner");
    other.expect(":liner!liner@chat JOIN #lobby");

    let cool_reply = |channel: &str, flag: &str| {
        from_server(&format!(
            "352 otherNick {channel} ~myusernam irc irc.test coolNick {flag} :0 My UniqueReal Name"
        ))
    };
    for mask in ["coolNick", "coolnick", "coolni*"] {
        other.send(&format!("WHO {mask}"));
        assert_eq!(
            other.sync(),
            [
                cool_reply("*", "H"),
                from_server(&format!("315 otherNick {mask} :End of WHO list"))
            ]
        );
    }
    other.send("WHO *");
    let all = other.sync();
    assert_eq!(all.len(), 4, "{all:#?}");
    assert_eq!(all[0], cool_reply("*", "H"));
    assert_eq!(
        all[1],
        from_server("352 otherNick * liner chat irc.test liner H :0 liner")
    );
    assert!(all[2].contains(" otherNick H :0 Real otherNick"));
    assert_eq!(all[3], from_server("315 otherNick * :End of WHO list"));
    other.send("WHO * o");
    assert_eq!(
        other.sync(),
        [from_server("315 otherNick * :End of WHO list")],
        "nobody is an operator"
    );
    other.send("WHO idontexist");
    assert_eq!(
        other.sync(),
        [from_server("315 otherNick idontexist :End of WHO list")]
    );

    cool.sync();
    cool.send("AWAY :be right back");
    cool.expect(&from_server(
        "306 coolNick :You have been marked as being away",
    ));
    other.send("WHO #CHAN");
    let chan = other.sync();
    assert_eq!(chan[0], cool_reply("#chan", "G"));
    assert!(chan[1].starts_with(&from_server(
        "352 otherNick #chan ~uotherNick irc irc.test otherNick H :0"
    )));
    assert_eq!(chan[2], from_server("315 otherNick #CHAN :End of WHO list"));

    other.send("WHOIS coolnick");
    assert_eq!(
        other.sync(),
        [
            from_server("311 otherNick coolNick ~myusernam irc * :My UniqueReal Name"),
            from_server("319 otherNick coolNick :#lobby #chan"),
            from_server("312 otherNick coolNick irc.test :connected over IRC"),
            from_server("301 otherNick coolNick :be right back"),
            from_server("318 otherNick coolNick :End of /WHOIS list"),
        ]
    );
    other.send("WHOIS liner");
    let whois = other.sync();
    assert_eq!(
        whois[0],
        from_server("311 otherNick liner liner chat * :liner")
    );
    assert_eq!(
        whois[2],
        from_server(
            "312 otherNick liner irc.test :connected over the line protocol or the web page"
        )
    );
    other.send("WHOIS nobody");
    assert_eq!(
        other.sync(),
        [
            from_server("401 otherNick nobody :No such nick/channel"),
            from_server("318 otherNick nobody :End of /WHOIS list"),
        ]
    );

    other.send("LIST");
    assert_eq!(
        other.sync(),
        [
            from_server("321 otherNick Channel :Users  Name"),
            from_server("322 otherNick #chan 2 :"),
            from_server("322 otherNick #lobby 3 :"),
            from_server("323 otherNick :End of /LIST"),
        ]
    );
    other.send("LIST #lobby");
    assert_eq!(other.sync()[1], from_server("322 otherNick #lobby 3 :"));

    other.send("TOPIC #chan");
    other.expect(&from_server("331 otherNick #chan :No topic is set"));
    other.send("TOPIC #chan :new topic");
    other.expect(&from_server(
        "482 otherNick #chan :Topics cannot be set on this server",
    ));
    other.send("TOPIC #nowhere");
    other.expect(&from_server("403 otherNick #nowhere :No such channel"));

    other.send("MODE #chan");
    other.expect(&from_server("324 otherNick #chan +n"));
    other.send("MODE #chan b");
    other.expect(&from_server("368 otherNick #chan :End of channel ban list"));
    other.send("MODE #chan +o otherNick");
    other.expect(&from_server(
        "482 otherNick #chan :Channel modes cannot be changed on this server",
    ));
    other.send("MODE otherNick");
    other.expect(&from_server("221 otherNick +"));
    other.send("MODE otherNick +i");
    other.expect(":otherNick!~uotherNick@irc MODE otherNick :+i");
    other.send("MODE otherNick");
    other.expect(&from_server("221 otherNick +i"));
    other.send("MODE otherNick +x");
    other.expect(&from_server("501 otherNick :Unknown MODE flag"));
    other.send("MODE coolNick +i");
    other.expect(&from_server(
        "502 otherNick :Can't change mode for other users",
    ));
    other.expect_nothing_pending();
}

#[test]
fn away_ison_userhost() {
    let server = irc::start_with(|_| {});
    let addr = irc::addr(&server);
    let mut alice = Irc::join_server(addr, "alice");
    let mut bob = Irc::join_server(addr, "bob");
    let _carol = Client::login(server.addr(), "Carol");
    alice.expect(":bob!~ubob@irc JOIN #lobby");
    alice.expect(":Carol!Carol@chat JOIN #lobby");
    bob.expect(":Carol!Carol@chat JOIN #lobby");
    alice.send("AWAY :lunch");
    alice.expect(&from_server(
        "306 alice :You have been marked as being away",
    ));
    bob.send("PRIVMSG alice :are you there?");
    bob.expect(&from_server("301 bob alice :lunch"));
    alice.until(":bob!~ubob@irc PRIVMSG alice :are you there?");
    bob.send("ISON alice nobody carol");
    bob.expect(&from_server("303 bob :alice Carol"));
    bob.send("USERHOST alice carol bob");
    bob.expect(&from_server(
        "302 bob :alice=-~ualice@irc Carol=+Carol@chat bob=+~ubob@irc",
    ));
    alice.send("AWAY");
    alice.expect(&from_server(
        "305 alice :You are no longer marked as being away",
    ));
    bob.send("USERHOST alice");
    bob.expect(&from_server("302 bob :alice=+~ualice@irc"));
    bob.send("PRIVMSG alice :back?");
    bob.expect_nothing_pending();
}

#[test]
fn errors_use_the_standard_numerics_and_a_notice_gets_none() {
    let server = irc::start_with(|_| {});
    let addr = irc::addr(&server);
    let mut foo = Irc::join_server(addr, "foo");
    let mut bar = Irc::join_server(addr, "bar");
    foo.expect(":bar!~ubar@irc JOIN #lobby");
    bar.send("JOIN #chan");
    bar.until(" 366 ");
    for (line, reply) in [
        ("PRIVMSG nobody :hi", "401 foo nobody :No such nick/channel"),
        (
            "PRIVMSG #chan :hi",
            "404 foo #chan :Cannot send to channel (join it first)",
        ),
        (
            "PRIVMSG #nonexistent :hi",
            "404 foo #nonexistent :Cannot send to channel (join it first)",
        ),
        ("PRIVMSG #b@d :hi", "403 foo #b@d :No such channel"),
        ("JOIN #b@d", "403 foo #b@d :No such channel"),
        ("JOIN nochannel", "403 foo nochannel :No such channel"),
        ("PRIVMSG", "411 foo :No recipient given (PRIVMSG)"),
        ("PRIVMSG bar", "412 foo :No text to send"),
        ("PRIVMSG bar :", "412 foo :No text to send"),
        ("PART #chan", "442 foo #chan :You're not on that channel"),
        ("PART #empty", "442 foo #empty :You're not on that channel"),
        ("JOIN", "461 foo JOIN :Not enough parameters"),
        ("PART", "461 foo PART :Not enough parameters"),
        ("MODE", "461 foo MODE :Not enough parameters"),
        ("TOPIC", "461 foo TOPIC :Not enough parameters"),
        ("PING", "409 foo :No origin specified"),
        ("FROBNICATE now", "421 foo FROBNICATE :Unknown command"),
        ("WHOIS", "431 foo :No nickname given"),
    ] {
        foo.send(line);
        foo.expect(&from_server(reply));
    }
    for notice in [
        "NOTICE nobody :hi",
        "NOTICE #chan :hi",
        "NOTICE #nonexistent :hi",
        "NOTICE bar :",
        "NOTICE",
    ] {
        foo.send(notice);
    }
    foo.expect_nothing_pending();
    bar.expect_nothing_pending();
}

#[test]
fn quit_is_answered_with_error_then_the_connection_closes() {
    let server = irc::start_with(|_| {});
    let addr = irc::addr(&server);
    let mut qux = Irc::join_server(addr, "qux");
    let mut bar = Irc::join_server(addr, "bar");
    let mut line_user = Client::login(server.addr(), "liner");
    qux.until(":bar!~ubar@irc JOIN #lobby");
    qux.send("QUIT :qux out");
    let rest = qux.read_to_close();
    assert!(
        rest.ends_with("ERROR :Closing Link: 127.0.0.1 (Quit: qux out)\r\n"),
        "{rest:?}"
    );
    bar.until(":qux!~uqux@irc QUIT :Quit: qux out");
    line_user.expect("INFO qux disconnected");
    // Before registration too.
    let mut early = Irc::connect(addr);
    early.send("QUIT");
    assert_eq!(
        early.read_to_close(),
        "ERROR :Closing Link: 127.0.0.1 (Client Quit)\r\n"
    );
    // A connection that just closes is a QUIT for the others.
    drop(bar);
    line_user.expect("INFO bar disconnected");
}

#[test]
fn pings_both_ways_and_a_silent_client_times_out() {
    let server = irc::start_with(|config| {
        config.irc_ping_interval = Duration::from_millis(1500);
        config.irc_ping_timeout = Duration::from_secs(2);
    });
    let addr = irc::addr(&server);
    // The watcher answers every ping on a thread of its own, and reports the
    // first other line it gets.
    let mut watcher = Irc::join_server(addr, "watcher");
    let (seen, saw) = std::sync::mpsc::channel();
    let watching = std::thread::spawn(move || {
        for _ in 0..100 {
            let line = watcher.line();
            if line == "PING :irc.test" {
                watcher.send("PONG :irc.test");
            } else if seen.send(line).is_err() {
                break;
            }
        }
    });
    let mut quiet = Irc::join_server(addr, "quiet");
    let patience = common::PATIENCE;
    assert_eq!(
        saw.recv_timeout(patience).unwrap(),
        ":quiet!~uquiet@irc JOIN #lobby"
    );
    quiet.send("PING :abc def");
    quiet.expect(&from_server("PONG irc.test :abc def"));
    // Silence: the server pings; any answer keeps the client, twice over.
    for _ in 0..2 {
        quiet.expect("PING :irc.test");
        quiet.send("PONG :irc.test");
    }
    // No answer this time: dropped at the deadline, with the reason.
    quiet.expect("PING :irc.test");
    let rest = quiet.read_to_close();
    assert_eq!(
        rest,
        "ERROR :Closing Link: 127.0.0.1 (Ping timeout: 2 seconds)\r\n"
    );
    assert_eq!(
        saw.recv_timeout(patience).unwrap(),
        ":quiet!~uquiet@irc QUIT :Ping timeout: 2 seconds"
    );
    drop(saw);
    drop(server);
    let _ = watching.join();
}

#[test]
fn lines_over_512_bytes_get_417_and_the_connection_lives() {
    let server = irc::start_with(|_| {});
    let mut bar = Irc::join_server(irc::addr(&server), "bar");
    let at_limit = format!("PING {}", "x".repeat(512 - 7));
    assert_eq!(at_limit.len() + 2, 512);
    bar.send(&at_limit);
    let pong = bar.line();
    assert!(
        pong.starts_with(&from_server("PONG irc.test :xxx")),
        "{pong}"
    );
    bar.send(&format!("PING {}", "y".repeat(512 - 6)));
    bar.expect(&from_server("417 bar :Input line was too long"));
    bar.send_raw(&vec![b'z'; 100_000]);
    bar.send("");
    bar.expect(&from_server("417 bar :Input line was too long"));
    bar.send("JOIN #test_channel");
    bar.expect(":bar!~ubar@irc JOIN #test_channel");
}

#[test]
fn a_user_line_in_a_legacy_encoding_is_decoded_not_dropped() {
    let server = irc::start_with(|_| {});
    let addr = irc::addr(&server);
    let mut rene = Irc::connect(addr);
    rene.send("NICK rene");
    rene.send_raw(b"USER ren\xe9 0 * :Ren\xe9 L\xf6ffler\r\n");
    rene.nick = "rene".into();
    rene.until(" 366 rene #lobby ");
    rene.send("WHOIS rene");
    assert_eq!(
        rene.line(),
        from_server("311 rene rene ~ren irc * :Ren\u{FFFD} L\u{FFFD}ffler")
    );
}

#[test]
fn the_flood_limit_applies_to_irc_lines() {
    let server = irc::start_with(|config| {
        config.max_rate = Some(chat::server::RateLimit {
            per_sec: 0.5,
            burst: 8,
        });
        // Loopback is exempt from the flood limit unless it is asked for.
        config.rate_loopback = true;
    });
    let addr = irc::addr(&server);
    let mut flooder = Irc::join_server(addr, "flooder");
    let burst: String = (0..40)
        .map(|i| format!("PRIVMSG #lobby :{i}\r\n"))
        .collect();
    flooder.send_raw(burst.as_bytes());
    let rest = flooder.read_to_close();
    assert!(
        rest.contains(&from_server(
            "NOTICE flooder :You are sending too fast: that line was dropped (flood limit)"
        )),
        "{rest}"
    );
    assert!(
        rest.ends_with("ERROR :Closing Link: 127.0.0.1 (Excess Flood)\r\n"),
        "{rest}"
    );
}

#[test]
fn a_full_server_refuses_in_irc_words() {
    let server = irc::start_with(|config| config.max_clients = 1);
    let addr = irc::addr(&server);
    let _first = Irc::join_server(addr, "first");
    let mut second = Irc::connect(addr);
    assert_eq!(
        second.read_to_close(),
        "ERROR :Closing Link: 127.0.0.1 (server-full)\r\n"
    );
}

/// One of `from`, chosen by `rng`.
fn pick<'a>(rng: &mut Rng, from: &[&'a str]) -> &'a str {
    from[rng.below(from.len())]
}

#[test]
fn random_irc_lines_never_take_the_connection_or_the_server_down() {
    let server = irc::start_with(|_| {});
    let addr = irc::addr(&server);
    let mut line_user = Client::login(server.addr(), "watch");
    let commands = [
        "PRIVMSG", "NOTICE", "JOIN", "PART", "NAMES", "WHO", "WHOIS", "WHOWAS", "LIST", "TOPIC",
        "MODE", "AWAY", "ISON", "USERHOST", "PING", "PONG", "CAP", "NICK", "USER", "PASS",
        "LUSERS", "MOTD", "KICK", "privmsg", "@t=1", ":pre",
    ];
    let words = [
        "#a",
        "#lobby",
        "#LOBBY",
        "#",
        "##",
        "#é",
        "fuzz",
        "watch",
        "*",
        "?",
        "0",
        "o",
        "%tn,1",
        "+i",
        "-i",
        "b",
        "LS",
        "REQ",
        "END",
        "LIST",
        ":",
        ":hello there",
        ":\x01ACTION x\x01",
        ":\x01VERSION\x01",
        ":\x02\x0304,12c",
        ",",
        "#a,#b,,",
        "a,b,c,d,e,f",
        "\u{202e}",
        "\u{FFFD}",
        "\0",
    ];
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut fuzz = Irc::join_server(addr, "fuzz");
    line_user.expect("INFO fuzz connected");
    let mut batch = Vec::new();
    for _ in 0..2000 {
        let mut line = pick(&mut rng, &commands).to_string();
        for _ in 0..rng.below(6) {
            line.push(' ');
            line.push_str(pick(&mut rng, &words));
        }
        if rng.below(20) == 0 {
            // A few raw bytes that are not UTF-8, or a stray CR.
            batch.extend_from_slice(line.as_bytes());
            batch.extend_from_slice(b" \xff\xfe\r\x80\r\n");
        } else {
            batch.extend_from_slice(line.as_bytes());
            batch.extend_from_slice(b"\r\n");
        }
    }
    fuzz.send_raw(&batch);
    // Still there, and still itself.
    fuzz.send("PING :still-here");
    fuzz.until(" :still-here");
    fuzz.send("WHOIS fuzz");
    let whois = fuzz.until(" 318 ");
    assert!(
        whois.iter().any(|line| line.contains(" 311 fuzz fuzz ")),
        "{whois:#?}"
    );
    line_user.send("DM fuzz are you ok");
    fuzz.until(":watch!watch@chat PRIVMSG fuzz :are you ok");
}
