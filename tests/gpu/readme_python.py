"""Runs the README's Python examples as written, with a real clip, on a GPU host, then checks the
reader's frames against OpenCV's decode (FFmpeg inside opencv-python) of the same clip:

    python3 tests/gpu/readme_python.py CLIP OTHER_CLIP CLIPS_FOLDER

Every ```python block of README.md runs in one namespace, in order, with "clip.mp4" replaced
by CLIP, "next.mp4" by OTHER_CLIP and "clips/" by CLIPS_FOLDER (one subfolder per class).
`train_step` (which the first block leaves to the user) records what it is given. Meant for
the module pip installed from the wheel: run it from the repository root with nothing of a
GStreamer runtime set. Fails on any exception or frame that differs.
"""

import os
import pathlib
import re
import sys

import cv2
import numpy as np

import cudapreproc


def main() -> None:
    clip, other, folder = sys.argv[1:4]
    print(f"cudapreproc {cudapreproc.__version__} from {pathlib.Path(cudapreproc.__file__).parent}")
    print(f"LD_LIBRARY_PATH={os.environ.get('LD_LIBRARY_PATH')}; "
          f"GStreamer variables: {sorted(k for k in os.environ if k.startswith('GST'))}")
    blocks = re.findall(r"```python\n(.*?)```", pathlib.Path("README.md").read_text(), re.S)
    steps = []

    def train_step(images, frame_numbers):
        steps.append((tuple(images.shape), str(images.dtype), str(images.device)))

    namespace = {"train_step": train_step}
    for number, block in enumerate(blocks):
        code = (block.replace("clip.mp4", clip).replace("next.mp4", other)
                .replace('"clips/"', repr(folder)))
        print(f"README block {number}: {block.strip().splitlines()[0]}")
        exec(compile(code, f"README.md python block {number}", "exec"), namespace)
        if number == 0:
            print(f"  {len(steps)} batches to train_step, the first {steps[0]}")
        for name in ("batch", "clips"):
            if name in namespace and name in code:
                data = namespace[name].data
                print(f"  {name}.data {tuple(data.shape)} {data.dtype} {data.device}")
        if "dataset" in code and "dataset" in namespace:
            dataset = namespace["dataset"]
            print(f"  dataset: {len(dataset)} batches, classes {dataset.classes}, "
                  f"skipped {dataset.skipped}")

    reference = []
    capture = cv2.VideoCapture(clip)
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        reference.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    reader = cudapreproc.VideoReader(clip)
    assert len(reader) == len(reference), (len(reader), len(reference))
    wanted = [0, len(reader) - 1, 42, 7, 90]
    got = reader.get_frames_at(wanted).data.permute(0, 2, 3, 1).cpu().numpy()
    for frame, index in zip(got, wanted):
        difference = np.abs(frame.astype(int) - reference[index].astype(int))
        # OpenCV converts with libswscale (integer arithmetic, its own chroma upsampling), ours
        # in float: a few levels apart at most.
        print(f"  frame {index}: largest difference from OpenCV's {difference.max()}, "
              f"mean {difference.mean():.3f}")
        assert difference.max() <= 4 and difference.mean() < 1.0, index
    print("README examples ran; frames match OpenCV's")


if __name__ == "__main__":
    main()
