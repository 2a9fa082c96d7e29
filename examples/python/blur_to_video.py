"""Video in, a PyTorch model on the GPU, video out, and no frame ever on the host: frames read
with VideoReader, a Gaussian blur (a fixed 2-D convolution, standing in for a restoration or
super-resolution model) run on them as float32, and the result encoded with VideoWriter.

    PYTHONPATH=python python3 examples/python/blur_to_video.py media/bigbuckbunny.mp4 blurred.mp4 \\
        [--batch 16] [--sigma 2.0]

Prints the encoder chosen (NVENC where the GPU has one, else a software encoder), frames and
time, and checks that the file has every frame, read back with VideoReader, and that the frames
were blurred: the first frame read back is compared with the input blurred again on the GPU
(PSNR printed; above 35 dB for an encode at the default bit rate). Needs PyTorch with CUDA.
The same data path without Python, as one pipeline of our elements (video to float32 NCHW
tensors in [0, 1] and back; between the two `cudaconvert` elements is where a tensor element of
your own, or an application holding `tensorsink` and `tensorsrc`, does a model's work):

    gst-launch-1.0 nvdecsrc location=media/bigbuckbunny.mp4 ! cudacvtcolor ! \
        'video/x-raw(memory:CUDAMemory),format=RGBA' ! \
        cudaconvert dtype=float32 layout=nchw scale=0.00392156862745098 ! other/tensors ! \
        cudaconvert layout=nchw scale=0.00392156862745098 ! \
        'video/x-raw(memory:CUDAMemory),format=RGBA' ! cudacvtcolor ! video/x-raw,format=I420 ! \
        openh264enc bitrate=8000000 ! h264parse ! mp4mux ! filesink location=roundtrip.mp4
"""

import argparse
import math
import time

import torch
import torch.nn.functional as F

import cudapreproc


def gaussian_kernel(sigma: float, device: torch.device) -> torch.Tensor:
    """A [3, 1, K, K] depthwise Gaussian kernel, K = 2 * ceil(3 sigma) + 1."""
    radius = math.ceil(3 * sigma)
    x = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    g = torch.exp(-(x * x) / (2 * sigma * sigma))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(3, 1, -1, -1).contiguous()


def blur(frames: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """float32 [N, 3, H, W] in [0, 1], blurred per channel with reflected borders."""
    pad = kernel.shape[-1] // 2
    padded = F.pad(frames, (pad, pad, pad, pad), mode="reflect")
    return F.conv2d(padded, kernel, groups=3).clamp_(0.0, 1.0)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.double() - b.double()).pow(2).mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clip")
    parser.add_argument("output")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--sigma", type=float, default=2.0)
    args = parser.parse_args()

    # float32 NCHW in [0, 1]: what a model takes, made by our kernels on the way out of NVDEC.
    reader = cudapreproc.VideoReader(args.clip, dtype="float32", normalize="unit")
    meta = reader.metadata
    kernel = gaussian_kernel(args.sigma, torch.device("cuda", 0))
    start = time.perf_counter()
    with cudapreproc.VideoWriter(args.output, fps=meta.average_fps, normalize="unit") as writer:
        for first in range(0, len(reader), args.batch):
            batch = reader.get_frames_in_range(first, min(first + args.batch, len(reader)))
            with torch.no_grad():
                writer.write(blur(batch.data, kernel))
        encoder = writer.encoder
    seconds = time.perf_counter() - start
    print(
        f"{args.clip}: {len(reader)} frames {meta.width}x{meta.height} blurred (sigma "
        f"{args.sigma}) and written to {args.output} with {encoder} in {seconds:.2f} s "
        f"({len(reader) / seconds:.1f} frames/s)"
    )

    written = cudapreproc.VideoReader(args.output)
    assert len(written) == len(reader), f"{args.output}: {len(written)} frames, {len(reader)} read"
    expected = blur(reader[0].data[None], kernel).mul(255).round().to(torch.uint8)[0]
    back = written[0].data
    quality = psnr(expected, back)
    unblurred = psnr(cudapreproc.VideoReader(args.clip)[0].data, back)
    print(
        f"{args.output}: {len(written)} frames; frame 0 against the input blurred on the GPU: "
        f"PSNR {quality:.1f} dB (against the unblurred input: {unblurred:.1f} dB)"
    )
    assert quality > 35.0 and quality > unblurred + 3.0, "the written frames are not the blurred ones"


if __name__ == "__main__":
    main()
