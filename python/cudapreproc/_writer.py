"""``VideoWriter``: GPU tensors to encoded video, the way back out of a model (torchcodec's
``VideoEncoder`` is the model for the names)."""

from __future__ import annotations

import ctypes
import fractions
from typing import Any, Optional, Sequence, Union

from . import _c_struct, _call, _create, _library, _take_string
from ._reader import _choice, _device_ordinal, _set_form

_CODECS = ("h264", "h265")
_CHROMAS = ("420", "444")

# Taking over a DLPack capsule: its pointer, and the name that tells its producer a consumer
# took it (so the capsule's own destructor leaves the tensor alone).
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_rename = ctypes.pythonapi.PyCapsule_SetName
_capsule_rename.restype = ctypes.c_int
_capsule_rename.argtypes = [ctypes.py_object, ctypes.c_char_p]
# The capsule keeps the name's pointer, so the names live as long as the module.
_DLTENSOR, _USED_DLTENSOR = b"dltensor", b"used_dltensor"


def _writer_signatures(err, pointer):
    """The C functions of the writer and their ctypes signatures (``pointer``: as for
    ``_reader_signatures``)."""
    p, u64, c_int = ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int
    return {
        "cudapreproc_writer_create": (
            [ctypes.c_char_p, pointer("WriterOptionsC"), ctypes.POINTER(c_int), err],
            p,
        ),
        "cudapreproc_writer_encoder": ([p], p),
        "cudapreproc_writer_frames": ([p], u64),
        "cudapreproc_import_stream": ([ctypes.c_int32, err], u64),
        "cudapreproc_writer_write_dlpack": ([p, p, u64, err], c_int),
        "cudapreproc_writer_close": ([p, err], c_int),
        "cudapreproc_writer_free": ([p], None),
    }


def _fps(fps: Union[int, float, Sequence[int]]) -> tuple:
    """Frames per second as (numerator, denominator): 30, 12.5 (25/2), the NTSC rates given as
    23.976, 29.97 or 59.94 (24000/1001...), or (numerator, denominator) as it is."""
    if isinstance(fps, (tuple, list)):
        if len(fps) != 2:
            raise ValueError(f"fps {fps!r}: a number or (numerator, denominator)")
        return int(fps[0]), int(fps[1])
    value = float(fps)
    if not value > 0 or value == float("inf"):
        raise ValueError(f"fps {fps!r}: a number above 0")
    if value == int(value):
        return int(value), 1
    ntsc = value * 1001 / 1000
    if abs(ntsc - round(ntsc)) < 0.005:
        return round(ntsc) * 1000, 1001
    rate = fractions.Fraction(value).limit_denominator(1000)
    return rate.numerator, rate.denominator


class VideoWriter:
    """Writes GPU frames to a video file (or a pipeline tail of your own).

    ``write(frames)`` takes a CUDA tensor (PyTorch, CuPy, or anything with ``__dlpack__``) of
    shape ``[N, C, H, W]`` (``layout="NCHW"``) or ``[N, H, W, C]``, or one frame without ``N``;
    uint8, float16, bfloat16 or float32, RGB or BGR, C-contiguous. Float values are mapped back
    to 8 bits by undoing ``normalize`` (or ``mean``/``std``/``scale``), the same names
    ``VideoReader`` takes, so frames read with ``normalize="imagenet"`` are written with it too.
    The tensor's memory is read in place (work queued on the tensor's stream before ``write``
    runs first) and may be reused once ``write`` returns.

    The encoder is NVENC where the GPU has one (``nvh264enc``, ``nvh265enc``), else a software
    encoder (``x264enc``, ``openh264enc``, ``x265enc``); ``encoder`` forces one and the
    ``encoder`` attribute says which was chosen. ``chroma="420"`` (the default, what players
    expect) needs even sizes; ``chroma="444"`` keeps colour at every pixel and takes any size.
    ``lossless=True`` encodes without loss (x264enc, x265enc, NVENC; not OpenH264): with 4:4:4
    the decoded pixels are the converted frames exactly. Only H.265 4:4:4 (``codec="h265"``)
    decodes on NVDEC; H.264 4:4:4 needs a software decoder. The muxer follows
    the file name: ``.mp4``, ``.mov``, ``.mkv``, or ``.h264``/``.h265`` for a raw stream.
    ``tail`` replaces encoder, muxer and file with a ``gst-launch-1.0`` pipeline of your own
    (``"x264enc ! rtph264pay ! udpsink host=10.0.0.2 port=5000"``).

    Use it as a context manager, or call ``close()``: the file is finished there (an MP4's
    index is written at the end), and an error on the way is raised there.
    """

    def __init__(
        self,
        destination: str,
        fps: Union[int, float, Sequence[int]] = 30,
        *,
        codec: str = "h264",
        encoder: Optional[str] = None,
        bitrate_kbps: int = 20_000,
        chroma: str = "420",
        lossless: bool = False,
        layout: str = "NCHW",
        color_order: str = "rgb",
        normalize: Optional[str] = None,
        mean: Optional[Sequence[float]] = None,
        std: Optional[Sequence[float]] = None,
        scale: Optional[float] = None,
        tail: Optional[str] = None,
    ) -> None:
        self._handle = None
        options = _c_struct("WriterOptionsC")()
        options.fps_num, options.fps_den = _fps(fps)
        options.codec = _choice("codec", codec, _CODECS)
        options.encoder = encoder.encode() if encoder else None
        if int(bitrate_kbps) <= 0:
            raise ValueError(f"bitrate_kbps {bitrate_kbps!r}: above 0")
        options.bitrate_kbps = int(bitrate_kbps)
        options.chroma = _choice("chroma", {"4:2:0": "420", "4:4:4": "444"}.get(chroma, chroma), _CHROMAS)
        options.lossless = bool(lossless)
        _set_form(options.form, layout, color_order, normalize, mean, std, scale)
        options.tail = tail.encode() if tail else None
        self.destination = destination
        lib = _library()
        handle = _create(lib.cudapreproc_writer_create, destination.encode(), ctypes.byref(options))
        self._handle = handle
        name = lib.cudapreproc_writer_encoder(handle)
        #: The encoder element chosen (``None`` with a ``tail`` of your own).
        self.encoder: Optional[str] = _take_string(name) if name else None

    @property
    def frames_written(self) -> int:
        """Frames written so far."""
        return int(_library().cudapreproc_writer_frames(self._live()))

    def write(self, frames: Any) -> None:
        """Writes a batch of frames (or one frame); waits while the pipeline is full."""
        handle = self._live()
        if not hasattr(frames, "__dlpack__") or not hasattr(frames, "__dlpack_device__"):
            raise TypeError(f"{type(frames).__name__}: a CUDA tensor with __dlpack__ is written")
        device_type, device_id = frames.__dlpack_device__()
        if int(device_type) != 2:
            raise ValueError(
                f"{self.destination}: the frames are on DLPack device type {int(device_type)}; "
                "move them to the GPU (.cuda()) first"
            )
        lib = _library()
        stream = _call(lib.cudapreproc_import_stream, _device_ordinal(int(device_id)))
        # The producer orders its work before our stream's reads.
        capsule = frames.__dlpack__(stream=int(stream))
        managed = _capsule_pointer(capsule, _DLTENSOR)
        # Taken over: from here the library calls the tensor's deleter.
        _capsule_rename(capsule, _USED_DLTENSOR)
        _call(lib.cudapreproc_writer_write_dlpack, handle, managed, stream)

    def close(self) -> None:
        """Finishes the file; raises what went wrong on the way. Closing twice does nothing."""
        handle, self._handle = self._handle, None
        if handle:
            _call(_library().cudapreproc_writer_close, handle)

    def _live(self):
        if not self._handle:
            raise ValueError(f"{self.destination}: the writer is closed")
        return self._handle

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle:
            self._handle = None
            _library().cudapreproc_writer_free(handle)

    def __repr__(self) -> str:
        return f"VideoWriter({self.destination!r}, encoder={self.encoder!r})"
