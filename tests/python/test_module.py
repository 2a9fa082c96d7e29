"""The cudapreproc Python module without a GPU: tensorsink's system-memory tensors (a raw file cut
into frames by filesrc) read through DLPack by NumPy, zero-copy, compared with the file's bytes;
lifetimes (an array outlives its pipeline; every export is released); errors (refused property
values, element errors without source locations); and Ctrl-C while waiting for a tensor.

    CUDAPREPROC_LIBRARY=target/release/libcudapreproc_python.so .tools/venv/bin/python3 tests/python/test_module.py

With CUDAPREPROC_TEST_INSTALLED=1 it tests the module the interpreter has installed (a wheel, or `meson install`'s)
instead of the repository's python/ folder, and checks that it is that one. Needs NumPy (tests/python/requirements.txt; scripts/setup installs it into .tools/venv) and
GStreamer's core elements.
"""

import ctypes
import gc
import math
import os
import pathlib
import random
import re
import signal
import sys
import tempfile
import threading
import time
import unittest

import numpy as np

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
INSTALLED = os.environ.get("CUDAPREPROC_TEST_INSTALLED") == "1"
if not INSTALLED:
    sys.path.insert(0, str(REPOSITORY / "python"))
import cudapreproc  # noqa: E402

if INSTALLED and pathlib.Path(cudapreproc.__file__).resolve().is_relative_to(REPOSITORY):
    sys.exit(f"CUDAPREPROC_TEST_INSTALLED=1, but cudapreproc comes from {cudapreproc.__file__}")

FRAMES, HEIGHT, WIDTH, CHANNELS = 6, 4, 8, 3


def chain(path, blocksize, dtype="uint8", props=""):
    dims = f"{CHANNELS}:{WIDTH}:{HEIGHT}:1"
    return (
        f"filesrc location={path} blocksize={blocksize} ! "
        f"other/tensors,format=static,num_tensors=1,types={dtype},dimensions=(string){dims},"
        f"framerate=0/1 ! tensorsink {props}"
    )


class SystemMemoryTensors(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.rng = random.Random(5)
        self.assertEqual(cudapreproc.live_dlpack_exports(), 0)

    def tearDown(self):
        gc.collect()
        self.assertEqual(cudapreproc.live_dlpack_exports(), 0, "every export released")
        self.dir.cleanup()

    def clip(self, dtype):
        """A file of FRAMES random frames of `dtype`: its path, and the frames as an array."""
        size = FRAMES * HEIGHT * WIDTH * CHANNELS * np.dtype(dtype).itemsize
        data = bytes(self.rng.randrange(256) for _ in range(size))
        path = os.path.join(self.dir.name, f"frames-{np.dtype(dtype).name}.bin")
        pathlib.Path(path).write_bytes(data)
        return path, np.frombuffer(data, dtype=dtype).reshape(FRAMES, 1, HEIGHT, WIDTH, CHANNELS)

    def test_every_frame_zero_copy_through_dlpack(self):
        for dtype, name in ((np.uint8, "uint8"), (np.float32, "float32")):
            path, reference = self.clip(dtype)
            frame_bytes = HEIGHT * WIDTH * CHANNELS * np.dtype(dtype).itemsize
            seen = []
            with cudapreproc.Pipeline(chain(path, frame_bytes, name)) as pipeline:
                for tensor in pipeline:
                    self.assertEqual(tensor.device, ("cpu", 0))
                    self.assertEqual(tensor.dtype, name)
                    self.assertEqual(tensor.shape, (1, HEIGHT, WIDTH, CHANNELS))
                    self.assertEqual(tensor.strides, (HEIGHT * WIDTH * CHANNELS, WIDTH * CHANNELS, CHANNELS, 1))
                    self.assertEqual(tensor.__dlpack_device__(), (1, 0))
                    self.assertEqual(tensor.nbytes, frame_bytes)
                    array = np.from_dlpack(tensor)
                    self.assertEqual(array.__array_interface__["data"][0], tensor.data_ptr, "same memory")
                    (frame,) = tensor.frame_numbers
                    np.testing.assert_array_equal(array, reference[frame])
                    seen.append(frame)
            self.assertEqual(seen, list(range(FRAMES)), name)

    def test_an_array_outlives_its_tensor_and_pipeline(self):
        path, reference = self.clip(np.uint8)
        pipeline = cudapreproc.Pipeline(chain(path, HEIGHT * WIDTH * CHANNELS, props="frame-indices=\"<2, 4>\""))
        arrays = [np.from_dlpack(t) for t in pipeline]
        self.assertEqual(cudapreproc.live_dlpack_exports(), 2)
        pipeline.close()
        del pipeline
        gc.collect()
        np.testing.assert_array_equal(arrays[0], reference[2])
        np.testing.assert_array_equal(arrays[1], reference[4])
        del arrays
        gc.collect()
        self.assertEqual(cudapreproc.live_dlpack_exports(), 0, "NumPy released both")

    def test_an_unconsumed_capsule_releases_its_export(self):
        path, _ = self.clip(np.uint8)
        with cudapreproc.Pipeline(chain(path, HEIGHT * WIDTH * CHANNELS)) as pipeline:
            tensor = pipeline.next()
            capsule = tensor.__dlpack__()
            self.assertEqual(type(capsule).__name__, "PyCapsule")
            self.assertEqual(cudapreproc.live_dlpack_exports(), 1)
            del capsule
            self.assertEqual(cudapreproc.live_dlpack_exports(), 0, "the capsule destructor released it")
            with self.assertRaises(BufferError):
                tensor.__dlpack__(copy=True)
            with self.assertRaises(BufferError):
                tensor.__dlpack__(dl_device=(2, 0))
            with self.assertRaises(AttributeError):
                tensor.__cuda_array_interface__

    def test_errors_are_raised_with_their_reason(self):
        with self.assertRaisesRegex(cudapreproc.Error, "no element \"nosuchelement\""):
            cudapreproc.Pipeline("nosuchelement ! tensorsink")
        with self.assertRaisesRegex(cudapreproc.Error, "no tensorsink"):
            cudapreproc.Pipeline("fakesrc num-buffers=1 ! fakesink")
        path, _ = self.clip(np.uint8)
        # Frames one byte short of what the caps promise: refused, never read past. The error
        # comes from starting the pipeline or from the first pull, whichever sees it first.
        with self.assertRaisesRegex(cudapreproc.Error, "frame 0 holds 95 bytes, but the negotiated tensor needs 96") as raised:
            with cudapreproc.Pipeline(chain(path, HEIGHT * WIDTH * CHANNELS - 1)) as pipeline:
                pipeline.next()
        self.assertNotRegex(str(raised.exception), r"\.rs\(\d+\)", "no Rust source location")
        pipeline = cudapreproc.Pipeline(chain(path, HEIGHT * WIDTH * CHANNELS))
        pipeline.close()
        with self.assertRaisesRegex(cudapreproc.Error, "closed"):
            pipeline.next()

    def test_refused_property_values_raise_naming_the_property(self):
        path, _ = self.clip(np.uint8)
        frame = HEIGHT * WIDTH * CHANNELS
        for props, named in (
            ("batch-size=0", "'batch-size'"),
            ('frame-indices="<2,-1>"', "'frame-indices'"),
            ("max-buffers=-1", "'max-buffers'"),
        ):
            with self.subTest(props=props):
                with self.assertRaisesRegex(cudapreproc.Error, "invalid property value: .*" + named):
                    cudapreproc.Pipeline(chain(path, frame, props=props))
        # The element's own refusal (GLib accepts any array of numbers).
        with self.assertRaisesRegex(cudapreproc.Error, "property 'matrix' not changed: a 2x3 affine matrix has 6 numbers"):
            cudapreproc.Pipeline('fakesrc ! cudawarpaffine matrix="<1, 2, 3, 4, 5>" ! fakesink')
        # Valid values still start.
        with cudapreproc.Pipeline(chain(path, frame, props="frame-stride=2 max-buffers=1")) as pipeline:
            self.assertEqual([t.frame_numbers for t in pipeline], [(0,), (2,), (4,)])


class Interruption(unittest.TestCase):
    def test_ctrl_c_interrupts_a_waiting_next(self):
        # A live source that sends one 96-byte frame, then the next 96 s later (1 byte/s).
        description = (
            "fakesrc is-live=true sync=true datarate=1 sizetype=fixed sizemax=96 filltype=zero ! "
            f"other/tensors,format=static,num_tensors=1,types=uint8,dimensions={CHANNELS}:{WIDTH}:{HEIGHT}:1,"
            "framerate=0/1 ! tensorsink"
        )
        with cudapreproc.Pipeline(description) as pipeline:
            self.assertIsNotNone(pipeline.next())
            timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
            start = time.monotonic()
            timer.start()
            with self.assertRaises(KeyboardInterrupt):
                pipeline.next()
            waited = time.monotonic() - start
            timer.join()
        self.assertLess(waited, 5.0, "interrupted soon after the signal, not after the next frame")


READER_MEDIA = REPOSITORY / "tests" / "media" / "reader"


class ReaderAndDatasetWithoutGpu(unittest.TestCase):
    """What the reader, samplers and dataset check before decoding, and how they fail without a
    GPU (CI has none; tests/gpu/python_reader.py decodes)."""

    def test_reader_options_are_refused_by_name(self):
        clip = READER_MEDIA / "gop30.mp4"
        for options, named in (
            (dict(width=224), "width and height go together"),
            (dict(resize="squash"), "resize 'squash'"),
            (dict(dtype="int7"), "dtype 'int7'"),
            (dict(layout="CHW"), "layout 'CHW'"),
            (dict(color_order="gbr"), "color_order 'gbr'"),
            (dict(normalize="imagenette"), 'normalize "imagenette": none, unit, symmetric or imagenet; or give mean and std'),
            (dict(mean=(0.5, 0.5)), "mean"),
            (dict(crop=(1, 2, 3)), "crop"),
            (dict(device="cpu"), "device 'cpu'"),
            (dict(seek_mode="fast"), "seek_mode 'fast'"),
            (dict(width=0, height=10), "size 0x10"),
            (dict(std=(1, 0, 1)), "std"),
        ):
            with self.subTest(options=options):
                with self.assertRaisesRegex(ValueError, named):
                    cudapreproc.VideoReader(clip, **options)

    def test_normalisation_presets_and_custom_statistics(self):
        from cudapreproc._reader import _set_form

        for options, scale, mean, std in (
            (dict(), 1.0, (0, 0, 0), (1, 1, 1)),
            (dict(normalize="unit"), 1 / 255, (0, 0, 0), (1, 1, 1)),
            (dict(normalize="symmetric"), 2 / 255, (1, 1, 1), (1, 1, 1)),
            (dict(normalize="imagenet"), 1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
            # Custom statistics are on [0, 1] values unless a preset or scale says otherwise.
            (dict(mean=(0.5, 0.25, 0.125)), 1 / 255, (0.5, 0.25, 0.125), (1, 1, 1)),
            (dict(std=(2, 3, 4), scale=0.5), 0.5, (0, 0, 0), (2, 3, 4)),
            (dict(normalize="symmetric", mean=(0.1, 0.2, 0.3)), 2 / 255, (0.1, 0.2, 0.3), (1, 1, 1)),
            (dict(normalize="imagenet", scale=1.0), 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ):
            with self.subTest(options=options):
                form = cudapreproc._c_struct("TensorFormC")()
                arguments = dict(dict(normalize=None, mean=None, std=None, scale=None), **options)
                _set_form(form, "NCHW", "rgb", **arguments)
                self.assertAlmostEqual(form.scale, scale, places=15)
                for got, expected in ((form.mean, mean), (form.std, std)):
                    for g, e in zip(got, expected):
                        self.assertAlmostEqual(g, e, places=15)

    def test_a_video_that_cannot_be_read_names_the_file(self):
        for path, reason in (
            (READER_MEDIA / "missing.mp4", "missing.mp4: not found"),
            (READER_MEDIA / "manifest.tsv", "manifest.tsv"),
        ):
            with self.subTest(path=path.name):
                with self.assertRaisesRegex(cudapreproc.SourceError, reason):
                    cudapreproc.VideoReader(path)

    def test_without_a_gpu_opening_fails_with_an_error_not_a_crash(self):
        # The index is read on the CPU, for every container and codec (with an audio stream
        # too: longgop.mp4); the decoder's GPU is missing.
        manifest = (READER_MEDIA / "manifest.tsv").read_text().splitlines()[1:]
        for name in [line.split("\t")[0] for line in manifest]:
            with self.subTest(clip=name):
                with self.assertRaises(cudapreproc.Error) as raised:
                    cudapreproc.VideoReader(READER_MEDIA / name)
                self.assertNotIsInstance(raised.exception, cudapreproc.SourceError)
                self.assertNotRegex(str(raised.exception), r"\.rs\(\d+\)", "no Rust source location")

    def test_without_a_gpu_empty_cache_raises(self):
        with self.assertRaisesRegex(cudapreproc.Error, "CUDA"):
            cudapreproc.empty_cache()
        with self.assertRaises(cudapreproc.Error):
            cudapreproc.empty_cache(device=3)

    def test_samplers_check_their_parameters(self):
        from cudapreproc.samplers import RandomIndices, RandomTimestamps, RegularIndices, RegularTimestamps

        with self.assertRaisesRegex(ValueError, "policy 'loop'"):
            RandomIndices(policy="loop")._struct()
        with self.assertRaisesRegex(ValueError, "num_clips -1"):
            RandomIndices(num_clips=-1)._struct()
        s = RegularTimestamps(seconds_between_clip_starts=2.5, num_frames_per_clip=3)._struct()
        self.assertEqual((s.kind, s.num_frames_per_clip, s.seconds_between_clip_starts), (3, 3, 2.5))
        s = RandomTimestamps(num_clips=4, seconds_between_frames=0.5, sampling_range_end=9.0)._struct()
        self.assertEqual((s.kind, s.num_clips, s.seconds_between_frames, s.seconds_range_end), (2, 4, 0.5, 9.0))
        self.assertTrue(math.isnan(s.seconds_range_start), "no range start: NaN")
        # Keyword-only, as torchcodec's: a positional number names no parameter.
        for sampler in (RandomIndices, RegularIndices, RandomTimestamps, RegularTimestamps):
            with self.subTest(sampler=sampler.__name__), self.assertRaises(TypeError):
                sampler(2)

    def test_datasets_check_their_arguments_count_batches_and_shard(self):
        files = sorted(str(p) for p in READER_MEDIA.glob("*.mp4"))
        from cudapreproc.samplers import RandomIndices, RegularTimestamps

        dataset = cudapreproc.VideoDataset(files, RandomIndices(num_clips=3), batch_size=4)
        self.assertEqual(len(dataset), -(-len(files) * 3 // 4))
        shard = dataset.shard(1, 3)
        self.assertEqual(len(shard), -(-len(files[1::3]) * 3 // 4))
        with self.assertRaisesRegex(TypeError, "depends on each video's duration"):
            len(cudapreproc.VideoDataset(files, RegularTimestamps(seconds_between_clip_starts=1.0)))
        for arguments, error, text in (
            (dict(batch_size=0), ValueError, "batch_size"),
            (dict(on_error="ignore"), ValueError, "on_error 'ignore'"),
            (dict(labels=[1]), ValueError, "1 labels for"),
            (dict(widht=3), TypeError, "unknown option"),
        ):
            with self.subTest(arguments=arguments):
                with self.assertRaisesRegex(error, text):
                    cudapreproc.VideoDataset(files, **arguments)
        with self.assertRaisesRegex(ValueError, "rank 3 of a world of 3"):
            dataset.shard(3, 3)
        with self.assertRaisesRegex(ValueError, "at least one file"):
            cudapreproc.VideoDataset([])
        folder = cudapreproc.VideoDataset.from_folder(READER_MEDIA)
        manifest = (READER_MEDIA / "manifest.tsv").read_text().splitlines()[1:]
        self.assertEqual(
            sorted(pathlib.Path(f).name for f in folder.files),
            sorted(line.split("\t")[0] for line in manifest),
            "every clip, and nothing else",
        )
        self.assertIsNone(folder.labels, "no subfolders, no labels")


class WriterWithoutGpu(unittest.TestCase):
    """VideoWriter's checks that need no GPU: what nothing can write is refused when the
    writer is made, naming it; frames not on the GPU are refused at write."""

    def test_what_nothing_can_write_is_refused_by_name(self):
        with tempfile.TemporaryDirectory() as folder:
            out = os.path.join(folder, "out.mp4")
            with self.assertRaisesRegex(ValueError, r"out\.avi: the file name must end in"):
                cudapreproc.VideoWriter(os.path.join(folder, "out.avi"))
            with self.assertRaisesRegex(ValueError, "codec 'vp9': one of h264, h265"):
                cudapreproc.VideoWriter(out, codec="vp9")
            with self.assertRaisesRegex(ValueError, "fps 0: a number above 0"):
                cudapreproc.VideoWriter(out, fps=0)
            with self.assertRaisesRegex(ValueError, "fps 30/0: numerator and denominator above 0"):
                cudapreproc.VideoWriter(out, fps=(30, 0))
            with self.assertRaisesRegex(ValueError, "bitrate_kbps 0"):
                cudapreproc.VideoWriter(out, bitrate_kbps=0)
            with self.assertRaisesRegex(ValueError, 'normalize "unitary"'):
                cudapreproc.VideoWriter(out, normalize="unitary")
            with self.assertRaisesRegex(cudapreproc.Error, "nvh264enc is not installed"):
                cudapreproc.VideoWriter(out, encoder="nvh264enc")
            with self.assertRaisesRegex(ValueError, "chroma '4:2:2': one of 420, 444"):
                cudapreproc.VideoWriter(out, chroma="4:2:2")
            with self.assertRaisesRegex(
                ValueError, 'encoder "openh264enc" cannot write lossless 4:4:4 video; '
                            "nvh264enc, x264enc can"):
                cudapreproc.VideoWriter(out, encoder="openh264enc", chroma="4:4:4", lossless=True)

    def test_a_software_encoder_is_chosen_and_host_frames_are_refused(self):
        with tempfile.TemporaryDirectory() as folder:
            out = os.path.join(folder, "out.mkv")
            from cudapreproc._writer import _fps

            self.assertEqual([_fps(f) for f in (30, 12.5, 23.976, 29.97, (25, 1))],
                             [(30, 1), (25, 2), (24000, 1001), (30000, 1001), (25, 1)])
            with cudapreproc.VideoWriter(out, fps=29.97) as writer:
                self.assertIn(writer.encoder, ("x264enc", "openh264enc"))
                frames = np.zeros((2, 3, 8, 8), dtype=np.uint8)
                with self.assertRaisesRegex(ValueError, "DLPack device type 1; move them to the GPU"):
                    writer.write(frames)
                with self.assertRaisesRegex(TypeError, "list: a CUDA tensor with __dlpack__"):
                    writer.write([1, 2, 3])
                self.assertEqual(writer.frames_written, 0)
            with self.assertRaisesRegex(ValueError, "the writer is closed"):
                writer.write(frames)
            self.assertFalse(os.path.exists(out), "no frame, no file")


class Version(unittest.TestCase):
    def test_the_package_the_library_and_cargo_agree(self):
        cargo = (REPOSITORY / "Cargo.toml").read_text()
        workspace = cargo[cargo.index("[workspace.package]"):]
        version = workspace.split('version = "', 1)[1].split('"', 1)[0]
        self.assertEqual(cudapreproc.__version__, version)
        self.assertEqual(cudapreproc.library_version(), version)


class LibraryLookup(unittest.TestCase):
    def test_an_installed_module_loads_its_own_library(self):
        if not INSTALLED:
            self.skipTest("the repository's module (CUDAPREPROC_TEST_INSTALLED=1 tests an installed one)")
        saved = os.environ.pop("CUDAPREPROC_LIBRARY", None)
        try:
            package = pathlib.Path(cudapreproc.__file__).resolve().parent
            self.assertEqual(pathlib.Path(cudapreproc.library_path()).parent, package)
        finally:
            if saved is not None:
                os.environ["CUDAPREPROC_LIBRARY"] = saved

    def test_structs_are_built_from_the_librarys_layouts(self):
        lib = cudapreproc._library()
        path = cudapreproc.library_path()
        for name in cudapreproc._STRUCT_NAMES:
            size, *fields = cudapreproc._layout(lib, path, name).split(";")
            struct = cudapreproc._c_struct(name)
            self.assertEqual(ctypes.sizeof(struct), int(size), name)
            self.assertGreater(len(fields), 4, name)
            for field in fields:
                field_name, type_name, offset = field.split(":")
                self.assertEqual(getattr(struct, field_name).offset, int(offset), f"{name}.{field_name}")
                if type_name.endswith("]"):
                    length = int(type_name[type_name.index("[") + 1 : -1])
                    self.assertEqual(len(getattr(struct(), field_name)), length, f"{name}.{field_name}")
        # C's padding, as the library's compiler places the fields; an array of one stays an array.
        layout = "40;flag:u8:0;wide:f64:8;pair:i32[2]:16;name:string:24;single:u64[1]:32"
        padded = cudapreproc._struct_from_layout("Padded", layout, path, {})
        offsets = [padded.flag.offset, padded.wide.offset, padded.pair.offset, padded.name.offset]
        self.assertEqual(offsets, [0, 8, 16, 24])
        self.assertEqual(len(padded().single), 1)
        # A struct as a field: the one built before, aligned as its widest field, and its fields
        # set in place.
        outer = cudapreproc._struct_from_layout("Outer", "48;tag:u8:0;inner:Padded:8", path, {"Padded": padded})
        value = outer()
        value.inner.pair[:] = [3, 4]
        self.assertEqual(list(value.inner.pair), [3, 4])
        with self.assertRaisesRegex(cudapreproc.Error, "struct Padded has no field no_such"):
            value.inner.no_such = 1
        options = cudapreproc._c_struct("ReaderOptionsC")()
        options.form.mean[:] = [0.5, 0.25, 0.125]
        self.assertEqual(list(options.form.mean), [0.5, 0.25, 0.125])

    def test_a_library_built_from_other_sources_is_refused(self):
        lib = cudapreproc._library()
        path = cudapreproc.library_path()
        other = "it was built from other sources than this module"
        with self.assertRaisesRegex(cudapreproc.Error, re.escape(f"{path} has no struct NoSuchStruct: {other}")):
            cudapreproc._layout(lib, path, "NoSuchStruct")
        no_field = f"the library's struct ReaderOptionsC has no field no_such: {other}"
        with self.assertRaisesRegex(cudapreproc.Error, re.escape(no_field)):
            cudapreproc._c_struct("ReaderOptionsC")().no_such = 1
        with self.assertRaisesRegex(cudapreproc.Error, "has no field crop_x"):
            cudapreproc._c_struct("ReaderOptionsC")(device=0, crop_x=3)
        for layout, text in [
            (
                "12;flag:u8:0;wide:f64:4",
                "its struct Packed is 12 bytes with offsets {'flag': 0, 'wide': 4}; ctypes places",
            ),
            ("8;half:f16:0", "field half of its struct Packed has a type this module does not know, f16"),
            ("8;pair:i32[two]:0", "field pair of its struct Packed has a type this module does not know, i32[two]"),
            ("8;inner:Inner:0", "field inner of its struct Packed has a type this module does not know, Inner"),
        ]:
            with self.assertRaisesRegex(cudapreproc.Error, re.escape(f"{path}: {text}")):
                cudapreproc._struct_from_layout("Packed", layout, path, {})

    def test_the_meson_build_is_found_without_configuration(self):
        if INSTALLED:
            self.skipTest("an installed module (see the test above)")
        built = REPOSITORY / "_build" / "libcudapreproc_python.so"
        if not built.exists():
            self.skipTest("no meson build in _build/ (meson compile -C _build, as scripts/test runs)")
        saved = os.environ.pop("CUDAPREPROC_LIBRARY", None)
        try:
            self.assertEqual(cudapreproc.library_path(), str(built))
        finally:
            if saved is not None:
                os.environ["CUDAPREPROC_LIBRARY"] = saved


if __name__ == "__main__":
    unittest.main(verbosity=2)
