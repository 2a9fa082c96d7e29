"""Clip samplers, as ``torchcodec.samplers`` has them: which frames each clip of a video takes.

    from cudapreproc import VideoReader
    from cudapreproc.samplers import clips_at_random_indices

    reader = VideoReader("clip.mp4", width=224, height=224, dtype="float32", normalize="imagenet")
    clips = clips_at_random_indices(reader, num_clips=4, num_frames_per_clip=8, seed=0)
    clips.data.shape  # [4, 8, 3, 224, 224]; clips.pts_seconds is [4, 8]

The parameters, defaults, validation and ``policy`` for clips that run past the end
("repeat_last", "wrap", "error") are torchcodec's. Random samplers draw from a generator a
``seed`` fixes on every machine (``seed=None`` takes one from Python's ``random``, so
``random.seed`` repeats a run). The sampler classes (``RandomIndices``, ``RegularIndices``,
``RandomTimestamps``, ``RegularTimestamps``) hold the same parameters for ``VideoDataset``, and
are callable on a reader; their parameters are keyword-only, as torchcodec's are.
"""

from __future__ import annotations

import ctypes
import dataclasses
import math
import random
from typing import Optional

from . import _c_struct, _library
from ._reader import FrameBatch, VideoReader, torch

__all__ = [
    "RandomIndices",
    "RandomTimestamps",
    "RegularIndices",
    "RegularTimestamps",
    "clips_at_random_indices",
    "clips_at_random_timestamps",
    "clips_at_regular_indices",
    "clips_at_regular_timestamps",
]

_POLICIES = ("repeat_last", "wrap", "error")


def _count(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} {value!r} must be a whole number, 0 or more")
    return value


def _seconds(value: Optional[float]) -> float:
    return math.nan if value is None else float(value)


class _Sampler:
    """What every sampler shares: its C description and its use on a reader."""

    _KIND = -1
    _RANDOM = False

    def _struct(self) -> ctypes.Structure:
        s = _c_struct("SamplerC")()
        s.kind = self._KIND
        s.seconds_between_frames = s.seconds_range_start = s.seconds_range_end = math.nan
        s.num_indices_between_frames = 1
        fields = dataclasses.asdict(self)
        if fields.get("policy") not in _POLICIES:
            raise ValueError(f"policy {fields.get('policy')!r}: one of {', '.join(_POLICIES)}")
        s.policy = _POLICIES.index(fields["policy"])
        for name in ("num_clips", "num_frames_per_clip", "num_indices_between_frames"):
            if name in fields:
                setattr(s, name, _count(name, fields[name]))
        return s

    def __call__(self, reader: VideoReader, seed: Optional[int] = None) -> FrameBatch:
        """The clips this sampler picks from ``reader``'s video, decoded: ``data`` is
        ``[clips, frames per clip, C, H, W]``, the times and indices ``[clips, frames per
        clip]``."""
        if seed is None:
            seed = random.getrandbits(64) if self._RANDOM else 0
        batch = reader._request(
            _library().cudapreproc_reader_sample_clips, ctypes.byref(self._struct()), seed & (2**64 - 1)
        )
        shape = tuple(batch.data.shape[:2])
        if torch is not None:
            batch.pts_seconds = batch.pts_seconds.reshape(shape)
            batch.duration_seconds = batch.duration_seconds.reshape(shape)
        return batch


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandomIndices(_Sampler):
    """``num_clips`` clips starting at frames drawn uniformly from the sampling range (in the
    order drawn; a start may repeat), each of ``num_frames_per_clip`` frames
    ``num_indices_between_frames`` apart. The range is [``sampling_range_start``,
    ``sampling_range_end``) of starts (negative from the end; ``None``: as far as whole clips
    fit)."""

    num_clips: int = 1
    num_frames_per_clip: int = 1
    num_indices_between_frames: int = 1
    sampling_range_start: int = 0
    sampling_range_end: Optional[int] = None
    policy: str = "repeat_last"

    _KIND = 0
    _RANDOM = True

    def _struct(self) -> ctypes.Structure:
        s = super()._struct()
        s.sampling_range_start = int(self.sampling_range_start)
        if self.sampling_range_end is not None:
            s.has_sampling_range_end = 1
            s.sampling_range_end = int(self.sampling_range_end)
        return s


@dataclasses.dataclass(frozen=True, kw_only=True)
class RegularIndices(RandomIndices):
    """As ``RandomIndices``, with the starts spread evenly over the sampling range, first and
    last included (``torch.linspace``)."""

    _KIND = 1
    _RANDOM = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class _TimestampSampler(_Sampler):
    """What the timestamp samplers share: the frames of a clip, their spacing and the sampling
    range, in seconds (NaN in the C description where absent)."""

    num_frames_per_clip: int = 1
    seconds_between_frames: Optional[float] = None
    sampling_range_start: Optional[float] = None
    sampling_range_end: Optional[float] = None
    policy: str = "repeat_last"

    def _struct(self) -> ctypes.Structure:
        s = super()._struct()
        s.seconds_between_frames = _seconds(self.seconds_between_frames)
        s.seconds_range_start = _seconds(self.sampling_range_start)
        s.seconds_range_end = _seconds(self.sampling_range_end)
        return s


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandomTimestamps(_TimestampSampler):
    """``num_clips`` clips starting at times drawn uniformly from [``sampling_range_start``,
    ``sampling_range_end``) seconds (``None``: the stream's start, its end); each takes
    ``num_frames_per_clip`` frames, those played at its start and every
    ``seconds_between_frames`` (default: one average frame) after it."""

    num_clips: int = 1

    _KIND = 2
    _RANDOM = True


@dataclasses.dataclass(frozen=True, kw_only=True)
class RegularTimestamps(_TimestampSampler):
    """Clips starting every ``seconds_between_clip_starts`` from the sampling range's start while
    before its end (``torch.arange``); each takes the frames played at its start and every
    ``seconds_between_frames`` after it. The number of clips follows from the video's
    duration."""

    seconds_between_clip_starts: float = 1.0

    _KIND = 3

    def _struct(self) -> ctypes.Structure:
        s = super()._struct()
        s.seconds_between_clip_starts = float(self.seconds_between_clip_starts)
        return s


def clips_at_random_indices(reader: VideoReader, *, seed: Optional[int] = None, **parameters) -> FrameBatch:
    """torchcodec's ``clips_at_random_indices``: see ``RandomIndices`` for the parameters."""
    return RandomIndices(**parameters)(reader, seed)


def clips_at_regular_indices(reader: VideoReader, **parameters) -> FrameBatch:
    """torchcodec's ``clips_at_regular_indices``: see ``RegularIndices`` for the parameters."""
    return RegularIndices(**parameters)(reader)


def clips_at_random_timestamps(reader: VideoReader, *, seed: Optional[int] = None, **parameters) -> FrameBatch:
    """torchcodec's ``clips_at_random_timestamps``: see ``RandomTimestamps``."""
    return RandomTimestamps(**parameters)(reader, seed)


def clips_at_regular_timestamps(
    reader: VideoReader, *, seconds_between_clip_starts: float, **parameters
) -> FrameBatch:
    """torchcodec's ``clips_at_regular_timestamps``: see ``RegularTimestamps``."""
    return RegularTimestamps(seconds_between_clip_starts=seconds_between_clip_starts, **parameters)(reader)
