//! The SQLite store's WAL checkpoints, on a connection of their own.
//!
//! By default SQLite checkpoints in the connection whose commit takes the WAL past 1,000 pages:
//! that request waits while the pages are copied back into the database file. In a large file
//! of random sessions nearly every write dirties a page of its own, so the copy is as many
//! random page writes as there were commits, and the requests that pay for it are the slow end
//! of the latency distribution. Here a task checkpoints shortly after writes, on a connection
//! outside the pool, without blocking writers (a passive checkpoint). The commits' own
//! checkpoint stays, at ten times the default length: by then the task has copied nearly
//! everything, so that checkpoint is short, and it lets a WAL that writers kept ahead of the
//! task's checkpoints start again from its beginning. The WAL file keeps its length, about 40
//! MB after sustained writes: cutting it back when it starts again (`journal_size_limit`) made
//! the writer that did it wait, and a restarting checkpoint in the task makes every writer
//! wait; both measured worse than SQLite's default.

use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, SqliteConnection};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The WAL's length, in pages, at which a commit checkpoints for itself.
pub(crate) const COMMIT_CHECKPOINT_PAGES: u32 = 10_000;

/// How long after a write the task checkpoints: the writes of that time share one
/// checkpoint, and a page written twice in it is copied once.
const AFTER_WRITES: Duration = Duration::from_millis(200);

/// Wakes the checkpoint task after writes; the task ends when the last clone of the store that
/// owns this drops.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    wrote: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Checkpoints {
    /// Connects to the database with `options` and starts the task on the current runtime.
    pub(crate) async fn start(options: &SqliteConnectOptions) -> Result<Self, sqlx::Error> {
        let connection = options.connect().await?;
        let wrote = Arc::new(Notify::new());
        let task = tokio::spawn(run(connection, Arc::clone(&wrote)));
        Ok(Self { wrote, task })
    }

    /// Tells the task that something was written.
    pub(crate) fn wrote(&self) {
        self.wrote.notify_one();
    }

    /// What the task holds while it runs: gone once it has ended and this is dropped.
    #[cfg(test)]
    pub(crate) fn held_by_task(&self) -> std::sync::Weak<Notify> {
        Arc::downgrade(&self.wrote)
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(mut connection: SqliteConnection, wrote: Arc<Notify>) {
    loop {
        wrote.notified().await;
        tokio::time::sleep(AFTER_WRITES).await;
        // Busy when another connection checkpoints (another process on the same file); the
        // next writes try again, and the commits' own checkpoint bounds the WAL meanwhile.
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut connection)
            .await
        {
            tracing::debug!(%error, "sessionvault: SQLite checkpoint failed");
        }
    }
}
