//! Wall time spent in NVCUVID's calls, counted for the whole process: how often each ran, for
//! how long in all and at most. With many videos decoding at once, it shows which call waits for
//! the others ([`nvcuvid_times`]).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The calls counted. `cuvidParseVideoData` includes the parser's callbacks, so the decoding,
/// mapping and copying they do is in its time too.
const CALLS: [&str; 11] = [
    "cuvidCreateVideoParser",
    "cuvidParseVideoData",
    "cuvidDestroyVideoParser",
    "cuvidCreateDecoder",
    "cuvidReconfigureDecoder",
    "cuvidDecodePicture",
    "cuvidGetDecodeStatus",
    "cuvidMapVideoFrame",
    "cuvidUnmapVideoFrame",
    "cuvidDestroyDecoder",
    "cuvidGetDecoderCaps",
];

struct Counter {
    count: AtomicU64,
    total_ns: AtomicU64,
    max_ns: AtomicU64,
}

impl Counter {
    const fn new() -> Self {
        Counter {
            count: AtomicU64::new(0),
            total_ns: AtomicU64::new(0),
            max_ns: AtomicU64::new(0),
        }
    }

    fn add(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total_ns.fetch_add(ns, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
    }
}

static COUNTERS: [Counter; CALLS.len()] = [const { Counter::new() }; CALLS.len()];

/// Runs `f`, the NVCUVID call `call`, and counts the time it took.
pub(super) fn timed<T>(call: &'static str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let result = f();
    if let Some(index) = CALLS.iter().position(|c| *c == call) {
        COUNTERS[index].add(started.elapsed());
    }
    result
}

/// How often one NVCUVID call ran since the last [`reset_nvcuvid_times`], and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallTime {
    pub call: &'static str,
    pub count: u64,
    pub total: Duration,
    pub max: Duration,
}

impl fmt::Display for CallTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "{} {} calls, {:.1} ms in all, mean {:.3} ms, max {:.1} ms",
            self.call,
            self.count,
            ms(self.total),
            ms(self.total) / self.count.max(1) as f64,
            ms(self.max)
        )
    }
}

/// The NVCUVID calls made in this process since the last [`reset_nvcuvid_times`], in the
/// order of a decoder's life.
pub fn nvcuvid_times() -> Vec<CallTime> {
    CALLS
        .iter()
        .zip(&COUNTERS)
        .filter_map(|(&call, counter)| {
            let count = counter.count.load(Ordering::Relaxed);
            (count > 0).then(|| CallTime {
                call,
                count,
                total: Duration::from_nanos(counter.total_ns.load(Ordering::Relaxed)),
                max: Duration::from_nanos(counter.max_ns.load(Ordering::Relaxed)),
            })
        })
        .collect()
}

/// Starts counting afresh.
pub fn reset_nvcuvid_times() {
    for counter in &COUNTERS {
        counter.count.store(0, Ordering::Relaxed);
        counter.total_ns.store(0, Ordering::Relaxed);
        counter.max_ns.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_summed_and_their_longest_kept() {
        reset_nvcuvid_times();
        for ms in [2, 6, 4] {
            timed("cuvidReconfigureDecoder", || {
                std::thread::sleep(Duration::from_millis(ms))
            });
        }
        let value = timed("cuvidGetDecodeStatus", || 7);
        assert_eq!(value, 7);
        // A name that is not an NVCUVID call is not counted.
        timed("somethingElse", || ());
        let times = nvcuvid_times();
        assert_eq!(
            times.iter().map(|t| (t.call, t.count)).collect::<Vec<_>>(),
            [("cuvidReconfigureDecoder", 3), ("cuvidGetDecodeStatus", 1)]
        );
        let reconfigure = times[0];
        assert!(reconfigure.total >= Duration::from_millis(12));
        assert!(reconfigure.max >= Duration::from_millis(6) && reconfigure.max < reconfigure.total);
        assert!(reconfigure
            .to_string()
            .starts_with("cuvidReconfigureDecoder 3 calls, "));
        reset_nvcuvid_times();
        assert!(nvcuvid_times().is_empty());
    }
}
