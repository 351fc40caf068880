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

/// Gives the memory jemalloc holds free back to the system now, rather than over the ten
/// seconds its decay takes. The store calls it before a sync writes rows on SQLite, once the
/// sync's roster is freed: SQLite's page cache grows while it writes (see the store's
/// `commit`), and the roster's freed pages, still counted in the process's memory, would add
/// to it.
/// Without jemalloc as the global allocator (the library's own tests) it frees nothing.
pub fn release_free_memory() {
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
