//! Tensors as NNStreamer's `other/tensors` caps describe them (the GStreamer convention for
//! tensors): element types, the shape of one frame's tensor in either layout, normalisation, and
//! what a tensor's caps say about its size.

use crate::caps;

/// The media type of tensor caps.
pub const TENSORS: &str = "other/tensors";

/// Caps of one tensor in system memory: element type `types` (`float32`) and `dimensions` in
/// NNStreamer's order, innermost first (`224:224:3:1`).
pub fn one_tensor_caps(types: &str, dimensions: &str) -> gst::Caps {
    gst::Caps::builder(TENSORS)
        .field("format", "static")
        .field("num_tensors", 1i32)
        .field("types", types)
        .field("dimensions", dimensions)
        .build()
}

/// Element type of a tensor; the names are NNStreamer's `types` strings (bfloat16 is ours:
/// NNStreamer has no such type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    Uint8,
    Float16,
    Bfloat16,
    Float32,
}

impl DType {
    pub const ALL: [DType; 4] = [
        DType::Uint8,
        DType::Float16,
        DType::Bfloat16,
        DType::Float32,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DType::Uint8 => "uint8",
            DType::Float16 => "float16",
            DType::Bfloat16 => "bfloat16",
            DType::Float32 => "float32",
        }
    }

    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }

    pub fn size(self) -> usize {
        match self {
            DType::Uint8 => 1,
            DType::Float16 | DType::Bfloat16 => 2,
            DType::Float32 => 4,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Memory order of a tensor's dimensions (batch of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Channel planes: [1, C, H, W].
    Nchw,
    /// Interleaved channels: [1, H, W, C].
    Nhwc,
}

/// Shape of one frame's tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorShape {
    pub channels: u32,
    pub height: u32,
    pub width: u32,
    pub layout: Layout,
}

impl TensorShape {
    /// The shape, outermost dimension first.
    pub fn dims(&self) -> [u32; 4] {
        match self.layout {
            Layout::Nchw => [1, self.channels, self.height, self.width],
            Layout::Nhwc => [1, self.height, self.width, self.channels],
        }
    }

    /// NNStreamer's `dimensions` string: innermost dimension first, so NCHW 224x224 RGB is
    /// `224:224:3:1`.
    pub fn nnstreamer_dims(&self) -> String {
        let d = self.dims();
        format!("{}:{}:{}:{}", d[3], d[2], d[1], d[0])
    }

    /// Reads a `dimensions` string as a frame tensor of `layout`: four dimensions (missing outer
    /// ones count as 1), batch 1, 1 to 4 channels.
    pub fn from_nnstreamer_dims(dims: &str, layout: Layout) -> Result<TensorShape, String> {
        let mut values = dims
            .split(':')
            .map(|d| d.trim().parse::<u32>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| format!("dimensions \"{dims}\" are not numbers separated by ':'"))?;
        if values.is_empty() || values.len() > 4 || values.contains(&0) {
            return Err(format!(
                "dimensions \"{dims}\": a frame tensor has 1 to 4 non-zero dimensions"
            ));
        }
        values.resize(4, 1);
        if values[3] != 1 {
            return Err(format!(
                "dimensions \"{dims}\": batch {} (one frame per buffer needs 1)",
                values[3]
            ));
        }
        let (channels, height, width) = match layout {
            Layout::Nchw => (values[2], values[1], values[0]),
            Layout::Nhwc => (values[0], values[2], values[1]),
        };
        if !(1..=4).contains(&channels) {
            return Err(format!(
                "dimensions \"{dims}\" as {layout:?}: {channels} channels, 1 to 4 are supported"
            ));
        }
        // The caps come from outside: refused rather than overflowing the element count or a
        // buffer size later. The tensor of the widest type (4 bytes) must fit a buffer pool's
        // 32-bit size, which also keeps width and height within caps ints.
        let bytes = [channels, height, width]
            .into_iter()
            .try_fold(4u64, |bytes, d| bytes.checked_mul(u64::from(d)));
        if bytes.is_none_or(|bytes| bytes > u64::from(u32::MAX)) {
            return Err(format!("dimensions \"{dims}\": a tensor over 4 GiB"));
        }
        Ok(TensorShape {
            channels,
            height,
            width,
            layout,
        })
    }

    pub fn elements(&self) -> usize {
        self.channels as usize * self.height as usize * self.width as usize
    }

    /// Element strides, outermost first, matching [`Self::dims`].
    pub fn strides(&self) -> [usize; 4] {
        let (c, h, w) = (
            self.channels as usize,
            self.height as usize,
            self.width as usize,
        );
        match self.layout {
            Layout::Nchw => [c * h * w, h * w, w, 1],
            Layout::Nhwc => [h * w * c, w * c, c, 1],
        }
    }
}

/// `y = (x * scale - mean) / std` per channel, for `N` channels: a tensor's (the kernel takes
/// 4), or a frame's colours (3: R, G, B, whatever order the tensor stores them in).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalization<const N: usize = 4> {
    pub scale: f64,
    pub mean: [f64; N],
    pub std: [f64; N],
}

impl<const N: usize> Normalization<N> {
    /// Values unchanged.
    pub const IDENTITY: Self = Self {
        scale: 1.0,
        mean: [0.0; N],
        std: [1.0; N],
    };
}

/// The presets `cudaconvert` and the reader offer, on R, G, B.
impl Normalization<3> {
    /// [0, 1] from 8-bit values.
    pub const UNIT: Self = Self {
        scale: 1.0 / 255.0,
        ..Self::IDENTITY
    };
    /// [-1, 1] from 8-bit values.
    pub const SYMMETRIC: Self = Self {
        scale: 2.0 / 255.0,
        mean: [1.0; 3],
        std: [1.0; 3],
    };
    /// torchvision's ImageNet mean and standard deviation, on [0, 1] values.
    pub const IMAGENET: Self = Self {
        scale: 1.0 / 255.0,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };
}

/// The video formats a tensor is made from or turned into.
pub const VIDEO_FORMATS: &[&str] =
    &caps::joined::<8, 2, 10>(caps::RGB_FORMATS, ["GRAY8", "GRAY16_LE"]);

/// Whether frames of `format` have colour (R, G, B) rather than only gray.
pub fn is_color(format: gst_video::VideoFormat) -> bool {
    gst_video::VideoFormatInfo::from_format(format).is_rgb()
}

/// The tensors the elements take and give: one tensor of any supported type, in CUDA memory
/// first, then in system memory.
pub fn template_caps() -> gst::Caps {
    let mut caps = gst::Caps::new_empty();
    for features in [caps::cuda_features(), gst::CapsFeatures::new_empty()] {
        let s = gst::Structure::builder(TENSORS)
            .field("format", "static")
            .field("num_tensors", 1i32)
            .field("types", gst::List::new(DType::ALL.map(|d| d.name())))
            .build();
        caps.merge_structure_full(s, Some(features));
    }
    caps
}

/// One tensor as its caps describe it: the dimensions (outermost first, whatever the layout),
/// the element type and the bytes it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    caps: gst::Caps,
    /// Outermost first.
    pub dims: Vec<u64>,
    pub dtype: DType,
    pub bytes: usize,
}

impl TensorInfo {
    /// Reads `other/tensors` caps with one tensor. The caps come from outside: a tensor that no
    /// buffer pool can size (their sizes are 32-bit) is refused rather than wrapped.
    pub fn from_caps(caps: &gst::CapsRef) -> Result<Self, String> {
        let s = caps.structure(0).ok_or("empty caps")?;
        let types = s
            .get::<&str>("types")
            .map_err(|_| format!("no types in {caps}"))?;
        let dtype = DType::from_name(types).ok_or_else(|| format!("unsupported type {types}"))?;
        let dims_text = s
            .get::<&str>("dimensions")
            .map_err(|_| format!("no dimensions in {caps}"))?;
        let mut dims = dims_text
            .split(':')
            .map(|d| d.trim().parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| format!("dimensions \"{dims_text}\" are not numbers"))?;
        if dims.is_empty() || dims.contains(&0) {
            return Err(format!("dimensions \"{dims_text}\" are empty or zero"));
        }
        dims.reverse();
        let bytes = dims
            .iter()
            .try_fold(dtype.size() as u64, |bytes, &d| bytes.checked_mul(d))
            .filter(|&bytes| bytes <= u64::from(u32::MAX))
            .ok_or_else(|| format!("dimensions \"{dims_text}\": a tensor over 4 GiB"))?
            as usize;
        Ok(TensorInfo {
            caps: caps.to_owned(),
            dims,
            dtype,
            bytes,
        })
    }

    /// The caps it was read from.
    pub fn caps(&self) -> &gst::Caps {
        &self.caps
    }

    /// Shape of a batch of `n` of these tensors: the leading batch dimension of 1 becomes `n`
    /// (or `n` is put in front).
    pub fn batch_dims(&self, n: usize) -> Vec<u64> {
        let mut dims = self.dims.clone();
        if dims.len() > 1 && dims[0] == 1 {
            dims[0] = n as u64;
        } else {
            dims.insert(0, n as u64);
        }
        dims
    }

    /// Bytes of a batch of `n`, `None` when a buffer pool cannot size it (32 bits).
    pub fn batch_bytes(&self, n: usize) -> Option<u32> {
        self.bytes
            .checked_mul(n)
            .and_then(|bytes| u32::try_from(bytes).ok())
    }

    /// Caps for a batch of `n`.
    pub fn batch_caps(&self, n: usize) -> gst::Caps {
        let mut caps = self.caps.clone();
        let dims: Vec<String> = self
            .batch_dims(n)
            .iter()
            .rev()
            .map(|d| d.to_string())
            .collect();
        if let Some(s) = caps.make_mut().structure_mut(0) {
            s.set("dimensions", dims.join(":"));
        }
        caps
    }

    /// One tensor of this batch (`[n, ...]`): the leading dimension becomes 1. `None` for a
    /// tensor of one dimension.
    pub fn unbatched(&self) -> Option<TensorInfo> {
        let n = *self.dims.first().filter(|_| self.dims.len() > 1)? as usize;
        let mut dims = self.dims.clone();
        dims[0] = 1;
        TensorInfo {
            caps: self.caps.clone(),
            dims,
            dtype: self.dtype,
            bytes: self.bytes / n,
        }
        .batch(1)
    }

    /// A batch of `n` as one tensor, `None` when a buffer pool cannot size it.
    pub fn batch(&self, n: usize) -> Option<TensorInfo> {
        Some(TensorInfo {
            caps: self.batch_caps(n),
            dims: self.batch_dims(n),
            dtype: self.dtype,
            bytes: self.batch_bytes(n)? as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dims_are_innermost_first() {
        let nchw = TensorShape {
            channels: 3,
            height: 224,
            width: 320,
            layout: Layout::Nchw,
        };
        assert_eq!(nchw.nnstreamer_dims(), "320:224:3:1");
        assert_eq!(nchw.dims(), [1, 3, 224, 320]);
        assert_eq!(nchw.strides(), [3 * 224 * 320, 224 * 320, 320, 1]);
        let nhwc = TensorShape {
            layout: Layout::Nhwc,
            ..nchw
        };
        assert_eq!(nhwc.nnstreamer_dims(), "3:320:224:1");
        assert_eq!(nhwc.strides(), [224 * 320 * 3, 320 * 3, 3, 1]);
        for shape in [nchw, nhwc] {
            let parsed =
                TensorShape::from_nnstreamer_dims(&shape.nnstreamer_dims(), shape.layout).unwrap();
            assert_eq!(parsed, shape);
        }
    }

    #[test]
    fn bad_dims_are_refused() {
        for dims in ["", "a:b", "0:3:3:1", "3:3:3:2", "224:224:5:1", "1:2:3:4:5"] {
            assert!(
                TensorShape::from_nnstreamer_dims(dims, Layout::Nchw).is_err(),
                "{dims}"
            );
        }
        // Missing outer dimensions are 1: a gray 8x4 image.
        let gray = TensorShape::from_nnstreamer_dims("8:4", Layout::Nchw).unwrap();
        assert_eq!((gray.channels, gray.height, gray.width), (1, 4, 8));
    }

    #[test]
    fn tensors_over_4_gib_are_refused() {
        // Found by fuzzing (tensor_caps): the element count overflowed (a panic, or a wrapped
        // unit size), and widths over i32::MAX became negative video caps widths.
        for dims in [
            "4294967295:4294967295:4:1",
            "4294967295:1:1:1",
            "32768:32768:1:1",
        ] {
            let refused = TensorShape::from_nnstreamer_dims(dims, Layout::Nchw).unwrap_err();
            assert!(refused.contains("over 4 GiB"), "{dims}: {refused}");
        }
        // The largest float32 tensors still fit a buffer pool's 32-bit size.
        let big = TensorShape::from_nnstreamer_dims("32767:32768:1:1", Layout::Nchw).unwrap();
        assert_eq!(big.elements() * DType::Float32.size(), 32767 * 32768 * 4);
    }

    #[test]
    fn dtype_names_round_trip() {
        for dtype in DType::ALL {
            assert_eq!(DType::from_name(dtype.name()), Some(dtype));
        }
        assert_eq!(DType::from_name("int7"), None);
    }

    fn caps(dims: &str, types: &str) -> gst::Caps {
        one_tensor_caps(types, dims)
    }

    #[test]
    fn batches_replace_the_batch_dimension() {
        gst::init().unwrap();
        let t = TensorInfo::from_caps(&caps("224:224:3:1", "float32")).unwrap();
        assert_eq!(t.dims, [1, 3, 224, 224]);
        assert_eq!(t.bytes, 3 * 224 * 224 * 4);
        assert_eq!(t.batch_dims(8), [8, 3, 224, 224]);
        let s = t.batch_caps(5);
        assert_eq!(
            s.structure(0).unwrap().get::<&str>("dimensions").unwrap(),
            "224:224:3:5"
        );
        let plain = TensorInfo::from_caps(&caps("16:4", "uint8")).unwrap();
        assert_eq!(plain.batch_dims(3), [3, 4, 16]);
        assert!(TensorInfo::from_caps(&caps("16:0", "uint8")).is_err());
        assert!(TensorInfo::from_caps(&caps("16:4", "int7")).is_err());
    }

    #[test]
    fn a_batch_unbatched_is_one_of_its_tensors() {
        gst::init().unwrap();
        let batch = TensorInfo::from_caps(&caps("112:112:3:8", "float16")).unwrap();
        let one = batch.unbatched().unwrap();
        assert_eq!(one.dims, [1, 3, 112, 112]);
        assert_eq!(one.bytes, batch.bytes / 8);
        assert_eq!(
            one.caps()
                .structure(0)
                .unwrap()
                .get::<&str>("dimensions")
                .unwrap(),
            "112:112:3:1"
        );
        assert_eq!(one.unbatched().unwrap().dims, one.dims);
        let line = TensorInfo::from_caps(&caps("16", "uint8")).unwrap();
        assert!(line.unbatched().is_none());
    }

    #[test]
    fn tensors_and_batches_over_4_gib_are_refused() {
        gst::init().unwrap();
        // Found by fuzzing (tensor_caps): the product of the dimensions overflowed (a panic, or
        // a small wrapped size), and tensors no pool can size were accepted.
        for dims in [
            "4294967295:4294967295:4294967295",
            "65536:65536:1",
            "1073741824:1",
        ] {
            let refused = TensorInfo::from_caps(&caps(dims, "float32")).unwrap_err();
            assert!(refused.contains("over 4 GiB"), "{dims}: {refused}");
        }
        assert!(TensorInfo::from_caps(&caps("1073741823:1", "float32")).is_ok());
        // A batch whose pool buffers would be over 4 GiB is refused, not truncated (the copies
        // into the slots past the truncated size would write out of the buffer).
        let t = TensorInfo::from_caps(&caps("1024:1024:3:1", "float32")).unwrap();
        assert_eq!(t.batch_bytes(8), Some(8 * 3 * 1024 * 1024 * 4));
        assert_eq!(t.batch_bytes(400), None);
    }
}
