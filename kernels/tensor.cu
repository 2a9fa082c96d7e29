// Video frames to tensors and back (docs/tensors.md is the definition).
//
// video_to_tensor_<dtype>: y = (x * scale - mean[c]) / std[c] per channel, computed in float64
// as x * (scale / std) - mean / std with one fused multiply-add (its error, near 1e-16
// relative, is far below float32's rounding, applied once at the end); float16 and bfloat16
// round that float to nearest even; uint8 rounds to nearest and saturates.
// tensor_to_video_<dtype>: x = (y * std[c] + mean[c]) / scale, rounded and saturated.
// One thread handles every channel of one pixel.
#include "common.cuh"

enum DType { DT_U8 = 0, DT_F16 = 1, DT_BF16 = 2, DT_F32 = 3 };

// Where the samples of one tensor channel (or one frame component) are in the frame.
// Matches `SampleAccess` in core/src/kernels/tensor.rs.
struct SampleAccess {
    u64 plane;        // plane address
    int pitch;        // row pitch, bytes
    int offset;       // byte offset inside a pixel
    int pixel_bytes;  // bytes from one pixel to the next
    int present;      // 0: no such sample in the frame (alpha of RGB): the largest value
    int channel;      // tensor -> video: the tensor channel it comes from (-1: none)
    int unused;
};

// The frame side: one access per tensor channel (video -> tensor) or per frame component
// (tensor -> video). Matches `FrameAccess` in core/src/kernels/tensor.rs.
struct FrameAccess {
    SampleAccess sample[4];
    int count;         // tensor channels, or frame components
    int sample_bytes;  // 1 or 2
    int width;
    int height;
};

// The tensor and the per-channel affine map between samples and elements:
// video -> tensor: y = x * a[c] - b[c]; tensor -> video: x = y * a[c] + b[c].
// Matches `TensorMap` in core/src/kernels/tensor.rs.
struct TensorMap {
    u64 tensor;
    int channels;
    int planar;       // 1: NCHW, 0: NHWC
    double a[4];
    double b[4];
    double max_value; // largest sample value of the frame (255, 65535)
};

__device__ __forceinline__ u16 float_to_half(float f)
{
    const u32 x = __float_as_uint(f);
    const u32 sign = (x >> 16) & 0x8000u;
    const u32 abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u) {  // inf or NaN
        return (u16)(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
    }
    if (abs >= 0x477ff000u) {  // rounds to >= 65520: infinity
        return (u16)(sign | 0x7c00u);
    }
    if (abs < 0x38800000u) {   // below the smallest normal half: subnormal or zero
        // Value in units of 2^-24, rounded to nearest even.
        const u32 mant = (abs & 0x7fffffu) | 0x800000u;
        const int exp = (int)(abs >> 23);
        const int shift = 126 - exp;  // 2^-24 units = mant >> (shift - 0) with exp bias 127
        if (shift > 24) {
            return (u16)sign;
        }
        const u32 q = mant >> shift;
        const u32 rem = mant & ((1u << shift) - 1u);
        const u32 half = 1u << (shift - 1);
        const u32 r = q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
        return (u16)(sign | r);
    }
    // Normal: rebias the exponent and round 23 mantissa bits to 10.
    const u32 v = abs - ((127u - 15u) << 23);
    const u32 q = v >> 13;
    const u32 rem = v & 0x1fffu;
    const u32 r = q + ((rem > 0x1000u || (rem == 0x1000u && (q & 1u))) ? 1u : 0u);
    return (u16)(sign | r);
}

__device__ __forceinline__ float half_to_float(u16 h)
{
    const u32 sign = (u32)(h & 0x8000u) << 16;
    const u32 exp = (h >> 10) & 0x1fu;
    const u32 mant = h & 0x3ffu;
    if (exp == 0) {
        return __uint_as_float(sign) + (sign ? -1.0f : 1.0f) * (float)mant * 5.9604644775390625e-8f;
    }
    if (exp == 31) {
        return __uint_as_float(sign | 0x7f800000u | (mant << 13));
    }
    return __uint_as_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

__device__ __forceinline__ u16 float_to_bf16(float f)
{
    const u32 x = __float_as_uint(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        return (u16)((x >> 16) | 0x40u);  // quiet NaN
    }
    return (u16)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

__device__ __forceinline__ float bf16_to_float(u16 b)
{
    return __uint_as_float((u32)b << 16);
}

__device__ __forceinline__ u64 sample_address(const SampleAccess& s, int x, int y)
{
    return s.plane + (u64)y * (u64)s.pitch + (u64)x * (u64)s.pixel_bytes + (u64)s.offset;
}

__device__ __forceinline__ u64 element_index(const TensorMap& t, int c, int x, int y, int width, int height)
{
    if (t.planar) {
        return ((u64)c * (u64)height + (u64)y) * (u64)width + (u64)x;
    }
    return ((u64)y * (u64)width + (u64)x) * (u64)t.channels + (u64)c;
}

template <int DT>
__device__ __forceinline__ void store_element(u64 tensor, u64 i, double value)
{
    if (DT == DT_U8) {
        reinterpret_cast<u8*>(tensor)[i] = (u8)__double2int_rn(fmin(fmax(value, 0.0), 255.0));
    } else if (DT == DT_F16) {
        reinterpret_cast<u16*>(tensor)[i] = float_to_half(__double2float_rn(value));
    } else if (DT == DT_BF16) {
        reinterpret_cast<u16*>(tensor)[i] = float_to_bf16(__double2float_rn(value));
    } else {
        reinterpret_cast<float*>(tensor)[i] = __double2float_rn(value);
    }
}

template <int DT>
__device__ __forceinline__ double load_element(u64 tensor, u64 i)
{
    if (DT == DT_U8) return (double)__ldg(reinterpret_cast<const u8*>(tensor) + i);
    if (DT == DT_F16) return (double)half_to_float(__ldg(reinterpret_cast<const u16*>(tensor) + i));
    if (DT == DT_BF16) return (double)bf16_to_float(__ldg(reinterpret_cast<const u16*>(tensor) + i));
    return (double)__ldg(reinterpret_cast<const float*>(tensor) + i);
}

// The loops over channels are unrolled with constant indices, so the parameter structs stay in
// the constant bank instead of being copied to each thread's local memory.
template <int DT>
__device__ void video_to_tensor(const FrameAccess& f, const TensorMap& t, int x, int y)
{
#pragma unroll
    for (int c = 0; c < 4; c++) {
        if (c < f.count) {
            const SampleAccess& s = f.sample[c];
            double sample = t.max_value;
            if (s.present) {
                const u64 addr = sample_address(s, x, y);
                sample = f.sample_bytes == 2 ? (double)__ldg(reinterpret_cast<const u16*>(addr))
                                             : (double)__ldg(reinterpret_cast<const u8*>(addr));
            }
            store_element<DT>(t.tensor, element_index(t, c, x, y, f.width, f.height),
                              fma(sample, t.a[c], -t.b[c]));
        }
    }
}

template <int DT>
__device__ void tensor_to_video(const FrameAccess& f, const TensorMap& t, int x, int y)
{
#pragma unroll
    for (int k = 0; k < 4; k++) {
        if (k < f.count && f.sample[k].present) {
            const SampleAccess& s = f.sample[k];
            double sample = t.max_value;
            if (s.channel >= 0) {
                const double value = load_element<DT>(t.tensor, element_index(t, s.channel, x, y, f.width, f.height));
                // NaN becomes 0 (fmax/fmin return the other operand).
                sample = fmin(fmax(fma(value, t.a[k], t.b[k]), 0.0), t.max_value);
            }
            const u64 addr = sample_address(s, x, y);
            const u32 code = (u32)__double2int_rn(sample);
            if (f.sample_bytes == 2) {
                *reinterpret_cast<u16*>(addr) = (u16)code;
            } else {
                *reinterpret_cast<u8*>(addr) = (u8)code;
            }
        }
    }
}

// Byte q (0..15) of the 16 bytes held in lo (0..7) and hi (8..15), q known only at run time:
// shifts instead of an indexed array, which would live in local memory.
__device__ __forceinline__ u32 byte_at(u64 lo, u64 hi, int q)
{
    return (u32)(((q < 8) ? (lo >> (8 * q)) : (hi >> (8 * (q - 8)))) & 0xffu);
}

template <int DT>
__device__ __forceinline__ void store4(u64 tensor, u64 i, const double v[4])
{
    // i is a multiple of 4 and the tensor 16-byte aligned (checked on the host).
    if (DT == DT_F32) {
        reinterpret_cast<float4*>(tensor)[i / 4] =
            make_float4(__double2float_rn(v[0]), __double2float_rn(v[1]),
                        __double2float_rn(v[2]), __double2float_rn(v[3]));
    } else if (DT == DT_U8) {
        u32 word = 0;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            word |= (u32)__double2int_rn(fmin(fmax(v[j], 0.0), 255.0)) << (8 * j);
        }
        reinterpret_cast<u32*>(tensor)[i / 4] = word;
    } else {
        u32 h[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const float f = __double2float_rn(v[j]);
            h[j] = DT == DT_F16 ? float_to_half(f) : float_to_bf16(f);
        }
        reinterpret_cast<uint2*>(tensor)[i / 4] = make_uint2(h[0] | (h[1] << 16), h[2] | (h[3] << 16));
    }
}

// The fast path for packed 8-bit RGB-family frames (3 or 4 bytes per pixel, one plane, 4-byte
// aligned rows, width a multiple of 4) into NCHW tensors: one thread reads 4 pixels with word
// loads and writes 4 elements per channel with one vector store each.
template <int DT, int P>
__device__ void packed8_to_tensor_nchw(const FrameAccess& f, const TensorMap& t, int x, int y)
{
    const u32* row = reinterpret_cast<const u32*>(f.sample[0].plane + (u64)y * (u64)f.sample[0].pitch + (u64)x * P);
    u32 w[4];
#pragma unroll
    for (int k = 0; k < P; k++) {
        w[k] = __ldg(row + k);
    }
    if (P == 3) {
        w[3] = 0;
    }
    const u64 lo = (u64)w[0] | ((u64)w[1] << 32);
    const u64 hi = (u64)w[2] | ((u64)w[3] << 32);
#pragma unroll
    for (int c = 0; c < 4; c++) {
        if (c < f.count) {
            double v[4];
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const double sample = f.sample[c].present
                    ? (double)byte_at(lo, hi, j * P + f.sample[c].offset)
                    : t.max_value;
                v[j] = fma(sample, t.a[c], -t.b[c]);
            }
            store4<DT>(t.tensor, element_index(t, c, x, y, f.width, f.height), v);
        }
    }
}

// One kernel entry: `body` for the pixel(s) of each thread inside the frame.
#define TENSOR_ENTRY(entry, step, body)                                                         \
    extern "C" __global__ void entry(FrameAccess f, TensorMap t, int unused)                    \
    {                                                                                           \
        int x, y;                                                                               \
        if (launch_pixel(f.width, f.height, step, x, y)) {                                      \
            body(f, t, x, y);                                                                   \
        }                                                                                       \
    }

#define TENSOR_ENTRIES(name, DT)                                                                \
    TENSOR_ENTRY(video_to_tensor_##name, 1, video_to_tensor<DT>)                                \
    TENSOR_ENTRY(tensor_to_video_##name, 1, tensor_to_video<DT>)                                \
    TENSOR_ENTRY(packed3_to_tensor_nchw_##name, 4, (packed8_to_tensor_nchw<DT, 3>))             \
    TENSOR_ENTRY(packed4_to_tensor_nchw_##name, 4, (packed8_to_tensor_nchw<DT, 4>))

TENSOR_ENTRIES(uint8, DT_U8)
TENSOR_ENTRIES(float16, DT_F16)
TENSOR_ENTRIES(bfloat16, DT_BF16)
TENSOR_ENTRIES(float32, DT_F32)
