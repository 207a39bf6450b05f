//! A small closed-loop HTTP/1.1 load generator: `connections` keep-alive connections, each sending
//! the next request as soon as the previous response is read, for a fixed time. Raw sockets keep the
//! client's cost per request low, so on a 2-core machine the figures measure the server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug)]
pub struct LoadResult {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Latency in microseconds.
    pub latency: Histogram<u64>,
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn p(&self, quantile: f64) -> Duration {
        Duration::from_micros(self.latency.value_at_quantile(quantile))
    }
}

/// Builds the bytes of one request; `body` is sent as JSON when given.
pub fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Arc<[u8]> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: bench\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        text.push_str("Content-Type: application/json\r\n");
        text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    } else {
        text.push_str("\r\n");
    }
    Arc::from(text.into_bytes())
}

/// Runs the load and returns what was measured. Non-2xx answers count as errors.
pub async fn run(
    addr: SocketAddr,
    request: Arc<[u8]>,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            connection_loop(addr, request, deadline).await
        }));
    }
    let mut total = LoadResult {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
    };
    for task in tasks {
        let one = task.await??;
        total.requests += one.requests;
        total.errors += one.errors;
        total.latency.add(&one.latency)?;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

async fn connection_loop(
    addr: SocketAddr,
    request: Arc<[u8]>,
    deadline: Instant,
) -> anyhow::Result<LoadResult> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut result = LoadResult {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
    };
    let mut buffer = Vec::with_capacity(16 * 1024);
    while Instant::now() < deadline {
        let sent = Instant::now();
        stream.write_all(&request).await?;
        let status = read_response(&mut stream, &mut buffer).await?;
        result
            .latency
            .record(sent.elapsed().as_micros().max(1) as u64)?;
        result.requests += 1;
        if !(200..300).contains(&status) {
            result.errors += 1;
        }
    }
    Ok(result)
}

/// Reads one response with a `Content-Length` body; returns its status code. Bytes of a following
/// response never arrive early because the loop is closed (one request in flight per connection).
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> anyhow::Result<u16> {
    buffer.clear();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = find_header_end(buffer) {
            let head = std::str::from_utf8(&buffer[..end])?;
            let status = head
                .split(' ')
                .nth(1)
                .and_then(|code| code.parse().ok())
                .ok_or_else(|| anyhow::anyhow!("malformed status line"))?;
            let length = content_length(head)?;
            while buffer.len() < end + 4 + length {
                let read = stream.read(&mut chunk).await?;
                anyhow::ensure!(read > 0, "connection closed mid-body");
                buffer.extend_from_slice(&chunk[..read]);
            }
            return Ok(status);
        }
        let read = stream.read(&mut chunk).await?;
        anyhow::ensure!(read > 0, "connection closed before a response");
        buffer.extend_from_slice(&chunk[..read]);
    }
}

fn find_header_end(buffer: &[u8]) -> Option<usize> {
    buffer.windows(4).position(|w| w == b"\r\n\r\n")
}

fn content_length(head: &str) -> anyhow::Result<usize> {
    for line in head.lines() {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                return Ok(value.trim().parse()?);
            }
        }
    }
    anyhow::bail!("response without Content-Length (chunked bodies are not supported)")
}

/// Builds request number `n` of connection `connection`, for loads whose requests must differ
/// (deliveries with unique event ids).
pub type RequestMaker = Arc<dyn Fn(usize, u64) -> Vec<u8> + Send + Sync>;

/// Like [`run`], with a fresh request for every send.
pub async fn run_varied(
    addr: SocketAddr,
    make: RequestMaker,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|connection| {
            let make = make.clone();
            tokio::spawn(async move { varied_loop(addr, make, connection, deadline).await })
        })
        .collect();
    let mut total = LoadResult {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
    };
    for task in tasks {
        let one = task.await??;
        total.requests += one.requests;
        total.errors += one.errors;
        total.latency.add(&one.latency)?;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

async fn varied_loop(
    addr: SocketAddr,
    make: RequestMaker,
    connection: usize,
    deadline: Instant,
) -> anyhow::Result<LoadResult> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut result = LoadResult {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
    };
    let mut buffer = Vec::with_capacity(16 * 1024);
    let mut n = 0;
    while Instant::now() < deadline {
        let request = make(connection, n);
        n += 1;
        let sent = Instant::now();
        stream.write_all(&request).await?;
        let status = read_response(&mut stream, &mut buffer).await?;
        result
            .latency
            .record(sent.elapsed().as_micros().max(1) as u64)?;
        result.requests += 1;
        if !(200..300).contains(&status) {
            result.errors += 1;
        }
    }
    Ok(result)
}
