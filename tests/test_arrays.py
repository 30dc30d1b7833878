"""eoxr.arrays: numpy/dask dispatch, halo_map (chunked == unchunked, y and x seams), blocks, coarse grids, fits."""
import subprocess
import sys

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from checks import assert_chunked_equals_unchunked, assert_lazy
from scipy import ndimage

from eoxr import arrays
from eoxr.errors import GridError, ParameterError


# ------------------------------------------------------------------------------------------ dispatch


def test_namespace_and_is_lazy():
    a = np.ones((3, 4))
    d = dsa.ones((3, 4), chunks=2)
    assert arrays.namespace(a) is np and arrays.namespace(1.0) is np
    assert arrays.namespace(d) is dsa and arrays.namespace(a, d) is dsa and arrays.namespace(d, 2.0) is dsa
    assert arrays.namespace(xr.DataArray(d)) is dsa and arrays.namespace(xr.DataArray(a)) is np
    assert arrays.is_lazy(d) and arrays.is_lazy(xr.DataArray(d))
    assert not arrays.is_lazy(a) and not arrays.is_lazy(xr.DataArray(a))


def test_namespace_of_a_torch_tensor():
    torch = pytest.importorskip("torch")
    assert arrays.namespace(torch.ones(2)) is torch


def test_the_shared_layer_imports_neither_torch_nor_cupy():
    code = ("import sys, eoxr, eoxr.arrays, eoxr.units, eoxr.accessors; "
            "print(sorted(m for m in ('torch', 'cupy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------------- halos


def _box(block, reach):
    """Mean over the (2 reach + 1)^2 window: reaches exactly ``reach`` pixels."""
    w = np.ones((1,) * (block.ndim - 2) + (2 * reach + 1,) * 2) / (2 * reach + 1) ** 2
    return ndimage.correlate(block, w, mode="nearest")  # direct sums: a NaN spoils only its own windows


def _shift(block, reach):
    """out[y, x] = in[y - reach, x + reach]: one-sided, so a halo missing on one side of y or x shows."""
    return np.roll(np.roll(block, reach, axis=-2), -reach, axis=-1)


def _nan_gauss(block, reach):
    valid = np.isfinite(block)
    sig = (0,) * (block.ndim - 2) + (reach / 4.0,) * 2
    num = ndimage.gaussian_filter(np.where(valid, block, 0.0), sig, truncate=4.0)
    den = ndimage.gaussian_filter(valid.astype(block.dtype), sig, truncate=4.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, num / den, np.nan)


@pytest.fixture
def field(rng):
    a = rng.normal(size=(2, 30, 26))  # (time, y, x)
    a[0, 10:14, 20:23] = np.nan
    return a


@pytest.mark.parametrize("kernel", [_box, _shift, _nan_gauss])
@pytest.mark.parametrize("depth", [1, 3, 8])
@pytest.mark.parametrize("boundary", ["reflect", "nearest", "periodic", -1.5])
def test_halo_map_chunked_equals_unchunked(field, kernel, depth, boundary):
    def run(data):
        return arrays.halo_map(kernel, data, depth, boundary, reach=depth)

    chunkings = [
        (1, 9, 26),    # y-chunks only: halo seams in y
        (2, 30, 7),    # x-chunks only
        (1, 11, 13),   # both
        (2, 4, 5),     # chunks thinner than the halo: rechunked first
    ]
    assert_chunked_equals_unchunked(run, field, chunkings, rtol=0, atol=1e-12)


def test_halo_map_pads_numpy_as_dask_pads_the_edges(rng):
    a = rng.normal(size=(6, 7))
    for boundary, mode in (("reflect", "symmetric"), ("nearest", "edge"), ("periodic", "wrap")):
        got = arrays.halo_map(lambda b: b.copy(), a, 2, boundary, trim=False)
        np.testing.assert_array_equal(got, np.pad(a, 2, mode=mode))
    np.testing.assert_array_equal(arrays.halo_map(lambda b: b.copy(), a, 1, 7.0, trim=False)[0], np.full(9, 7.0))


def test_halo_map_boundary_none_leaves_the_edges_to_the_kernel(field):
    def edge_aware(block, block_id=None):
        assert block_id is not None  # told its position, numpy or dask
        return _box(block, 3)

    assert_chunked_equals_unchunked(lambda d: arrays.halo_map(edge_aware, d, 3, "none"), field,
                                    [(1, 10, 26), (2, 11, 9)], rtol=0, atol=1e-12)
    # a halo wider than the array: its chunks merge into one, which has no neighbour to borrow from
    wide = arrays.halo_map(edge_aware, dsa.from_array(field, chunks=(1, 10, 13)), 40, "none")
    np.testing.assert_allclose(wide.compute(), arrays.halo_map(edge_aware, field, 40, "none"), rtol=0, atol=1e-12)


def test_halo_map_with_a_kernel_that_changes_the_block_size(field):
    factor, depth = 3, 2

    def upsample(block):  # core only (trim=False), each pixel repeated: the size changes
        core = _box(block, depth)[..., depth:-depth, depth:-depth]
        return np.repeat(np.repeat(core, factor, -2), factor, -1)

    def run(data):
        return arrays.halo_map(upsample, data, depth, "nearest", trim=False,
                               chunks=lambda c: c[:-2] + tuple(tuple(n * factor for n in ax) for ax in c[-2:]))

    out = run(field)
    assert out.shape == (2, 90, 78)
    assert_chunked_equals_unchunked(run, field, [(1, 9, 26), (2, 1, 5)], rtol=0, atol=0)


def test_a_kernel_reaching_beyond_its_halo_shows_seams(field):
    """The equality check catches a halo that is too small (the kernel reaches 3 px, the halo is 1)."""
    with pytest.raises(AssertionError, match="differs"):
        assert_chunked_equals_unchunked(lambda d: arrays.halo_map(_box, d, 1, "reflect", reach=3), field,
                                        (1, 9, 26))


def test_halo_map_is_lazy_and_keeps_chunks_at_least_the_halo(field):
    out = assert_lazy(arrays.halo_map, _box, dsa.from_array(field, chunks=(1, 2, 3)), 4, reach=4)
    assert out.shape == field.shape
    rechunked = arrays.ensure_depth(dsa.from_array(field, chunks=(1, 2, 3)), 4)
    assert min(rechunked.chunks[1]) >= 4 and min(rechunked.chunks[2]) >= 4
    assert rechunked.chunks[0] == (1, 1)  # leading axes untouched


def test_halo_map_bad_arguments(field):
    with pytest.raises(GridError, match="y, x"):
        arrays.halo_map(_box, np.ones(5), 1, reach=1)
    with pytest.raises(ParameterError, match="integer >= 0"):
        arrays.halo_map(_box, field, -1, reach=1)
    with pytest.raises(ParameterError, match="boundary"):
        arrays.halo_map(_box, field, 1, "mirror", reach=1)
    with pytest.raises(ParameterError, match="wider"):
        arrays.halo_map(_box, dsa.ones((4, 4)), 5, reach=5)


def test_halo_depth_rounds_up():
    assert arrays.halo_depth(9) == 5 and arrays.halo_depth(8) == 4 and arrays.halo_depth(0) == 0
    assert arrays.halo_depth(9, align=4) == 8 and arrays.halo_depth(17, align=8) == 16
    for rf in range(0, 80):
        for align in (1, 2, 4, 8, 16):
            h = arrays.halo_depth(rf, align)
            assert h % align == 0 and 2 * h >= rf  # the whole receptive field is covered
            assert h - align < (rf + 1) // 2 or h == 0  # and no more than one alignment step beyond it
    with pytest.raises(ParameterError):
        arrays.halo_depth(5, align=0)


# ------------------------------------------------------------------------------------------ blocks


def test_block_mean_of_a_partly_cloudy_block_is_the_mean_of_its_valid_pixels():
    a = np.arange(32.0).reshape(4, 8)
    a[0, 0] = a[1, 1] = np.nan  # block (0, 0) keeps 14 of its 16 pixels
    a[:, 4:] = np.nan  # block (0, 1) is all cloud
    out = arrays.block_mean(a, 4, min_valid=0.5)
    valid = a[:4, :4][np.isfinite(a[:4, :4])]
    assert out[0, 0] == pytest.approx(valid.mean(), rel=1e-15)
    assert out[0, 0] != pytest.approx(valid.sum() / 16)
    assert np.isnan(out[0, 1])
    assert np.isnan(arrays.block_mean(a, 4)[0, 0])  # min_valid=1: any cloud masks the block
    assert arrays.block_mean(a, 4, min_valid=14 / 16)[0, 0] == out[0, 0]
    assert np.isnan(arrays.block_mean(a, 4, min_valid=15 / 16)[0, 0])
    lazy = arrays.block_mean(dsa.from_array(a, chunks=(3, 5)), 4, min_valid=0.5)
    np.testing.assert_array_equal(lazy.compute(), out)


def test_block_sum_repeat_and_rechunk(rng):
    a = rng.normal(size=(2, 10, 13))
    s = arrays.block_sum(a, 3)
    assert s.shape == (2, 3, 4)  # excess rows and columns trimmed
    assert s[1, 2, 3] == pytest.approx(a[1, 6:9, 9:12].sum())
    np.testing.assert_allclose(arrays.block_sum(dsa.from_array(a, chunks=(1, 4, 5)), 3).compute(), s, rtol=1e-14)
    rep = arrays.repeat_blocks(s, 3)
    assert rep.shape == (2, 9, 12) and (rep[0, :3, :3] == s[0, 0, 0]).all()
    r = arrays.rechunk_multiple(dsa.from_array(a, chunks=(1, 4, 5)), 3)
    assert all(c % 3 == 0 for c in r.chunks[1][:-1] + r.chunks[2][:-1])
    assert arrays.rechunk_multiple(a, 3) is a


def test_coarse_and_fine_coordinates():
    x = xr.DataArray(np.arange(10) * 250.0 + 125.0, dims="x", name="x")
    coarse = arrays.coarse_coord(x, 4)
    np.testing.assert_allclose(coarse, [500.0, 1500.0])
    fine = arrays.fine_coord(xr.DataArray(coarse, dims="x"), 4)
    np.testing.assert_allclose(fine, x.values[:8])
    assert arrays.pixel_size(x) == 250.0
    with pytest.raises(GridError, match="at least 2"):
        arrays.pixel_size(x[:1])
    assert arrays.check_factor(4.0) == 4
    for bad in (0, 2.5, "4", True):
        with pytest.raises(ParameterError, match="positive integer"):
            arrays.check_factor(bad)


def test_linear_fit_over_finite_pairs(rng):
    x = rng.uniform(0, 1, (20, 30))
    y = 2.0 + 3.0 * x
    x[0, :5] = np.nan
    y[1, :7] = np.nan
    a, b, n = arrays.linear_fit(x, y)
    assert (a, b, int(n)) == (pytest.approx(2.0), pytest.approx(3.0), 600 - 12)
    la, lb, ln = assert_lazy(arrays.linear_fit, dsa.from_array(x, chunks=7), dsa.from_array(y, chunks=9))
    assert float(lb) == pytest.approx(3.0) and float(la) == pytest.approx(2.0) and int(ln) == n
