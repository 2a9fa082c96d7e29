"""Tensors from GStreamer pipelines that end in ``tensorsink``, zero-copy into PyTorch.

    import torch, cudapreproc

    chain = ("nvdecsrc location=clip.mp4 ! cudawarpaffine width=224 height=224 ! "
             "cudacvtcolor ! video/x-raw(memory:CUDAMemory),format=RGBP ! "
             "cudaconvert preset=imagenet ! tensorsink batch-size=8")
    with cudapreproc.Pipeline(chain) as pipeline:
        for tensor in pipeline:
            batch = torch.from_dlpack(tensor)    # [8, 3, 224, 224] float32, same device memory

Each ``Tensor`` implements DLPack (``__dlpack__``/``__dlpack_device__``, which
``torch.from_dlpack``, ``cupy.from_dlpack`` and ``jax.dlpack`` call) and
``__cuda_array_interface__`` (``torch.as_tensor``, CuPy, Numba). Both hand out the pipeline's
own device memory. The memory stays out of the pipeline's pools until every holder is done:
the ``Tensor`` object and each array made from it. Holding many tensors therefore stalls the
pipeline, since its pools are bounded: keep what you need, or copy it.

This module is pure Python over ``libcudapreproc_python.so``, a C library built from the
project's Rust crates (``cargo build --release -p cudapreproc-python``). It is loaded with
ctypes, so a plain ``pip`` environment needs nothing else: no compiler, no Python headers, and no
PyGObject (which has no wheels and needs GObject-Introspection from the system). Where the
library is looked for: ``$CUDAPREPROC_LIBRARY``, this package's folder, then in the repository
the meson build (``_build/``, what ``meson compile -C _build`` and ``scripts/demo`` make) and
cargo's ``target/release`` and ``target/debug``. A library found there that was built from other
sources than the module (a stale build: a function or a struct field the module uses missing)
raises ``Error`` when it is loaded or when the field is set. The module declares no C struct
itself: it builds each one's ctypes Structure from the layout the library gives. GStreamer
itself (1.22 or newer) must be installed; the elements are built into the library, so
``GST_PLUGIN_PATH`` is not needed.

Errors are raised as ``Error``: a description that does not parse, a property value GLib or the
element refuses (named in the message; the pipeline is not started with the old value), and an
element's error while running (its message; the source location stays in GStreamer's debug log,
``GST_DEBUG=tensorpipeline:4``). Waiting for a tensor can be interrupted with Ctrl-C.
"""

import contextlib
import ctypes
import os
import pathlib
import re

__all__ = [
    "ClipBatch",
    "Error",
    "Frame",
    "FrameBatch",
    "Pipeline",
    "SkippedFile",
    "SourceError",
    "Tensor",
    "VideoDataset",
    "VideoMetadata",
    "VideoReader",
    "VideoWriter",
    "empty_cache",
    "gst_plugin_path",
    "library_path",
    "library_version",
    "live_dlpack_exports",
]

# The package's version; the library it loads must be the same one (``library_version()``).
__version__ = "0.1.0"

_LIBRARY_NAME = "libcudapreproc_python.so"
# cudapreproc_pipeline_pull's outcomes, and how long one call waits: Python handles signals
# (Ctrl-C) between calls.
_PULLED, _WAITING = 0, 1
_PULL_WAIT_MS = 50
_DL_CPU, _DL_CUDA = 1, 2
# DLPack stream values for CUDA (the Python array API): 1 the legacy default stream,
# 2 the per-thread default stream, -1 "do not synchronise".
_LEGACY_DEFAULT_STREAM = 1
_NO_SYNC = -1
# __cuda_array_interface__ type strings (bfloat16 has none).
_TYPESTR = {"uint8": "|u1", "float16": "<f2", "float32": "<f4"}
_ITEMSIZE = {"uint8": 1, "float16": 2, "bfloat16": 2, "float32": 4}


class Error(RuntimeError):
    """A pipeline that cannot be built (a description that does not parse, a property value
    that is refused) or that failed while running, or a CUDA error."""


class SourceError(Error):
    """A video that cannot be opened or read: missing, not a video, damaged. The message names
    the file."""


def library_path():
    """The path of the C library this module loads (see the module's notes)."""
    configured = os.environ.get("CUDAPREPROC_LIBRARY")
    if configured:
        return configured
    here = pathlib.Path(__file__).resolve().parent
    repository = here.parent.parent
    # In a wheel the library carries the extension suffix its build gave it (.abi3.so).
    packaged = sorted(here.glob("libcudapreproc_python*.so"))
    for candidate in (
        *packaged,
        repository / "_build" / _LIBRARY_NAME,
        repository / "target" / "release" / _LIBRARY_NAME,
        repository / "target" / "debug" / _LIBRARY_NAME,
    ):
        if candidate.exists():
            return str(candidate)
    raise Error(
        f"{_LIBRARY_NAME} not found next to the module, in {repository / '_build'} or in "
        f"{repository / 'target'}: build it (`meson compile -C _build`, or `cargo build --release "
        "-p cudapreproc-python`) or set CUDAPREPROC_LIBRARY to its path"
    )


_lib = None
# The library's #[repr(C)] structs by their Rust names, as ctypes Structures built from the layouts
# it gives (cudapreproc_struct_layout), once it is loaded.
_structs = {}
# A struct comes after the structs it has as fields.
_STRUCT_NAMES = ("TensorDescription", "TensorFormC", "ReaderOptionsC", "WriterOptionsC", "DatasetOptionsC", "SamplerC")
# The ctypes type of each field type in those layouts.
_FIELD_TYPES = {
    "i32": ctypes.c_int32,
    "u32": ctypes.c_uint32,
    "i64": ctypes.c_int64,
    "u64": ctypes.c_uint64,
    "u8": ctypes.c_uint8,
    "f64": ctypes.c_double,
    "string": ctypes.c_char_p,
    "u64_pointer": ctypes.POINTER(ctypes.c_uint64),
}


def _library():
    global _lib
    if _lib is not None:
        return _lib
    path = library_path()
    lib = ctypes.CDLL(path)
    _declare(
        lib,
        path,
        {
            "cudapreproc_struct_layout": ([ctypes.c_char_p], ctypes.c_void_p),
            "cudapreproc_string_free": ([ctypes.c_void_p], None),
        },
    )
    structs = {}
    for name in _STRUCT_NAMES:
        structs[name] = _struct_from_layout(name, _layout(lib, path, name), path, structs)

    def pointer(name):
        return ctypes.POINTER(structs[name])

    err = ctypes.POINTER(ctypes.c_char_p)
    signatures = {
        "cudapreproc_pipeline_launch": ([ctypes.c_char_p, err], ctypes.c_void_p),
        "cudapreproc_pipeline_pull": (
            [ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_void_p), err],
            ctypes.c_int,
        ),
        "cudapreproc_pipeline_free": ([ctypes.c_void_p], None),
        "cudapreproc_tensor_describe": (
            [ctypes.c_void_p, pointer("TensorDescription"), err],
            ctypes.c_int,
        ),
        "cudapreproc_tensor_wait_on_stream": ([ctypes.c_void_p, ctypes.c_uint64, err], ctypes.c_int),
        "cudapreproc_tensor_synchronize": ([ctypes.c_void_p, err], ctypes.c_int),
        "cudapreproc_tensor_to_dlpack": ([ctypes.c_void_p, ctypes.c_int64, err], ctypes.c_void_p),
        "cudapreproc_tensor_free": ([ctypes.c_void_p], None),
        "cudapreproc_live_dlpack_exports": ([], ctypes.c_uint64),
        "cudapreproc_empty_cache": ([ctypes.c_int32, err], ctypes.c_int),
        "cudapreproc_version": ([], ctypes.c_char_p),
        "cudapreproc_init": ([err], ctypes.c_int),
    }
    signatures.update(_reader_signatures(err, pointer))
    signatures.update(_dataset_signatures(err, pointer))
    signatures.update(_writer_signatures(err, pointer))
    _declare(lib, path, signatures)
    with _bundled_gstreamer():
        error = ctypes.c_char_p()
        if lib.cudapreproc_init(ctypes.byref(error)) != 0:
            raise Error(error.value.decode(errors="replace"))
    _structs.update(structs)
    _lib = lib
    return lib


_OTHER_SOURCES = (
    "it was built from other sources than this module; rebuild it (`meson compile -C _build`, or "
    "`cargo build --release -p cudapreproc-python`) or point CUDAPREPROC_LIBRARY at the right one"
)


def _declare(lib, path, signatures):
    """Gives each function of the library at ``path`` its ctypes signature; raises ``Error``
    for one it does not have."""
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name, None)
        if function is None:
            raise Error(f"{path} has no function {name}: {_OTHER_SOURCES}")
        function.argtypes = argtypes
        function.restype = restype


def _layout(lib, path, name):
    """The layout of the library's struct ``name``: ``SIZE;field:TYPE:OFFSET;...``, where TYPE
    is a key of ``_FIELD_TYPES``, ``KEY[N]`` for an array of N, or the name of another struct."""
    text = lib.cudapreproc_struct_layout(name.encode())
    if not text:
        raise Error(f"{path} has no struct {name}: {_OTHER_SOURCES}")
    try:
        return ctypes.string_at(text).decode()
    finally:
        lib.cudapreproc_string_free(text)


class _CStruct(ctypes.Structure):
    """A struct of the library. Setting a field it does not have raises ``Error`` (ctypes would
    keep the value as a plain attribute, and the library would never see it)."""

    _field_names: frozenset = frozenset()

    def __setattr__(self, name, value):
        if name not in self._field_names:
            raise Error(f"the library's struct {type(self).__name__} has no field {name}: {_OTHER_SOURCES}")
        super().__setattr__(name, value)


def _struct_from_layout(name, layout, path, structs):
    """The ctypes Structure for ``layout`` (see ``_layout``), whose struct fields are among
    ``structs``. ctypes places the fields by C's rules, as the library's compiler did; a size or
    offset that differs all the same (a field type mapped wrongly) raises ``Error``."""
    size, *fields = layout.split(";")
    declared, offsets = [], {}
    for field in fields:
        field_name, type_name, offset = field.split(":")
        scalar, _, length = type_name.partition("[")
        ctype = _FIELD_TYPES.get(scalar, structs.get(scalar))
        if ctype is None or (length and not re.fullmatch(r"[0-9]+\]", length)):
            raise Error(
                f"{path}: field {field_name} of its struct {name} has a type this module does not know, {type_name}"
            )
        declared.append((field_name, ctype * int(length[:-1]) if length else ctype))
        offsets[field_name] = int(offset)
    struct = type(name, (_CStruct,), {"_fields_": declared, "_field_names": frozenset(offsets)})
    placed = {field_name: getattr(struct, field_name).offset for field_name in offsets}
    if ctypes.sizeof(struct) != int(size) or placed != offsets:
        raise Error(
            f"{path}: its struct {name} is {size} bytes with offsets {offsets}; ctypes places the "
            f"same fields in {ctypes.sizeof(struct)} bytes at {placed}"
        )
    return struct


def _c_struct(name):
    """The ctypes Structure of the library's ``#[repr(C)]`` struct ``name`` (its Rust name),
    loading the library first."""
    _library()
    return _structs[name]


# GStreamer's variables that would make the wheel's GStreamer load plugins or a registry that
# are not its own (a system GStreamer's, or this project's plugin built for it).
_GSTREAMER_VARIABLES = (
    "GST_PLUGIN_PATH",
    "GST_PLUGIN_PATH_1_0",
    "GST_PLUGIN_SYSTEM_PATH",
    "GST_PLUGIN_SYSTEM_PATH_1_0",
    "GST_PLUGIN_SCANNER",
    "GST_PLUGIN_SCANNER_1_0",
    "GST_REGISTRY",
    "GST_REGISTRY_1_0",
    "GST_REGISTRY_FORK",
)


@contextlib.contextmanager
def _bundled_gstreamer():
    """While GStreamer initialises: a wheel's own GStreamer (``gstreamer-1.0/`` next to this
    file, its libraries renamed by auditwheel so that a system GStreamer in the same process is
    another library) loads only its own plugins, scanned in this process (the wheel has no
    plugin scanner), with a registry of its own. The environment is restored afterwards, so a
    system GStreamer initialised later in the process sees what it would have. Nothing changes
    where the module runs on the system's GStreamer (a repository build or ``meson install``)."""
    plugins = pathlib.Path(__file__).resolve().parent / "gstreamer-1.0"
    if not plugins.is_dir():
        yield
        return
    saved = {name: os.environ.get(name) for name in _GSTREAMER_VARIABLES}
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    for name in _GSTREAMER_VARIABLES:
        os.environ.pop(name, None)
    os.environ["GST_PLUGIN_SYSTEM_PATH_1_0"] = str(plugins)
    os.environ["GST_REGISTRY_1_0"] = str(
        cache / "cudapreproc" / f"gstreamer-registry-{__version__}.bin"
    )
    os.environ["GST_REGISTRY_FORK"] = "no"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# Error codes of the library's functions, by kind, and the exceptions they become: a frame or
# time outside the video is an IndexError, an impossible argument a ValueError.
_ERROR_OUT_OF_RANGE, _ERROR_INVALID_ARGUMENT, _ERROR_SOURCE = -2, -3, -4


def _take_string(pointer) -> str:
    """A string the library allocated, decoded; the library's copy is freed."""
    try:
        return ctypes.string_at(pointer).decode(errors="replace")
    finally:
        _library().cudapreproc_string_free(pointer)


def _raise(code, error):
    message = _take_string(ctypes.cast(error, ctypes.c_void_p))
    if code == _ERROR_OUT_OF_RANGE:
        raise IndexError(message)
    if code == _ERROR_INVALID_ARGUMENT:
        raise ValueError(message)
    if code == _ERROR_SOURCE:
        raise SourceError(message)
    raise Error(message)


def _call(function, *args):
    """Calls a library function whose last argument is an error slot; returns its result, or
    raises the error it reports (the result, when negative, says which kind)."""
    error = ctypes.c_char_p()
    result = function(*args, ctypes.byref(error))
    if error.value is not None:
        _raise(result if isinstance(result, int) else -1, error)
    return result


def _create(function, *args):
    """Calls a library function that makes an object and whose last two arguments are slots for
    an error's code and message; returns the object's handle, or raises the error."""
    code, error = ctypes.c_int(-1), ctypes.c_char_p()
    handle = function(*args, ctypes.byref(code), ctypes.byref(error))
    if not handle:
        _raise(code.value, error)
    return handle


# PyCapsule_New from the running interpreter; the capsule's destructor is the library's.
_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]


def gst_plugin_path():
    """The folder holding this package's GStreamer plugin (``libgstcudapreproc.so``, built for
    the system's GStreamer 1.22 or newer), to put in ``GST_PLUGIN_PATH`` for ``gst-launch-1.0``
    and applications; ``None`` where the package has none (a repository build keeps it in
    ``_build/plugins``). The console command ``cudapreproc-gst-plugin-path`` prints it."""
    folder = pathlib.Path(__file__).resolve().parent / "gstreamer-plugin"
    return str(folder) if (folder / "libgstcudapreproc.so").exists() else None


def _print_gst_plugin_path():
    folder = gst_plugin_path()
    if folder is None:
        raise SystemExit("this cudapreproc package has no GStreamer plugin (a wheel has one)")
    print(folder)


def library_version():
    """The version of the C library this module loads; ``__version__`` is the package's."""
    return _library().cudapreproc_version().decode()


def empty_cache(device: int = 0) -> None:
    """Gives the driver back the GPU memory this module keeps for reuse on ``device`` (frames
    and batches go back to a pool when released, and new ones are taken from it), once the
    device's queued work has run; memory still in use stays. As ``torch.cuda.empty_cache()``
    does for PyTorch's cache, for when the memory is needed elsewhere."""
    _call(_library().cudapreproc_empty_cache, int(device))


def live_dlpack_exports():
    """DLPack exports made by this module that their consumers have not released yet."""
    return int(_library().cudapreproc_live_dlpack_exports())


class Tensor:
    """One tensor from ``tensorsink``: a frame or a batch [N, ...] of frames, in the pipeline's
    device memory (or system memory when the pipeline delivers that). Attributes: ``data_ptr``,
    ``shape``, ``strides`` (elements), ``dtype`` (name), ``device`` (("cuda", id) or
    ("cpu", 0)), ``pts`` (ns or None), ``frame_numbers`` and ``ready_event`` (the ``CUevent``
    after which the data is ready; DLPack consumers are made to wait on it for you)."""

    def __init__(self, handle):
        self._handle = handle
        description = _c_struct("TensorDescription")()
        _call(_library().cudapreproc_tensor_describe, handle, ctypes.byref(description))
        ndim = description.ndim
        self.data_ptr = int(description.data_ptr)
        self.shape = tuple(description.shape[:ndim])
        self.strides = tuple(description.strides[:ndim])
        self.dtype = description.dtype.decode()
        self._device_type = description.device_type
        self.device = ("cuda" if description.device_type == _DL_CUDA else "cpu", description.device_id)
        self.pts = None if description.pts < 0 else int(description.pts)
        self.ready_event = int(description.ready_event)
        self.frame_numbers = tuple(description.frame_numbers[i] for i in range(description.n_frames))

    def __del__(self):
        handle, self._handle = getattr(self, "_handle", None), None
        if handle and _lib is not None:
            _lib.cudapreproc_tensor_free(handle)

    def __repr__(self):
        return (
            f"cudapreproc.Tensor(shape={self.shape}, dtype={self.dtype}, device={self.device}, "
            f"frames={list(self.frame_numbers)}, data_ptr={self.data_ptr:#x})"
        )

    @property
    def nbytes(self):
        count = 1
        for extent in self.shape:
            count *= extent
        return count * _ITEMSIZE[self.dtype]

    def wait_on_stream(self, stream):
        """Makes the CUDA stream ``stream`` (a ``CUstream`` as an int, e.g.
        ``torch.cuda.current_stream().cuda_stream``; 1 or 2 for the legacy or per-thread
        default stream) wait until the data is ready, without blocking Python. The stream is
        remembered as a reader: once this object is freed, the pipeline's next write to the
        memory waits for the work queued on it by then."""
        _call(_library().cudapreproc_tensor_wait_on_stream, self._handle, stream)

    def synchronize(self):
        """Blocks until the data is ready."""
        _call(_library().cudapreproc_tensor_synchronize, self._handle)

    def __dlpack_device__(self):
        return (self._device_type, self.device[1])

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule (the unversioned "dltensor" ABI, which every consumer reads) for this
        memory, without a copy. ``stream`` is the consumer's stream (None: the legacy default
        stream; -1: none). It is made to wait for the data, and when the consumer frees the
        tensor, the pipeline's next write to the memory waits for the work queued on it by
        then."""
        if copy:
            raise BufferError("cudapreproc tensors are exported without copying (copy=True)")
        if dl_device is not None and tuple(dl_device) != self.__dlpack_device__():
            raise BufferError(f"the tensor is on {self.device}, not DLPack device {tuple(dl_device)}")
        if self._device_type != _DL_CUDA or stream == _NO_SYNC:
            stream = _NO_SYNC
        elif stream is None:
            stream = _LEGACY_DEFAULT_STREAM
        lib = _library()
        managed = _call(lib.cudapreproc_tensor_to_dlpack, self._handle, stream)
        destructor = ctypes.cast(lib.cudapreproc_dlpack_capsule_destructor, ctypes.c_void_p)
        return _capsule_new(managed, b"dltensor", destructor)

    @property
    def __cuda_array_interface__(self):
        """Version 3 of Numba's interface, read by ``torch.as_tensor``, CuPy and Numba. It
        carries no stream, so the data is made ready (a host wait on the ready event) before
        the description is returned. The reader keeps this object alive (PyTorch and CuPy do),
        but nothing tells the pipeline which stream read it: synchronise before the last array
        made from it is freed, or use DLPack, which orders the reuse on the GPU."""
        if self._device_type != _DL_CUDA:
            raise AttributeError("__cuda_array_interface__: the tensor is in system memory")
        if self.dtype not in _TYPESTR:
            raise AttributeError(f"__cuda_array_interface__ has no type string for {self.dtype}")
        self.synchronize()
        itemsize = _ITEMSIZE[self.dtype]
        return {
            "version": 3,
            "shape": self.shape,
            "typestr": _TYPESTR[self.dtype],
            "data": (self.data_ptr, False),
            "strides": tuple(s * itemsize for s in self.strides),
            "stream": None,
        }


class Pipeline:
    """A running pipeline (a ``gst-launch-1.0`` description with one ``tensorsink``). Iterate
    over it for its tensors until the end of the stream; an element's error is raised as
    ``Error``. ``close()`` (or leaving a ``with`` block) stops it; tensors already taken stay
    valid."""

    def __init__(self, description):
        lib = _library()
        self._handle = _call(lib.cudapreproc_pipeline_launch, description.encode())

    def next(self):
        """The next tensor, or None at the end of the stream. Waits without holding the GIL,
        in short steps, so Ctrl-C (``KeyboardInterrupt``) interrupts it."""
        if not self._handle:
            raise Error("the pipeline is closed")
        lib = _library()
        handle = ctypes.c_void_p()
        while _call(lib.cudapreproc_pipeline_pull, self._handle, _PULL_WAIT_MS, ctypes.byref(handle)) == _WAITING:
            pass
        return Tensor(handle.value) if handle.value else None

    def __iter__(self):
        while True:
            tensor = self.next()
            if tensor is None:
                return
            yield tensor

    def close(self):
        handle, self._handle = self._handle, None
        if handle:
            _library().cudapreproc_pipeline_free(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if _lib is not None and getattr(self, "_handle", None):
            self.close()


# The reader, samplers and dataset build on the definitions above.
from ._reader import Frame, FrameBatch, VideoMetadata, VideoReader, _reader_signatures  # noqa: E402
from . import samplers  # noqa: E402
from .dataset import ClipBatch, SkippedFile, VideoDataset, _dataset_signatures  # noqa: E402
from ._writer import VideoWriter, _writer_signatures  # noqa: E402
