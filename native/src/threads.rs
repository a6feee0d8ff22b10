//! The core's threads: each is named, and a panic in one is logged, not lost. The JNI boundary
//! turns a panic into a Java exception with the same message.

use std::any::Any;
use std::thread::JoinHandle;

/// Spawns a named thread whose panic is logged instead of silently ending the thread.
pub fn spawn_guarded(
    name: &str,
    body: impl FnOnce() + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    let thread_name = name.to_string();
    std::thread::Builder::new()
        .name(thread_name.clone())
        .spawn(move || {
            if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
                tracing::error!(
                    "thread {thread_name} stopped by a panic: {}",
                    panic_message(&panic)
                );
            }
        })
}

/// The text a panic was raised with.
pub fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}
