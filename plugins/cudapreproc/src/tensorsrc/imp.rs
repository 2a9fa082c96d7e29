use std::collections::VecDeque;
use std::sync::{Condvar, LazyLock, Mutex};

use cudapreproc_core::caps::is_cuda_caps;
use cudapreproc_core::memory::is_cuda_memory;
use cudapreproc_core::tensor::{template_caps, TensorInfo};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::base_src::CreateSuccess;
use gst_base::subclass::prelude::*;

use crate::property::{properties_from_table, PropertyTable, Spec};

crate::debug_category!(static CAT = "tensorsrc", "Tensors from the application");

const DEFAULT_MAX_BUFFERS: u32 = 2;
/// How often a push waiting for room checks that the streaming thread still runs.
const STOPPED_CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

#[derive(Debug)]
struct Settings {
    /// The tensors' caps, fixed; `None` until the application sets them.
    caps: Option<gst::Caps>,
    /// Buffers queued before a push waits.
    max_buffers: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            caps: None,
            max_buffers: DEFAULT_MAX_BUFFERS,
        }
    }
}

/// What the application pushes.
#[derive(Debug)]
pub(super) enum Item {
    Buffer(gst::Buffer),
    Eos,
}

/// What a buffer must be, from the caps the element started with.
#[derive(Debug)]
struct Expected {
    tensor: TensorInfo,
    in_cuda: bool,
}

#[derive(Debug)]
struct Queue {
    items: VecDeque<Item>,
    /// Not running, or flushing: pushes and the streaming thread give up.
    flushing: bool,
    /// The end of the stream was pushed: nothing more is taken.
    ended: bool,
    expected: Option<Expected>,
}

impl Default for Queue {
    fn default() -> Self {
        Queue {
            items: VecDeque::new(),
            flushing: true,
            ended: false,
            expected: None,
        }
    }
}

#[derive(Default)]
pub struct TensorSrc {
    settings: Mutex<Settings>,
    queue: Mutex<Queue>,
    /// Signalled when an item is queued or taken, and when flushing changes.
    changed: Condvar,
}

/// Why `buffer` is not one tensor as `expected` describes it.
fn mismatch(buffer: &gst::BufferRef, expected: &Expected) -> Option<String> {
    let tensor = &expected.tensor;
    if buffer.size() != tensor.bytes {
        return Some(format!(
            "a buffer of {} bytes for a {} tensor of shape {:?} ({} bytes)",
            buffer.size(),
            tensor.dtype.name(),
            tensor.dims,
            tensor.bytes
        ));
    }
    let cuda = buffer.iter_memories().all(is_cuda_memory);
    let system = buffer.iter_memories().all(|m| !is_cuda_memory(m));
    match (expected.in_cuda, cuda, system) {
        (true, false, _) => Some("a buffer in system memory where the caps say CUDA memory".into()),
        (false, _, false) => {
            Some("a buffer in CUDA memory where the caps say system memory".into())
        }
        _ => None,
    }
}

impl TensorSrc {
    pub(super) fn push(&self, item: Item) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut queue = self.queue.lock().unwrap();
        if let (Item::Buffer(buffer), Some(expected)) = (&item, &queue.expected) {
            if let Some(why) = mismatch(buffer, expected) {
                drop(queue);
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Format,
                    ("{}: {why}", self.obj().name())
                );
                return Err(gst::FlowError::Error);
            }
        }
        loop {
            if queue.flushing {
                return Err(gst::FlowError::Flushing);
            }
            if queue.ended {
                return Err(gst::FlowError::Eos);
            }
            // Read each time: raising it while a push waits lets that push go on. Until the
            // end is pushed (checked above), every queued item is a buffer.
            let max = self.settings.lock().unwrap().max_buffers as usize;
            if matches!(item, Item::Eos) || queue.items.len() < max {
                break;
            }
            // A streaming thread stopped by downstream (an error, or the end it asked for)
            // takes nothing more: say so rather than wait for ever.
            match self
                .obj()
                .static_pad("src")
                .map(|pad| pad.last_flow_result())
            {
                Some(Err(flow)) if flow != gst::FlowError::Flushing => return Err(flow),
                _ => {}
            }
            queue = self
                .changed
                .wait_timeout(queue, STOPPED_CHECK_EVERY)
                .unwrap()
                .0;
        }
        queue.ended = matches!(item, Item::Eos);
        queue.items.push_back(item);
        self.changed.notify_all();
        Ok(gst::FlowSuccess::Ok)
    }

    fn set_flushing(&self, flushing: bool) {
        self.queue.lock().unwrap().flushing = flushing;
        self.changed.notify_all();
    }
}

#[glib::object_subclass]
impl ObjectSubclass for TensorSrc {
    const NAME: &'static str = "GstRsTensorSrc";
    type Type = super::TensorSrc;
    type ParentType = gst_base::BaseSrc;
}

static PROPERTIES: LazyLock<PropertyTable<TensorSrc, Settings>> = LazyLock::new(|| {
    PropertyTable::new(*CAT, |imp: &TensorSrc| &imp.settings)
        .checked_field(
            Spec::ready(
                "caps",
                "Caps",
                "The tensors' caps: other/tensors with one tensor, its types and dimensions, in \
                 CUDA (memory:CUDAMemory) or system memory",
            )
            .caps(),
            |s| &mut s.caps,
            |value| {
                let caps = value
                    .get::<Option<gst::Caps>>()
                    .expect("type checked upstream");
                if let Some(caps) = &caps {
                    check_caps(caps)?;
                }
                Ok(caps)
            },
        )
        .field(
            Spec::playing(
                "max-buffers",
                "Max buffers",
                "Tensors queued before pushing another waits",
            )
            .uint(1..=u32::MAX, DEFAULT_MAX_BUFFERS),
            |s| &mut s.max_buffers,
        )
        // A larger queue lets a waiting push go on.
        .after_change(|imp| imp.changed.notify_all())
});

/// Whether `caps` (the `caps` property) describe tensors this element can push.
fn check_caps(caps: &gst::Caps) -> Result<(), String> {
    if !caps.is_fixed() {
        return Err(format!(
            "{caps} is not fixed (one structure, every field set)"
        ));
    }
    if !caps.can_intersect(&template_caps()) {
        return Err(format!(
            "{caps} is not other/tensors with one tensor of a supported type"
        ));
    }
    TensorInfo::from_caps(caps).map(|_| ())
}

impl ObjectImpl for TensorSrc {
    properties_from_table!(PROPERTIES);

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                glib::subclass::Signal::builder("push-buffer")
                    .param_types([gst::Buffer::static_type()])
                    .return_type::<gst::FlowReturn>()
                    .action()
                    .class_handler(|args| {
                        let element = args[0].get::<super::TensorSrc>().expect("signal arg");
                        let buffer = args[1].get::<gst::Buffer>().expect("signal arg");
                        Some(gst::FlowReturn::from(element.push_buffer(buffer)).to_value())
                    })
                    .build(),
                glib::subclass::Signal::builder("end-of-stream")
                    .return_type::<gst::FlowReturn>()
                    .action()
                    .class_handler(|args| {
                        let element = args[0].get::<super::TensorSrc>().expect("signal arg");
                        Some(gst::FlowReturn::from(element.end_of_stream()).to_value())
                    })
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.set_format(gst::Format::Time);
        obj.set_automatic_eos(false);
    }
}

impl GstObjectImpl for TensorSrc {}

impl ElementImpl for TensorSrc {
    crate::element_metadata!(
        "Tensor source",
        "Source/Tensor/Hardware",
        "Takes tensors from the application, in GPU or system memory, without a copy, into a \
         pipeline"
    );

    crate::element_pad_templates!(vec![crate::always_pad(
        gst::PadDirection::Src,
        &template_caps()
    )]);
}

impl BaseSrcImpl for TensorSrc {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let caps = self.settings.lock().unwrap().caps.clone().ok_or_else(|| {
            gst::error_msg!(
                gst::CoreError::Negotiation,
                (
                    "{}: the caps property is not set (the tensors' type and dimensions)",
                    self.obj().name()
                )
            )
        })?;
        let tensor = TensorInfo::from_caps(&caps).map_err(|why| {
            gst::error_msg!(
                gst::CoreError::Negotiation,
                ("{}: caps {caps}: {why}", self.obj().name())
            )
        })?;
        gst::info!(
            CAT,
            imp = self,
            "tensors {:?} {}",
            tensor.dims,
            tensor.dtype.name()
        );
        *self.queue.lock().unwrap() = Queue {
            flushing: false,
            expected: Some(Expected {
                in_cuda: is_cuda_caps(&caps),
                tensor,
            }),
            ..Queue::default()
        };
        self.changed.notify_all();
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // Queued buffers go back to their owners now.
        *self.queue.lock().unwrap() = Queue::default();
        self.changed.notify_all();
        Ok(())
    }

    fn caps(&self, filter: Option<&gst::Caps>) -> Option<gst::Caps> {
        let caps = self
            .settings
            .lock()
            .unwrap()
            .caps
            .clone()
            .unwrap_or_else(template_caps);
        Some(match filter {
            Some(filter) => filter.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
            None => caps,
        })
    }

    fn is_seekable(&self) -> bool {
        false
    }

    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        self.set_flushing(true);
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        self.set_flushing(false);
        Ok(())
    }

    fn create(
        &self,
        _offset: u64,
        _buffer: Option<&mut gst::BufferRef>,
        _length: u32,
    ) -> Result<CreateSuccess, gst::FlowError> {
        let mut queue = self.queue.lock().unwrap();
        loop {
            if queue.flushing {
                return Err(gst::FlowError::Flushing);
            }
            if let Some(item) = queue.items.pop_front() {
                self.changed.notify_all();
                return match item {
                    Item::Buffer(buffer) => Ok(CreateSuccess::NewBuffer(buffer)),
                    Item::Eos => Err(gst::FlowError::Eos),
                };
            }
            queue = self.changed.wait(queue).unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(caps: &str) -> Expected {
        let caps: gst::Caps = caps.parse().unwrap();
        Expected {
            in_cuda: is_cuda_caps(&caps),
            tensor: TensorInfo::from_caps(&caps).unwrap(),
        }
    }

    #[test]
    fn buffers_must_hold_the_caps_tensor_in_the_caps_memory() {
        gst::init().unwrap();
        let system =
            expected("other/tensors,format=static,num_tensors=1,types=float32,dimensions=4:3:2:1");
        assert_eq!(
            mismatch(&gst::Buffer::with_size(96).unwrap(), &system),
            None
        );
        assert_eq!(
            mismatch(&gst::Buffer::with_size(95).unwrap(), &system).unwrap(),
            "a buffer of 95 bytes for a float32 tensor of shape [1, 2, 3, 4] (96 bytes)"
        );
        let cuda = expected(
            "other/tensors(memory:CUDAMemory),format=static,num_tensors=1,types=uint8,\
             dimensions=4:3:2:1",
        );
        assert_eq!(
            mismatch(&gst::Buffer::with_size(24).unwrap(), &cuda).unwrap(),
            "a buffer in system memory where the caps say CUDA memory"
        );
    }
}
