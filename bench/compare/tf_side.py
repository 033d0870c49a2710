"""The tf.data side of the comparison: the same pipelines as `stoker bench`, written as a tf.data
user would write them. Prints one JSON line (see common.py).

jpeg:  list the folder -> shuffle the whole (path, label) list each pass -> map(read_file +
       decode_jpeg RGB [+ tf.image.resize bilinear, rounded back to uint8], num_parallel_calls)
       -> batch -> prefetch(2) (--autotune: AUTOTUNE for both). --rrc: sample_distorted_bounding_box
       + decode_and_crop_jpeg + resize + random_flip_left_right instead of decode [+ resize]. --dct-scale: decode_jpeg(ratio=2/4/8) first where the output
       allows (what stoker does by default; the tf.data guide's examples do not).
hdf5:  block numbers -> shuffle them each pass -> map(tf.numpy_function reading one block of rows
       with h5py, num_parallel_calls) -> unbatch -> shuffle(buffer) -> batch -> prefetch(2).
       --reader generator instead reads the blocks in a Dataset.from_generator (one Python thread),
       the form the tf.data guide shows for HDF5.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

import common  # noqa: E402


def jpeg_dataset(args, parallel):
    paths, labels = common.list_image_folder(args.data)
    with Image.open(paths[0]) as im:
        src_w, src_h = im.size
    h, w = args.size or (src_h, src_w)
    # --dct-scale: decode at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, decode_jpeg's `ratio`)
    # when the scaled image still covers the output, as stoker's decode_jpeg does by default.
    ratio = 1
    while args.dct_scale and ratio < 8 and src_h // (2 * ratio) >= h and src_w // (2 * ratio) >= w:
        ratio *= 2
    resize = (-(-src_h // ratio), -(-src_w // ratio)) != (h, w)  # libjpeg rounds scaled sizes up

    def load_rrc(path, label):
        # The ImageNet training crop of TensorFlow's model garden: a distorted bounding box, decoded
        # with decode_and_crop_jpeg (only the window's rows and columns), resized, flipped.
        data = tf.io.read_file(path)
        begin, box, _ = tf.image.sample_distorted_bounding_box(
            tf.image.extract_jpeg_shape(data), bounding_boxes=tf.zeros([1, 0, 4]), min_object_covered=0.0,
            aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0), max_attempts=10,
            use_image_if_no_bounding_boxes=True)
        window = tf.stack([begin[0], begin[1], box[0], box[1]])
        img = tf.io.decode_and_crop_jpeg(data, window, channels=3)
        img = tf.image.resize(img, (h, w), method="bilinear")
        img = tf.image.random_flip_left_right(tf.cast(tf.clip_by_value(tf.round(img), 0, 255), tf.uint8))
        return img, label

    def load(path, label):
        img = tf.io.decode_jpeg(tf.io.read_file(path), channels=3, ratio=ratio)
        if resize:
            img = tf.image.resize(img, (h, w), method="bilinear")
            img = tf.cast(tf.clip_by_value(tf.round(img), 0, 255), tf.uint8)
        return img, label

    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    ds = ds.shuffle(len(paths), seed=args.seed, reshuffle_each_iteration=True)
    ds = ds.map(load_rrc if args.rrc else load, num_parallel_calls=parallel, deterministic=True)
    ds = ds.batch(args.batch).prefetch(tf.data.AUTOTUNE if args.autotune else 2)
    settings = {"files": len(paths), "source_size": [src_h, src_w], "size": [h, w], "resize": resize,
                "dct_ratio": ratio, "shuffle": f"whole list ({len(paths)})",
                "crop": "sample_distorted_bounding_box + decode_and_crop_jpeg + flip" if args.rrc else None}
    return ds, settings


def hdf5_dataset(args, parallel):
    lay = common.Hdf5Layout(args.data, args.images, args.labels, args.shuffle_buffer)
    f = h5py.File(args.data, "r")
    images, labels = f[args.images], f[args.labels]
    img_dt = tf.as_dtype(lay.image_dtype)
    lab_dt = tf.as_dtype(lay.label_dtype)

    def read_block(b):
        lo, hi = lay.block(int(b))
        return images[lo:hi], labels[lo:hi]

    def set_shapes(x, y):
        x.set_shape((None,) + lay.row_shape)
        y.set_shape((None,))
        return x, y

    if args.reader == "map":
        ds = tf.data.Dataset.range(lay.blocks).shuffle(lay.blocks, seed=args.seed, reshuffle_each_iteration=True)
        ds = ds.map(lambda b: set_shapes(*tf.numpy_function(read_block, [b], (img_dt, lab_dt), stateful=False)),
                    num_parallel_calls=parallel, deterministic=True)
    else:
        rng = np.random.default_rng(args.seed)

        def blocks():
            for b in rng.permutation(lay.blocks):
                yield read_block(b)

        ds = tf.data.Dataset.from_generator(
            blocks, output_signature=(tf.TensorSpec((None,) + lay.row_shape, img_dt), tf.TensorSpec((None,), lab_dt)))
    ds = ds.unbatch().shuffle(args.shuffle_buffer, seed=args.seed, reshuffle_each_iteration=True)
    ds = ds.batch(args.batch).prefetch(tf.data.AUTOTUNE if args.autotune else 2)
    settings = {"rows": lay.rows, "row_shape": list(lay.row_shape), "chunk_rows": lay.chunk_rows,
                "block_rows": lay.block_rows, "blocks": lay.blocks, "reader": args.reader,
                "shuffle_buffer": args.shuffle_buffer}
    return ds, settings


def main():
    p = common.side_parser(__doc__)
    p.add_argument("--threads", type=int, default=2, help="num_parallel_calls of the decode/read map")
    p.add_argument("--autotune", action="store_true",
                   help="num_parallel_calls and prefetch AUTOTUNE, autotuning on (default: --threads, 2, off)")
    p.add_argument("--shuffle-buffer", type=int, default=10000)
    p.add_argument("--size", type=lambda s: tuple(int(v) for v in s.lower().split("x")) * (1 if "x" in s else 2),
                   help="jpeg: resize to HxW (default: the first image's size, no resize)")
    p.add_argument("--images", default="/train/images")
    p.add_argument("--labels", default="/train/labels")
    p.add_argument("--reader", choices=["map", "generator"], default="map", help="hdf5: how blocks are read")
    p.add_argument("--dct-scale", action="store_true", help="jpeg: decode_jpeg(ratio=2/4/8) when the output allows")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    parallel = tf.data.AUTOTUNE if args.autotune else args.threads
    make = jpeg_dataset if args.workload == "jpeg" else hdf5_dataset
    ds, settings = make(args, parallel)
    if not args.autotune:
        # Every knob is fixed (num_parallel_calls, prefetch(2)), so the autotuner has nothing to
        # tune; left on, it delays the end of each pass to its next optimisation tick (its period
        # doubles from 10 ms: the loop ends ~5.12 s or ~10.24 s after the iterator was made, up to
        # 3 s after the last batch here). --autotune keeps it on, as the tf.data guide's code does.
        options = tf.data.Options()
        options.autotune.enabled = False
        ds = ds.with_options(options)
    settings.update({"batch": args.batch, "num_parallel_calls": "AUTOTUNE" if args.autotune else args.threads,
                     "prefetch": "AUTOTUNE" if args.autotune else 2, "autotune": args.autotune, "tf": tf.__version__, "cpus": os.cpu_count()})
    result = common.timed_pass(lambda: ds, warmup_pass=args.warmup_pass)
    variant = "autotune" if args.autotune else f"parallel={args.threads},autotune off"
    if args.workload == "hdf5":
        variant += f",{args.reader}"
    elif args.dct_scale:
        variant += ",dct-scale"
    common.report("tf.data", variant, args.name or args.workload, result, settings)


if __name__ == "__main__":
    main()
