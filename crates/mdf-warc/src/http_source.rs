//! Reading files over HTTP(S) with retries: a whole small file (the crawl's path listing), or a
//! big one as a stream that survives throttling and dropped connections.
//!
//! Throttling (`429`, `503 SlowDown`, other `5xx`), timeouts and connection errors are retried
//! with jittered exponential backoff ("full jitter": a uniform delay in `[0, min(cap, base·2^n)]`).
//! A stream that breaks mid-file reconnects with `Range: bytes=N-` from the first byte not yet
//! delivered, so the reader above it (the WARC record stream) never restarts or sees a byte
//! twice. The failure count resets whenever bytes arrive, so a long transfer may survive many
//! drops as long as each retry makes progress.

use std::io::{self, Read};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ureq::Agent;

/// Retry settings.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Consecutive failed attempts before giving up.
    pub max_retries: u32,
    /// Delay cap of the first retry; doubles with every consecutive failure.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Connect and per-read timeout.
    pub timeout: Duration,
}

/// A client shared by the shards of one loader.
#[derive(Clone)]
pub struct HttpClient {
    agent: Agent,
    policy: RetryPolicy,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("policy", &self.policy)
            .finish()
    }
}

/// What one attempt gave.
enum Attempt {
    /// A body positioned at the requested offset, and the file's total size when known.
    Body(ureq::BodyReader<'static>, Option<u64>),
    /// The requested offset is the end of the file.
    AtEnd,
    Retry(String),
    Fail(io::Error),
}

impl HttpClient {
    pub fn new(policy: RetryPolicy) -> Self {
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(policy.timeout))
            .timeout_per_read(Some(policy.timeout))
            .user_agent(concat!("mega-data-factory/", env!("CARGO_PKG_VERSION")))
            .build();
        HttpClient {
            agent: Agent::new_with_config(config),
            policy,
        }
    }

    /// Downloads a whole (small) file.
    pub fn get_all(&self, url: &str) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.open(url).read_to_end(&mut out)?;
        Ok(out)
    }

    /// A reader over `url` that retries and resumes; see the module docs.
    pub fn open(&self, url: &str) -> ResumingReader {
        ResumingReader {
            client: self.clone(),
            url: url.to_owned(),
            pos: 0,
            total: None,
            body: None,
            failures: 0,
            done: false,
        }
    }

    fn attempt(&self, url: &str, pos: u64) -> Attempt {
        let mut request = self.agent.get(url);
        if pos > 0 {
            request = request.header("Range", &format!("bytes={pos}-"));
        }
        let response = match request.call() {
            Ok(r) => r,
            // Transport failures (timeouts, refused or reset connections, TLS) are retried.
            Err(e) => return Attempt::Retry(e.to_string()),
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let length = header("Content-Length").and_then(|v| v.trim().parse::<u64>().ok());
        match status {
            200 => {
                let mut body = response.into_body().into_reader();
                if pos > 0 {
                    // The server ignored the range: skip what was already delivered.
                    let skipped = match io::copy(&mut (&mut body).take(pos), &mut io::sink()) {
                        Ok(n) => n,
                        Err(e) => return Attempt::Retry(e.to_string()),
                    };
                    if skipped < pos {
                        return Attempt::Retry("the file got shorter on a retry".into());
                    }
                }
                Attempt::Body(body, length)
            }
            206 => {
                // `Content-Range: bytes a-b/total`
                let total = header("Content-Range")
                    .and_then(|r| r.rsplit('/').next().and_then(|t| t.trim().parse().ok()))
                    .or(length.map(|l| pos + l));
                Attempt::Body(response.into_body().into_reader(), total)
            }
            416 if pos > 0 => Attempt::AtEnd,
            408 | 425 | 429 | 500 | 502 | 503 | 504 => Attempt::Retry(format!("HTTP {status}")),
            404 | 410 => Attempt::Fail(io::Error::new(
                io::ErrorKind::NotFound,
                format!("HTTP {status} for {url}"),
            )),
            _ => Attempt::Fail(io::Error::other(format!("HTTP {status} for {url}"))),
        }
    }

    fn backoff(&self, failures: u32) {
        let cap = self
            .policy
            .base_delay
            .saturating_mul(1u32 << failures.min(20))
            .min(self.policy.max_delay);
        // Jitter only needs to decorrelate clients, not be reproducible.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let r = xxhash_rust::xxh3::xxh3_64(
            &[&nanos.to_le_bytes()[..], &failures.to_le_bytes()].concat(),
        );
        let fraction = (r >> 11) as f64 / (1u64 << 53) as f64;
        std::thread::sleep(cap.mul_f64(fraction));
    }
}

/// A byte stream over one URL that reconnects where it broke.
pub struct ResumingReader {
    client: HttpClient,
    url: String,
    /// Bytes delivered so far.
    pos: u64,
    total: Option<u64>,
    body: Option<ureq::BodyReader<'static>>,
    failures: u32,
    done: bool,
}

impl ResumingReader {
    fn fail_once(&mut self, why: String) -> io::Result<()> {
        self.body = None;
        self.failures += 1;
        if self.failures > self.client.policy.max_retries {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{}: giving up after {} attempts at byte {}: {why}",
                    self.url, self.failures, self.pos
                ),
            ));
        }
        self.client.backoff(self.failures);
        Ok(())
    }
}

impl Read for ResumingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.done || self.total.is_some_and(|t| self.pos >= t) {
                return Ok(0);
            }
            let Some(body) = self.body.as_mut() else {
                match self.client.attempt(&self.url, self.pos) {
                    Attempt::Body(body, total) => {
                        self.body = Some(body);
                        if total.is_some() {
                            self.total = total;
                        }
                    }
                    Attempt::AtEnd => self.done = true,
                    Attempt::Retry(why) => self.fail_once(why)?,
                    Attempt::Fail(e) => return Err(e),
                }
                continue;
            };
            match body.read(buf) {
                Ok(0) => {
                    if self.total.is_some_and(|t| self.pos < t) {
                        let why = format!("the connection closed at byte {}", self.pos);
                        self.fail_once(why)?;
                    } else {
                        self.done = true;
                    }
                }
                Ok(n) => {
                    self.pos += n as u64;
                    self.failures = 0;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.fail_once(e.to_string())?,
            }
        }
    }
}
