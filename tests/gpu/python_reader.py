"""The Python VideoReader, samplers and VideoDataset with PyTorch on a GPU, run by the Rust test
`python_reader_and_dataset` (tests/gpu/reader.rs):

    python3 tests/gpu/python_reader.py CLIPDIR OUT

1. VideoReader on CLIPDIR/gop30.mp4: frames asked in any order (with repeats, negative indices,
   a slice, by time) come as CUDA torch tensors [N, 3, H, W] uint8 without a copy; their bytes
   go to OUT, in request order, for the Rust side to compare with libavcodec's frames; times
   are float64 tensors; IndexError and ValueError name what is wrong.
2. The samplers: shapes [clips, frames, 3, H, W], times [clips, frames], a seed repeats.
3. VideoDataset through torch.utils.data.DataLoader(dataset, batch_size=None): with no
   workers, with 2 spawned workers (every file once), and with forked workers (refused with an
   error saying what to do); len() and a progress count.

Fails (non-zero exit, an assertion's message) on any difference. Prints what it checked.
"""

import os
import pathlib
import sys

import torch

# CUDAPREPROC_TEST_INSTALLED=1: the module pip installed (a wheel), not the repository's.
if os.environ.get("CUDAPREPROC_TEST_INSTALLED") != "1":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "python"))
import cudapreproc  # noqa: E402
print(f"python: cudapreproc {cudapreproc.__version__} from {pathlib.Path(cudapreproc.__file__).parent}")
from cudapreproc.samplers import (  # noqa: E402
    RandomIndices,
    clips_at_random_indices,
    clips_at_random_timestamps,
    clips_at_regular_indices,
    clips_at_regular_timestamps,
)

# Frames asked in 1., in the order their bytes are written (the Rust side knows this list).
REQUEST = [0, 149, -1, 42, 42, 7, 90]


def reader_frames(clips, out):
    reader = cudapreproc.VideoReader(clips / "gop30.mp4")
    assert len(reader) == 150, len(reader)
    m = reader.metadata
    assert (m.codec, m.width, m.height, m.num_frames) == ("h264", 320, 240, 150), m
    assert m.seekable and m.exact and abs(m.average_fps - 30) < 0.01, m
    assert reader.key_frame_indices == (0, 30, 60, 90, 120), reader.key_frame_indices
    batch = reader.get_frames_at(REQUEST)
    assert isinstance(batch.data, torch.Tensor) and batch.data.is_cuda, type(batch.data)
    assert batch.data.shape == (len(REQUEST), 3, 240, 320) and batch.data.dtype == torch.uint8
    assert batch.indices == (0, 149, 149, 42, 42, 7, 90), batch.indices
    assert batch.pts_seconds.dtype == torch.float64 and batch.pts_seconds.shape == (len(REQUEST),)
    assert abs(float(batch.pts_seconds[3]) - 42 / 30) < 1e-3, batch.pts_seconds
    assert torch.equal(batch.data[3], batch.data[4]), "a repeated frame is the same frame"
    frames = [batch.data]
    one = reader[7]
    assert one.data.shape == (3, 240, 320) and one.index == 7
    assert torch.equal(one.data, batch.data[5])
    sliced = reader[10:40:10]
    assert sliced.indices == (10, 20, 30), sliced.indices
    frames.append(sliced.data)
    played = reader.get_frames_played_at([0.0, 1.0, 1.0 + 1 / 60])
    assert played.indices == (0, 30, 30), played.indices
    frames.append(played.data)
    with open(out, "wb") as sink:
        for data in frames:
            sink.write(data.cpu().numpy().tobytes())
    for bad, error in ((lambda: reader[150], IndexError), (lambda: reader.get_frames_at([-151]), IndexError),
                       (lambda: reader.get_frames_played_at([7.5]), IndexError),
                       (lambda: cudapreproc.VideoReader(clips / "gop30.mp4", resize="squash"), ValueError),
                       (lambda: cudapreproc.VideoReader(clips / "missing.mp4"), cudapreproc.SourceError)):
        try:
            bad()
        except error as e:
            print(f"python: {error.__name__}: {e}")
        else:
            raise AssertionError(f"no {error.__name__}")
    resized = cudapreproc.VideoReader(clips / "gop30.mp4", width=224, height=224, dtype=torch.float32,
                                      normalize="imagenet")
    x = resized.get_frames_at([0, 1]).data
    assert x.shape == (2, 3, 224, 224) and x.dtype == torch.float32 and -3 < float(x.mean()) < 3, x.shape
    print(f"python: VideoReader: {len(REQUEST)} frames in any order, a slice, by time; zero-copy CUDA "
          "tensors; errors as IndexError, ValueError, SourceError")
    return reader


def samplers(reader):
    a = clips_at_random_indices(reader, num_clips=3, num_frames_per_clip=4, seed=5)
    b = clips_at_random_indices(reader, num_clips=3, num_frames_per_clip=4, seed=5)
    assert a.data.shape == (3, 4, 3, 240, 320) and a.pts_seconds.shape == (3, 4), a.data.shape
    assert a.indices == b.indices and torch.equal(a.data, b.data), "a seed repeats"
    c = clips_at_regular_indices(reader, num_clips=2, num_frames_per_clip=3, num_indices_between_frames=5)
    assert c.indices == (0, 5, 10, 139, 144, 149), c.indices
    d = clips_at_random_timestamps(reader, num_clips=2, num_frames_per_clip=2, seed=1)
    e = clips_at_regular_timestamps(reader, seconds_between_clip_starts=2.0, num_frames_per_clip=1)
    assert d.data.shape[:2] == (2, 2) and e.data.shape[:2] == (3, 1), (d.data.shape, e.data.shape)
    print("python: samplers: shapes [clips, frames, 3, H, W], seeded repeats, torchcodec's regular spacing")


def datasets(clips):
    files = sorted(str(p) for p in clips.iterdir() if p.suffix in (".mp4", ".mkv", ".webm", ".ts"))
    options = dict(width=64, height=64, batch_size=4, labels=list(range(len(files))))
    dataset = cudapreproc.VideoDataset(files, RandomIndices(num_clips=2, num_frames_per_clip=3), **options)
    loader = torch.utils.data.DataLoader(dataset, batch_size=None)
    seen = []
    for step, batch in enumerate(loader):
        assert batch.data.is_cuda and batch.data.shape[1:] == (3, 3, 64, 64), batch.data.shape
        assert torch.equal(batch.labels, batch.file_indices), "labels follow the files"
        seen.extend(batch.file_indices.tolist())
    assert step + 1 == len(dataset), (step, len(dataset))
    assert sorted(seen) == sorted(list(range(len(files))) * 2), seen
    spawned = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=2,
                                          multiprocessing_context="spawn")
    from_workers = []
    for batch in spawned:
        assert batch.data.is_cuda, batch.data.device
        from_workers.extend(batch.file_indices.tolist())
    assert sorted(from_workers) == sorted(seen), from_workers
    forked = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=1,
                                         multiprocessing_context="fork")
    try:
        next(iter(forked))
    except Exception as e:  # DataLoader re-raises the worker's error in its own type
        assert "spawn" in str(e), e
        print(f"python: forked worker refused: {str(e).splitlines()[-1][:160]}")
    else:
        raise AssertionError("a forked worker decoded")
    print(f"python: VideoDataset: {len(dataset)} batches through DataLoader with no workers and with 2 "
          f"spawned workers, every file's clips once ({len(files)} files)")


if __name__ == "__main__":
    clip_dir, out_file = pathlib.Path(sys.argv[1]), sys.argv[2]
    video_reader = reader_frames(clip_dir, out_file)
    samplers(video_reader)
    datasets(clip_dir)
