//! The session driven by hand: server lines and typed lines in, actions out.

use super::*;

pub(super) const PLAIN: Style = Style { colour: false };

pub(super) fn config() -> Config {
    Config {
        name: Some("me".into()),
        password: None,
        raw: false,
        interactive: true,
        retry_names: true,
        reconnect: true,
        history: 20,
        heartbeat: Duration::from_secs(2),
        bell: true,
    }
}

/// A session over a fresh connection, with what it did so far dropped.
pub(super) fn chatting(config: Config) -> (Session, Instant) {
    let now = Instant::now();
    let mut session = Session::new(config, PLAIN, now);
    session.connected(now);
    session.server_line("OK", now);
    session.take_actions();
    (session, now)
}

pub(super) fn sent(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(line) => Some(line.clone()),
            _ => None,
        })
        .collect()
}

/// The lines shown, with `[HH:MM:SS]` replaced by `[t]`.
pub(super) fn shown(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Show(line) => Some(untimed(line)),
            _ => None,
        })
        .collect()
}

fn untimed(line: &str) -> String {
    match line
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
    {
        Some((_, rest)) => format!("[t] {rest}"),
        None => line.to_string(),
    }
}

pub(super) fn feed(session: &mut Session, lines: &[&str], now: Instant) -> Vec<Action> {
    for line in lines {
        session.server_line(line, now);
    }
    session.take_actions()
}

#[test]
fn login_then_the_lobby_history_without_what_came_live_meanwhile() {
    let now = Instant::now();
    let mut session = Session::new(config(), PLAIN, now);
    session.connected(now);
    assert_eq!(sent(&session.take_actions()), ["LOGIN me"]);
    assert!(!session.wants_input());
    let actions = feed(&mut session, &["OK"], now);
    assert_eq!(sent(&actions), ["HISTORY #lobby 20"]);
    assert!(actions.contains(&Action::Online));
    assert_eq!(
        shown(&actions),
        ["*** logged in as me; type /help for the commands"]
    );
    let actions = feed(
        &mut session,
        &[
            "MSG bob live one",
            "HISTORY #lobby 3",
            "HIST #lobby 1 2026-01-01T00:00:00.000Z al old",
            "HIST #lobby 2 2026-01-01T00:00:01.000Z al older",
            "HIST #lobby 3 2026-01-01T00:00:02.000Z bob live one",
        ],
        now,
    );
    assert_eq!(
        shown(&actions),
        [
            "[t] bob: live one",
            "[t] (history) al: old",
            "[t] (history) al: older"
        ]
    );
    assert_eq!(session.prompt(), "#lobby> ");
}

#[test]
fn a_script_name_refused_is_exit_3_and_at_a_terminal_asked_again() {
    let script = Config {
        retry_names: false,
        interactive: false,
        ..config()
    };
    let now = Instant::now();
    let mut session = Session::new(script, PLAIN, now);
    session.connected(now);
    let actions = feed(&mut session, &["ERR username-taken"], now);
    let refused = Outcome::NameRefused(
        "cannot log in as me: that name is taken, please choose another".into(),
    );
    assert_eq!(refused.exit_code(), 3);
    assert_eq!(actions.last(), Some(&Action::Exit(refused)));

    let mut session = Session::new(config(), PLAIN, now);
    session.connected(now);
    let actions = feed(&mut session, &["ERR line-too-long"], now);
    assert!(actions.contains(&Action::AskName));
    assert_eq!(session.prompt(), "Enter your username: ");
    assert!(session.typed("LOGIN other", now));
    assert_eq!(
        sent(&session.take_actions()),
        ["LOGIN me", "LOGIN other"][1..]
    );
}

#[test]
fn typed_lines_go_to_the_current_room() {
    let (mut session, now) = chatting(config());
    session.typed("hello", now);
    session.typed("#1 in the lobby", now);
    session.typed("/join rust", now);
    assert_eq!(
        sent(&session.take_actions()),
        ["MSG hello", "MSG #lobby #1 in the lobby", "JOIN #rust"]
    );
    let actions = feed(&mut session, &["JOIN #Rust me", "HISTORY #Rust 0"], now);
    assert_eq!(
        shown(&actions),
        ["*** you joined #Rust; plain lines go there (/go #lobby to switch back)"]
    );
    assert_eq!(session.prompt(), "#Rust> ");
    session.typed("hi rustaceans", now);
    session.typed("/who", now);
    session.typed("/go #lobby", now);
    session.typed("/part #rust", now);
    let actions = session.take_actions();
    assert_eq!(
        sent(&actions),
        [
            "MSG #Rust hi rustaceans",
            "WHO #Rust",
            "PING who-1",
            "PART #rust"
        ]
    );
    assert_eq!(shown(&actions), ["*** plain lines go to #lobby now"]);
    let actions = feed(
        &mut session,
        &[
            "MSG #Rust me hi rustaceans",
            "USER me",
            "PONG who-1",
            "PART #Rust me",
        ],
        now,
    );
    assert_eq!(
        shown(&actions),
        [
            "[t] #Rust me: hi rustaceans",
            "*** in #Rust (1): me",
            "*** you left #Rust; plain lines go to #lobby"
        ]
    );
}

#[test]
fn dms_are_confirmed_or_refused_and_long_lines_kept() {
    let (mut session, now) = chatting(config());
    assert!(session.typed("/dm bob psst", now));
    assert!(session.typed("DM nobody hi", now));
    assert_eq!(
        sent(&session.take_actions()),
        ["DM bob psst", "PING dm-1", "DM nobody hi", "PING dm-2"]
    );
    let actions = feed(
        &mut session,
        &["PONG dm-1", "ERR user-not-found", "PONG dm-2"],
        now,
    );
    assert_eq!(
        shown(&actions),
        ["[t] (dm) to bob: psst", "*** nobody by that name is online"]
    );
    let long = "x".repeat(SERVER_MAX_LINE);
    assert!(!session.typed(&long, now));
    assert_eq!(
        shown(&session.take_actions()),
        ["*** that line is 4100 bytes, over the 4096 the server takes; it was not sent"]
    );
}

#[test]
fn a_mention_is_bold_and_rings_but_not_ones_own() {
    let (mut session, now) = chatting(config());
    let actions = feed(&mut session, &["MSG bob hey ME, look", "MSG me me me"], now);
    assert_eq!(actions.iter().filter(|a| **a == Action::Bell).count(), 1);
    let quiet = Config {
        bell: false,
        ..config()
    };
    let (mut session, now) = chatting(quiet);
    let actions = feed(&mut session, &["MSG bob hey me"], now);
    assert!(!actions.contains(&Action::Bell));
}

#[test]
fn a_lost_connection_reconnects_rejoins_and_shows_only_the_gap() {
    let (mut session, now) = chatting(config());
    feed(
        &mut session,
        &[
            "HISTORY #lobby 1",
            "HIST #lobby 5 2026-01-01T00:00:00.000Z a x",
        ],
        now,
    );
    session.typed("/join #rust", now);
    feed(
        &mut session,
        &["JOIN #rust me", "HISTORY #rust 1", "HIST #rust 9 t b y"],
        now,
    );
    feed(&mut session, &["MSG a six"], now); // lobby 6
    session.take_actions();
    session.closed(now);
    let actions = session.take_actions();
    assert_eq!(
        actions,
        [Action::Reconnect("disconnected by server".into())]
    );
    assert_eq!(session.prompt(), "(offline) #rust> ");
    assert!(!session.typed("said while offline", now), "kept for later");
    session.take_actions();
    session.connected(now);
    let actions = feed(&mut session, &["OK"], now);
    assert_eq!(
        sent(&actions),
        [
            "LOGIN me",
            "HISTORY #lobby 200",
            "JOIN #rust",
            "HISTORY #rust 200"
        ]
    );
    assert_eq!(shown(&actions), ["*** reconnected as me"]);
    let actions = feed(
        &mut session,
        &[
            "HISTORY #lobby 3",
            "HIST #lobby 5 2026-01-01T00:00:00.000Z a x",
            "HIST #lobby 6 2026-01-01T00:00:00.000Z a six",
            "HIST #lobby 7 2026-01-01T00:00:00.000Z a missed",
            "JOIN #rust me",
            "HISTORY #rust 2",
            "HIST #rust 9 t b y",
            "HIST #rust 10 t b missed too",
            "HISTORY #rust 2",
            "HIST #rust 9 t b y",
            "HIST #rust 10 t b missed too",
        ],
        now,
    );
    assert_eq!(
        shown(&actions),
        [
            "[t] (history) a: missed",
            "*** back in #rust",
            "[t] (history) #rust b: missed too"
        ]
    );
    assert_eq!(session.prompt(), "#rust> ", "the current room is kept");
}

#[test]
fn the_old_connection_still_holding_the_name_is_waited_out() {
    let (mut session, now) = chatting(config());
    session.closed(now);
    session.take_actions();
    session.connected(now);
    let actions = feed(&mut session, &["ERR username-taken"], now);
    assert!(matches!(actions.last(), Some(Action::Reconnect(why)) if why.contains("still taken")));
}

#[test]
fn without_reconnect_a_loss_is_the_end() {
    let script = Config {
        reconnect: false,
        interactive: false,
        history: 0,
        ..config()
    };
    let now = Instant::now();
    let mut session = Session::new(script, PLAIN, now);
    session.connected(now);
    let actions = feed(&mut session, &["OK"], now);
    assert_eq!(sent(&actions), ["LOGIN me"], "no history asked in a script");
    let actions = feed(&mut session, &["BYE idle-timeout"], now);
    assert_eq!(
        actions.last(),
        Some(&Action::Exit(Outcome::Disconnected(Some(
            "idle-timeout".into()
        ))))
    );
}

#[test]
fn deadlines_the_heartbeat_a_silent_server_and_a_login_never_answered() {
    let (mut session, start) = chatting(config());
    let second = Duration::from_secs(1);
    session.tick(start + 2 * second);
    assert_eq!(sent(&session.take_actions()), ["PING hb-1"]);
    session.server_line("PONG hb-1", start + 2 * second);
    assert!(
        session.take_actions().is_empty(),
        "heartbeat answers are hidden"
    );
    session.tick(start + 4 * second);
    assert_eq!(sent(&session.take_actions()), ["PING hb-2"]);
    assert_eq!(session.next_deadline(), Some(start + 14 * second));
    session.tick(start + 14 * second);
    assert_eq!(
        session.take_actions(),
        [Action::Reconnect("connection lost".into())]
    );

    // A server that answers pings but not the login.
    let now = Instant::now();
    let mut session = Session::new(config(), PLAIN, now);
    session.connected(now);
    for s in 1..=19 {
        session.server_line("PONG hb-1", now + s * second);
        session.tick(now + s * second);
    }
    assert!(!session
        .take_actions()
        .iter()
        .any(|a| matches!(a, Action::Reconnect(_))));
    session.tick(now + 20 * second);
    assert!(matches!(
        session.take_actions().last(),
        Some(Action::Reconnect(why)) if why == "the server did not answer the login"
    ));
}

#[test]
fn quitting_waits_for_bye_but_not_forever() {
    let (mut session, now) = chatting(config());
    session.typed("/quit", now);
    assert_eq!(sent(&session.take_actions()), ["QUIT"]);
    assert!(!session.wants_input());
    session.tick(now + Duration::from_secs(2));
    assert_eq!(session.take_actions(), [Action::Exit(Outcome::Left)]);

    let (mut session, now) = chatting(config());
    session.end_of_input(now);
    let actions = feed(&mut session, &["BYE"], now);
    assert_eq!(actions.last(), Some(&Action::Exit(Outcome::Left)));

    // Offline, leaving needs nobody's answer.
    let (mut session, now) = chatting(config());
    session.closed(now);
    session.take_actions();
    session.typed("/quit", now);
    assert_eq!(session.take_actions(), [Action::Exit(Outcome::Left)]);
}

#[test]
fn raw_mode_is_verbatim() {
    let raw = Config {
        raw: true,
        name: None,
        ..config()
    };
    let now = Instant::now();
    let mut session = Session::new(raw, PLAIN, now);
    session.connected(now);
    session.typed("who am i", now);
    let actions = feed(&mut session, &["ERR unknown-command", "BYE"], now);
    assert_eq!(sent(&actions), ["who am i"]);
    assert_eq!(shown(&actions), ["ERR unknown-command", "BYE"]);
    assert_eq!(
        actions.last(),
        Some(&Action::Exit(Outcome::Disconnected(None)))
    );
}

#[test]
fn completions() {
    let (mut session, now) = chatting(config());
    feed(&mut session, &["INFO alice connected", "MSG bob hi"], now);
    let (names, suffix) = session.completions("al", true);
    assert_eq!(
        (names.as_slice(), suffix),
        (&["alice".to_string(), "bob".into()][..], ": ")
    );
    assert_eq!(session.completions("b", false).1, " ");
    assert!(session
        .completions("/jo", true)
        .0
        .contains(&"/join".to_string()));
    assert_eq!(session.completions("#", false).0, ["#lobby"]);
    feed(&mut session, &["INFO alice disconnected"], now);
    assert_eq!(session.completions("a", true).0, ["bob"]);
}
