//! Accounts driven by hand: a registered name's password asked for and sent
//! in `AUTH`, kept for reconnecting, `/register` and `/password`, scripts
//! that cannot be asked, and a takeover that is never undone.

use super::tests::{chatting, config, feed, sent, shown, PLAIN};
use super::*;

fn script() -> Config {
    Config {
        interactive: false,
        retry_names: false,
        reconnect: false,
        history: 0,
        ..config()
    }
}

/// A session whose `LOGIN me` was just answered `ERR name-reserved`.
fn reserved(config: Config) -> (Session, Instant, Vec<Action>) {
    let now = Instant::now();
    let mut session = Session::new(config, PLAIN, now);
    session.connected(now);
    assert_eq!(sent(&session.take_actions()), ["LOGIN me"]);
    let actions = feed(&mut session, &["ERR name-reserved"], now);
    (session, now, actions)
}

#[test]
fn a_registered_name_asks_for_its_password_and_reconnects_with_it() {
    let (mut session, now, actions) = reserved(config());
    assert_eq!(
        shown(&actions),
        ["*** me is registered: type its password (it is not shown; an empty line picks another name)"]
    );
    assert!(sent(&actions).is_empty());
    assert!(session.hides_input());
    assert!(session.wants_input());
    assert_eq!(session.prompt(), "password for me: ");
    assert_eq!(session.next_deadline(), Some(session.heartbeat.next_due()));

    // Too short to be anybody's password: refused here, not sent.
    assert!(session.typed("short", now));
    let actions = session.take_actions();
    assert!(sent(&actions).is_empty());
    assert_eq!(
        shown(&actions),
        ["*** a password is 8 to 128 bytes, and that one is 5: not sent; type it again"]
    );
    session.typed(" not it \r", now);
    assert_eq!(sent(&session.take_actions()), ["AUTH me  not it "]);
    assert!(!session.hides_input() && !session.wants_input());
    let actions = feed(&mut session, &["ERR wrong-password"], now);
    assert_eq!(
        shown(&actions),
        ["*** wrong password; type the password for me again (it is not shown; an empty line picks another name)"]
    );
    assert!(session.hides_input());
    session.typed("right one", now);
    assert_eq!(sent(&session.take_actions()), ["AUTH me right one"]);
    let actions = feed(&mut session, &["OK"], now);
    assert_eq!(
        shown(&actions),
        ["*** logged in as me; type /help for the commands"]
    );
    assert!(!session.hides_input());
    assert_eq!(session.prompt(), "#lobby> ");

    // Every reconnect authenticates with the password the server took.
    session.closed(now);
    session.take_actions();
    session.connected(now);
    let actions = feed(&mut session, &["ERR name-reserved", "OK"], now);
    assert_eq!(
        sent(&actions)[..2],
        ["LOGIN me".to_string(), "AUTH me right one".into()]
    );
    assert_eq!(shown(&actions), ["*** reconnected as me"]);
    // Nothing the session shows or keeps prints a password.
    assert!(!format!("{:?}", session.account).contains("right one"));
}

#[test]
fn three_wrong_passwords_or_an_empty_line_ask_for_another_name() {
    let (mut session, now, _) = reserved(config());
    for _ in 0..2 {
        session.typed("guess guess", now);
        feed(&mut session, &["ERR wrong-password"], now);
        assert!(session.hides_input());
    }
    session.typed("guess guess", now);
    let actions = feed(&mut session, &["ERR wrong-password"], now);
    assert_eq!(shown(&actions), ["*** 3 wrong passwords for me"]);
    assert!(actions.contains(&Action::AskName));
    assert_eq!(session.prompt(), "Enter your username: ");

    let (mut session, now, _) = reserved(config());
    session.typed("", now);
    assert_eq!(session.take_actions(), [Action::AskName]);
    assert!(!session.hides_input());

    // Throttled: told to wait, and asked again.
    let (mut session, now, _) = reserved(config());
    session.typed("right one", now);
    let actions = feed(&mut session, &["ERR rate-limited"], now);
    assert!(shown(&actions)[0].contains("wait a minute"), "{actions:?}");
    assert!(session.hides_input());
}

#[test]
fn a_script_uses_its_password_file_or_exits_3() {
    let with_file = Config {
        password: Some(Secret::typed("from the file")),
        ..script()
    };
    let (mut session, now, actions) = reserved(with_file.clone());
    assert_eq!(sent(&actions), ["AUTH me from the file"]);
    let actions = feed(&mut session, &["OK"], now);
    assert!(actions.contains(&Action::Online));

    let (mut session, now, _) = reserved(with_file);
    let actions = feed(&mut session, &["ERR wrong-password"], now);
    let refused =
        Outcome::NameRefused("cannot log in as me: wrong password (from --password-file)".into());
    assert_eq!(actions.last(), Some(&Action::Exit(refused)));

    let (_, _, actions) = reserved(script());
    let refused = Outcome::NameRefused(
        "cannot log in as me: the name is registered; give its password with --password-file FILE"
            .into(),
    );
    assert_eq!(refused.exit_code(), 3);
    assert_eq!(actions.last(), Some(&Action::Exit(refused)));
}

#[test]
fn register_asks_twice_and_keeps_the_password_once_taken() {
    let (mut session, now) = chatting(config());
    assert!(session.typed("/register", now));
    assert!(session.hides_input());
    assert_eq!(session.prompt(), "new password: ");
    session.typed("first try", now);
    assert_eq!(session.prompt(), "new password again: ");
    session.typed("first typo", now);
    let actions = session.take_actions();
    assert!(sent(&actions).is_empty());
    assert_eq!(
        shown(&actions)[1..],
        ["*** the two differ; type the new password again"]
    );
    assert_eq!(session.prompt(), "new password: ");
    session.typed("good pass", now);
    session.typed("good pass", now);
    assert!(!session.hides_input());
    assert_eq!(
        sent(&session.take_actions()),
        ["REGISTER good pass", "PING pw-1"]
    );
    let actions = feed(&mut session, &["OK", "PONG pw-1"], now);
    assert_eq!(
        shown(&actions),
        ["*** me is yours now: logging in as me takes this password"]
    );
    session.typed("/register", now);
    assert_eq!(
        shown(&session.take_actions()),
        ["*** me is registered already; /password changes its password"]
    );

    // A new password the server refuses is not kept: the old one still is.
    session.typed("/password", now);
    session.typed("newer pass", now);
    session.typed("newer pass", now);
    assert_eq!(
        sent(&session.take_actions()),
        ["PASSWORD newer pass", "PING pw-2"]
    );
    let actions = feed(&mut session, &["ERR rate-limited", "PONG pw-2"], now);
    assert_eq!(
        shown(&actions),
        ["*** the password was not changed: too many passwords were set from your address lately; try again in an hour"]
    );
    session.typed("/password", now);
    session.typed("", now);
    assert_eq!(
        shown(&session.take_actions())[1..],
        ["*** cancelled: nothing was changed"]
    );
    session.closed(now);
    session.take_actions();
    session.connected(now);
    let actions = feed(&mut session, &["ERR name-reserved"], now);
    assert_eq!(sent(&actions), ["LOGIN me", "AUTH me good pass"]);
}

#[test]
fn passwords_typed_as_protocol_lines_are_never_sent() {
    let (mut session, now) = chatting(config());
    for line in [
        "REGISTER hunter222",
        "PASSWORD hunter222",
        "AUTH me hunter222",
    ] {
        assert!(crate::input::carries_password(line), "{line}");
        session.typed(line, now);
        let actions = session.take_actions();
        assert!(sent(&actions).is_empty(), "{line}: {actions:?}");
    }
    assert!(!crate::input::carries_password("register me, please"));
    assert!(!crate::input::carries_password("/register"));
    session.typed("/password", now);
    assert_eq!(
        shown(&session.take_actions()),
        ["*** me is not registered (or not by this login): /register makes it yours"]
    );

    // In a script /register takes --password-file, and /password needs a terminal.
    let (mut session, now) = chatting(Config {
        password: Some(Secret::typed("from the file")),
        ..script()
    });
    session.typed("/register", now);
    assert_eq!(
        sent(&session.take_actions()),
        ["REGISTER from the file", "PING pw-1"]
    );
    let (mut session, now) = chatting(script());
    session.typed("/register", now);
    session.typed("/password", now);
    let actions = session.take_actions();
    assert!(sent(&actions).is_empty());
    assert_eq!(shown(&actions).len(), 2);
}

#[test]
fn logged_in_elsewhere_is_the_end_and_a_throttled_reconnect_waits() {
    let (mut session, now) = chatting(config());
    let actions = feed(&mut session, &["BYE logged-in-elsewhere"], now);
    assert_eq!(actions, [Action::Exit(Outcome::TakenOver)]);
    assert_eq!(Outcome::TakenOver.exit_code(), 4);
    assert!(Outcome::TakenOver
        .message()
        .is_some_and(|m| m.starts_with("you logged in elsewhere")));

    let (mut session, now, _) = reserved(config());
    session.typed("right one", now);
    feed(&mut session, &["OK"], now);
    session.closed(now);
    session.take_actions();
    session.connected(now);
    let actions = feed(
        &mut session,
        &["ERR name-reserved", "ERR rate-limited"],
        now,
    );
    assert!(
        matches!(actions.last(), Some(Action::Reconnect(why)) if why.contains("too many wrong passwords")),
        "{actions:?}"
    );
}
