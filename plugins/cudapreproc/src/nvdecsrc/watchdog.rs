//! Notices reading that stopped with neither an end of stream nor an error. parsebin in
//! GStreamer 1.22 can lose the error of a demuxer it is still setting up (seen under load with
//! MP4s cut before their `moov`): the demuxer's thread pauses, nothing reaches the bus, and a
//! pipeline would wait forever. Once a second while the bin runs, a thread looks at the reading
//! part; silent twice in a row with nothing passing the source pad in between, the bin posts the
//! error itself.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Time between two looks at the reading part.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// What passed the bin's source pad and bus in this run, as the watchdog reads it.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// Buffers and events through the source pad.
    items: AtomicU64,
    /// The end of the stream went out (cleared by a flush: a seek reads again).
    ended: AtomicBool,
    /// An error went out.
    failed: AtomicBool,
}

impl Progress {
    /// A new run.
    pub(super) fn reset(&self) {
        self.items.store(0, Ordering::SeqCst);
        self.ended.store(false, Ordering::SeqCst);
        self.failed.store(false, Ordering::SeqCst);
    }

    /// Something passed the source pad: `Some(event)` for an event, `None` for data.
    pub(super) fn passed(&self, event: Option<gst::EventType>) {
        self.items.fetch_add(1, Ordering::SeqCst);
        match event {
            Some(gst::EventType::Eos) => self.ended.store(true, Ordering::SeqCst),
            Some(gst::EventType::FlushStop) => self.ended.store(false, Ordering::SeqCst),
            _ => {}
        }
    }

    pub(super) fn failed(&self) {
        self.failed.store(true, Ordering::SeqCst);
    }

    /// Whether the stream is over either way, so silence is expected.
    fn finished(&self) -> bool {
        self.ended.load(Ordering::SeqCst) || self.failed.load(Ordering::SeqCst)
    }
}

/// The watchdog's judgement, look after look.
#[derive(Debug, Default)]
struct Silence {
    /// Looks in a row that found reading stopped and nothing passed.
    looks: u32,
    /// The source pad's count at the last look.
    items: u64,
}

impl Silence {
    /// One look: whether reading `stopped` silently, with the source pad's count `items` and
    /// the stream `finished`. True when the bin must say so: silent for two looks in a row.
    fn look(&mut self, stopped: bool, items: u64, finished: bool) -> bool {
        let passed = items != self.items;
        self.items = items;
        if finished || passed || !stopped {
            self.looks = 0;
            return false;
        }
        self.looks += 1;
        self.looks == 2
    }
}

#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

/// The thread that looks; stopped and joined when dropped.
pub(super) struct Watchdog {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Looks once a second: `stopped_silently` looks at the reading part (`None` once the bin is
    /// gone), and `report` is called once if it stays silent.
    pub(super) fn start(
        progress: Arc<Progress>,
        stopped_silently: impl Fn() -> Option<bool> + Send + 'static,
        report: impl Fn() + Send + 'static,
    ) -> Watchdog {
        let stop = Arc::new(Stop::default());
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("nvdecsrc-watchdog".into())
                .spawn(move || {
                    let mut silence = Silence::default();
                    let mut stopped = stop.stopped.lock().unwrap();
                    loop {
                        stopped = stop.wake.wait_timeout(stopped, LOOK_EVERY).unwrap().0;
                        if *stopped {
                            return;
                        }
                        let Some(silent) = stopped_silently() else {
                            return;
                        };
                        let items = progress.items.load(Ordering::SeqCst);
                        if silence.look(silent, items, progress.finished()) {
                            progress.failed();
                            report();
                        }
                    }
                })
                .expect("a thread can be started")
        };
        Watchdog {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        *self.stop.stopped.lock().unwrap() = true;
        self.stop.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // An application that stops the pipeline from a bus sync handler does it on this
            // thread, in `report`: it ends on its own after that.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_reported_after_two_quiet_looks() {
        let mut silence = Silence::default();
        assert!(!silence.look(true, 0, false), "one look is not enough");
        assert!(
            silence.look(true, 0, false),
            "the second quiet look reports"
        );
        assert!(!silence.look(true, 0, false), "reported once");
    }

    #[test]
    fn progress_running_threads_or_an_end_keep_it_quiet() {
        let mut silence = Silence::default();
        for (stopped, items, finished) in [
            (true, 0, false),
            (true, 1, false), // something passed the pad: start again
            (true, 1, false),
            (false, 1, false), // a thread runs again
            (true, 1, false),
            (true, 1, true), // the end of the stream went out
            (true, 1, true),
        ] {
            assert!(!silence.look(stopped, items, finished));
        }
    }

    #[test]
    fn a_flush_after_the_end_reads_again() {
        let progress = Progress::default();
        progress.passed(Some(gst::EventType::Eos));
        assert!(progress.finished());
        progress.passed(Some(gst::EventType::FlushStop));
        assert!(!progress.finished());
        progress.failed();
        assert!(progress.finished());
        progress.reset();
        assert!(!progress.finished());
        assert_eq!(progress.items.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_thread_reports_once_and_stops_when_dropped() {
        let progress = Arc::new(Progress::default());
        let (sender, reports) = std::sync::mpsc::channel();
        let watchdog = Watchdog::start(
            progress.clone(),
            || Some(true),
            move || sender.send(()).unwrap(),
        );
        reports
            .recv_timeout(3 * LOOK_EVERY + Duration::from_millis(500))
            .expect("a report after two quiet looks");
        assert!(
            progress.finished(),
            "a report counts as the stream's failure"
        );
        drop(watchdog);
        assert!(reports.try_recv().is_err(), "one report only");
    }
}
