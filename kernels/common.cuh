// Types shared by every kernel module. Compiled with NVRTC: no CUDA runtime headers.
#pragma once

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

// Pixel format ids: the same order as `PixelFormat` in core/src/colorspace/format.rs.
enum PixelFormat {
    FMT_NV12 = 0,
    FMT_NV21 = 1,
    FMT_I420 = 2,
    FMT_YV12 = 3,
    FMT_P010 = 4,
    FMT_P016 = 5,
    FMT_I420_10 = 6,
    FMT_Y444 = 7,
    FMT_Y42B = 8,
    FMT_NV16 = 9,
    FMT_GRAY8 = 10,
    FMT_RGB = 11,
    FMT_BGR = 12,
    FMT_RGBA = 13,
    FMT_BGRA = 14,
    FMT_RGBX = 15,
    FMT_BGRX = 16,
    FMT_ARGB = 17,
    FMT_ABGR = 18,
    FMT_RGBP = 19,
    FMT_BGRP = 20,
};

// One image in device memory: up to three planes, each with its own row pitch in bytes.
// Matches `Surface` in core/src/kernels/cvtcolor.rs (repr(C)).
struct Surface {
    u64 plane[3];
    int stride[3];
    int width;
    int height;
    int format;
};

template <typename T>
__device__ __forceinline__ T* row_ptr(const Surface& s, int plane, int y)
{
    return reinterpret_cast<T*>(s.plane[plane] + (u64)y * (u64)s.stride[plane]);
}

// The pixel (x, y) this thread handles in a 2-D launch whose threads take `step` pixels each
// along x; false when it lies outside width x height.
__device__ __forceinline__ bool launch_pixel(int width, int height, int step, int& x, int& y)
{
    x = step * (blockIdx.x * blockDim.x + threadIdx.x);
    y = blockIdx.y * blockDim.y + threadIdx.y;
    return x < width && y < height;
}

__device__ __forceinline__ float clampf(float v, float lo, float hi)
{
    return fminf(fmaxf(v, lo), hi);
}

// Round to nearest and clamp to [0, max]; clamping first keeps the int conversion defined.
__device__ __forceinline__ u32 quantise(float v, float max)
{
    return (u32)__float2int_rn(clampf(v, 0.0f, max));
}
