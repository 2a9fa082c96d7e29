//! The plugin's own count of the CUDA and NVDEC resources the process holds through it, so tests
//! and long-running applications can check that everything is released at NULL and that nothing
//! grows in steady state.

use std::sync::atomic::{AtomicI64, Ordering};

/// A kind of resource the plugin creates and must release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resource {
    /// A primary context retained for a device.
    Device,
    DeviceBuffer,
    PinnedBuffer,
    Stream,
    Event,
    Decoder,
    Parser,
    /// A decoded picture mapped with `cuvidMapVideoFrame` and not yet unmapped.
    MappedFrame,
}

/// One counter per kind: `MappedFrame` is the last.
const KINDS: usize = Resource::MappedFrame as usize + 1;

static COUNTS: [AtomicI64; KINDS] = [const { AtomicI64::new(0) }; KINDS];
static DEVICE_BYTES: AtomicI64 = AtomicI64::new(0);
static PINNED_BYTES: AtomicI64 = AtomicI64::new(0);

impl Resource {
    fn bytes_counter(self) -> Option<&'static AtomicI64> {
        match self {
            Resource::DeviceBuffer => Some(&DEVICE_BYTES),
            Resource::PinnedBuffer => Some(&PINNED_BYTES),
            _ => None,
        }
    }

    /// Counts one more of this resource (of `bytes` bytes for allocations).
    pub(crate) fn acquired(self, bytes: usize) {
        COUNTS[self as usize].fetch_add(1, Ordering::Relaxed);
        if let Some(counter) = self.bytes_counter() {
            counter.fetch_add(bytes as i64, Ordering::Relaxed);
        }
    }

    /// Counts one of this resource (of `bytes` bytes for allocations) released.
    pub(crate) fn released(self, bytes: usize) {
        COUNTS[self as usize].fetch_sub(1, Ordering::Relaxed);
        if let Some(counter) = self.bytes_counter() {
            counter.fetch_sub(bytes as i64, Ordering::Relaxed);
        }
    }
}

/// Counts one resource for as long as it lives.
pub(crate) struct Tracked {
    resource: Resource,
    bytes: usize,
}

impl Tracked {
    pub(crate) fn new(resource: Resource, bytes: usize) -> Self {
        resource.acquired(bytes);
        Tracked { resource, bytes }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.resource.released(self.bytes);
    }
}

/// What the process holds through the plugin at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveResources {
    /// Devices whose primary context the plugin retains.
    pub devices: i64,
    pub device_buffers: i64,
    pub device_bytes: i64,
    /// Page-locked host buffers (staging for system memory).
    pub pinned_buffers: i64,
    pub pinned_bytes: i64,
    pub streams: i64,
    pub events: i64,
    /// NVDEC decoder sessions.
    pub decoders: i64,
    /// NVIDIA bitstream parsers.
    pub parsers: i64,
    /// Decoded pictures mapped and not yet unmapped.
    pub mapped_frames: i64,
}

/// The plugin's resource counts now.
pub fn live_resources() -> LiveResources {
    let count = |r: Resource| COUNTS[r as usize].load(Ordering::Relaxed);
    LiveResources {
        devices: count(Resource::Device),
        device_buffers: count(Resource::DeviceBuffer),
        device_bytes: DEVICE_BYTES.load(Ordering::Relaxed),
        pinned_buffers: count(Resource::PinnedBuffer),
        pinned_bytes: PINNED_BYTES.load(Ordering::Relaxed),
        streams: count(Resource::Stream),
        events: count(Resource::Event),
        decoders: count(Resource::Decoder),
        parsers: count(Resource::Parser),
        mapped_frames: count(Resource::MappedFrame),
    }
}

impl std::fmt::Display for LiveResources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} device(s), {} device buffer(s) ({} bytes), {} pinned buffer(s) ({} bytes), \
             {} stream(s), {} event(s), {} decoder(s), {} parser(s), {} mapped frame(s)",
            self.devices,
            self.device_buffers,
            self.device_bytes,
            self.pinned_buffers,
            self.pinned_bytes,
            self.streams,
            self.events,
            self.decoders,
            self.parsers,
            self.mapped_frames
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_what_is_held() {
        let before = live_resources();
        let buffer = Tracked::new(Resource::DeviceBuffer, 4096);
        let pinned = Tracked::new(Resource::PinnedBuffer, 100);
        let decoder = Tracked::new(Resource::Decoder, 0);
        Resource::MappedFrame.acquired(0);
        let during = live_resources();
        assert_eq!(during.device_buffers, before.device_buffers + 1);
        assert_eq!(during.device_bytes, before.device_bytes + 4096);
        assert_eq!(during.pinned_buffers, before.pinned_buffers + 1);
        assert_eq!(during.pinned_bytes, before.pinned_bytes + 100);
        assert_eq!(during.decoders, before.decoders + 1);
        assert_eq!(during.mapped_frames, before.mapped_frames + 1);
        assert_eq!(during.streams, before.streams);
        drop((buffer, pinned, decoder));
        Resource::MappedFrame.released(0);
        assert_eq!(live_resources(), before);
    }
}
