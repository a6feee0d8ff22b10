//! A scripted remote-write receiver for fault injection. It decodes every request exactly as a
//! real receiver does (snappy block, then `WriteRequest`, or the 2.0 `Request` when the
//! Content-Type names it, as Prometheus 3.5 does) and answers from a script: a status (with
//! headers), a stall, or a dropped connection; when the script is empty it answers 204.
//! What it takes is one of `Takes`: both messages (Prometheus 3.5 with both accepted, the
//! default), or 1.0 only, answering a 2.0 request as Prometheus 2.42, Prometheus 3.5 by default
//! or another 1.x receiver does.
//! A request it would accept is first checked as Prometheus checks it, and refused as Prometheus
//! refuses it: with 500 a series with a label name twice (Prometheus 2.42's TSDB calls it an
//! invalid sample and stores nothing of the request; a sender retries a 5xx), with 400 label names
//! unsorted or invalid, an empty label value, an invalid metric name, or a sample not after the
//! series' last one (older, or the same time with another value).
//! A 2.0 request is checked as Prometheus 3.5's 2.0 handler does: series by series, writing what
//! is valid and answering 400 for the rest (a partial write), with the
//! `X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written` headers on every answer; a
//! repeated label name is a 400 there, and label names not sorted are refused too (the spec's
//! MUST; Prometheus 3.5 sorts them itself).
//! An OTLP/HTTP request (Content-Encoding gzip) is gunzipped, decoded as
//! `ExportMetricsServiceRequest` and turned into series as VictoriaMetrics 1.112 does (resource
//! attributes and the point's attributes as labels, the metric's name as `__name__`, a point
//! with no recorded value as a stale marker), then checked as a 1.0 request;
//! `Reply::WriteOnly(n)` answers 200 with a `partial_success` rejecting all but `n` points.

// Test code: a failing unwrap is a failing test (Cargo.toml denies unwrap elsewhere).
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sparkprom::remote_write::encode::decode_body;
use sparkprom::remote_write::otlp_proto::{self, metric, ExportMetricsServiceRequest};
use sparkprom::remote_write::proto::{Label, Sample, TimeSeries, WriteRequest};
use sparkprom::remote_write::v2_proto;

/// The Content-Type parameter that names the 2.0 message.
const V2_CONTENT_TYPE: &str = "proto=io.prometheus.write.v2.Request";

/// Which messages the receiver takes, and how it answers one it does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Takes {
    /// 1.0 and 2.0: Prometheus 3.5 with
    /// `--web.remote-write-receiver.accepted-protobuf-messages` naming both.
    Both,
    /// 1.0 only, reading every body as 1.0 whatever its Content-Type: Prometheus 2.42
    /// (storage/remote/write_handler.go, v2.42.0: `DecodeWriteRequest` then `write`). A 2.0
    /// body's fields (4, 5) are unknown to `prometheus.WriteRequest` and skipped: an empty
    /// request, stored as nothing, answered 204 without any written header.
    V1As242,
    /// 1.0 only, answering 415 to a 2.0 Content-Type: Prometheus 3.5 by default (its handler
    /// refuses a message not in its accepted list with 415).
    V1Answering415,
    /// 1.0 only, answering 400 to a 2.0 body it cannot decode: the spec's "Senders SHOULD
    /// expect 400 ... from 1.x Receivers".
    V1Answering400,
}
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Status(u16),
    StatusWithHeader(u16, &'static str, &'static str),
    /// A status with the body a real receiver explains it with.
    StatusWithBody(u16, &'static str),
    /// Waits this long, then answers 204 (a client with a shorter timeout has gone by then).
    Stall(Duration),
    /// Closes the connection without answering.
    Reset,
    /// 2.0: writes only the request's first this many samples and answers 204 saying so in
    /// X-Prometheus-Remote-Write-Samples-Written (a receiver that drops what it cannot store).
    /// OTLP: answers 200 with a partial_success rejecting the request's other points.
    WriteOnly(u64),
}

#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub reply: Reply,
    /// Why a request the script would have accepted was refused (then `reply` is 400 or 500).
    pub refusal: Option<String>,
    pub headers: Vec<(String, String)>,
    /// The request as the receiver read it (a 2.0 request's labels resolved through its
    /// symbols, its samples without their start timestamps).
    pub request: WriteRequest,
    /// The 2.0 request as it came, when the receiver read one.
    pub v2: Option<v2_proto::Request>,
    /// The OTLP request as it came, when the receiver read one.
    pub otlp: Option<ExportMetricsServiceRequest>,
    /// What X-Prometheus-Remote-Write-Samples-Written said, when the answer had it.
    pub samples_written: Option<u64>,
}

impl Received {
    /// Stored by the receiver: answered 2xx, or stalled (it answers 204, late).
    pub fn accepted(&self) -> bool {
        matches!(
            self.reply,
            Reply::Status(200..=299) | Reply::Stall(_) | Reply::WriteOnly(_)
        )
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(h, _)| h == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sent as remote write 2.0 (by its Content-Type).
    pub fn is_v2(&self) -> bool {
        self.header("content-type")
            .is_some_and(|t| t.contains(V2_CONTENT_TYPE))
    }
}

struct State {
    takes: Takes,
    script: VecDeque<Reply>,
    received: Vec<Received>,
    /// Each accepted series' newest sample: (timestamp, value bits).
    newest: HashMap<Vec<(String, String)>, (i64, u64)>,
}

pub struct FakeReceiver {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

/// A port held by this test and not listened on: connections to it are refused, and no other
/// process can take it meanwhile (a port found free and let go could be). `listen` turns it into
/// a receiver on the same port: the receiver that comes up later.
pub struct ReservedPort {
    fd: std::os::fd::OwnedFd,
    pub port: u16,
}

impl ReservedPort {
    pub fn new() -> ReservedPort {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket calls on a socket this function owns; every result is checked.
        unsafe {
            let raw = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(raw >= 0, "socket: {}", std::io::Error::last_os_error());
            let fd = std::os::fd::OwnedFd::from_raw_fd(raw);
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            let bound = libc::bind(raw, &addr as *const _ as *const libc::sockaddr, len);
            assert_eq!(bound, 0, "bind: {}", std::io::Error::last_os_error());
            let mut got_len = len;
            let named = libc::getsockname(
                raw,
                &mut addr as *mut _ as *mut libc::sockaddr,
                &mut got_len,
            );
            assert_eq!(named, 0, "getsockname: {}", std::io::Error::last_os_error());
            ReservedPort {
                fd,
                port: u16::from_be(addr.sin_port),
            }
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    /// Starts listening on the held port and serves it as a FakeReceiver.
    pub fn listen(self, script: Vec<Reply>) -> FakeReceiver {
        self.listen_taking(Takes::Both, script)
    }

    pub fn listen_taking(self, takes: Takes, script: Vec<Reply>) -> FakeReceiver {
        use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
        // SAFETY: listen on the socket this value owns, then hand its ownership to the listener.
        let listening = unsafe { libc::listen(self.fd.as_raw_fd(), 128) };
        assert_eq!(listening, 0, "listen: {}", std::io::Error::last_os_error());
        let listener = unsafe { TcpListener::from_raw_fd(self.fd.into_raw_fd()) };
        FakeReceiver::serve_on(listener, takes, script)
    }
}

impl Default for ReservedPort {
    fn default() -> ReservedPort {
        ReservedPort::new()
    }
}

impl FakeReceiver {
    pub fn start(script: Vec<Reply>) -> FakeReceiver {
        FakeReceiver::taking(Takes::Both, script)
    }

    pub fn taking(takes: Takes, script: Vec<Reply>) -> FakeReceiver {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the fake receiver");
        FakeReceiver::serve_on(listener, takes, script)
    }

    fn serve_on(listener: TcpListener, takes: Takes, script: Vec<Reply>) -> FakeReceiver {
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let state = Arc::new(Mutex::new(State {
            takes,
            script: script.into(),
            received: Vec::new(),
            newest: HashMap::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&state), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (s, st) = (Arc::clone(&s), Arc::clone(&st));
                        std::thread::spawn(move || serve(stream, s, st));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeReceiver { port, state, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until `n` requests arrived (answered or not).
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.received().len() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for FakeReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(stream: TcpStream, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    // One connection carries many requests (keep-alive).
    while !stop.load(Ordering::Relaxed) {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        let mut headers = Vec::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
                if k == "content-length" {
                    length = v.parse().unwrap_or(0);
                }
                headers.push((k, v));
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let v2_type = headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.contains(V2_CONTENT_TYPE));
        let gzip = headers
            .iter()
            .any(|(k, v)| k == "content-encoding" && v == "gzip");
        let mut guard = state.lock().unwrap();
        let answer = if gzip {
            answer_otlp(&body, headers, &mut guard)
        } else if v2_type && guard.takes != Takes::V1As242 {
            answer_v2(&body, headers, &mut guard)
        } else {
            answer_v1(&body, headers, &mut guard)
        };
        drop(guard);
        let Some((wait, status, extra, message)) = answer else {
            return;
        };
        std::thread::sleep(wait);
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n{extra}\r\n{message}",
            message.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// How long to wait before answering (outside the lock), the status, extra header lines and
/// body of the answer to one request; None: no answer (reset).
type Answer = Option<(Duration, u16, String, String)>;

/// A 1.0 request (or any request, read as 1.0 by a receiver that knows only 1.0), checked as
/// Prometheus 2.42 checks it.
fn answer_v1(body: &[u8], headers: Vec<(String, String)>, state: &mut State) -> Answer {
    let request = decode_body(body).expect("the sink sent a body a receiver cannot decode");
    let mut reply = state.script.pop_front().unwrap_or(Reply::Status(204));
    let mut refusal = None;
    if matches!(reply, Reply::Status(200..=299) | Reply::Stall(_)) {
        if let Err((status, why)) = check_as_prometheus_does(&request, &mut state.newest) {
            refusal = Some(why);
            reply = Reply::Status(status);
        }
    }
    state.received.push(Received {
        at: Instant::now(),
        reply: reply.clone(),
        refusal: refusal.clone(),
        headers,
        request,
        v2: None,
        otlp: None,
        samples_written: None,
    });
    answer(&reply, refusal, String::new())
}

/// A 2.0 request: refused as a 1.0-only receiver refuses it, or read and written series by
/// series as Prometheus 3.5's 2.0 handler does.
fn answer_v2(body: &[u8], headers: Vec<(String, String)>, state: &mut State) -> Answer {
    // Read for the record (the tests compare it with what follows), whatever is answered.
    let v2 = sparkprom::remote_write::encode_v2::decode_body(body)
        .expect("the sink sent a 2.0 body a receiver cannot decode");
    let request = resolve(&v2);
    let refused = |status: u16, why: &str| (Reply::Status(status), Some(why.to_string()), None);
    let (reply, refusal, written) = match state.takes {
        Takes::V1Answering415 => refused(
            415,
            "io.prometheus.write.v2.Request protobuf message is not accepted by this server; \
             accepted [prometheus.WriteRequest]",
        ),
        Takes::V1Answering400 => refused(400, "proto: WriteRequest: illegal tag 0 (wire type 0)"),
        Takes::Both | Takes::V1As242 => {
            let mut reply = state.script.pop_front().unwrap_or(Reply::Status(204));
            let limit = match reply {
                Reply::WriteOnly(n) => n,
                _ => u64::MAX,
            };
            let mut refusal = None;
            let mut written = 0;
            if matches!(
                reply,
                Reply::Status(200..=299) | Reply::Stall(_) | Reply::WriteOnly(_)
            ) {
                let (count, errors) =
                    write_as_prometheus_3_5_does(&request, limit, &mut state.newest);
                written = count;
                if !errors.is_empty() {
                    refusal = Some(errors.join("; "));
                    reply = Reply::Status(400);
                }
            }
            (reply, refusal, Some(written))
        }
    };
    state.received.push(Received {
        at: Instant::now(),
        reply: reply.clone(),
        refusal: refusal.clone(),
        headers,
        request,
        v2: Some(v2),
        otlp: None,
        samples_written: written,
    });
    let extra = written.map_or(String::new(), |n| {
        format!(
            "x-prometheus-remote-write-samples-written: {n}\r\n\
             x-prometheus-remote-write-histograms-written: 0\r\n\
             x-prometheus-remote-write-exemplars-written: 0\r\n"
        )
    });
    answer(&reply, refusal, extra)
}

/// An OTLP/HTTP request, read and checked as VictoriaMetrics stores it (see the top).
fn answer_otlp(body: &[u8], headers: Vec<(String, String)>, state: &mut State) -> Answer {
    use prost::Message;
    let mut proto = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut proto)
        .expect("the sink sent an OTLP body that is not gzip");
    let otlp = ExportMetricsServiceRequest::decode(proto.as_slice())
        .expect("the sink sent an OTLP body a receiver cannot decode");
    let request = as_victoria_metrics_stores(&otlp);
    let points: u64 = request
        .timeseries
        .iter()
        .map(|t| t.samples.len() as u64)
        .sum();
    let mut reply = state.script.pop_front().unwrap_or(Reply::Status(200));
    let mut refusal = None;
    if matches!(
        reply,
        Reply::Status(200..=299) | Reply::Stall(_) | Reply::WriteOnly(_)
    ) {
        if let Err((status, why)) = check_as_prometheus_does(&request, &mut state.newest) {
            refusal = Some(why);
            reply = Reply::Status(status);
        }
    }
    state.received.push(Received {
        at: Instant::now(),
        reply: reply.clone(),
        refusal: refusal.clone(),
        headers,
        request,
        v2: None,
        otlp: Some(otlp),
        samples_written: None,
    });
    if let Reply::WriteOnly(kept) = reply {
        let answer = otlp_proto::ExportMetricsServiceResponse {
            partial_success: Some(otlp_proto::ExportMetricsPartialSuccess {
                rejected_data_points: points.saturating_sub(kept) as i64,
                error_message: "scripted: points rejected".to_string(),
            }),
        };
        // Small numbers and ASCII text: the protobuf bytes are ASCII too.
        let body = String::from_utf8(answer.encode_to_vec()).unwrap();
        return Some((Duration::ZERO, 200, String::new(), body));
    }
    answer(&reply, refusal, String::new())
}

/// The series VictoriaMetrics makes of an OTLP request: the labels of each point are its
/// resource's attributes, its own, and the metric's name as `__name__`, sorted.
fn as_victoria_metrics_stores(request: &ExportMetricsServiceRequest) -> WriteRequest {
    let label = |kv: &otlp_proto::KeyValue| Label {
        name: kv.key.clone(),
        value: kv
            .value
            .as_ref()
            .map_or(String::new(), |v| v.string_value.clone()),
    };
    let mut timeseries: Vec<TimeSeries> = Vec::new();
    for resource in &request.resource_metrics {
        let common: Vec<Label> = resource
            .resource
            .iter()
            .flat_map(|r| r.attributes.iter().map(label))
            .collect();
        for metric in resource.scope_metrics.iter().flat_map(|s| &s.metrics) {
            let points = match &metric.data {
                Some(metric::Data::Sum(s)) => &s.data_points,
                Some(metric::Data::Gauge(g)) => &g.data_points,
                None => panic!("a metric without data: {metric:?}"),
            };
            for point in points {
                let mut labels = common.clone();
                labels.extend(point.attributes.iter().map(label));
                labels.push(Label {
                    name: "__name__".into(),
                    value: metric.name.clone(),
                });
                labels.sort();
                let value = if point.flags & otlp_proto::FLAG_NO_RECORDED_VALUE != 0 {
                    f64::from_bits(0x7ff0_0000_0000_0002)
                } else {
                    match point.value {
                        Some(otlp_proto::number_data_point::Value::AsDouble(v)) => v,
                        Some(otlp_proto::number_data_point::Value::AsInt(v)) => v as f64,
                        None => panic!("a point with neither a value nor the flag: {point:?}"),
                    }
                };
                let sample = Sample {
                    value,
                    timestamp: (point.time_unix_nano / 1_000_000) as i64,
                };
                match timeseries.iter_mut().find(|t| t.labels == labels) {
                    Some(series) => series.samples.push(sample),
                    None => timeseries.push(TimeSeries {
                        labels,
                        samples: vec![sample],
                    }),
                }
            }
        }
    }
    WriteRequest {
        timeseries,
        metadata: vec![],
    }
}

/// The answer to a reply of the script (or a refusal), with `extra` header lines.
fn answer(reply: &Reply, refusal: Option<String>, mut extra: String) -> Answer {
    let mut body = None;
    let mut wait = Duration::ZERO;
    let status = match reply {
        Reply::Reset => return None,
        Reply::Stall(d) => {
            wait = *d;
            204
        }
        Reply::Status(s) => *s,
        Reply::WriteOnly(_) => 204,
        Reply::StatusWithHeader(s, k, v) => {
            extra.push_str(&format!("{k}: {v}\r\n"));
            *s
        }
        Reply::StatusWithBody(s, text) => {
            body = Some(*text);
            *s
        }
    };
    let message = match (refusal, body, status >= 400) {
        (Some(why), _, _) => why,
        (None, Some(text), _) => text.to_string(),
        (None, None, true) => "scripted failure".to_string(),
        (None, None, false) => String::new(),
    };
    Some((wait, status, extra, message))
}

/// A 2.0 request in 1.0's shape: labels resolved through the symbols (a reference outside
/// them fails the test: Prometheus 3.5 would panic on it), samples without start timestamps.
fn resolve(request: &v2_proto::Request) -> WriteRequest {
    let symbol = |r: u32| {
        request
            .symbols
            .get(r as usize)
            .unwrap_or_else(|| panic!("a reference past the symbols: {r}"))
            .clone()
    };
    let timeseries = request
        .timeseries
        .iter()
        .map(|ts| {
            assert_eq!(ts.labels_refs.len() % 2, 0, "labels_refs of odd length");
            TimeSeries {
                labels: ts
                    .labels_refs
                    .chunks(2)
                    .map(|pair| Label {
                        name: symbol(pair[0]),
                        value: symbol(pair[1]),
                    })
                    .collect(),
                samples: ts
                    .samples
                    .iter()
                    .map(|s| Sample {
                        value: s.value,
                        timestamp: s.timestamp,
                    })
                    .collect(),
            }
        })
        .collect();
    WriteRequest {
        timeseries,
        metadata: vec![],
    }
}

/// Prometheus 3.5's 2.0 handler (storage/remote/write_handler.go, `appendV2`): a series with
/// invalid labels is skipped, a sample not after its series' newest is skipped, the rest is
/// written (at most `limit` samples here); returns how many were written and why any were not.
fn write_as_prometheus_3_5_does(
    request: &WriteRequest,
    limit: u64,
    newest: &mut HashMap<Vec<(String, String)>, (i64, u64)>,
) -> (u64, Vec<String>) {
    let mut written = 0;
    let mut errors = Vec::new();
    for series in &request.timeseries {
        let key = match check_labels(series) {
            Ok(key) => key,
            Err((_, why)) => {
                errors.push(why);
                continue;
            }
        };
        for sample in &series.samples {
            if written == limit {
                return (written, errors);
            }
            let bits = sample.value.to_bits();
            match newest.get(&key) {
                Some((ts, _)) if sample.timestamp < *ts => {
                    errors.push(format!(
                        "out of order sample for {key:?} at {}",
                        sample.timestamp
                    ));
                    continue;
                }
                Some((ts, old)) if sample.timestamp == *ts && *old != bits => {
                    errors.push(format!("duplicate sample for timestamp {ts} for {key:?}"));
                    continue;
                }
                _ => {}
            }
            newest.insert(key.clone(), (sample.timestamp, bits));
            written += 1;
        }
    }
    (written, errors)
}

/// Prometheus' checks of one request (its remote-write handler and the TSDB's append): every
/// series valid, every sample after its series' newest. Only a request that passes is stored.
fn check_as_prometheus_does(
    request: &WriteRequest,
    newest: &mut HashMap<Vec<(String, String)>, (i64, u64)>,
) -> Result<(), (u16, String)> {
    let mut after = newest.clone();
    for series in &request.timeseries {
        let key = check_labels(series)?;
        let bad = |why: String| Err((400, why));
        for sample in &series.samples {
            let bits = sample.value.to_bits();
            match after.get(&key) {
                Some((ts, _)) if sample.timestamp < *ts => {
                    return bad(format!(
                        "out of order sample for {key:?} at {}",
                        sample.timestamp
                    ))
                }
                Some((ts, old)) if sample.timestamp == *ts && *old != bits => {
                    return bad(format!("duplicate sample for timestamp {} for {key:?}", ts))
                }
                _ => {}
            }
            after.insert(key.clone(), (sample.timestamp, bits));
        }
    }
    *newest = after;
    Ok(())
}

fn check_labels(series: &TimeSeries) -> Result<Vec<(String, String)>, (u16, String)> {
    let labels: Vec<(String, String)> = series
        .labels
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    for pair in labels.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err((
                500,
                format!("label name \"{}\" is not unique: invalid sample", pair[0].0),
            ));
        }
        if pair[0].0 > pair[1].0 {
            return Err((400, format!("label names out of order: {labels:?}")));
        }
    }
    for (name, value) in &labels {
        let valid_name = name
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
            && !name.is_empty();
        if !valid_name {
            return Err((400, format!("invalid label name '{name}'")));
        }
        if value.is_empty() {
            return Err((400, format!("empty value for label '{name}'")));
        }
    }
    let metric = labels
        .iter()
        .find(|(n, _)| n == "__name__")
        .map(|(_, v)| v.as_str())
        .ok_or((400, "a series without __name__".to_string()))?;
    let valid_metric = metric.chars().enumerate().all(|(i, c)| {
        c == '_' || c == ':' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
    });
    if !valid_metric {
        return Err((400, format!("invalid metric name '{metric}'")));
    }
    Ok(labels)
}
