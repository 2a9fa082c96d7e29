#!/usr/bin/env python3
"""OpenCV's results for the cudawarpaffine GPU tests (tests/gpu/warp.rs).

Usage: opencv_reference.py DIR

DIR/cases.tsv has one case per line, tab-separated:
  name  op  height  width  channels  dtype  out_width  out_height  interpolation  border  values  matrix
where op is "warp" (cv2.warpAffine with WARP_INVERSE_MAP and the 6 comma-separated matrix
numbers) or "resize" (cv2.resize with INTER_AREA), dtype "uint8" or "uint16", values the border
value (comma-separated, per channel). DIR/NAME.in holds the tight source image; the result is
written to DIR/NAME.out, tight, the same dtype.

Two-channel images (interleaved chroma planes) are warped one channel at a time: OpenCV 5.0
computes 2-channel warps with its older fixed-point code (coordinates rounded to 1/32 pixel) but
1-, 3- and 4-channel ones in float, and the element computes every plane in float.
"""
import sys
from pathlib import Path

import cv2
import numpy as np

INTERPOLATION = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
}
BORDER = {
    "constant": cv2.BORDER_CONSTANT,
    "replicate": cv2.BORDER_REPLICATE,
    "reflect": cv2.BORDER_REFLECT,
    "reflect-101": cv2.BORDER_REFLECT_101,
    "wrap": cv2.BORDER_WRAP,
}


def main():
    folder = Path(sys.argv[1])
    count = 0
    for line in (folder / "cases.tsv").read_text().splitlines():
        (name, op, height, width, channels, dtype, out_w, out_h, interp, border, values,
         matrix) = line.split("\t")
        shape = (int(height), int(width), int(channels))
        src = np.fromfile(folder / f"{name}.in", dtype=dtype).reshape(shape)
        dsize = (int(out_w), int(out_h))
        if op == "warp":
            m = np.array([float(v) for v in matrix.split(",")], dtype=np.float64).reshape(2, 3)
            value = [float(v) for v in values.split(",")]
            channels = [src[:, :, c] for c in range(shape[2])] if shape[2] == 2 else [src]
            outs = [cv2.warpAffine(image, m, dsize,
                                   flags=INTERPOLATION[interp] | cv2.WARP_INVERSE_MAP,
                                   borderMode=BORDER[border],
                                   borderValue=value[c:] if len(channels) > 1 else value)
                    for c, image in enumerate(channels)]
            out = np.dstack(outs) if len(outs) > 1 else outs[0]
        elif op == "resize":
            out = cv2.resize(src, dsize, interpolation=INTERPOLATION[interp])
        else:
            raise SystemExit(f"unknown op {op}")
        np.ascontiguousarray(out).tofile(folder / f"{name}.out")
        count += 1
    print(f"opencv {cv2.__version__}: {count} cases")


if __name__ == "__main__":
    main()
