//! IRC registration over real sockets: with and without `CAP`, nick rules
//! and collisions, `PASS` as the accounts' `AUTH`. (Everything after it:
//! `irc.rs`.)

mod common;

use common::irc::{self, command, from_server, Irc};
use common::Client;

#[test]
fn registration_without_cap_greets_and_joins_the_lobby() {
    let server = irc::start_with(|_| {});
    let addr = irc::addr(&server);
    let _bob = Irc::join_server(addr, "bob");
    let (mut alice, welcome) = Irc::register(addr, "alice");
    let commands: Vec<&str> = welcome.iter().map(|line| command(line)).collect();
    assert_eq!(
        commands,
        ["001", "002", "003", "004", "005", "251", "254", "255", "422", "JOIN", "353", "366"],
        "{welcome:#?}"
    );
    assert_eq!(
        welcome[0],
        from_server("001 alice :Welcome to the irc.test IRC network, alice!~ualice@irc")
    );
    let myinfo: Vec<&str> = welcome[3].split(' ').collect();
    assert_eq!(&myinfo[..4], [":irc.test", "004", "alice", "irc.test"]);
    assert_eq!(&myinfo[5..], ["i", "n"], "a user mode and a channel mode");
    for token in [
        "CASEMAPPING=ascii",
        "CHANTYPES=#",
        "NICKLEN=32",
        "CHANNELLEN=33",
        "NETWORK=irc.test",
    ] {
        assert!(
            welcome[4].split(' ').any(|t| t == token),
            "{token} in {}",
            welcome[4]
        );
    }
    assert!(welcome[4].ends_with(" :are supported by this server"));
    assert_eq!(
        welcome[5],
        from_server("251 alice :There are 2 users and 0 invisible on 1 servers")
    );
    assert_eq!(welcome[6], from_server("254 alice 1 :channels formed"));
    assert_eq!(welcome[8], from_server("422 alice :MOTD File is missing"));
    assert_eq!(welcome[9], ":alice!~ualice@irc JOIN #lobby");
    assert_eq!(welcome[10], from_server("353 alice = #lobby :alice bob"));
    assert_eq!(
        welcome[11],
        from_server("366 alice #lobby :End of /NAMES list")
    );
    alice.send("LUSERS");
    let lusers = alice.sync();
    assert_eq!(
        lusers[0],
        from_server("251 alice :There are 2 users and 0 invisible on 1 servers")
    );
    assert_eq!(
        lusers.iter().map(|l| command(l)).collect::<Vec<_>>(),
        ["251", "254", "255"]
    );
    alice.send("MOTD");
    alice.expect(&from_server("422 alice :MOTD File is missing"));
}

#[test]
fn registration_with_cap_waits_for_cap_end() {
    let server = irc::start_with(|_| {});
    let mut carol = Irc::connect(irc::addr(&server));
    carol.send("CAP LS 302");
    carol.expect(&from_server("CAP * LS :server-time"));
    carol.send("NICK carol");
    carol.send("USER c 0 * :Carol");
    carol.send("CAP REQ :multi-prefix  sasl");
    carol.expect(&from_server("CAP * NAK :multi-prefix  sasl"));
    carol.send("CAP LIST");
    carol.expect(&from_server("CAP * LIST :"));
    carol.send("CAP BOGUS");
    carol.expect(&from_server("410 * BOGUS :Invalid CAP command"));
    carol.send("CAP");
    carol.expect(&from_server("461 * CAP :Not enough parameters"));
    // NICK and USER are in, but no 001 before CAP END.
    carol.expect_nothing_pending();
    carol.send("CAP END");
    let welcome = carol.until(" 366 carol #lobby ");
    assert_eq!(command(&welcome[0]), "001", "{welcome:#?}");
    // After registration CAP still answers, with the nick.
    carol.send("CAP LIST");
    carol.expect(&from_server("CAP carol LIST :"));
    carol.send("CAP REQ :server-time");
    carol.expect(&from_server("CAP carol ACK :server-time"));
    carol.send("CAP LIST");
    carol.expect(&from_server("CAP carol LIST :server-time"));
}

#[test]
fn nick_rules_and_no_nick_change() {
    let server = irc::start_with(|_| {});
    let addr = irc::addr(&server);
    let _alice = Irc::join_server(addr, "Alice");
    let mut line_user = Client::login(server.addr(), "dave");
    let mut newcomer = Irc::connect(addr);
    newcomer.send("JOIN #a");
    newcomer.expect(&from_server("451 * :You have not registered"));
    newcomer.send("NICK b@d");
    newcomer.expect(&from_server("432 * b@d :Erroneous nickname"));
    newcomer.send(&format!("NICK {}", "n".repeat(33)));
    newcomer.expect(&from_server(&format!(
        "432 * {} :Erroneous nickname",
        "n".repeat(33)
    )));
    newcomer.send("NICK alice");
    newcomer.expect(&from_server("433 * alice :Nickname is already in use"));
    newcomer.send("NICK DAVE");
    newcomer.expect(&from_server("433 * DAVE :Nickname is already in use"));
    newcomer.send("NICK");
    newcomer.expect(&from_server("431 * :No nickname given"));
    newcomer.send("USER b 0 * :");
    newcomer.expect(&from_server("461 * USER :Not enough parameters"));
    newcomer.send("NICK bob");
    newcomer.send("USER b 0 * :Bob");
    newcomer.nick = "bob".into();
    newcomer.until(" 366 bob #lobby ");
    line_user.expect("INFO bob connected");
    newcomer.send("NICK robert");
    newcomer.expect(&from_server(
        "447 bob :Nicknames cannot be changed on this server: reconnect to use another",
    ));
    newcomer.send("NICK bob");
    newcomer.send("USER b 0 * :Bob");
    newcomer.expect(&from_server("462 bob :You may not reregister"));
    newcomer.send("PASS secret");
    newcomer.expect(&from_server("462 bob :You may not reregister"));
    newcomer.expect_nothing_pending();
}

#[test]
fn a_nick_taken_meanwhile_is_refused_by_the_hub_and_another_can_be_tried() {
    let server = irc::start_with(|_| {});
    let addr = irc::addr(&server);
    let mut first = Irc::connect(addr);
    let mut second = Irc::connect(addr);
    first.send("NICK same");
    second.send("NICK same");
    first.send("USER a 0 * :A");
    first.until(" 366 same #lobby ");
    second.send("USER b 0 * :B");
    second.expect(&from_server("433 * same :Nickname is already in use"));
    second.send("NICK other");
    second.until(" 366 other #lobby ");
}

#[test]
fn pass_without_an_account_is_said_to_be_unused() {
    let server = irc::start_with(|_| {});
    let mut erin = Irc::connect(irc::addr(&server));
    erin.send("PASS sesame");
    erin.send("NICK erin");
    erin.send("USER e 0 * :Erin");
    erin.nick = "erin".into();
    erin.until(" 366 erin #lobby ");
    erin.expect(&from_server(
        "NOTICE erin :There is no account for erin on this server: the password (PASS) was not used",
    ));
}

#[test]
fn pass_is_the_accounts_auth() {
    let server = irc::start_with(|_| {});
    let addr = irc::addr(&server);
    let mut owner = Client::login(server.addr(), "alice");
    owner.send("REGISTER correcthorse");
    owner.expect("OK");
    owner.send("QUIT");
    owner.expect("BYE");
    let mut watcher = Client::login(server.addr(), "watch");
    // Without the password the nick is refused as registered; another works.
    let mut bare = Irc::connect(addr);
    bare.send("NICK alice");
    bare.send("USER a 0 * :A");
    bare.expect(&from_server(
        "433 * alice :Nickname is registered: connect with its password (PASS)",
    ));
    bare.send("NICK notalice");
    bare.until(" 366 notalice #lobby ");
    watcher.expect("INFO notalice connected");
    // A wrong password: 464, then the connection closes.
    let mut wrong = Irc::connect(addr);
    wrong.send("PASS wronghorse");
    wrong.send("NICK alice");
    wrong.send("USER a 0 * :A");
    assert_eq!(
        wrong.read_to_close(),
        ":irc.test 464 * :Password incorrect\r\nERROR :Closing Link: 127.0.0.1 (Password incorrect)\r\n"
    );
    // The right one: in as alice, with nothing said about the password.
    let join = |password: &str| {
        let mut alice = Irc::connect(addr);
        alice.send(&format!("PASS {password}"));
        alice.send("NICK alice");
        alice.send("USER a 0 * :A");
        alice.nick = "alice".into();
        alice.until(" 366 alice #lobby ");
        alice
    };
    let mut first = join("correcthorse");
    first.expect_nothing_pending();
    watcher.expect("INFO alice connected");
    // The password on another connection takes the name over.
    let _second = join("correcthorse");
    let rest = first.read_to_close();
    assert!(
        rest.ends_with("ERROR :Closing Link: 127.0.0.1 (Logged in elsewhere)\r\n"),
        "{rest}"
    );
    watcher.expect("INFO alice disconnected");
    watcher.expect("INFO alice connected");
}
