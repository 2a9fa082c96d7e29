"""Train a video classifier on every GPU of a host, one process per GPU, with PyTorch's own
launcher and DistributedDataParallel: each process decodes only its shard of the files on its
own GPU, every file is read once per epoch across the processes, and the order changes each
epoch from one seed all processes share.

    PYTHONPATH=python torchrun --nproc_per_node=2 examples/python/train_ddp.py CLIPS_FOLDER

CLIPS_FOLDER holds one subfolder per class (as torchvision's ImageFolder). Needs PyTorch and
torchvision with CUDA. At the end of each epoch, rank 0 prints how many files each process
read, on which GPU, and checks that together they read each file exactly once. With more
processes than GPUs (a test on one GPU) the processes share GPUs and talk over gloo.
"""

import os
import sys

import torch
import torch.distributed as dist
import torchvision
from torch.nn.parallel import DistributedDataParallel

from cudapreproc import VideoDataset
from cudapreproc.samplers import RandomIndices

rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
gpu = int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count()
torch.cuda.set_device(gpu)
dist.init_process_group("nccl" if world <= torch.cuda.device_count() else "gloo")

dataset = VideoDataset.from_folder(sys.argv[1], RandomIndices(num_clips=2, num_frames_per_clip=8),
                                   batch_size=8, shuffle=True, seed=2026, width=112, height=112,
                                   dtype="float32", normalize="imagenet", device=gpu)
shard = dataset.shard(rank, world)
model = DistributedDataParallel(
    torchvision.models.video.r3d_18(num_classes=len(dataset.classes)).cuda(gpu), device_ids=[gpu]
)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

for epoch in range(2):
    shard.set_epoch(epoch)
    files = set()
    # Shards can differ by a batch: join() lets a process that ran out keep the others going.
    with model.join():
        for batch in shard:
            logits = model(batch.data.transpose(1, 2))  # [B, T, C, H, W] -> [B, C, T, H, W]
            loss = torch.nn.functional.cross_entropy(logits, batch.labels.cuda(gpu))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            files.update(int(i) for i in batch.file_indices)
    read = [None] * world
    dist.all_gather_object(read, (rank, gpu, sorted(files)))
    if rank == 0:
        counts = torch.zeros(len(dataset.files), dtype=torch.int64)
        for r, g, indices in read:
            counts[indices] += 1
            print(f"epoch {epoch}: rank {r} on cuda:{g} read {len(indices)} files")
        assert bool((counts == 1).all()), f"files read other than once: {counts.tolist()}"
        print(f"epoch {epoch}: {len(dataset.files)} files, each read exactly once; loss {loss.item():.3f}")
dist.destroy_process_group()
