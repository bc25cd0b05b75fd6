//! Where the connections' I/O tasks run: on a multi-thread Tokio runtime, a thread of their own.
//!
//! A multiplexed connection has a writer task that sends whatever commands are queued when it
//! runs. On a multi-thread runtime a task woken from a worker runs next on that worker (Tokio's
//! LIFO slot), so a writer on the application's runtime, woken by each request's command, sends
//! that one command before another request can queue its own: Redis then reads commands one or
//! two at a time, and its CPU per command goes up with the reads. On a thread of its own, the
//! writer wakes once for the commands that concurrent requests queued meanwhile. Measured with
//! the benchmarks' axum server (two workers, 32 connections on `/read`, Redis's `INFO`): 0.5
//! reads of Redis's per command and 7.6 µs of its CPU per request before, 0.18 and 3.7 after, at
//! the same CPU in the application (BENCHMARKS.md).
//!
//! On a current-thread runtime (the Python binding's, and most tests) a woken task waits for the
//! others anyway, and handing work to another thread would only add wake-ups: connections stay
//! where they are made.

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use redis::{ErrorKind, RedisError, RedisResult};
use tokio::runtime::{Handle, RuntimeFlavor};

/// This process's I/O runtime, with the ID of the process that started it: after `fork()` the
/// child has none of its parent's threads, so it starts its own.
static IO: Mutex<Option<(u32, Handle)>> = Mutex::new(None);

/// The handle of this process's I/O runtime, started on first use. Its thread lives as long as
/// the process, parked while no connection has work.
fn io_runtime() -> std::io::Result<Handle> {
    let pid = std::process::id();
    let mut slot = IO.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((owner, handle)) = &*slot
        && *owner == pid
    {
        return Ok(handle.clone());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("sessionvault-redis-io".into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
    *slot = Some((pid, handle.clone()));
    Ok(handle)
}

/// Runs `connect`, which makes a connection and spawns its tasks, on the I/O thread when the
/// caller is on a multi-thread runtime, and in place otherwise.
pub(crate) async fn connect<T, F>(connect: F) -> RedisResult<T>
where
    F: Future<Output = RedisResult<T>> + Send + 'static,
    T: Send + 'static,
{
    let multi_thread = Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == RuntimeFlavor::MultiThread);
    if !multi_thread {
        return connect.await;
    }
    let io = io_runtime().map_err(RedisError::from)?;
    io.spawn(connect)
        .await
        .map_err(|_| RedisError::from((ErrorKind::Io, "the Redis I/O thread failed")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread_name() -> RedisResult<Option<String>> {
        Ok(std::thread::current().name().map(str::to_owned))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn from_a_multi_thread_runtime_connections_are_made_on_the_io_thread() {
        let first = connect(async { thread_name() }).await.expect("runs");
        assert_eq!(first.as_deref(), Some("sessionvault-redis-io"));
        // One thread for the process, however many connections.
        let handle = io_runtime().expect("started");
        assert_eq!(handle.id(), io_runtime().expect("started").id());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn on_a_current_thread_runtime_they_stay_where_they_are() {
        let here = std::thread::current().name().map(str::to_owned);
        assert_eq!(connect(async { thread_name() }).await.expect("runs"), here);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_while_connecting_is_an_error() {
        let result: RedisResult<()> = connect(async { panic!("boom") }).await;
        assert!(result.is_err());
    }
}
