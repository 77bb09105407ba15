//! Starting connection threads within what the kernel allows.
//!
//! Every client has a session thread, and a client whose socket is full has a
//! writer thread too for as long as that lasts. Linux limits threads twice: by
//! `kernel.pid_max`/`kernel.threads-max`, and by `vm.max_map_count`, since each
//! thread costs memory mappings (its stack and guard page, plus the signal stack
//! and guard page std gives every thread). Running out of mappings does not fail
//! `thread::spawn` cleanly: the new thread dies setting up its signal stack and
//! takes the whole process with it. So every connection thread is started
//! through a [`ThreadBudget`] sized from those limits, and the server refuses a
//! client (`BYE server-full`) or drops a slow one rather than go past it.

use std::io;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use crate::support::sync;

/// Stack size of connection threads. They need little (no recursion, small
/// frames), and only the pages they touch cost memory.
pub const THREAD_STACK: usize = 128 * 1024;

/// Memory mappings per thread: its stack and guard page, and the alternate
/// signal stack and guard page.
const MAPS_PER_THREAD: usize = 4;

/// Mappings and threads kept free for everything else (libraries, heap arenas,
/// the accept threads, other processes).
const KERNEL_RESERVE: usize = 1024;

/// How many connection threads may run at once, and how many of each kind.
///
/// Two kinds of thread share the budget: session threads ([`spawn`]), one per
/// client, and the threads that keep those clients served, writers for full
/// sockets and fan-out helpers ([`spawn_reserved`]). Each kind has a share it
/// may not go past, as well as the one limit for all: shares that add up to no
/// more than the limit keep places for each kind, so stuck writers cannot
/// refuse clients below `--max-clients`, nor clients leave no thread for a
/// writer.
///
/// [`spawn`]: ThreadBudget::spawn
/// [`spawn_reserved`]: ThreadBudget::spawn_reserved
pub struct ThreadBudget {
    limit: usize,
    /// The most session threads at once.
    sessions: usize,
    /// The most writer and helper threads at once.
    reserved: usize,
    running: Mutex<Running>,
}

/// The threads of a budget running now, by kind.
#[derive(Default)]
struct Running {
    sessions: usize,
    reserved: usize,
}

/// Which share of the budget a thread takes its place in.
#[derive(Clone, Copy)]
enum Kind {
    Session,
    Reserved,
}

impl ThreadBudget {
    /// A budget of `limit` threads, any of which may be of either kind.
    pub fn new(limit: usize) -> Arc<ThreadBudget> {
        ThreadBudget::with_shares(limit, limit, limit)
    }

    /// A budget of `limit` threads in which session threads ([`spawn`](Self::spawn))
    /// may take at most `sessions` places and writers and helpers
    /// ([`spawn_reserved`](Self::spawn_reserved)) at most `reserved`.
    pub fn with_shares(limit: usize, sessions: usize, reserved: usize) -> Arc<ThreadBudget> {
        Arc::new(ThreadBudget {
            limit,
            sessions,
            reserved,
            running: Mutex::default(),
        })
    }

    /// How many threads the kernel's limits allow (unlimited where they do
    /// not say).
    pub fn kernel_limit() -> usize {
        kernel_thread_limit().unwrap_or(usize::MAX)
    }

    /// The most threads this budget allows.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many of its threads are running now.
    pub fn running(&self) -> usize {
        let running = sync::lock(&self.running);
        running.sessions + running.reserved
    }

    /// How many session threads, and how many writer and helper threads,
    /// are running now.
    pub fn running_by_kind(&self) -> (usize, usize) {
        let running = sync::lock(&self.running);
        (running.sessions, running.reserved)
    }

    /// Starts a named session thread with a small stack, if its share of the
    /// budget and the system allow; the thread gives its place back when it
    /// ends.
    pub fn spawn<T: Send + 'static>(
        self: &Arc<Self>,
        name: &str,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<JoinHandle<T>> {
        self.start(Kind::Session, name, work)
    }

    /// Starts a named writer or helper thread, like [`spawn`](Self::spawn) but
    /// in the share kept for those.
    pub fn spawn_reserved<T: Send + 'static>(
        self: &Arc<Self>,
        name: &str,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<JoinHandle<T>> {
        self.start(Kind::Reserved, name, work)
    }

    fn start<T: Send + 'static>(
        self: &Arc<Self>,
        kind: Kind,
        name: &str,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<JoinHandle<T>> {
        let place = self.take(kind)?;
        thread::Builder::new()
            .name(name.into())
            .stack_size(THREAD_STACK)
            .spawn(move || {
                let _place = place;
                work()
            })
    }

    /// Takes a place of `kind`, or says which limit refuses it.
    fn take(self: &Arc<Self>, kind: Kind) -> io::Result<Place> {
        let mut running = sync::lock(&self.running);
        if running.sessions + running.reserved >= self.limit {
            return Err(io::Error::other(format!(
                "the limit of {} connection threads is reached",
                self.limit
            )));
        }
        let (count, share, what) = match kind {
            Kind::Session => (&mut running.sessions, self.sessions, "session"),
            Kind::Reserved => (&mut running.reserved, self.reserved, "writer and helper"),
        };
        if *count >= share {
            return Err(io::Error::other(format!(
                "the {share} places for {what} threads are taken"
            )));
        }
        *count += 1;
        Ok(Place(Arc::clone(self), kind))
    }
}

/// A thread's place in the budget; dropping it (when the thread ends, or when it
/// never starts) gives it back.
struct Place(Arc<ThreadBudget>, Kind);

impl Drop for Place {
    fn drop(&mut self) {
        let mut running = sync::lock(&self.0.running);
        match self.1 {
            Kind::Session => running.sessions -= 1,
            Kind::Reserved => running.reserved -= 1,
        }
    }
}

/// How many threads the kernel lets us start, if it says (Linux).
fn kernel_thread_limit() -> Option<usize> {
    let read =
        |path: &str| -> Option<usize> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    let maps = read("/proc/sys/vm/max_map_count")?;
    let threads = match (
        read("/proc/sys/kernel/threads-max"),
        read("/proc/sys/kernel/pid_max"),
    ) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    let by_maps = maps.saturating_sub(KERNEL_RESERVE) / MAPS_PER_THREAD;
    Some(by_maps.min(threads.saturating_sub(KERNEL_RESERVE)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn the_budget_refuses_past_its_limit_and_frees_places_as_threads_end() {
        let budget = ThreadBudget::new(2);
        let (release, hold) = mpsc::channel::<()>();
        let hold = Arc::new(std::sync::Mutex::new(hold));
        let spawn_holder = || {
            let hold = Arc::clone(&hold);
            budget.spawn("held", move || {
                let _ = hold.lock().unwrap().recv();
            })
        };
        let first = spawn_holder().unwrap();
        let second = spawn_holder().unwrap();
        let refused = spawn_holder().unwrap_err();
        assert!(refused.to_string().contains("limit of 2"), "{refused}");
        release.send(()).unwrap();
        release.send(()).unwrap();
        first.join().unwrap();
        second.join().unwrap();
        // Both places are free again.
        let answers: Vec<_> = (0..2)
            .map(|i| budget.spawn("again", move || i).unwrap())
            .collect();
        let sum: i32 = answers.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, 1);
    }

    /// Threads that wait until they are dropped (which ends and joins them,
    /// so their places are free again).
    #[derive(Default)]
    struct Held {
        releases: Vec<mpsc::Sender<()>>,
        threads: Vec<JoinHandle<()>>,
    }

    impl Held {
        /// Starts one held thread, a session's or (`reserved`) a writer's;
        /// says whether the budget allowed it.
        fn start(&mut self, budget: &Arc<ThreadBudget>, reserved: bool) -> bool {
            let (release, hold) = mpsc::channel::<()>();
            let work = move || {
                let _ = hold.recv();
            };
            let spawned = if reserved {
                budget.spawn_reserved("writer", work)
            } else {
                budget.spawn("session", work)
            };
            let Ok(thread) = spawned else {
                return false;
            };
            self.releases.push(release);
            self.threads.push(thread);
            true
        }
    }

    impl Drop for Held {
        fn drop(&mut self) {
            self.releases.clear();
            for thread in self.threads.drain(..) {
                let _ = thread.join();
            }
        }
    }

    #[test]
    fn sessions_and_writers_each_keep_their_share_of_the_budget() {
        // Four places: sessions may take three, writers and helpers one.
        let budget = ThreadBudget::with_shares(4, 3, 1);
        let (mut sessions, mut writers) = (Held::default(), Held::default());
        // Stuck writers cannot take the places kept for sessions...
        assert!(writers.start(&budget, true));
        assert!(
            !writers.start(&budget, true),
            "a writer took a session's place"
        );
        for n in 1..=3 {
            assert!(sessions.start(&budget, false), "session {n} was refused");
        }
        // ...and sessions cannot take the writers' place, even when it is free.
        let (mut more, mut writer) = (Held::default(), Held::default());
        drop(writers);
        assert!(
            !more.start(&budget, false),
            "a session took a writer's place"
        );
        assert!(writer.start(&budget, true));
        assert_eq!(budget.running(), 4);
    }
}
