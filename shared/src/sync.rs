//! Locking as the suite does it everywhere: a panic while a lock was held leaves data that is
//! still consistent for our uses (counters, caches, buffers), so the guard is taken regardless.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// The guard of `m`, poisoned or not.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
