//! The bounded buffer between the ingest thread and the sender. Pushing never blocks: when the
//! queue is full the oldest samples make room and are counted as dropped, so memory stays within
//! `capacity` whatever the receiver does.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::sample::Sample;

pub struct SampleQueue {
    state: Mutex<State>,
    changed: Condvar,
    capacity: usize,
}

struct State {
    samples: VecDeque<Sample>,
    /// When the oldest sample now in the queue arrived; the batch deadline counts from here.
    oldest_since: Option<Instant>,
    /// No more pushes will come: hand out whatever is left without waiting.
    closed: bool,
}

impl SampleQueue {
    pub fn new(capacity: usize) -> SampleQueue {
        SampleQueue {
            state: Mutex::new(State {
                samples: VecDeque::new(),
                oldest_since: None,
                closed: false,
            }),
            changed: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain data behind; keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends all of `samples` (leaving it empty); returns how many old samples were dropped
    /// to stay within capacity.
    pub fn push(&self, samples: &mut Vec<Sample>) -> usize {
        if samples.is_empty() {
            return 0;
        }
        let mut state = self.lock();
        if state.samples.is_empty() {
            state.oldest_since = Some(Instant::now());
        }
        state.samples.extend(samples.drain(..));
        let excess = state.samples.len().saturating_sub(self.capacity);
        state.samples.drain(..excess);
        drop(state);
        self.changed.notify_all();
        excess
    }

    /// Waits until `max` samples are queued, the oldest has waited `deadline`, the queue is
    /// closed, or `give_up_at` passes; then moves up to `max` samples into `out`. Returns false
    /// when the queue is closed and empty: the sender is done.
    pub fn pop_batch(
        &self,
        max: usize,
        deadline: Duration,
        give_up_at: Option<Instant>,
        out: &mut Vec<Sample>,
    ) -> bool {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            let due = state.oldest_since.map(|t| t + deadline);
            let ready = state.samples.len() >= max
                || (state.closed && !state.samples.is_empty())
                || due.is_some_and(|d| d <= now);
            if ready {
                break;
            }
            if state.closed || give_up_at.is_some_and(|g| g <= now) {
                return !state.closed;
            }
            let wake = [due, give_up_at].into_iter().flatten().min();
            state = match wake {
                Some(at) => {
                    self.changed
                        .wait_timeout(state, at.saturating_duration_since(now))
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self.changed.wait(state).unwrap_or_else(|p| p.into_inner()),
            };
        }
        let n = max.min(state.samples.len());
        out.extend(state.samples.drain(..n));
        state.oldest_since = if state.samples.is_empty() {
            None
        } else {
            Some(Instant::now())
        };
        true
    }

    /// Tells the sender no more samples will come.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    pub fn len(&self) -> usize {
        self.lock().samples.len()
    }

    /// Empties the queue; returns how many samples it held.
    pub fn discard_all(&self) -> usize {
        let mut state = self.lock();
        let held = state.samples.len();
        state.samples.clear();
        state.oldest_since = None;
        held
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::MetricType;
    use crate::sample::{Family, Series};
    use std::sync::Arc;

    fn samples(range: std::ops::Range<i64>) -> Vec<Sample> {
        let family = Arc::new(Family {
            name: "x".into(),
            metric_type: MetricType::Gauge,
            unit: "",
            help: String::new(),
        });
        let series = Arc::new(Series::new(vec![], family));
        range
            .map(|ts| Sample {
                series: Arc::clone(&series),
                timestamp_ms: ts,
                value: ts as f64,
            })
            .collect()
    }

    #[test]
    fn full_queue_drops_the_oldest_and_reports_how_many() {
        let queue = SampleQueue::new(5);
        assert_eq!(queue.push(&mut samples(0..3)), 0);
        assert_eq!(queue.push(&mut samples(3..8)), 3);
        let mut out = Vec::new();
        queue.close();
        assert!(queue.pop_batch(100, Duration::from_secs(60), None, &mut out));
        let kept: Vec<i64> = out.iter().map(|s| s.timestamp_ms).collect();
        assert_eq!(kept, vec![3, 4, 5, 6, 7]);
        out.clear();
        assert!(!queue.pop_batch(100, Duration::from_secs(60), None, &mut out));
    }

    #[test]
    fn a_full_batch_is_handed_out_at_once_and_a_partial_one_after_the_deadline() {
        let queue = SampleQueue::new(100);
        queue.push(&mut samples(0..10));
        let mut out = Vec::new();
        let start = Instant::now();
        assert!(queue.pop_batch(4, Duration::from_secs(60), None, &mut out));
        assert_eq!(out.len(), 4);
        assert!(start.elapsed() < Duration::from_secs(1));
        out.clear();
        queue.pop_batch(4, Duration::from_secs(60), None, &mut out);
        queue.pop_batch(4, Duration::from_millis(50), None, &mut out);
        assert_eq!(out.len(), 6);
    }

    #[test]
    fn give_up_time_ends_the_wait_without_samples() {
        let queue = SampleQueue::new(100);
        let mut out = Vec::new();
        let give_up = Instant::now() + Duration::from_millis(30);
        assert!(queue.pop_batch(4, Duration::from_secs(60), Some(give_up), &mut out));
        assert!(out.is_empty());
    }
}
