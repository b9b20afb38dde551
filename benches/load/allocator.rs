//! The bench binary's allocator, chosen once per process: the system's, or mimalloc (headroom's
//! allocator) when `LOAD_BARE_ALLOCATOR=mimalloc`. The bare Pingora passthrough then runs on
//! either, so headroom is also compared with a passthrough on the same allocator.
//!
//! The choice is made at the first allocation, before any other, from the environment (read
//! with `getenv`, which allocates nothing); every later call goes to the same allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

pub const VARIABLE: &str = "LOAD_BARE_ALLOCATOR";

pub struct Chosen;

const UNDECIDED: u8 = 0;
const SYSTEM: u8 = 1;
const MIMALLOC: u8 = 2;
static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

#[inline]
fn mimalloc() -> bool {
    let mut c = CHOICE.load(Ordering::Relaxed);
    if c == UNDECIDED {
        // SAFETY: getenv with a NUL-terminated name; the value is only read here.
        let value = unsafe { libc::getenv(c"LOAD_BARE_ALLOCATOR".as_ptr()) };
        let named = !value.is_null()
            // SAFETY: getenv returned a NUL-terminated string.
            && unsafe { std::ffi::CStr::from_ptr(value) }.to_bytes() == b"mimalloc";
        c = if named { MIMALLOC } else { SYSTEM };
        // Every thread that decides reads the same environment, so they all store the same.
        CHOICE.store(c, Ordering::Relaxed);
    }
    c == MIMALLOC
}

// SAFETY: every call goes to the one allocator chosen before the first allocation.
unsafe impl GlobalAlloc for Chosen {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if mimalloc() {
            mimalloc::MiMalloc.alloc(layout)
        } else {
            System.alloc(layout)
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mimalloc() {
            mimalloc::MiMalloc.alloc_zeroed(layout)
        } else {
            System.alloc_zeroed(layout)
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if mimalloc() {
            mimalloc::MiMalloc.dealloc(ptr, layout)
        } else {
            System.dealloc(ptr, layout)
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if mimalloc() {
            mimalloc::MiMalloc.realloc(ptr, layout, new_size)
        } else {
            System.realloc(ptr, layout, new_size)
        }
    }
}
