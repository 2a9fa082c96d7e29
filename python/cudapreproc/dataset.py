"""``VideoDataset``: batches of clips from many videos, decoded on the GPU by several readers at
once, for ``torch.utils.data.DataLoader(dataset, batch_size=None)`` or a plain ``for`` loop.

    from cudapreproc import VideoDataset
    from cudapreproc.samplers import RandomIndices

    dataset = VideoDataset.from_folder("clips/", RandomIndices(num_clips=2, num_frames_per_clip=8),
                                       batch_size=16, shuffle=True, width=224, height=224,
                                       dtype="float32", normalize="imagenet")
    for batch in dataset:            # batch.data: [16, 8, 3, 224, 224] on the GPU
        loss = model(batch.data).loss(batch.labels)

Decoding runs in threads of the library (``decoders`` videos at once, each with its own NVDEC
session), not in Python processes: ``DataLoader(dataset, batch_size=None)`` with the default
``num_workers=0`` is the fast way. With ``num_workers > 0`` each worker process needs
``multiprocessing_context="spawn"`` (a forked child cannot use CUDA once the parent has, and
the dataset refuses it with an error saying so); each worker then reads its share of the files
with its own decoders and copies each batch into PyTorch's memory so it can cross processes.
"""

from __future__ import annotations

import ctypes
import dataclasses
import inspect
import os
import pathlib
from typing import Any, Iterator, List, Optional, Sequence

from . import Error, _PULLED, _PULL_WAIT_MS, _WAITING, _c_struct, _call, _create, _library, _raise, _take_string
from ._reader import VideoReader, _as_output, _options, _read_batch, torch
from .samplers import RandomIndices, _Sampler

__all__ = ["ClipBatch", "SkippedFile", "VideoDataset"]

_VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".h264", ".h265", ".hevc")
_ON_ERROR = ("raise", "skip")


def _dataset_signatures(err, pointer):
    """The C functions of the samplers and the dataset, and their ctypes signatures
    (``pointer``: as for ``_reader_signatures``)."""
    p, u64, c_int = ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int
    return {
        "cudapreproc_reader_sample_clips": (
            [p, pointer("SamplerC"), u64, ctypes.POINTER(p), err],
            c_int,
        ),
        "cudapreproc_dataset_new": (
            [
                ctypes.POINTER(ctypes.c_char_p),
                u64,
                pointer("SamplerC"),
                pointer("ReaderOptionsC"),
                pointer("DatasetOptionsC"),
                ctypes.POINTER(c_int),
                err,
            ],
            p,
        ),
        "cudapreproc_dataset_shard": ([p, u64, u64, err], p),
        "cudapreproc_dataset_len": ([p], ctypes.c_int64),
        "cudapreproc_dataset_shard_len": ([p], u64),
        "cudapreproc_dataset_skipped": ([p], p),
        "cudapreproc_dataset_iter": ([p, u64], p),
        "cudapreproc_dataset_next": ([p, ctypes.c_uint32, ctypes.POINTER(p), ctypes.POINTER(c_int), err], c_int),
        "cudapreproc_dataset_iter_free": ([p], None),
        "cudapreproc_dataset_free": ([p], None),
    }


@dataclasses.dataclass
class ClipBatch:
    """Clips stacked on the GPU: ``data`` is ``[B, F, C, H, W]`` (B clips of F frames);
    ``labels`` holds each clip's video's label (a tensor when they are numbers) or None;
    ``file_indices`` and ``clip_indices`` say where each clip comes from (its video in
    ``dataset.files``, and its place among that video's clips); ``frame_indices``,
    ``pts_seconds`` and ``duration_seconds`` are ``[B, F]``."""

    data: Any
    labels: Any
    file_indices: Any
    clip_indices: Any
    frame_indices: Any
    pts_seconds: Any
    duration_seconds: Any

    def __len__(self) -> int:
        return len(self.file_indices)


@dataclasses.dataclass(frozen=True)
class SkippedFile:
    """A video left out (``on_error="skip"``): its index in ``dataset.files``, path, and why."""

    file_index: int
    path: str
    reason: str


def _vector(values: list, shape: tuple, dtype):
    if torch is None:
        return tuple(values)
    return torch.tensor(values, dtype=dtype).reshape(shape)


def _labels_of(labels: Optional[Sequence[Any]], file_indices: List[int]):
    if labels is None:
        return None
    chosen = [labels[i] for i in file_indices]
    if torch is not None and all(isinstance(v, int) and not isinstance(v, bool) for v in chosen):
        return torch.tensor(chosen, dtype=torch.int64)
    return chosen


@dataclasses.dataclass(frozen=True)
class _DatasetOptions:
    """How a ``VideoDataset`` batches, orders and decodes its clips (its arguments of those
    names)."""

    batch_size: int
    shuffle: bool
    seed: int
    on_error: str
    decoders: int
    drop_last: bool

    def _struct(self) -> ctypes.Structure:
        """The library's ``DatasetOptionsC``."""
        if min(self.batch_size, self.decoders) < 1:
            raise ValueError("batch_size and decoders must be at least 1")
        return _c_struct("DatasetOptionsC")(
            batch_size=self.batch_size,
            shuffle=int(bool(self.shuffle)),
            seed=self.seed & (2**64 - 1),
            on_error=_ON_ERROR.index(self.on_error),
            decoders=self.decoders,
            drop_last=int(bool(self.drop_last)),
        )


_Base = torch.utils.data.IterableDataset if torch is not None else object


class VideoDataset(_Base):
    """Batches of clips from ``files`` (paths), chosen by ``sampler`` (see
    ``cudapreproc.samplers``; default one random frame per video), ``batch_size`` clips each.

    Each epoch visits the files in an order fixed by ``seed`` and the epoch (``shuffle=True``
    for a new random order each epoch; ``set_epoch`` to choose it, as with
    ``DistributedSampler``), and draws each video's clips from a generator seeded by the seed,
    the epoch and the file: a run repeats exactly. ``labels`` (one per file) come back per clip.
    ``on_error="skip"`` leaves out a video that cannot be read and records it in ``skipped``;
    the default raises ``cudapreproc.SourceError`` naming it. ``decoders`` videos are decoded at
    once. ``shard(rank, world_size)`` gives the part one ``torchrun`` process reads. The other
    keyword arguments are ``VideoReader``'s: what each frame becomes.
    """

    def __init__(
        self,
        files: Sequence[Any],
        sampler: Optional[_Sampler] = None,
        *,
        batch_size: int = 1,
        shuffle: bool = False,
        seed: int = 0,
        labels: Optional[Sequence[Any]] = None,
        on_error: str = "raise",
        decoders: int = 4,
        drop_last: bool = False,
        **reader_options: Any,
    ):
        self.files = [os.fsdecode(f) for f in files]
        if not self.files:
            raise ValueError("a VideoDataset needs at least one file")
        if labels is not None and len(labels) != len(self.files):
            raise ValueError(f"{len(labels)} labels for {len(self.files)} files: one label per file")
        if on_error not in _ON_ERROR:
            raise ValueError(f"on_error {on_error!r}: one of {', '.join(_ON_ERROR)}")
        self.sampler = sampler if sampler is not None else RandomIndices()
        if not isinstance(self.sampler, _Sampler):
            raise TypeError(f"sampler {sampler!r}: one of the classes of cudapreproc.samplers")
        self.labels = list(labels) if labels is not None else None
        self._options = _DatasetOptions(batch_size, shuffle, seed, on_error, decoders, drop_last)
        self._reader_options = dict(reader_options)
        self._rank, self._world = 0, 1
        self._epoch = None
        self._next_epoch = 0
        self._handle = None
        # Made in this process, not unpickled: a DataLoader worker that has it was forked.
        self._unpickled = False
        self._native()  # validates every option now

    @classmethod
    def from_folder(cls, root, sampler: Optional[_Sampler] = None, **kwargs) -> "VideoDataset":
        """Every video under ``root`` (by file suffix, sorted); when ``root`` has subfolders,
        each video's label is the index of its subfolder's name in ``classes`` (sorted), as
        torchvision's ``ImageFolder`` does."""
        root = pathlib.Path(root)
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in _VIDEO_SUFFIXES)
        if not files:
            raise ValueError(f"no videos ({', '.join(_VIDEO_SUFFIXES)}) under {root}")
        classes = sorted({p.relative_to(root).parts[0] for p in files if len(p.relative_to(root).parts) > 1})
        labels = None
        if classes and "labels" not in kwargs:
            labels = [classes.index(p.relative_to(root).parts[0]) if len(p.relative_to(root).parts) > 1 else -1 for p in files]
        dataset = cls(files, sampler, labels=kwargs.pop("labels", labels), **kwargs)
        dataset.classes = classes
        return dataset

    def _native(self):
        if self._handle is not None:
            return self._handle
        lib = _library()
        options = self._options._struct()
        reader = _reader_struct(self._reader_options)
        paths = (ctypes.c_char_p * len(self.files))(*[os.fsencode(f) for f in self.files])
        handle = _create(
            lib.cudapreproc_dataset_new,
            paths,
            len(self.files),
            ctypes.byref(self.sampler._struct()),
            ctypes.byref(reader),
            ctypes.byref(options),
        )
        if self._world > 1:
            shard = _call(lib.cudapreproc_dataset_shard, handle, self._rank, self._world)
            lib.cudapreproc_dataset_free(handle)
            handle = shard
        self._handle = handle
        return handle

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_handle"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._unpickled = True

    def shard(self, rank: int, world_size: int) -> "VideoDataset":
        """The part of this dataset that process ``rank`` of ``world_size`` reads (e.g.
        ``torch.distributed.get_rank()`` and ``get_world_size()``): every epoch's file order is
        the same in each process, and each takes every ``world_size``-th file of it."""
        if not (0 <= rank < world_size):
            raise ValueError(f"rank {rank} of a world of {world_size}: the rank must be below the world size")
        shard = VideoDataset.__new__(VideoDataset)
        shard.__dict__.update({k: v for k, v in self.__dict__.items() if k != "_handle"})
        shard._handle = None
        shard._rank, shard._world = self._rank + rank * self._world, self._world * world_size
        shard._native()
        return shard

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iteration reads (by default each iteration reads the next)."""
        self._epoch = epoch

    def __len__(self) -> int:
        n = int(_library().cudapreproc_dataset_len(self._native()))
        if n < 0:
            raise TypeError("the number of batches depends on each video's duration (RegularTimestamps)")
        return n

    @property
    def skipped(self) -> List[SkippedFile]:
        """Videos left out so far (``on_error="skip"``)."""
        text = _take_string(_library().cudapreproc_dataset_skipped(self._native()))
        out = []
        for line in text.splitlines():
            index, path, reason = line.split("\t", 2)
            out.append(SkippedFile(int(index), path, reason))
        return out

    def __iter__(self) -> Iterator[ClipBatch]:
        epoch = self._epoch if self._epoch is not None else self._next_epoch
        self._next_epoch = epoch + 1
        self._epoch = None
        source, to_torch_memory = self, False
        worker = torch.utils.data.get_worker_info() if torch is not None else None
        if worker is not None:
            if not self._unpickled:
                raise Error(
                    "VideoDataset in a forked DataLoader worker: CUDA cannot be used in a "
                    "process forked from one that has used it. Use num_workers=0 (decoding "
                    "already runs in the library's threads), or "
                    "multiprocessing_context='spawn'"
                )
            if worker.num_workers > 1:
                source = self.shard(worker.id, worker.num_workers)
            to_torch_memory = True
        return self._batches(source, epoch, to_torch_memory)

    def _batches(self, source: "VideoDataset", epoch: int, to_torch_memory: bool) -> Iterator[ClipBatch]:
        lib = _library()
        iterator = lib.cudapreproc_dataset_iter(source._native(), epoch)
        try:
            while True:
                batch = ctypes.c_void_p()
                code, error = ctypes.c_int(-1), ctypes.c_char_p()
                # Short waits: Python handles Ctrl-C between them.
                while True:
                    status = lib.cudapreproc_dataset_next(
                        iterator, _PULL_WAIT_MS, ctypes.byref(batch), ctypes.byref(code), ctypes.byref(error)
                    )
                    if status != _WAITING:
                        break
                if status != _PULLED:
                    _raise(code.value, error)
                if not batch.value:
                    return
                yield self._take(batch.value, to_torch_memory)
        finally:
            lib.cudapreproc_dataset_iter_free(iterator)

    def _take(self, handle, to_torch_memory: bool) -> ClipBatch:
        contents = _read_batch(handle)
        b = len(contents.file_indices)
        f = len(contents.frame_indices) // b if b else 0
        data = _as_output(contents.data)
        if to_torch_memory:
            # Only memory from PyTorch's allocator crosses processes (CUDA IPC).
            data = data.clone()
        int64 = torch.int64 if torch is not None else None
        float64 = torch.float64 if torch is not None else None
        return ClipBatch(
            data=data,
            labels=_labels_of(self.labels, contents.file_indices),
            file_indices=_vector(contents.file_indices, (b,), int64),
            clip_indices=_vector(contents.clip_indices, (b,), int64),
            frame_indices=_vector(contents.frame_indices, (b, f), int64),
            pts_seconds=_vector(contents.pts_seconds, (b, f), float64),
            duration_seconds=_vector(contents.duration_seconds, (b, f), float64),
        )

    def __del__(self):
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            _library().cudapreproc_dataset_free(handle)

    def __repr__(self) -> str:
        return (
            f"VideoDataset({len(self.files)} files, {self.sampler}, batch_size={self._options.batch_size}, "
            f"shard {self._rank} of {self._world})"
        )


def _reader_struct(options: dict) -> ctypes.Structure:
    """The reader options of ``VideoReader``'s keyword arguments (its defaults for the others)."""
    parameters = inspect.signature(VideoReader.__init__).parameters.values()
    known = {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY}
    unknown = set(options) - set(known)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}; VideoReader takes {', '.join(known)}")
    return _options(**{**known, **options})
