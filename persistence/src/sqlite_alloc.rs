//! SQLite allocates through the process's Rust allocator instead of the C library's malloc.
//!
//! SQLite calls `malloc` and `free` for the values of every statement it runs: a page of orders
//! builds each order's lines as a JSON string, grown by `realloc`. glibc's malloc, its arena
//! locks and `malloc_consolidate` took about a sixth of the server's CPU in the profile of a
//! page of orders, while the binary's own allocations go through the global allocator it chose
//! (mimalloc in `orderdesk`). SQLite's `SQLITE_CONFIG_MALLOC` hands it other functions; these
//! forward to `std::alloc`, so SQLite uses whatever allocator the binary does.
//!
//! SQLite asks for a size and frees by pointer alone, so each block carries its size in a
//! header in front of what SQLite sees.

use std::alloc::{Layout, alloc, dealloc, realloc};
use std::ffi::{c_int, c_void};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::ffi;

/// Room for the size in front of each block, keeping what SQLite gets aligned to 16 bytes
/// (it needs 8).
const HEADER: usize = 16;
const ALIGN: usize = 16;

fn layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER)?, ALIGN).ok()
}

unsafe extern "C" fn x_malloc(size: c_int) -> *mut c_void {
    let Some(layout) = usize::try_from(size).ok().and_then(layout) else {
        return std::ptr::null_mut();
    };
    // SAFETY: the layout's size is at least HEADER, never zero.
    let block = unsafe { alloc(layout) };
    if block.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: the block has HEADER bytes, aligned to 16, in front of what SQLite gets.
    unsafe {
        block.cast::<usize>().write(layout.size() - HEADER);
        block.add(HEADER).cast()
    }
}

/// The start of the block behind `pointer`, and the size SQLite asked for.
///
/// # Safety
/// `pointer` came from `x_malloc` or `x_realloc` and was not freed.
unsafe fn block_of(pointer: *mut c_void) -> (*mut u8, usize) {
    // SAFETY: per the contract, HEADER bytes in front hold the size.
    unsafe {
        let block = pointer.cast::<u8>().sub(HEADER);
        (block, block.cast::<usize>().read())
    }
}

unsafe extern "C" fn x_free(pointer: *mut c_void) {
    if pointer.is_null() {
        return;
    }
    // SAFETY: SQLite frees only what its xMalloc/xRealloc returned.
    unsafe {
        let (block, size) = block_of(pointer);
        if let Some(layout) = layout(size) {
            dealloc(block, layout);
        }
    }
}

unsafe extern "C" fn x_realloc(pointer: *mut c_void, size: c_int) -> *mut c_void {
    if pointer.is_null() {
        // SAFETY: a plain allocation.
        return unsafe { x_malloc(size) };
    }
    let Some(new) = usize::try_from(size).ok().and_then(layout) else {
        return std::ptr::null_mut();
    };
    // SAFETY: SQLite reallocates only what its xMalloc/xRealloc returned; the old layout is the
    // one that block was allocated with, and the new size is non-zero.
    unsafe {
        let (block, old_size) = block_of(pointer);
        let Some(old) = layout(old_size) else {
            return std::ptr::null_mut();
        };
        let moved = realloc(block, old, new.size());
        if moved.is_null() {
            return std::ptr::null_mut();
        }
        moved.cast::<usize>().write(new.size() - HEADER);
        moved.add(HEADER).cast()
    }
}

unsafe extern "C" fn x_size(pointer: *mut c_void) -> c_int {
    if pointer.is_null() {
        return 0;
    }
    // SAFETY: SQLite asks only about blocks it holds.
    let (_, size) = unsafe { block_of(pointer) };
    c_int::try_from(size).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn x_roundup(size: c_int) -> c_int {
    // SQLite's own allocator rounds to 8 bytes as well.
    size.saturating_add(7) & !7
}

unsafe extern "C" fn x_init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_shutdown(_: *mut c_void) {}

/// Points SQLite's allocations at the Rust allocator. Once per process, and only before SQLite
/// is first used: once it is initialised, SQLite refuses (`SQLITE_MISUSE`) and keeps malloc,
/// which is merely slower.
pub(crate) fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let methods = ffi::sqlite3_mem_methods {
            xMalloc: Some(x_malloc),
            xFree: Some(x_free),
            xRealloc: Some(x_realloc),
            xSize: Some(x_size),
            xRoundup: Some(x_roundup),
            xInit: Some(x_init),
            xShutdown: Some(x_shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: SQLITE_CONFIG_MALLOC takes a pointer to the methods and copies them before
        // returning; the functions above keep SQLite's contract (8-byte alignment, sizes by
        // pointer, null on failure).
        let status = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &raw const methods) };
        if status == ffi::SQLITE_OK {
            INSTALLED.store(true, Ordering::Relaxed);
        } else {
            tracing::debug!(
                status,
                "SQLite was in use already: it keeps the C allocator"
            );
        }
    });
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Whether SQLite took these functions.
#[cfg(test)]
pub(crate) fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_their_size_across_realloc_and_are_aligned() {
        // SAFETY: each block is used within its size and freed once.
        unsafe {
            let block = x_malloc(10);
            assert!(!block.is_null());
            assert_eq!(block as usize % 8, 0);
            assert_eq!(x_size(block), 10);
            block.cast::<u8>().write_bytes(7, 10);
            let grown = x_realloc(block, 5000);
            assert_eq!(x_size(grown), 5000);
            assert_eq!(
                std::slice::from_raw_parts(grown.cast::<u8>(), 10),
                &[7; 10],
                "realloc keeps the contents"
            );
            let shrunk = x_realloc(grown, 3);
            assert_eq!(x_size(shrunk), 3);
            x_free(shrunk);
            x_free(std::ptr::null_mut());
            assert_eq!(x_roundup(13), 16);
            assert!(x_malloc(-1).is_null());
        }
    }
}
