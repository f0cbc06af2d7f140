//! Output buffers kept warm between bodies.
//!
//! Encoding is a memory-bandwidth loop, and what slows a large body down is not its growth but
//! fresh memory: a body above the allocator's mmap threshold (32 MiB at most in glibc) is a new
//! mapping every time, and each of its 4 KiB pages costs a page fault on first touch (25,964
//! faults for a 106 MB body, about 3 µs each on a 2-core VM: more than the encoding itself).
//! Smaller bodies escape this only because the allocator hands the same freed memory out again.
//!
//! So a writer made with [`RecordWriter::pooled`](super::RecordWriter::pooled) that reserves at
//! least [`MIN_POOLED`] bytes takes a released buffer from its [`BufferPool`] when one of a
//! fitting size exists, and [`RecordWriter::finish_bytes`](super::RecordWriter::finish_bytes)
//! returns a body whose buffer comes back to that pool when the last reference to it is dropped
//! (after the request that sent it). A pool keeps at most [`MAX_POOLED`] buffers: the largest
//! released. Nothing else changes: the bytes are the same, and a body taken with `finish` is a
//! plain `Vec`.
//!
//! The pool is a value its owner holds (the sink's table writer keeps one per warm function),
//! not a process-wide static: the core keeps no global state.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

/// Buffers smaller than this are left to the allocator, which reuses them well.
const MIN_POOLED: usize = 1 << 20;

/// How many released buffers a pool keeps.
const MAX_POOLED: usize = 2;

/// A buffer is not handed out for a reservation it exceeds by more than this factor, so a small
/// body never holds on to a large buffer.
const MAX_OVERSIZE: usize = 4;

/// Released output buffers of large bodies, for the next writers to reuse. Clones share the
/// same buffers; a body keeps its pool alive until it is dropped.
#[derive(Debug, Clone, Default)]
pub struct BufferPool {
    buffers: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl BufferPool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty buffer with room for at least `bytes`: a released one when one fits, else new.
    pub(crate) fn take(&self, bytes: usize) -> Vec<u8> {
        if bytes >= MIN_POOLED {
            // A poisoned lock still guards a valid list of buffers.
            let mut pool = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
            let best = pool
                .iter()
                .enumerate()
                .filter(|(_, b)| {
                    b.capacity() >= bytes && b.capacity() <= bytes.saturating_mul(MAX_OVERSIZE)
                })
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            if let Some(i) = best {
                return pool.swap_remove(i);
            }
        }
        Vec::with_capacity(bytes)
    }

    /// Keeps `buf` for a later [`BufferPool::take`], unless it is small or smaller than every
    /// kept buffer.
    fn give_back(&self, mut buf: Vec<u8>) {
        if buf.capacity() < MIN_POOLED {
            return;
        }
        buf.clear();
        let mut pool = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < MAX_POOLED {
            pool.push(buf);
        } else if let Some(smallest) = pool.iter_mut().min_by_key(|b| b.capacity())
            && smallest.capacity() < buf.capacity()
        {
            *smallest = buf;
        }
    }

    /// `buf` as [`Bytes`] that hands the buffer back to this pool once every clone is dropped.
    pub(crate) fn recyclable(&self, buf: Vec<u8>) -> Bytes {
        if buf.capacity() < MIN_POOLED {
            Bytes::from(buf)
        } else {
            Bytes::from_owner(Recycled {
                buf,
                pool: self.clone(),
            })
        }
    }
}

/// A body's bytes whose buffer returns to its pool when dropped.
struct Recycled {
    buf: Vec<u8>,
    pool: BufferPool,
}

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_buffers_are_taken_again_by_size() {
        let pool = BufferPool::new();
        let size = 5 * MIN_POOLED + 12_345;
        let buf = pool.take(size);
        assert!(buf.capacity() >= size);
        let ptr = buf.as_ptr();
        let mut buf = buf;
        buf.extend_from_slice(b"body");
        let body = pool.recyclable(buf);
        let clone = body.clone();
        drop(body);
        // Still referenced: not in the pool yet, so a take gets other memory.
        let other = pool.take(size);
        assert_ne!(other.as_ptr(), ptr);
        drop(clone);
        let again = pool.take(size);
        assert_eq!(again.as_ptr(), ptr, "the released buffer is reused");
        assert!(again.is_empty());
        // Far too large for a small reservation: left in the pool.
        pool.give_back(again);
        let small = pool.take(MIN_POOLED);
        assert_ne!(small.as_ptr(), ptr);
        drop(small);
        drop(other);
    }

    #[test]
    fn pools_do_not_share_buffers() {
        let (a, b) = (BufferPool::new(), BufferPool::new());
        let size = 2 * MIN_POOLED;
        let buf = a.take(size);
        let ptr = buf.as_ptr();
        drop(a.recyclable(buf));
        let from_b = b.take(size);
        assert_ne!(
            from_b.as_ptr(),
            ptr,
            "another pool does not hand out a's buffer"
        );
        // A clone of `a` shares its buffers.
        let again = a.clone().take(size);
        assert_eq!(again.as_ptr(), ptr);
    }

    #[test]
    fn small_buffers_bypass_the_pool() {
        let pool = BufferPool::new();
        let b = pool.recyclable(b"abc".to_vec());
        assert_eq!(&b[..], b"abc");
        assert!(pool.take(10).capacity() >= 10);
    }
}
