"""Train a video classifier on a folder of clips, one subfolder per class (as torchvision's
ImageFolder): clips sampled, decoded, resized and normalised on the GPU, straight into PyTorch.

    PYTHONPATH=python python3 examples/python/train_video_classifier.py CLIPS_FOLDER

Needs PyTorch and torchvision with CUDA, and tqdm for the progress bar. The user code is the
14 lines below the imports.
"""

import sys

import torch
import torchvision
import tqdm

from cudapreproc import VideoDataset
from cudapreproc.samplers import RandomIndices

dataset = VideoDataset.from_folder(sys.argv[1], RandomIndices(num_clips=2, num_frames_per_clip=8),
                                   batch_size=16, shuffle=True, width=112, height=112,
                                   dtype="float32", normalize="imagenet")
model = torchvision.models.video.r3d_18(num_classes=len(dataset.classes)).cuda()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
loader = torch.utils.data.DataLoader(dataset, batch_size=None)
for epoch in range(3):
    for batch in (progress := tqdm.tqdm(loader, desc=f"epoch {epoch}", unit="batch")):
        # [B, T, C, H, W] -> [B, C, T, H, W], as torchvision's video models take clips.
        logits = model(batch.data.transpose(1, 2))
        loss = torch.nn.functional.cross_entropy(logits, batch.labels.cuda())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        progress.set_postfix(loss=f"{loss.item():.3f}")
