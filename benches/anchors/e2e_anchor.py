"""Anchor for e2e-bench (benches/e2e.rs): NVIDIA's PyNvVideoCodec decode plus PyTorch
preprocessing to the same tensors as our chain (3x224x224 float32 NCHW, ImageNet-normalised),
one process per stream as PyNvVideoCodec's own samples do.

    python3 e2e_anchor.py CLIP MODE [N]

MODE:
  decode   decode only (device memory, NV12), the figure of ../shared/bench/pynv_decode.py
  nv12     NV12 frames -> torch (DLPack) -> RGB (BT.709 limited range, chroma upsampled) ->
           bilinear 224x224 -> /255, -mean, /std
  rgbp     PyNvVideoCodec converts to planar RGB itself (OutputColorType.RGBP) -> torch ->
           bilinear 224x224 -> /255, -mean, /std

Prints one line: "pynvvideocodec MODE xN: F fps aggregate (frames, seconds)". Frames are
counted, not assumed; the clock starts once every process has its decoder and has run PyTorch
once, and stops after the last process has synchronised the GPU.
"""

import multiprocessing as mp
import sys
import time
import traceback

LABELS = {
    "decode": "pynvvideocodec decode only",
    "nv12": "pynvvideocodec + pytorch (nv12 -> rgb -> 224)",
    "rgbp": "pynvvideocodec rgbp + pytorch (224)",
}


def work(path, mode, start, out):
    try:
        out.put(decode(path, mode, start))
    except BaseException:
        traceback.print_exc()
        start.wait()
        out.put(None)


def decode(path, mode, start):
    import PyNvVideoCodec as nvc
    import torch
    import torch.nn.functional as F

    device = torch.device("cuda")
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)

    def normalise(rgb):  # [3, H, W] float in 0..255
        x = F.interpolate(rgb[None] / 255.0, size=(224, 224), mode="bilinear", align_corners=False)
        return (x - mean) / std

    def from_nv12(frame):
        t = torch.from_dlpack(frame)
        if t.dim() == 3:
            t = t.squeeze(-1)
        h, w = t.shape[0] * 2 // 3, t.shape[1]
        y = (t[:h].float() - 16.0) * (255.0 / 219.0)
        uv = t[h:].reshape(h // 2, w // 2, 2).permute(2, 0, 1).float()
        uv = (F.interpolate(uv[None], size=(h, w), mode="nearest")[0] - 128.0) * (255.0 / 224.0)
        u, v = uv[0], uv[1]
        rgb = torch.stack((y + 1.5748 * v, y - 0.1873 * u - 0.4681 * v, y + 1.8556 * u))
        return normalise(rgb.clamp_(0.0, 255.0))

    def from_rgbp(frame):
        t = torch.from_dlpack(frame)
        if t.dim() == 2:  # planes stacked as rows
            t = t.reshape(3, t.shape[0] // 3, t.shape[1])
        return normalise(t.float())

    demuxer = nvc.CreateDemuxer(path)
    options = dict(gpuid=0, codec=demuxer.GetNvCodecId(), cudacontext=0, cudastream=0, usedevicememory=True)
    if mode == "rgbp":
        options["outputColorType"] = nvc.OutputColorType.RGBP
    decoder = nvc.CreateDecoder(**options)
    preprocess = {"decode": None, "nv12": from_nv12, "rgbp": from_rgbp}[mode]
    normalise(torch.zeros(3, 64, 64, device=device))  # PyTorch's CUDA start-up, off the clock
    torch.cuda.synchronize()
    start.wait()
    frames = 0
    for packet in demuxer:
        for frame in decoder.Decode(packet):
            if preprocess is not None:
                preprocess(frame)
            frames += 1
    torch.cuda.synchronize()
    return frames


def main():
    path, mode = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if mode not in LABELS:
        sys.exit(f"e2e_anchor: MODE is one of {', '.join(LABELS)}")
    mp.set_start_method("spawn")
    start, out = mp.Event(), mp.Queue()
    processes = [mp.Process(target=work, args=(path, mode, start, out)) for _ in range(n)]
    for p in processes:
        p.start()
    time.sleep(6)  # every decoder created and PyTorch started before the clock starts
    began = time.perf_counter()
    start.set()
    counts = [out.get(timeout=600) for _ in processes]
    seconds = time.perf_counter() - began
    for p in processes:
        p.join()
    if None in counts:
        sys.exit(f"e2e_anchor: {counts.count(None)} of {n} workers failed (tracebacks above)")
    frames = sum(counts)
    print(f"{LABELS[mode]} x{n}: {frames / seconds:.0f} fps aggregate ({frames} frames, {seconds:.2f} s)")


if __name__ == "__main__":
    main()
