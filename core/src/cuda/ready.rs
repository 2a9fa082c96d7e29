//! The CUDA event a delivered tensor is ready after, as a GObject so that a sample's info
//! structure (`tensorsink`'s `ready-event-owner`) owns it: it lives exactly as long as the
//! application keeps the sample.

use gst::glib;
use gst::subclass::prelude::*;

use crate::cuda::Event;

mod imp {
    use super::*;

    #[derive(Default)]
    pub struct ReadyEvent {
        pub(super) event: std::sync::OnceLock<Event>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ReadyEvent {
        const NAME: &'static str = "GstCudaPreprocReadyEvent";
        type Type = super::ReadyEvent;
    }

    impl ObjectImpl for ReadyEvent {}
}

glib::wrapper! {
    pub struct ReadyEvent(ObjectSubclass<imp::ReadyEvent>);
}

// SAFETY: the event is set once at construction and CUDA events may be used from any thread.
unsafe impl Send for ReadyEvent {}
unsafe impl Sync for ReadyEvent {}

impl ReadyEvent {
    pub fn new(event: Event) -> Self {
        let object: Self = glib::Object::new();
        object
            .imp()
            .event
            .set(event)
            .unwrap_or_else(|_| unreachable!("a new ReadyEvent has no event yet"));
        object
    }

    /// The event, for waiting on it ([`Event::synchronize`], [`Event::make_wait`]).
    pub fn event(&self) -> &Event {
        self.imp()
            .event
            .get()
            .expect("a ReadyEvent is made with its event")
    }

    /// The `CUevent` handle.
    pub fn handle(&self) -> u64 {
        self.event().handle()
    }
}
