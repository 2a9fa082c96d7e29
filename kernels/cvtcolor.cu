// Colour conversion between Y'CbCr, gray and RGB formats (docs/colour.md is the definition).
//
// `cvtcolor_generic` handles every format pair and size: one thread per 2x2 pixel block, so a
// subsampled output's chroma sample is the mean of the pixels it covers. The
// `cvtcolor_yuv420_to_*` kernels are the fast path for 8-bit 4:2:0 to RGB with vector loads and
// stores; the host picks them when the width is a multiple of 4, the height even and the planes
// aligned.
#include "common.cuh"

// out[i] = m[i][0] * c0 + m[i][1] * c1 + m[i][2] * c2 + m[i][3], in output code values.
struct Conversion {
    float m[3][4];
    float out_max;   // largest output code value: 2^depth - 1
    int out_shift;   // left shift of the code inside an output word (P010: 6)
    int in_shift;    // right shift that recovers an input code from its word
    float neutral;   // neutral chroma code of a gray input
};

struct Pixel {
    float c[3];  // Y'CbCr or RGB code values
    float a;     // alpha, 0..255
};

__device__ __forceinline__ float sample8(const Surface& s, int plane, int x, int y)
{
    return (float)row_ptr<const u8>(s, plane, y)[x];
}

__device__ __forceinline__ float sample16(const Surface& s, int plane, int x, int y, int shift)
{
    return (float)(row_ptr<const u16>(s, plane, y)[x] >> shift);
}

// Byte positions of R, G, B, A inside a packed pixel (A < 0: no alpha byte).
__device__ __forceinline__ void packed_layout(int format, int& bpp, int& r, int& g, int& b, int& a)
{
    switch (format) {
    case FMT_RGB: bpp = 3; r = 0; g = 1; b = 2; a = -1; break;
    case FMT_BGR: bpp = 3; r = 2; g = 1; b = 0; a = -1; break;
    case FMT_RGBA: case FMT_RGBX: bpp = 4; r = 0; g = 1; b = 2; a = 3; break;
    case FMT_BGRA: case FMT_BGRX: bpp = 4; r = 2; g = 1; b = 0; a = 3; break;
    case FMT_ARGB: bpp = 4; r = 1; g = 2; b = 3; a = 0; break;
    default: /* FMT_ABGR */ bpp = 4; r = 3; g = 2; b = 1; a = 0; break;
    }
}

__device__ Pixel read_pixel(const Surface& s, int x, int y, const Conversion& cv)
{
    Pixel p;
    p.a = 255.0f;
    const int cx = x >> 1, cy = y >> 1;
    switch (s.format) {
    case FMT_NV12: case FMT_NV21: {
        const int u = s.format == FMT_NV12 ? 0 : 1;
        p.c[0] = sample8(s, 0, x, y);
        p.c[1] = sample8(s, 1, 2 * cx + u, cy);
        p.c[2] = sample8(s, 1, 2 * cx + 1 - u, cy);
        break;
    }
    case FMT_NV16:
        p.c[0] = sample8(s, 0, x, y);
        p.c[1] = sample8(s, 1, 2 * cx, y);
        p.c[2] = sample8(s, 1, 2 * cx + 1, y);
        break;
    case FMT_P010: case FMT_P016:
        p.c[0] = sample16(s, 0, x, y, cv.in_shift);
        p.c[1] = sample16(s, 1, 2 * cx, cy, cv.in_shift);
        p.c[2] = sample16(s, 1, 2 * cx + 1, cy, cv.in_shift);
        break;
    case FMT_I420: case FMT_YV12: {
        const int u = s.format == FMT_I420 ? 1 : 2;
        p.c[0] = sample8(s, 0, x, y);
        p.c[1] = sample8(s, u, cx, cy);
        p.c[2] = sample8(s, 3 - u, cx, cy);
        break;
    }
    case FMT_I420_10:
        p.c[0] = sample16(s, 0, x, y, 0);
        p.c[1] = sample16(s, 1, cx, cy, 0);
        p.c[2] = sample16(s, 2, cx, cy, 0);
        break;
    case FMT_Y42B:
        p.c[0] = sample8(s, 0, x, y);
        p.c[1] = sample8(s, 1, cx, y);
        p.c[2] = sample8(s, 2, cx, y);
        break;
    case FMT_Y444:
        p.c[0] = sample8(s, 0, x, y);
        p.c[1] = sample8(s, 1, x, y);
        p.c[2] = sample8(s, 2, x, y);
        break;
    case FMT_GRAY8:
        p.c[0] = sample8(s, 0, x, y);
        p.c[1] = cv.neutral;
        p.c[2] = cv.neutral;
        break;
    case FMT_RGBP: case FMT_BGRP: {
        const int r = s.format == FMT_RGBP ? 0 : 2;
        p.c[0] = sample8(s, r, x, y);
        p.c[1] = sample8(s, 1, x, y);
        p.c[2] = sample8(s, 2 - r, x, y);
        break;
    }
    default: {
        int bpp, r, g, b, a;
        packed_layout(s.format, bpp, r, g, b, a);
        const u8* px = row_ptr<const u8>(s, 0, y) + x * bpp;
        p.c[0] = (float)px[r];
        p.c[1] = (float)px[g];
        p.c[2] = (float)px[b];
        if (a >= 0 && s.format != FMT_RGBX && s.format != FMT_BGRX)
            p.a = (float)px[a];
        break;
    }
    }
    return p;
}

__device__ __forceinline__ void store8(const Surface& s, int plane, int x, int y, u32 v)
{
    row_ptr<u8>(s, plane, y)[x] = (u8)v;
}

__device__ __forceinline__ void store16(const Surface& s, int plane, int x, int y, u32 v)
{
    row_ptr<u16>(s, plane, y)[x] = (u16)v;
}

// Writes what belongs to pixel (x, y) alone: luma, or every component of a 4:4:4 / RGB format.
__device__ void write_pixel(const Surface& d, int x, int y, const float o[3], float alpha,
                            const Conversion& cv)
{
    const float mx = cv.out_max;
    switch (d.format) {
    case FMT_NV12: case FMT_NV21: case FMT_NV16: case FMT_I420: case FMT_YV12:
    case FMT_Y42B: case FMT_GRAY8:
        store8(d, 0, x, y, quantise(o[0], mx));
        break;
    case FMT_P010: case FMT_P016: case FMT_I420_10:
        store16(d, 0, x, y, quantise(o[0], mx) << cv.out_shift);
        break;
    case FMT_Y444:
        store8(d, 0, x, y, quantise(o[0], mx));
        store8(d, 1, x, y, quantise(o[1], mx));
        store8(d, 2, x, y, quantise(o[2], mx));
        break;
    case FMT_RGBP: case FMT_BGRP: {
        const int r = d.format == FMT_RGBP ? 0 : 2;
        store8(d, r, x, y, quantise(o[0], mx));
        store8(d, 1, x, y, quantise(o[1], mx));
        store8(d, 2 - r, x, y, quantise(o[2], mx));
        break;
    }
    default: {
        int bpp, r, g, b, a;
        packed_layout(d.format, bpp, r, g, b, a);
        u8* px = row_ptr<u8>(d, 0, y) + x * bpp;
        px[r] = (u8)quantise(o[0], mx);
        px[g] = (u8)quantise(o[1], mx);
        px[b] = (u8)quantise(o[2], mx);
        if (d.format == FMT_RGBX || d.format == FMT_BGRX)
            px[a] = 255;
        else if (a >= 0)
            px[a] = (u8)quantise(alpha, 255.0f);
        break;
    }
    }
}

// Writes one chroma sample of a subsampled output at chroma position (cx, cy).
__device__ void write_chroma(const Surface& d, int cx, int cy, float cb, float cr,
                             const Conversion& cv)
{
    const u32 u = quantise(cb, cv.out_max), v = quantise(cr, cv.out_max);
    switch (d.format) {
    case FMT_NV12: case FMT_NV16:
        store8(d, 1, 2 * cx, cy, u);
        store8(d, 1, 2 * cx + 1, cy, v);
        break;
    case FMT_NV21:
        store8(d, 1, 2 * cx, cy, v);
        store8(d, 1, 2 * cx + 1, cy, u);
        break;
    case FMT_I420: case FMT_Y42B:
        store8(d, 1, cx, cy, u);
        store8(d, 2, cx, cy, v);
        break;
    case FMT_YV12:
        store8(d, 2, cx, cy, u);
        store8(d, 1, cx, cy, v);
        break;
    case FMT_P010: case FMT_P016:
        store16(d, 1, 2 * cx, cy, u << cv.out_shift);
        store16(d, 1, 2 * cx + 1, cy, v << cv.out_shift);
        break;
    case FMT_I420_10:
        store16(d, 1, cx, cy, u);
        store16(d, 2, cx, cy, v);
        break;
    default:
        break;
    }
}

// 0: chroma per pixel (or none), 1: 4:2:2, 2: 4:2:0.
__device__ __forceinline__ int chroma_mode(int format)
{
    switch (format) {
    case FMT_NV12: case FMT_NV21: case FMT_I420: case FMT_YV12:
    case FMT_P010: case FMT_P016: case FMT_I420_10:
        return 2;
    case FMT_Y42B: case FMT_NV16:
        return 1;
    default:
        return 0;
    }
}

extern "C" __global__ void cvtcolor_generic(Surface src, Surface dst, Conversion cv)
{
    const int bx = blockIdx.x * blockDim.x + threadIdx.x;
    const int by = blockIdx.y * blockDim.y + threadIdx.y;
    const int x0 = 2 * bx, y0 = 2 * by;
    if (x0 >= src.width || y0 >= src.height)
        return;

    const int mode = chroma_mode(dst.format);
    float cb_sum[2] = {0.0f, 0.0f}, cr_sum[2] = {0.0f, 0.0f};
    int count[2] = {0, 0};

    for (int dy = 0; dy < 2; ++dy) {
        const int y = y0 + dy;
        if (y >= src.height)
            break;
        for (int dx = 0; dx < 2; ++dx) {
            const int x = x0 + dx;
            if (x >= src.width)
                break;
            const Pixel p = read_pixel(src, x, y, cv);
            float o[3];
#pragma unroll
            for (int i = 0; i < 3; ++i)
                o[i] = fmaf(cv.m[i][0], p.c[0],
                            fmaf(cv.m[i][1], p.c[1], fmaf(cv.m[i][2], p.c[2], cv.m[i][3])));
            write_pixel(dst, x, y, o, p.a, cv);
            cb_sum[dy] += o[1];
            cr_sum[dy] += o[2];
            count[dy] += 1;
        }
    }

    if (mode == 2) {
        const float n = (float)(count[0] + count[1]);
        write_chroma(dst, bx, by, (cb_sum[0] + cb_sum[1]) / n, (cr_sum[0] + cr_sum[1]) / n, cv);
    } else if (mode == 1) {
        for (int dy = 0; dy < 2; ++dy)
            if (count[dy] > 0)
                write_chroma(dst, bx, y0 + dy, cb_sum[dy] / count[dy], cr_sum[dy] / count[dy], cv);
    }
}

// Fast path: 8-bit 4:2:0 (NV12, NV21, I420, YV12) to an 8-bit RGB-family format. One thread
// converts 4x2 pixels: two 32-bit luma loads, one 32-bit (semi-planar) or two 16-bit (planar)
// chroma loads, and one vector store per output row and plane.
template <int OUT>
__device__ __forceinline__ void yuv420_to_rgb8(const Surface& src, const Surface& dst,
                                               const Conversion& cv)
{
    const int qx = blockIdx.x * blockDim.x + threadIdx.x;
    const int qy = blockIdx.y * blockDim.y + threadIdx.y;
    const int x0 = 4 * qx, y0 = 2 * qy;
    if (x0 >= src.width || y0 >= src.height)
        return;

    u32 luma[2];
    luma[0] = *reinterpret_cast<const u32*>(row_ptr<const u8>(src, 0, y0) + x0);
    luma[1] = *reinterpret_cast<const u32*>(row_ptr<const u8>(src, 0, y0 + 1) + x0);

    float cb[2], cr[2];
    if (src.format == FMT_NV12 || src.format == FMT_NV21) {
        const u32 uv = *reinterpret_cast<const u32*>(row_ptr<const u8>(src, 1, qy) + x0);
        const int su = src.format == FMT_NV12 ? 0 : 8, sv = 8 - su;
        cb[0] = (float)((uv >> su) & 0xff);
        cr[0] = (float)((uv >> sv) & 0xff);
        cb[1] = (float)((uv >> (16 + su)) & 0xff);
        cr[1] = (float)((uv >> (16 + sv)) & 0xff);
    } else {
        const int up = src.format == FMT_I420 ? 1 : 2;
        const u32 u = *reinterpret_cast<const u16*>(row_ptr<const u8>(src, up, qy) + x0 / 2);
        const u32 v = *reinterpret_cast<const u16*>(row_ptr<const u8>(src, 3 - up, qy) + x0 / 2);
        cb[0] = (float)(u & 0xff);
        cb[1] = (float)(u >> 8);
        cr[0] = (float)(v & 0xff);
        cr[1] = (float)(v >> 8);
    }

    // The chroma part of each output component, shared by the 2x2 pixels of a chroma sample.
    float chroma[2][3];
#pragma unroll
    for (int k = 0; k < 2; ++k)
#pragma unroll
        for (int i = 0; i < 3; ++i)
            chroma[k][i] = fmaf(cv.m[i][1], cb[k], fmaf(cv.m[i][2], cr[k], cv.m[i][3]));

#pragma unroll
    for (int r = 0; r < 2; ++r) {
        u32 rgb[4][3];
#pragma unroll
        for (int p = 0; p < 4; ++p) {
            const float yv = (float)((luma[r] >> (8 * p)) & 0xff);
#pragma unroll
            for (int i = 0; i < 3; ++i)
                rgb[p][i] = quantise(fmaf(cv.m[i][0], yv, chroma[p >> 1][i]), 255.0f);
        }
        const int y = y0 + r;
        if (OUT == FMT_RGBP || OUT == FMT_BGRP) {
            const int first = OUT == FMT_RGBP ? 0 : 2;
#pragma unroll
            for (int i = 0; i < 3; ++i) {
                const int plane = i == 0 ? first : (i == 2 ? 2 - first : 1);
                const u32 word = rgb[0][i] | (rgb[1][i] << 8) | (rgb[2][i] << 16) | (rgb[3][i] << 24);
                *reinterpret_cast<u32*>(row_ptr<u8>(dst, plane, y) + x0) = word;
            }
        } else if (OUT == FMT_RGB || OUT == FMT_BGR) {
            const int r_i = OUT == FMT_RGB ? 0 : 2;
            u32 bytes[12];
#pragma unroll
            for (int p = 0; p < 4; ++p) {
                bytes[3 * p + 0] = rgb[p][r_i];
                bytes[3 * p + 1] = rgb[p][1];
                bytes[3 * p + 2] = rgb[p][2 - r_i];
            }
            u32* out = reinterpret_cast<u32*>(row_ptr<u8>(dst, 0, y) + 3 * x0);
#pragma unroll
            for (int w = 0; w < 3; ++w)
                out[w] = bytes[4 * w] | (bytes[4 * w + 1] << 8) | (bytes[4 * w + 2] << 16) |
                         (bytes[4 * w + 3] << 24);
        } else {
            // Byte positions of R, G, B, A within the 32-bit little-endian pixel.
            const int pr = OUT == FMT_RGBA || OUT == FMT_RGBX ? 0 : OUT == FMT_BGRA || OUT == FMT_BGRX ? 2 : OUT == FMT_ARGB ? 1 : 3;
            const int pg = OUT == FMT_ARGB ? 2 : OUT == FMT_ABGR ? 2 : 1;
            const int pb = OUT == FMT_RGBA || OUT == FMT_RGBX ? 2 : OUT == FMT_BGRA || OUT == FMT_BGRX ? 0 : OUT == FMT_ARGB ? 3 : 1;
            const int pa = OUT == FMT_ARGB || OUT == FMT_ABGR ? 0 : 3;
            u32 px[4];
#pragma unroll
            for (int p = 0; p < 4; ++p)
                px[p] = (rgb[p][0] << (8 * pr)) | (rgb[p][1] << (8 * pg)) | (rgb[p][2] << (8 * pb)) |
                        (0xffu << (8 * pa));
            uint4 v;
            v.x = px[0];
            v.y = px[1];
            v.z = px[2];
            v.w = px[3];
            *reinterpret_cast<uint4*>(row_ptr<u8>(dst, 0, y) + 4 * x0) = v;
        }
    }
}

#define YUV420_TO_RGB8(NAME, FMT)                                                              \
    extern "C" __global__ void cvtcolor_yuv420_to_##NAME(Surface src, Surface dst, Conversion cv) \
    {                                                                                          \
        yuv420_to_rgb8<FMT>(src, dst, cv);                                                     \
    }

YUV420_TO_RGB8(RGB, FMT_RGB)
YUV420_TO_RGB8(BGR, FMT_BGR)
YUV420_TO_RGB8(RGBA, FMT_RGBA)
YUV420_TO_RGB8(BGRA, FMT_BGRA)
YUV420_TO_RGB8(RGBx, FMT_RGBX)
YUV420_TO_RGB8(BGRx, FMT_BGRX)
YUV420_TO_RGB8(ARGB, FMT_ARGB)
YUV420_TO_RGB8(ABGR, FMT_ABGR)
YUV420_TO_RGB8(RGBP, FMT_RGBP)
YUV420_TO_RGB8(BGRP, FMT_BGRP)
