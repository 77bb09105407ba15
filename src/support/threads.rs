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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// Stack size of connection threads. They need little (no recursion, small
/// frames), and only the pages they touch cost memory.
pub const THREAD_STACK: usize = 128 * 1024;

/// Memory mappings per thread: its stack and guard page, and the alternate
/// signal stack and guard page.
const MAPS_PER_THREAD: usize = 4;

/// Mappings and threads kept free for everything else (libraries, heap arenas,
/// the accept threads, other processes).
const KERNEL_RESERVE: usize = 1024;

/// How many connection threads may run at once.
pub struct ThreadBudget {
    limit: usize,
    running: AtomicUsize,
}

impl ThreadBudget {
    /// A budget of `limit` threads.
    pub fn new(limit: usize) -> Arc<ThreadBudget> {
        Arc::new(ThreadBudget {
            limit,
            running: AtomicUsize::new(0),
        })
    }

    /// A budget sized from the kernel's limits (unlimited where it does not say).
    pub fn from_kernel() -> Arc<ThreadBudget> {
        ThreadBudget::new(kernel_thread_limit().unwrap_or(usize::MAX))
    }

    /// The most threads this budget allows.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many of its threads are running now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// Starts a named connection thread with a small stack, if the budget and
    /// the system allow; the thread gives its place back when it ends.
    pub fn spawn<T: Send + 'static>(
        self: &Arc<Self>,
        name: &str,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<JoinHandle<T>> {
        let taken = self
            .running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |running| {
                (running < self.limit).then_some(running + 1)
            });
        if taken.is_err() {
            return Err(io::Error::other(format!(
                "the limit of {} connection threads is reached",
                self.limit
            )));
        }
        let place = Place(Arc::clone(self));
        thread::Builder::new()
            .name(name.into())
            .stack_size(THREAD_STACK)
            .spawn(move || {
                let _place = place;
                work()
            })
    }
}

/// A thread's place in the budget; dropping it (when the thread ends, or when it
/// never starts) gives it back.
struct Place(Arc<ThreadBudget>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
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
}
