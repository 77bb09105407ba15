// ---- commands.js: what the message box does with what is typed -------------
//
// A line starting with / is a command of the page and is never sent as text:
// an unknown one says so here and sends nothing; //text sends "/text". Every
// other line is a message to the conversation on screen: in a direct
// conversation a DM, so a reply to a DM stays one. Several lines (a paste) are
// several messages, checked together first: if one is too long, none is sent.

// The server's default line limit in bytes (--max-line). The server closes a
// WebSocket whose message is longer (status 1009), so the page never sends one.
const MAX_LINE = 4096;
// Sending more lines than this at once asks first.
const ASK_LINES = 10;
const encoder = new TextEncoder();
const byteLength = (text) => encoder.encode(text).length;

const COMMANDS = new Map();
const HELP = [];

function command(names, usage, about, run) {
  for (const name of names) COMMANDS.set(name, run);
  HELP.push([usage, about]);
}

command(['dm', 'msg'], '/dm NAME [TEXT]', 'a direct message to NAME, in your conversation with them (/msg too)', (rest) => {
  const [name, text] = splitWord(rest);
  if (!name) return say('Usage: /dm NAME TEXT', 'error');
  if (!NAME_PATTERN.test(name)) return say(`${name} cannot be a name: names are 1 to 32 letters, digits, _ . or -.`, 'error');
  openConv(dmConv(name), true);
  if (text.trim()) sendDm(name, text.trim());
});
command(['who'], '/who [#room]', 'who is in this room (or in another, or online)', (rest, c) => {
  const room = rest ? roomName(rest) : c.kind === 'room' ? c.title : LOBBY;
  if (!room) return badRoom(rest);
  const lobby = same(room, LOBBY);
  request(lobby ? 'WHO' : `WHO ${room}`, {
    marker: true,
    collect: 'user',
    onDone: (entry) => {
      const names = entry.lines.map((u) => u.name);
      const parts = [lobby ? `Online (${names.length}): ` : `In ${room} (${names.length}): `];
      names.forEach((name, i) => parts.push(...(i ? [', '] : []), nameButton(name)));
      say(parts);
    },
    onErr: (code) => say(code === 'no-such-room' ? `Nobody is in ${room}.` : ERRORS[code] || code, 'error'),
  });
});
command(['join'], '/join #room', 'join a room (made if new) and open it', (rest) => {
  const room = roomName(rest);
  if (!room) return badRoom(rest);
  if (same(room, LOBBY)) return openConv(roomConv(LOBBY), true);
  joinRoom(room);
});
command(['part', 'leave'], '/part [#room]', 'leave this room (or another); in a direct conversation: close it', (rest, c) => {
  if (!rest && c.kind === 'dm') return closeDm(c);
  const room = rest ? roomName(rest) : c.title;
  if (!room) return badRoom(rest);
  if (same(room, LOBBY)) return say(ERRORS['cannot-leave-lobby'], 'error');
  const target = chat.convs.get(fold(room));
  if (!target || !target.joined) return say(`You are not in ${room}.`, 'error');
  partRoom(target.title);
});
command(['rooms'], '/rooms', 'the rooms with people in them', () => {
  request('ROOMS', {
    marker: true,
    collect: 'room',
    onDone: (entry) => {
      const parts = ['Rooms with people in them: '];
      entry.lines.forEach((r, i) => parts.push(...(i ? [', '] : []), roomButton(r.room, r.count)));
      say(parts);
    },
  });
});
command(['history'], '/history [N]', 'fetch the last N messages (1-1000) of this room again', (rest, c) => {
  const n = rest ? Number(rest) : OPEN_HISTORY;
  if (!Number.isInteger(n) || n < 1 || n > MAX_HISTORY) return say(`Usage: /history N, with N from 1 to ${MAX_HISTORY}.`, 'error');
  if (c.kind === 'dm') return say('The server keeps no direct messages, so there is no history to fetch.', 'error');
  const before = c.seqs.size;
  request(`HISTORY ${c.title} ${n}`, {
    history: c.title,
    onDone: () => {
      const added = c.seqs.size - before;
      say(added ? `${c.title}: ${added} earlier message${added === 1 ? '' : 's'} added above, in order.` : `${c.title}: those messages are all shown already.`);
    },
  });
});
command(['go', 'switch'], '/go #room|NAME', 'open a room or your conversation with NAME (/switch too)', (rest) => {
  if (rest.startsWith('#')) {
    const room = roomName(rest);
    return room ? openConv(roomConv(room), true) : badRoom(rest);
  }
  if (!NAME_PATTERN.test(rest)) return say('Usage: /go #room or /go NAME', 'error');
  openConv(dmConv(rest), true);
});
command(['me'], '/me TEXT', 'an action, shown as "* you TEXT" (other clients show "/me TEXT")', (rest, c) => {
  if (!rest) return say('Usage: /me TEXT', 'error');
  sendText(c, `/me ${rest}`);
});
command(['ping'], '/ping', 'the round trip to the server', () => {
  request(null, { onDone: (entry) => say(`Pong from the server in ${Date.now() - entry.sent} ms.`) });
});
command(['register'], '/register', 'make your name yours with a password (asked twice)', () => openAccount('register'));
command(['password'], '/password', 'change the password of your name', () => openAccount('password'));
command(['quit'], '/quit', 'leave the chat', () => leaveChat());
command(['help'], '/help', 'this list', () => {
  const parts = ['Commands (a line starting with / is never sent as text):'];
  const entry = (usage, about) => {
    const code = document.createElement('code');
    code.textContent = usage;
    parts.push('\n', code, ` — ${about}`);
  };
  for (const [usage, about] of HELP) entry(usage, about);
  entry('//text', 'send a message that starts with /');
  parts.push('\nEnter sends; Shift+Enter starts a new line, and each line is sent as its own message.');
  say(parts, 'notice help');
});

/** `#room` (the # may be left out), or null if it cannot be a room name. */
function roomName(text) {
  const room = text.trim().startsWith('#') ? text.trim() : `#${text.trim()}`;
  return ROOM_PATTERN.test(room) ? room : null;
}

function badRoom(text) {
  say(text ? `${text} cannot be a room: ${ERRORS['invalid-room']}` : 'Which room? For example /join #random', 'error');
}

/** A room in a notice: opens it (joined, or to look at). */
function roomButton(room, count) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'inline';
  button.textContent = `${room} (${count})`;
  button.addEventListener('click', () => openConv(roomConv(room), true));
  return button;
}

/** Runs a command line; `c` is the conversation on screen. */
function runCommand(c, text) {
  const [word, rest] = splitWord(text.slice(1));
  const run = COMMANDS.get(word.toLowerCase());
  if (!run) {
    say(`Unknown command /${word}: nothing was sent. /help lists the commands; start with // to send a message that begins with /.`, 'error');
    return;
  }
  run(rest.trim(), c);
}

/** One typed line: a command, or a message to the conversation on screen. */
function submitText(raw) {
  const text = raw.trim();
  if (!text) return;
  const c = chat.current || roomConv(LOBBY);
  if (text.startsWith('//')) sendText(c, text.slice(1));
  else if (text.startsWith('/')) runCommand(c, text);
  else sendText(c, text);
}

/** The line the server gets for typed `text` in `c` (null: none, or local). */
function wireLine(c, text) {
  if (text.startsWith('//')) return messageLine(c, text.slice(1));
  if (!text.startsWith('/')) return messageLine(c, text);
  const [word, rest] = splitWord(text.slice(1));
  const name = word.toLowerCase();
  if (name === 'dm' || name === 'msg') return `DM ${rest.trim()}`;
  if (name === 'me') return messageLine(c, `/me ${rest.trim()}`);
  return null;
}

function messageLine(c, text) {
  return c.kind === 'dm' ? `DM ${c.title} ${text}` : `MSG ${c.title} ${text}`;
}

/** Says `text` in `c`: a room message, or a DM in a direct conversation. */
function sendText(c, text) {
  if (c.kind === 'dm') {
    sendDm(c.title, text);
    return;
  }
  if (!c.joined && !c.joining) {
    notice(c, [`You are not in ${c.title}: join it to write here (the Join room button, or /join ${c.title}).`], 'error');
    return;
  }
  const line = messageLine(c, text);
  if (!fits(line)) return;
  request(line, {
    answers: (ev) => ev.kind === 'msg' && same(ev.room, c.title) && isMe(ev.from),
    onErr: (code) => notice(c, [`Not sent: ${ERRORS[code] || code}`], 'error'),
  });
}

function sendDm(name, text) {
  const line = `DM ${name} ${text}`;
  if (!fits(line)) return;
  const c = dmConv(name);
  // A DM to ourselves comes back from the server: shown then, not twice.
  const shown = isMe(name) ? null : directMessage(name, chat.name, text, false);
  request(line, {
    marker: true,
    onErr: (code) => {
      if (shown) shown.dataset.failed = '';
      notice(c, [code === 'user-not-found' ? `${name} is not online; that message was not delivered.` : `Not delivered: ${ERRORS[code] || code}`], 'error');
    },
    onLost: () => notice(c, ['The connection went before the server confirmed the last message; it may not have been delivered.'], 'error'),
  });
}

function fits(line) {
  const n = byteLength(line);
  if (n <= MAX_LINE) return true;
  say(`Not sent: that is ${n} bytes on the wire, and the server's limit is ${MAX_LINE} bytes per line.`, 'error');
  return false;
}

// ---- the message box -------------------------------------------------------------

function boxLines() {
  return ui.text.value.split(/\r\n|\r|\n/).map((line) => line.trim()).filter(Boolean);
}

/** The hint under the box: lines, bytes near or over the limit, being offline. */
function updateHint() {
  const c = chat.current;
  const lines = boxLines();
  let text = TOUCH ? '' : 'Enter sends · Shift+Enter: new line · /help: commands';
  let level = '';
  if (c && lines.length) {
    const sizes = lines.map((line) => {
      const wire = wireLine(c, line);
      return wire ? { bytes: byteLength(wire), room: byteLength(wire) - byteLength(line) } : { bytes: 0, room: 0 };
    });
    const worst = sizes.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    if (lines.length > 1) text = `${lines.length} lines: each is sent as its own message.`;
    if (worst.bytes > MAX_LINE) {
      level = 'error';
      text = `Too long: ${worst.bytes - worst.room} bytes in one message; here the limit is ${MAX_LINE - worst.room} bytes (the server takes lines of up to ${MAX_LINE} bytes).`;
    } else if (worst.bytes > MAX_LINE * 0.9) {
      text = `${worst.bytes - worst.room} of ${MAX_LINE - worst.room} bytes`;
    }
  }
  if (!chat.loggedIn && ui.text.value) {
    text = 'Not connected: what you typed stays here until it can be sent.';
    level = 'error';
  }
  ui.hint.textContent = text;
  ui.hint.dataset.level = level;
  ui.text.style.height = 'auto';
  ui.text.style.height = `${ui.text.scrollHeight + ui.text.offsetHeight - ui.text.clientHeight}px`;
}

/** Sends what the box holds (Enter, or the Send button). */
function submit() {
  const lines = boxLines();
  if (!lines.length) return;
  updateHint();
  if (!chat.loggedIn || ui.hint.dataset.level === 'error') return;
  if (lines.length > ASK_LINES && !confirm(`Send these ${lines.length} lines as ${lines.length} messages?`)) return;
  ui.text.value = '';
  for (const line of lines) submitText(line);
  updateHint();
}
