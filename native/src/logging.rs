//! The core's log lines go to the JVM's stderr, which Spark writes into the driver's log and
//! each executor's `stderr` log, next to Spark's own lines.

use once_cell::sync::OnceCell;

static INSTALLED: OnceCell<()> = OnceCell::new();

/// Installs the subscriber once per JVM; the first sink's `logLevel` decides the level.
/// Only sparkprom's own events pass: the HTTP stack's debug chatter would drown a Spark log.
pub fn init(level: &str) {
    INSTALLED.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::new(format!("sparkprom={level}"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_thread_names(true)
            .try_init();
    });
}
