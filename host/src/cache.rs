//! The compiled-component cache: machine code kept on disk under a key that covers the
//! component's bytes and the engine's configuration, compiled once per process.

use std::hash::{Hash, Hasher};
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Compiles a component, or loads the machine code cached from an earlier run.
pub(crate) fn load_component(engine: &Engine, wasm: &Path, cache_dir: &Path) -> Result<Component> {
    let bytes = std::fs::read(wasm).with_context(|| {
        format!(
            "cannot read component {} (run with --build, or `spin build`)",
            wasm.display()
        )
    })?;
    let mut compatibility = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut compatibility);
    let mut digest = Sha256::new();
    digest.update(&bytes);
    digest.update(compatibility.finish().to_le_bytes());
    let key: String = digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let cached = cache_dir.join(format!("{key}.cwasm"));
    // Apps started at once in one process (the test suite) would all compile the same
    // components; one at a time, the first compiles and the rest load its cache entry.
    static COMPILING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = COMPILING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` of this runner into a
        // directory it owns, under a key that covers both the source bytes and the engine
        // configuration; a stale or foreign file fails the deserializer's own header checks.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, &cached) } {
            Ok(component) => return Ok(component),
            Err(error) => eprintln!(
                "[runner] ignoring unusable cache entry {}: {error:#}",
                cached.display()
            ),
        }
    }
    let component = anyhow_result(Component::new(engine, &bytes))
        .with_context(|| format!("cannot compile {}", wasm.display()))?;
    std::fs::create_dir_all(cache_dir)?;
    // Unique per writer: apps started concurrently in one process may compile the same component.
    let temporary = cache_dir.join(format!("{key}.{}.tmp", uuid::Uuid::new_v4().simple()));
    std::fs::write(&temporary, component.serialize()?)?;
    std::fs::rename(&temporary, &cached)?;
    Ok(component)
}

/// wasmtime 48 has its own error type; this keeps `anyhow` context chains working.
pub(crate) fn anyhow_result<T>(result: wasmtime::Result<T>) -> Result<T> {
    result.map_err(anyhow::Error::from)
}
