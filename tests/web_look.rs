//! How the chat page looks and is used, in a real browser (see `browser/`):
//! every text/background pair, every name colour and every button at least
//! 4.5:1 (WCAG AA) in the light and the dark scheme, computed in the page from
//! `getComputedStyle`; a focus ring of at least 3:1 on everything Tab
//! reaches; no horizontal overflow at phone widths, where the room list is a
//! drawer; "tap" on touch screens. Screenshots (desktop, dark, phone) go to
//! `target/tmp/web-screenshots/` for a person to look at.

mod browser;
mod common;

use std::time::{Duration, Instant};

use browser::{chromium_or_skip, screenshot_dir, Browser, Page};
use common::Client;

const DEADLINE: Duration = Duration::from_secs(90);

/// The page-side contrast helpers every check below uses, made global once.
const CONTRAST_LIB: &str = r#"(() => {
const rgba = (css) => {
  const n = (css.match(/[\d.]+/g) || []).map(Number);
  return [n[0] || 0, n[1] || 0, n[2] || 0, n.length > 3 ? n[3] : 1];
};
const lum = ([r, g, b]) => {
  const f = (c) => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const ratio = (a, b) => {
  const [x, y] = [lum(a), lum(b)];
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
};
const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3])).concat(1);
// The colour behind an element: its own and its ancestors' backgrounds, composited.
const behind = (el) => {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c[3] > 0) layers.push(c);
    if (c[3] >= 1) break;
  }
  return layers.reverse().reduce((under, top) => over(top, under), [255, 255, 255, 1]);
};
const shown = (el) => el.getClientRects().length > 0 && el.checkVisibility({ visibilityProperty: true });
const label = (el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${el.className} "${(el.textContent || el.placeholder || '').trim().slice(0, 30)}"`;
Object.assign(window, { rgba, ratio, behind, shown, label });
return '';
})()"#;

/// Every text the page shows (own text nodes and placeholders), every button
/// (hidden ones shown for the check: the banner's, the name menu's, the login
/// form's with its password field and warning, the account dialog's, a
/// disabled one), and every name colour on every surface a name can be on:
/// the failures, or "ok".
const CHECK_CONTRAST: &str = r#"(() => {
  const failures = [];
  const check = (what, fg, bg, min) => {
    const r = ratio(fg, bg);
    if (r < min) failures.push(`${what}: ${r.toFixed(2)}`);
  };
  // Show what is hidden until something happens.
  setBanner('A banner with all its buttons', ['retry', 'rename', 'takeBack']);
  ui.login.hidden = false;
  ui.account.hidden = false;
  const warnings = [ui.passwordRow, ui.loginWarning, ui.accountWarning];
  for (const el of warnings) el.hidden = false;
  ui.loginWarning.textContent = ui.accountWarning.textContent = 'A warning about plain text';
  ui.accountError.textContent = ui.loginError.textContent = 'An error';
  const nameInLog = document.querySelector('.log:not([hidden]) .name');
  openMenu(nameInLog.dataset.name, nameInLog);
  for (const b of ui.menu.querySelectorAll('button')) b.hidden = false;
  const disabled = document.createElement('button');
  disabled.className = 'primary';
  disabled.disabled = true;
  disabled.textContent = 'Disabled';
  ui.composer.append(disabled);
  let texts = 0;
  for (const el of document.querySelectorAll('body *')) {
    if (!shown(el)) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (own || el.tagName === 'BUTTON') {
      texts += 1;
      check(label(el), rgba(getComputedStyle(el).color), behind(el), 4.5);
    }
    if (el.placeholder) check(label(el) + '::placeholder', rgba(getComputedStyle(el, '::placeholder').color), behind(el), 4.5);
  }
  // Every hue a name can have, on every surface a name can be drawn on.
  const probe = document.createElement('span');
  document.body.append(probe);
  const surfaces = ['--bg', '--side', '--hover', '--selected', '--mention-bg'].map((v) => {
    probe.style.backgroundColor = `var(${v})`;
    return [v, rgba(getComputedStyle(probe).backgroundColor)];
  });
  probe.style.backgroundColor = '';
  for (let h = 0; h < 360; h += 1) {
    probe.className = `name h${h}`;
    const colour = rgba(getComputedStyle(probe).color);
    for (const [v, bg] of surfaces) check(`name hue ${h} on ${v}`, colour, bg, 4.5);
  }
  probe.remove();
  disabled.remove();
  closeMenu(false);
  for (const el of warnings) el.hidden = true;
  ui.accountError.textContent = ui.loginError.textContent = '';
  ui.login.hidden = true;
  ui.account.hidden = true;
  setBanner('');
  return failures.length ? failures.join('\n') : `ok ${texts}`;
})()"#;

/// Presses Tab until the focus comes round, checking each focused element's
/// ring (at least 2 px, 3:1 against what is around it); gives the failures
/// and what was reached.
fn check_focus(b: &mut Browser, page: &Page) -> (Vec<String>, Vec<String>) {
    page.eval(b, "document.activeElement.blur(), ''");
    let (mut failures, mut reached) = (Vec::new(), Vec::new());
    for _ in 0..60 {
        page.press(b, "Tab", 9, false);
        let verdict = page.eval(
            b,
            r#"(() => {
              const el = document.activeElement;
              const s = getComputedStyle(el);
              const around = el.closest('.log') && el !== el.closest('.log') ? el : el.parentElement;
              const r = ratio(rgba(s.outlineColor), behind(around));
              const ok = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 && r >= 3;
              return (ok ? 'ok ' : `bad ${s.outlineStyle} ${s.outlineWidth} ${r.toFixed(2)} `) + label(el);
            })()"#,
        );
        // Past the last element the focus leaves the page, then comes round.
        if reached.contains(&verdict) || verdict.contains(" body.") {
            break;
        }
        if !verdict.starts_with("ok ") {
            failures.push(verdict.clone());
        }
        reached.push(verdict);
    }
    (failures, reached)
}

#[test]
fn contrast_focus_keyboard_and_phone_width() {
    let Some(chromium) = chromium_or_skip("web_look") else {
        return;
    };
    let deadline = Instant::now() + DEADLINE;
    let server = common::start_web();
    let web = server.web_addr().expect("the web listener is on");
    let shots = screenshot_dir();

    let mut alice = Client::login(server.addr(), "alice");
    let mut bob = Client::login(server.addr(), "Bob_the_builder");
    alice.send("MSG good morning, everyone");
    bob.send("JOIN #rust");
    bob.send("MSG #rust has anybody tried the new borrow checker?");

    let mut b = Browser::launch(&chromium, deadline);
    let page = b.open(
        &format!("http://{web}/?name=webby&say=/join%20%23rust"),
        1200,
        800,
        false,
    );
    bob.skip_until("JOIN #rust webby", deadline);
    bob.send("MSG #rust welcome, webby!");
    alice.send("MSG hey webby, see #rust");
    alice.send("DM webby lunch at noon?");
    page.wait_for(
        &mut b,
        "document.querySelector('.conv[data-conv=\"@alice\"] .badge')?.textContent ?? ''",
        "1",
    );
    page.say(&mut b, "hello from the browser");
    bob.skip_until("MSG #rust webby hello from the browser", deadline);
    page.eval(&mut b, CONTRAST_LIB);

    for dark in [false, true] {
        let scheme = if dark { "dark" } else { "light" };
        page.dark(&mut b, dark);
        // The name colours follow the scheme (computed for the one in use).
        page.wait_for(
            &mut b,
            "document.getElementById('name-colours').dataset.scheme",
            scheme,
        );
        let verdict = page.eval(&mut b, CHECK_CONTRAST);
        assert!(
            verdict.starts_with("ok "),
            "contrast below 4.5:1 in the {scheme} scheme:\n{verdict}"
        );
        page.screenshot(&mut b, &shots, &format!("desktop-{scheme}"));

        let (failures, reached) = check_focus(&mut b, &page);
        assert!(
            failures.is_empty(),
            "focus rings in the {scheme} scheme: {failures:#?}"
        );
        for wanted in [
            "ol.log",
            "textarea#text",
            "input#join-name",
            "button.conv",
            "button.person",
            "button#send",
        ] {
            assert!(
                reached.iter().any(|r| r.contains(wanted)),
                "Tab never reaches {wanted}: {reached:#?}"
            );
        }
    }

    // The message list is usable from the keyboard: arrows move between
    // messages, Enter on one opens its name's menu.
    page.eval(
        &mut b,
        "document.querySelector('.log:not([hidden])').focus(), ''",
    );
    page.press(&mut b, "ArrowUp", 38, false);
    page.press(&mut b, "ArrowUp", 38, false);
    page.wait_for(
        &mut b,
        "document.activeElement.dataset.from || ''",
        "Bob_the_builder",
    );
    page.press(&mut b, "Enter", 13, false);
    page.wait_for(&mut b, "document.activeElement.dataset.act || ''", "dm");
    page.press(&mut b, "Escape", 27, false);
    page.wait_for(
        &mut b,
        "String(document.getElementById('menu').hidden)",
        "true",
    );

    // Phone widths: nothing wider than the screen, the room list a drawer.
    for width in [360, 390, 430] {
        page.viewport(&mut b, width, 800, true);
        page.wait_for(&mut b, "String(innerWidth)", &width.to_string());
        page.wait_for(
            &mut b,
            "String(document.documentElement.scrollWidth <= innerWidth && document.body.scrollWidth <= innerWidth)",
            "true",
        );
    }
    page.viewport(&mut b, 390, 844, true);
    page.wait_for(
        &mut b,
        "String(getComputedStyle(document.getElementById('sidebar')).visibility)",
        "hidden",
    );
    page.screenshot(&mut b, &shots, "phone-dark");
    page.dark(&mut b, false);
    page.screenshot(&mut b, &shots, "phone-light");
    page.eval(
        &mut b,
        "document.getElementById('drawer-toggle').click(), ''",
    );
    page.wait_for(
        &mut b,
        "String(getComputedStyle(document.getElementById('sidebar')).visibility)",
        "visible",
    );
    // Slid in all the way (the drawer moves in for a fifth of a second).
    page.wait_for(
        &mut b,
        "getComputedStyle(document.getElementById('sidebar')).transform",
        "none",
    );
    page.wait_for(
        &mut b,
        "String(document.documentElement.scrollWidth <= innerWidth)",
        "true",
    );
    page.screenshot(&mut b, &shots, "phone-light-drawer");
    // Choosing a conversation in the drawer closes it.
    page.eval(
        &mut b,
        "document.querySelector('.conv[data-conv=\"@alice\"]').click(), ''",
    );
    page.wait_for(
        &mut b,
        "document.getElementById('drawer-toggle').getAttribute('aria-expanded')",
        "false",
    );

    // On a touch screen the page says "tap", not "click".
    let touch = b.new_page();
    touch.call(
        &mut b,
        "Emulation.setTouchEmulationEnabled",
        r#"{"enabled":true,"maxTouchPoints":5}"#,
    );
    touch.viewport(&mut b, 390, 844, true);
    touch.navigate(&mut b, &format!("http://{web}/?name=thumbs"));
    touch.wait_for_part(
        &mut b,
        "document.querySelector('.log[data-conv=\"#lobby\"]').textContent",
        "Tap a name to send a direct message",
    );
    b.close();
    server.stop();
}
