"""``VideoReader``: random access to a video's frames, decoded on the GPU, as PyTorch users ask
for them (torchcodec's ``VideoDecoder`` is the model for the names and shapes)."""

from __future__ import annotations

import ctypes
import dataclasses
import os
from typing import Any, NamedTuple, Optional, Sequence, Union

from . import Error, Tensor, _c_struct, _call, _create, _library, _take_string

try:  # PyTorch is optional: without it, frames come as cudapreproc.Tensor (DLPack, CUDA arrays).
    import torch
except ImportError:  # pragma: no cover - exercised where torch is absent
    torch = None

_SEEK_MODES = ("exact", "approximate")
_FITS = ("stretch", "letterbox", "fill")
_COLOR_ORDERS = ("rgb", "bgr")
_DTYPES = ("uint8", "float16", "bfloat16", "float32")
_LAYOUTS = ("NCHW", "NHWC")
# Frames decoded per request when iterating over a whole video.
_ITER_CHUNK = 32


def _reader_signatures(err, pointer):
    """The C functions of the reader and their ctypes signatures (``pointer(name)``: a pointer
    to the library's struct ``name``)."""
    p, u64, i64, f64, c_int = ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int64, ctypes.c_double, ctypes.c_int
    batch = ctypes.POINTER(ctypes.c_void_p)
    return {
        "cudapreproc_reader_open": (
            [ctypes.c_char_p, pointer("ReaderOptionsC"), ctypes.POINTER(c_int), err],
            p,
        ),
        "cudapreproc_reader_reopen": ([p, ctypes.c_char_p, err], c_int),
        "cudapreproc_reader_metadata": ([p], p),
        "cudapreproc_reader_frames": (
            [p, ctypes.POINTER(u64), ctypes.POINTER(u64), ctypes.POINTER(ctypes.c_uint8), u64],
            u64,
        ),
        "cudapreproc_reader_get_frames_at": ([p, ctypes.POINTER(i64), u64, batch, err], c_int),
        "cudapreproc_reader_get_frames_in_range": ([p, u64, u64, u64, batch, err], c_int),
        "cudapreproc_reader_get_frames_played_at": ([p, ctypes.POINTER(f64), u64, batch, err], c_int),
        "cudapreproc_reader_get_frames_played_in_range": ([p, f64, f64, batch, err], c_int),
        "cudapreproc_reader_free": ([p], None),
        "cudapreproc_tensor_form_preset": ([pointer("TensorFormC"), ctypes.c_char_p, err], c_int),
        "cudapreproc_batch_len": ([p, ctypes.POINTER(u64)], u64),
        "cudapreproc_batch_info": ([p] + [ctypes.POINTER(u64)] * 3 + [ctypes.POINTER(f64)] * 2, None),
        "cudapreproc_batch_tensor": ([p], p),
        "cudapreproc_batch_free": ([p], None),
    }


def _device_ordinal(device: Union[str, int, Any]) -> int:
    """The CUDA ordinal of ``"cuda"``, ``"cuda:1"``, ``1`` or a ``torch.device``."""
    if isinstance(device, int):
        return device
    text = str(device)
    if text == "cuda":
        return 0
    if text.startswith("cuda:") and text[5:].isdigit():
        return int(text[5:])
    raise ValueError(f"device {device!r}: frames are decoded on a GPU: 'cuda', 'cuda:N' or N")


def _choice(name: str, value: str, choices: Sequence[str]) -> int:
    if value not in choices:
        raise ValueError(f"{name} {value!r}: one of {', '.join(choices)}")
    return choices.index(value)


def _dtype_name(dtype: Any) -> str:
    if isinstance(dtype, str):
        return dtype
    if torch is not None and isinstance(dtype, torch.dtype):
        return str(dtype).replace("torch.", "")
    raise ValueError(f"dtype {dtype!r}: one of {', '.join(_DTYPES)} (or the torch dtype)")


def _options(
    device, seek_mode, width, height, resize, crop, color_order, dtype, layout, normalize, mean, std, scale
) -> ctypes.Structure:
    options = _c_struct("ReaderOptionsC")()
    options.device = _device_ordinal(device)
    options.seek_mode = _choice("seek_mode", seek_mode, _SEEK_MODES)
    if (width is None) != (height is None):
        raise ValueError("width and height go together: give both, or neither for the decoded size")
    options.width, options.height = (width or 0), (height or 0)
    options.fit = _choice("resize", resize, _FITS)
    if crop is not None:
        if len(crop) != 4:
            raise ValueError(f"crop {crop!r}: (x, y, width, height)")
        options.crop[:] = [int(v) for v in crop]
    options.dtype = _choice("dtype", _dtype_name(dtype), _DTYPES)
    _set_form(options.form, layout, color_order, normalize, mean, std, scale)
    return options


def _set_form(form, layout, color_order, normalize, mean, std, scale) -> None:
    """Fills the library's ``TensorFormC`` from the arguments ``VideoReader`` and ``VideoWriter``
    share: how their tensors hold frames, and ``x * scale - mean``, divided by std, from a
    normalisation preset (the library's), custom statistics, or both."""
    form.layout = _choice("layout", layout.upper(), _LAYOUTS)
    form.color_order = _choice("color_order", color_order, _COLOR_ORDERS)
    try:
        preset = "none" if normalize is None else str(normalize)
        _call(_library().cudapreproc_tensor_form_preset, ctypes.byref(form), preset.encode())
    except ValueError as e:
        raise ValueError(f"{e}; or give mean and std") from None
    if mean is not None or std is not None:
        # Custom statistics are on [0, 1] values, as torchvision's Normalize after ToTensor.
        if normalize is None:
            form.scale = 1.0 / 255.0
        for name, values, absent in (("mean", mean, 0.0), ("std", std, 1.0)):
            values = tuple(values) if values is not None else (absent,) * 3
            if len(values) != 3:
                raise ValueError(f"{name} {values!r}: one value per colour channel (R, G, B)")
            getattr(form, name)[:] = [float(v) for v in values]
    if scale is not None:
        form.scale = float(scale)


@dataclasses.dataclass(frozen=True)
class VideoMetadata:
    """What the reader knows about a video before decoding it."""

    codec: str
    container: Optional[str]
    width: int
    height: int
    bit_depth: Optional[int]
    colorimetry: Optional[str]
    #: The container's nominal rate as (numerator, denominator); None when variable.
    framerate: Optional[tuple]
    duration_seconds: float
    begin_stream_seconds: float
    end_stream_seconds: float
    average_fps: float
    num_frames: int
    #: Whether the container has an index to seek with (MP4/MOV, Matroska/WebM).
    seekable: bool
    #: Whether the frame times come from the packets (seek_mode="exact") or the header.
    exact: bool


def _metadata(handle) -> VideoMetadata:
    text = _take_string(_library().cudapreproc_reader_metadata(handle))
    fields = dict(line.split("\t", 1) for line in text.splitlines())
    optional = lambda key, kind: kind(fields[key]) if fields[key] else None  # noqa: E731
    framerate = tuple(int(v) for v in fields["framerate"].split("/")) if fields["framerate"] else None
    return VideoMetadata(
        codec=fields["codec"],
        container=fields["container"] or None,
        width=int(fields["width"]),
        height=int(fields["height"]),
        bit_depth=optional("bit_depth", int),
        colorimetry=fields["colorimetry"] or None,
        framerate=framerate,
        duration_seconds=float(fields["duration_seconds"]),
        begin_stream_seconds=float(fields["begin_stream_seconds"]),
        end_stream_seconds=float(fields["end_stream_seconds"]),
        average_fps=float(fields["average_fps"]),
        num_frames=int(fields["num_frames"]),
        seekable=fields["seekable"] == "true",
        exact=fields["exact"] == "true",
    )


def _as_output(tensor: Tensor):
    """The frames as PyTorch sees them (zero-copy), or as they are without PyTorch."""
    return torch.from_dlpack(tensor) if torch is not None else tensor


def _as_vector(values: list):
    return torch.tensor(values, dtype=torch.float64) if torch is not None else tuple(values)


@dataclasses.dataclass
class FrameBatch:
    """Frames in the order asked: ``data`` is ``[N, C, H, W]`` (or ``[N, H, W, C]``) on the GPU,
    a ``torch.Tensor`` when PyTorch is installed (else a ``cudapreproc.Tensor``);
    ``pts_seconds`` and ``duration_seconds`` hold each frame's time, ``indices`` its index."""

    data: Any
    pts_seconds: Any
    duration_seconds: Any
    indices: tuple

    def __len__(self) -> int:
        return len(self.indices)


@dataclasses.dataclass
class Frame:
    """One frame: ``data`` is ``[C, H, W]`` (or ``[H, W, C]``)."""

    data: Any
    pts_seconds: float
    duration_seconds: float
    index: int


class _BatchContents(NamedTuple):
    """What a batch the library made holds: its tensor; the file and clip index of each clip
    (none for a reader's frames); each frame's index, stream time and duration."""

    data: Tensor
    file_indices: list
    clip_indices: list
    frame_indices: list
    pts_seconds: list
    duration_seconds: list


def _read_batch(handle) -> _BatchContents:
    """The contents of a batch the library made (freed here)."""
    lib = _library()
    try:
        clips = ctypes.c_uint64()
        n = int(lib.cudapreproc_batch_len(handle, ctypes.byref(clips)))
        files, clip_ids = (ctypes.c_uint64 * clips.value)(), (ctypes.c_uint64 * clips.value)()
        frames, pts, durations = (ctypes.c_uint64 * n)(), (ctypes.c_double * n)(), (ctypes.c_double * n)()
        lib.cudapreproc_batch_info(handle, files, clip_ids, frames, pts, durations)
        data = Tensor(lib.cudapreproc_batch_tensor(handle))
    finally:
        lib.cudapreproc_batch_free(handle)
    # ctypes reads the elements of these arrays as Python ints and floats.
    return _BatchContents(data, list(files), list(clip_ids), list(frames), list(pts), list(durations))


def _take_batch(handle) -> FrameBatch:
    """A FrameBatch from a batch the library made (freed here)."""
    contents = _read_batch(handle)
    return FrameBatch(
        data=_as_output(contents.data),
        pts_seconds=_as_vector(contents.pts_seconds),
        duration_seconds=_as_vector(contents.duration_seconds),
        indices=tuple(contents.frame_indices),
    )


class VideoReader:
    """Random access to the frames of a video, decoded with NVDEC and made into tensors on the
    GPU without leaving it.

    ``VideoReader(source)`` gives frames as torchcodec does: RGB, ``uint8``, ``[C, H, W]``,
    at the decoded size. The other keyword arguments ask for what a model needs, done on the
    GPU on the way out: ``width``/``height`` with ``resize`` ("stretch", "letterbox", "fill"),
    ``crop=(x, y, w, h)`` (before resizing), ``color_order`` ("rgb", "bgr"), ``dtype``
    ("uint8", "float16", "bfloat16", "float32" or the torch dtype), ``normalize`` ("unit",
    "symmetric", "imagenet") or ``mean``/``std`` on [0, 1] values, ``layout`` ("NCHW" or
    "NHWC"). ``seek_mode="exact"`` (the default) reads every frame's time from the packets when
    the file is opened; ``"approximate"`` trusts the header, for speed.

    Frames: ``reader[i]`` (negative from the end) or ``reader[a:b:c]``,
    ``get_frames_at([...])`` in any order with repeats, ``get_frames_in_range(start, stop,
    step)``, ``get_frames_played_at([seconds...])``, ``get_frames_played_in_range(t0, t1)``.
    A frame that does not exist raises ``IndexError`` naming the file and its length.
    ``reopen(path)`` moves to another video keeping the decoder, which saves most of the cost of
    opening a short clip.
    """

    def __init__(
        self,
        source: Union[str, "os.PathLike[str]"],
        *,
        device: Union[str, int, Any] = "cuda",
        seek_mode: str = "exact",
        width: Optional[int] = None,
        height: Optional[int] = None,
        resize: str = "stretch",
        crop: Optional[Sequence[int]] = None,
        color_order: str = "rgb",
        dtype: Any = "uint8",
        layout: str = "NCHW",
        normalize: Optional[str] = None,
        mean: Optional[Sequence[float]] = None,
        std: Optional[Sequence[float]] = None,
        scale: Optional[float] = None,
    ):
        options = _options(
            device, seek_mode, width, height, resize, crop, color_order, dtype, layout, normalize, mean, std, scale
        )
        self._layout = layout.upper()
        self._handle = _create(_library().cudapreproc_reader_open, os.fsencode(source), ctypes.byref(options))
        self._source = os.fsdecode(source)
        self._load()

    def _load(self):
        self._metadata = _metadata(self._handle)
        n = self._metadata.num_frames
        times = (ctypes.c_uint64 * n)()
        key = (ctypes.c_uint8 * n)()
        _library().cudapreproc_reader_frames(self._handle, times, None, key, n)
        self._key_frames = tuple(i for i in range(n) if key[i])

    def _live(self):
        if not self._handle:
            raise Error("the reader is closed")
        return self._handle

    @property
    def metadata(self) -> VideoMetadata:
        return self._metadata

    @property
    def source(self) -> str:
        return self._source

    @property
    def key_frame_indices(self) -> tuple:
        """Indices of the key frames (empty with ``seek_mode="approximate"``)."""
        return self._key_frames

    def __len__(self) -> int:
        return self._metadata.num_frames

    def reopen(self, source: Union[str, "os.PathLike[str]"]) -> None:
        """Moves to another video with the same options, keeping the pipeline and the decoder.
        If the new video cannot be opened the reader stays on the current one."""
        _call(_library().cudapreproc_reader_reopen, self._live(), os.fsencode(source))
        self._source = os.fsdecode(source)
        self._load()

    def _request(self, function, *args) -> FrameBatch:
        """The batch ``function`` (a ``cudapreproc_reader_*`` call giving one) makes of this
        reader's video with ``args``."""
        handle = ctypes.c_void_p()
        _call(function, self._live(), *args, ctypes.byref(handle))
        return _take_batch(handle)

    def _request_each(self, function, ctype, values: list) -> FrameBatch:
        """As ``_request``, for a function taking ``values`` as a C array of ``ctype`` and its
        length."""
        array = (ctype * len(values))(*values)
        return self._request(function, array, len(values))

    def get_frames_at(self, indices: Sequence[int]) -> FrameBatch:
        """The frames at ``indices`` (negative from the end), in that order, repeats included."""
        values = [int(i) for i in indices]
        return self._request_each(_library().cudapreproc_reader_get_frames_at, ctypes.c_int64, values)

    def get_frame_at(self, index: int) -> Frame:
        return _single(self.get_frames_at([index]))

    def get_frames_in_range(self, start: int, stop: int, step: int = 1) -> FrameBatch:
        """Frames ``start``, ``start + step``, ... before ``stop`` (``0 <= start <= stop <=
        len(self)``)."""
        if min(start, stop, step) < 0:
            raise IndexError(
                f"{self._source}: frames {start} to {stop} by {step}: a range of the video's "
                f"{len(self)} frames counts up from 0"
            )
        return self._request(_library().cudapreproc_reader_get_frames_in_range, start, stop, step)

    def get_frames_played_at(self, seconds: Sequence[float]) -> FrameBatch:
        """The frame shown at each time (seconds), in the order given."""
        values = [float(t) for t in seconds]
        return self._request_each(_library().cudapreproc_reader_get_frames_played_at, ctypes.c_double, values)

    def get_frame_played_at(self, seconds: float) -> Frame:
        return _single(self.get_frames_played_at([seconds]))

    def get_frames_played_in_range(self, start_seconds: float, stop_seconds: float) -> FrameBatch:
        """The frames shown from ``start_seconds`` (the one shown then, included) until
        ``stop_seconds`` (excluded)."""
        return self._request(
            _library().cudapreproc_reader_get_frames_played_in_range, float(start_seconds), float(stop_seconds)
        )

    def __getitem__(self, key: Union[int, slice]) -> Union[Frame, FrameBatch]:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step < 0:
                return self.get_frames_at(list(range(start, stop, step)))
            return self.get_frames_in_range(start, max(start, stop), step)
        if not isinstance(key, int):
            raise TypeError(f"frames are indexed by int or slice, not {type(key).__name__}")
        return self.get_frame_at(key)

    def __iter__(self):
        """Every frame in order, decoded a chunk at a time (one pass over the video)."""
        for start in range(0, len(self), _ITER_CHUNK):
            batch = self.get_frames_in_range(start, min(start + _ITER_CHUNK, len(self)))
            for k in range(len(batch)):
                yield _frame(batch, k)

    def close(self) -> None:
        """Stops the pipeline; frames already taken stay valid."""
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            _library().cudapreproc_reader_free(handle)

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        self.close()

    def __repr__(self) -> str:
        m = self._metadata
        return f"VideoReader({self._source!r}, {m.num_frames} frames, {m.width}x{m.height} {m.codec})"


def _frame(batch: FrameBatch, k: int) -> Frame:
    """Frame ``k`` of a batch; without PyTorch (whose tensors index), the data stays the
    batch's."""
    return Frame(
        data=batch.data[k] if torch is not None else batch.data,
        pts_seconds=float(batch.pts_seconds[k]),
        duration_seconds=float(batch.duration_seconds[k]),
        index=batch.indices[k],
    )


def _single(batch: FrameBatch) -> Frame:
    return _frame(batch, 0)
