// ---- sidebar.js: the conversation list, people, the bars, the name menu ----
//
// The lists are updated in place (items are kept per conversation and per
// person), so a keyboard user's focus stays where it is while messages come.
// On a phone the sidebar is a drawer over the messages.

const NARROW = matchMedia('(max-width: 720px)');
const listItems = new Map(); // 'conv:key' or 'person:folded name' → <li>

/** Makes `ul` hold `items` in this order, moving nodes only when it changed. */
function setChildren(ul, items) {
  const same = items.length === ul.children.length && items.every((li, i) => ul.children[i] === li);
  if (!same) ul.replaceChildren(...items);
}

function item(id, make) {
  let li = listItems.get(id);
  if (!li) {
    li = make();
    listItems.set(id, li);
  }
  return li;
}

/**
 * The rooms (the lobby first, then by name) and direct conversations, with
 * their counts: cheap, so it runs per message. (The people list runs when
 * somebody comes or goes: `renderPeople`.)
 */
function renderSidebar() {
  const all = [...chat.convs.values()];
  const rooms = all
    .filter((c) => c.kind === 'room' && (c.joined || c.joining || c === chat.current))
    .sort((a, b) => (a.key === LOBBY ? -1 : b.key === LOBBY ? 1 : a.key.localeCompare(b.key)));
  const dms = all.filter((c) => c.kind === 'dm').sort((a, b) => a.key.localeCompare(b.key));
  setChildren(ui.rooms, rooms.map(convItem));
  setChildren(ui.dms, dms.map(convItem));
  for (const [id, li] of listItems) {
    if (id.startsWith('conv:') && !chat.convs.has(id.slice(5))) listItems.delete(id);
  }
  let elsewhere = 0;
  let loud = false;
  for (const c of all) {
    if (c === chat.current) continue;
    elsewhere += c.unread;
    loud = loud || c.mentions > 0;
  }
  ui.drawerBadge.textContent = elsewhere ? String(elsewhere) : '';
  ui.drawerBadge.toggleAttribute('data-loud', loud);
  ui.drawerToggle.setAttribute('aria-label', elsewhere ? `Rooms and people, ${elsewhere} unread` : 'Rooms and people');
  updateTitle();
}

function convItem(c) {
  const li = item('conv:' + c.key, () => {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'conv';
    button.dataset.conv = c.key;
    if (c.kind === 'dm') {
      const dot = document.createElement('span');
      dot.className = 'dot';
      button.append(dot);
    }
    const label = document.createElement('span');
    label.className = 'label';
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.setAttribute('aria-hidden', 'true');
    button.append(label, badge);
    button.addEventListener('click', () => openConv(chat.convs.get(c.key) || c, true));
    li.append(button);
    if (c.kind === 'dm') {
      const close = document.createElement('button');
      close.type = 'button';
      close.className = 'close';
      close.textContent = '✕';
      close.setAttribute('aria-label', `Close the conversation with ${c.title}`);
      close.addEventListener('click', () => closeDm(c));
      li.append(close);
    }
    return li;
  });
  const button = li.firstElementChild;
  const label = button.querySelector('.label');
  label.textContent = c.title;
  label.classList.toggle(`h${hue(c.title)}`, c.kind === 'dm');
  const badge = button.querySelector('.badge');
  badge.textContent = c.unread ? String(c.unread) : '';
  badge.toggleAttribute('data-loud', c.mentions > 0);
  button.setAttribute('aria-current', String(c === chat.current));
  if (c.unread) button.dataset.unread = String(c.unread);
  else delete button.dataset.unread;
  const online = c.kind === 'dm' && chat.online.has(fold(c.title));
  const dot = button.querySelector('.dot');
  if (dot) dot.toggleAttribute('data-online', online);
  const state = [];
  if (c.kind === 'dm') state.push(online ? 'online' : 'offline');
  if (c.kind === 'room' && !c.joined) state.push(c.joining ? 'joining' : 'not joined');
  if (c.unread) state.push(`${c.unread} unread`);
  if (c.mentions) state.push(`${c.mentions} mentioning you`);
  button.setAttribute('aria-label', [c.kind === 'dm' ? `${c.title} (direct)` : c.title, ...state].join(', '));
  return li;
}

/** Who is in the conversation on screen (everybody online for the lobby and DMs). */
function renderPeople() {
  const c = chat.current;
  const room = c && c.kind === 'room' && c.key !== LOBBY;
  const names = [...(room ? c.members || new Map() : chat.online).values()];
  names.sort((a, b) => fold(a).localeCompare(fold(b)));
  const where = room ? `in ${c.title}` : 'online';
  ui.peopleHeading.textContent = chat.loggedIn ? `People ${where} (${names.length})` : 'People';
  ui.people.setAttribute('aria-label', `People ${where}: ${TAP.toLowerCase()} a name to send a direct message or mention them`);
  setChildren(ui.people, names.map((name) => {
    const li = item('person:' + fold(name), () => {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'person';
      const label = document.createElement('span');
      button.append(label);
      button.addEventListener('click', () => openMenu(li.dataset.name, button));
      li.append(button);
      return li;
    });
    // The name as now registered (the same person may log in with other case).
    li.dataset.name = name;
    const label = li.querySelector('span');
    label.className = `label h${hue(name)}`;
    label.textContent = isMe(name) ? `${name} (you)` : name;
    return li;
  }));
}

/** Puts `c` on screen; `chosen` when the user picked it (focus goes to the box). */
function openConv(c, chosen = false) {
  const previous = chat.current;
  chat.current = c;
  for (const other of chat.convs.values()) other.log.hidden = other !== c;
  c.unread = 0;
  c.mentions = 0;
  if (previous !== c) c.log.scrollTop = c.log.scrollHeight;
  if (c.kind === 'room' && chat.loggedIn) {
    if (!c.joined && !c.joining && !c.entries.some((e) => e.seq !== undefined)) {
      // Looking at a room without joining it: rooms are public.
      request(`HISTORY ${c.title} ${OPEN_HISTORY}`, { history: c.title });
    }
    if (c.joined && !c.members) requestWho(c);
  }
  updateConvBar();
  renderSidebar();
  renderPeople();
  if (previous && previous !== c && previous.kind === 'room' && !previous.joined && !previous.joining) {
    dropConv(previous); // a room only looked at is forgotten when left
    renderSidebar();
  }
  closeDrawer(false);
  if (chosen) ui.text.focus();
}

/** The bar above the messages and the message box follow the conversation. */
function updateConvBar() {
  const c = chat.current;
  if (!c) return;
  ui.convTitle.textContent = c.title;
  ui.convTitle.className = c.kind === 'dm' ? `h${hue(c.title)}` : '';
  let info = '';
  let action = '';
  if (c.kind === 'dm') {
    info = `${chat.online.has(fold(c.title)) ? 'Online' : 'Offline'} · only you and ${c.title} see these messages`;
    action = 'Close';
  } else if (c.key === LOBBY) {
    info = 'Everybody is here.';
  } else if (c.joined) {
    info = c.members ? `${c.members.size} here` : '';
    action = 'Leave room';
  } else {
    info = c.joining ? 'Joining…' : 'You are looking at this room without being in it.';
    action = c.joining ? '' : 'Join room';
  }
  ui.convInfo.textContent = info;
  ui.convAction.textContent = action;
  ui.convAction.hidden = !action;
  const where = c.kind === 'dm' ? `Message ${c.title} (direct)` : `Message ${c.title}`;
  ui.textLabel.textContent = where;
  ui.text.placeholder = c.kind === 'room' && !c.joined ? `Join ${c.title} to write here` : where;
  updateHint();
}

function convAction() {
  const c = chat.current;
  if (c.kind === 'dm') closeDm(c);
  else if (c.joined) partRoom(c.title);
  else joinRoom(c.title);
}

function closeDm(c) {
  if (chat.current === c) openConv(roomConv(LOBBY));
  dropConv(c);
  renderSidebar();
}

function updateTitle() {
  const where = chat.current ? `${chat.current.title} · ` : '';
  if (document.hidden && chat.unseen) {
    document.title = `(${chat.unseen}) ${chat.unseenMention ? chat.unseenMention + ' · ' : ''}Chat`;
  } else document.title = `${where}Chat`;
}

// ---- the name menu -----------------------------------------------------------

let menuFor = null; // { name, anchor }

function openMenu(name, anchor) {
  menuFor = { name, anchor };
  ui.menuTitle.textContent = isMe(name) ? `${name} (you)` : name;
  const dm = ui.menu.querySelector('[data-act="dm"]');
  dm.hidden = isMe(name);
  dm.textContent = `Send ${name} a direct message`;
  ui.menu.querySelector('[data-act="mention"]').textContent = `Mention @${name}`;
  // Ours: make the name ours with a password, or change it.
  ui.menu.querySelector('[data-act="register"]').hidden = !isMe(name) || !chat.loggedIn || Boolean(link.password);
  ui.menu.querySelector('[data-act="password"]').hidden = !isMe(name) || !chat.loggedIn || !link.password;
  ui.menu.hidden = false;
  const rect = anchor.getBoundingClientRect();
  const box = ui.menu.getBoundingClientRect();
  ui.menu.style.left = `${Math.max(8, Math.min(rect.left, innerWidth - box.width - 8))}px`;
  const below = rect.bottom + 4;
  ui.menu.style.top = `${below + box.height > innerHeight - 8 ? Math.max(8, rect.top - box.height - 4) : below}px`;
  menuItems()[0].focus();
}

function menuItems() {
  return [...ui.menu.querySelectorAll('button')].filter((b) => !b.hidden);
}

function closeMenu(refocus) {
  if (ui.menu.hidden) return;
  ui.menu.hidden = true;
  if (refocus && menuFor && menuFor.anchor.isConnected) menuFor.anchor.focus();
  menuFor = null;
}

function menuAction(act) {
  const chosen = menuFor;
  closeMenu(act === 'close');
  if (!chosen) return;
  if (act === 'dm') openConv(dmConv(chosen.name), true);
  if (act === 'mention') insertInBox(`@${chosen.name} `);
  if (act === 'register' || act === 'password') openAccount(act, chosen.anchor);
}

/** Inserts text at the cursor of the message box. */
function insertInBox(text) {
  const box = ui.text;
  const start = box.selectionStart;
  const before = box.value.slice(0, start);
  const space = before && !/\s$/.test(before) ? ' ' : '';
  box.setRangeText(space + text, start, box.selectionEnd, 'end');
  box.focus();
  updateHint();
}

// ---- the drawer (phones) -------------------------------------------------------

function openDrawer() {
  ui.sidebar.classList.add('open');
  ui.shade.hidden = false;
  ui.main.inert = true; // under the shade: out of reach until the drawer closes
  ui.drawerToggle.setAttribute('aria-expanded', 'true');
  const current = ui.sidebar.querySelector('.conv[aria-current="true"]') || ui.sidebar.querySelector('button');
  if (current) setTimeout(() => current.focus(), 0);
}

function closeDrawer(refocus) {
  if (!ui.sidebar.classList.contains('open')) return;
  ui.sidebar.classList.remove('open');
  ui.shade.hidden = true;
  ui.main.inert = false;
  ui.drawerToggle.setAttribute('aria-expanded', 'false');
  if (refocus) ui.drawerToggle.focus();
}

// ---- the banner and the status -------------------------------------------------

/** Explains a state above everything; `actions` lists the buttons to show. */
function setBanner(text, actions = []) {
  ui.banner.hidden = !text;
  ui.bannerText.textContent = text || '';
  ui.bannerRetry.hidden = !actions.includes('retry');
  ui.bannerRename.hidden = !actions.includes('rename');
  ui.bannerTakeBack.hidden = !actions.includes('takeBack');
}

function setStatus(state, text) {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
  ui.send.disabled = state !== 'online';
}
