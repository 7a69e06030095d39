//! The wasmtime engine the runner shares across apps in one process: pooling allocator,
//! epoch interruption (and the thread that ticks it), and the admission slots that keep the
//! instance pool from running out.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often running WebAssembly is interrupted to check its deadline and let other tasks
/// of the same worker thread run.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Requests from outside served at once. A request holds its slot until every instance it led
/// to has returned, including work a component does after answering and the components it
/// called, so at most this many request trees hold instances. Six instances per tree (the
/// aggregated health check) times this stays under the pooling allocator's 1000 instances.
pub const MAX_CONCURRENT_REQUESTS: usize = 128;
/// How long a request waits for a slot before it is answered 503.
pub const ADMISSION_WAIT: Duration = Duration::from_secs(10);

/// A request tree's slot: cloned into every instance the request leads to.
pub type Admission = Arc<OwnedSemaphorePermit>;

/// One engine per process: apps started in the same process (tests) share its instance pool
/// and compiled code stays compatible with the on-disk cache.
pub(crate) fn engine() -> Result<Engine> {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    if let Some(engine) = ENGINE.get() {
        return Ok(engine.clone());
    }
    let engine = new_engine()?;
    let engine = ENGINE.get_or_init(|| engine).clone();
    start_epoch_ticker(&engine);
    Ok(engine)
}

/// Advances the engine's epoch every [`EPOCH_TICK`], once per process, on a thread of its own
/// (a busy runtime must not delay the ticks that interrupt what keeps it busy).
fn start_epoch_ticker(engine: &Engine) {
    static STARTED: std::sync::Once = std::sync::Once::new();
    let engine = engine.weak();
    STARTED.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while let Some(engine) = engine.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            });
        if let Err(error) = spawned {
            eprintln!("[runner] cannot start the epoch ticker: {error}");
        }
    });
}

/// The admission slots, one set per process like the engine whose instance pool they protect:
/// apps started in one process (the tests) share the pool, so they share the slots too.
pub(crate) fn admission_slots() -> Arc<Semaphore> {
    static SLOTS: std::sync::OnceLock<Arc<Semaphore>> = std::sync::OnceLock::new();
    SLOTS
        .get_or_init(|| Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS)))
        .clone()
}

/// Bytes of each linear memory zeroed in place rather than decommitted when a slot is reused.
const KEEP_RESIDENT_PER_MEMORY: usize = 2 << 20;

fn new_engine() -> Result<Engine> {
    let mut config = Config::new();
    // Running code checks an epoch counter that a ticker advances (see `start_epoch_ticker`):
    // each tick yields to the scheduler, and an instance past its deadline traps, so no
    // component can hold a worker thread forever.
    config.epoch_interruption(true);
    let mut pooling = PoolingAllocationConfig::default();
    // A request holds up to three instances (gateway, service, notification), and tests run
    // dozens of concurrent requests; memories are bounded so the reservation stays modest.
    pooling
        .total_component_instances(1000)
        .total_core_instances(4000)
        .total_memories(1000)
        .total_tables(2000)
        .max_memory_size(256 << 20)
        // Every request instantiates afresh, so resetting a slot is on the hot path. Resetting
        // with `madvise` costs a TLB shootdown per slot and a page fault per page on reuse
        // (a fifth of the runner's time in the first profile); instead, the pages an instance
        // dirtied (found with PAGEMAP_SCAN where the kernel has it) are zeroed in place up to
        // this much. Only bigger instances (password hashing) still decommit, one at a time so
        // their memory is returned at once rather than batched.
        .linear_memory_keep_resident(KEEP_RESIDENT_PER_MEMORY)
        .table_keep_resident(64 << 10)
        .pagemap_scan(wasmtime::Enabled::Auto)
        // Few idle warm slots: reuse concentrates on the same slots, which bounds the memory
        // kept resident to about the peak concurrency times what one request touches.
        .max_unused_warm_slots(16);
    let mut pooled = config.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    match Engine::new(&pooled) {
        Ok(engine) => Ok(engine),
        Err(error) => {
            eprintln!(
                "[runner] pooling allocator unavailable ({error:#}); using on-demand allocation"
            );
            Ok(Engine::new(&config)?)
        }
    }
}
