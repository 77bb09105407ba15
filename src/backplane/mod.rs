//! Several servers as one chat, through one Redis (`--redis URL`): each
//! server is a node that keeps its own users' connections; what they share
//! (names, rooms, history, presence) lives in Redis, and every change goes
//! through Redis in one order that every node applies. The RESP codec
//! ([`resp`]) and the client ([`redis`]) are this crate's own.
//!
//! # One order: a single events stream
//!
//! Every change anybody is told of (a login, a departure, a message, a
//! join, a part, in any room) is one entry of one stream, `chat:events`,
//! appended by the Lua script (`cluster.lua`) that makes the change, in the
//! same atomic step. Every node runs one reader thread that `XREAD BLOCK`s
//! on it and applies each entry, in stream order, to its hub, which delivers
//! to that node's users. So every member of a room, on every node, receives
//! the room's lines in one and the same order, the sender's echo included.
//! A session's next reply (and its departure) waits until the events of its
//! earlier commands have been applied on its node, so its echo comes before
//! the replies to its next commands, as on one server; its commands
//! themselves do not wait, so one sender's messages follow each other at the
//! pace of a Redis round trip.
//!
//! Why one stream for the whole cluster rather than one per room: one total
//! order gives one order per room for free, and a node's place in it is one
//! id, so resuming after an outage is `XREAD` from that id (nothing lost,
//! nothing twice); the set of streams a node reads never changes. A stream
//! per room would mean an `XREAD` over every room with a member on the node,
//! changing at each `JOIN` (waking the blocked reader, starting the room's
//! cursor at the join), and thousands of keys per call. Redis executes
//! commands on one thread, so one stream costs no parallelism; what it costs
//! is that every node reads every event, also of rooms it has no member in,
//! which for a chat whose lobby reaches everybody is most events anyway.
//! Memory is bounded: `MAXLEN ~ 100000`. Entries carry a gapless number
//! (`n`, an `INCR` in the same script): a node that finds entries trimmed
//! before it read them (it was 100,000 events behind) cannot know what it
//! missed, so it steps down (below).
//!
//! # History
//!
//! One stream per room, `chat:hist:<room>`, `XADD … MAXLEN ~ <--history-keep>`
//! in the `say` script, with the room's sequence number from
//! `INCR chat:seq:<room>` in the same script (as Centrifugo does): numbers
//! are cluster-wide, 1, 2, 3…, never reused. A message's time is its entry
//! id's (Redis's clock, one for all nodes). `HISTORY` reads the stream
//! (`XREVRANGE`), so any node serves it, also one that was not up when the
//! messages were sent. A join records the id of the room's last message;
//! the joiner's replay ends there, and what follows comes live after the
//! `JOIN` line. The node's own `--data-dir` is not used (not even opened, so
//! nodes can share a working directory).
//!
//! # Names, sessions and leases
//!
//! A login is a session id, `<node token>.<n>`; `chat:name:<folded>` holds
//! the session id of the name's holder. The login script sets it only if the
//! name is free or its holder's node is dead (that node is reaped first, in
//! the same script, so its users' departures come first in the order), so a
//! race for one name on two nodes gives exactly one `OK`. Every other script
//! acting for a session first checks that the name still holds its session
//! id (fencing: a session whose node was declared dead cannot speak in the
//! name of whoever holds it next), and carries an operation number so that
//! a retry after a lost reply is not done twice.
//!
//! One lease per node, not per name: `chat:node:<token>` (`SET … PX 10000`),
//! renewed every second by the node's lease thread; a name is held while its
//! node's lease is. (A lease per name, `SET name NX PX`, would let a name
//! expire apart from its node's other state, and free it for a new login
//! before its old holder's departure was announced; it would also cost one
//! renewal per user instead of one per node.) Names are released by a
//! compare-and-delete in the `release` script, which also leaves every room
//! and appends the one departure event.
//!
//! # Accounts
//!
//! One hash, `chat:accounts`: folded name → password record (made and
//! checked by the session threads; the KDF never runs in Redis or under a
//! lock). `register` is an `HSETNX`, `password` replaces only a record that
//! is there; both are fenced like any session's op. `login` refuses a
//! registered name (`name-reserved`) in the same script that would claim
//! it, so a registration cannot slip between check and claim. `takeover`
//! (`AUTH`) claims a registered name whoever holds it: if the record is
//! still the one the password was checked against, it releases the live
//! holder, marking that departure `w k` (taken over), then logs the new
//! session in, both events in one script. The holder's node, applying the
//! first, closes it with `BYE logged-in-elsewhere`; every node's users see
//! the departure, then the login, once each, in that order. On one node,
//! the takeover's session waits apart from the name's old one
//! ([`sessions`]) until the order replaces one by the other.
//!
//! # A node that dies
//!
//! Every renewal also looks at the other nodes (`chat:nodes`): a node whose
//! lease has run out is reaped, in the script: each of its users
//! (`chat:users:<token>`) is released (one `INFO <name> disconnected` each,
//! on every node), its DM stream deleted. Within 10 s of its last renewal
//! plus one renewal period: about 11 s after a `kill -9`. Being one script,
//! a reap happens once, however many nodes notice.
//!
//! A node that was only slow or paused (`SIGSTOP`) past its lease finds out
//! by itself: its renewal says `lost`, and its reader meets the departures
//! of its own sessions in the order. It steps down: its users are told
//! `BYE unavailable` and disconnected (they may log in again), and it joins
//! the cluster anew. Until then it cannot do harm: every script it runs is
//! fenced by session ids that are no longer anybody's.
//!
//! # DMs
//!
//! One stream per node, `chat:dm:<token>` (`MAXLEN ~ 10000`): the DM script
//! finds the recipient's session, and so its node, and appends there. The
//! reader reads it in the same `XREAD` as the events stream. `ERR
//! user-not-found` only when the name is held by no live node.
//!
//! # Redis unavailable
//!
//! A command that needs Redis fails with `ERR unavailable`: at once once
//! Redis is known to be away (no connect, no timeout per command; see
//! [`pool`]), logged once; the users stay connected. A message is delivered
//! to everybody or nobody, since delivery is only ever from the stream. The
//! reader keeps trying, with backoff up to 1 s, and resumes from the last id
//! it applied. A dropped connection (`CLIENT KILL`) is retried at once; a
//! reply lost with its connection is retried once and its operation number
//! keeps it from being done twice. With `appendonly yes` a restarted Redis
//! has everything its append-only file had (with `appendfsync everysec`, a
//! crash of Redis itself can lose its last second).
//!
//! # Slow consumers
//!
//! The reader only appends to outboxes, which never block and are bounded:
//! a client that does not read is dropped (`BYE too-slow`), and its
//! departure goes through the cluster like any other. Redis never buffers
//! for a node: nodes pull, at most 1,000 entries per read.
//!
//! # Keys (all under `chat:`)
//!
//! | key | type | what |
//! |---|---|---|
//! | `events`, `events:n` | stream, counter | the one order; its entry count |
//! | `nodes` | set | node tokens |
//! | `node:<token>` | string, PX | a node's lease |
//! | `users:<token>` | hash | a node's users: folded name → name |
//! | `ops:<token>` | hash | session id → last operation number and its event |
//! | `dm:<token>` | stream | DMs for a node's users |
//! | `name:<folded>` | string | the session id holding a name |
//! | `urooms:<folded>` | set | the rooms a user is in |
//! | `rooms` | set | rooms with members |
//! | `members:<room>` | hash | folded name → name |
//! | `roomname:<room>` | string | a room as first spelled |
//! | `hist:<room>`, `seq:<room>` | stream, counter | a room's history, its last seq |
//! | `accounts` | hash | folded name → password record |

mod keeper;
mod pool;
mod reader;
pub mod redis;
mod resp;
mod script;
mod sessions;
mod stream;
mod url;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::delivery::{Helpers, Outbox};
use crate::hub::{Change, Cluster, Hub, Me, RoomLimits};
use crate::protocol::{ErrorCode, RoomName, Username};
use crate::store::Message;
use crate::support::crypto::random_bytes;
use crate::support::log::Log;
use crate::support::sync;
use pool::{Health, Pool};
use redis::{Client, Options, Url};
use resp::Value;
use script::{Failure, Outcome, Script};
use sessions::{Departure, Departures, Progress, Sessions};
use stream::StreamId;

/// A node's lease: others reap it this long after its last renewal.
const LEASE: Duration = Duration::from_secs(10);

/// How long a reply waits for the events of its session's earlier commands
/// to be applied here before it goes anyway (they will be: the reader is
/// only behind, or Redis away).
const APPLY_WAIT: Duration = Duration::from_secs(5);

/// Connections the session threads share.
const POOL_SIZE: usize = 16;

/// What a node is told by its server.
pub struct NodeConfig {
    pub url: Url,
    /// Names the node's Redis connections (`CLIENT LIST`), e.g. its port.
    pub label: String,
    pub limits: RoomLimits,
    /// Messages kept per room (`--history-keep`).
    pub keep: usize,
    pub log: Log,
}

/// This server as a node of the cluster.
pub struct Backplane {
    token: String,
    /// `chat-<label>-<token>`, the prefix of its connections' names.
    name: String,
    url: Url,
    script: Script,
    pool: Pool,
    health: Health,
    hub: Hub,
    helpers: Arc<Helpers>,
    limits: RoomLimits,
    keep: usize,
    log: Log,
    sessions: Sessions,
    departures: Departures,
    progress: Progress,
    /// Session ids and operation numbers: one counter, never reused.
    counter: AtomicU64,
    /// Set when a script said this node's lease is gone.
    renew_now: AtomicBool,
    stopping: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Backplane {
    /// Joins the cluster at `config.url` and starts the node's reader and
    /// lease threads; fails if Redis cannot be reached now.
    pub fn start(
        config: NodeConfig,
        hub: &Hub,
        helpers: &Arc<Helpers>,
    ) -> Result<Arc<Backplane>, String> {
        let token: String = random_bytes(8)
            .map_err(|err| format!("cannot read /dev/urandom: {err}"))?
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let name = format!("chat-{}-{token}", config.label);
        let options = |role: &str| Options {
            name: format!("{name}-{role}"),
            ..Options::default()
        };
        let script = Script::new();
        let mut lease = Client::new(config.url.clone(), options("lease"));
        let hello = script
            .run(&mut lease, "hello", &[token.as_bytes(), &lease_ms()])
            .map_err(|failure| format!("cannot join the cluster at {}: {failure}", config.url))?;
        let Outcome::Done(rest) = hello else {
            return Err(format!("the cluster at {} refused this node", config.url));
        };
        let from = rest.first().and_then(Value::text).and_then(StreamId::parse);
        let number = rest
            .get(1)
            .and_then(Value::integer)
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
        let pool = Pool::new(config.url.clone(), options("cmd"), POOL_SIZE);
        let reader_client = Client::new(config.url.clone(), options("reader"));
        let node = Arc::new(Backplane {
            pool,
            health: Health::new(config.url.clone(), config.log),
            token,
            name,
            url: config.url,
            script,
            hub: hub.clone(),
            helpers: Arc::clone(helpers),
            limits: config.limits,
            keep: config.keep.max(1),
            log: config.log,
            sessions: Sessions::default(),
            departures: Departures::default(),
            progress: Progress::default(),
            counter: AtomicU64::new(1),
            renew_now: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        });
        let reader = {
            let node = Arc::clone(&node);
            let from = from.unwrap_or_default();
            spawn("redis reader", move || {
                reader::run(&node, reader_client, from, number)
            })?
        };
        let keeper = {
            let node = Arc::clone(&node);
            spawn("redis lease", move || keeper::run(&node, lease))?
        };
        sync::lock(&node.threads).extend([reader, keeper]);
        node.log.event(
            None,
            format_args!("cluster: node {} joined through {}", node.name, node.url),
        );
        Ok(node)
    }

    /// Leaves the cluster: lets go of every name still held here (their
    /// departures are announced) and stops the node's threads.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.departures.wake();
        let threads = std::mem::take(&mut *sync::lock(&self.threads));
        for thread in threads {
            let _ = thread.join();
        }
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn next_number(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether a session id is one of this node's.
    fn is_mine(&self, sid: &str) -> bool {
        sid.split_once('.')
            .is_some_and(|(token, _)| token == self.token)
    }

    /// Runs a script operation for a session thread: `ERR unavailable` at
    /// once while Redis is known to be away.
    fn run(&self, op: &str, args: &[&[u8]]) -> Result<Vec<Value>, ErrorCode> {
        if self.health.is_down() {
            return Err(ErrorCode::Unavailable);
        }
        let outcome = self
            .pool
            .with(|client| Ok(self.script.run(client, op, args)));
        match outcome {
            Ok(Ok(Outcome::Done(rest))) => {
                self.health.works();
                Ok(rest)
            }
            Ok(Ok(Outcome::Refused(code))) => {
                self.health.works();
                Err(code)
            }
            Ok(Ok(Outcome::Lost)) => {
                self.renew_now.store(true, Ordering::SeqCst);
                self.departures.wake();
                Err(ErrorCode::Unavailable)
            }
            Ok(Err(Failure::Redis(err))) | Err(err) => {
                self.health.failed(&err);
                Err(ErrorCode::Unavailable)
            }
            Ok(Err(failure @ Failure::Reply(_))) => {
                self.health.failed(&failure);
                Err(ErrorCode::Unavailable)
            }
        }
    }

    /// Runs an operation for session `me`, noting the event it caused (see
    /// [`Cluster::catch_up`]).
    fn act(&self, me: Me<'_>, op: &str, extra: &[&[u8]]) -> Result<(), ErrorCode> {
        let sid = self
            .sessions
            .sid(me.name, me.outbox)
            .ok_or(ErrorCode::NotLoggedIn)?;
        let number = self.next_number().to_string();
        let folded = me.name.folded();
        let mut args: Vec<&[u8]> = vec![
            sid.as_bytes(),
            folded.as_bytes(),
            me.name.as_str().as_bytes(),
            number.as_bytes(),
        ];
        args.extend_from_slice(extra);
        let rest = self.run(op, &args)?;
        if let Some(id) = script::event_id(&rest) {
            self.sessions.caused(me.name, me.outbox, id);
        }
        Ok(())
    }

    /// Lets go of the names of sessions that left; `false` if Redis could
    /// not be asked (they stay queued).
    fn let_go(&self) -> bool {
        let mut all_done = true;
        for departure in self.departures.take() {
            let (name, sid) = match departure {
                Departure::Session(name, outbox) => match self.sessions.remove(&name, &outbox) {
                    Some(sid) => (name, sid),
                    None => continue,
                },
                Departure::Login(name, sid) => (name, sid),
            };
            let folded = name.folded();
            if self
                .run("release", &[sid.as_bytes(), folded.as_bytes()])
                .is_err()
            {
                all_done = false;
                self.departures.push(Departure::Login(name, sid));
            }
        }
        all_done
    }
}

/// The lease's length for the scripts, in milliseconds.
fn lease_ms() -> Vec<u8> {
    LEASE.as_millis().to_string().into_bytes()
}

/// The key of a room in Redis: its folded name, the lobby's `#lobby`.
fn room_key(room: Option<&RoomName>) -> String {
    room.map_or_else(|| RoomName::lobby().folded(), RoomName::folded)
}

fn spawn(name: &str, run: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, String> {
    thread::Builder::new()
        .name(name.into())
        .spawn(run)
        .map_err(|err| format!("cannot start a thread: {err}"))
}

impl Backplane {
    /// Claims `name` for the session on `outbox`: a `LOGIN`, or with the
    /// password record `AUTH` verified, a takeover. `Ok` once its event is
    /// applied here (the session is in the hub and has its `OK`).
    fn claim(
        &self,
        name: &Username,
        outbox: &Arc<Outbox>,
        takeover: Option<&str>,
    ) -> Result<(), ErrorCode> {
        // A name this node let go of is free before it is asked for again.
        self.let_go();
        let sid = format!("{}.{}", self.token, self.next_number());
        let begun = match takeover {
            None => self.sessions.begin(name, &sid, outbox),
            // Two AUTHs of one name at once on one node: the second waits
            // for nothing and is refused; it may try again.
            Some(_) => self.sessions.begin_takeover(name, &sid, outbox),
        };
        if !begun {
            return Err(ErrorCode::UsernameTaken);
        }
        let folded = name.folded();
        let number = self.next_number().to_string();
        let mut args: Vec<&[u8]> = vec![
            sid.as_bytes(),
            folded.as_bytes(),
            name.as_str().as_bytes(),
            number.as_bytes(),
        ];
        let op = match takeover {
            None => "login",
            Some(record) => {
                args.push(record.as_bytes());
                "takeover"
            }
        };
        match self.run(op, &args) {
            // Activated meanwhile (only the reply was lost): logged in.
            Err(code) => match self.sessions.give_up(name, outbox) {
                Some(_) => Err(code),
                None => Ok(()),
            },
            Ok(rest) => {
                if let Some(id) = script::event_id(&rest) {
                    self.progress.wait_for(id, APPLY_WAIT);
                }
                // Still not applied: give up; the name is let go of.
                match self.sessions.give_up(name, outbox) {
                    Some(sid) => {
                        self.departures.push(Departure::Login(name.clone(), sid));
                        Err(ErrorCode::Unavailable)
                    }
                    None => Ok(()),
                }
            }
        }
    }
}

impl Cluster for Backplane {
    fn login(&self, name: &Username, outbox: &Arc<Outbox>) -> Result<(), ErrorCode> {
        self.claim(name, outbox, None)
    }

    fn password_record(&self, name: &Username) -> Result<Option<String>, ErrorCode> {
        let rest = self.run("account", &[name.folded().as_bytes()])?;
        Ok(rest.first().and_then(Value::text).map(str::to_owned))
    }

    fn take_over(
        &self,
        name: &Username,
        outbox: &Arc<Outbox>,
        record: &str,
    ) -> Result<(), ErrorCode> {
        self.claim(name, outbox, Some(record))
    }

    fn set_password(&self, me: Me<'_>, record: &str, change: Change) -> Result<(), ErrorCode> {
        let op = match change {
            Change::Register => "register",
            Change::Password => "password",
        };
        self.act(me, op, &[record.as_bytes()])
    }

    fn say(&self, me: Me<'_>, room: Option<&RoomName>, text: &str) -> Result<(), ErrorCode> {
        let key = room_key(room);
        let keep = self.keep.to_string();
        self.act(
            me,
            "say",
            &[key.as_bytes(), text.as_bytes(), keep.as_bytes()],
        )
    }

    fn direct_message(&self, me: Me<'_>, to: &Username, text: &str) -> Result<(), ErrorCode> {
        let to = to.folded();
        self.act(me, "dm", &[to.as_bytes(), text.as_bytes()])
    }

    fn join(&self, me: Me<'_>, room: &RoomName) -> Result<(), ErrorCode> {
        let key = room.folded();
        let per_user = self.limits.max_rooms_per_user.to_string();
        let rooms = self.limits.max_rooms.to_string();
        let args: [&[u8]; 4] = [
            key.as_bytes(),
            room.as_str().as_bytes(),
            per_user.as_bytes(),
            rooms.as_bytes(),
        ];
        self.act(me, "join", &args)
    }

    fn part(&self, me: Me<'_>, room: &RoomName) -> Result<(), ErrorCode> {
        self.act(me, "part", &[room.folded().as_bytes()])
    }

    fn leave(&self, name: &Username, outbox: &Arc<Outbox>) {
        self.departures
            .push(Departure::Session(name.clone(), Arc::clone(outbox)));
    }

    fn settle(&self) {
        self.let_go();
    }

    fn catch_up(&self, me: Me<'_>) {
        if let Some(id) = self.sessions.last_caused(me.name, me.outbox) {
            self.progress.wait_for(id, APPLY_WAIT);
        }
    }

    fn who(&self, room: Option<&RoomName>) -> Result<Vec<Username>, ErrorCode> {
        let rest = self.run("who", &[room_key(room).as_bytes()])?;
        let names = rest.first().map(script::texts).unwrap_or_default();
        Ok(names
            .iter()
            .filter_map(|name| Username::parse(name).ok())
            .collect())
    }

    fn rooms(&self) -> Result<Vec<(RoomName, usize)>, ErrorCode> {
        let rest = self.run("rooms", &[])?;
        let flat = rest.first().and_then(Value::elements).unwrap_or_default();
        Ok(flat
            .chunks(2)
            .filter_map(|pair| match pair {
                [name, members] => Some((
                    RoomName::parse(name.text()?).ok()?,
                    usize::try_from(members.integer()?).ok()?,
                )),
                _ => None,
            })
            .collect())
    }

    fn history(
        &self,
        room: &RoomName,
        count: usize,
    ) -> Result<(RoomName, Vec<Message>), ErrorCode> {
        let count = count.min(self.keep).to_string();
        let rest = self.run("history", &[room.folded().as_bytes(), count.as_bytes()])?;
        let spelling = rest
            .first()
            .and_then(Value::text)
            .and_then(|name| RoomName::parse(name).ok())
            .unwrap_or_else(|| room.clone());
        let mut messages: Vec<Message> = rest
            .get(1)
            .map(script::entries)
            .unwrap_or_default()
            .iter()
            .filter_map(stream::history_message)
            .collect();
        messages.reverse();
        Ok((spelling, messages))
    }
}
