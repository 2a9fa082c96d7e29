"""The cudapreproc Python module with PyTorch on a GPU, run by the Rust test
`python_tensors_equal_the_cpu_chain_for_every_frame_of_the_real_clip` (tests/gpu/tensorsink.rs):

    python3 tests/gpu/python_tensors.py "nvdecsrc location=CLIP ! ... ! tensorsink" OUT

1. Every tensor of the pipeline through torch.from_dlpack (DLPack) and torch.as_tensor
   (__cuda_array_interface__): the same device address as the pipeline's, shape, dtype, frame
   numbers. The tensors are written to OUT (float32, frame order) for the Rust side to compare
   with the CPU reference.
2. A PyTorch tensor held while the whole clip runs on through bounded pools: its memory is never
   handed out again, its values do not change, and its export is released only when PyTorch
   frees it.
3. A tensor freed by PyTorch while a kernel queued on another stream has yet to read it: the
   pipeline's next write to that memory waits for the kernel.
4. Batches and frame sampling: exactly the frames asked for, each slot equal to that frame's
   tensor from 1.

Fails (non-zero exit, an assertion's message) on any difference.
"""

import gc
import os
import pathlib
import sys

import torch

# CUDAPREPROC_TEST_INSTALLED=1: the module pip installed (a wheel), not the repository's.
if os.environ.get("CUDAPREPROC_TEST_INSTALLED") != "1":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "python"))
import cudapreproc  # noqa: E402
print(f"python: cudapreproc {cudapreproc.__version__} from {pathlib.Path(cudapreproc.__file__).parent}")


def every_frame(line, out):
    frames, addresses = [], set()
    with cudapreproc.Pipeline(line) as pipeline, open(out, "wb") as sink:
        for tensor in pipeline:
            n = len(frames)
            assert tensor.frame_numbers == (n,), f"tensor {n}: frames {tensor.frame_numbers}"
            assert tensor.shape == (1, 3, 224, 224) and tensor.dtype == "float32", tensor
            x = torch.from_dlpack(tensor)
            assert x.is_cuda and x.device.index == tensor.device[1], x.device
            assert x.data_ptr() == tensor.data_ptr, f"from_dlpack copied: {x.data_ptr():#x}"
            assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32
            y = torch.as_tensor(tensor, device="cuda")
            assert y.data_ptr() == tensor.data_ptr, f"as_tensor copied: {y.data_ptr():#x}"
            assert torch.equal(x, y)
            sink.write(x.cpu().numpy().tobytes())
            frames.append(x.clone())
            addresses.add(tensor.data_ptr)
    print(
        f"python: {len(frames)} tensors [1, 3, 224, 224] float32; torch.from_dlpack and "
        f"torch.as_tensor at the pipeline's own device address every time; "
        f"{len(addresses)} distinct addresses (the pool's buffers, recycled)"
    )
    return frames, addresses


def held_tensor(line, frames, recycled):
    pipeline = cudapreproc.Pipeline(line.replace("tensorsink", "tensorsink max-buffers=1"))
    held = torch.from_dlpack(pipeline.next())  # only PyTorch holds it from here
    address = held.data_ptr()
    snapshot = held.clone()
    others = []
    for tensor in pipeline:
        others.append(tensor.data_ptr)
        x = torch.from_dlpack(tensor)
        x.add_(0)  # some work reading and writing it on PyTorch's stream
    pipeline.close()
    del pipeline, x, tensor
    gc.collect()
    torch.cuda.synchronize()
    assert len(others) == len(frames) - 1
    assert address not in others, "the held tensor's memory was handed out again"
    assert torch.equal(held, snapshot), "the held tensor changed"
    assert torch.equal(held, frames[0]), "the held tensor is not frame 0"
    assert cudapreproc.live_dlpack_exports() == 1, cudapreproc.live_dlpack_exports()
    del held
    gc.collect()
    assert cudapreproc.live_dlpack_exports() == 0, "PyTorch freed it: the export is released"
    print(
        f"python: a tensor held by PyTorch while {len(others)} more frames ran through "
        f"max-buffers=1 (using {len(set(others))} other addresses; "
        f"{len(recycled)} when nothing is held): never handed out again, unchanged, "
        f"released when PyTorch freed it"
    )


def read_after_release(line, ordered):
    """Frees a PyTorch tensor while a kernel queued on another stream has yet to read it, runs
    the rest of the clip through the same buffers, and returns (what the kernel read, how many
    later frames reused the memory). `ordered=False` exports without a stream (DLPack's -1), so
    nothing orders the pipeline's writes after the kernel: the control."""
    pipeline = cudapreproc.Pipeline(line.replace("tensorsink", "tensorsink max-buffers=1"))
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        tensor = pipeline.next()  # frame 0
        if ordered:
            x = torch.from_dlpack(tensor)  # ready on `side`, which becomes its reader
        else:
            tensor.synchronize()
            x = torch.from_dlpack(tensor.__dlpack__(stream=-1))
        del tensor
        address = x.data_ptr()
        torch.cuda._sleep(500_000_000)  # the GPU spins on `side` (about 0.25 s) ...
        copy = x.clone()  # ... before this reads the tensor
    del x  # freed by PyTorch while the clone is still queued
    reused = sum(tensor.data_ptr == address for tensor in pipeline)
    side.synchronize()
    pipeline.close()
    return copy, reused


def release_waits_for_the_reader(line, frames):
    copy, reused = read_after_release(line, ordered=True)
    assert reused > 0, "the memory was not handed out again: the test shows nothing"
    assert torch.equal(copy, frames[0]), "the pipeline overwrote a tensor a queued kernel still read"
    print(
        f"python: a tensor freed by PyTorch while a kernel on another stream still had to read it: "
        f"its memory came back for {reused} later frames, and the kernel still read frame 0 "
        f"(the pipeline's writes waited for it)"
    )
    copy, reused = read_after_release(line, ordered=False)
    matches = [n for n, frame in enumerate(frames) if torch.equal(copy, frame)]
    print(
        f"python: control, exported without a stream (DLPack stream -1): memory reused for "
        f"{reused} later frames; the kernel read frame(s) {matches or 'none'} (0 means no overwrite)"
    )


def batches(line, frames):
    for props, expected in (
        ("batch-size=8", [list(range(i, min(i + 8, len(frames)))) for i in range(0, len(frames), 8)]),
        ("batch-size=5 frame-stride=3", [list(range(i, min(i + 15, len(frames)), 3)) for i in range(0, len(frames), 15)]),
        ('frame-indices="<3, 50, 51, 131>" batch-size=2', [[3, 50], [51, 131]]),
    ):
        got = []
        with cudapreproc.Pipeline(line.replace("tensorsink", f"tensorsink {props}")) as pipeline:
            for tensor in pipeline:
                x = torch.from_dlpack(tensor)
                numbers = list(tensor.frame_numbers)
                assert x.shape == (len(numbers), 3, 224, 224), (props, x.shape)
                assert x.data_ptr() == tensor.data_ptr
                for slot, frame in enumerate(numbers):
                    assert torch.equal(x[slot], frames[frame][0]), f"{props}: slot {slot} is not frame {frame}"
                got.append(numbers)
        assert got == expected, f"{props}: {got}"
        shapes = sorted({len(b) for b in got}, reverse=True)
        print(f"python: {props}: {len(got)} batches of {shapes} frames, the frames asked for, each slot equal to its frame")


def main():
    line, out = sys.argv[1], sys.argv[2]
    frames, addresses = every_frame(line, out)
    held_tensor(line, frames, addresses)
    release_waits_for_the_reader(line, frames)
    batches(line, frames)
    assert cudapreproc.live_dlpack_exports() == 0
    print("python: every DLPack export released")


if __name__ == "__main__":
    main()
