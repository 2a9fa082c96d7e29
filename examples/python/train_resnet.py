"""A training loop fed straight from video: NVDEC decode, resize, RGB and ImageNet normalisation on
the GPU, batches handed to PyTorch without a copy, a torchvision ResNet-18 trained on them.

    cargo build --release -p cudapreproc-python
    PYTHONPATH=python python3 examples/python/train_resnet.py media/bigbuckbunny.mp4 \\
        [--batch 16] [--stride 1] [--epochs 2]

Labels are a stand-in (which second of the clip a frame comes from, modulo --classes): the point
is the data path. Each epoch runs the pipeline over the clip again; `frame-stride` samples every
Nth frame the way clip-sampling loaders do. Needs PyTorch and torchvision with CUDA.
"""

import argparse
import time

import torch
import torch.nn.functional as F
import torchvision

import cudapreproc


def pipeline_description(clip, batch, stride):
    return (
        f'nvdecsrc location="{clip}" ! cudawarpaffine width=224 height=224 ! cudacvtcolor ! '
        "video/x-raw(memory:CUDAMemory),format=RGBP ! "
        "cudaconvert dtype=float32 layout=nchw preset=imagenet ! "
        f"tensorsink batch-size={batch} frame-stride={stride}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clip")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--fps", type=float, default=24.0, help="the clip's frame rate, for the labels")
    args = parser.parse_args()

    device = torch.device("cuda")
    model = torchvision.models.resnet18(weights=None, num_classes=args.classes).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for epoch in range(args.epochs):
        started = time.perf_counter()
        frames = batches = 0
        loss_sum = 0.0
        with cudapreproc.Pipeline(pipeline_description(args.clip, args.batch, args.stride)) as pipeline:
            for tensor in pipeline:
                # [N, 3, 224, 224] float32 in the pipeline's memory; from_dlpack makes PyTorch's
                # current stream wait for it, and the memory returns to the pipeline's pool when
                # `images` is freed.
                images = torch.from_dlpack(tensor)
                labels = torch.tensor(
                    [int(n / args.fps) % args.classes for n in tensor.frame_numbers], device=device
                )
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    loss = F.cross_entropy(model(images), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.item()
                frames += images.shape[0]
                batches += 1
        seconds = time.perf_counter() - started
        print(
            f"epoch {epoch}: {batches} batches, {frames} frames, mean loss {loss_sum / max(batches, 1):.4f}, "
            f"{frames / seconds:.0f} frames/s (decode, preprocess, forward, backward)"
        )


if __name__ == "__main__":
    main()
