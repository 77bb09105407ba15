// ---- main.js: the user's hands: keys, clicks, logging in and out -----------

// A password crosses the network readable unless the page came over https
// (or from this very machine): the dialogs say so where it is typed.
const PLAIN_TEXT = location.protocol !== 'https:' && !['localhost', '127.0.0.1', '[::1]'].includes(location.hostname)
  ? 'This page is not encrypted (http://): a password typed here crosses the network readable. On the internet, use https://.'
  : '';

/** The login dialog; `withPassword`: for our name, which is registered. */
function showLogin(error, withPassword = false) {
  ui.login.hidden = false;
  ui.app.inert = true; // a modal dialog: nothing behind it can be reached
  ui.me.hidden = true;
  ui.loginError.textContent = error || '';
  ui.name.value = chat.name;
  chat.reserved = withPassword ? chat.name : '';
  showPasswordRow();
  if (!ui.account.hidden) closeAccount();
  ui.quit.hidden = true;
  setStatus('offline', 'Not connected');
  (withPassword ? ui.password : ui.name).focus();
}

/** The password field is there while the name typed is the registered one. */
function showPasswordRow() {
  const needed = Boolean(chat.reserved) && same(ui.name.value.trim(), chat.reserved);
  ui.passwordRow.hidden = !needed;
  ui.loginWarning.hidden = !needed || !PLAIN_TEXT;
  ui.loginWarning.textContent = PLAIN_TEXT;
}

/** Why the server would never take `password` (8 to 128 bytes), or ''. */
function passwordProblem(password) {
  const n = byteLength(password);
  return n >= 8 && n <= 128 ? '' : `A password is 8 to 128 bytes; that one is ${n}.`;
}

/** Logs in as `name` (with the `password` typed for it, if it is registered). */
function join(name, password = null) {
  if (!NAME_PATTERN.test(name)) {
    showLogin(ERRORS['invalid-username']);
    return;
  }
  if (!same(name, chat.name)) link.password = null; // a kept password is only that name's
  link.typed = password;
  chat.name = name;
  link.wanted = true;
  link.attempts = 0;
  link.takenSince = 0;
  ui.loginError.textContent = '';
  connect();
}

/** Leaves the chat and forgets every conversation (the computer may be shared). */
function leaveChat() {
  link.wanted = false;
  clearTimeout(link.retryTimer);
  clearInterval(link.tickTimer);
  sendRaw('QUIT');
  if (link.ws) drop(link.ws);
  for (const c of [...chat.convs.values()]) dropConv(c);
  listItems.clear();
  chat.current = null;
  chat.online = new Map();
  link.everLoggedIn = false;
  link.password = null;
  setBanner('');
  openConv(roomConv(LOBBY));
  showLogin('');
}

// ---- the account dialog: /register and /password ----------------------------------

let accountChange = null; // 'register' or 'password' while the dialog is open
let accountOpener = null; // what had the focus before it

/** Opens the dialog that sets a new password: `change` is 'register' or 'password'. */
function openAccount(change, opener = document.activeElement) {
  if (!chat.loggedIn) return say('Not connected: try again once you are back online.', 'error');
  if (change === 'register' && link.password) {
    return say(`${chat.name} is registered already; /password changes its password.`, 'error');
  }
  if (change === 'password' && !link.password) {
    return say(`${chat.name} is not registered by this login: /register makes it yours.`, 'error');
  }
  accountChange = change;
  accountOpener = opener;
  const register = change === 'register';
  ui.accountTitle.textContent = register ? `Register ${chat.name}` : `Change the password of ${chat.name}`;
  ui.accountAbout.textContent = register
    ? `With a password ${chat.name} is yours: nobody can log in as ${chat.name} without it. 8 to 128 bytes; `
      + 'this page keeps it only while it is open, to log in again after a reconnect.'
    : 'The new password replaces the old one at once. 8 to 128 bytes.';
  ui.accountSubmit.textContent = register ? 'Register' : 'Change password';
  ui.accountSubmit.disabled = false;
  ui.accountName.value = chat.name;
  ui.accountWarning.textContent = PLAIN_TEXT;
  ui.accountWarning.hidden = !PLAIN_TEXT;
  ui.accountError.textContent = '';
  ui.account.hidden = false;
  ui.app.inert = true;
  ui.newPassword.focus();
}

function closeAccount() {
  ui.account.hidden = true;
  ui.app.inert = !ui.login.hidden;
  ui.newPassword.value = ui.newPasswordAgain.value = '';
  accountChange = null;
  if (accountOpener && accountOpener.isConnected && !ui.app.inert) accountOpener.focus();
  accountOpener = null;
}

function submitAccount() {
  const change = accountChange;
  const password = ui.newPassword.value;
  const again = ui.newPasswordAgain.value;
  const problem = passwordProblem(password) || (password === again ? '' : 'The two differ: type the same password twice.');
  ui.newPassword.value = ui.newPasswordAgain.value = '';
  if (problem) {
    ui.accountError.textContent = problem;
    ui.newPassword.focus();
    return;
  }
  const failed = (text) => {
    if (accountChange !== change) return;
    ui.accountError.textContent = text;
    ui.accountSubmit.disabled = false;
    ui.newPassword.focus();
  };
  const sent = request(`${change === 'register' ? 'REGISTER' : 'PASSWORD'} ${password}`, {
    marker: true,
    onDone: () => {
      link.password = password;
      if (accountChange === change) closeAccount();
      say(change === 'register'
        ? `${chat.name} is yours now: logging in as ${chat.name} takes this password.`
        : 'Your password is changed.');
    },
    onErr: (code) => failed(code === 'rate-limited'
      ? 'Too many passwords were set from your address lately; try again in an hour.'
      : ERRORS[code] || `The server refused it (${code}).`),
    onLost: () => failed('The connection went before the server answered; try again once you are back online.'),
  });
  if (sent) ui.accountSubmit.disabled = true;
  else failed('Not connected: try again once you are back online.');
}

ui.accountForm.addEventListener('submit', (event) => {
  event.preventDefault();
  submitAccount();
});
ui.accountCancel.addEventListener('click', closeAccount);
ui.account.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') {
    event.preventDefault();
    event.stopPropagation();
    closeAccount();
  }
});

/** Arrow keys move between the messages of the list that has focus. */
function logKeys(event) {
  const log = event.target.closest('.log');
  if (!log || event.altKey || event.ctrlKey || event.metaKey) return;
  const items = [...log.children].filter((li) => !li.classList.contains('older'));
  const at = items.indexOf(event.target.closest('.log > li'));
  let next = null;
  switch (event.key) {
    case 'ArrowUp': next = at < 0 ? items[items.length - 1] : items[at - 1]; break;
    case 'ArrowDown': next = at < 0 ? null : items[at + 1]; break;
    case 'Home': next = at < 0 ? null : items[0]; break;
    case 'End': next = at < 0 ? null : items[items.length - 1]; break;
    case 'Escape': next = at < 0 ? null : log; break;
    case 'Enter': case ' ': {
      const name = at >= 0 && event.target === items[at] && items[at].querySelector('.name');
      if (name) {
        event.preventDefault();
        openMenu(name.dataset.name, name);
      }
      return;
    }
    default: return;
  }
  if (next) {
    event.preventDefault();
    next.focus();
  }
}

ui.logs.addEventListener('keydown', logKeys);
ui.logs.addEventListener('click', (event) => {
  const name = event.target.closest('.name');
  if (name) openMenu(name.dataset.name, name);
});
ui.menu.addEventListener('click', (event) => {
  const button = event.target.closest('button');
  if (button) menuAction(button.dataset.act);
});
ui.menu.addEventListener('keydown', (event) => {
  const items = menuItems();
  const at = items.indexOf(document.activeElement);
  if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
    event.preventDefault();
    items[(at + (event.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length].focus();
  } else if (event.key === 'Escape') {
    event.preventDefault();
    event.stopPropagation();
    closeMenu(true);
  } else if (event.key === 'Tab') closeMenu(false);
});
document.addEventListener('pointerdown', (event) => {
  if (!ui.menu.hidden && !ui.menu.contains(event.target)) closeMenu(false);
});
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && ui.sidebar.classList.contains('open')) closeDrawer(true);
});

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  submit();
});
ui.text.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  }
});
ui.text.addEventListener('input', updateHint);

ui.joinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const typed = ui.joinName.value.trim();
  const room = roomName(typed);
  if (!room) {
    badRoom(typed);
    return;
  }
  ui.joinName.value = '';
  if (same(room, LOBBY)) openConv(roomConv(LOBBY), true);
  else joinRoom(room);
});
ui.browse.addEventListener('click', () => runCommand(chat.current, '/rooms'));
ui.convAction.addEventListener('click', convAction);
ui.quit.addEventListener('click', leaveChat);
ui.drawerToggle.addEventListener('click', () => {
  if (ui.sidebar.classList.contains('open')) closeDrawer(true);
  else openDrawer();
});
ui.shade.addEventListener('click', () => closeDrawer(true));
NARROW.addEventListener('change', () => closeDrawer(false));
DARK_SCHEME.addEventListener('change', writeNameColours);

ui.bannerRetry.addEventListener('click', () => {
  clearTimeout(link.retryTimer);
  link.retryAt = Date.now();
  // Connected but not let in yet (the name in use, or locked): log in again there.
  if (link.ws && link.ws.readyState === WebSocket.OPEN && !chat.loggedIn) {
    logIn();
  } else connect();
});
ui.bannerTakeBack.addEventListener('click', () => {
  // AUTH again, which takes the name from wherever it is now.
  setBanner('');
  link.wanted = true;
  link.attempts = 0;
  connect();
});
ui.me.addEventListener('click', () => openMenu(chat.name, ui.me));
ui.bannerRename.addEventListener('click', () => askName(`Pick another name; your rooms and conversations stay.`));

function showNotifyButton() {
  ui.notify.hidden = !('Notification' in window) || Notification.permission !== 'default';
}
ui.notify.addEventListener('click', () => {
  Notification.requestPermission().then(showNotifyButton, showNotifyButton);
});
document.addEventListener('visibilitychange', () => {
  if (document.hidden) return;
  chat.unseen = 0;
  chat.unseenMention = '';
  if (chat.current) chat.current.unread = chat.current.mentions = 0;
  renderSidebar();
});

ui.loginForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const name = ui.name.value.trim();
  const password = ui.passwordRow.hidden ? null : ui.password.value;
  ui.password.value = '';
  const problem = password === null ? '' : passwordProblem(password);
  if (problem) {
    ui.loginError.textContent = problem;
    ui.password.focus();
    return;
  }
  join(name, password);
});
ui.name.addEventListener('input', showPasswordRow);

writeNameColours();
showNotifyButton();
openConv(roomConv(LOBBY));
updateHint();
if (params.has('name')) join(params.get('name'));
else showLogin('');
