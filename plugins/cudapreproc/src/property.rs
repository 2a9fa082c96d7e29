//! Properties: declaring them ([`Spec`], and the ones several elements have), each element's
//! [`PropertyTable`] (declaration, getter and setter in one place), reading numbers out of
//! GstValueArrays, and refusing invalid values so that the user hears about it.

use std::ops::RangeInclusive;
use std::sync::Mutex;

use cudapreproc_core::access;
use gst::glib;
use gst::glib::translate::{FromGlib, IntoGlib};
use gst::prelude::*;
use gst::subclass::prelude::*;

/// GLib log domain of the warnings [`refuse`] emits when no bus would carry them.
pub const LOG_DOMAIN: &str = "cudapreproc";

/// GLib's own log domain, where it warns of a value outside a property's range ("value ... is
/// invalid or out of range for property ...").
pub const GOBJECT_LOG_DOMAIN: &str = "GLib-GObject";

/// Hands every warning about a refused property value, GLib's and the elements' (their
/// [`LOG_DOMAIN`]), to `handler` (domain, level, message) instead of GLib's default handler. GLib
/// calls the handler installed last for a domain.
pub fn handle_property_warnings<F>(handler: F)
where
    F: Fn(Option<&str>, glib::LogLevel, &str) + Clone + Send + Sync + 'static,
{
    for domain in [GOBJECT_LOG_DOMAIN, LOG_DOMAIN] {
        glib::log_set_handler(
            Some(domain),
            glib::LogLevels::LEVEL_WARNING,
            false,
            false,
            handler.clone(),
        );
    }
}

/// An array element as f64: a double, float or int. A launch line's `"<1, 0.5>"` holds doubles
/// when the property's element spec says so, but the structures of metas and events may hold
/// floats or integers.
pub fn number(value: &glib::SendValue) -> Result<f64, String> {
    if let Ok(v) = value.get::<f64>() {
        Ok(v)
    } else if let Ok(v) = value.get::<f32>() {
        Ok(f64::from(v))
    } else if let Ok(v) = value.get::<i32>() {
        Ok(f64::from(v))
    } else {
        Err(format!("{} is not a number", value.type_()))
    }
}

/// `values` as a `GstValueArray`: what an array property reads back as, and the arrays of
/// structures the elements post.
pub fn array_of<T: ToSendValue>(values: &[T]) -> gst::Array {
    gst::Array::new(values.iter().map(|v| v.to_send_value()))
}

/// The nick of an enum value (`dtype=float32`), for messages.
pub fn nick(value: impl ToValue) -> String {
    let value = value.to_value();
    glib::EnumValue::from_value(&value)
        .map(|(_, v)| v.nick().to_string())
        .unwrap_or_default()
}

/// The name messages give `element`: its type's name without the `GstRs` prefix, which is its
/// factory name (`cudaconvert` also for `cudatensorconvert`). Not the element's factory: where
/// the plugin is registered twice (statically, and found again on GST_PLUGIN_PATH), the class
/// keeps a pointer to a factory that was replaced.
pub fn factory_name(element: &impl IsA<gst::Element>) -> String {
    let type_name = element.type_().name();
    type_name
        .strip_prefix("GstRs")
        .unwrap_or(type_name)
        .to_ascii_lowercase()
}

/// Whether a message `element` posts reaches a bus: its top-level ancestor (a pipeline, or a
/// bin or element given one) has a bus. An element in a bin always has the bin's internal bus,
/// but the bin drops what it cannot forward.
fn reaches_bus(element: &gst::Element) -> bool {
    let mut top: gst::Object = element.clone().upcast();
    while let Some(parent) = top.parent() {
        top = parent;
    }
    top.downcast_ref::<gst::Element>()
        .is_some_and(|e| e.bus().is_some())
}

/// Refuses a value for `property` of `element`, which keeps its previous value; `why` says
/// what is wrong. Every refusal goes through here so that none is silent: a warning message
/// on the bus when it would reach one, otherwise (properties set before the pipeline exists,
/// as on a gst-launch line) a GLib warning on stderr, like GLib's own for values out of range;
/// and always the debug log.
pub fn refuse(element: &gst::Element, cat: gst::DebugCategory, property: &str, why: &str) {
    let text = format!("property '{property}' not changed: {why}");
    gst::warning!(cat, obj = element, "{text}");
    if reaches_bus(element) {
        gst::element_warning!(element, gst::LibraryError::Settings, ("{text}"));
    } else {
        glib::g_warning!(
            LOG_DOMAIN,
            "{} '{}': {}",
            factory_name(element),
            element.name(),
            text
        );
    }
}

/// The body of `Spec`'s numeric methods: a range and a default, for builder types that share no
/// trait for them.
macro_rules! numeric_specs {
    ($($method:ident: $number:ty => $param_spec:ty),* $(,)?) => {$(
        pub fn $method(self, range: RangeInclusive<$number>, default: $number) -> glib::ParamSpec {
            self.described(
                <$param_spec>::builder(self.name)
                    .minimum(*range.start())
                    .maximum(*range.end())
                    .default_value(default),
            )
            .build()
        }
    )*};
}

/// The states in which a property can be changed.
#[derive(Clone, Copy)]
pub enum Changeable {
    /// Up to READY: what the element sets up when it starts.
    UpToReady,
    /// Also while playing: what each frame reads afresh.
    WhilePlaying,
    /// No state flag: an array's element spec, or a copy of a property of one of GStreamer's
    /// base classes that has none (the video decoder's `max-errors`).
    Unflagged,
}

/// What every property declaration has: the name, nick and blurb, and when it can be changed.
/// The method for its type adds the type's range and default and builds the `glib::ParamSpec`.
pub struct Spec<'a> {
    name: &'a str,
    nick: &'a str,
    blurb: &'a str,
    changeable: Changeable,
}

impl<'a> Spec<'a> {
    /// A property that can be changed up to READY.
    pub fn ready(name: &'a str, nick: &'a str, blurb: &'a str) -> Self {
        Self::new(name, nick, blurb, Changeable::UpToReady)
    }

    /// A property that can be changed while playing.
    pub fn playing(name: &'a str, nick: &'a str, blurb: &'a str) -> Self {
        Self::new(name, nick, blurb, Changeable::WhilePlaying)
    }

    /// A property that can be changed as `changeable` says (a copy of another's, say).
    pub fn new(name: &'a str, nick: &'a str, blurb: &'a str, changeable: Changeable) -> Self {
        Self {
            name,
            nick,
            blurb,
            changeable,
        }
    }

    /// The spec of an array property's elements, which are changed only through the array.
    pub fn element(name: &'a str, nick: &'a str, blurb: &'a str) -> Self {
        Self::new(name, nick, blurb, Changeable::Unflagged)
    }

    fn described<B: GstParamSpecBuilderExt<'a>>(&self, builder: B) -> B {
        let builder = builder.nick(self.nick).blurb(self.blurb);
        match self.changeable {
            Changeable::UpToReady => builder.mutable_ready(),
            Changeable::WhilePlaying => builder.mutable_playing(),
            Changeable::Unflagged => builder,
        }
    }

    pub fn enumeration<T>(self, default: T) -> glib::ParamSpec
    where
        T: StaticType + FromGlib<i32> + IntoGlib<GlibType = i32>,
    {
        self.described(glib::ParamSpecEnum::builder_with_default(
            self.name, default,
        ))
        .build()
    }

    pub fn boolean(self, default: bool) -> glib::ParamSpec {
        self.described(glib::ParamSpecBoolean::builder(self.name).default_value(default))
            .build()
    }

    numeric_specs! {
        int: i32 => glib::ParamSpecInt,
        uint: u32 => glib::ParamSpecUInt,
        uint64: u64 => glib::ParamSpecUInt64,
        double: f64 => glib::ParamSpecDouble,
    }

    /// A string property, unset (`None`) by default.
    pub fn string(self) -> glib::ParamSpec {
        self.described(glib::ParamSpecString::builder(self.name))
            .build()
    }

    /// Caps, unset (`None`) by default.
    pub fn caps(self) -> glib::ParamSpec {
        self.described(glib::ParamSpecBoxed::builder::<gst::Caps>(self.name))
            .build()
    }

    /// A `GstValueArray` of values that `element` describes, empty by default.
    pub fn array(self, element: glib::ParamSpec) -> glib::ParamSpec {
        self.described(gst::ParamSpecArray::builder(self.name).element_spec(&element))
            .build()
    }
}

/// A `cuda-device-id` property (the name and nick GStreamer's CUDA elements use) from `minimum`
/// (-1 where the element can follow its input's GPU) with `default`, described by `blurb`;
/// settable up to READY.
pub fn cuda_device_id_spec(minimum: i32, default: i32, blurb: &str) -> glib::ParamSpec {
    Spec::ready("cuda-device-id", "CUDA device ID", blurb).int(minimum..=i32::MAX, default)
}

/// A `frame-indices` property (an array of frame numbers up to `maximum`, each described by
/// `index_blurb`) described by `blurb`; settable up to READY.
pub fn frame_indices_spec(blurb: &str, index_blurb: &str, maximum: u64) -> glib::ParamSpec {
    Spec::ready("frame-indices", "Frame indices", blurb)
        .array(Spec::element("index", "Index", index_blurb).uint64(0..=maximum, 0))
}

/// A `frame-times` property (an array of stream times in seconds, 0 or more) described by
/// `blurb`; settable while playing.
pub fn frame_times_spec(blurb: &str) -> glib::ParamSpec {
    Spec::playing("frame-times", "Frame times", blurb)
        .array(Spec::element("time", "Time", "Stream time in seconds").double(0.0..=f64::MAX, 0.0))
}

crate::property_enum! {
    /// How an element finishes its writes into a downstream element's CUDA buffer before
    /// pushing it (`downstream-sync`).
    pub enum DownstreamSync("GstCudaPreprocDownstreamSync") => access::DownstreamSync {
        #[default]
        LegacyStream = 0, "legacy-stream",
            "Legacy stream: the legacy default CUDA stream waits for the writes on the GPU; \
             GStreamer's CUDA elements read after it"
            => access::DownstreamSync::LegacyStream;
        Host = 1, "host",
            "Host: the CPU waits for the writes, for elements that read on a non-blocking CUDA \
             stream"
            => access::DownstreamSync::Host;
    }
}

/// The `downstream-sync` property of the elements that write into buffers of a downstream
/// element's CUDA pool; settable up to READY.
pub fn downstream_sync_spec() -> glib::ParamSpec {
    Spec::ready(
        "downstream-sync",
        "Downstream sync",
        "How writes into a CUDA buffer of a downstream element's pool (GStreamer's elements, \
         same CUDA context) are finished before it is pushed",
    )
    .enumeration(DownstreamSync::default())
}

type Getter<E> = Box<dyn Fn(&E) -> glib::Value + Send + Sync>;
type Setter<E> = Box<dyn Fn(&E, &glib::Value) -> Result<(), String> + Send + Sync>;

/// The properties of the element implementation `E`, each declared once: its spec, how it is
/// read, and how a new value is taken or refused. Plain properties are fields of the element's
/// settings (`S`, behind a mutex). `ObjectImpl` answers from it with [`properties_from_table!`].
pub struct PropertyTable<E, S> {
    cat: gst::DebugCategory,
    settings: fn(&E) -> &Mutex<S>,
    specs: Vec<glib::ParamSpec>,
    accessors: Vec<(Getter<E>, Setter<E>)>,
    after_change: Option<fn(&E)>,
}

impl<E, S> PropertyTable<E, S>
where
    E: ObjectSubclass,
    E::Type: IsA<gst::Element>,
    S: 'static,
{
    /// An empty table for an element that logs to `cat` and keeps its settings where `settings`
    /// says.
    pub fn new(cat: gst::DebugCategory, settings: fn(&E) -> &Mutex<S>) -> Self {
        Self {
            cat,
            settings,
            specs: Vec::new(),
            accessors: Vec::new(),
            after_change: None,
        }
    }

    /// A property that is the settings field `field`, taken as it comes (GLib has checked the
    /// value against the spec).
    pub fn field<T>(self, spec: glib::ParamSpec, field: fn(&mut S) -> &mut T) -> Self
    where
        T: ToValue + for<'v> glib::value::FromValue<'v> + 'static,
    {
        self.checked_field(spec, field, |value| {
            Ok(value.get().expect("type checked upstream"))
        })
    }

    /// A property that is the settings field `field`, set to what `check` makes of a value, or
    /// refused with the reason `check` gives.
    pub fn checked_field<T: ToValue + 'static>(
        self,
        spec: glib::ParamSpec,
        field: fn(&mut S) -> &mut T,
        check: fn(&glib::Value) -> Result<T, String>,
    ) -> Self {
        let settings = self.settings;
        self.property(
            spec,
            move |imp| field(&mut settings(imp).lock().unwrap()).to_value(),
            move |imp, value| {
                *field(&mut settings(imp).lock().unwrap()) = check(value)?;
                Ok(())
            },
        )
    }

    /// A property read by `get` and set by `set`, which says why when it refuses a value.
    pub fn property(
        mut self,
        spec: glib::ParamSpec,
        get: impl Fn(&E) -> glib::Value + Send + Sync + 'static,
        set: impl Fn(&E, &glib::Value) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.specs.push(spec);
        self.accessors.push((Box::new(get), Box::new(set)));
        self
    }

    /// Runs `f` after each value a property takes (not after a refusal).
    pub fn after_change(mut self, f: fn(&E)) -> Self {
        self.after_change = Some(f);
        self
    }

    pub fn specs(&self) -> &[glib::ParamSpec] {
        &self.specs
    }

    /// Sets `pspec`'s property of `imp` to `value`, or [refuses](refuse) it with the reason.
    pub fn set(&self, imp: &E, value: &glib::Value, pspec: &glib::ParamSpec) {
        let (_, set) = &self.accessors[self.position(pspec)];
        match set(imp, value) {
            Ok(()) => {
                if let Some(after_change) = self.after_change {
                    after_change(imp);
                }
            }
            Err(why) => refuse(imp.obj().upcast_ref(), self.cat, pspec.name(), &why),
        }
    }

    pub fn get(&self, imp: &E, pspec: &glib::ParamSpec) -> glib::Value {
        let (get, _) = &self.accessors[self.position(pspec)];
        get(imp)
    }

    fn position(&self, pspec: &glib::ParamSpec) -> usize {
        self.specs
            .iter()
            .position(|spec| spec.name() == pspec.name())
            .expect("GObject passes only the class's own properties")
    }
}

/// `ObjectImpl`'s `properties`, `set_property` and `property`, answered by the [`PropertyTable`]
/// `$table` (a static).
macro_rules! properties_from_table {
    ($table:expr) => {
        fn properties() -> &'static [glib::ParamSpec] {
            $table.specs()
        }

        fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
            $table.set(self, value, pspec)
        }

        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            $table.get(self, pspec)
        }
    };
}
pub(crate) use properties_from_table;
