"""The PyTorch side of the comparison: the same pipelines as `stoker bench`, written as a PyTorch
user would write them, through torch.utils.data.DataLoader. Prints one JSON line (see common.py).

jpeg (map-style Dataset, DataLoader(shuffle=True): a new permutation of the whole file list each
      pass, batch_size, num_workers worker processes, prefetch_factor 2, persistent workers):
  --decoder torchvision  torchvision.io.read_file + decode_jpeg(RGB) [+ transforms.v2 resize,
                         bilinear, antialias; --rrc: v2.RandomResizedCrop + RandomHorizontalFlip],
                         CHW permuted to HWC like the other frameworks
  --decoder pil          PIL.Image.open().convert("RGB") [+ resize bilinear], what
                         torchvision.datasets.ImageFolder's default loader does
hdf5:
  --reader rows    map-style Dataset whose __getitem__ reads one row with h5py (file opened once
                   per worker), DataLoader(shuffle=True): a full random permutation of the rows,
                   the form most PyTorch HDF5 code takes
  --reader blocks  IterableDataset with stoker's strategy: the blocks of rows in a new random order
                   each pass, dealt round-robin to the workers; each worker mixes its blocks in a
                   shuffle buffer of shuffle_buffer / num_workers rows and yields whole batches
                   (DataLoader(batch_size=None)). Each worker ends with its own partial batch.
"""
import os

import h5py
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

import common


class JpegFolder(Dataset):
    def __init__(self, paths, labels, size, resize, decoder, rrc=False):
        self.paths, self.labels, self.size, self.resize, self.decoder = paths, labels, size, resize, decoder
        self.rrc = None
        if rrc:  # torchvision's ImageNet training transform (on tensors or PIL images alike)
            from torchvision.transforms import v2
            self.rrc = v2.Compose([v2.RandomResizedCrop(list(size), antialias=True), v2.RandomHorizontalFlip()])

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        if self.decoder == "torchvision":
            from torchvision.io import ImageReadMode, decode_jpeg, read_file
            from torchvision.transforms.v2 import functional as F
            img = decode_jpeg(read_file(self.paths[i]), mode=ImageReadMode.RGB)
            if self.rrc:
                img = self.rrc(img)
            elif self.resize:
                img = F.resize(img, list(self.size), antialias=True)
            img = img.permute(1, 2, 0)
        else:
            with Image.open(self.paths[i]) as im:
                im = im.convert("RGB")
                if self.rrc:
                    im = self.rrc(im)
                elif self.resize:
                    im = im.resize((self.size[1], self.size[0]), Image.BILINEAR)
                img = torch.from_numpy(np.array(im))
        return img, self.labels[i]


class H5Rows(Dataset):
    def __init__(self, path, images, labels, rows):
        self.path, self.images_name, self.labels_name, self.rows = path, images, labels, rows
        self.f = None

    def __len__(self):
        return self.rows

    def __getitem__(self, i):
        if self.f is None:  # opened in the worker, never shared across a fork
            self.f = h5py.File(self.path, "r")
            self.images, self.labels = self.f[self.images_name], self.f[self.labels_name]
        return self.images[i], self.labels[i]


class H5Blocks(IterableDataset):
    def __init__(self, path, images, labels, layout, batch, shuffle_buffer, seed):
        self.path, self.images_name, self.labels_name = path, images, labels
        self.lay, self.batch, self.shuffle_buffer, self.seed = layout, batch, shuffle_buffer, seed
        self.epoch = 0
        self.f = None

    def __iter__(self):
        if self.f is None:
            self.f = h5py.File(self.path, "r")
            self.images, self.labels = self.f[self.images_name], self.f[self.labels_name]
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        self.epoch += 1  # every worker iterates once per pass: they agree on the block order
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.lay.blocks)[wid::nw]
        rng = np.random.default_rng([self.seed, self.epoch, wid + 1])
        lay, b = self.lay, self.batch
        cap = max(self.shuffle_buffer // nw, b)
        xs = np.empty((cap + lay.block_rows,) + lay.row_shape, lay.image_dtype)
        ys = np.empty((cap + lay.block_rows,), lay.label_dtype)
        n = 0
        for blk in order:
            lo, hi = lay.block(int(blk))
            self.images.read_direct(xs, np.s_[lo:hi], np.s_[n:n + hi - lo])
            ys[n:n + hi - lo] = self.labels[lo:hi]
            n += hi - lo
            while n >= cap:  # draw a batch uniformly from the buffer, fill the holes from its tail
                idx = rng.choice(n, b, replace=False)
                yield torch.from_numpy(xs[idx]), torch.from_numpy(ys[idx])
                keep_tail = np.setdiff1d(np.arange(n - b, n), idx, assume_unique=True)
                holes = idx[idx < n - b]
                xs[holes], ys[holes] = xs[keep_tail], ys[keep_tail]
                n -= b
        perm = rng.permutation(n)
        for s in range(0, n, b):
            idx = perm[s:s + b]
            yield torch.from_numpy(xs[idx]), torch.from_numpy(ys[idx])


def main():
    p = common.side_parser(__doc__)
    p.add_argument("--threads", type=int, default=2, help="DataLoader num_workers (processes)")
    p.add_argument("--shuffle-buffer", type=int, default=10000, help="hdf5 --reader blocks: rows, all workers together")
    p.add_argument("--size", type=lambda s: tuple(int(v) for v in s.lower().split("x")) * (1 if "x" in s else 2),
                   help="jpeg: resize to HxW (default: the first image's size, no resize)")
    p.add_argument("--images", default="/train/images")
    p.add_argument("--labels", default="/train/labels")
    p.add_argument("--decoder", choices=["torchvision", "pil"], default="torchvision")
    p.add_argument("--reader", choices=["rows", "blocks"], default="rows")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    torch.manual_seed(args.seed)
    common_loader = dict(num_workers=args.threads, persistent_workers=args.threads > 0, prefetch_factor=2 if args.threads > 0 else None,
                         pin_memory=False)
    if args.workload == "jpeg":
        paths, labels = common.list_image_folder(args.data)
        with Image.open(paths[0]) as im:
            src_w, src_h = im.size
        size = args.size or (src_h, src_w)
        resize = tuple(size) != (src_h, src_w)
        ds = JpegFolder(paths, labels, size, resize, args.decoder, args.rrc)
        loader = DataLoader(ds, batch_size=args.batch, shuffle=True, **common_loader)
        variant = args.decoder
        settings = {"files": len(paths), "source_size": [src_h, src_w], "size": list(size), "resize": resize,
                    "shuffle": "RandomSampler (whole list)"}
    else:
        lay = common.Hdf5Layout(args.data, args.images, args.labels, args.shuffle_buffer)
        if args.reader == "rows":
            loader = DataLoader(H5Rows(args.data, args.images, args.labels, lay.rows), batch_size=args.batch, shuffle=True,
                                **common_loader)
            shuffle = "RandomSampler (full permutation of rows)"
        else:
            ds = H5Blocks(args.data, args.images, args.labels, lay, args.batch, args.shuffle_buffer, args.seed)
            loader = DataLoader(ds, batch_size=None, **common_loader)
            shuffle = f"block order + buffer {max(args.shuffle_buffer // max(args.threads, 1), args.batch)} per worker"
        variant = args.reader
        settings = {"rows": lay.rows, "row_shape": list(lay.row_shape), "chunk_rows": lay.chunk_rows,
                    "block_rows": lay.block_rows, "shuffle": shuffle}
    settings.update({"batch": args.batch, "num_workers": args.threads, "prefetch_factor": 2, "persistent_workers": True,
                     "torch": torch.__version__, "cpus": os.cpu_count()})
    result = common.timed_pass(lambda: loader, warmup_pass=args.warmup_pass)
    common.report("torch", f"{variant},workers={args.threads}", args.name or args.workload, result, settings)


if __name__ == "__main__":
    main()
