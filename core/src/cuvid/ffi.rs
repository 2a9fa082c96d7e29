//! The NVIDIA video decoder API (NVCUVID, from the Video Codec SDK headers `cuviddec.h` and
//! `nvcuvid.h`), loaded with `dlopen` from `libnvcuvid.so.1`, which ships with the driver.
//!
//! Only what the decoder uses is declared. Layouts are those of SDK 13.0 on 64-bit Linux
//! (`unsigned long` is 64 bits); `tests` checks every size and the offsets that matter.

#![allow(non_camel_case_types, non_snake_case)]

use std::ffi::{c_int, c_uint, c_ulong, c_void};
use std::sync::OnceLock;

use cudarc::driver::sys::{CUresult, CUstream};

pub type CUvideoparser = *mut c_void;
pub type CUvideodecoder = *mut c_void;
pub type CUvideotimestamp = i64;

pub const CUVID_PKT_ENDOFSTREAM: c_ulong = 0x01;
pub const CUVID_PKT_TIMESTAMP: c_ulong = 0x02;
pub const CUVID_PKT_DISCONTINUITY: c_ulong = 0x04;
pub const CUVID_PKT_ENDOFPICTURE: c_ulong = 0x08;

/// `cudaVideoCodec`.
pub mod codec {
    pub const MPEG1: u32 = 0;
    pub const MPEG2: u32 = 1;
    pub const MPEG4: u32 = 2;
    pub const VC1: u32 = 3;
    pub const H264: u32 = 4;
    pub const JPEG: u32 = 5;
    pub const HEVC: u32 = 8;
    pub const VP8: u32 = 9;
    pub const VP9: u32 = 10;
    pub const AV1: u32 = 11;
}

/// `cudaVideoChromaFormat`.
pub mod chroma {
    pub const MONOCHROME: u32 = 0;
    pub const YUV420: u32 = 1;
    pub const YUV422: u32 = 2;
    pub const YUV444: u32 = 3;
}

/// `cudaVideoSurfaceFormat`.
pub mod surface {
    pub const NV12: u32 = 0;
    pub const P016: u32 = 1;
    pub const YUV444: u32 = 2;
    pub const YUV444_16BIT: u32 = 3;
}

/// `cudaVideoDeinterlaceMode`.
pub mod deinterlace {
    pub const WEAVE: u32 = 0;
    pub const BOB: u32 = 1;
    pub const ADAPTIVE: u32 = 2;
}

/// `cuvidDecodeStatus`.
pub mod decode_status {
    pub const IN_PROGRESS: u32 = 1;
    pub const ERROR: u32 = 8;
    pub const ERROR_CONCEALED: u32 = 9;
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Rect32 {
    pub left: c_int,
    pub top: c_int,
    pub right: c_int,
    pub bottom: c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Rect16 {
    pub left: i16,
    pub top: i16,
    pub right: i16,
    pub bottom: i16,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CUVIDEOFORMAT {
    pub codec: u32,
    pub frame_rate_numerator: c_uint,
    pub frame_rate_denominator: c_uint,
    pub progressive_sequence: u8,
    pub bit_depth_luma_minus8: u8,
    pub bit_depth_chroma_minus8: u8,
    pub min_num_decode_surfaces: u8,
    pub coded_width: c_uint,
    pub coded_height: c_uint,
    pub display_area: Rect32,
    pub chroma_format: u32,
    pub bitrate: c_uint,
    pub display_aspect_ratio_x: c_int,
    pub display_aspect_ratio_y: c_int,
    /// Bits 0-2 video_format, bit 3 video_full_range_flag.
    pub video_signal_flags: u8,
    pub color_primaries: u8,
    pub transfer_characteristics: u8,
    pub matrix_coefficients: u8,
    pub seqhdr_data_length: c_uint,
}

#[repr(C)]
pub struct CUVIDSOURCEDATAPACKET {
    pub flags: c_ulong,
    pub payload_size: c_ulong,
    pub payload: *const u8,
    pub timestamp: CUvideotimestamp,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CUVIDPARSERDISPINFO {
    pub picture_index: c_int,
    pub progressive_frame: c_int,
    pub top_field_first: c_int,
    pub repeat_first_field: c_int,
    pub timestamp: CUvideotimestamp,
}

/// The first fields of `CUVIDPICPARAMS` (4280 bytes in all, passed through opaquely).
#[repr(C)]
pub struct CUVIDPICPARAMS_HEAD {
    pub PicWidthInMbs: c_int,
    pub FrameHeightInMbs: c_int,
    pub CurrPicIdx: c_int,
    pub field_pic_flag: c_int,
    pub bottom_field_flag: c_int,
    pub second_field: c_int,
    pub nBitstreamDataLen: c_uint,
    pub pBitstreamData: *const u8,
    pub nNumSlices: c_uint,
    pub pSliceDataOffsets: *const c_uint,
    pub ref_pic_flag: c_int,
    pub intra_pic_flag: c_int,
}

pub type PFNVIDSEQUENCECALLBACK = unsafe extern "C" fn(*mut c_void, *mut CUVIDEOFORMAT) -> c_int;
pub type PFNVIDDECODECALLBACK =
    unsafe extern "C" fn(*mut c_void, *mut CUVIDPICPARAMS_HEAD) -> c_int;
pub type PFNVIDDISPLAYCALLBACK =
    unsafe extern "C" fn(*mut c_void, *mut CUVIDPARSERDISPINFO) -> c_int;

#[repr(C)]
pub struct CUVIDPARSERPARAMS {
    pub CodecType: u32,
    pub ulMaxNumDecodeSurfaces: c_uint,
    pub ulClockRate: c_uint,
    pub ulErrorThreshold: c_uint,
    pub ulMaxDisplayDelay: c_uint,
    /// Bit 0 bAnnexb, bit 1 bMemoryOptimize.
    pub flags: c_uint,
    pub uReserved1: [c_uint; 4],
    pub pUserData: *mut c_void,
    pub pfnSequenceCallback: Option<PFNVIDSEQUENCECALLBACK>,
    pub pfnDecodePicture: Option<PFNVIDDECODECALLBACK>,
    pub pfnDisplayPicture: Option<PFNVIDDISPLAYCALLBACK>,
    pub pfnGetOperatingPoint: *mut c_void,
    pub pfnGetSEIMsg: *mut c_void,
    pub pvReserved2: [*mut c_void; 5],
    pub pExtVideoInfo: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CUVIDDECODECAPS {
    pub eCodecType: u32,
    pub eChromaFormat: u32,
    pub nBitDepthMinus8: c_uint,
    pub reserved1: [c_uint; 3],
    pub bIsSupported: u8,
    pub nNumNVDECs: u8,
    pub nOutputFormatMask: u16,
    pub nMaxWidth: c_uint,
    pub nMaxHeight: c_uint,
    pub nMaxMBCount: c_uint,
    pub nMinWidth: u16,
    pub nMinHeight: u16,
    pub bIsHistogramSupported: u8,
    pub nCounterBitDepth: u8,
    pub nMaxHistogramBins: u16,
    pub reserved3: [c_uint; 10],
}

#[repr(C)]
pub struct CUVIDDECODECREATEINFO {
    pub ulWidth: c_ulong,
    pub ulHeight: c_ulong,
    pub ulNumDecodeSurfaces: c_ulong,
    pub CodecType: u32,
    pub ChromaFormat: u32,
    pub ulCreationFlags: c_ulong,
    pub bitDepthMinus8: c_ulong,
    pub ulIntraDecodeOnly: c_ulong,
    pub ulMaxWidth: c_ulong,
    pub ulMaxHeight: c_ulong,
    pub Reserved1: c_ulong,
    pub display_area: Rect16,
    pub OutputFormat: u32,
    pub DeinterlaceMode: u32,
    pub ulTargetWidth: c_ulong,
    pub ulTargetHeight: c_ulong,
    pub ulNumOutputSurfaces: c_ulong,
    pub vidLock: *mut c_void,
    pub target_rect: Rect16,
    pub enableHistogram: c_ulong,
    pub Reserved2: [c_ulong; 4],
}

/// What `cuvidReconfigureDecoder` changes: the coded size (at most the creation's
/// `ulMaxWidth` x `ulMaxHeight`), the post-processing rectangles and size, and the number of
/// decode surfaces. Unlike `CUVIDDECODECREATEINFO`, its sizes are `unsigned int`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CUVIDRECONFIGUREDECODERINFO {
    pub ulWidth: c_uint,
    pub ulHeight: c_uint,
    pub ulTargetWidth: c_uint,
    pub ulTargetHeight: c_uint,
    pub ulNumDecodeSurfaces: c_uint,
    pub reserved1: [c_uint; 12],
    pub display_area: Rect16,
    pub target_rect: Rect16,
    pub reserved2: [c_uint; 11],
}

#[repr(C)]
pub struct CUVIDPROCPARAMS {
    pub progressive_frame: c_int,
    pub second_field: c_int,
    pub top_field_first: c_int,
    pub unpaired_field: c_int,
    pub reserved_flags: c_uint,
    pub reserved_zero: c_uint,
    pub raw_input_dptr: u64,
    pub raw_input_pitch: c_uint,
    pub raw_input_format: c_uint,
    pub raw_output_dptr: u64,
    pub raw_output_pitch: c_uint,
    pub Reserved1: c_uint,
    pub output_stream: CUstream,
    pub Reserved: [c_uint; 46],
    pub histogram_dptr: *mut u64,
    pub Reserved2: [*mut c_void; 1],
}

#[repr(C)]
pub struct CUVIDGETDECODESTATUS {
    pub decodeStatus: u32,
    pub reserved: [c_uint; 31],
    pub pReserved: [*mut c_void; 8],
}

/// The entry points of `libnvcuvid.so.1`.
pub struct Nvcuvid {
    _lib: libloading::Library,
    pub cuvidCreateVideoParser:
        unsafe extern "C" fn(*mut CUvideoparser, *mut CUVIDPARSERPARAMS) -> CUresult,
    pub cuvidParseVideoData:
        unsafe extern "C" fn(CUvideoparser, *mut CUVIDSOURCEDATAPACKET) -> CUresult,
    pub cuvidDestroyVideoParser: unsafe extern "C" fn(CUvideoparser) -> CUresult,
    pub cuvidGetDecoderCaps: unsafe extern "C" fn(*mut CUVIDDECODECAPS) -> CUresult,
    pub cuvidCreateDecoder:
        unsafe extern "C" fn(*mut CUvideodecoder, *mut CUVIDDECODECREATEINFO) -> CUresult,
    pub cuvidDestroyDecoder: unsafe extern "C" fn(CUvideodecoder) -> CUresult,
    pub cuvidDecodePicture:
        unsafe extern "C" fn(CUvideodecoder, *mut CUVIDPICPARAMS_HEAD) -> CUresult,
    pub cuvidGetDecodeStatus:
        unsafe extern "C" fn(CUvideodecoder, c_int, *mut CUVIDGETDECODESTATUS) -> CUresult,
    pub cuvidMapVideoFrame64: unsafe extern "C" fn(
        CUvideodecoder,
        c_int,
        *mut u64,
        *mut c_uint,
        *mut CUVIDPROCPARAMS,
    ) -> CUresult,
    pub cuvidUnmapVideoFrame64: unsafe extern "C" fn(CUvideodecoder, u64) -> CUresult,
    /// Since Video Codec SDK 9.0; `None` with older drivers, which can only create decoders.
    pub cuvidReconfigureDecoder:
        Option<unsafe extern "C" fn(CUvideodecoder, *mut CUVIDRECONFIGUREDECODERINFO) -> CUresult>,
}

/// The library name upstream GStreamer and NVIDIA's samples load.
pub const LIBRARY: &str = "libnvcuvid.so.1";

impl Nvcuvid {
    fn load() -> Result<Self, String> {
        // SAFETY: libnvcuvid has no load-time preconditions; every symbol is looked up with the
        // signature of the SDK headers.
        unsafe {
            let lib = libloading::Library::new(LIBRARY).map_err(|e| e.to_string())?;
            macro_rules! sym {
                ($name:ident) => {
                    *lib.get(concat!(stringify!($name), "\0").as_bytes())
                        .map_err(|e| format!("{LIBRARY}: {e}"))?
                };
            }
            // A symbol the library may lack: `None` then, and what needs it does without.
            macro_rules! optional_sym {
                ($name:ident) => {
                    lib.get(concat!(stringify!($name), "\0").as_bytes())
                        .ok()
                        .map(|symbol| *symbol)
                };
            }
            Ok(Nvcuvid {
                cuvidCreateVideoParser: sym!(cuvidCreateVideoParser),
                cuvidParseVideoData: sym!(cuvidParseVideoData),
                cuvidDestroyVideoParser: sym!(cuvidDestroyVideoParser),
                cuvidGetDecoderCaps: sym!(cuvidGetDecoderCaps),
                cuvidCreateDecoder: sym!(cuvidCreateDecoder),
                cuvidDestroyDecoder: sym!(cuvidDestroyDecoder),
                cuvidDecodePicture: sym!(cuvidDecodePicture),
                cuvidGetDecodeStatus: sym!(cuvidGetDecodeStatus),
                cuvidMapVideoFrame64: sym!(cuvidMapVideoFrame64),
                cuvidUnmapVideoFrame64: sym!(cuvidUnmapVideoFrame64),
                cuvidReconfigureDecoder: optional_sym!(cuvidReconfigureDecoder),
                _lib: lib,
            })
        }
    }

    /// The library, loaded on first use.
    pub fn get() -> Result<&'static Nvcuvid, String> {
        static NVCUVID: OnceLock<Result<Nvcuvid, String>> = OnceLock::new();
        NVCUVID
            .get_or_init(Nvcuvid::load)
            .as_ref()
            .map_err(Clone::clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    // Sizes and offsets measured by compiling the SDK 13.0 headers with gcc on x86-64 Linux.
    #[test]
    fn layouts_match_the_sdk_headers() {
        assert_eq!(size_of::<CUVIDEOFORMAT>(), 64);
        assert_eq!(offset_of!(CUVIDEOFORMAT, coded_width), 16);
        assert_eq!(offset_of!(CUVIDEOFORMAT, display_area), 24);
        assert_eq!(offset_of!(CUVIDEOFORMAT, chroma_format), 40);
        assert_eq!(offset_of!(CUVIDEOFORMAT, display_aspect_ratio_x), 48);
        assert_eq!(offset_of!(CUVIDEOFORMAT, video_signal_flags), 56);
        assert_eq!(offset_of!(CUVIDEOFORMAT, seqhdr_data_length), 60);

        assert_eq!(size_of::<CUVIDPARSERPARAMS>(), 136);
        assert_eq!(offset_of!(CUVIDPARSERPARAMS, pUserData), 40);
        assert_eq!(offset_of!(CUVIDPARSERPARAMS, pfnSequenceCallback), 48);
        assert_eq!(offset_of!(CUVIDPARSERPARAMS, pfnGetSEIMsg), 80);
        assert_eq!(offset_of!(CUVIDPARSERPARAMS, pExtVideoInfo), 128);

        assert_eq!(size_of::<CUVIDSOURCEDATAPACKET>(), 32);
        assert_eq!(offset_of!(CUVIDSOURCEDATAPACKET, payload), 16);
        assert_eq!(offset_of!(CUVIDSOURCEDATAPACKET, timestamp), 24);

        assert_eq!(size_of::<CUVIDPARSERDISPINFO>(), 24);
        assert_eq!(offset_of!(CUVIDPARSERDISPINFO, timestamp), 16);

        assert_eq!(size_of::<CUVIDDECODECAPS>(), 88);
        assert_eq!(offset_of!(CUVIDDECODECAPS, bIsSupported), 24);
        assert_eq!(offset_of!(CUVIDDECODECAPS, nOutputFormatMask), 26);
        assert_eq!(offset_of!(CUVIDDECODECAPS, nMaxWidth), 28);
        assert_eq!(offset_of!(CUVIDDECODECAPS, nMinWidth), 40);

        assert_eq!(size_of::<CUVIDDECODECREATEINFO>(), 176);
        assert_eq!(offset_of!(CUVIDDECODECREATEINFO, CodecType), 24);
        assert_eq!(offset_of!(CUVIDDECODECREATEINFO, ulCreationFlags), 32);
        assert_eq!(offset_of!(CUVIDDECODECREATEINFO, display_area), 80);
        assert_eq!(offset_of!(CUVIDDECODECREATEINFO, OutputFormat), 88);
        assert_eq!(offset_of!(CUVIDDECODECREATEINFO, ulTargetWidth), 96);
        assert_eq!(offset_of!(CUVIDDECODECREATEINFO, vidLock), 120);
        assert_eq!(offset_of!(CUVIDDECODECREATEINFO, target_rect), 128);
        assert_eq!(offset_of!(CUVIDDECODECREATEINFO, enableHistogram), 136);

        assert_eq!(size_of::<CUVIDRECONFIGUREDECODERINFO>(), 128);
        assert_eq!(offset_of!(CUVIDRECONFIGUREDECODERINFO, ulWidth), 0);
        assert_eq!(offset_of!(CUVIDRECONFIGUREDECODERINFO, ulHeight), 4);
        assert_eq!(offset_of!(CUVIDRECONFIGUREDECODERINFO, ulTargetWidth), 8);
        assert_eq!(offset_of!(CUVIDRECONFIGUREDECODERINFO, ulTargetHeight), 12);
        assert_eq!(
            offset_of!(CUVIDRECONFIGUREDECODERINFO, ulNumDecodeSurfaces),
            16
        );
        assert_eq!(offset_of!(CUVIDRECONFIGUREDECODERINFO, reserved1), 20);
        assert_eq!(offset_of!(CUVIDRECONFIGUREDECODERINFO, display_area), 68);
        assert_eq!(offset_of!(CUVIDRECONFIGUREDECODERINFO, target_rect), 76);
        assert_eq!(offset_of!(CUVIDRECONFIGUREDECODERINFO, reserved2), 84);
        assert_eq!(offset_of!(CUVIDDECODECREATEINFO, ulMaxWidth), 56);

        assert_eq!(size_of::<CUVIDPROCPARAMS>(), 264);
        assert_eq!(offset_of!(CUVIDPROCPARAMS, raw_input_dptr), 24);
        assert_eq!(offset_of!(CUVIDPROCPARAMS, output_stream), 56);
        assert_eq!(offset_of!(CUVIDPROCPARAMS, histogram_dptr), 248);

        assert_eq!(offset_of!(CUVIDPICPARAMS_HEAD, CurrPicIdx), 8);
        assert_eq!(offset_of!(CUVIDPICPARAMS_HEAD, second_field), 20);
        assert_eq!(offset_of!(CUVIDPICPARAMS_HEAD, ref_pic_flag), 56);
        assert_eq!(offset_of!(CUVIDPICPARAMS_HEAD, intra_pic_flag), 60);

        assert_eq!(size_of::<CUVIDGETDECODESTATUS>(), 192);
    }
}
