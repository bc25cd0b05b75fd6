//! A bound on concurrent password hashing. Each argon2 run takes a core and 19 MiB (the
//! default parameters), so an unbounded number of them at once exhausts the server's memory.
//!
//! The runs go to a fixed set of threads, one per core, and each thread keeps one argon2
//! memory buffer for all its runs. Memory is then at most 19 MiB per thread. Argon2's own
//! per-run allocation, or tokio's blocking pool, would leave freed buffers in the allocator's
//! arenas: 200 parallel sign-ins took a 57 MiB process to 290 MiB with two runs at a time.

use std::num::NonZero;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use argon2::Block;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// Requests that may wait per hashing thread; past them, sign-ins are refused until one ends.
/// A wait is then at most a few hash times.
const WAITING_PER_THREAD: usize = 4;

/// A hashing thread's argon2 memory, grown to the parameters' size at its first use.
pub(crate) type Memory = Vec<Block>;

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// The hashing threads and their short queue.
pub(crate) struct Hashers {
    /// A place for each request running or waiting.
    places: Arc<Semaphore>,
    jobs: Sender<Job>,
}

/// A place among the running or waiting requests.
pub(crate) struct Place {
    place: OwnedSemaphorePermit,
    jobs: Sender<Job>,
}

impl Hashers {
    /// `threads` hashing threads, with a queue of `WAITING_PER_THREAD` per thread.
    pub(crate) fn new(threads: NonZero<usize>) -> Self {
        let threads = threads.get();
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = Arc::clone(&queue);
            // Without its hashing threads the demo could not check a password; failing to
            // start one at start-up is a fatal condition of the machine.
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(&queue))
                .unwrap_or_else(|e| panic!("cannot start a hashing thread: {e}"));
        }
        Self {
            places: Arc::new(Semaphore::new(threads * (1 + WAITING_PER_THREAD))),
            jobs,
        }
    }

    /// One thread per core.
    pub(crate) fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().unwrap_or(NonZero::<usize>::MIN))
    }

    /// A place in the queue, or `None` when it is full.
    pub(crate) fn admit(&self) -> Option<Place> {
        let place = Arc::clone(&self.places).try_acquire_owned().ok()?;
        Some(Place {
            place,
            jobs: self.jobs.clone(),
        })
    }
}

/// A hashing thread: runs jobs until the queue closes.
fn work(queue: &Mutex<Receiver<Job>>) {
    let mut memory = Memory::new();
    loop {
        let job = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok(job) = job else { return };
        // A job that panics fails its own request (its answer channel is dropped); the thread
        // goes on to the next.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut memory)));
        // The blocks were derived from a password: wipe them between runs.
        memory.fill(Block::default());
    }
}

impl Place {
    /// Runs `work` on a hashing thread, in turn, with that thread's argon2 memory. The place
    /// goes with `work`, so a request its client abandons holds it until argon2 is done, and
    /// the bound holds however requests end. `None` if `work` panicked.
    pub(crate) async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Option<T> {
        let (answer, answered) = oneshot::channel();
        let place = self.place;
        self.jobs
            .send(Box::new(move |memory: &mut Memory| {
                let result = work(memory);
                // Freed before the answer, so that a request that has its answer never finds
                // its own place still taken.
                drop(place);
                let _ = answer.send(result);
            }))
            .ok()?;
        answered.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_threads_plus_their_queue() {
        let hashers = Hashers::new(NonZero::new(2).unwrap());
        let places: Vec<_> = std::iter::from_fn(|| hashers.admit()).take(100).collect();
        assert_eq!(places.len(), 2 * (1 + WAITING_PER_THREAD));
        drop(places);
        assert!(
            hashers.admit().is_some(),
            "a place frees when its request ends"
        );
    }

    #[tokio::test]
    async fn a_place_is_held_until_its_work_is_done() {
        let hashers = Hashers::new(NonZero::<usize>::MIN);
        let places: Vec<_> = std::iter::from_fn(|| hashers.admit()).collect();
        let n = places.len();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let mut places = places.into_iter();
        let running = tokio::spawn(places.next().unwrap().run(move |_| rx.recv().is_ok()));
        drop(places);
        tokio::task::yield_now().await;
        assert_eq!(hashers.places.available_permits(), n - 1);
        tx.send(()).unwrap();
        assert_eq!(running.await.unwrap(), Some(true));
        assert_eq!(hashers.places.available_permits(), n);
    }
}
