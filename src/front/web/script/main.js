// ---- main.js: the user's hands: keys, clicks, logging in and out -----------

function showLogin(error) {
  ui.login.hidden = false;
  ui.app.inert = true; // a modal dialog: nothing behind it can be reached
  ui.me.textContent = '';
  ui.loginError.textContent = error || '';
  ui.name.value = chat.name;
  ui.quit.hidden = true;
  setStatus('offline', 'Not connected');
  ui.name.focus();
}

function join(name) {
  if (!NAME_PATTERN.test(name)) {
    showLogin(ERRORS['invalid-username']);
    return;
  }
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
  setBanner('');
  openConv(roomConv(LOBBY));
  showLogin('');
}

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
  if (link.ws && link.ws.readyState === WebSocket.OPEN && link.takenSince) {
    logIn();
  } else connect();
});
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
  join(ui.name.value.trim());
});

writeNameColours();
showNotifyButton();
openConv(roomConv(LOBBY));
updateHint();
if (params.has('name')) join(params.get('name'));
else showLogin('');
