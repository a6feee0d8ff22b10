//! A scripted remote-write receiver for fault injection. It decodes every request exactly as a
//! real receiver does (snappy block, then `WriteRequest`) and answers from a script: a status
//! (with headers), a stall, or a dropped connection; when the script is empty it answers 204.

// Test code: a failing unwrap is a failing test (Cargo.toml denies unwrap elsewhere).
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sparkprom::remote_write::encode::decode_body;
use sparkprom::remote_write::proto::WriteRequest;

#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    StatusWithHeader(u16, &'static str, &'static str),
    /// Waits this long, then answers 204 (a client with a shorter timeout has gone by then).
    Stall(Duration),
    /// Closes the connection without answering.
    Reset,
}

#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub reply: Reply,
    pub headers: Vec<(String, String)>,
    pub request: WriteRequest,
}

impl Received {
    pub fn accepted(&self) -> bool {
        matches!(self.reply, Reply::Status(200..=299))
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    received: Vec<Received>,
}

pub struct FakeReceiver {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

/// A port that nothing listens on (yet).
pub fn unused_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl FakeReceiver {
    pub fn start(script: Vec<Reply>) -> FakeReceiver {
        FakeReceiver::start_on(0, script)
    }

    pub fn start_on(port: u16, script: Vec<Reply>) -> FakeReceiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the fake receiver");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            received: Vec::new(),
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
        let reply = state
            .lock()
            .unwrap()
            .script
            .pop_front()
            .unwrap_or(Reply::Status(204));
        state.lock().unwrap().received.push(Received {
            at: Instant::now(),
            reply: reply.clone(),
            headers,
            request,
        });
        let (status, extra) = match reply {
            Reply::Reset => return,
            Reply::Stall(d) => {
                std::thread::sleep(d);
                (204, String::new())
            }
            Reply::Status(s) => (s, String::new()),
            Reply::StatusWithHeader(s, k, v) => (s, format!("{k}: {v}\r\n")),
        };
        let message = if status >= 400 {
            "scripted failure"
        } else {
            ""
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
