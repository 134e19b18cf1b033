//! Batches on their way from a plugin's run thread to the recorder.
//!
//! Once the recorder is consuming, a plugin that gets ahead of it waits, so
//! that a large collection is never held whole. Until then — the recorder
//! may be waiting for the store — batches gather: a plugin's time limit
//! must not run out while another collector is being recorded.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

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
        while state.consuming && !state.hung_up && state.batches.len() >= AHEAD {
            state = self.taken.wait(state).unwrap_or_else(|p| p.into_inner());
        }
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

    /// The next batch, waiting until `deadline` at most.
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
