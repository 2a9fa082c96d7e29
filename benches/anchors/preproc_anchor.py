#!/usr/bin/env python3
"""Anchor for preproc-bench: CV-CUDA and PyTorch doing what our preprocessing kernels do.

Run by ``preproc-bench --anchor "python3 benches/anchors/preproc_anchor.py"`` (or by hand) on a
machine with an NVIDIA GPU, PyTorch with CUDA, numpy and, optionally, CV-CUDA (the
``cvcuda-cu13`` wheel; scripts/stage-bench-anchors and scripts/install-bench-anchors bring it to
a machine without a package index and install it in /tmp/cvcuda-site, which this script adds to
``sys.path`` by itself when ``import cvcuda`` fails; $CVCUDA_SITE names another folder).

Output (stdout), one line per measurement::

    # device: <GPU name>, torch <version>, cvcuda <version or "unavailable">
    # ...more comment lines: the timing method, and "# check" lines (below)
    ROW<TAB>LIBRARY<TAB>MICROSECONDS_PER_FRAME

MICROSECONDS_PER_FRAME is a number, or ``NA (reason)`` when that library could not run that row
(e.g. cvcuda not importable: every CV-CUDA line says so, and the PyTorch lines are still
measured). Lines are printed (and flushed) as soon as they are measured.

Rows (every input is random uint8 made once on the GPU, outside the timing; batch 1):

``warp_1080p_224_linear``, ``warp_1080p_224_cubic``
    RGB 1920x1080 (HWC) stretched to 224x224 as an affine warp. The matrix maps output pixel
    centres to input ones (the inverse map, pixel centres at integer coordinates):
    ``x_src = sx*x + (sx/2 - 0.5)``, ``sx = 1920/224``, and ``y`` likewise with ``1080/224``.
``warp_1080p_1080p_linear``, ``warp_1080p_1080p_cubic``
    RGB 1920x1080 to 1920x1080, the inverse map being a rotation by 10 degrees about the image
    centre ``((W-1)/2, (H-1)/2)``. Constant (zero) border in every warp.

    cvcuda:  ``cvcuda.warp_affine_into(dst, src, xform, flags)`` on NHWC uint8 tensors, xform a
             2x3 float32 numpy array, ``flags = Interp.LINEAR|CUBIC | Interp.WARP_INVERSE_MAP``
             (xform is used as the output->input map), ``border_mode=Border.CONSTANT``
             (border value 0, the default).
    torch:   the whole job as a PyTorch user writes it: uint8 NHWC -> float32 NCHW (a permuted
             view and ``.float()``), ``F.grid_sample`` (mode 'bilinear' / 'bicubic',
             padding_mode 'zeros', align_corners=False) with a grid precomputed from the same
             matrix, then ``round().clamp(0, 255)``, uint8 and back to contiguous NHWC.
             (CV-CUDA's cubic kernel and PyTorch's bicubic use different cubic coefficients,
             so their cubic outputs differ by a few levels; the cost is comparable.)

``convert_224_f32_nchw``, ``convert_1080p_f32_nchw``
    RGB uint8 HWC (224x224, resp. 1920x1080) to a float32 NCHW tensor,
    ``y = (x/255 - mean) / std`` with ImageNet mean (0.485, 0.456, 0.406), std (0.229, 0.224,
    0.225).

    cvcuda:        the way CV-CUDA's own samples do it, with preallocated outputs:
                   ``convertto_into`` (u8 -> f32, scale 1/255), ``normalize_into`` (base = mean,
                   scale = std, ``NormalizeFlags.SCALE_IS_STDDEV``), ``reformat_into``
                   (NHWC -> NCHW): three kernels, two float32 intermediates.
    cvcuda-fused:  the one fused operator, ``crop_flip_normalize_reformat_into`` (a batch of one
                   image, crop = whole image, no flip, base = 255*mean, scale = 1/(255*std)).
    torch:         ``x.permute(0, 3, 1, 2).contiguous().float().div(255).sub(mean).div(std)``
                   (torchvision's to_tensor + normalize, as a PyTorch user writes it).

``cvtcolor_nv12_rgb_1080p``
    NV12 1920x1080 to RGB uint8.

    torch:             BT.709 limited range in float tensor arithmetic: chroma upsampled by
                       nearest ``repeat_interleave``, offsets (16, 128, 128) subtracted, a 3x3
                       matrix product, ``round().clamp(0, 255)``, uint8.
    cvcuda(bt601):     ``cvtcolor_into(code=ColorConversion.YUV2RGB_NV12)``. CV-CUDA's cvtcolor
                       has no BT.709 code: its NV12 conversions are OpenCV's BT.601 limited
                       range. Same amount of work as BT.709 limited, other coefficients.
    cvcuda-adv709:     ``advcvtcolor_into(code=YUV2RGB_NV12, spec=ColorSpec.BT709)``. The
                       operator that takes a colour standard; it uses BT.709 coefficients but
                       full-range arithmetic (no Y-16, no 255/219 scaling) for BT709 and
                       BT709_ER alike, so it is not bit-for-bit our conversion either.

Timing: everything runs on one CUDA stream (a torch.cuda.Stream; CV-CUDA gets the same stream
through ``cvcuda.as_stream``, passed as ``stream=`` to every call). After ``--warmup`` (20)
calls, ``--rounds`` (5) rounds of ``--iterations`` (500) back-to-back calls are each timed with
a pair of ``torch.cuda.Event`` recorded on that stream; the figure is the median round time
divided by the number of calls. Outputs are allocated once outside the timing for CV-CUDA
(``*_into`` operators); PyTorch allocates from its caching allocator as its users do. The
calls are issued from Python, so for the smallest rows the figure can be the rate at which
Python issues them rather than GPU time.

Checks: after a row is timed, each library's last output is compared with a reference computed
with PyTorch (the torch row's output, or for the CV-CUDA colour conversions a PyTorch
conversion with that library's coefficients) and printed as a ``# check`` comment line, to show
that both libraries did the same job (``--no-check`` skips this).
"""

import argparse
import math
import os
import statistics
import sys

ROWS = [
    "warp_1080p_224_linear",
    "warp_1080p_224_cubic",
    "warp_1080p_1080p_linear",
    "warp_1080p_1080p_cubic",
    "convert_224_f32_nchw",
    "convert_1080p_f32_nchw",
    "cvtcolor_nv12_rgb_1080p",
]

# The CV-CUDA library names each row reports (the PyTorch one is always "torch").
CVCUDA_LIBRARIES = {
    "warp_1080p_224_linear": ["cvcuda"],
    "warp_1080p_224_cubic": ["cvcuda"],
    "warp_1080p_1080p_linear": ["cvcuda"],
    "warp_1080p_1080p_cubic": ["cvcuda"],
    "convert_224_f32_nchw": ["cvcuda", "cvcuda-fused"],
    "convert_1080p_f32_nchw": ["cvcuda", "cvcuda-fused"],
    "cvtcolor_nv12_rgb_1080p": ["cvcuda(bt601)", "cvcuda-adv709"],
}

HD = (1920, 1080)  # (width, height)
SMALL = (224, 224)
ROTATION_DEGREES = 10.0
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# (Kr, Kb) of the colour standards.
BT601 = (0.299, 0.114)
BT709 = (0.2126, 0.0722)


def parse_args():
    parser = argparse.ArgumentParser(
        description="CV-CUDA and PyTorch figures for preproc-bench's rows "
        "(ROW<TAB>LIBRARY<TAB>US lines).",
    )
    parser.add_argument("--iterations", type=int, default=500, help="calls per timed round (500)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds; the median is reported (5)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls first (20)")
    parser.add_argument("--device", type=int, default=0, help="CUDA device index (0)")
    parser.add_argument(
        "--rows",
        default=",".join(ROWS),
        help="comma-separated rows to measure (default: all): " + ", ".join(ROWS),
    )
    parser.add_argument(
        "--libraries",
        default="",
        help="comma-separated libraries to measure (default: all): torch, cvcuda, cvcuda-fused, "
        "cvcuda(bt601), cvcuda-adv709",
    )
    parser.add_argument("--no-check", action="store_true", help="skip the '# check' comparisons")
    args = parser.parse_args()
    if args.iterations < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--iterations and --rounds must be >= 1, --warmup >= 0")
    rows = [r for r in args.rows.split(",") if r]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows: {', '.join(unknown)} (known: {', '.join(ROWS)})")
    args.rows = rows
    args.libraries = {lib for lib in args.libraries.split(",") if lib}
    return args


def one_line(text, limit=160):
    """A reason fit for the third field of an output line: one line, no tabs, not too long."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def emit(row, library, value):
    if isinstance(value, float):
        value = f"{value:.2f}"
    print(f"{row}\t{library}\t{value}", flush=True)


def comment(text):
    print(f"# {text}", flush=True)


def import_cvcuda():
    """(module, None) or (None, reason). Falls back to $CVCUDA_SITE or /tmp/cvcuda-site."""
    try:
        import cvcuda

        return cvcuda, None
    except Exception as e:  # ImportError, or the extension failing to load
        error = e
    site = os.environ.get("CVCUDA_SITE", "/tmp/cvcuda-site")
    if os.path.isdir(os.path.join(site, "cvcuda")) and site not in sys.path:
        sys.path.append(site)
        try:
            import cvcuda

            return cvcuda, None
        except Exception as e:
            error = e
    return None, f"cvcuda not importable: {type(error).__name__}: {error}"


# --- geometry ---------------------------------------------------------------------------------


def stretch_matrix(src, dst):
    """Inverse map (output pixel -> input pixel, centres at integers) of a stretch src -> dst."""
    sx = src[0] / dst[0]
    sy = src[1] / dst[1]
    return [[sx, 0.0, sx / 2 - 0.5], [0.0, sy, sy / 2 - 0.5]]


def rotation_matrix(size, degrees):
    """Inverse map: rotation by `degrees` about the centre ((W-1)/2, (H-1)/2) of a size image."""
    c = math.cos(math.radians(degrees))
    s = math.sin(math.radians(degrees))
    cx = (size[0] - 1) / 2
    cy = (size[1] - 1) / 2
    return [[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy]]


def sampling_grid(torch, matrix, src, dst, device):
    """grid_sample grid (1, H_out, W_out, 2) for the inverse map `matrix`, align_corners=False.

    With align_corners=False the centre of input pixel i (of n) lies at (2*i + 1)/n - 1.
    """
    ys, xs = torch.meshgrid(
        torch.arange(dst[1], dtype=torch.float64, device=device),
        torch.arange(dst[0], dtype=torch.float64, device=device),
        indexing="ij",
    )
    (a, b, c), (d, e, f) = matrix
    x_src = a * xs + b * ys + c
    y_src = d * xs + e * ys + f
    gx = (2 * x_src + 1) / src[0] - 1
    gy = (2 * y_src + 1) / src[1] - 1
    return torch.stack([gx, gy], dim=-1).unsqueeze(0).to(torch.float32).contiguous()


def yuv_to_rgb_matrix(torch, kr_kb, limited, device):
    """(3x3 matrix M, offsets) with RGB = M @ (YUV - offsets), for a standard's (Kr, Kb)."""
    kr, kb = kr_kb
    kg = 1 - kr - kb
    ys, cs = (255 / 219, 255 / 224) if limited else (1.0, 1.0)
    m = [
        [ys, 0.0, cs * 2 * (1 - kr)],
        [ys, -cs * 2 * (1 - kb) * kb / kg, -cs * 2 * (1 - kr) * kr / kg],
        [ys, cs * 2 * (1 - kb), 0.0],
    ]
    offsets = [16.0 if limited else 0.0, 128.0, 128.0]
    return (
        torch.tensor(m, dtype=torch.float32, device=device),
        torch.tensor(offsets, dtype=torch.float32, device=device),
    )


# --- the jobs ---------------------------------------------------------------------------------
# Each job builder returns (run, result): run() does one frame's work (what is timed), result()
# gives the last output as a torch tensor (for the checks).


def torch_warp(torch, src, grid, mode):
    import torch.nn.functional as F

    last = [None]

    def run():
        x = src.permute(0, 3, 1, 2).float()  # uint8 NHWC -> float32 NCHW
        y = F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)
        last[0] = y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()

    return run, lambda: last[0]


def cvcuda_warp(torch, cvcuda, cvstream, src, matrix, dst_size, interp):
    dst = torch.empty((1, dst_size[1], dst_size[0], 3), dtype=torch.uint8, device=src.device)
    src_cv = cvcuda.as_tensor(src, "NHWC")
    dst_cv = cvcuda.as_tensor(dst, "NHWC")
    import numpy as np

    xform = np.asarray(matrix, dtype=np.float32)  # 2x3, output -> input (WARP_INVERSE_MAP)
    flags = int(interp | cvcuda.Interp.WARP_INVERSE_MAP)
    border = cvcuda.Border.CONSTANT

    def run():
        cvcuda.warp_affine_into(
            dst=dst_cv, src=src_cv, xform=xform, flags=flags, border_mode=border, stream=cvstream
        )

    run.keep = (src, dst)  # what the CV-CUDA tensors wrap
    return run, lambda: dst


def torch_convert(torch, src, mean, std):
    last = [None]

    def run():
        last[0] = src.permute(0, 3, 1, 2).contiguous().float().div(255).sub(mean).div(std)

    return run, lambda: last[0]


def cvcuda_convert(torch, cvcuda, cvstream, src, mean, std):
    n, h, w, c = src.shape
    f32 = dict(dtype=torch.float32, device=src.device)
    scaled = torch.empty((n, h, w, c), **f32)
    normalized = torch.empty((n, h, w, c), **f32)
    out = torch.empty((n, c, h, w), **f32)
    src_cv = cvcuda.as_tensor(src, "NHWC")
    scaled_cv = cvcuda.as_tensor(scaled, "NHWC")
    normalized_cv = cvcuda.as_tensor(normalized, "NHWC")
    out_cv = cvcuda.as_tensor(out, "NCHW")
    mean_t = mean.reshape(1, 1, 1, c).contiguous()
    std_t = std.reshape(1, 1, 1, c).contiguous()
    mean_cv = cvcuda.as_tensor(mean_t, "NHWC")
    std_cv = cvcuda.as_tensor(std_t, "NHWC")
    flags = int(cvcuda.NormalizeFlags.SCALE_IS_STDDEV)

    def run():
        cvcuda.convertto_into(dst=scaled_cv, src=src_cv, scale=1.0 / 255.0, offset=0.0, stream=cvstream)
        cvcuda.normalize_into(
            dst=normalized_cv, src=scaled_cv, base=mean_cv, scale=std_cv, flags=flags, stream=cvstream
        )
        cvcuda.reformat_into(dst=out_cv, src=normalized_cv, stream=cvstream)

    run.keep = (src, scaled, normalized, out, mean_t, std_t)  # what the CV-CUDA tensors wrap
    return run, lambda: out


def cvcuda_convert_fused(torch, cvcuda, cvstream, src, mean, std):
    n, h, w, c = src.shape
    dev = src.device
    out = torch.empty((n, c, h, w), dtype=torch.float32, device=dev)
    out_cv = cvcuda.as_tensor(out, "NCHW")
    image = src[0]  # (H, W, 3), contiguous
    batch = cvcuda.ImageBatchVarShape(1)
    batch.pushback(cvcuda.as_image(image, cvcuda.Format.RGB8))
    rect = torch.tensor([[[[0, 0, w, h]]]], dtype=torch.int32, device=dev)  # x, y, width, height
    flip = torch.tensor([[2]], dtype=torch.int32, device=dev)  # not -1, 0 or 1: no flip
    base = (mean * 255).reshape(1, 1, 1, c).contiguous()
    scale = (1 / (std * 255)).reshape(1, 1, 1, c).contiguous()
    rect_cv = cvcuda.as_tensor(rect, "NHWC")
    flip_cv = cvcuda.as_tensor(flip, "NC")
    base_cv = cvcuda.as_tensor(base, "NHWC")
    scale_cv = cvcuda.as_tensor(scale, "NHWC")

    def run():
        # (x - 255*mean) * 1/(255*std) = (x/255 - mean)/std; flags 0: scale is a factor.
        cvcuda.crop_flip_normalize_reformat_into(
            dst=out_cv,
            src=batch,
            rect=rect_cv,
            flip_code=flip_cv,
            base=base_cv,
            scale=scale_cv,
            flags=0,
            stream=cvstream,
        )

    run.keep = (image, out, rect, flip, base, scale)  # what the CV-CUDA objects wrap
    return run, lambda: out


def torch_nv12_to_rgb(torch, nv12, size, matrix, offsets, luma_floor=False):
    """RGB uint8 (1, H, W, 3) from NV12 (1, H*3/2, W, 1), in float tensor arithmetic.

    luma_floor: take Y below its offset as the offset (OpenCV's, hence CV-CUDA's, BT.601 NV12
    conversion does so); only for the checks.
    """
    w, h = size
    planes = nv12[0, :, :, 0]
    y = planes[:h]  # (H, W)
    uv = planes[h:].reshape(h // 2, w // 2, 2)  # interleaved U, V at half resolution
    uv = uv.repeat_interleave(2, dim=0).repeat_interleave(2, dim=1)  # nearest, (H, W, 2)
    yuv = torch.cat([y.unsqueeze(-1), uv], dim=-1).float() - offsets  # (H, W, 3)
    if luma_floor:
        yuv[..., 0].clamp_(min=0)
    rgb = yuv @ matrix.T
    return rgb.round().clamp(0, 255).to(torch.uint8).unsqueeze(0)


def torch_cvtcolor(torch, nv12, size, matrix, offsets):
    last = [None]

    def run():
        last[0] = torch_nv12_to_rgb(torch, nv12, size, matrix, offsets)

    return run, lambda: last[0]


def cvcuda_cvtcolor(torch, cvcuda, cvstream, nv12, size, advanced):
    w, h = size
    dst = torch.empty((1, h, w, 3), dtype=torch.uint8, device=nv12.device)
    src_cv = cvcuda.as_tensor(nv12, "NHWC")  # (1, H*3/2, W, 1): Y rows, then interleaved UV rows
    dst_cv = cvcuda.as_tensor(dst, "NHWC")
    code = cvcuda.ColorConversion.YUV2RGB_NV12
    if advanced:
        spec = cvcuda.ColorSpec.BT709

        def run():
            cvcuda.advcvtcolor_into(dst=dst_cv, src=src_cv, code=code, spec=spec, stream=cvstream)

    else:

        def run():
            cvcuda.cvtcolor_into(dst=dst_cv, src=src_cv, code=code, stream=cvstream)

    run.keep = (nv12, dst)  # what the CV-CUDA tensors wrap
    return run, lambda: dst


# --- timing and checks ------------------------------------------------------------------------


def time_per_frame_us(torch, run, stream, args):
    """Median over rounds of (round time / calls), microseconds, CUDA events on `stream`."""
    for _ in range(args.warmup):
        run()
    stream.synchronize()
    per_call = []
    for _ in range(args.rounds):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record(stream)
        for _ in range(args.iterations):
            run()
        end.record(stream)
        end.synchronize()
        per_call.append(start.elapsed_time(end) * 1000.0 / args.iterations)
    return statistics.median(per_call)


def difference(torch, a, b):
    """'max |a-b| X, mean Y' of two tensors of the same shape (compared as float64)."""
    if a is None or b is None:
        return "no output"
    if tuple(a.shape) != tuple(b.shape):
        return f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}"
    d = (a.to(torch.float64) - b.to(torch.float64)).abs()
    return f"max |diff| {d.max().item():.3g}, mean |diff| {d.mean().item():.3g}"


# --- main -------------------------------------------------------------------------------------


def main():
    args = parse_args()

    def wanted(library):
        return not args.libraries or library in args.libraries

    def all_na(reason):
        for row in args.rows:
            for library in ["torch"] + CVCUDA_LIBRARIES[row]:
                if wanted(library):
                    emit(row, library, f"NA ({one_line(reason)})")

    try:
        import numpy  # noqa: F401  (CV-CUDA's transformation matrices)
        import torch
    except Exception as e:
        comment(f"device: unknown, torch unavailable ({one_line(e)})")
        all_na(f"{type(e).__name__}: {e}")
        return 1
    if not torch.cuda.is_available():
        comment(f"device: none, torch {torch.__version__} (no CUDA device)")
        all_na("no CUDA device")
        return 1

    cvcuda, cvcuda_reason = import_cvcuda()
    device = torch.device("cuda", args.device)
    torch.cuda.set_device(device)
    stream = torch.cuda.Stream(device=device)
    cvstream = None
    if cvcuda is not None:
        try:
            cvstream = cvcuda.as_stream(stream)
        except Exception as e:
            try:  # the raw cudaStream_t handle, another overload of as_stream
                cvstream = cvcuda.as_stream(int(stream.cuda_stream))
            except Exception:
                cvcuda_reason = f"cvcuda.as_stream failed: {type(e).__name__}: {e}"
                cvcuda = None
    cvcuda_version = getattr(cvcuda, "__version__", "?") if cvcuda is not None else "unavailable"
    comment(
        f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}, "
        f"cvcuda {cvcuda_version}"
    )
    comment(
        f"anchor: us per frame = median of {args.rounds} rounds of {args.iterations} calls "
        f"(after {args.warmup} warm-up calls), CUDA events, one stream, batch 1"
    )
    if cvcuda is None:
        comment(one_line(cvcuda_reason, 300))

    with torch.cuda.stream(stream):
        gen = torch.Generator(device=device)
        gen.manual_seed(0)

        def random_u8(shape):
            return torch.randint(0, 256, shape, dtype=torch.uint8, device=device, generator=gen)

        rgb_hd = random_u8((1, HD[1], HD[0], 3))
        rgb_small = random_u8((1, SMALL[1], SMALL[0], 3))
        nv12_hd = random_u8((1, HD[1] * 3 // 2, HD[0], 1))
        mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=device)
        std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=device)
        mean_nchw = mean.reshape(1, 3, 1, 1)
        std_nchw = std.reshape(1, 3, 1, 1)
        m709, off709 = yuv_to_rgb_matrix(torch, BT709, True, device)
    stream.synchronize()

    def jobs_for(row):
        """[(library, build, reference)] for a row, torch first.

        build() returns (run, result) (see "the jobs" above). reference says what the check
        compares the library's output with: "torch" (the torch job's output), "coefficients"
        (`reference_for(library)`) or None (nothing: the torch job itself).
        """
        cv = cvcuda
        if row.startswith("warp_"):
            dst = SMALL if "_224_" in row else HD
            if dst == SMALL:
                matrix = stretch_matrix(HD, dst)
            else:
                matrix = rotation_matrix(HD, ROTATION_DEGREES)
            cubic = row.endswith("_cubic")

            def build_torch():
                grid = sampling_grid(torch, matrix, HD, dst, device)
                return torch_warp(torch, rgb_hd, grid, "bicubic" if cubic else "bilinear")

            def build_cvcuda():
                interp = cv.Interp.CUBIC if cubic else cv.Interp.LINEAR
                return cvcuda_warp(torch, cv, cvstream, rgb_hd, matrix, dst, interp)

            jobs = [("torch", build_torch, None)]
            if cv is not None:
                jobs.append(("cvcuda", build_cvcuda, "torch"))
            return jobs
        if row.startswith("convert_"):
            src = rgb_small if "_224_" in row else rgb_hd
            jobs = [("torch", lambda: torch_convert(torch, src, mean_nchw, std_nchw), None)]
            if cv is not None:
                jobs.append(("cvcuda", lambda: cvcuda_convert(torch, cv, cvstream, src, mean, std), "torch"))
                jobs.append(
                    ("cvcuda-fused", lambda: cvcuda_convert_fused(torch, cv, cvstream, src, mean, std), "torch")
                )
            return jobs
        assert row == "cvtcolor_nv12_rgb_1080p", row
        jobs = [("torch", lambda: torch_cvtcolor(torch, nv12_hd, HD, m709, off709), None)]
        if cv is not None:
            for library, advanced in (("cvcuda(bt601)", False), ("cvcuda-adv709", True)):
                jobs.append(
                    (
                        library,
                        lambda advanced=advanced: cvcuda_cvtcolor(torch, cv, cvstream, nv12_hd, HD, advanced),
                        "coefficients",
                    )
                )
        return jobs

    def reference_for(library):
        """PyTorch output with the coefficients that a CV-CUDA colour conversion uses."""
        if library == "cvcuda(bt601)":  # OpenCV's BT.601 limited range, Y below 16 as 16
            m, off = yuv_to_rgb_matrix(torch, BT601, True, device)
            return torch_nv12_to_rgb(torch, nv12_hd, HD, m, off, luma_floor=True)
        # cvcuda-adv709: BT.709 coefficients, full-range arithmetic
        m, off = yuv_to_rgb_matrix(torch, BT709, False, device)
        return torch_nv12_to_rgb(torch, nv12_hd, HD, m, off)

    status = 0
    for row in args.rows:
        outputs = {}
        jobs = jobs_for(row)
        if cvcuda is None:
            for library in CVCUDA_LIBRARIES[row]:
                if wanted(library):
                    emit(row, library, f"NA ({one_line(cvcuda_reason)})")
        for library, build, _ in jobs:
            if not wanted(library):
                continue
            try:
                with torch.cuda.stream(stream):
                    run, result = build()
                    us = time_per_frame_us(torch, run, stream, args)
                    outputs[library] = result
                emit(row, library, us)
            except Exception as e:
                status = 1
                emit(row, library, f"NA ({one_line(f'{type(e).__name__}: {e}')})")
        if args.no_check:
            continue
        for library, _, reference in jobs:
            if reference is None or library not in outputs:
                continue
            try:
                with torch.cuda.stream(stream):
                    if reference == "coefficients":
                        what = "torch with its coefficients"
                        text = difference(torch, outputs[library](), reference_for(library))
                    elif reference in outputs:
                        what = reference
                        text = difference(torch, outputs[library](), outputs[reference]())
                    else:
                        continue
                stream.synchronize()
                comment(f"check {row}: {library} vs {what}: {text}")
            except Exception as e:
                comment(f"check {row}: {library}: failed: {one_line(f'{type(e).__name__}: {e}')}")
    return status


if __name__ == "__main__":
    sys.exit(main())
