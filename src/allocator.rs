//! The process's allocator: jemalloc, chosen over glibc's malloc and mimalloc by measurement
//! (docs/benchmarks.md), with its options set here, in code, so every build has them.
//!
//! The binary and the benchmarks install it with [`crate::global_allocator!`].

use std::ffi::c_char;

pub use tikv_jemallocator::Jemalloc;

/// jemalloc's options: one arena instead of four per CPU, so memory one thread frees (a page
/// decoded on a blocking thread, the roster dropped after planning) is reused by every other
/// thread's allocations, where separate arenas kept it apart. Large district: peak memory of
/// the first / unchanged sync 645 / 737 MiB with the default, 604 / 694 MiB with one arena.
/// `_RJEM_MALLOC_CONF` in the environment still overrides it at start-up.
pub const OPTIONS: &std::ffi::CStr = c"narenas:1";

/// How many values [`free_in_background`] is still freeing, and a signal when that drops.
static FREEING: (std::sync::Mutex<usize>, std::sync::Condvar) =
    (std::sync::Mutex::new(0), std::sync::Condvar::new());

/// Frees `value` on a thread of its own: a sync's roster and stored rows take tens of
/// milliseconds to free for a large district, which the sync need not wait for.
/// [`release_free_memory`] waits until every such value is freed, so what it gives back
/// includes them. If no thread can be started, `value` is freed here.
pub fn free_in_background<T: Send + 'static>(value: T) {
    /// Counts one value out when dropped, also when freeing it panics.
    struct Freed;
    impl Drop for Freed {
        fn drop(&mut self) {
            let (count, done) = &FREEING;
            let mut count = count.lock().unwrap_or_else(|e| e.into_inner());
            *count -= 1;
            done.notify_all();
        }
    }
    *FREEING.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    let counted = Freed;
    let freeing = std::thread::Builder::new()
        .name("free".into())
        .spawn(move || {
            let _counted = counted;
            drop(value);
        });
    // A thread that did not start dropped its closure, value and count with it.
    drop(freeing);
}

/// Waits until every value handed to [`free_in_background`] is freed.
fn wait_for_background_frees() {
    let (count, done) = &FREEING;
    let count = count.lock().unwrap_or_else(|e| e.into_inner());
    drop(
        done.wait_while(count, |n| *n > 0)
            .unwrap_or_else(|e| e.into_inner()),
    );
}

/// Gives the memory jemalloc holds free back to the system now, rather than over the ten
/// seconds its decay takes. The store calls it before a sync writes rows on SQLite, once the
/// sync's roster is freed: SQLite's page cache grows while it writes (see the store's
/// `commit`), and the roster's freed pages, still counted in the process's memory, would add
/// to it. Values still being freed in the background ([`free_in_background`]) are waited
/// for first.
/// Without jemalloc as the global allocator (the library's own tests) it frees nothing.
pub fn release_free_memory() {
    wait_for_background_frees();
    #[cfg(all(not(miri), not(target_env = "msvc")))]
    {
        // `arena.<MALLCTL_ARENAS_ALL>.purge`: every arena's free pages.
        let name = c"arena.4096.purge";
        // SAFETY: a purge reads and writes nothing through the (null) pointers.
        let status = unsafe {
            tikv_jemalloc_sys::mallctl(
                name.as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            )
        };
        if status != 0 {
            tracing::debug!(status, "jemalloc did not purge its free memory");
        }
    }
}

/// The pointer jemalloc reads as its `malloc_conf` global.
#[repr(transparent)]
pub struct MallocConf(pub *const c_char);

// SAFETY: it points at a string constant that is never written.
unsafe impl Sync for MallocConf {}

/// Installs [`Jemalloc`] as the global allocator, with [`OPTIONS`], in the calling crate
/// (a binary or a benchmark).
#[macro_export]
macro_rules! global_allocator {
    () => {
        #[cfg(all(not(miri), not(target_env = "msvc")))]
        #[global_allocator]
        static ALLOCATOR: $crate::allocator::Jemalloc = $crate::allocator::Jemalloc;

        /// jemalloc's options (the prefixed `malloc_conf` global it reads when it starts).
        #[cfg(all(not(miri), not(target_env = "msvc")))]
        #[unsafe(export_name = "_rjem_malloc_conf")]
        static MALLOC_CONF: $crate::allocator::MallocConf =
            $crate::allocator::MallocConf($crate::allocator::OPTIONS.as_ptr());
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Sets its flag when dropped, after a pause that a wait which does not wait would miss.
    struct SlowToFree(Arc<AtomicBool>);

    impl Drop for SlowToFree {
        fn drop(&mut self) {
            std::thread::sleep(std::time::Duration::from_millis(50));
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// A value freed in the background is freed by the time the wait for background frees
    /// returns, also when freeing it panics.
    #[test]
    fn waiting_for_background_frees_waits_until_they_are_freed() {
        let freed = Arc::new(AtomicBool::new(false));
        free_in_background(SlowToFree(freed.clone()));
        wait_for_background_frees();
        assert!(freed.load(Ordering::SeqCst));

        struct PanicsWhenFreed;
        impl Drop for PanicsWhenFreed {
            fn drop(&mut self) {
                panic!("freeing failed");
            }
        }
        free_in_background(PanicsWhenFreed);
        wait_for_background_frees();
        assert_eq!(*FREEING.0.lock().unwrap_or_else(|e| e.into_inner()), 0);
    }
}
