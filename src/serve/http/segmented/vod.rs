//! Files served segmented: the first request packages the file with the very function
//! `mist remux IN DIR/ --to hls` runs, into a cache folder, and every request is then a
//! static file read. The cache is keyed by file path, size and modification time, packaging
//! and options; it is bounded in bytes (least recently used out first) and removed when the
//! server stops.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use bytes::Bytes;

use super::{http_date, Caching, VOD_MAX_AGE};
use crate::package::{Options, Packaging};
use crate::pipeline::package::{package, PackagePlan};
use crate::pipeline::Silent;

/// Bytes of packaged files kept at most (least recently used first out).
pub const MAX_CACHE_BYTES: u64 = 2 << 30;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a cached package is of.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    path: PathBuf,
    size: u64,
    modified: Option<SystemTime>,
    packaging: Packaging,
    options: Options,
}

/// A packaged file, ready to serve.
#[derive(Debug)]
pub struct Ready {
    /// Its folder.
    pub dir: PathBuf,
    /// Bytes of every file in it.
    pub bytes: u64,
    /// Hash of its key without the packaging's name (CMAF segments are the same files in the
    /// HLS and the DASH package, so they get the same ETag), the base of every ETag.
    etag_hash: u64,
    /// The source file's modification time, as `Last-Modified`.
    modified: Option<String>,
}

impl Ready {
    /// The file at `path` (one or two plain pieces) with its caching headers; `None` when
    /// there is no such file.
    pub async fn read(&self, path: &[&str]) -> Option<(Bytes, Caching)> {
        let mut p = self.dir.clone();
        for piece in path {
            p.push(piece);
        }
        let data = tokio::fs::read(&p).await.ok()?;
        let mut h = DefaultHasher::new();
        path.hash(&mut h);
        // Segments never change under their name; a playlist is long-lived but names no
        // content of its own, so it is not marked immutable.
        let playlist = path.last().is_some_and(|n| super::is_manifest(n));
        Some((
            Bytes::from(data),
            Caching {
                control: if playlist {
                    format!("public, max-age={VOD_MAX_AGE}")
                } else {
                    format!("public, max-age={VOD_MAX_AGE}, immutable")
                },
                etag: format!("\"{:x}-{:x}\"", self.etag_hash, h.finish()),
                modified: self.modified.clone(),
            },
        ))
    }
}

/// Why a file could not be packaged.
#[derive(Clone, Debug)]
pub struct VodError {
    /// What went wrong, in one line.
    pub message: String,
    /// The packaging cannot carry any track of the file (a request for the wrong kind of
    /// output, not a server fault).
    pub unsupported: bool,
}

impl std::fmt::Display for VodError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for VodError {
    fn from(message: String) -> Self {
        VodError {
            message,
            unsupported: false,
        }
    }
}

type Outcome = Result<Arc<Ready>, VodError>;

struct Slot {
    cell: tokio::sync::OnceCell<Outcome>,
    used: AtomicU64,
}

/// The cache of packaged files.
pub struct VodCache {
    root: Mutex<Option<PathBuf>>,
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    max_bytes: u64,
    clock: Instant,
}

impl std::fmt::Debug for VodCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VodCache")
            .field("root", &*lock(&self.root))
            .finish()
    }
}

impl Default for VodCache {
    fn default() -> Self {
        VodCache::new(MAX_CACHE_BYTES)
    }
}

static NEXT_ROOT: AtomicU64 = AtomicU64::new(0);

impl VodCache {
    /// A cache of at most `max_bytes` (its folder is made on first use).
    pub fn new(max_bytes: u64) -> VodCache {
        VodCache {
            root: Mutex::new(None),
            slots: Mutex::new(HashMap::new()),
            max_bytes,
            clock: Instant::now(),
        }
    }

    fn root(&self) -> std::io::Result<PathBuf> {
        let mut r = lock(&self.root);
        if let Some(p) = &*r {
            return Ok(p.clone());
        }
        let n = NEXT_ROOT.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("mist-segments-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p)?;
        *r = Some(p.clone());
        Ok(p)
    }

    /// The cache folder, once made.
    pub fn folder(&self) -> Option<PathBuf> {
        lock(&self.root).clone()
    }

    /// The key of file `path` packaged as `packaging`, and its hash.
    async fn key(path: &Path, packaging: Packaging) -> Result<(Key, u64), VodError> {
        let md = tokio::fs::metadata(path)
            .await
            .map_err(|e| VodError::from(format!("{}: {e}", path.display())))?;
        let key = Key {
            path: path.to_path_buf(),
            size: md.len(),
            modified: md.modified().ok(),
            packaging,
            options: Options::default(),
        };
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        Ok((key, h.finish()))
    }

    /// True when file `path` is packaged as `packaging` already.
    pub async fn is_ready(&self, path: &Path, packaging: Packaging) -> bool {
        let Ok((_, key_hash)) = Self::key(path, packaging).await else {
            return false;
        };
        lock(&self.slots)
            .get(&key_hash)
            .is_some_and(|s| matches!(s.cell.get(), Some(Ok(_))))
    }

    /// File `path` packaged as `packaging`: from the cache, or packaged now (one run however
    /// many requests wait for it).
    pub async fn ensure(&self, path: &Path, packaging: Packaging) -> Outcome {
        let (key, key_hash) = Self::key(path, packaging).await?;
        let slot = lock(&self.slots)
            .entry(key_hash)
            .or_insert_with(|| {
                Arc::new(Slot {
                    cell: tokio::sync::OnceCell::new(),
                    used: AtomicU64::new(0),
                })
            })
            .clone();
        slot.used
            .store(self.clock.elapsed().as_millis() as u64, Ordering::Relaxed);
        let mut fresh = false;
        let out = slot
            .cell
            .get_or_init(|| {
                fresh = true;
                self.make(key, key_hash)
            })
            .await
            .clone();
        if fresh && out.is_ok() {
            self.evict(key_hash);
        }
        out
    }

    async fn make(&self, key: Key, key_hash: u64) -> Outcome {
        let root = self
            .root()
            .map_err(|e| VodError::from(format!("cache folder: {e}")))?;
        let dir = root.join(format!("{key_hash:016x}-{}", key.packaging.name()));
        let plan = PackagePlan {
            input: key.path.clone(),
            output: dir.clone(),
            from: None,
            packaging: key.packaging,
            options: key.options,
            tracks: Default::default(),
            start: None,
            end: None,
            force: true,
            demux: Default::default(),
            salvage: false,
        };
        let mut h = DefaultHasher::new();
        (
            &key.path,
            key.size,
            key.modified,
            key.packaging.url_prefix(),
            key.options,
        )
            .hash(&mut h);
        let etag_hash = h.finish();
        // As the progressive outputs do: a file found damaged (an interrupted recording) is
        // packaged from what a salvage pass reads of it, and the damage is logged once.
        let outcome = tokio::task::spawn_blocking(move || match package(&plan, &Silent) {
            Err(crate::pipeline::PipelineError::Damaged {
                path,
                offset,
                message,
            }) => {
                tracing::warn!(
                    "{path}: damaged at byte {}: {message}; packaging what is readable",
                    offset.map_or_else(|| "?".to_string(), |o| o.to_string())
                );
                let mut plan = plan;
                plan.salvage = true;
                package(&plan, &Silent)
            }
            r => r,
        })
        .await
        .map_err(|e| VodError::from(format!("packaging stopped: {e}")))?
        .map_err(|e| VodError {
            unsupported: matches!(e, crate::pipeline::PipelineError::CannotCarry { .. }),
            message: e.to_string(),
        })?;
        Ok(Arc::new(Ready {
            dir,
            bytes: outcome.bytes,
            etag_hash,
            modified: key.modified.map(http_date),
        }))
    }

    /// Drops least recently used packages until the cache fits its bound (never `keep`).
    fn evict(&self, keep: u64) {
        let mut slots = lock(&self.slots);
        loop {
            let ready: Vec<(u64, u64, Arc<Ready>)> = slots
                .iter()
                .filter_map(|(k, s)| match s.cell.get() {
                    Some(Ok(r)) => Some((*k, s.used.load(Ordering::Relaxed), r.clone())),
                    _ => None,
                })
                .collect();
            let total: u64 = ready.iter().map(|(_, _, r)| r.bytes).sum();
            if total <= self.max_bytes {
                return;
            }
            let Some((k, _, r)) = ready
                .into_iter()
                .filter(|(k, _, _)| *k != keep)
                .min_by_key(|(_, used, _)| *used)
            else {
                return;
            };
            slots.remove(&k);
            let _ = std::fs::remove_dir_all(&r.dir);
        }
    }

    /// Removes every package and the cache folder.
    pub fn remove_all(&self) {
        lock(&self.slots).clear();
        if let Some(root) = lock(&self.root).take() {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

impl Drop for VodCache {
    fn drop(&mut self) {
        self.remove_all();
    }
}
