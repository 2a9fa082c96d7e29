"""The Python VideoWriter with PyTorch on a GPU, run by the Rust test
`python_tensors_written_read_back` (tests/gpu/writer.rs):

    python3 tests/gpu/python_writer.py CLIP SCRATCHDIR

1. Frames of CLIP read by VideoReader (CUDA uint8 [N, 3, H, W]) and a tensor PyTorch made
   itself (a moving gradient, computed on a side stream just before writing) are written by
   VideoWriter, read back and compared: PSNR at least 40 dB per frame.
2. float32 NHWC BGR frames in [0, 1] (normalize="unit") come back as the uint8 RGB they were
   made from, within the same bound.
3. The writer takes PyTorch's memory without a copy into the pipeline and hands it back: once
   write() returns and the tensor is dropped, PyTorch's allocated memory is what it was.

Fails (non-zero exit, an assertion's message) on any difference. Prints what it checked.
"""

import os
import pathlib
import sys

import torch

if os.environ.get("CUDAPREPROC_TEST_INSTALLED") != "1":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "python"))
import cudapreproc  # noqa: E402

clip, scratch = sys.argv[1], pathlib.Path(sys.argv[2])
scratch.mkdir(parents=True, exist_ok=True)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.double() - b.double()).pow(2).mean().item()
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(255.0**2 / mse)).item()


def read_back(path: pathlib.Path, n: int) -> torch.Tensor:
    reader = cudapreproc.VideoReader(str(path))
    assert len(reader) == n, f"{path.name}: {len(reader)} frames, {n} written"
    return reader.get_frames_in_range(0, n).data


def check(name: str, written: torch.Tensor, back: torch.Tensor, encoder: str) -> None:
    worst = min(psnr(a, b) for a, b in zip(written, back))
    print(f"python: {name:<36} {encoder}: {len(written)} frames, lowest PSNR {worst:.1f} dB")
    assert worst >= 40.0, f"{name}: lowest PSNR {worst:.1f} dB"


# 1. The reader's frames, and PyTorch's own.
source = cudapreproc.VideoReader(clip).get_frames_in_range(0, 30).data
path = scratch / "reader.mp4"
with cudapreproc.VideoWriter(str(path), fps=30) as writer:
    writer.write(source[:10])
    writer.write(source[10:])
    assert writer.frames_written == 30
check("reader frames, two writes", source, read_back(path, 30), writer.encoder)

n, h, w = 24, 240, 320
side = torch.cuda.Stream()
with torch.cuda.stream(side):
    y = torch.arange(h, device="cuda").view(1, 1, h, 1)
    x = torch.arange(w, device="cuda").view(1, 1, 1, w)
    t = torch.arange(n, device="cuda").view(n, 1, 1, 1)
    c = torch.arange(3, device="cuda").view(1, 3, 1, 1)
    # Smooth in space and across channels, as camera frames are: 4:2:0 video keeps it within the
    # bound (hard colour edges would lose their chroma to the subsampling, not to the writer).
    made = (x * 150 // w + y * 50 // h + t + c * 10).to(torch.uint8)
    path = scratch / "torch.mkv"
    with cudapreproc.VideoWriter(str(path), fps=(30000, 1001)) as writer:
        writer.write(made)  # ordered after the side stream's work by DLPack's stream argument
torch.cuda.synchronize()
check("PyTorch's gradient, side stream", made, read_back(path, n), writer.encoder)

# 2. Float frames in [0, 1], NHWC, BGR.
as_float = made.permute(0, 2, 3, 1).flip(-1).float().div(255).contiguous()
path = scratch / "float.mp4"
with cudapreproc.VideoWriter(str(path), layout="NHWC", color_order="bgr", normalize="unit") as writer:
    writer.write(as_float)
check("float32 NHWC BGR in [0, 1]", made, read_back(path, n), writer.encoder)

# 3. PyTorch's memory goes back to PyTorch: once written (each frame is copied out on the GPU
# inside write()), nothing of ours holds it.
base = torch.cuda.memory_allocated()
frames = made.clone()
assert torch.cuda.memory_allocated() > base
path = scratch / "released.mp4"
with cudapreproc.VideoWriter(str(path)) as writer:
    writer.write(frames)
    del frames
    torch.cuda.synchronize()
    assert torch.cuda.memory_allocated() == base, "the written tensor's memory went back to PyTorch"
print("python: a written tensor's memory goes back to PyTorch once write() returns")
