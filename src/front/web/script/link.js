// ---- link.js: the WebSocket, what the server says, and what answers what ---
//
// The server answers a client's lines in the order it sent them, so every line
// the page sends is queued with what answers it: its own echo (MSG), its own
// JOIN or PART line, a history block, or the PONG of a PING with a token sent
// right after it (DM, WHO, ROOMS, JOIN: they have no end marker of their
// own). An ERR therefore belongs to the oldest line still waiting, and each
// error is told where it happened ("bob is not online; not delivered").
//
// A registered name logs in with AUTH: the password the server took before
// (kept in `link.password` for the page's lifetime, never stored), or one just
// typed in the login dialog. After BYE logged-in-elsewhere (our own AUTH from
// somewhere else took the name) the page does not come back by itself: two
// tabs doing that would take the name from each other forever.

// The server drops a connection after 60 s without a line; a ping every 15 s
// keeps an idle tab connected, and silence for LIVENESS_MS means it is dead.
const HEARTBEAT_MS = 15000;
const LIVENESS_MS = 2 * HEARTBEAT_MS + 5000;
const MAX_RECONNECT_DELAY_MS = 15000;
// Lines waiting for their answer, at most (far more than a person sends).
const MAX_WAITING = 5000;
// A name in use when we come back may be our own old connection, which the
// server lets go within its idle timeout (60 s): try that long, then ask.
const TAKEN_RETRY_MS = 4000;
const TAKEN_GIVE_UP_MS = 75000;
// Wrong passwords are throttled per name for a minute: the right one, kept
// from before, is tried again this often until it is let in.
const THROTTLED_RETRY_MS = 20000;

const ERRORS = {
  'username-taken': 'That name is taken; pick another.',
  'invalid-username': 'Names are 1 to 32 letters, digits, _ . or -.',
  'already-logged-in': 'You are already logged in.',
  'empty-message': 'Empty messages are not sent.',
  'user-not-found': 'Nobody by that name is online.',
  'invalid-dm': 'A direct message needs a name and some text.',
  'not-logged-in': 'You are not logged in yet.',
  'unknown-command': 'The server did not understand that.',
  'line-too-long': 'That message is too long for the server.',
  'invalid-utf8': 'The server could not read that text.',
  'rate-limited': 'You are sending too fast; that was not delivered. Wait a moment.',
  'invalid-room': 'Room names are # and 1 to 32 letters, digits, _ . or -.',
  'already-in-room': 'You are already in that room.',
  'too-many-rooms': 'You are in as many rooms as the server allows (or it has as many as it can hold); leave one first.',
  'not-in-room': 'You are not in that room.',
  'cannot-leave-lobby': 'Everybody is always in #lobby: it cannot be left.',
  'no-such-room': 'Nobody is in that room.',
  'invalid-history': 'History is 1 to 1000 messages.',
  'storage-failed': 'The server could not save that message, so it was not delivered. Try again in a moment.',
  'name-reserved': 'That name is registered: it needs its password.',
  'wrong-password': 'Wrong password.',
  'not-registered': 'That name is not registered.',
  'already-registered': 'This name is registered already.',
  'weak-password': 'A password is 8 to 128 bytes.',
};
const BYE_REASONS = {
  'idle-timeout': 'The server heard nothing from this tab for too long (it may have been asleep).',
  'too-slow': 'This tab fell behind the chat (a slow network or a busy device), so the server let it go.',
  'server-full': 'The server is full.',
  'too-many-connections': 'There are too many connections from your network.',
  'flooding': 'The server disconnected you for sending too many messages too fast.',
};
const CLOSE_CODES = {
  1009: 'A message was longer than this server accepts.',
  1002: 'The server did not understand this tab (a protocol error).',
};

const link = {
  ws: null,
  wanted: false,       // the user wants to be in the chat (until they leave)
  loginPending: false,
  everLoggedIn: false,
  byeReason: null,
  attempts: 0,         // failed connections in a row, for the back-off
  takenSince: 0,       // when our name was first found taken on coming back
  retryAt: 0,
  retryTimer: null,
  tickTimer: null,
  heartbeatTimer: null,
  lastHeard: 0,
  queue: [],           // lines waiting for their answer, oldest first
  tokens: 0,
  block: null,         // the history block being read: { room, count, items }
  says: params.getAll('say'),
  password: null,      // the password the server took for chat.name: in memory only, for reconnecting
  typed: null,         // a password typed in the login dialog, until its AUTH is answered
  authWith: null,      // the AUTH awaiting its answer carries 'kept' (link.password) or 'typed'
};

// ---- sending -------------------------------------------------------------------

function sendRaw(line) {
  if (link.ws && link.ws.readyState === WebSocket.OPEN) link.ws.send(line);
}

/**
 * Sends `line` (none for a bare ping) and queues what answers it. `opts`:
 * `marker` (a PING token follows), `answers(ev)` (the line that answers it),
 * `collect` (the kind of lines it gathers, 'user' or 'room'), `history` (the
 * room whose block answers it), `onDone(entry)`, `onErr(code)`, `onLost()`.
 */
function request(line, opts = {}) {
  if (!chat.loggedIn) return null;
  if (link.queue.length >= MAX_WAITING) {
    // A server that answers nothing is gone, whatever the socket says.
    drop(link.ws);
    return null;
  }
  const entry = { ...opts, lines: [], failed: false, sent: Date.now() };
  if (opts.history) entry.answers = (ev) => ev.kind === 'block' && same(ev.room, opts.history);
  if (line !== null) sendRaw(line);
  if (opts.marker || line === null) {
    link.tokens += 1;
    entry.token = `p${link.tokens}`;
    sendRaw(`PING ${entry.token}`);
  }
  link.queue.push(entry);
  return entry;
}

/** The entry `index` is answered; those before it had nothing to say. */
function settle(index) {
  const done = link.queue.splice(0, index + 1);
  const entry = done[done.length - 1];
  if (!entry.failed && entry.onDone) entry.onDone(entry);
}

// ---- the connection ------------------------------------------------------------

function connect() {
  clearTimeout(link.retryTimer);
  clearInterval(link.tickTimer);
  link.byeReason = null;
  setStatus('connecting', link.everLoggedIn ? 'Reconnecting…' : 'Connecting…');
  const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
  const ws = new WebSocket(scheme + location.host + '/ws');
  link.ws = ws;
  ws.onopen = () => {
    link.lastHeard = Date.now();
    logIn();
    link.heartbeatTimer = setInterval(heartbeat, HEARTBEAT_MS);
  };
  ws.onmessage = (event) => {
    link.lastHeard = Date.now();
    if (typeof event.data === 'string') handleLine(event.data);
  };
  ws.onclose = (event) => lost(ws, event.code);
}

/**
 * Asks for our name; `OK` or an `ERR` answers. The one place the page logs
 * in, first and after every reconnect: `LOGIN`, and when the server says the
 * name is registered (`ERR name-reserved`), `AUTH` with the password the page
 * has (`authenticate`), or the login dialog asks for one (`loginRefused`).
 */
function logIn() {
  link.loginPending = true;
  link.authWith = null;
  sendRaw('LOGIN ' + chat.name);
}

/** `AUTH` with the password we have; false when we have none. */
function authenticate() {
  const password = link.password || link.typed;
  if (!password) return false;
  link.authWith = link.password ? 'kept' : 'typed';
  sendRaw(`AUTH ${chat.name} ${password}`);
  return true;
}

/** Forgets a connection (closed by either side, or found dead). */
function lost(ws, code) {
  if (ws !== link.ws) return;
  ws.onopen = ws.onmessage = ws.onclose = null;
  link.ws = null;
  clearInterval(link.heartbeatTimer);
  const wasLoggedIn = chat.loggedIn;
  chat.loggedIn = false;
  link.loginPending = false;
  link.block = null;
  for (const entry of link.queue.splice(0)) if (entry.onLost) entry.onLost();
  connectionLost();
  if (link.byeReason === 'logged-in-elsewhere') {
    link.wanted = false;
    setStatus('offline', 'Logged in elsewhere');
    setBanner(`You logged in as ${chat.name} somewhere else (another tab or device), so the server closed `
      + 'this one. It does not reconnect by itself, or the two would keep taking the name from each other.', ['takeBack']);
    renderSidebar();
    return;
  }
  if (!link.wanted) {
    setStatus('offline', 'Not connected');
    return;
  }
  const why = BYE_REASONS[link.byeReason] || CLOSE_CODES[code]
    || (link.everLoggedIn ? 'The connection to the server was lost.' : 'The chat server cannot be reached.');
  if (wasLoggedIn) say(link.byeReason ? `Disconnected. ${why}` : why, 'error');
  else link.attempts += 1;
  const crowded = link.byeReason === 'server-full' || link.byeReason === 'too-many-connections';
  const base = crowded ? 5000 : 1000;
  const delay = Math.min(MAX_RECONNECT_DELAY_MS, base * 2 ** link.attempts) * (0.75 + Math.random() / 2);
  scheduleRetry(delay, why + ' Your messages and rooms are kept.');
}

/** Tries again (`then`: connects) in `delay` ms, counting down in the banner. */
function scheduleRetry(delay, why, then = connect) {
  setStatus('offline', 'Offline');
  renderSidebar();
  clearTimeout(link.retryTimer);
  clearInterval(link.tickTimer);
  link.retryAt = Date.now() + delay;
  const tick = () => {
    const seconds = Math.max(1, Math.round((link.retryAt - Date.now()) / 1000));
    const text = `${why} Trying again in ${seconds} s.`;
    setBanner(text, ['retry'].concat(chat.renameOffered ? ['rename'] : []));
    // Before the first login the name dialog covers the banner: it says it too.
    if (!ui.login.hidden) ui.loginError.textContent = text;
  };
  tick();
  link.tickTimer = setInterval(tick, 1000);
  link.retryTimer = setTimeout(() => {
    clearInterval(link.tickTimer);
    then();
  }, delay);
}

function drop(ws, code) {
  try { ws.close(); } catch (_) { /* already closing */ }
  lost(ws, code);
}

function heartbeat() {
  if (Date.now() - link.lastHeard > LIVENESS_MS && link.ws) {
    drop(link.ws);
    return;
  }
  request(null);
}

function loggedIn() {
  if (link.authWith === 'typed') link.password = link.typed;
  link.typed = null;
  link.authWith = null;
  link.loginPending = false;
  chat.loggedIn = true;
  chat.renameOffered = false;
  link.attempts = 0;
  link.takenSince = 0;
  ui.login.hidden = true;
  ui.app.inert = false;
  ui.quit.hidden = false;
  ui.me.textContent = `You are ${chat.name}`;
  ui.me.hidden = false;
  setMentionPattern();
  setStatus('online', 'Online');
  setBanner('');
  const lobby = roomConv(LOBBY);
  notice(lobby, [link.everLoggedIn
    ? `Reconnected as ${chat.name}.`
    : `Welcome, ${chat.name}. ${TAP} a name to send a direct message or mention someone; type /help for the commands.`]);
  request(`HISTORY ${LOBBY} ${OPEN_HISTORY}`, { history: LOBBY });
  requestWho(lobby);
  for (const c of chat.convs.values()) {
    if (c.kind === 'room' && c.key !== LOBBY && (c.joined || c.joining)) joinRoom(c.title, true);
  }
  link.everLoggedIn = true;
  if (!chat.current) openConv(lobby);
  updateConvBar();
  renderSidebar();
  renderPeople();
  for (const text of link.says.splice(0)) submitText(text);
}

function loginRefused(code) {
  if (link.authWith) {
    authRefused(code);
    return;
  }
  if (code === 'name-reserved' && authenticate()) return;
  link.loginPending = false;
  if (code === 'name-reserved') {
    askPassword(`${chat.name} is registered: type its password, or pick another name.`);
    return;
  }
  if (link.everLoggedIn && code === 'username-taken') {
    const now = Date.now();
    if (!link.takenSince) link.takenSince = now;
    if (now - link.takenSince < TAKEN_GIVE_UP_MS) {
      // The server keeps the connection for another LOGIN: try it again later.
      const ws = link.ws;
      chat.renameOffered = true;
      scheduleRetry(TAKEN_RETRY_MS, `Somebody is using the name ${chat.name} right now: this tab's old connection, `
        + 'which the server lets go within a minute, or someone else. Your conversations are kept.', () => {
        if (link.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
        setStatus('connecting', 'Reconnecting…');
        logIn();
      });
      setStatus('offline', 'Name in use');
      return;
    }
    askName(`${chat.name} is taken by someone else now. Pick another name: your rooms and conversations stay.`);
    return;
  }
  askName(ERRORS[code] || `The server refused the name (${code}).`);
}

/** `AUTH` was refused: ask for the password (again), or wait and retry. */
function authRefused(code) {
  const kept = link.authWith === 'kept';
  link.authWith = null;
  link.typed = null;
  link.loginPending = false;
  if (code === 'wrong-password') {
    if (kept) link.password = null; // changed elsewhere since: ours is no good now
    askPassword(kept ? `The password of ${chat.name} was changed elsewhere: type the new one.` : 'Wrong password; try again.');
  } else if (code === 'rate-limited' && kept && link.everLoggedIn) {
    // The right password, refused while someone guesses: try it again later.
    const ws = link.ws;
    chat.renameOffered = true;
    scheduleRetry(THROTTLED_RETRY_MS, `Too many wrong passwords were tried for ${chat.name} lately, so the server `
      + 'lets nobody in as it for a minute. Your conversations are kept.', () => {
      if (link.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
      setStatus('connecting', 'Reconnecting…');
      logIn();
    });
    setStatus('offline', 'Name locked');
  } else if (code === 'rate-limited') {
    askPassword(`Too many wrong passwords were tried for ${chat.name} lately: wait a minute, then try again.`);
  } else {
    askName(ERRORS[code] || `The server refused the name (${code}).`);
  }
}

/** Stops trying and asks for a name (after a refusal, or to use another). */
function askName(error, withPassword = false) {
  link.wanted = false;
  clearTimeout(link.retryTimer);
  clearInterval(link.tickTimer);
  if (link.ws) drop(link.ws);
  setBanner('');
  showLogin(error, withPassword);
}

/** Stops trying and asks for the password of our (registered) name. */
function askPassword(error) {
  askName(error, true);
}

// ---- what the server says --------------------------------------------------------

/** Splits "word rest" at the first space. */
function splitWord(text) {
  const i = text.indexOf(' ');
  return i < 0 ? [text, ''] : [text.slice(0, i), text.slice(i + 1)];
}

/** One server line as an event: { kind, … }, or null for a line not understood. */
function parseLine(line) {
  const [word, rest] = splitWord(line);
  const [a, afterA] = splitWord(rest);
  const [b, afterB] = splitWord(afterA);
  switch (word) {
    case 'OK': return { kind: 'ok' };
    case 'ERR': return { kind: 'err', code: rest };
    case 'MSG': return a.startsWith('#')
      ? { kind: 'msg', room: a, from: b, text: afterB }
      : { kind: 'msg', room: LOBBY, from: a, text: afterA };
    case 'DM': return { kind: 'dm', from: a, text: afterA };
    case 'JOIN': case 'PART': return { kind: word.toLowerCase(), room: a, name: afterA };
    case 'HISTORY': return { kind: 'history', room: a, count: Number(afterA) || 0 };
    case 'HIST': {
      const [time, afterTime] = splitWord(afterB);
      const [from, text] = splitWord(afterTime);
      return { kind: 'hist', room: a, seq: Number(b), time, from, text };
    }
    case 'USER': return { kind: 'user', name: rest };
    case 'ROOM': return { kind: 'room', room: a, count: Number(afterA) || 0 };
    case 'INFO': return { kind: 'info', text: rest };
    case 'PONG': return { kind: 'pong', token: rest };
    case 'BYE': return { kind: 'bye', reason: rest };
    default: return null;
  }
}

function handleLine(line) {
  let ev = parseLine(line);
  if (!ev) return;
  if (link.block && ev.kind !== 'hist') finishBlock(); // a short block (should not happen)
  if (ev.kind === 'history') {
    link.block = { room: ev.room, count: ev.count, items: [] };
    if (ev.count === 0) finishBlock();
    return;
  }
  if (ev.kind === 'hist') {
    if (!link.block) return;
    const time = new Date(ev.time);
    link.block.items.push({ seq: ev.seq, time: isNaN(time) ? new Date() : time, from: ev.from, text: ev.text });
    if (link.block.items.length >= link.block.count) finishBlock();
    return;
  }
  handleEvent(ev);
}

function finishBlock() {
  const { room, items } = link.block;
  link.block = null;
  items.sort((x, y) => x.seq - y.seq);
  handleEvent({ kind: 'block', room, items });
}

function handleEvent(ev) {
  const head = link.queue[0];
  switch (ev.kind) {
    case 'ok':
      if (link.loginPending) loggedIn();
      return;
    case 'err':
      if (link.loginPending) loginRefused(ev.code);
      else if (head) {
        head.failed = true;
        if (head.onErr) head.onErr(ev.code);
        else say(ERRORS[ev.code] || `Error: ${ev.code}`, 'error');
        if (!head.token) link.queue.shift();
      } else say(ERRORS[ev.code] || `Error: ${ev.code}`, 'error');
      return;
    case 'pong': {
      const at = link.queue.findIndex((entry) => entry.token === ev.token);
      if (at >= 0) settle(at);
      return;
    }
    case 'user': case 'room':
      if (head && head.collect === ev.kind) head.lines.push(ev);
      return;
    case 'bye':
      link.byeReason = ev.reason || null;
      return;
    default:
      break;
  }
  const answered = head && head.answers && head.answers(ev);
  live(ev);
  const at = answered ? link.queue.indexOf(head) : -1;
  if (at >= 0) settle(at); // (not if `live` lost the connection meanwhile)
}

/** Lines that are news rather than answers (our own echoes among them). */
function live(ev) {
  switch (ev.kind) {
    case 'msg':
      roomMessage(ev.room, ev.from, ev.text);
      break;
    case 'block':
      historyBlock(ev.room, ev.items);
      break;
    case 'dm':
      directMessage(ev.from, ev.from, ev.text, true);
      break;
    case 'join': case 'part':
      roomMembership(ev.kind, ev.room, ev.name);
      break;
    case 'info': {
      const change = /^(\S+) (connected|disconnected)$/.exec(ev.text);
      if (change) presence(change[1], change[2] === 'connected');
      else say(ev.text);
      break;
    }
    default:
      break;
  }
}

/** Somebody came online or left the chat (which takes them out of every room). */
function presence(name, online) {
  const lobby = roomConv(LOBBY);
  if (online) chat.online.set(fold(name), name);
  else chat.online.delete(fold(name));
  if (lobby.whoPending) lobby.whoAgain = true;
  notice(lobby, [nameButton(name), online ? ' came online.' : ' left the chat.']);
  const dm = chat.convs.get('@' + fold(name));
  if (dm) notice(dm, [nameButton(name), online ? ' is online again.' : ' went offline; direct messages wait for nobody.']);
  if (!online) {
    for (const c of chat.convs.values()) {
      if (c.members && c.members.delete(fold(name)) && c.whoPending) c.whoAgain = true;
    }
  }
  updateConvBar();
  renderSidebar();
  renderPeople();
}

/** `JOIN`/`PART` lines: ours (our rooms) and others' (members). */
function roomMembership(kind, room, name) {
  const c = roomConv(room);
  if (c.title !== room) {
    c.title = room;
    labelLog(c);
  }
  if (isMe(name)) {
    if (kind === 'join') {
      c.joined = true;
      c.joining = false;
      c.synced = false;
      c.members = null;
      notice(c, [`You joined ${room}.`]);
      requestWho(c);
    } else {
      c.joined = false;
      if (chat.current === c) openConv(roomConv(LOBBY));
      else dropConv(c);
      say(`You left ${room}.`);
    }
  } else {
    if (c.members) {
      if (kind === 'join') c.members.set(fold(name), name);
      else c.members.delete(fold(name));
    }
    if (c.whoPending) c.whoAgain = true;
    notice(c, [nameButton(name), kind === 'join' ? ` joined ${room}.` : ` left ${room}.`]);
  }
  updateConvBar();
  renderSidebar();
  renderPeople();
}

// ---- requests the page makes ---------------------------------------------------

/** Asks who is in a room (the lobby: who is online); asks again if it changed meanwhile. */
function requestWho(c) {
  if (c.whoPending) {
    c.whoAgain = true;
    return;
  }
  c.whoPending = true;
  c.whoAgain = false;
  const done = () => {
    c.whoPending = false;
    if (c.whoAgain && chat.loggedIn) requestWho(c);
  };
  const sent = request(c.key === LOBBY ? 'WHO' : `WHO ${c.title}`, {
    marker: true,
    collect: 'user',
    onDone: (entry) => {
      const members = new Map(entry.lines.map((u) => [fold(u.name), u.name]));
      if (c.key === LOBBY) chat.online = members;
      c.members = members;
      done();
      updateConvBar();
      renderSidebar();
      renderPeople();
    },
    onErr: () => {
      c.members = new Map();
      done();
    },
    onLost: () => { c.whoPending = false; },
  });
  if (!sent) c.whoPending = false;
}

/** Joins a room (or, `again`, rejoins it after a reconnect). */
function joinRoom(room, again = false) {
  const c = roomConv(room);
  if (c.joined && !again) {
    openConv(c, true);
    return;
  }
  c.joining = true;
  const sent = request(`JOIN ${room}`, {
    marker: true,
    onDone: () => {
      // No replay block came (the server's --replay 0): ask for the history.
      if (c.joined && !c.synced) request(`HISTORY ${c.title} ${OPEN_HISTORY}`, { history: c.title });
    },
    onErr: (code) => {
      c.joining = false;
      c.joined = false;
      notice(c, [again ? `Could not rejoin ${room}: ${ERRORS[code] || code}` : `Could not join ${room}: ${ERRORS[code] || code}`], 'error');
      updateConvBar();
      renderSidebar();
    },
  });
  if (!sent) c.joining = false;
  if (!again) openConv(c, true);
}

function partRoom(room) {
  request(`PART ${room}`, {
    answers: (ev) => ev.kind === 'part' && same(ev.room, room) && isMe(ev.name),
    onErr: (code) => say(`Could not leave ${room}: ${ERRORS[code] || code}`, 'error'),
  });
}
