"""Patches from lazy / Zarr-backed cubes: masks, determinism, caches, splits without leakage, torch adapter."""
import numpy as np
import pytest
import xarray as xr

from eoxr import ml
from eoxr.errors import GridError, MissingVariableError, NoDataError


def scene(seed=0, nt=3, ny=96, nx=112, holes=True):
    """Two inputs (one static) and a target; rectangles of NaN in one input."""
    rng = np.random.default_rng(seed)
    a = rng.normal(290, 5, size=(nt, ny, nx)).astype("float32")
    b = rng.uniform(0, 1, size=(ny, nx)).astype("float32")
    if holes:
        for t in range(nt):
            y0, x0 = rng.integers(0, ny - 30), rng.integers(0, nx - 30)
            a[t, y0:y0 + 30, x0:x0 + 30] = np.nan
    ds = xr.Dataset(
        {"a": (("time", "y", "x"), a, {"units": "K"}), "b": (("y", "x"), b, {"units": "1"}),
         "t": (("time", "y", "x"), a + 10 * b, {"units": "K", "long_name": "target"})},
        coords={"time": np.arange(nt), "y": 1000.0 - 10 * np.arange(ny), "x": 10.0 * np.arange(nx)},
    )
    return ds.chunk({"time": 1, "y": 40, "x": 40})


def test_patches_match_the_data_and_nan_dominated_ones_are_dropped():
    ds = scene(seed=1)
    gen = ml.patches(ds, ["a", "b"], "t", size=16, stride=8, max_nan=0.25, shuffle=False)
    a, b, t = ds.a.values, ds.b.values, ds.t.values
    nt = ds.sizes["time"]
    all_windows = nt * ((96 - 16) // 8 + 1) * ((112 - 16) // 8 + 1)
    assert 0 < len(gen) < all_windows  # some windows had too many NaN
    x, y = gen.get(np.arange(len(gen)))
    assert x.shape == (len(gen), 2, 16, 16) and y.shape == (len(gen), 1, 16, 16)
    kept = set()
    for i, (ti, y0, x0) in enumerate(gen.starts):
        win = (slice(y0, y0 + 16), slice(x0, x0 + 16))
        np.testing.assert_array_equal(x[i, 0], a[ti][win])
        np.testing.assert_array_equal(x[i, 1], b[win])  # static input repeated for every time step
        np.testing.assert_array_equal(y[i, 0], t[ti][win])
        assert np.isnan(x[i]).any(axis=0).mean() <= 0.25
        kept.add((ti, y0, x0))
    # every window with at most 25 % NaN is served
    for ti in range(nt):
        for y0 in range(0, 96 - 15, 8):
            for x0 in range(0, 112 - 15, 8):
                frac = np.isnan(a[ti, y0:y0 + 16, x0:x0 + 16]).mean()
                assert ((ti, y0, x0) in kept) == (frac <= 0.25)


def test_default_mask_serves_no_nan_and_mask_variable():
    ds = scene(seed=2)
    gen = ml.patches(ds, ["a", "b"], "t", size=16)
    x, y = gen.get(np.arange(len(gen)))
    assert np.isfinite(x).all() and np.isfinite(y).all()
    ds["ok"] = (ds.x < 600).broadcast_like(ds.b).transpose("y", "x")  # True = valid
    masked = ml.patches(ds, ["a", "b"], "t", size=16, mask="ok", max_nan=0.0)
    assert 0 < len(masked) < len(gen)
    assert (masked.starts[:, 2] + 16 <= 60).all()  # x < 600 m is the first 60 columns
    assert np.isfinite(masked.get(np.arange(len(masked)))[0]).all()
    every = ml.patches(ds, ["a", "b"], "t", size=16, mask=None)
    assert len(every) == 3 * 6 * 7


def test_shuffle_is_deterministic_by_seed_and_epoch():
    ds = scene(seed=3)
    g0 = ml.patches(ds, ["a"], "t", size=16, seed=0)
    g0b = ml.patches(ds, ["a"], "t", size=16, seed=0)
    g1 = ml.patches(ds, ["a"], "t", size=16, seed=1)
    np.testing.assert_array_equal(g0.order(0), g0b.order(0))
    assert not np.array_equal(g0.order(0), g1.order(0))
    assert not np.array_equal(g0.order(0), g0.order(1))
    assert sorted(g0.order(5)) == list(range(len(g0)))
    first = [xb for xb, _ in g0.batches(4, epoch=2)]
    again = [xb for xb, _ in g0b.batches(4, epoch=2)]
    assert all(np.array_equal(p, q) for p, q in zip(first, again))


def test_zarr_cube_with_disk_cache_and_no_cache(tmp_path):
    ds = scene(seed=4)
    ds.to_zarr(tmp_path / "cube.zarr", mode="w", consolidated=False, zarr_format=3)
    cube = xr.open_zarr(tmp_path / "cube.zarr", consolidated=False)
    mem = ml.patches(cube, ["a", "b"], "t", size=16, stride=12)
    disk = ml.patches(cube, ["a", "b"], "t", size=16, stride=12, cache=tmp_path / "cache")
    none = ml.patches(cube, ["a", "b"], "t", size=16, stride=12, cache=None)
    idx = mem.order(0)[:20]
    for other in (disk, none):
        xa, ya = mem.get(idx)
        xb, yb = other.get(idx)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert len(list((tmp_path / "cache").iterdir())) == 1
    # a second generator over the same data reuses what the first decoded, and only decodes the rest
    reuse = ml.patches(cube, ["a", "b"], "t", size=16, stride=12, cache=tmp_path / "cache")
    reuse._store._allocate()
    assert reuse._store.filled.sum() >= len(np.unique(idx)) and not reuse._store.filled.all()
    reuse.load()
    np.testing.assert_array_equal(reuse.get(np.arange(len(reuse)))[0], mem.get(np.arange(len(mem)))[0])
    # ... and a cache of other data is kept apart
    other = ml.patches(cube, ["a"], "t", size=16, stride=12, cache=tmp_path / "cache")
    other.load()
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_channels_from_extra_dims_and_statistics():
    rng = np.random.default_rng(5)
    ds = xr.Dataset({
        "bt": (("channel", "y", "x"), rng.normal(250, [[[1]], [[2]], [[3]]], size=(3, 48, 48))),
        "r": (("y", "x"), rng.normal(2, 0.5, size=(48, 48))),
    })
    gen = ml.patches(ds, ["bt"], "r", size=16, shuffle=False)
    assert gen.input_channels == ["bt[channel=0]", "bt[channel=1]", "bt[channel=2]"]
    stats = gen.statistics()
    np.testing.assert_allclose(stats["bt"]["mean"], ds.bt.mean(("y", "x")).values, rtol=1e-6)
    np.testing.assert_allclose(stats["bt"]["std"], ds.bt.std(("y", "x")).values, rtol=1e-4)
    np.testing.assert_allclose(stats["r"]["mean"], [float(ds.r.mean())], rtol=1e-6)


def test_split_space_has_no_shared_pixel_even_with_overlapping_strides():
    ds = scene(seed=6, holes=False)
    gen = ml.patches(ds, ["a", "b"], "t", size=16, stride=4)
    train, val = ml.split(gen, by="space", fraction=0.3, seed=0)
    assert len(train) > 0 and len(val) > 0

    def footprint(g):
        cover = np.zeros((96, 112), bool)
        for _, y0, x0 in g.starts:
            cover[y0:y0 + 16, x0:x0 + 16] = True
        return cover

    assert not (footprint(train) & footprint(val)).any()
    other = ml.split(gen, by="space", fraction=0.3, seed=1)
    assert not np.array_equal(other[1].starts, val.starts)
    # split= in patches() gives the same split
    t2, v2 = ml.patches(ds, ["a", "b"], "t", size=16, stride=4, split={"by": "space", "fraction": 0.3, "seed": 0})
    np.testing.assert_array_equal(v2.starts, val.starts)


def test_split_time_and_dataset_splits():
    ds = scene(seed=7, nt=6, holes=False)
    gen = ml.patches(ds, ["a"], "t", size=16)
    train, val = ml.split(gen, by="time", fraction=0.34, seed=0)
    assert set(train.starts[:, 0]).isdisjoint(val.starts[:, 0])
    assert len(train) + len(val) == len(gen)
    dtrain, dval = ml.split(ds, by="time", fraction=0.34, seed=0)
    assert set(dtrain.time.values).isdisjoint(dval.time.values)
    strain, sval = ml.split(ds, by="space", fraction=0.25, seed=0)
    both = strain.a.notnull() & sval.a.notnull()
    assert not bool(both.any()) and bool(strain.a.notnull().any()) and bool(sval.a.notnull().any())
    # patches of the masked halves never overlap either: no pixel is seen by both
    gt, gv = ml.patches(strain, ["a"], "t", size=8, stride=1), ml.patches(sval, ["a"], "t", size=8, stride=1)
    assert len(gt) and len(gv)

    def seen(gen):
        pixels = np.zeros((ds.sizes["y"], ds.sizes["x"]), bool)
        for _, y0, x0 in gen.starts:
            pixels[y0:y0 + 8, x0:x0 + 8] = True
        return pixels

    assert not (seen(gt) & seen(gv)).any()


def test_bad_inputs_raise_clear_errors():
    ds = scene(seed=8)
    with pytest.raises(MissingVariableError, match="ndvi"):
        ml.patches(ds, ["a", "ndvi"], "t", size=16)
    with pytest.raises(GridError, match="transpose"):
        ml.patches(ds.transpose("time", "x", "y"), ["a"], "t", size=16)
    with pytest.raises(GridError, match="exceeds"):
        ml.patches(ds, ["a"], "t", size=200)
    nan = ds.assign(a=ds.a * np.nan)
    with pytest.raises(NoDataError, match="max_nan"):
        ml.patches(nan, ["a"], "t", size=16)
    with pytest.raises(MissingVariableError, match="time"):
        ml.split(ml.patches(ds.isel(time=0), ["a"], "t", size=16), by="time")


def test_stays_lazy_until_patches_are_served(no_compute):
    import dask.array as da

    ds = xr.Dataset({"a": (("y", "x"), da.random.random((64, 64), chunks=32)),
                     "t": (("y", "x"), da.random.random((64, 64), chunks=32))})
    gen = ml.patches(ds, ["a"], "t", size=16, mask=None)
    assert len(gen) == 16
    train, val = ml.split(gen, by="space", fraction=0.25)
    assert len(train) + len(val) == 16


def test_torch_dataset_and_loader():
    torch = pytest.importorskip("torch")
    ds = scene(seed=9)
    gen = ml.patches(ds, ["a", "b"], "t", size=16)
    dset = gen.torch_dataset()
    x, y = dset[0]
    assert x.dtype == torch.float32 and x.shape == (2, 16, 16) and y.shape == (1, 16, 16)
    batches = list(gen.loader(batch_size=5, epoch=1))
    xs = torch.cat([b[0] for b in batches])
    np.testing.assert_array_equal(xs.numpy(), gen.get(gen.order(1))[0])


@pytest.mark.slow
def test_loader_with_spawned_workers_beside_dask():
    pytest.importorskip("torch")
    ds = scene(seed=10)
    gen = ml.patches(ds, ["a", "b"], "t", size=16)
    loader = gen.loader(batch_size=8, epoch=0, num_workers=2)
    assert loader.multiprocessing_context.get_start_method() == "spawn"
    got = np.concatenate([b[0].numpy() for b in loader])
    np.testing.assert_array_equal(got, gen.get(gen.order(0))[0])
