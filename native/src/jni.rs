//! The only `extern "system"` functions of the library: the native methods of
//! `io.sparkprom.NativeCore`. Each is one call into the core through [`guard`], which turns an
//! error into a Java exception and catches any panic, so nothing from here can abort the JVM.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use jni::objects::{JByteArray, JByteBuffer, JClass};
use jni::sys::{jint, jlong, jstring};
use jni::JNIEnv;

use crate::config::Config;
use crate::sink::{Sink, StartError, SubmitStatus};
use crate::threads::panic_message;

/// An error to raise in the JVM.
struct Thrown {
    class: &'static str,
    message: String,
}

impl Thrown {
    fn runtime(message: impl Into<String>) -> Thrown {
        Thrown {
            class: "java/lang/RuntimeException",
            message: message.into(),
        }
    }

    /// A property the sink cannot accept; the message names it.
    fn illegal_argument(e: impl std::fmt::Display) -> Thrown {
        Thrown {
            class: "java/lang/IllegalArgumentException",
            message: e.to_string(),
        }
    }
}

impl From<jni::errors::Error> for Thrown {
    fn from(e: jni::errors::Error) -> Thrown {
        Thrown::runtime(format!("sparkprom JNI error: {e}"))
    }
}

/// Runs `body`; an `Err` or a panic becomes a pending Java exception and `fallback` is returned.
fn guard<T>(
    env: &mut JNIEnv,
    fallback: T,
    body: impl FnOnce(&mut JNIEnv) -> Result<T, Thrown>,
) -> T {
    let thrown = match catch_unwind(AssertUnwindSafe(|| body(env))) {
        Ok(Ok(value)) => return value,
        Ok(Err(thrown)) => thrown,
        Err(panic) => Thrown::runtime(format!("sparkprom native panic: {}", panic_message(&panic))),
    };
    // A failed JNI call may have left its own exception pending; that one explains more.
    if !env.exception_check().unwrap_or(false) {
        let _ = env.throw_new(thrown.class, thrown.message);
    }
    fallback
}

/// `void validate(byte[] properties)`: parses the properties as `create` would, starting
/// nothing; an executor checks its own properties with it while its core waits for SparkEnv.
#[no_mangle]
pub extern "system" fn Java_io_sparkprom_NativeCore_validate(
    mut env: JNIEnv,
    _class: JClass,
    properties: JByteArray,
) {
    guard(&mut env, (), |env| {
        let blob = env.convert_byte_array(&properties)?;
        Config::from_blob(&blob)
            .map(|_| ())
            .map_err(Thrown::illegal_argument)
    })
}

/// `long create(byte[] properties)`: validates the properties and starts a sink.
#[no_mangle]
pub extern "system" fn Java_io_sparkprom_NativeCore_create(
    mut env: JNIEnv,
    _class: JClass,
    properties: JByteArray,
) -> jlong {
    guard(&mut env, 0, |env| {
        let blob = env.convert_byte_array(&properties)?;
        let config = Config::from_blob(&blob).map_err(Thrown::illegal_argument)?;
        crate::logging::init(&config.log_level);
        let sink = Sink::start(config).map_err(|e| match e {
            StartError::Config(e) => Thrown::illegal_argument(e),
            StartError::Threads(_) | StartError::Client(_) => Thrown::runtime(e.to_string()),
        })?;
        Ok(Box::into_raw(Box::new(sink)) as jlong)
    })
}

/// `int report(long handle, ByteBuffer snapshot, int length)`: queues one snapshot.
#[no_mangle]
pub extern "system" fn Java_io_sparkprom_NativeCore_report(
    mut env: JNIEnv,
    _class: JClass,
    handle: jlong,
    buffer: JByteBuffer,
    length: jint,
) -> jint {
    guard(&mut env, SubmitStatus::Closed as jint, |env| {
        if handle == 0 {
            return Ok(SubmitStatus::Closed as jint);
        }
        let address = env.get_direct_buffer_address(&buffer)?;
        let capacity = env.get_direct_buffer_capacity(&buffer)?;
        let length = usize::try_from(length).unwrap_or(0);
        if length > capacity {
            return Err(Thrown::runtime(format!(
                "snapshot length {length} exceeds its buffer ({capacity} bytes)"
            )));
        }
        // SAFETY: the buffer is a live direct ByteBuffer of `capacity` bytes, held by the Java
        // caller for the whole call, and `length <= capacity`.
        let bytes = unsafe { std::slice::from_raw_parts(address, length) };
        // SAFETY: `handle` came from `create` and the Java side releases it only once, after
        // its last `report` (NativeHandle serialises both under one lock).
        let sink = unsafe { &*(handle as *const Sink) };
        Ok(sink.submit(bytes) as jint)
    })
}

/// `void close(long handle, long flushMillis)`: final flush, then frees the sink. A negative
/// `flushMillis` uses the configured `flushTimeout`.
#[no_mangle]
pub extern "system" fn Java_io_sparkprom_NativeCore_close(
    mut env: JNIEnv,
    _class: JClass,
    handle: jlong,
    flush_millis: jlong,
) {
    guard(&mut env, (), |_| {
        if handle == 0 {
            return Ok(());
        }
        // SAFETY: see `report`; after this call the Java side forgets the handle.
        let sink = unsafe { Box::from_raw(handle as *mut Sink) };
        let timeout = u64::try_from(flush_millis).ok().map(Duration::from_millis);
        sink.close(timeout);
        Ok(())
    })
}

/// `String version()`: the core's version, compared with the jar's at load time.
#[no_mangle]
pub extern "system" fn Java_io_sparkprom_NativeCore_version(
    mut env: JNIEnv,
    _class: JClass,
) -> jstring {
    guard(&mut env, std::ptr::null_mut(), |env| {
        Ok(env.new_string(crate::VERSION)?.into_raw())
    })
}

/// `String check(byte[] properties)`: the command-line check (check.rs). The first line is
/// `accepted` or `not accepted`, the rest one line per step.
#[no_mangle]
pub extern "system" fn Java_io_sparkprom_NativeCore_check(
    mut env: JNIEnv,
    _class: JClass,
    properties: JByteArray,
) -> jstring {
    guard(&mut env, std::ptr::null_mut(), |env| {
        let blob = env.convert_byte_array(&properties)?;
        let verdict = crate::check::run(&blob);
        let verdict_line = if verdict.accepted {
            "accepted"
        } else {
            "not accepted"
        };
        let text = format!("{verdict_line}\n{}", verdict.lines.join("\n"));
        Ok(env.new_string(text)?.into_raw())
    })
}
