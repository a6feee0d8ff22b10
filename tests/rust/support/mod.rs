//! A scripted remote-write receiver for fault injection. It decodes every request exactly as a
//! real receiver does (snappy block, then `WriteRequest`) and answers from a script: a status
//! (with headers), a stall, or a dropped connection; when the script is empty it answers 204.
//! A request it would accept is first checked as Prometheus checks it, and refused as Prometheus
//! refuses it: with 500 a series with a label name twice (Prometheus 2.42's TSDB calls it an
//! invalid sample and stores nothing of the request; a sender retries a 5xx), with 400 label names
//! unsorted or invalid, an empty label value, an invalid metric name, or a sample not after the
//! series' last one (older, or the same time with another value).

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
use sparkprom::remote_write::proto::{TimeSeries, WriteRequest};

#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    StatusWithHeader(u16, &'static str, &'static str),
    /// A status with the body a real receiver explains it with.
    StatusWithBody(u16, &'static str),
    /// Waits this long, then answers 204 (a client with a shorter timeout has gone by then).
    Stall(Duration),
    /// Closes the connection without answering.
    Reset,
}

#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub reply: Reply,
    /// Why a request the script would have accepted was refused (then `reply` is 400 or 500).
    pub refusal: Option<String>,
    pub headers: Vec<(String, String)>,
    pub request: WriteRequest,
}

impl Received {
    /// Stored by the receiver: answered 2xx, or stalled (it answers 204, late).
    pub fn accepted(&self) -> bool {
        matches!(self.reply, Reply::Status(200..=299) | Reply::Stall(_))
    }
}

#[derive(Default)]
struct State {
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
        use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
        // SAFETY: listen on the socket this value owns, then hand its ownership to the listener.
        let listening = unsafe { libc::listen(self.fd.as_raw_fd(), 128) };
        assert_eq!(listening, 0, "listen: {}", std::io::Error::last_os_error());
        let listener = unsafe { TcpListener::from_raw_fd(self.fd.into_raw_fd()) };
        FakeReceiver::serve_on(listener, script)
    }
}

impl Default for ReservedPort {
    fn default() -> ReservedPort {
        ReservedPort::new()
    }
}

impl FakeReceiver {
    pub fn start(script: Vec<Reply>) -> FakeReceiver {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the fake receiver");
        FakeReceiver::serve_on(listener, script)
    }

    fn serve_on(listener: TcpListener, script: Vec<Reply>) -> FakeReceiver {
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            ..State::default()
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
        let request = decode_body(&body).expect("the sink sent a body a receiver cannot decode");
        let mut guard = state.lock().unwrap();
        let mut reply = guard.script.pop_front().unwrap_or(Reply::Status(204));
        let mut refusal = None;
        if matches!(reply, Reply::Status(200..=299) | Reply::Stall(_)) {
            if let Err((status, why)) = check_as_prometheus_does(&request, &mut guard.newest) {
                refusal = Some(why);
                reply = Reply::Status(status);
            }
        }
        guard.received.push(Received {
            at: Instant::now(),
            reply: reply.clone(),
            refusal: refusal.clone(),
            headers,
            request,
        });
        drop(guard);
        let mut body = None;
        let (status, extra) = match reply {
            Reply::Reset => return,
            Reply::Stall(d) => {
                std::thread::sleep(d);
                (204, String::new())
            }
            Reply::Status(s) => (s, String::new()),
            Reply::StatusWithHeader(s, k, v) => (s, format!("{k}: {v}\r\n")),
            Reply::StatusWithBody(s, text) => {
                body = Some(text);
                (s, String::new())
            }
        };
        let message = match (&refusal, body, status >= 400) {
            (Some(why), _, _) => why.as_str(),
            (None, Some(text), _) => text,
            (None, None, true) => "scripted failure",
            (None, None, false) => "",
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n{extra}\r\n{message}",
            message.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
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
