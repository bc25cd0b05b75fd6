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
//! costs one more poll of the writer; a command waits behind the tasks that were ready before
//! it, which is no longer than the writer would take to get to it with them queued.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, RedisResult};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Connects to the server `client` names. A plain TCP connection is made here, so that its
/// writes go through [`Corked`]; over TLS, redis-rs makes the connection and its writes leave
/// as they are queued.
pub(crate) async fn connect(
    client: &redis::Client,
    config: &AsyncConnectionConfig,
) -> RedisResult<MultiplexedConnection> {
    let info = client.get_connection_info();
    let ConnectionAddr::Tcp(host, port) = info.addr() else {
        return client
            .get_multiplexed_async_connection_with_config(config)
            .await;
    };
    let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
    stream.set_nodelay(info.tcp_settings().nodelay())?;
    let (connection, writer) = MultiplexedConnection::new_with_config(
        info.redis_settings(),
        Corked::new(stream),
        config.clone(),
    )
    .await?;
    // The writer ends when the last handle to the connection is dropped: its queue closes.
    tokio::spawn(writer);
    Ok(connection)
}

/// A stream whose first write after each flush returns `Pending` once, with the task woken.
pub(crate) struct Corked<S> {
    inner: S,
    /// Whether this flush's first write has waited its turn.
    waited: bool,
}

impl<S> Corked<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            waited: false,
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
            self.waited = false;
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use redis::RedisConnectionInfo;
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
        let mut corked = Corked::new(client);
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
                let info = RedisConnectionInfo::default();
                let config = AsyncConnectionConfig::new();
                let (connection, writer) = if corked {
                    let (c, w) =
                        MultiplexedConnection::new_with_config(&info, Corked::new(counted), config)
                            .await
                            .unwrap();
                    (c, tokio::spawn(w))
                } else {
                    let (c, w) = MultiplexedConnection::new_with_config(&info, counted, config)
                        .await
                        .unwrap();
                    (c, tokio::spawn(w))
                };
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
                drop(connection);
                writer.await.unwrap();
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
