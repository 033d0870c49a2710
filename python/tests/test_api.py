"""The Dataset API from Python: sources, transformations, iterator options, stats, errors."""
import os

import numpy as np
import pytest

import stoker


def collect(ds, **kw):
    return [tuple(np.asarray(t).copy() for t in e) for e in ds.iterator(threads=2, **kw)]


def test_version_matches_package_metadata():
    from importlib.metadata import version
    assert stoker.__version__ == version("stoker")


def test_hdf5_rows_equal_h5py(h5_file):
    h5py = pytest.importorskip("h5py")
    with h5py.File(h5_file) as f:
        images, labels = f["/train/images"][:], f["/train/labels"][:]
    out = collect(stoker.hdf5(h5_file, images="/train/images", labels="/train/labels"))
    assert len(out) == 100
    for i, (x, y) in enumerate(out):
        assert x.dtype == np.uint8 and x.shape == (8, 6, 3)
        np.testing.assert_array_equal(x, images[i])
        assert y == labels[i]


def test_batch_take_skip_shard_repeat(h5_file):
    ds = stoker.hdf5(h5_file, labels="/train/labels")
    batches = collect(ds.batch(32))
    assert [b[0].shape[0] for b in batches] == [32, 32, 32, 4]
    assert [b[0].shape[0] for b in collect(ds.batch(32, drop_remainder=True))] == [32, 32, 32]
    labels = np.concatenate([b[1] for b in batches])
    assert [e[1] for e in collect(ds.skip(10).take(3))] == list(labels[10:13])
    assert len(collect(ds.repeat(2))) == 200
    shards = [collect(ds.shard(4, i)) for i in range(4)]
    assert sum(len(s) for s in shards) == 100


def test_equal_shards_drop_at_most_num_shards_minus_one(h5_file):
    # Row-wise (range and a mapped dataset): floor(10 / 3) = 3 each, element 9 dropped.
    for ds in (stoker.range(10), stoker.range(10).map(lambda *t: t)):
        shards = [[int(e[0]) for e in collect(ds.shard(3, i, equal=True))] for i in range(3)]
        assert shards == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    # HDF5 reads only its own blocks; every shard yields the shortest shard's count.
    ds = stoker.hdf5(h5_file, labels="/train/labels")
    sizes = [len(collect(ds.shard(3, i, equal=True))) for i in range(3)]
    assert len(set(sizes)) == 1 and sizes[0] == min(len(collect(ds.shard(3, i))) for i in range(3))


def test_range_shuffle_is_a_seeded_permutation():
    ds = stoker.range(50).shuffle(16, seed=3)
    a = [int(e[0]) for e in collect(ds)]
    assert sorted(a) == list(range(50)) and a != list(range(50))
    assert a == [int(e[0]) for e in collect(ds)]
    assert [int(e[0]) for e in collect(stoker.range(2, 10, 3))] == [2, 5, 8]


def test_cache_and_prefetch_replay_the_same_elements(h5_file, tmp_path):
    ds = stoker.hdf5(h5_file, labels=None).take(20)
    want = collect(ds)
    for cached in (ds.cache().repeat(2), ds.cache(str(tmp_path / "c.bin")).repeat(2)):
        got = collect(cached.prefetch(2))
        assert len(got) == 40
        for a, b in zip(got, want + want):
            np.testing.assert_array_equal(a[0], b[0])


def test_image_folder_decode_jpeg_matches_pillow(jpeg_folder):
    Image = pytest.importorskip("PIL.Image")
    classes, paths, labels = stoker.list_image_folder(jpeg_folder)
    assert classes == ["cat", "dog"] and labels == [0, 0, 0, 1, 1, 1]
    out = collect(stoker.image_folder(jpeg_folder).map(stoker.decode_jpeg()))
    for (img, label), path, want_label in zip(out, paths, labels):
        ref = np.asarray(Image.open(path).convert("RGB"))
        assert img.shape == ref.shape == (16, 20, 3) and label == want_label
        # Both decode with libjpeg-turbo's accurate integer IDCT and fancy upsampling; allow one
        # level of difference for a different colour-conversion rounding path.
        assert np.abs(img.astype(int) - ref.astype(int)).max() <= 1


def test_decode_jpeg_options_crop_resize_flip_normalize(jpeg_folder):
    ds = stoker.image_folder(jpeg_folder)
    out = collect(ds.map(stoker.decode_jpeg(size=(8, 10), crop="random_resized", flip=0.5, normalize=True)).batch(6))
    (images, labels), = out
    assert images.dtype == np.float32 and images.shape == (6, 8, 10, 3)
    gray = collect(ds.map(stoker.decode_jpeg(size=12, crop="center", resize_shorter=14, gray=True)))
    assert gray[0][0].shape == (12, 12, 1)


def test_decode_jpeg_mcu_index_gives_the_same_crops(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(3)
    for cls in ("a", "b"):
        os.makedirs(tmp_path / cls)
        for i in range(3):
            base = np.linspace(0, 255, 160 * 120 * 3).reshape(120, 160, 3)
            pixels = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / cls / f"{i}.jpg", quality=90)

    def passes(index_bytes):
        ds = stoker.image_folder(str(tmp_path)).map(
            stoker.decode_jpeg(size=48, crop="random_resized", flip=0.5, mcu_index_bytes=index_bytes)).batch(6)
        return [np.asarray(b[0]).copy() for epoch in range(3)
                for b in ds.iterator(threads=2, seed=epoch)]

    plain, indexed = passes(0), passes(1 << 20)
    assert len(plain) == 3
    for x, y in zip(plain, indexed):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(stoker.InvalidArgumentError):
        stoker.decode_jpeg(mcu_index_bytes=-1)


def test_files_with_cast_and_normalize(jpeg_folder):
    _, paths, _ = stoker.list_image_folder(jpeg_folder)
    ds = stoker.files(paths[:2], [5, 6]).map(stoker.decode_jpeg())
    u8 = collect(ds)
    f32 = collect(ds.map(stoker.cast("float32")))
    np.testing.assert_array_equal(f32[0][0], u8[0][0].astype(np.float32))
    norm = collect(ds.map(stoker.normalize(mean=[0.5], std=[0.25], dtype="float16")))
    assert norm[0][0].dtype == np.float16 and [int(e[1]) for e in norm] == [5, 6]


def test_python_callable_map():
    ds = stoker.range(6).map(lambda x: (np.asarray(x) * 2, np.float32(1.5) * np.ones(2, np.float32)))
    out = collect(ds)
    assert all(e[0].shape == () and e[0].dtype == np.int64 for e in out)  # a numpy scalar stays 0-d
    assert [int(e[0]) for e in out] == [0, 2, 4, 6, 8, 10]
    np.testing.assert_array_equal(out[0][1], [1.5, 1.5])


def test_python_callable_runs_while_next_waits_and_iterator_drops_mid_epoch():
    """The callable takes the GIL on stoker's threads: next() must release it (else this hangs),
    and so must dropping the iterator while calls are in flight (its destructor joins them)."""
    calls = []

    def f(x):
        calls.append(1)
        return x
    for _ in range(20):
        it = stoker.range(10_000).map(f, max_in_flight=8).iterator(threads=2)
        assert int(next(it)[0]) == 0
        del it  # cancels: mapped elements in flight finish, the rest never start
    assert 20 <= len(calls) < 20 * 10_000


def test_python_callable_error_fails_or_skips():
    def bad(x):
        if int(np.asarray(x)) == 3:
            raise ValueError("three is bad")
        return x
    with pytest.raises(stoker.InvalidArgumentError, match="three is bad"):
        collect(stoker.range(6).map(bad))
    it = stoker.range(6).map(bad).iterator(threads=2, on_error="skip")
    assert [int(e[0]) for e in it] == [0, 1, 2, 4, 5]
    stats = it.stats()
    assert stats["skipped"] == 1 and "three is bad" in stats["first_errors"][0]


def test_stats_is_a_dict_of_stages(h5_file):
    it = stoker.hdf5(h5_file).batch(10).iterator(threads=2, memory_budget="64M", seed=1)
    for _ in it:
        pass
    s = it.stats()
    assert s["memory_budget"] == 64 << 20 and s["peak_bytes"] > 0
    names = [st["name"] for st in s["stages"]]
    assert "batch" in names and "hdf5" in names
    batch = s["stages"][names.index("batch")]
    assert batch["elements_in"] == 100 and batch["elements_out"] == 10


def test_bad_options_raise_invalid_argument(h5_file):
    ds = stoker.hdf5(h5_file)
    with pytest.raises(stoker.InvalidArgumentError, match="on_error"):
        ds.iterator(on_error="ignore")
    with pytest.raises(stoker.InvalidArgumentError, match="memory_budget"):
        ds.iterator(memory_budget="lots")
    with pytest.raises(stoker.InvalidArgumentError, match="dtype"):
        stoker.cast("float128")
    with pytest.raises(stoker.InvalidArgumentError):
        stoker.decode_jpeg(crop="diagonal")
