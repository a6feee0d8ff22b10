//! The sender thread: takes batches from the queue, encodes them and delivers them, retrying
//! what the remote-write spec says to retry. One thread per sink sends one request at a time,
//! so every series' samples reach the receiver in timestamp order, retries included.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::Receiver;

use crate::config::Config;
use crate::metadata::PendingMetadata;
use crate::queue::SampleQueue;
use crate::remote_write::client::{Client, Outcome, Version, MAX_RETRY_AFTER};
use crate::remote_write::encoders::Encoders;
use crate::remote_write::negotiate::{Negotiation, Verdict};
use crate::sample::Sample;
use crate::stats::{now_ms, Stats};

/// Most metadata entries in one request: keeps requests small when a registry is first seen.
const MAX_METADATA_PER_SEND: usize = 500;

/// Set once the sink is closing: the moment the sender stops trying.
#[derive(Default)]
pub struct GiveUp(Mutex<Option<Instant>>);

impl GiveUp {
    pub fn set(&self, at: Instant) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
    }
    pub fn get(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn passed(&self) -> bool {
        self.get().is_some_and(|at| Instant::now() >= at)
    }
}

/// Logs a repeating problem at most once a minute, with how often it happened meanwhile.
struct RateLimitedLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    const EVERY: Duration = Duration::from_secs(60);

    fn new() -> Self {
        RateLimitedLog {
            last: None,
            suppressed: 0,
        }
    }

    /// Returns how many were suppressed since the last line when this one should be logged.
    fn should_log(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_none_or(|t| now.duration_since(t) >= Self::EVERY)
        {
            self.last = Some(now);
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

pub struct SenderLoop {
    pub config: Config,
    pub client: Client,
    pub queue: Arc<SampleQueue>,
    pub stats: Arc<Stats>,
    pub give_up: Arc<GiveUp>,
    pub metadata: Arc<PendingMetadata>,
    /// Wakes the sender from a backoff sleep when the sink starts closing.
    pub wake: Receiver<()>,
}

/// What became of one batch.
enum Delivered {
    /// Accepted; `not_written` of its samples the receiver said it did not write (2.0's
    /// written header, OTLP's partial success).
    Sent { not_written: usize },
    /// Refused; `written` of its samples the receiver said it wrote all the same (2.0).
    Rejected { written: usize },
    /// Sent in 2.0 to a receiver that takes only 1.0, which took none of it: to send in 1.0.
    FellBack,
    /// Still failing after `retryTimeout`: given up so the next batch can go.
    RetryTimeout,
    /// Could not be encoded.
    GaveUp,
    /// Still failing when the flush deadline left no time for another try.
    OutOfTime,
}

/// What the sender remembers between requests to log failures sparingly.
struct DeliveryLog {
    failures: RateLimitedLog,
    refusals: RateLimitedLog,
    failing_since: Option<Instant>,
    said_not_written: bool,
    said_partial_success: bool,
}

/// The sender's encoders, one per message, and which message the receiver takes.
struct Encoding {
    encoders: Encoders,
    negotiation: Negotiation,
}

impl SenderLoop {
    /// Takes the next batch, delivers it, counts what became of it; until the queue is closed
    /// and empty or the flush deadline passes.
    pub fn run(self) {
        let mut encoding = Encoding {
            encoders: Encoders::default(),
            negotiation: Negotiation::new(&self.config),
        };
        let mut batch = Vec::with_capacity(self.config.max_samples_per_send);
        let mut metadata = Vec::new();
        let mut log = DeliveryLog {
            failures: RateLimitedLog::new(),
            refusals: RateLimitedLog::new(),
            failing_since: None,
            said_not_written: false,
            said_partial_success: false,
        };
        while self.next_batch(&mut batch) {
            if batch.is_empty() {
                continue;
            }
            // Taken whatever the message: 2.0 carries each series' metadata inline, and a batch
            // that falls back to 1.0 needs it.
            metadata.clear();
            self.metadata.take(MAX_METADATA_PER_SEND, &mut metadata);
            let version = encoding.negotiation.version();
            let mut outcome = self.send(version, &mut encoding, &batch, &metadata, &mut log);
            if let Delivered::FellBack = outcome {
                // The receiver took nothing of the 2.0 request: the same batch, in 1.0, now.
                outcome = self.send(Version::V1, &mut encoding, &batch, &metadata, &mut log);
            }
            self.count(&outcome, batch.len());
            batch.clear();
            if let Delivered::OutOfTime = outcome {
                // No retry fits before the flush deadline: the receiver is failing now, so the
                // rest is given up at once rather than sent back to back into it.
                self.give_up_the_rest(0);
                return;
            }
        }
    }

    /// Waits for the next batch into `batch` (empty when none came in time); false when the
    /// sender is done: the queue is closed and empty, or the flush deadline passed, in which
    /// case everything still queued is given up at once, in one line (each further request
    /// could take a whole timeout).
    fn next_batch(&self, batch: &mut Vec<crate::sample::Sample>) -> bool {
        // Wake at least every second to notice a give-up time set by close().
        let wait_until = self
            .give_up
            .get()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        let open = self.queue.pop_batch(
            self.config.max_samples_per_send,
            self.config.batch_deadline,
            Some(wait_until),
            batch,
        );
        if !self.give_up.passed() {
            return open || !batch.is_empty();
        }
        self.give_up_the_rest(batch.len());
        batch.clear();
        false
    }

    /// Counts `taken` samples already out of the queue and everything still in it as failed,
    /// in one line: the final flush ends here.
    fn give_up_the_rest(&self, taken: usize) {
        let given_up = taken + self.queue.discard_all();
        if given_up > 0 {
            Stats::add(&self.stats.samples_failed, given_up);
            tracing::warn!("gave up on {given_up} samples: the final flush deadline passed");
        }
    }

    /// Encodes `batch` in `version` and delivers it.
    fn send(
        &self,
        version: Version,
        encoding: &mut Encoding,
        batch: &[Sample],
        metadata: &[Arc<crate::sample::Family>],
        log: &mut DeliveryLog,
    ) -> Delivered {
        match encoding.encoders.encode(version, batch, metadata) {
            Ok((body, _)) => {
                self.deliver(body, version, &mut encoding.negotiation, batch.len(), log)
            }
            Err(e) => {
                tracing::error!("cannot compress a batch of {} samples: {e}", batch.len());
                Delivered::GaveUp
            }
        }
    }

    /// Sends one request, retrying what the remote-write spec says to retry, with backoff (at
    /// least the receiver's Retry-After), until it is accepted, refused, or the flush deadline
    /// leaves no time for another try.
    fn deliver(
        &self,
        body: &[u8],
        version: Version,
        negotiation: &mut Negotiation,
        samples: usize,
        log: &mut DeliveryLog,
    ) -> Delivered {
        let mut backoff = self.config.min_backoff;
        let first_try = Instant::now();
        loop {
            let started = Instant::now();
            let outcome = self.client.send(body, version);
            Stats::add(&self.stats.requests, 1);
            Stats::add(
                &self.stats.request_nanos,
                started.elapsed().as_nanos() as usize,
            );
            match negotiation.judge(version, &outcome) {
                Verdict::Keep => {}
                Verdict::FallBack => return Delivered::FellBack,
                Verdict::Unsupported => return Delivered::Rejected { written: 0 },
            }
            match outcome {
                Outcome::Sent {
                    samples_written,
                    partial,
                } => {
                    if let Some(since) = log.failing_since.take() {
                        tracing::info!(
                            "remote write to {} recovered after {:.1}s",
                            crate::http::redact_url(&self.config.url),
                            since.elapsed().as_secs_f64()
                        );
                    }
                    let written = samples_written.map_or(samples, |n| n as usize);
                    let mut not_written = samples.saturating_sub(written);
                    if let Some(partial) = partial {
                        // One data point per sample: what it rejected is what it did not write.
                        not_written = (partial.rejected as usize).min(samples);
                        if !std::mem::replace(&mut log.said_partial_success, true) {
                            tracing::warn!(
                                "{} accepted an OTLP request of {samples} data points but \
                                 rejected {} (partial_success): {}. Counted in \
                                 sparkprom_samples_failed_total{{reason=\"not_written\"}}, said \
                                 once: the receiver's log says more",
                                crate::http::redact_url(&self.config.url),
                                partial.rejected,
                                partial.message
                            );
                        }
                        return Delivered::Sent { not_written };
                    }
                    if not_written > 0 && !std::mem::replace(&mut log.said_not_written, true) {
                        tracing::warn!(
                            "{} accepted a request of {samples} samples but wrote {written} \
                             (X-Prometheus-Remote-Write-Samples-Written); counted in \
                             sparkprom_samples_failed_total{{reason=\"not_written\"}}, said once: \
                             the receiver's log says why",
                            crate::http::redact_url(&self.config.url)
                        );
                    }
                    return Delivered::Sent { not_written };
                }
                Outcome::Rejected {
                    status,
                    message,
                    samples_written,
                } => {
                    if let Some(suppressed) = log.refusals.should_log() {
                        let hint = self
                            .client
                            .refusal_hint(status, &message)
                            .map_or(String::new(), |hint| format!(" ({hint})"));
                        tracing::error!(
                            "{} refused {samples} samples with HTTP {status} (not retried; {suppressed} more refusals since the last line): {message}{hint}",
                            crate::http::redact_url(&self.config.url)
                        );
                    }
                    // A 2.0 receiver may write part of a request it refuses (the spec's
                    // partial write): those samples arrived.
                    let written = samples_written.map_or(0, |n| (n as usize).min(samples));
                    return Delivered::Rejected { written };
                }
                Outcome::Misconfigured { reason } => {
                    if let Some(suppressed) = log.refusals.should_log() {
                        tracing::error!(
                            "remote write to {} cannot succeed as configured; {samples} samples not sent (not retried; {suppressed} more since the last line): {reason}",
                            crate::http::redact_url(&self.config.url)
                        );
                    }
                    return Delivered::Rejected { written: 0 };
                }
                Outcome::Retry { after, reason } => {
                    log.failing_since.get_or_insert_with(Instant::now);
                    if first_try.elapsed() >= self.config.retry_timeout {
                        tracing::warn!(
                            "gave up on a batch of {samples} samples after retrying it for {:?} (retryTimeout); \
                             the last answer was: {reason}. Sending the next batch. Counted in \
                             sparkprom_samples_failed_total{{reason=\"retry_timeout\"}}; a receiver that keeps \
                             answering 5xx to one batch refuses something in it: look at its log",
                            self.config.retry_timeout
                        );
                        return Delivered::RetryTimeout;
                    }
                    if let Some(suppressed) = log.failures.should_log() {
                        tracing::warn!(
                            "remote write to {} failed, retrying ({suppressed} more failures since the last line): {reason}",
                            crate::http::redact_url(&self.config.url)
                        );
                    }
                    let delay = after.unwrap_or(backoff).max(backoff);
                    backoff = (backoff * 2).min(self.config.max_backoff);
                    if !self.sleep(jitter(delay)) {
                        return Delivered::OutOfTime;
                    }
                    Stats::add(&self.stats.retries, 1);
                }
            }
        }
    }

    /// Counts what became of a batch of `samples` samples.
    fn count(&self, outcome: &Delivered, samples: usize) {
        match *outcome {
            Delivered::Sent { not_written } => {
                Stats::add(&self.stats.samples_sent, samples - not_written);
                Stats::add(&self.stats.samples_not_written, not_written);
                self.stats
                    .last_success_ms
                    .store(now_ms(), Ordering::Relaxed);
            }
            Delivered::Rejected { written } => {
                Stats::add(&self.stats.samples_sent, written);
                Stats::add(&self.stats.samples_rejected, samples - written);
            }
            Delivered::RetryTimeout => Stats::add(&self.stats.samples_retry_timeout, samples),
            // FellBack: sent again in 1.0, never the end of a batch; failed if it were.
            Delivered::GaveUp | Delivered::OutOfTime | Delivered::FellBack => {
                Stats::add(&self.stats.samples_failed, samples)
            }
        }
    }

    /// Sleeps `delay` before a retry; false (at once) when the sink is closing and the retry
    /// would come after its give-up time.
    fn sleep(&self, delay: Duration) -> bool {
        // Retry-After is capped, but no delay may overflow the clock either.
        let until = Instant::now()
            .checked_add(delay.min(MAX_RETRY_AFTER * 2))
            .unwrap_or_else(Instant::now);
        loop {
            if self.give_up.get().is_some_and(|give_up| give_up <= until) {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            // close() sends on `wake` so a long sleep is cut short to look at the give-up time.
            if let Err(crossbeam_channel::RecvTimeoutError::Disconnected) =
                self.wake.recv_timeout(until - now)
            {
                std::thread::sleep(until - now);
            }
        }
    }
}

/// Spreads retries of many JVMs that failed together: up to 20% more than the delay, never
/// less, so a receiver's Retry-After is always honoured.
fn jitter(delay: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // A cheap pseudo-random factor in [1.0, 1.2) from the clock's low bits.
    let mut x = nanos as u64 ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    let factor = 1.0 + (x % 1000) as f64 / 5000.0;
    delay.mul_f64(factor)
}
