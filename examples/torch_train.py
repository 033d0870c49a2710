#!/usr/bin/env python3
"""Train a small PyTorch model from an HDF5 file through stoker (CPU is enough).

    python3 examples/torch_train.py --data train.h5 [--images /train/images --labels /train/labels]
    python3 examples/torch_train.py --make-data demo.h5     # writes a small learnable file first

stoker streams the file (blocks of rows, shuffled per epoch), batches it on its own threads and
hands each batch to torch without a copy (torch.from_dlpack). The batch's memory belongs to the
torch tensor from then on; it is freed when the tensor is.
Images: uint8 [N, H, W] or [N, H, W, C]; labels: integer [N].
"""
import argparse
import time

import numpy as np
import torch

import stoker


def make_data(path, n=4096, size=16, classes=4, seed=0):
    """Class k: a bright horizontal band at rows [k*size/classes, (k+1)*size/classes) plus noise."""
    import h5py
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    images = rng.integers(0, 96, (n, size, size, 1), dtype=np.uint8)
    band = size // classes
    for k in range(classes):
        images[labels == k, k * band:(k + 1) * band] += 128
    with h5py.File(path, "w") as f:
        f.create_dataset("/train/images", data=images, chunks=(256, size, size, 1))
        f.create_dataset("/train/labels", data=labels.astype(np.int64))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data")
    p.add_argument("--make-data", metavar="PATH", help="write a small synthetic file here and train on it")
    p.add_argument("--images", default="/train/images")
    p.add_argument("--labels", default="/train/labels")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--memory-budget", default="256M")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.make_data:
        make_data(args.make_data)
        args.data = args.make_data
    if not args.data:
        p.error("--data or --make-data is required")

    ds = (stoker.hdf5(args.data, images=args.images, labels=args.labels, shuffle_blocks=True)
                .shuffle(2048)
                .batch(args.batch)
                .prefetch(2))
    first_images, _ = next(ds.take(1).iterator(threads=1))
    in_features = int(np.prod(first_images.shape[1:]))
    # Classes: the largest label + 1, from one pass over the labels alone (8 bytes a row).
    classes = 0
    for (labels,) in stoker.hdf5(args.data, datasets=[args.labels]).batch(1 << 16).iterator(threads=1):
        classes = max(classes, int(torch.from_dlpack(labels).max()) + 1)

    torch.manual_seed(args.seed)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_features, 64), torch.nn.ReLU(),
                                torch.nn.Linear(64, classes))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        t0, seen, correct, total_loss = time.perf_counter(), 0, 0, 0.0
        it = ds.iterator(threads=args.threads, memory_budget=args.memory_budget, seed=args.seed + epoch)
        for images, labels in it:
            x = torch.from_dlpack(images).float().div_(255)  # zero-copy view, then one conversion
            y = torch.from_dlpack(labels).long()
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(y)
            correct += int((logits.argmax(1) == y).sum())
            total_loss += float(loss) * len(y)
        dt = time.perf_counter() - t0
        print(f"epoch {epoch + 1}: loss {total_loss / seen:.4f} accuracy {correct / seen:.4f} "
              f"({seen} samples, {seen / dt:.0f} samples/s, pipeline peak {it.stats()['peak_bytes'] >> 20} MiB)",
              flush=True)


if __name__ == "__main__":
    main()
