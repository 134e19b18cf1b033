//! Batches on their way from a plugin's run thread to the recorder.
//!
//! Once the recorder is consuming, a plugin that gets ahead of it waits, so
//! that a large collection is never held whole; the time it waits is kept,
//! for it is not the plugin's (its deadline moves by as much). Until then —
//! the recorder may be waiting for the store — batches gather.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Batches queued at most while the recorder consumes.
const AHEAD: usize = 4;

pub struct BatchQueue<T> {
    state: Mutex<State<T>>,
    /// Signalled when a batch arrives or the queue closes.
    arrived: Condvar,
    /// Signalled when the recorder takes a batch or hangs up.
    taken: Condvar,
}

struct State<T> {
    batches: VecDeque<T>,
    consuming: bool,
    /// The producer is done (or gone).
    closed: bool,
    /// The recorder is gone: nothing more will be taken.
    hung_up: bool,
    /// How long the producer has waited for the recorder, in all.
    waited: Duration,
}

/// What waiting for the next batch gave.
pub enum Next<T> {
    Batch(T),
    /// The producer closed the queue and everything was taken.
    Closed,
    /// The deadline passed first.
    TimedOut,
}

impl<T> Default for BatchQueue<T> {
    fn default() -> Self {
        BatchQueue {
            state: Mutex::new(State {
                batches: VecDeque::new(),
                consuming: false,
                closed: false,
                hung_up: false,
                waited: Duration::ZERO,
            }),
            arrived: Condvar::new(),
            taken: Condvar::new(),
        }
    }
}

impl<T> BatchQueue<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a batch, waiting while the recorder is behind. False when the
    /// recorder hung up: the producer should stop.
    pub fn send(&self, batch: T) -> bool {
        let mut state = self.lock();
        let waiting = Instant::now();
        while state.consuming && !state.hung_up && state.batches.len() >= AHEAD {
            state = self.taken.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.waited += waiting.elapsed();
        if state.hung_up {
            return false;
        }
        state.batches.push_back(batch);
        self.arrived.notify_one();
        true
    }

    /// The producer is done.
    pub fn close(&self) {
        self.lock().closed = true;
        self.arrived.notify_all();
    }

    /// From now on the producer waits when it is ahead.
    pub fn start_consuming(&self) {
        self.lock().consuming = true;
    }

    /// The recorder stops taking batches; a waiting producer is released.
    pub fn hang_up(&self) {
        let mut state = self.lock();
        state.hung_up = true;
        state.batches.clear();
        self.taken.notify_all();
    }

    /// The next batch, waiting until `deadline` — moved by the time the
    /// producer spent waiting for the recorder — at most.
    pub fn next(&self, deadline: Instant) -> Next<T> {
        let mut state = self.lock();
        loop {
            if let Some(batch) = state.batches.pop_front() {
                self.taken.notify_one();
                return Next::Batch(batch);
            }
            if state.closed {
                return Next::Closed;
            }
            let now = Instant::now();
            let deadline = deadline + state.waited;
            if now >= deadline {
                return Next::TimedOut;
            }
            state = self
                .arrived
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    #[test]
    fn batches_gather_until_the_recorder_consumes() {
        let queue = BatchQueue::default();
        for i in 0..AHEAD * 3 {
            assert!(queue.send(i), "not consuming yet: nothing waits");
        }
        queue.close();
        let mut got = Vec::new();
        while let Next::Batch(b) = queue.next(soon()) {
            got.push(b);
        }
        assert_eq!(got, (0..AHEAD * 3).collect::<Vec<_>>());
    }

    #[test]
    fn a_producer_ahead_of_the_consumer_waits() {
        let queue = Arc::new(BatchQueue::default());
        queue.start_consuming();
        let producer = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                for i in 0..AHEAD + 2 {
                    queue.send(i);
                }
                queue.close();
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(queue.lock().batches.len(), AHEAD, "the producer waits at AHEAD batches");
        let mut got = Vec::new();
        while let Next::Batch(b) = queue.next(soon()) {
            got.push(b);
        }
        producer.join().unwrap();
        assert_eq!(got.len(), AHEAD + 2);
    }

    #[test]
    fn hanging_up_releases_the_producer() {
        let queue = Arc::new(BatchQueue::default());
        queue.start_consuming();
        let producer = {
            let queue = queue.clone();
            std::thread::spawn(move || (0..100).take_while(|i| queue.send(*i)).count())
        };
        std::thread::sleep(Duration::from_millis(50));
        queue.hang_up();
        let sent = producer.join().unwrap();
        assert!(sent <= AHEAD, "{sent}");
    }

    #[test]
    fn the_deadline_moves_by_the_time_the_producer_waited() {
        let queue = Arc::new(BatchQueue::default());
        queue.start_consuming();
        let begun = Instant::now();
        let producer = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                for i in 0..=AHEAD {
                    queue.send(i);
                }
            })
        };
        // The producer waits while nothing is taken, then everything is.
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..=AHEAD {
            assert!(matches!(queue.next(soon()), Next::Batch(_)));
        }
        producer.join().unwrap();
        // A deadline already past (at 200 ms), but not by as long as the
        // producer waited (about 300 ms): it is made up before giving up.
        let deadline = begun + Duration::from_millis(200);
        assert!(matches!(queue.next(deadline), Next::TimedOut));
        assert!(
            begun.elapsed() >= Duration::from_millis(450),
            "gave up {:?} after the start, before the waited-for time was made up",
            begun.elapsed()
        );
    }

    #[test]
    fn waiting_ends_at_the_deadline() {
        let queue: BatchQueue<()> = BatchQueue::default();
        let started = Instant::now();
        assert!(matches!(
            queue.next(started + Duration::from_millis(50)),
            Next::TimedOut
        ));
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
