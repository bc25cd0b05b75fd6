//! Connections whose writes wait one turn of the scheduler, so that the commands of requests
//! running together leave in one write.
//!
//! A multiplexed connection's writer task sends what is queued when it runs. On tokio's
//! multi-thread scheduler a task woken by the one running goes next (the LIFO slot), so the
//! writer, woken by one request's command, sent it before any other request could queue its
//! own: Redis then read, parsed and answered its commands one at a time, and the writer woke
//! and wrote once a command. [`Corked`] holds the first write of each flush for one turn: the
//! writer goes to the back of its worker's queue, the requests ahead of it queue their
//! commands, and they leave together, as they would on a single-threaded runtime. Each flush
//! costs one more poll of the writer, and the yield may wake an idle worker, which can steal
//! the writer; a command waits behind the tasks that were ready before it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, ConnectionAddr, RedisConnectionInfo, RedisFuture, RedisResult, Value,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A multiplexed connection and, when [`connect`] made it, its writer task, which is aborted
/// when the last clone is dropped (as redis-rs does for the connections it makes), so that a
/// writer stuck on a server that stopped reading does not outlive its connection.
#[derive(Clone)]
pub(crate) struct Multiplexed {
    connection: MultiplexedConnection,
    /// Held for its `Drop`.
    _writer: Option<Arc<AbortOnDrop>>,
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl ConnectionLike for Multiplexed {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, Value> {
        self.connection.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.connection.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.connection.get_db()
    }
}

/// Connects to the server `client` names. A plain TCP connection is made here, racing every
/// address the host resolves to, as redis-rs does; on a multi-thread runtime its writes go
/// through [`Corked`] (on a current-thread one a woken task already waits its turn, and the
/// cork would only add a poll). Other connections (TLS) redis-rs makes, and their writes leave
/// as they are queued.
pub(crate) async fn connect(
    client: &redis::Client,
    config: &AsyncConnectionConfig,
) -> RedisResult<Multiplexed> {
    let info = client.get_connection_info();
    let ConnectionAddr::Tcp(host, port) = info.addr() else {
        return Ok(Multiplexed {
            connection: client
                .get_multiplexed_async_connection_with_config(config)
                .await?,
            _writer: None,
        });
    };
    let stream = connect_tcp(host, *port).await?;
    stream.set_nodelay(info.tcp_settings().nodelay())?;
    let hold = tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::MultiThread;
    over(Corked::new(stream, hold), info.redis_settings(), config).await
}

/// The first TCP connection made to any of `host`'s addresses.
async fn connect_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut attempts = tokio::task::JoinSet::new();
    for addr in tokio::net::lookup_host((host, port)).await? {
        attempts.spawn(TcpStream::connect(addr));
    }
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    while let Some(attempt) = attempts.join_next().await {
        match attempt {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = e,
            Err(e) => last = io::Error::other(e),
        }
    }
    Err(last)
}

/// A multiplexed connection over `stream`, its writer spawned on the current runtime.
async fn over<S>(
    stream: S,
    settings: &RedisConnectionInfo,
    config: &AsyncConnectionConfig,
) -> RedisResult<Multiplexed>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (connection, writer) =
        MultiplexedConnection::new_with_config(settings, stream, config.clone()).await?;
    let writer = tokio::spawn(writer).abort_handle();
    Ok(Multiplexed {
        connection,
        _writer: Some(Arc::new(AbortOnDrop(writer))),
    })
}

/// A stream whose first write after each flush returns `Pending` once, with the task woken
/// (unless made not to hold).
///
/// It forwards no vectored writes: `poll_write_vectored`'s default goes through `poll_write`,
/// and the connection's framing writes one contiguous buffer anyway.
pub(crate) struct Corked<S> {
    inner: S,
    /// Whether this flush's first write has waited its turn; always, when not holding.
    waited: bool,
    hold: bool,
}

impl<S> Corked<S> {
    pub(crate) fn new(inner: S, hold: bool) -> Self {
        Self {
            inner,
            waited: !hold,
            hold,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Corked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Corked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !self.waited {
            self.waited = true;
            // A tokio task woken while it runs is queued behind the others, not next.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut self.inner).poll_flush(cx);
        if flushed.is_ready() {
            self.waited = !self.hold;
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;

    #[derive(Default)]
    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A stream that counts the writes that reach it.
    struct CountWrites {
        inner: DuplexStream,
        writes: Arc<AtomicUsize>,
    }

    impl AsyncRead for CountWrites {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for CountWrites {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let written = Pin::new(&mut self.inner).poll_write(cx, buf);
            if written.is_ready() {
                self.writes.fetch_add(1, Ordering::Relaxed);
            }
            written
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    #[test]
    fn the_first_write_after_a_flush_waits_one_turn_and_wakes_its_task() {
        let (client, _server) = tokio::io::duplex(64);
        let mut corked = Corked::new(client, true);
        let wakes = Arc::new(CountWakes::default());
        let waker = std::task::Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let mut corked = Pin::new(&mut corked);

        assert!(corked.as_mut().poll_write(&mut cx, b"a").is_pending());
        assert_eq!(
            wakes.0.load(Ordering::Relaxed),
            1,
            "woken, so it runs again"
        );
        assert!(matches!(
            corked.as_mut().poll_write(&mut cx, b"a"),
            Poll::Ready(Ok(1))
        ));
        // More writes of the same flush go at once.
        assert!(matches!(
            corked.as_mut().poll_write(&mut cx, b"b"),
            Poll::Ready(Ok(1))
        ));
        assert!(corked.as_mut().poll_flush(&mut cx).is_ready());
        // The next flush's first write waits again.
        assert!(corked.as_mut().poll_write(&mut cx, b"c").is_pending());
        assert_eq!(wakes.0.load(Ordering::Relaxed), 2);
        assert!(matches!(
            corked.as_mut().poll_write(&mut cx, b"c"),
            Poll::Ready(Ok(1))
        ));
    }

    #[test]
    fn a_stream_made_not_to_hold_writes_at_once() {
        let (client, _server) = tokio::io::duplex(64);
        let mut plain = Corked::new(client, false);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut plain = Pin::new(&mut plain);
        assert!(matches!(
            plain.as_mut().poll_write(&mut cx, b"a"),
            Poll::Ready(Ok(1))
        ));
        assert!(plain.as_mut().poll_flush(&mut cx).is_ready());
        assert!(matches!(
            plain.as_mut().poll_write(&mut cx, b"b"),
            Poll::Ready(Ok(1))
        ));
    }

    /// The writer of a connection whose server stopped reading waits for ever on its flush;
    /// dropping the connection's last clone ends it.
    #[tokio::test]
    async fn the_writer_ends_with_the_last_clone_of_its_connection() {
        let (client, mut server) = tokio::io::duplex(64);
        // Answers the connection's set-up, then reads nothing more.
        let setup = tokio::spawn(async move {
            let mut pending = Vec::new();
            let mut buf = [0u8; 256];
            while pending.is_empty() || one_command(&pending).is_none() {
                let n = server.read(&mut buf).await.unwrap();
                pending.extend_from_slice(&buf[..n]);
            }
            server
        });
        let settings = RedisConnectionInfo::default();
        let config = AsyncConnectionConfig::new();
        let connecting = over(Corked::new(client, true), &settings, &config);
        // redis-rs names itself first (CLIENT SETINFO, answers ignored); answer whatever comes.
        let (connection, server) = tokio::join!(connecting, async {
            let mut server = setup.await.unwrap();
            server.write_all(b"+OK\r\n+OK\r\n").await.unwrap();
            server
        });
        let connection = connection.unwrap();
        let writer = connection._writer.as_ref().unwrap().0.clone();
        let mut sending = connection.clone();
        let big = "x".repeat(4096);
        let stuck = tokio::spawn(async move {
            redis::cmd("SET")
                .arg("k")
                .arg(big)
                .query_async::<()>(&mut sending)
                .await
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!writer.is_finished(), "the writer waits on the full pipe");
        stuck.abort();
        let _ = stuck.await;
        drop(connection);
        for _ in 0..100 {
            if writer.is_finished() {
                drop(server);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the writer outlived its connection");
    }

    /// A server that answers `+OK` to every command, whatever it is.
    async fn answer_ok(mut stream: DuplexStream) {
        let mut pending = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
            while let Some(used) = one_command(&pending) {
                pending.drain(..used);
                if stream.write_all(b"+OK\r\n").await.is_err() {
                    return;
                }
            }
        }
    }

    /// The length of the RESP command at the start of `buf`, once all of it is there.
    fn one_command(buf: &[u8]) -> Option<usize> {
        fn line(buf: &[u8], at: usize) -> Option<(usize, usize)> {
            let end = at + buf.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
            let n = std::str::from_utf8(buf.get(at + 1..end)?)
                .ok()?
                .parse()
                .ok()?;
            Some((n, end + 2))
        }
        let (parts, mut at) = line(buf, 0)?;
        for _ in 0..parts {
            let (len, start) = line(buf, at)?;
            at = start + len + 2;
        }
        (at <= buf.len()).then_some(at)
    }

    /// Writes that reach the stream when eight requests on a multi-thread runtime, woken
    /// together, each send one command through one multiplexed connection, corked or not.
    /// One worker thread, so that no other worker steals a request and sends it sooner.
    fn writes_for_eight_requests(corked: bool) -> usize {
        const REQUESTS: usize = 8;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            tokio::spawn(async move {
                let (client, server) = tokio::io::duplex(1 << 16);
                // Redis runs apart from the application: a write wakes no task of its runtime.
                std::thread::spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap()
                        .block_on(answer_ok(server));
                });
                let writes = Arc::new(AtomicUsize::new(0));
                let counted = CountWrites {
                    inner: client,
                    writes: writes.clone(),
                };
                let connection = over(
                    Corked::new(counted, corked),
                    &RedisConnectionInfo::default(),
                    &AsyncConnectionConfig::new(),
                )
                .await
                .unwrap();
                let before = writes.load(Ordering::Relaxed);
                let together = Arc::new(tokio::sync::Barrier::new(REQUESTS));
                let requests: Vec<_> = (0..REQUESTS)
                    .map(|i| {
                        let mut connection = connection.clone();
                        let together = together.clone();
                        tokio::spawn(async move {
                            together.wait().await;
                            redis::cmd("GET")
                                .arg(i)
                                .query_async::<String>(&mut connection)
                                .await
                        })
                    })
                    .collect();
                for request in requests {
                    assert_eq!(request.await.unwrap().unwrap(), "OK");
                }
                writes.load(Ordering::Relaxed) - before
            })
            .await
            .unwrap()
        })
    }

    #[test]
    fn commands_of_requests_woken_together_leave_in_one_write() {
        assert_eq!(writes_for_eight_requests(true), 1);
        // Without the cork the writer, woken into the LIFO slot, sends the first command alone
        // (here the eight took 2 to 8 writes).
        assert!(writes_for_eight_requests(false) >= 2);
    }
}
