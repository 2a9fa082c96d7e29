//! The count of what moving data between owners costs: copies made because memory was not
//! readable or writable where it was (another context's CUDA memory, system memory) and waits of
//! the host for the GPU. Tests and benchmarks read it around a run to show what a path costs per
//! frame; it only ever grows.

use std::sync::atomic::{AtomicU64, Ordering};

static COPIES: AtomicU64 = AtomicU64::new(0);
static HOST_WAITS: AtomicU64 = AtomicU64::new(0);

/// Copies and host waits made through the plugin since the process started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Copies into or out of a staging area: from another context's device memory, uploads
    /// from and downloads to system memory.
    pub copies: u64,
    /// Host threads blocked on GPU work not finished yet (stream, event or device
    /// synchronisation that found work pending; one that found it done cost nothing).
    pub host_waits: u64,
}

impl Traffic {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Traffic) -> Traffic {
        Traffic {
            copies: self.copies - earlier.copies,
            host_waits: self.host_waits - earlier.host_waits,
        }
    }
}

/// The counts now.
pub fn traffic() -> Traffic {
    Traffic {
        copies: COPIES.load(Ordering::Relaxed),
        host_waits: HOST_WAITS.load(Ordering::Relaxed),
    }
}

pub(crate) fn count_copy() {
    COPIES.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn count_host_wait() {
    HOST_WAITS.fetch_add(1, Ordering::Relaxed);
}
