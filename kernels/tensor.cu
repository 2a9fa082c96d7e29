// Video frames to tensors and back (docs/tensors.md is the definition).
//
// video_to_tensor: y = (x * scale - mean[c]) / std[c] per channel, computed in double without
// contraction, so a float32 result is the float64 value correctly rounded; float16 and bfloat16
// round that float to nearest even; uint8 rounds to nearest and saturates.
// tensor_to_video: x = (y * std[c] + mean[c]) / scale, rounded and saturated to the sample range.
// One thread handles every channel of one pixel.
#include "common.cuh"

enum DType { DT_U8 = 0, DT_F16 = 1, DT_BF16 = 2, DT_F32 = 3 };

// Where the frame's components are. Matches `VideoAccess` in src/cuda/tensor.rs.
struct VideoAccess {
    u64 plane[4];      // plane address of each component (R, G, B, A or gray)
    int pitch[4];      // row pitch of that plane, bytes
    int offset[4];     // byte offset of the component inside a pixel
    int pixel_bytes[4];// bytes from one pixel to the next in that plane
    int present[4];    // 0: the frame has no such component (alpha of RGB)
    int sample_bytes;  // 1 or 2
    int width;
    int height;
};

// Matches `TensorParams` in src/cuda/tensor.rs.
struct TensorParams {
    u64 tensor;
    int channels;       // tensor channels, 1..4
    int planar;         // 1: NCHW (channel planes), 0: NHWC
    int dtype;
    int source[4];      // frame component of each tensor channel
    double scale;
    double mean[4];
    double std[4];
    double max_value;   // largest sample value of the frame (255, 65535)
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

__device__ __forceinline__ double read_component(const VideoAccess& v, int c, int x, int y)
{
    const u64 addr = v.plane[c] + (u64)y * (u64)v.pitch[c] + (u64)x * (u64)v.pixel_bytes[c] + v.offset[c];
    if (v.sample_bytes == 2) {
        return (double)*reinterpret_cast<const u16*>(addr);
    }
    return (double)*reinterpret_cast<const u8*>(addr);
}

__device__ __forceinline__ u64 element_index(const TensorParams& p, int c, int x, int y, int width, int height)
{
    if (p.planar) {
        return ((u64)c * (u64)height + (u64)y) * (u64)width + (u64)x;
    }
    return ((u64)y * (u64)width + (u64)x) * (u64)p.channels + (u64)c;
}

extern "C" __global__ void video_to_tensor(VideoAccess v, TensorParams p, int unused)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= v.width || y >= v.height) {
        return;
    }
    for (int c = 0; c < p.channels; c++) {
        const int comp = p.source[c];
        const double sample = v.present[comp] ? read_component(v, comp, x, y) : p.max_value;
        const double value = __ddiv_rn(__dsub_rn(__dmul_rn(sample, p.scale), p.mean[c]), p.std[c]);
        const u64 i = element_index(p, c, x, y, v.width, v.height);
        switch (p.dtype) {
        case DT_U8: {
            const double clamped = fmin(fmax(value, 0.0), 255.0);
            reinterpret_cast<u8*>(p.tensor)[i] = (u8)__double2int_rn(clamped);
            break;
        }
        case DT_F16:
            reinterpret_cast<u16*>(p.tensor)[i] = float_to_half(__double2float_rn(value));
            break;
        case DT_BF16:
            reinterpret_cast<u16*>(p.tensor)[i] = float_to_bf16(__double2float_rn(value));
            break;
        default:
            reinterpret_cast<float*>(p.tensor)[i] = __double2float_rn(value);
            break;
        }
    }
}

__device__ __forceinline__ double read_element(const TensorParams& p, u64 i)
{
    switch (p.dtype) {
    case DT_U8: return (double)reinterpret_cast<const u8*>(p.tensor)[i];
    case DT_F16: return (double)half_to_float(reinterpret_cast<const u16*>(p.tensor)[i]);
    case DT_BF16: return (double)bf16_to_float(reinterpret_cast<const u16*>(p.tensor)[i]);
    default: return (double)reinterpret_cast<const float*>(p.tensor)[i];
    }
}

__device__ __forceinline__ void write_component(const VideoAccess& v, int c, int x, int y, u32 value)
{
    const u64 addr = v.plane[c] + (u64)y * (u64)v.pitch[c] + (u64)x * (u64)v.pixel_bytes[c] + v.offset[c];
    if (v.sample_bytes == 2) {
        *reinterpret_cast<u16*>(addr) = (u16)value;
    } else {
        *reinterpret_cast<u8*>(addr) = (u8)value;
    }
}

// p.source[c] here is the tensor channel that frame component c comes from (-1: none, the
// component is written as the largest value, e.g. opaque alpha).
extern "C" __global__ void tensor_to_video(VideoAccess v, TensorParams p, int unused)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= v.width || y >= v.height) {
        return;
    }
    for (int comp = 0; comp < 4; comp++) {
        if (!v.present[comp]) {
            continue;
        }
        const int c = p.source[comp];
        double sample = p.max_value;
        if (c >= 0) {
            const double value = read_element(p, element_index(p, c, x, y, v.width, v.height));
            sample = __ddiv_rn(__dadd_rn(__dmul_rn(value, p.std[c]), p.mean[c]), p.scale);
            // NaN becomes 0.
            sample = value == value ? fmin(fmax(sample, 0.0), p.max_value) : 0.0;
        }
        write_component(v, comp, x, y, (u32)__double2int_rn(sample));
    }
}
