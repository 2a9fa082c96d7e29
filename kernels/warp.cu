// Affine warp of one image plane (docs/geometry.md is the definition).
//
// Every output pixel (x, y) reads the source at (sx, sy) = M * (x, y, 1), pixel centres at
// integer coordinates, as OpenCV's warpAffine with WARP_INVERSE_MAP does. The coordinates are
// computed in float as M[0] * x + (M[1] * y + M[2]) without contraction into FMAs, so nearest
// neighbour picks the same pixels as OpenCV. One thread computes every channel of one pixel.
//
// Entries are named warp_<interpolation>_<sample type>_c<channels>; the host launches one per
// plane (NV12 is a 1-channel luma plane and a 2-channel chroma plane with its own matrix).
#include "common.cuh"

enum BorderMode {
    BORDER_CONSTANT = 0,
    BORDER_REPLICATE = 1,
    BORDER_REFLECT = 2,     // fedcba|abcdefgh|hgfedcb
    BORDER_REFLECT_101 = 3, // gfedcb|abcdefgh|gfedcba
    BORDER_WRAP = 4,        // cdefgh|abcdefgh|abcdefg
};

// One plane of 1-4 interleaved channels. Matches `WarpPlane` in core/src/kernels/warp.rs.
struct WarpPlane {
    u64 addr;
    int pitch;
    int width;
    int height;
};

// Matches `WarpParams` in core/src/kernels/warp.rs.
struct WarpParams {
    float m[6];       // destination -> source
    float border[4];  // constant border value per channel, in sample code values
    int border_mode;
    int shift;        // left shift of a code value inside its word (P010: 6)
    float max_value;  // largest code value
    int word_rows;    // 8-bit source with 4-byte aligned plane and pitch: rows may be read in words
};

// Source coordinates of (x, y): no FMA contraction, as OpenCV computes them.
__device__ __forceinline__ void source_coords(const WarpParams& p, int x, int y, float& sx, float& sy)
{
    const float fx = (float)x, fy = (float)y;
    sx = __fadd_rn(__fmul_rn(p.m[0], fx), __fadd_rn(__fmul_rn(p.m[1], fy), p.m[2]));
    sy = __fadd_rn(__fmul_rn(p.m[3], fx), __fadd_rn(__fmul_rn(p.m[4], fy), p.m[5]));
    // Far outside is outside; keeps the integer conversions below defined.
    sx = clampf(sx, -16777216.0f, 16777216.0f);
    sy = clampf(sy, -16777216.0f, 16777216.0f);
}

// Maps an index outside [0, n) into it, for the non-constant border modes.
__device__ __forceinline__ int border_index(int i, int n, int mode)
{
    if (i >= 0 && i < n) {
        return i;
    }
    switch (mode) {
    case BORDER_REPLICATE:
        return i < 0 ? 0 : n - 1;
    case BORDER_WRAP: {
        const int r = i % n;
        return r < 0 ? r + n : r;
    }
    case BORDER_REFLECT: {
        const int period = 2 * n;
        int r = i % period;
        if (r < 0) r += period;
        return r < n ? r : period - 1 - r;
    }
    default: { // BORDER_REFLECT_101
        if (n == 1) return 0;
        const int period = 2 * n - 2;
        int r = i % period;
        if (r < 0) r += period;
        return r < n ? r : period - r;
    }
    }
}

template <typename T, int C>
__device__ __forceinline__ void load_inside(const WarpPlane& s, int x, int y, int shift, float v[C])
{
    // Through the read-only data cache: neighbouring threads read overlapping neighbourhoods.
    const T* px = reinterpret_cast<const T*>(s.addr + (u64)y * (u64)s.pitch) + (u64)x * C;
#pragma unroll
    for (int c = 0; c < C; c++) {
        v[c] = (float)(__ldg(px + c) >> shift);
    }
}

// Taps x .. x + N - 1 of row y, all inside the source. For 8-bit planes whose rows allow it,
// the N * C bytes are read as aligned 32-bit words and picked apart with funnel shifts: a
// cubic row of RGB is 4 loads instead of 12.
template <typename T, int C, int N>
__device__ __forceinline__ void load_row(const WarpPlane& s, const WarpParams& p, int x, int y, float v[N][C])
{
    if (sizeof(T) == 1) {  // resolved at compile time
        const int ALIGNED = (N * C + 3) / 4;  // words holding the bytes once realigned
        const int LOADED = (N * C + 3) / 4 + 1;  // words covering them at any misalignment
        const int offset = x * C;
        if (p.word_rows && (offset & ~3) + 4 * LOADED <= s.pitch) {
            const u64 start = s.addr + (u64)y * (u64)s.pitch + (u64)offset;
            const u32* words = reinterpret_cast<const u32*>(start & ~3ull);
            const u32 shift = (u32)(start & 3u) * 8u;
            u32 w[LOADED];
#pragma unroll
            for (int k = 0; k < LOADED; k++) w[k] = __ldg(words + k);
            u32 o[ALIGNED];
#pragma unroll
            for (int k = 0; k < ALIGNED; k++) o[k] = __funnelshift_r(w[k], w[k + 1], shift);
#pragma unroll
            for (int t = 0; t < N; t++) {
#pragma unroll
                for (int c = 0; c < C; c++) {
                    const int b = t * C + c;
                    v[t][c] = (float)((o[b / 4] >> (8 * (b % 4))) & 0xffu);
                }
            }
            return;
        }
    }
#pragma unroll
    for (int t = 0; t < N; t++) load_inside<T, C>(s, x + t, y, p.shift, v[t]);
}

// The source sample at (x, y), whatever the border mode.
template <typename T, int C>
__device__ __forceinline__ void fetch(const WarpPlane& s, const WarpParams& p, int x, int y, float v[C])
{
    if (x >= 0 && y >= 0 && x < s.width && y < s.height) {
        load_inside<T, C>(s, x, y, p.shift, v);
    } else if (p.border_mode == BORDER_CONSTANT) {
#pragma unroll
        for (int c = 0; c < C; c++) {
            v[c] = p.border[c];
        }
    } else {
        load_inside<T, C>(s, border_index(x, s.width, p.border_mode),
                          border_index(y, s.height, p.border_mode), p.shift, v);
    }
}

template <typename T, int C>
__device__ __forceinline__ void store(const WarpPlane& d, const WarpParams& p, int x, int y, const float v[C])
{
    T* px = reinterpret_cast<T*>(d.addr + (u64)y * (u64)d.pitch) + (u64)x * C;
#pragma unroll
    for (int c = 0; c < C; c++) {
        px[c] = (T)(quantise(v[c], p.max_value) << p.shift);
    }
}

template <typename T, int C>
__device__ void warp_nearest(const WarpPlane& src, const WarpPlane& dst, const WarpParams& p, int x, int y)
{
    float sx, sy;
    source_coords(p, x, y, sx, sy);
    float v[C];
    fetch<T, C>(src, p, __float2int_rn(sx), __float2int_rn(sy), v);
    store<T, C>(dst, p, x, y, v);
}

template <typename T, int C>
__device__ void warp_linear(const WarpPlane& src, const WarpPlane& dst, const WarpParams& p, int x, int y)
{
    float sx, sy;
    source_coords(p, x, y, sx, sy);
    const float x0f = floorf(sx), y0f = floorf(sy);
    const float fx = sx - x0f, fy = sy - y0f;
    const int x0 = (int)x0f, y0 = (int)y0f;
    float upper[2][C], lower[2][C], v[C];
    if (x0 >= 0 && y0 >= 0 && x0 + 1 < src.width && y0 + 1 < src.height) {
        load_row<T, C, 2>(src, p, x0, y0, upper);
        load_row<T, C, 2>(src, p, x0, y0 + 1, lower);
    } else {
        fetch<T, C>(src, p, x0, y0, upper[0]);
        fetch<T, C>(src, p, x0 + 1, y0, upper[1]);
        fetch<T, C>(src, p, x0, y0 + 1, lower[0]);
        fetch<T, C>(src, p, x0 + 1, y0 + 1, lower[1]);
    }
#pragma unroll
    for (int k = 0; k < C; k++) {
        const float top = upper[0][k] + fx * (upper[1][k] - upper[0][k]);
        const float bottom = lower[0][k] + fx * (lower[1][k] - lower[0][k]);
        v[k] = top + fy * (bottom - top);
    }
    store<T, C>(dst, p, x, y, v);
}

// Keys' cubic convolution weights with a = -0.75 (OpenCV's) for taps at -1, 0, 1, 2.
__device__ __forceinline__ void cubic_weights(float t, float w[4])
{
    const float A = -0.75f;
    w[0] = ((A * (t + 1.0f) - 5.0f * A) * (t + 1.0f) + 8.0f * A) * (t + 1.0f) - 4.0f * A;
    w[1] = ((A + 2.0f) * t - (A + 3.0f)) * t * t + 1.0f;
    w[2] = ((A + 2.0f) * (1.0f - t) - (A + 3.0f)) * (1.0f - t) * (1.0f - t) + 1.0f;
    w[3] = 1.0f - w[0] - w[1] - w[2];
}

template <typename T, int C>
__device__ void warp_cubic(const WarpPlane& src, const WarpPlane& dst, const WarpParams& p, int x, int y)
{
    float sx, sy;
    source_coords(p, x, y, sx, sy);
    // As OpenCV 5 does for cubic: far outside, the coordinate is held at a distance of about one
    // image size, which decides what the reflect and wrap borders read there.
    const float reach_x = (float)max(src.width, 16), reach_y = (float)max(src.height, 16);
    sx = clampf(sx, -reach_x, 2.0f * reach_x);
    sy = clampf(sy, -reach_y, 2.0f * reach_y);
    const float x0f = floorf(sx), y0f = floorf(sy);
    const int x0 = (int)x0f, y0 = (int)y0f;
    float wx[4], wy[4];
    cubic_weights(sx - x0f, wx);
    cubic_weights(sy - y0f, wy);
    const bool inside = x0 >= 1 && y0 >= 1 && x0 + 2 < src.width && y0 + 2 < src.height;
    float v[C];
#pragma unroll
    for (int k = 0; k < C; k++) v[k] = 0.0f;
#pragma unroll
    for (int j = 0; j < 4; j++) {
        float taps[4][C];
        if (inside) {
            load_row<T, C, 4>(src, p, x0 - 1, y0 + j - 1, taps);
        } else {
#pragma unroll
            for (int i = 0; i < 4; i++) fetch<T, C>(src, p, x0 + i - 1, y0 + j - 1, taps[i]);
        }
        float row[C];
#pragma unroll
        for (int k = 0; k < C; k++) row[k] = 0.0f;
#pragma unroll
        for (int i = 0; i < 4; i++) {
#pragma unroll
            for (int k = 0; k < C; k++) row[k] += wx[i] * taps[i][k];
        }
#pragma unroll
        for (int k = 0; k < C; k++) v[k] += wy[j] * row[k];
    }
    store<T, C>(dst, p, x, y, v);
}

// Area average for an axis-aligned matrix that shrinks (|m[0]| >= 1 and |m[4]| >= 1): the mean
// of the source over the destination pixel's footprint, each source pixel weighted by the part
// of it the footprint covers (cv2.resize with INTER_AREA).
template <typename T, int C>
__device__ void warp_area(const WarpPlane& src, const WarpPlane& dst, const WarpParams& p, int x, int y)
{
    const float scale_x = fabsf(p.m[0]), scale_y = fabsf(p.m[4]);
    // Footprint in edge coordinates, where source pixel i covers [i, i + 1).
    const float cx = p.m[0] * (float)x + p.m[2] + 0.5f;
    const float cy = p.m[4] * (float)y + p.m[5] + 0.5f;
    const float x_lo = cx - 0.5f * scale_x, x_hi = cx + 0.5f * scale_x;
    const float y_lo = cy - 0.5f * scale_y, y_hi = cy + 0.5f * scale_y;
    const int i0 = (int)floorf(x_lo), i1 = (int)ceilf(x_hi);
    const int j0 = (int)floorf(y_lo), j1 = (int)ceilf(y_hi);
    float v[C];
#pragma unroll
    for (int k = 0; k < C; k++) v[k] = 0.0f;
    for (int j = j0; j < j1; j++) {
        const float wy = fminf(y_hi, (float)(j + 1)) - fmaxf(y_lo, (float)j);
        float row[C];
#pragma unroll
        for (int k = 0; k < C; k++) row[k] = 0.0f;
        for (int i = i0; i < i1; i++) {
            const float wx = fminf(x_hi, (float)(i + 1)) - fmaxf(x_lo, (float)i);
            float s[C];
            fetch<T, C>(src, p, i, j, s);
#pragma unroll
            for (int k = 0; k < C; k++) row[k] += wx * s[k];
        }
#pragma unroll
        for (int k = 0; k < C; k++) v[k] += wy * row[k];
    }
    const float norm = 1.0f / (scale_x * scale_y);
#pragma unroll
    for (int k = 0; k < C; k++) v[k] *= norm;
    store<T, C>(dst, p, x, y, v);
}

#define WARP_ENTRY(interp, type, T, C)                                                          \
    extern "C" __global__ void warp_##interp##_##type##_c##C(WarpPlane src, WarpPlane dst,      \
                                                             WarpParams p)                      \
    {                                                                                           \
        int x, y;                                                                               \
        if (launch_pixel(dst.width, dst.height, 1, x, y)) {                                     \
            warp_##interp<T, C>(src, dst, p, x, y);                                             \
        }                                                                                       \
    }

#define WARP_ENTRIES(interp)                                                                    \
    WARP_ENTRY(interp, u8, u8, 1)                                                               \
    WARP_ENTRY(interp, u8, u8, 2)                                                               \
    WARP_ENTRY(interp, u8, u8, 3)                                                               \
    WARP_ENTRY(interp, u8, u8, 4)                                                               \
    WARP_ENTRY(interp, u16, u16, 1)                                                             \
    WARP_ENTRY(interp, u16, u16, 2)

WARP_ENTRIES(nearest)
WARP_ENTRIES(linear)
WARP_ENTRIES(cubic)
WARP_ENTRIES(area)
