//! The full preprocessing chain on the real clip, computed on the CPU in float64 from the decoded
//! frames (each checked bit-exact with libavcodec's MD5 first), for the GPU tests that pull the
//! chain's tensors through appsink, the Rust library and the Python module. GPU only (the
//! reference frames come from `nvdecsrc`).

use crate::reference::{convert, Image};
use cudapreproc_core::colorspace::{Encoding, PixelFormat};
use gst::prelude::*;

use crate::{
    encoding_of, frame_md5, half_plane_matrix, media_dir, sample_or_error, tight_planes, Stopping,
};

/// Side of the square tensors.
pub const SIDE: usize = 224;
/// Elements of one tensor (3 x 224 x 224).
pub const ELEMENTS: usize = 3 * SIDE * SIDE;
/// What follows `nvdecsrc` in the chain: 224x224, RGB, float32 NCHW, ImageNet-normalised.
pub const CHAIN: &str = "cudawarpaffine width=224 height=224 ! cudacvtcolor ! \
                         video/x-raw(memory:CUDAMemory),format=RGBP ! \
                         cudaconvert dtype=float32 layout=nchw preset=imagenet";
const MEAN: [f64; 3] = [0.485, 0.456, 0.406];
const STD: [f64; 3] = [0.229, 0.224, 0.225];

/// The real clip.
pub fn clip() -> std::path::PathBuf {
    media_dir().join("bigbuckbunny.mp4")
}

/// `nvdecsrc location=<clip> ! <CHAIN> ! <tail>`.
pub fn launch_line(tail: &str) -> String {
    format!("nvdecsrc location={} ! {CHAIN} ! {tail}", clip().display())
}

/// The clip's decoded frames and what the chain must make of them.
pub struct ChainReference {
    frames: Vec<Vec<Vec<u8>>>,
    /// libavcodec's MD5 of each frame (equal to the decoded frame's).
    md5s: Vec<String>,
    size: (usize, usize),
    encoding: Encoding,
}

impl ChainReference {
    /// Decodes the real clip, checking every frame against libavcodec's MD5.
    pub fn new() -> ChainReference {
        ChainReference::decode(&clip(), &media_dir().join("bigbuckbunny.md5"))
    }

    /// Decodes `clip` with `nvdecsrc`, checking every frame against libavcodec's MD5 in `md5`
    /// (lines of `INDEX WIDTHxHEIGHT MD5`, as the media scripts write them).
    pub fn decode(clip: &std::path::Path, md5: &std::path::Path) -> ChainReference {
        crate::init();
        let reference_md5: Vec<String> = std::fs::read_to_string(md5)
            .unwrap_or_else(|e| panic!("{}: libavcodec's MD5s: {e}", md5.display()))
            .lines()
            .map(|l| l.split_whitespace().nth(2).unwrap().to_string())
            .collect();
        let decode = Stopping(crate::pipeline(&format!(
            "nvdecsrc location=\"{}\" ! video/x-raw,format=NV12 ! appsink name=sink sync=false",
            clip.display()
        )));
        let sink = crate::appsink(&decode);
        decode.set_state(gst::State::Playing).unwrap();
        let mut frames = Vec::new();
        let mut encoding = None;
        let mut size = (0, 0);
        while let Some(sample) = sample_or_error(&decode, &sink) {
            let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
            let buffer = sample.buffer().unwrap();
            assert_eq!(
                Some(&frame_md5(buffer, &info)),
                reference_md5.get(frames.len()),
                "{}: frame {}",
                clip.display(),
                frames.len()
            );
            encoding = Some(encoding_of(&info));
            size = (info.width() as usize, info.height() as usize);
            frames.push(tight_planes(buffer, &info));
        }
        assert_eq!(
            frames.len(),
            reference_md5.len(),
            "{}: every frame decoded",
            clip.display()
        );
        let encoding = encoding.expect("frames decoded");
        println!(
            "{}: {} frames decoded, every one bit-exact with libavcodec; {encoding:?}",
            clip.display(),
            frames.len()
        );
        ChainReference {
            frames,
            md5s: reference_md5,
            size,
            encoding,
        }
    }

    /// The frames of another clip cut from this one (with `-c copy`: the same pictures), in its
    /// order, found by libavcodec's MD5s of that clip in `md5`. For clips `nvdecsrc` does not
    /// show frame for frame as libavcodec does (an edit list starting inside a frame).
    pub fn cut(&self, md5: &std::path::Path) -> ChainReference {
        let wanted: Vec<String> = std::fs::read_to_string(md5)
            .unwrap_or_else(|e| panic!("{}: {e}", md5.display()))
            .lines()
            .map(|l| l.split_whitespace().nth(2).unwrap().to_string())
            .collect();
        let frames = wanted
            .iter()
            .map(|m| {
                let i = self
                    .md5s
                    .iter()
                    .position(|own| own == m)
                    .unwrap_or_else(|| panic!("{}: frame {m} is not in the source", md5.display()));
                self.frames[i].clone()
            })
            .collect();
        ChainReference {
            frames,
            md5s: wanted,
            size: self.size,
            encoding: self.encoding,
        }
    }

    /// Frame `n` as planar 8-bit RGB (R, G, B planes of width x height), converted in float64
    /// with the clip's colorimetry.
    pub fn rgb(&self, n: usize) -> Vec<u8> {
        let (width, height) = self.size;
        let frame = Image {
            format: PixelFormat::Nv12,
            width,
            height,
            planes: self.frames[n].clone(),
        };
        let rgb_encoding = Encoding {
            format: PixelFormat::Rgbp,
            ..self.encoding
        };
        convert(&frame, &self.encoding, &rgb_encoding).planes[..3].concat()
    }

    /// (width, height) of the decoded frames.
    pub fn size(&self) -> (usize, usize) {
        self.size
    }

    /// Frames in the clip.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The tensor (3 x 224 x 224, NCHW) for frame `n`: the frame's planes warped to 224x224
    /// (bilinear, float64), converted to RGB with the clip's colorimetry, then /255, -mean, /std.
    pub fn expected(&self, n: usize) -> Vec<f64> {
        let (width, height) = self.size;
        let (sx, sy) = (width as f64 / SIDE as f64, height as f64 / SIDE as f64);
        let luma_m = [sx, 0.0, sx / 2.0 - 0.5, 0.0, sy, sy / 2.0 - 0.5];
        let chroma_m = half_plane_matrix(&luma_m);
        let planes = &self.frames[n];
        let chroma_size = (width.div_ceil(2), height.div_ceil(2));
        let warped = Image {
            format: PixelFormat::Nv12,
            width: SIDE,
            height: SIDE,
            planes: vec![
                warp_plane(&planes[0], self.size, 1, &luma_m, (SIDE, SIDE)),
                warp_plane(&planes[1], chroma_size, 2, &chroma_m, (SIDE / 2, SIDE / 2)),
            ],
        };
        let rgb_encoding = Encoding {
            format: PixelFormat::Rgbp,
            ..self.encoding
        };
        let rgb = convert(&warped, &self.encoding, &rgb_encoding);
        (0..3)
            .flat_map(|c| {
                rgb.planes[c][..SIDE * SIDE]
                    .iter()
                    .map(move |&v| (f64::from(v) / 255.0 - MEAN[c]) / STD[c])
            })
            .collect()
    }
}

impl Default for ChainReference {
    fn default() -> Self {
        ChainReference::new()
    }
}

/// Bilinear warp of one plane in float64 with OpenCV's conventions (pixel centres at integers,
/// `m` maps output to source), rounded half to even; edge taps replicate the border.
pub fn warp_plane(
    src: &[u8],
    (sw, sh): (usize, usize),
    channels: usize,
    m: &[f64; 6],
    (dw, dh): (usize, usize),
) -> Vec<u8> {
    let mut out = vec![0u8; dw * dh * channels];
    for y in 0..dh {
        for x in 0..dw {
            let sx = m[0] * x as f64 + m[1] * y as f64 + m[2];
            let sy = m[3] * x as f64 + m[4] * y as f64 + m[5];
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let at = |xi: f64, yi: f64, c: usize| {
                let xi = (xi as isize).clamp(0, sw as isize - 1) as usize;
                let yi = (yi as isize).clamp(0, sh as isize - 1) as usize;
                f64::from(src[(yi * sw + xi) * channels + c])
            };
            for c in 0..channels {
                let top = at(x0, y0, c) * (1.0 - fx) + at(x0 + 1.0, y0, c) * fx;
                let bottom = at(x0, y0 + 1.0, c) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0, c) * fx;
                let v = top * (1.0 - fy) + bottom * fy;
                out[(y * dw + x) * channels + c] = v.round_ties_even().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// How closely a run of tensors matched the reference.
#[derive(Default)]
pub struct Agreement {
    tensors: usize,
    exact: usize,
    total: usize,
    worst: f64,
}

impl Agreement {
    /// Compares one tensor with its reference. Fails beyond 4 codes of 8-bit RGB after /255/std:
    /// where the warp's float32 and float64 round a luma or chroma sample differently, the colour
    /// conversion carries that difference (times up to 2.1 for chroma) into RGB.
    pub fn check(&mut self, what: &str, frame: usize, got: &[f32], expected: &[f64]) {
        assert_eq!(got.len(), expected.len(), "{what}: frame {frame}: elements");
        for (i, (&got, &expected)) in got.iter().zip(expected).enumerate() {
            let d = (f64::from(got) - expected).abs();
            self.worst = self.worst.max(d);
            if d <= 1e-6 * expected.abs().max(1e-6) {
                self.exact += 1;
            }
            self.total += 1;
            assert!(
                d <= 4.0 / 255.0 / 0.224 + 1e-6,
                "{what}: frame {frame} element {i}: {got} for {expected}"
            );
        }
        self.tensors += 1;
    }

    /// Tensors compared.
    pub fn tensors(&self) -> usize {
        self.tensors
    }

    /// One line for the test's output.
    pub fn summary(&self) -> String {
        format!(
            "{} tensors 3x224x224 float32: {} of {} elements ({:.4}%) equal the CPU chain within \
             1e-6 relative, largest difference {:.5} (one 8-bit code is {:.5})",
            self.tensors,
            self.exact,
            self.total,
            100.0 * self.exact as f64 / self.total.max(1) as f64,
            self.worst,
            1.0 / 255.0 / 0.225
        )
    }
}

/// Native-endian float32 values from bytes.
pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_ne_bytes(b.try_into().unwrap()))
        .collect()
}
