// ---- conversations.js: rooms and direct conversations, and their logs ------
//
// A conversation is a room (the lobby, joined rooms, rooms looked at without
// joining) or the direct messages with one person. Each has its own message
// list (an <ol role="log">), kept in the page while others are shown, so a
// switch keeps every list's scroll position and a screen reader hears only the
// one on screen.
//
// Room messages are ordered by their sequence number (seq). History lines
// carry it; live lines do not, but the server queues a history block (the
// replay after JOIN, or a HISTORY answer) in the room's one order, so once a
// block has come, the n-th live line after it is the block's newest seq + n,
// and every live line received before it is in it (numbered backwards from
// its newest). Until a room's first block on a connection has come its live
// lines wait in `pending`. A reconnect therefore merges what was missed by
// seq: nothing twice, and a gap the block did not reach is fetched.

const LOBBY = '#lobby';
// A tab left open for days stays small: the oldest entries go.
const MAX_ENTRIES = 1000;
const ROOM_PATTERN = /^#[A-Za-z0-9_.-]{1,32}$/;
const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,32}$/;
// How many messages a room shows when opened, and the most one HISTORY returns.
const OPEN_HISTORY = 50;
const MAX_HISTORY = 1000;

const $ = (id) => document.getElementById(id);
const ui = {
  app: $('app'), main: document.querySelector('main'), status: $('status'), me: $('me'), quit: $('quit'), banner: $('banner'),
  bannerText: $('banner-text'), bannerRetry: $('banner-retry'), bannerRename: $('banner-rename'),
  drawerToggle: $('drawer-toggle'), drawerBadge: $('drawer-badge'), sidebar: $('sidebar'),
  shade: $('shade'), rooms: $('rooms'), joinForm: $('join-form'), joinName: $('join-name'),
  browse: $('browse'), dms: $('dms'), people: $('people'), peopleHeading: $('people-heading'),
  notify: $('notify'), convTitle: $('conv-title'), convInfo: $('conv-info'),
  convAction: $('conv-action'), logs: $('logs'), composer: $('composer'), text: $('text'),
  textLabel: $('text-label'), send: $('send'), hint: $('hint'), menu: $('menu'),
  menuTitle: $('menu-title'), login: $('login'), loginForm: $('login-form'), name: $('name'),
  loginError: $('login-error'), passwordRow: $('password-row'), password: $('password'),
  loginWarning: $('login-warning'), bannerTakeBack: $('banner-take-back'), account: $('account'),
  accountForm: $('account-form'), accountTitle: $('account-title'), accountAbout: $('account-about'),
  accountName: $('account-name'), newPassword: $('new-password'), newPasswordAgain: $('new-password-again'),
  accountWarning: $('account-warning'), accountError: $('account-error'), accountCancel: $('account-cancel'),
  accountSubmit: $('account-submit'),
};
const params = new URLSearchParams(location.search);
// Touch screens are tapped, not clicked: the words say so.
const TOUCH = matchMedia('(hover: none) and (pointer: coarse)').matches;
const TAP = TOUCH ? 'Tap' : 'Click';

/** Everything the page knows; the connection's own state is in link.js. */
const chat = {
  name: '',            // the name we log in with (shown as the server registered it)
  loggedIn: false,
  renameOffered: false, // the banner offers another name (ours was taken)
  reserved: '',        // our name, registered: the login dialog asks for its password
  convs: new Map(),    // key ('#room' folded, '@name' folded) → conversation
  current: null,       // the conversation on screen
  online: new Map(),   // everybody logged in (the lobby's WHO): folded name → name
  unseen: 0,           // messages that came while the tab was hidden
  unseenMention: '',   // who last mentioned us (or sent a DM) while hidden, as the title says it
  mention: null,       // a RegExp for our name, rebuilt at login
};

const fold = (text) => text.toLowerCase();
const same = (a, b) => fold(a) === fold(b);
const isMe = (name) => same(name, chat.name);

/** The conversation for a room, made if new (not joined). */
function roomConv(room) {
  return conv('room', room, fold(room));
}

/** The conversation with a person, made if new. */
function dmConv(name) {
  return conv('dm', name, '@' + fold(name));
}

function conv(kind, title, key) {
  const known = chat.convs.get(key);
  if (known) return known;
  const log = document.createElement('ol');
  log.className = 'log';
  log.tabIndex = 0;
  log.hidden = true;
  log.setAttribute('role', 'log');
  log.setAttribute('aria-live', 'polite');
  log.dataset.conv = key;
  const made = {
    key, kind, title, log,
    joined: key === LOBBY, // rooms: are we a member (the lobby: whenever logged in)
    synced: false,         // rooms: has a block come since we (re)entered it
    pending: [],           // rooms: live lines and notices waiting for that block
    entries: [],           // what the log shows, sorted by key
    seqs: new Set(),       // rooms: the seqs shown
    newest: 0,             // rooms: the seq of the newest message shown
    knownBefore: 0,        // rooms: `newest` when the connection was lost
    offset: 0,             // rooms: added to seqs for keys (see `forgotten`)
    local: 0,              // direct conversations: a counter for keys
    missed: 0,             // rooms: messages fetched after a reconnect, not yet told
    gapFill: false,        // rooms: a HISTORY for the rest of a gap is on its way
    unread: 0, mentions: 0,
    members: null,         // rooms: folded name → name, once asked (WHO)
    older: null,           // rooms: the "earlier messages" button's item
  };
  labelLog(made);
  ui.logs.append(log);
  chat.convs.set(key, made);
  return made;
}

function labelLog(c) {
  c.log.setAttribute('aria-label', c.kind === 'room' ? `Messages in ${c.title}` : `Direct messages with ${c.title}`);
}

/** Forgets a conversation (a room we left, a closed direct conversation). */
function dropConv(c) {
  c.log.remove();
  chat.convs.delete(c.key);
}

// ---- entries -------------------------------------------------------------------

function timeEl(date) {
  const time = document.createElement('time');
  time.dateTime = date.toISOString();
  time.title = date.toLocaleString();
  const today = new Date().toDateString() === date.toDateString();
  const clock = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  time.textContent = today ? clock : `${date.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${clock}`;
  return time;
}

/** A name that opens the name menu (direct message, mention) when clicked. */
function nameButton(name) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = `name h${hue(name)}`;
  button.dataset.name = name;
  // Keyboard users reach names through the message they are in (arrow keys).
  button.tabIndex = -1;
  button.textContent = name;
  return button;
}

/** The text of a message, with mentions of us marked. */
function textEl(text) {
  const span = document.createElement('span');
  span.className = 'text';
  let at = 0;
  if (chat.mention) {
    for (const match of text.matchAll(chat.mention)) {
      const start = match.index + match[1].length;
      span.append(text.slice(at, start));
      const mark = document.createElement('mark');
      mark.textContent = text.slice(start, match.index + match[0].length);
      span.append(mark);
      at = match.index + match[0].length;
    }
  }
  span.append(text.slice(at));
  return span;
}

/** Whether `text` from someone else mentions us: our name as a word, @ or not. */
function mentionsMe(from, text) {
  if (!chat.mention || isMe(from)) return false;
  chat.mention.lastIndex = 0;
  const hit = chat.mention.test(text);
  chat.mention.lastIndex = 0; // matchAll starts where a global pattern stopped
  return hit;
}

function setMentionPattern() {
  const escaped = chat.name.replace(/[.\\-]/g, (c) => '\\' + c);
  chat.mention = new RegExp(`(^|[^A-Za-z0-9_.-])@?${escaped}(?![A-Za-z0-9_-])`, 'gi');
}

/** The list item for a message; `/me TEXT` is shown as an action. */
function messageEl(m) {
  const li = document.createElement('li');
  li.className = 'msg';
  li.tabIndex = -1;
  li.dataset.from = m.from;
  if (m.seq !== undefined) li.dataset.seq = String(m.seq);
  if (m.history) li.dataset.history = '';
  if (mentionsMe(m.from, m.text)) li.dataset.mention = '';
  const action = /^\/me /i.test(m.text);
  if (action) li.classList.add('action');
  li.append(timeEl(m.time));
  if (action) li.append('* ');
  li.append(nameButton(m.from), textEl(action ? m.text.slice(4) : m.text));
  return li;
}

/** Puts an entry in its place by key (equal keys keep their arrival order). */
function place(c, entry) {
  const log = c.log;
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  let i = c.entries.length;
  while (i > 0 && c.entries[i - 1].key > entry.key) i -= 1;
  const next = c.entries[i];
  c.entries.splice(i, 0, entry);
  log.insertBefore(entry.el, next ? next.el : null);
  while (c.entries.length > MAX_ENTRIES) {
    const old = c.entries.shift();
    old.el.remove();
    if (old.seq !== undefined) c.seqs.delete(old.seq);
  }
  if (atBottom) log.scrollTop = log.scrollHeight;
  else if (next && entry.el.offsetTop < log.scrollTop) log.scrollTop += entry.el.offsetHeight;
  if (c.kind === 'room') showOlderButton(c);
}

/** Shows a message with its seq in a room, unless it is there already. */
function insertMessage(c, m) {
  if (c.seqs.has(m.seq)) return false;
  c.seqs.add(m.seq);
  c.newest = Math.max(c.newest, m.seq);
  place(c, { key: c.offset + m.seq, seq: m.seq, el: messageEl(m) });
  return true;
}

/** The key of a notice: after everything shown (rooms: between seqs). */
function noticeKey(c) {
  return c.kind === 'room' ? c.offset + c.newest + 0.5 : (c.local += 1);
}

/**
 * A line of the page's own in a conversation; `parts` are strings and
 * elements (names, room buttons). In a room waiting for its block it waits
 * too, so that it lands after the history it follows.
 */
function notice(c, parts, kind = 'notice') {
  if (c.kind === 'room' && c.joined && !c.synced && chat.loggedIn) {
    c.pending.push({ notice: true, parts, kind });
    return;
  }
  placeNotice(c, parts, kind, noticeKey(c));
}

function placeNotice(c, parts, kind, key) {
  const li = document.createElement('li');
  li.className = kind;
  li.tabIndex = -1;
  li.append(timeEl(new Date()), ...parts);
  place(c, { key, el: li });
}

/** A notice in the conversation on screen (or the lobby before there is one). */
function say(parts, kind) {
  notice(chat.current || roomConv(LOBBY), Array.isArray(parts) ? parts : [parts], kind);
}

// ---- what the server says ------------------------------------------------------

/** A live message in a room (the lobby included). */
function roomMessage(room, from, text) {
  const c = roomConv(room);
  const m = { from, text, time: new Date() };
  if (!c.synced) {
    // Numbered when the room's block comes (it has this one or follows it),
    // counting back from its newest: dropping the oldest keeps that right.
    c.pending.push(m);
    if (c.pending.length > MAX_ENTRIES) c.pending.shift();
    return;
  }
  m.seq = c.newest + 1;
  if (insertMessage(c, m)) noteNew(c, m, true);
}

/**
 * A history block (`HISTORY room k` and its k `HIST` lines): merged by seq.
 * The first block after (re)entering a joined room numbers the live lines
 * that waited, and asks for the rest of a gap it does not reach.
 */
function historyBlock(room, items) {
  const c = chat.convs.get(fold(room));
  if (!c) return; // asked for by a look at a room that was left since
  if (c.title !== room) {
    c.title = room; // the server's spelling
    labelLog(c);
  }
  const newest = items.length ? items[items.length - 1].seq : 0;
  const oldest = items.length ? items[0].seq : newest + 1;
  if (c.joined && !c.synced && newest < c.knownBefore) forgotten(c);
  const away = c.knownBefore; // the newest seq we had when the connection went
  for (const m of items) {
    const missed = away > 0 && m.seq > away;
    if (insertMessage(c, { ...m, history: !missed }) && missed) {
      c.missed += 1;
      noteNew(c, m, false);
    }
  }
  if (c.joined && !c.synced) {
    const waiting = c.pending.splice(0);
    let seq = newest - waiting.filter((p) => !p.notice).length;
    for (const p of waiting) {
      if (p.notice) {
        // Between the message before it and the one after it.
        placeNotice(c, p.parts, p.kind, c.offset + seq + 0.5);
        continue;
      }
      seq += 1;
      if (insertMessage(c, { ...p, seq })) noteNew(c, p, true);
    }
    c.synced = true;
    if (away && oldest > away + 1) {
      // More was missed than the block holds: fetch the whole gap (bounded).
      c.gapFill = true;
      request(`HISTORY ${c.title} ${Math.min(MAX_HISTORY, newest - away)}`, { history: c.title });
    }
  } else if (c.gapFill) {
    c.gapFill = false;
    if (oldest > away + 1) {
      notice(c, [`More than ${MAX_HISTORY} messages came while you were away; the oldest of them are not shown.`]);
    }
  }
  if (c.missed && !c.gapFill) {
    const n = c.missed;
    c.missed = 0;
    notice(c, [`${n} message${n === 1 ? '' : 's'} you missed while away ${n === 1 ? 'is' : 'are'} shown above.`]);
  }
  renderSidebar();
}

/**
 * The server's seqs went back: it started again without its history. What is
 * shown stays as it was, no longer numbered, and the new seqs count from
 * after it, so that new messages are not taken for ones already shown.
 */
function forgotten(c) {
  for (const e of c.entries) {
    delete e.seq;
    delete e.el.dataset.seq;
  }
  c.offset = c.entries.length ? Math.ceil(c.entries[c.entries.length - 1].key) : 0;
  c.seqs.clear();
  c.newest = 0;
  c.knownBefore = 0;
  placeNotice(c, ['The server started again without its history: the messages above are from before.'], 'notice', c.offset + 0.5);
}

/** A direct message, received (`incoming`) or sent by us. */
function directMessage(peer, from, text, incoming) {
  const c = dmConv(peer);
  if (incoming && c.title !== peer) {
    c.title = peer; // as the server spells it
    labelLog(c);
  }
  const m = { from, text, time: new Date() };
  const el = messageEl(m);
  place(c, { key: (c.local += 1), el });
  if (incoming) noteNew(c, m, true, true);
  renderSidebar();
  return el;
}

/**
 * Counts a new message as unread where it is not seen, and when the tab is
 * hidden says so in the title and, for mentions and direct messages, in a
 * notification (if allowed). `live` is false for messages fetched later.
 */
function noteNew(c, m, live, direct = false) {
  if (isMe(m.from)) return;
  const mention = direct || mentionsMe(m.from, m.text);
  if (c !== chat.current) {
    c.unread += 1;
    if (mention) c.mentions += 1;
  }
  if (document.hidden) {
    chat.unseen += 1;
    if (mention) {
      chat.unseenMention = direct ? `${m.from} sent you a direct message` : `${m.from} mentioned you`;
      if (live) notify(c, m, direct);
    }
  }
  renderSidebar();
}

function notify(c, m, direct) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  const title = direct ? `${m.from} sent you a direct message` : `${m.from} mentioned you in ${c.title}`;
  const shown = new Notification(title, { body: m.text, tag: c.key });
  shown.onclick = () => {
    window.focus();
    openConv(c);
  };
}

/** Rooms and direct conversations are entered again after a reconnect. */
function connectionLost() {
  chat.online = new Map();
  renderPeople();
  for (const c of chat.convs.values()) {
    if (c.kind !== 'room') continue;
    // Live lines that waited are in the server's history: fetched again.
    const notices = c.pending.filter((p) => p.notice);
    c.pending = [];
    if (c.joined) c.knownBefore = c.newest;
    c.synced = false;
    c.members = null;
    for (const p of notices) placeNotice(c, p.parts, p.kind, noticeKey(c));
  }
}

/** The "earlier messages" button at the top of a room's log. */
function showOlderButton(c) {
  const oldest = c.entries.find((e) => e.seq !== undefined);
  const more = oldest && oldest.seq > 1 && c.seqs.size < MAX_HISTORY;
  if (!more) {
    if (c.older) c.older.remove();
    c.older = null;
    return;
  }
  if (c.older) return;
  const li = document.createElement('li');
  li.className = 'older';
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'plain';
  button.textContent = 'Show earlier messages';
  button.addEventListener('click', () => {
    const want = Math.min(MAX_HISTORY, c.newest - oldestSeq(c) + 1 + OPEN_HISTORY);
    request(`HISTORY ${c.title} ${want}`, { history: c.title });
  });
  li.append(button);
  c.older = li;
  c.log.prepend(li);
}

function oldestSeq(c) {
  const oldest = c.entries.find((e) => e.seq !== undefined);
  return oldest ? oldest.seq : c.newest + 1;
}
