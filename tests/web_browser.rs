//! The chat page in a real browser against the real server: headless
//! Chromium (see `browser/`) talks with users on the line protocol.
//! Commands typed in the page stay private, direct messages reach only their
//! target, rooms and their history show, a reconnect fills the gap of what
//! was missed exactly once, and a name registered in the page needs its
//! password (kept for reconnecting, stored nowhere) and is taken back only
//! when asked. (How it looks: `web_look.rs`.)

mod browser;
mod common;

use std::time::{Duration, Instant};

use browser::{chromium_or_skip, Browser, Proxy};
use chat::server::{Config, Server};
use common::Client;

/// Everything a test waits for must happen within this (generous: the
/// machine is shared, and Chromium's first start is slow).
const DEADLINE: Duration = Duration::from_secs(90);

/// The texts of the messages in a conversation's list, in order, joined by `|`.
fn texts(conv: &str) -> String {
    format!(
        "Array.from(document.querySelectorAll('.log[data-conv=\"{conv}\"] li.msg .text'), \
         e => e.textContent).join('|')"
    )
}

/// The seqs of the messages in a room's list, in order, joined by `,`.
fn seqs(conv: &str) -> String {
    format!(
        "Array.from(document.querySelectorAll('.log[data-conv=\"{conv}\"] li.msg'), \
         e => e.dataset.seq).join(',')"
    )
}

/// The notices and errors the page showed in the conversation on screen.
const NOTES: &str = "Array.from(document.querySelectorAll('.log:not([hidden]) li.notice, \
     .log:not([hidden]) li.error'), e => e.textContent).join('|')";

/// Reads lines until `want`, keeping every line (`want` included) in `seen`.
fn collect_until(client: &mut Client, want: &str, seen: &mut Vec<String>, deadline: Instant) {
    for _ in 0..10_000 {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no {want:?} in time; got {seen:?}");
        client.stream.set_read_timeout(Some(left)).unwrap();
        let line = client
            .try_line()
            .unwrap_or_else(|| panic!("connection closed before {want:?}; got {seen:?}"));
        seen.push(line.clone());
        if line == want {
            return;
        }
    }
    panic!("no {want:?} in 10000 lines");
}

#[test]
fn commands_stay_private_rooms_show_history_and_dms_stay_dms() {
    let Some(chromium) = chromium_or_skip("web_browser") else {
        return;
    };
    let deadline = Instant::now() + DEADLINE;
    let server = common::start_web();
    let web = server.web_addr().expect("the web listener is on");

    let mut tcp = Client::login(server.addr(), "tcpuser");
    let mut carol = Client::login(server.addr(), "carol");
    let (mut seen, mut carol_saw) = (Vec::new(), Vec::new());
    tcp.send("MSG early-1");
    tcp.send("JOIN #rust");
    tcp.send("MSG #rust rust-early");
    collect_until(
        &mut tcp,
        "MSG #rust tcpuser rust-early",
        &mut seen,
        deadline,
    );

    let mut b = Browser::launch(&chromium, deadline);
    let page = b.open(&format!("http://{web}/?name=webby"), 1200, 800, false);
    collect_until(&mut tcp, "INFO webby connected", &mut seen, deadline);

    // The lobby's history is shown on arrival, marked as history.
    page.wait_for(&mut b, &texts("#lobby"), "early-1");
    page.wait_for(
        &mut b,
        "String(document.querySelectorAll('.log[data-conv=\"#lobby\"] li[data-history]').length)",
        "1",
    );

    // Commands run in the page; nothing of them reaches anybody as text.
    page.say(&mut b, "/who");
    page.wait_for_part(&mut b, NOTES, "Online (3): carol, tcpuser, webby");
    page.say(&mut b, "/nosuch thing");
    page.wait_for_part(&mut b, NOTES, "Unknown command /nosuch: nothing was sent");
    page.say(&mut b, "/help");
    page.wait_for_part(&mut b, NOTES, "/join #room");
    page.say(&mut b, "//slash-text");
    collect_until(&mut tcp, "MSG webby /slash-text", &mut seen, deadline);
    page.say(&mut b, "/me waves");
    collect_until(&mut tcp, "MSG webby /me waves", &mut seen, deadline);
    page.wait_for(
        &mut b,
        "Array.from(document.querySelectorAll('.log[data-conv=\"#lobby\"] li.action'), \
         li => li.textContent.replace(li.querySelector('time').textContent, '')).join('|')",
        "* webbywaves",
    );

    // /dm reaches its target only, and opens the conversation with them.
    page.say(&mut b, "/dm tcpuser secret-dm");
    collect_until(&mut tcp, "DM webby secret-dm", &mut seen, deadline);
    page.wait_for(&mut b, &texts("@tcpuser"), "secret-dm");

    // A room: joined by command, its history shown, its people listed.
    page.say(&mut b, "/join #rust");
    collect_until(&mut tcp, "JOIN #rust webby", &mut seen, deadline);
    page.wait_for(&mut b, &texts("#rust"), "rust-early");
    page.wait_for(
        &mut b,
        "Array.from(document.querySelectorAll('#rooms .conv'), e => e.dataset.conv).join(',')",
        "#lobby,#rust",
    );
    page.wait_for(
        &mut b,
        "Array.from(document.querySelectorAll('#people li'), e => e.dataset.name).join(',')",
        "tcpuser,webby",
    );
    page.say(&mut b, "in-rust");
    collect_until(&mut tcp, "MSG #rust webby in-rust", &mut seen, deadline);

    // News elsewhere is counted; a DM from someone is a conversation.
    tcp.send("MSG while-away");
    tcp.send("DM webby ping-dm");
    page.wait_for(
        &mut b,
        "document.querySelector('.conv[data-conv=\"#lobby\"] .badge').textContent",
        "1",
    );
    page.wait_for(
        &mut b,
        "document.querySelector('.conv[data-conv=\"@tcpuser\"] .badge').textContent",
        "1",
    );

    // Replying inside the DM conversation stays a DM.
    page.eval(
        &mut b,
        "document.querySelector('.conv[data-conv=\"@tcpuser\"]').click(), ''",
    );
    page.wait_for(&mut b, &texts("@tcpuser"), "secret-dm|ping-dm");
    page.say(&mut b, "pong-dm");
    collect_until(&mut tcp, "DM webby pong-dm", &mut seen, deadline);

    // Back in the lobby: a paste of two lines is two messages; a mention
    // stands out; a name opens a menu that can put @name in the box.
    page.say(&mut b, "/go #lobby");
    page.say(&mut b, "line-a\nline-b");
    collect_until(&mut tcp, "MSG webby line-b", &mut seen, deadline);
    // While the tab is hidden, the title says who mentioned us.
    page.eval(
        &mut b,
        "Object.defineProperty(document, 'hidden', { value: true, configurable: true }), ''",
    );
    tcp.send("MSG hey webby look");
    page.wait_for(&mut b, "document.title", "(1) tcpuser mentioned you · Chat");
    page.eval(
        &mut b,
        "delete document.hidden, document.dispatchEvent(new Event('visibilitychange')), ''",
    );
    page.wait_for(&mut b, "document.title", "#lobby · Chat");
    page.wait_for(
        &mut b,
        "Array.from(document.querySelectorAll('.log[data-conv=\"#lobby\"] li[data-mention] mark'), \
         e => e.textContent).join(',')",
        "webby",
    );
    page.eval(
        &mut b,
        "document.querySelector('.log[data-conv=\"#lobby\"] li[data-mention] .name').click(), ''",
    );
    page.eval(
        &mut b,
        "document.querySelector('#menu [data-act=\"mention\"]').click(), ''",
    );
    page.wait_for(&mut b, "document.getElementById('text').value", "@tcpuser ");

    // Too long for the server's line: the limit is shown and nothing is sent.
    page.eval(
        &mut b,
        "(() => { const t = document.getElementById('text'); t.value = 'x'.repeat(5000); \
         t.dispatchEvent(new Event('input')); return ''; })()",
    );
    page.wait_for_part(
        &mut b,
        "document.getElementById('hint').textContent",
        "4096 bytes",
    );
    page.press(&mut b, "Enter", 13, false);
    page.wait_for(
        &mut b,
        "String(document.getElementById('text').value.length)",
        "5000",
    );
    page.eval(&mut b, "document.getElementById('text').value = ''");

    page.say(&mut b, "/help");
    page.screenshot(&mut b, &browser::screenshot_dir(), "desktop-commands");
    page.say(&mut b, "visible-marker");
    collect_until(&mut tcp, "MSG webby visible-marker", &mut seen, deadline);
    collect_until(
        &mut carol,
        "MSG webby visible-marker",
        &mut carol_saw,
        deadline,
    );

    // What tcpuser got from webby: exactly the messages and the three DMs.
    let from_webby: Vec<&str> = seen
        .iter()
        .map(String::as_str)
        .filter(|l| {
            l.starts_with("MSG webby ")
                || l.starts_with("MSG #rust webby")
                || l.starts_with("DM webby")
        })
        .collect();
    assert_eq!(
        from_webby,
        [
            "MSG webby /slash-text",
            "MSG webby /me waves",
            "DM webby secret-dm",
            "MSG #rust webby in-rust",
            "DM webby pong-dm",
            "MSG webby line-a",
            "MSG webby line-b",
            "MSG webby visible-marker",
        ]
    );
    // carol, in the lobby only: the lobby messages, no DM, no command.
    let carol_from_webby: Vec<&str> = carol_saw
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("MSG webby ") || l.starts_with("DM ") || l.contains("-dm"))
        .collect();
    assert_eq!(
        carol_from_webby,
        [
            "MSG webby /slash-text",
            "MSG webby /me waves",
            "MSG webby line-a",
            "MSG webby line-b",
            "MSG webby visible-marker",
        ]
    );

    // Closing the browser is the browser user leaving.
    b.close();
    collect_until(&mut tcp, "INFO webby disconnected", &mut seen, deadline);
    server.stop();
}

#[test]
fn a_reconnect_fills_the_gap_once_and_a_taken_name_is_explained() {
    let Some(chromium) = chromium_or_skip("web_browser") else {
        return;
    };
    let deadline = Instant::now() + DEADLINE;
    // A replay of one message after JOIN: the rest of a gap must be fetched.
    let server = Server::bind(Config {
        replay: 1,
        ..common::web_config()
    })
    .expect("server starts");
    let proxy = Proxy::start(server.web_addr().expect("the web listener is on"));

    let mut alice = Client::login(server.addr(), "alice");
    let mut seen = Vec::new();
    alice.send("JOIN #rust");
    alice.send("MSG before-1");
    alice.send("MSG #rust r-before-1");
    collect_until(
        &mut alice,
        "MSG #rust alice r-before-1",
        &mut seen,
        deadline,
    );

    let mut b = Browser::launch(&chromium, deadline);
    let page = b.open(
        &format!("http://{}/?name=webby&say=/join%20%23rust", proxy.addr),
        1200,
        800,
        false,
    );
    collect_until(&mut alice, "JOIN #rust webby", &mut seen, deadline);
    page.wait_for(&mut b, &texts("#lobby"), "before-1");
    page.wait_for(&mut b, &texts("#rust"), "r-before-1");

    // The network goes; meanwhile the chat goes on and someone takes the name.
    proxy.hold();
    proxy.cut();
    collect_until(&mut alice, "INFO webby disconnected", &mut seen, deadline);
    for line in ["MSG missed-1", "MSG #rust r-missed-1", "MSG missed-2"] {
        alice.send(line);
    }
    alice.send("MSG #rust r-missed-2");
    alice.send("MSG #rust r-missed-3");
    collect_until(
        &mut alice,
        "MSG #rust alice r-missed-3",
        &mut seen,
        deadline,
    );
    page.wait_for_part(
        &mut b,
        "document.getElementById('banner-text').textContent",
        "Trying again",
    );
    let mut impostor = Client::login(server.addr(), "webby");

    // The network is back: the page says why it cannot log in, and tries on.
    proxy.pass();
    page.wait_for_part(
        &mut b,
        "document.getElementById('banner-text').textContent",
        "Somebody is using the name webby",
    );
    page.wait_for(
        &mut b,
        "String(!document.getElementById('banner-rename').hidden)",
        "true",
    );
    page.screenshot(&mut b, &browser::screenshot_dir(), "desktop-name-taken");
    impostor.send("QUIT");
    impostor.expect("BYE");

    // Logged in again: what was missed is there once, in order, no gap.
    page.wait_for(
        &mut b,
        "document.getElementById('status').dataset.state",
        "online",
    );
    page.wait_for(&mut b, &texts("#lobby"), "before-1|missed-1|missed-2");
    page.wait_for(&mut b, &seqs("#lobby"), "1,2,3");
    page.wait_for(
        &mut b,
        &texts("#rust"),
        "r-before-1|r-missed-1|r-missed-2|r-missed-3",
    );
    page.wait_for(&mut b, &seqs("#rust"), "1,2,3,4");
    page.wait_for(
        &mut b,
        "String(document.getElementById('banner').hidden)",
        "true",
    );

    // Live lines after it go on from there.
    alice.send("MSG after-1");
    alice.send("MSG #rust r-after-1");
    page.wait_for(
        &mut b,
        &texts("#lobby"),
        "before-1|missed-1|missed-2|after-1",
    );
    page.wait_for(&mut b, &seqs("#lobby"), "1,2,3,4");
    page.wait_for(
        &mut b,
        &texts("#rust"),
        "r-before-1|r-missed-1|r-missed-2|r-missed-3|r-after-1",
    );
    page.wait_for_part(
        &mut b,
        "document.querySelector('.log[data-conv=\"#lobby\"]').textContent",
        "2 messages you missed while away are shown above.",
    );

    // The server starts again without its history (another one behind the
    // same address): its seqs start at 1 again, and new messages must not be
    // taken for ones already shown.
    let fresh = Server::bind(common::web_config()).expect("server starts");
    proxy.set_upstream(fresh.web_addr().expect("the web listener is on"));
    proxy.cut();
    server.stop();
    page.wait_for_part(
        &mut b,
        "document.querySelector('.log[data-conv=\"#lobby\"]').textContent",
        "The server started again without its history",
    );
    page.wait_for(
        &mut b,
        "document.getElementById('status').dataset.state",
        "online",
    );
    let mut alice = Client::login(fresh.addr(), "alice");
    alice.send("MSG fresh-1");
    page.wait_for(
        &mut b,
        &texts("#lobby"),
        "before-1|missed-1|missed-2|after-1|fresh-1",
    );
    page.wait_for(
        &mut b,
        "document.querySelector('.log[data-conv=\"#lobby\"] li.msg:last-of-type').dataset.seq",
        "1",
    );
    b.close();
    fresh.stop();
}

/// What the page keeps where a password must never be (storage, cookies, the
/// URL, the document, its input fields): "clean" and the storage sizes, or
/// what leaked.
fn nothing_stored(passwords: &[&str]) -> String {
    let list: Vec<String> = passwords.iter().map(|p| format!("'{p}'")).collect();
    format!(
        "(() => {{ const all = JSON.stringify([Object.entries(localStorage), \
         Object.entries(sessionStorage), document.cookie, location.href, \
         document.documentElement.outerHTML, \
         Array.from(document.querySelectorAll('input'), i => i.value)]); \
         const leaked = [{}].filter(p => all.includes(p)); \
         return leaked.length ? 'leaked ' + leaked : \
         `clean ${{localStorage.length}} ${{sessionStorage.length}} ${{document.cookie.length}}`; }})()",
        list.join(", ")
    )
}

/// Types `first` and `again` in the account dialog's two fields (the focus is
/// in the first), and Enter.
fn type_new_password(b: &mut Browser, page: &browser::Page, first: &str, again: &str) {
    page.type_text(b, first);
    page.eval(
        b,
        "document.getElementById('new-password-again').focus(), ''",
    );
    page.type_text(b, again);
    page.press(b, "Enter", 13, false);
}

#[test]
fn a_name_registered_in_the_page_needs_its_password_after_a_reload_and_a_takeover_is_explained() {
    let Some(chromium) = chromium_or_skip("web_browser") else {
        return;
    };
    let deadline = Instant::now() + DEADLINE;
    let server = common::start_web();
    let proxy = Proxy::start(server.web_addr().expect("the web listener is on"));
    let mut watcher = Client::login(server.addr(), "watcher");
    let state = "document.getElementById('status').dataset.state";
    let typed = [
        "first-try-1",
        "first-typo-1",
        "web pass 123",
        "wrong pass 1",
    ];

    let mut b = Browser::launch(&chromium, deadline);
    let url = format!("http://{}/?name=webby", proxy.addr);
    let page = b.open(&url, 1200, 800, false);
    watcher.skip_until("INFO webby connected", deadline);
    page.wait_for(&mut b, state, "online");

    // "Register this name" in the user menu: the password twice, the same.
    page.eval(&mut b, "document.getElementById('me').click(), ''");
    page.eval(
        &mut b,
        "document.querySelector('#menu [data-act=\"register\"]').click(), ''",
    );
    page.wait_for(&mut b, "document.activeElement.id", "new-password");
    page.screenshot(&mut b, &browser::screenshot_dir(), "desktop-register");
    type_new_password(&mut b, &page, "first-try-1", "first-typo-1");
    page.wait_for_part(
        &mut b,
        "document.getElementById('account-error').textContent",
        "The two differ",
    );
    page.wait_for(&mut b, "document.activeElement.id", "new-password");
    type_new_password(&mut b, &page, "web pass 123", "web pass 123");
    page.wait_for_part(&mut b, NOTES, "webby is yours now");
    page.wait_for(
        &mut b,
        "String(document.getElementById('account').hidden)",
        "true",
    );
    let mut other = Client::connect(server.addr());
    other.send("LOGIN webby");
    other.expect("ERR name-reserved");
    page.wait_for(&mut b, &nothing_stored(&typed), "clean 0 0 0");

    // The connection goes: the page logs in again with the password it kept.
    proxy.cut();
    watcher.skip_until("INFO webby disconnected", deadline);
    watcher.skip_until("INFO webby connected", deadline);
    page.wait_for(&mut b, state, "online");

    // A reload forgets it: the page asks for it, a wrong one is said.
    page.navigate(&mut b, &url);
    page.wait_for(
        &mut b,
        "String(!document.getElementById('password-row').hidden)",
        "true",
    );
    page.wait_for(&mut b, "document.activeElement.id", "password");
    page.screenshot(&mut b, &browser::screenshot_dir(), "desktop-password");
    page.type_text(&mut b, "wrong pass 1");
    page.press(&mut b, "Enter", 13, false);
    page.wait_for_part(
        &mut b,
        "document.getElementById('login-error').textContent",
        "Wrong password",
    );
    page.wait_for(&mut b, "document.activeElement.id", "password");
    page.type_text(&mut b, "web pass 123");
    page.press(&mut b, "Enter", 13, false);
    page.wait_for(&mut b, state, "online");
    watcher.skip_until("INFO webby connected", deadline);
    other.send("LOGIN webby");
    other.expect("ERR name-reserved");
    page.wait_for(&mut b, &nothing_stored(&typed), "clean 0 0 0");

    // The owner logs in elsewhere: this page stops, says why, and does not
    // come back by itself; "Take it back" does.
    other.send("AUTH webby web pass 123");
    other.expect("OK");
    page.wait_for_part(
        &mut b,
        "document.getElementById('banner-text').textContent",
        "You logged in as webby somewhere else",
    );
    page.wait_for(
        &mut b,
        "String(!document.getElementById('banner-take-back').hidden)",
        "true",
    );
    page.wait_for(
        &mut b,
        "`${link.wanted} ${link.ws} ${link.retryAt <= Date.now()}`",
        "false null true",
    );
    page.screenshot(
        &mut b,
        &browser::screenshot_dir(),
        "desktop-logged-in-elsewhere",
    );
    other.expect_nothing_pending();
    page.eval(
        &mut b,
        "document.getElementById('banner-take-back').click(), ''",
    );
    other.expect("BYE logged-in-elsewhere");
    page.wait_for(&mut b, state, "online");
    page.wait_for(
        &mut b,
        "String(document.getElementById('banner').hidden)",
        "true",
    );
    page.wait_for(&mut b, &nothing_stored(&typed), "clean 0 0 0");
    b.close();
    server.stop();
}
