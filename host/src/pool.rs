//! Reused SQLite connections per database file.
//!
//! Opening a connection (file open, pragmas, schema check) costs more than most statements a
//! request runs, and Spin components open their databases on every request. The pool hands
//! out idle connections and takes them back when the guest's resource is dropped (at the
//! latest when its request ends), rolled back if the guest left a transaction open.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// Idle connections kept per file.
const MAX_IDLE_PER_FILE: usize = 32;

/// Opens a new connection for a file (the pool calls it when none is idle).
pub type Opener = fn(&Path) -> rusqlite::Result<rusqlite::Connection>;

#[derive(Default)]
pub struct ConnectionPool {
    idle: Mutex<HashMap<PathBuf, Vec<rusqlite::Connection>>>,
    writers: Mutex<HashMap<PathBuf, WriterLock>>,
}

/// One writer at a time per database file, queued in order.
///
/// SQLite allows one writer per file anyway; a waiting connection polls the file lock with
/// sleeps that grow to 100 ms, so under write contention the lock often sat free while the
/// next writer slept (p99 of orders 450 ms in the benchmark), and polling faster made the
/// waiters fight over the lock instead. Writers of this process therefore queue here and are
/// woken the moment the previous transaction ends; SQLite's own busy wait remains for anyone
/// outside the runner.
pub type WriterLock = Arc<tokio::sync::Mutex<()>>;

impl ConnectionPool {
    /// An idle connection for `path`, or a new one opened on the blocking pool.
    pub async fn take(
        self: Arc<Self>,
        path: PathBuf,
        open: Opener,
    ) -> Result<rusqlite::Result<Pooled>, tokio::task::JoinError> {
        match self.take_idle(&path) {
            Some(loan) => Ok(Ok(loan)),
            None => tokio::task::spawn_blocking(move || self.open_new(&path, open)).await,
        }
    }

    /// An idle connection for `path`, if one is waiting (no I/O).
    fn take_idle(self: &Arc<Self>, path: &Path) -> Option<Pooled> {
        let reused = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(path)
            .and_then(Vec::pop)?;
        Some(self.lend(path, reused))
    }

    /// A new connection for `path` (blocking I/O).
    fn open_new(self: &Arc<Self>, path: &Path, open: Opener) -> rusqlite::Result<Pooled> {
        Ok(self.lend(path, open(path)?))
    }

    fn lend(self: &Arc<Self>, path: &Path, connection: rusqlite::Connection) -> Pooled {
        let writer_lock = self
            .writers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(path.to_path_buf())
            .or_default()
            .clone();
        Pooled {
            connection: Some(Arc::new(Mutex::new(connection))),
            path: path.to_path_buf(),
            pool: self.clone(),
            writer_lock,
            writing: None,
        }
    }

    fn give_back(&self, path: PathBuf, connection: rusqlite::Connection) {
        if !connection.is_autocommit() && connection.execute_batch("ROLLBACK").is_err() {
            return;
        }
        // A component may have changed its wait for locks (`PRAGMA busy_timeout`); the next
        // one gets the runner's.
        if connection
            .busy_timeout(crate::sqlite::BUSY_TIMEOUT)
            .is_err()
        {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.entry(path).or_default();
        if list.len() < MAX_IDLE_PER_FILE {
            list.push(connection);
        }
    }
}

/// A connection on loan; returned to the pool when dropped.
pub struct Pooled {
    connection: Option<Arc<Mutex<rusqlite::Connection>>>,
    path: PathBuf,
    pool: Arc<ConnectionPool>,
    writer_lock: WriterLock,
    /// Held from the first write of a transaction until it ends (or the loan does, after the
    /// rollback in `drop`: fields drop after the `Drop` body).
    writing: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Pooled {
    /// A handle for the blocking pool; the loan ends only when every handle is gone.
    pub fn handle(&self) -> Option<Arc<Mutex<rusqlite::Connection>>> {
        self.connection.clone()
    }

    pub fn is_writing(&self) -> bool {
        self.writing.is_some()
    }

    /// The file's writer lock, to wait for without borrowing the loan.
    pub fn writer_lock(&self) -> WriterLock {
        self.writer_lock.clone()
    }

    pub fn start_writing(&mut self, guard: tokio::sync::OwnedMutexGuard<()>) {
        self.writing = Some(guard);
    }

    pub fn stop_writing(&mut self) {
        self.writing = None;
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        // A statement still running on the blocking pool keeps its handle: then the
        // connection is simply closed instead of reused.
        if let Some(shared) = self.connection.take()
            && let Ok(mutex) = Arc::try_unwrap(shared)
        {
            let connection = mutex.into_inner().unwrap_or_else(PoisonError::into_inner);
            self.pool
                .give_back(std::mem::take(&mut self.path), connection);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
        rusqlite::Connection::open(path)
    }

    #[test]
    fn connections_are_reused_and_open_transactions_rolled_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("p.db");
        let pool = Arc::new(ConnectionPool::default());
        {
            let loan = pool.open_new(&path, open).expect("open");
            let handle = loan.handle().expect("handle");
            let connection = handle.lock().expect("lock");
            connection
                .execute_batch("CREATE TEMP TABLE marker (y)")
                .expect("temp table");
            connection
                .execute_batch("CREATE TABLE t (x); BEGIN; INSERT INTO t VALUES (1);")
                .expect("sql");
        }
        let loan = pool
            .take_idle(&path)
            .expect("the returned connection is idle");
        let handle = loan.handle().expect("handle");
        let connection = handle.lock().expect("lock");
        assert!(
            connection.is_autocommit(),
            "left-open transaction was rolled back"
        );
        let rows: i64 = connection
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 0);
        // The temp table only exists on the very same connection: proof of reuse.
        assert!(connection.execute_batch("SELECT * FROM marker").is_ok());
    }
}
