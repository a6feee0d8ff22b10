//! Decodes the packed registry snapshot that `io.sparkprom.SnapshotEncoder` writes into a direct
//! ByteBuffer. The two files define the format together; change both or neither.
//!
//! Little-endian throughout:
//! ```text
//! header   magic "SPK1" | u8 flags (bit 0: the Java side restarted its name ids) | i64 time (ms)
//! records  u8 tag, then:
//!   1 DEFINE     u32 id, u16 len, UTF-8 name      (a name's first appearance, then only its id)
//!   2 IDENTITY   u16 n, n x (u16 len, key, u16 len, value)   (who this JVM is, when it changes)
//!   3 GAUGE      u32 id, f64 value
//!   4 COUNTER    u32 id, i64 count
//!   5 METER      u32 id, i64 count
//!   6 HISTOGRAM  u32 id, i64 count, 6 x f64 quantiles (0.5 .75 .95 .98 .99 .999)
//!   7 TIMER      u32 id, i64 count, 6 x f64 quantiles in nanoseconds
//!   8 SKIPPED    u32 id                 (a gauge that was null, not a number, or threw)
//!   9 READ_FAILED u32 id                (a counter, meter, histogram or timer whose read threw)
//!  10 SIGNAL_DEFINE u32 id, u8 flags, u16 len, series name, u16 n, n x (u16 len, label value)
//!                    (a driver listener series: its label names are its family's, in signals.rs;
//!                    flags bit 0: NEW, the series was just made and counts from 0, so the core
//!                    sends a 0 before its first value. Not set when a series is defined again,
//!                    after a names reset or when it goes on after an end: it never went down.)
//!  11 SIGNAL     u32 id, f64 value      (signal ids are their own, apart from name ids)
//!  12 SIGNAL_END u32 id                 (the series ended, e.g. its streaming query stopped;
//!                                         written before definitions, and the id may come back)
//! ```

use std::fmt;

pub const MAGIC: &[u8; 4] = b"SPK1";
pub const FLAG_NAMES_RESET: u8 = 1;
/// SIGNAL_DEFINE's flag: a series made just now, which counted from 0.
pub const SIGNAL_FLAG_NEW: u8 = 1;

const TAG_DEFINE: u8 = 1;
const TAG_IDENTITY: u8 = 2;
const TAG_GAUGE: u8 = 3;
const TAG_COUNTER: u8 = 4;
const TAG_METER: u8 = 5;
const TAG_HISTOGRAM: u8 = 6;
const TAG_TIMER: u8 = 7;
const TAG_SKIPPED: u8 = 8;
const TAG_READ_FAILED: u8 = 9;
const TAG_SIGNAL_DEFINE: u8 = 10;
const TAG_SIGNAL: u8 = 11;
const TAG_SIGNAL_END: u8 = 12;

/// The quantiles Dropwizard snapshots offer, in the order they are packed.
pub const QUANTILES: [f64; 6] = [0.5, 0.75, 0.95, 0.98, 0.99, 0.999];

/// One metric's value as read from the registry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Gauge(f64),
    Counter(i64),
    Meter(i64),
    Histogram {
        count: i64,
        quantiles: [f64; 6],
    },
    /// Quantiles in nanoseconds, as Dropwizard keeps them.
    Timer {
        count: i64,
        quantiles: [f64; 6],
    },
    /// A gauge that gave no number this time.
    Skipped,
    /// A counter, meter, histogram or timer whose read threw: no value, and no type to decide by.
    ReadFailed,
}

impl Value {
    /// Which Dropwizard type produced it; a skipped gauge is still a gauge.
    pub fn kind(&self) -> Kind {
        match self {
            // A failed read is never decided on (SparkSeries): the kind does not matter.
            Value::Gauge(_) | Value::Skipped | Value::ReadFailed => Kind::Gauge,
            Value::Counter(_) => Kind::Counter,
            Value::Meter(_) => Kind::Meter,
            Value::Histogram { .. } => Kind::Histogram,
            Value::Timer { .. } => Kind::Timer,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Gauge,
    Counter,
    Meter,
    Histogram,
    Timer,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub id: u32,
    pub value: Value,
}

/// One decoded report.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Snapshot {
    pub timestamp_ms: i64,
    pub names_reset: bool,
    pub identity: Option<Vec<(String, String)>>,
    pub definitions: Vec<(u32, String)>,
    pub readings: Vec<Reading>,
    /// The driver listener's series defined in this report (`SparkSignals`).
    pub signal_definitions: Vec<SignalDefinition>,
    /// Every listener series' value: (signal id, value).
    pub signal_values: Vec<(u32, f64)>,
    /// Listener series that ended since the last report.
    pub signal_ends: Vec<u32>,
}

/// A listener series' first appearance: its name and its label values, in the order its family
/// declares the label names.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalDefinition {
    pub id: u32,
    /// Made just now: it counted from 0 (a counter or a histogram's series gets a 0 first).
    /// False when the Java side defines a series again that it sent before.
    pub new: bool,
    pub name: String,
    pub label_values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    BadMagic,
    Truncated { at: usize },
    UnknownTag { tag: u8, at: usize },
    NotUtf8 { at: usize },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::BadMagic => write!(
                f,
                "snapshot does not start with SPK1: jar and native library do not match"
            ),
            DecodeError::Truncated { at } => write!(f, "snapshot truncated at byte {at}"),
            DecodeError::UnknownTag { tag, at } => {
                write!(f, "unknown record tag {tag} at byte {at}")
            }
            DecodeError::NotUtf8 { at } => write!(f, "name at byte {at} is not UTF-8"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A cursor over the buffer; every read checks the length.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(DecodeError::Truncated { at: self.pos })?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_le_bytes(self.array()?))
    }
    fn string(&mut self) -> Result<String, DecodeError> {
        let at = self.pos;
        let len = self.u16()? as usize;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::NotUtf8 { at })
    }
    fn quantiles(&mut self) -> Result<[f64; 6], DecodeError> {
        let mut q = [0.0; 6];
        for slot in q.iter_mut() {
            *slot = self.f64()?;
        }
        Ok(q)
    }
    fn done(&self) -> bool {
        self.pos >= self.bytes.len()
    }
}

/// Decodes one snapshot into `out`, reusing its vectors' memory.
pub fn decode_into(bytes: &[u8], out: &mut Snapshot) -> Result<(), DecodeError> {
    out.identity = None;
    out.definitions.clear();
    out.readings.clear();
    out.signal_definitions.clear();
    out.signal_values.clear();
    out.signal_ends.clear();
    let mut r = Reader { bytes, pos: 0 };
    if r.take(4)? != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    out.names_reset = r.u8()? & FLAG_NAMES_RESET != 0;
    out.timestamp_ms = r.i64()?;
    while !r.done() {
        let at = r.pos;
        let tag = r.u8()?;
        let value = match tag {
            TAG_DEFINE => {
                let id = r.u32()?;
                let name = r.string()?;
                out.definitions.push((id, name));
                continue;
            }
            TAG_IDENTITY => {
                let n = r.u16()?;
                let mut pairs = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    pairs.push((r.string()?, r.string()?));
                }
                out.identity = Some(pairs);
                continue;
            }
            TAG_SIGNAL_DEFINE => {
                let id = r.u32()?;
                let new = r.u8()? & SIGNAL_FLAG_NEW != 0;
                let name = r.string()?;
                let n = r.u16()?;
                let mut label_values = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    label_values.push(r.string()?);
                }
                out.signal_definitions.push(SignalDefinition {
                    id,
                    new,
                    name,
                    label_values,
                });
                continue;
            }
            TAG_SIGNAL => {
                let id = r.u32()?;
                out.signal_values.push((id, r.f64()?));
                continue;
            }
            TAG_SIGNAL_END => {
                out.signal_ends.push(r.u32()?);
                continue;
            }
            TAG_GAUGE | TAG_COUNTER | TAG_METER | TAG_HISTOGRAM | TAG_TIMER | TAG_SKIPPED
            | TAG_READ_FAILED => tag,
            tag => return Err(DecodeError::UnknownTag { tag, at }),
        };
        let id = r.u32()?;
        let value = match value {
            TAG_GAUGE => Value::Gauge(r.f64()?),
            TAG_COUNTER => Value::Counter(r.i64()?),
            TAG_METER => Value::Meter(r.i64()?),
            TAG_HISTOGRAM => Value::Histogram {
                count: r.i64()?,
                quantiles: r.quantiles()?,
            },
            TAG_TIMER => Value::Timer {
                count: r.i64()?,
                quantiles: r.quantiles()?,
            },
            TAG_SKIPPED => Value::Skipped,
            _ => Value::ReadFailed,
        };
        out.readings.push(Reading { id, value });
    }
    Ok(())
}

/// Writes snapshots in the Java encoder's format; used by tests and benchmarks to produce the
/// bytes the JVM would.
#[derive(Default)]
pub struct Encoder {
    pub buf: Vec<u8>,
}

impl Encoder {
    pub fn begin(&mut self, timestamp_ms: i64, names_reset: bool) {
        self.buf.clear();
        self.buf.extend_from_slice(MAGIC);
        self.buf
            .push(if names_reset { FLAG_NAMES_RESET } else { 0 });
        self.buf.extend_from_slice(&timestamp_ms.to_le_bytes());
    }
    fn string(&mut self, s: &str) {
        self.buf.extend_from_slice(&(s.len() as u16).to_le_bytes());
        self.buf.extend_from_slice(s.as_bytes());
    }
    pub fn define(&mut self, id: u32, name: &str) {
        self.buf.push(TAG_DEFINE);
        self.buf.extend_from_slice(&id.to_le_bytes());
        self.string(name);
    }
    pub fn identity(&mut self, pairs: &[(&str, &str)]) {
        self.buf.push(TAG_IDENTITY);
        self.buf
            .extend_from_slice(&(pairs.len() as u16).to_le_bytes());
        for (k, v) in pairs {
            self.string(k);
            self.string(v);
        }
    }
    /// A listener series just made (`SIGNAL_FLAG_NEW`).
    pub fn signal_define(&mut self, id: u32, name: &str, label_values: &[&str]) {
        self.signal_definition(id, SIGNAL_FLAG_NEW, name, label_values);
    }
    /// A listener series defined again (after a names reset, or going on after an end).
    pub fn signal_redefine(&mut self, id: u32, name: &str, label_values: &[&str]) {
        self.signal_definition(id, 0, name, label_values);
    }
    fn signal_definition(&mut self, id: u32, flags: u8, name: &str, label_values: &[&str]) {
        self.buf.push(TAG_SIGNAL_DEFINE);
        self.buf.extend_from_slice(&id.to_le_bytes());
        self.buf.push(flags);
        self.string(name);
        self.buf
            .extend_from_slice(&(label_values.len() as u16).to_le_bytes());
        for v in label_values {
            self.string(v);
        }
    }
    pub fn signal_end(&mut self, id: u32) {
        self.buf.push(TAG_SIGNAL_END);
        self.buf.extend_from_slice(&id.to_le_bytes());
    }
    pub fn signal(&mut self, id: u32, value: f64) {
        self.buf.push(TAG_SIGNAL);
        self.buf.extend_from_slice(&id.to_le_bytes());
        self.buf.extend_from_slice(&value.to_le_bytes());
    }
    pub fn reading(&mut self, id: u32, value: Value) {
        let (tag, count, quantiles) = match value {
            Value::Gauge(v) => {
                self.buf.push(TAG_GAUGE);
                self.buf.extend_from_slice(&id.to_le_bytes());
                self.buf.extend_from_slice(&v.to_le_bytes());
                return;
            }
            Value::Skipped => (TAG_SKIPPED, None, None),
            Value::ReadFailed => (TAG_READ_FAILED, None, None),
            Value::Counter(c) => (TAG_COUNTER, Some(c), None),
            Value::Meter(c) => (TAG_METER, Some(c), None),
            Value::Histogram { count, quantiles } => (TAG_HISTOGRAM, Some(count), Some(quantiles)),
            Value::Timer { count, quantiles } => (TAG_TIMER, Some(count), Some(quantiles)),
        };
        self.buf.push(tag);
        self.buf.extend_from_slice(&id.to_le_bytes());
        if let Some(c) = count {
            self.buf.extend_from_slice(&c.to_le_bytes());
        }
        for q in quantiles.iter().flatten() {
            self.buf.extend_from_slice(&q.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_the_encoder_wrote() {
        let mut e = Encoder::default();
        e.begin(1_700_000_000_123, true);
        e.identity(&[("spark.app.id", "app-1"), ("spark.executor.id", "driver")]);
        e.define(0, "app-1.driver.DAGScheduler.job.activeJobs");
        e.reading(0, Value::Gauge(3.0));
        e.define(1, "app-1.driver.appStatus.tasks.completedTasks");
        e.reading(1, Value::Counter(42));
        e.reading(
            7,
            Value::Timer {
                count: 5,
                quantiles: [1e6, 2e6, 3e6, 4e6, 5e6, 6e6],
            },
        );
        e.reading(9, Value::Skipped);
        let mut s = Snapshot::default();
        decode_into(&e.buf, &mut s).unwrap();
        assert_eq!(s.timestamp_ms, 1_700_000_000_123);
        assert!(s.names_reset);
        assert_eq!(s.identity.as_ref().unwrap()[1].1, "driver");
        assert_eq!(s.definitions.len(), 2);
        assert_eq!(
            s.readings,
            vec![
                Reading {
                    id: 0,
                    value: Value::Gauge(3.0)
                },
                Reading {
                    id: 1,
                    value: Value::Counter(42)
                },
                Reading {
                    id: 7,
                    value: Value::Timer {
                        count: 5,
                        quantiles: [1e6, 2e6, 3e6, 4e6, 5e6, 6e6]
                    }
                },
                Reading {
                    id: 9,
                    value: Value::Skipped
                },
            ]
        );
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let mut e = Encoder::default();
        e.begin(1, false);
        e.define(3, "a.b");
        e.reading(
            3,
            Value::Histogram {
                count: 1,
                quantiles: [1.0; 6],
            },
        );
        let mut s = Snapshot::default();
        for len in 0..e.buf.len() {
            if len == 13 || len == 23 {
                // record boundaries: the header alone, and header plus the definition
                continue;
            }
            assert!(decode_into(&e.buf[..len], &mut s).is_err(), "length {len}");
        }
    }

    #[test]
    fn wrong_magic_and_unknown_tags_are_reported() {
        let mut s = Snapshot::default();
        assert_eq!(
            decode_into(b"XXXX\0\0\0\0\0\0\0\0\0", &mut s),
            Err(DecodeError::BadMagic)
        );
        let mut e = Encoder::default();
        e.begin(1, false);
        e.buf.push(99);
        assert_eq!(
            decode_into(&e.buf, &mut s),
            Err(DecodeError::UnknownTag { tag: 99, at: 13 })
        );
    }
}
