//! The core's log lines go to the JVM's stderr, which Spark writes into the driver's log and
//! each executor's `stderr` log, next to Spark's own lines.
//!
//! They are written by a logging thread, never by the thread that logs: a stderr nobody reads
//! blocks its writers once the pipe is full (Spark's standalone worker stops reading an
//! executor's stderr before it stops the executor), and the sender thread must not hang on a
//! log line during the final flush. When the logging thread cannot keep up, lines are dropped.

use once_cell::sync::OnceCell;
use tracing_appender::non_blocking::WorkerGuard;

/// Lines waiting for the logging thread. tracing-appender's default, 128,000, allocates a 4 MB
/// channel up front in every JVM; the core logs a few lines an hour when healthy and one line
/// per problem (each warned about once), so a thousand is plenty, and beyond it lines are dropped
/// rather than block, as before.
const BUFFERED_LINES: usize = 1_000;

/// Kept for the life of the JVM: dropping it would stop the logging thread.
static INSTALLED: OnceCell<Option<WorkerGuard>> = OnceCell::new();

/// Installs the subscriber once per JVM; the first sink's `logLevel` decides the level.
/// Only sparkprom's own events pass: the HTTP stack's debug chatter would drown a Spark log.
pub fn init(level: &str) {
    // tracing-appender panics when its thread cannot start (a container at its pids.max): then
    // nothing is installed, and the sink's own threads fail to start with an error that says so.
    if std::thread::Builder::new().spawn(|| {}).is_err() {
        return;
    }
    INSTALLED.get_or_init(|| {
        let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(true)
            .buffered_lines_limit(BUFFERED_LINES)
            .thread_name("sparkprom-log")
            .finish(std::io::stderr());
        let filter = tracing_subscriber::EnvFilter::new(format!("sparkprom={level}"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer)
            .with_ansi(false)
            .with_thread_names(true)
            .try_init()
            .ok()
            .map(|_| guard)
    });
}
