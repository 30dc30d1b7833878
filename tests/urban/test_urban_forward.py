"""Forward model of eoxr.urban: geometry against analytic cases, energy balance, element form and Jacobians."""
import numpy as np
import pytest
import xarray as xr
from scipy import ndimage

from eoxr.urban import forward as F
from eoxr.urban import geometry as G
from eoxr.urban.atmosphere import Atmosphere, Geometry, reflective_terms, thermal_terms
from eoxr.urban.city import City
from eoxr.urban.sensors import ECOSTRESS, SENTINEL2, band_planck, broadband_weights


def _city(dsm, element, names, res=1.0):
    ny, nx = dsm.shape
    x = 500000 + (np.arange(nx) + 0.5) * res
    y = 5400000 - (np.arange(ny) + 0.5) * res
    d = xr.DataArray(dsm, dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs("EPSG:32631")
    return City(d, d.copy(data=element.astype(np.int16)), names)


def _blocks(rng, n=90):
    dsm = np.zeros((n, n))
    el = np.full((n, n), 2)
    el[:, : n // 3] = 3  # grass strip
    for r0 in range(4, n - 20, 28):
        for c0 in range(6, n - 20, 28):
            s = int(rng.integers(10, 18))
            dsm[r0:r0 + s, c0:c0 + s] = rng.uniform(6, 18)
            el[r0:r0 + s, c0:c0 + s] = 0
    return _city(dsm, el, ["roof", "wall", "road", "grass"])


def _grid(city, px):
    ys, xs = city.sensor_coords(px)
    tmpl = xr.DataArray(np.zeros((len(ys), len(xs))), dims=("y", "x"), coords={"y": ys, "x": xs})
    return city.grid_for(tmpl.rio.write_crs(city.crs))


def test_sky_view_factor_flat_plane_is_one():
    z = np.zeros((12, 12))
    svf = G.sky_view_factor(z, 1.0, G.facets(z, 1.0), n_azimuths=16)
    np.testing.assert_allclose(svf, 1.0, atol=1e-12)


def test_sky_view_factor_infinite_canyon_floor_centre():
    # Floor centre of an infinite canyon (walls of height h, floor width w): the horizon elevation at azimuth phi
    # from the canyon axis is atan(tan(beta) |sin phi|), tan(beta) = h / (w/2) = 2h/w. The cosine-weighted SVF of a
    # horizontal facet is (1/2pi) Int cos^2(elev) dphi = (1/2pi) Int dphi / (1 + tan^2(beta) sin^2 phi) = cos(beta)
    # (Oke 1988). Grid: 21 floor cells between two 10 m walls, the centre cell 10.5 cells from each face.
    h, half = 10.0, 10.5
    dsm = np.zeros((41, 31))
    dsm[:10] = h
    dsm[31:] = h
    svf = G.sky_view_factor(dsm, 1.0, G.facets(dsm, 1.0), n_azimuths=64, max_dist=150.0, growth=0.0)
    beta = np.arctan(h / half)
    assert svf[20, 15] == pytest.approx(np.cos(beta), abs=0.006)
    # the canyon is uniform along its axis (edge cells continue it)
    assert svf[20, 0] == pytest.approx(svf[20, 15], abs=1e-9)


def test_sky_view_factor_open_wall_and_roof():
    # a vertical wall on level open ground: (1/2pi) Int_{front half} cos(phi - A) (pi/2) dphi = 1/2;
    # the flat roof of an isolated building sees the whole sky
    box = np.zeros((60, 60))
    box[20:40, 20:40] = 12.0
    fac = G.facets(box, 1.0)
    svf = G.sky_view_factor(box, 1.0, fac, n_azimuths=64)
    assert fac["wall"][20, 30] and not fac["wall"][21, 30]
    assert svf[20, 30] == pytest.approx(0.5, abs=0.01)
    np.testing.assert_allclose(fac["normal"][:, 20, 30], [0, 1, 0], atol=1e-12)
    assert svf[30, 30] == pytest.approx(1.0, abs=1e-12)
    assert fac["area"][20, 30] == pytest.approx(12.0)  # a 12 m high, 1 m long wall per 1 m2 cell


def test_sky_view_sectors_add_up_to_the_sky_view_factor():
    box = np.zeros((40, 40))
    box[10:25, 12:30] = 9.0
    fac = G.facets(box, 1.0)
    whole = G.sky_view_factor(box, 1.0, fac, n_azimuths=16)
    sums = [G.sky_view_sum(box, 1.0, fac, 16, sec) for sec in np.array_split(np.arange(16), 3)]
    np.testing.assert_allclose(np.clip(sum(sums) / 16, 0.0, 1.0), whole, atol=1e-12)
    assert whole.min() < 0.9  # the walls and the ground beside them see less than the whole sky


@pytest.mark.parametrize("azimuth", [37.0, 143.0, 250.0])  # off the near-ties of sin or cos = 0.5
def test_horizon_march_equals_the_cell_by_cell_definition(azimuth):
    # the march by grid shifts (and gathered walls) against the definition, sample by sample for each facet
    city = _blocks(np.random.default_rng(1), n=48)
    z, fac = city.dsm, city.facets
    ny, nx = z.shape
    de, dn = np.sin(np.radians(azimuth)), np.cos(np.radians(azimuth))
    dists = G.march_distances(30.0, 0.25, 0.03)
    want = np.full(z.shape, -np.inf)
    for i in range(ny):
        for j in range(nx):
            r0, c0 = i - fac["offset"][1, i, j], j + fac["offset"][0, i, j]
            for t in dists:  # nearest cell, rounded half up; beyond the edge, the border cell
                r, c = int(np.floor(r0 - t * dn + 0.5)), int(np.floor(c0 + t * de + 0.5))
                if (r, c) != (i, j):
                    zs = z[min(max(r, 0), ny - 1), min(max(c, 0), nx - 1)]
                    want[i, j] = max(want[i, j], (zs - fac["z0"][i, j]) / t)
    got = G.horizon_tangent(z, 1.0, fac, azimuth, 30.0, 0.25, 0.03)
    assert fac["wall"].sum() > 30
    np.testing.assert_allclose(got, want, rtol=1e-12)
    only = np.random.default_rng(2).random(z.shape) < 0.1
    np.testing.assert_allclose(G.horizon_tangent(z, 1.0, fac, azimuth, 30.0, 0.25, 0.03, only)[only], want[only],
                               rtol=1e-12)


def test_sky_view_of_some_cells_equals_the_whole_grids_there():
    city = _blocks(np.random.default_rng(3), n=48)
    only = np.random.default_rng(4).random(city.dsm.shape) < 0.1
    whole = G.sky_view_sum(city.dsm, 1.0, city.facets, 16, range(16))
    part = G.sky_view_sum(city.dsm, 1.0, city.facets, 16, range(16), only=only)
    np.testing.assert_allclose(part[only], whole[only], rtol=1e-12)
    assert not part[~only].any()


@pytest.mark.parametrize("sza", [20.0, 35.0, 50.0])
@pytest.mark.parametrize("azimuth", [180.0, 90.0, 150.0])
def test_box_shadow_is_h_tan_sza_long_to_a_fraction_of_a_cell(sza, azimuth):
    h, side = 12.0, 12
    dsm = np.zeros((80, 80))
    dsm[30:42, 30:42] = h
    fac = G.facets(dsm, 1.0)
    mu = G.sunlit_cosine(dsm, 1.0, fac, sza, azimuth)
    shade = 1 - mu / np.cos(np.radians(sza))  # the shaded share of each ground cell
    expected = h * np.tan(np.radians(sza))
    # cells are shaded over the part of their footprint behind the shadow's edge (sub-cell shading): summed along
    # the shadow, the shaded shares give its length (cells lit or shaded whole: up to half a cell off)
    if azimuth == 180.0:  # sun in the south: the shadow falls north of the building, along column 36
        assert shade[:30, 36].sum() == pytest.approx(expected, abs=0.05)
    elif azimuth == 90.0:  # sun in the east: shadow to the west, along row 36
        assert shade[36, :30].sum() == pytest.approx(expected, abs=0.05)
    # on the ground the shadow covers the footprint swept along the sun's azimuth, less the footprint
    a = np.radians(azimuth)
    ground = dsm == 0
    area = side * expected * (abs(np.sin(a)) + abs(np.cos(a)))
    assert (shade * ground).sum() == pytest.approx(area, rel=0.08)
    # the sunlit roof sees the sun at cos(sza); the ground far away too
    assert mu[35, 35] == pytest.approx(np.cos(np.radians(sza)))
    assert mu[5, 75] == pytest.approx(np.cos(np.radians(sza)))


@pytest.mark.parametrize("sza", [45.0, 60.0, 70.0])
def test_canyon_wall_is_lit_above_the_opposite_roofs_shadow(sza):
    # a street 3-6 m wide between two 12 m high blocks, sun in the east: the east-facing wall of the western
    # block is lit above 12 - w / tan(sza) m, so its lit fraction is w / (12 tan(sza)) (half a cell of sampling)
    h, tan_elev = 12.0, 1.0 / np.tan(np.radians(sza))
    lit = []
    for w in (3, 4, 5, 6):
        dsm = np.zeros((40, 60))
        dsm[:, 10:25] = h
        dsm[:, 25 + w:50] = h
        fac = G.facets(dsm, 1.0)
        assert fac["wall"][20, 24] and fac["normal"][0, 20, 24] == pytest.approx(1.0)
        mu = G.sunlit_cosine(dsm, 1.0, fac, sza, 90.0)
        lit.append(mu[20, 24] / np.sin(np.radians(sza)))
        assert lit[-1] == pytest.approx(w * tan_elev / h, abs=0.5 * tan_elev / h + 1e-9)
    # one metre wider lights one more metre of wall per metre of sun path: no jump of the whole wall
    np.testing.assert_allclose(np.diff(lit), tan_elev / h, atol=0.3 * tan_elev / h)


def test_flat_open_plane_radiance_is_irradiance_over_pi():
    rng = np.random.default_rng(3)
    city = _city(np.zeros((20, 20)), np.zeros((20, 20)), ["road"])
    geom = Geometry(40.0, 120.0)
    f = city.fields(geom)
    bands = list(SENTINEL2.bands[:3])
    terms = reflective_terms(Atmosphere(aot550=0.3), bands, geom)
    rho = np.broadcast_to(rng.uniform(0.1, 0.9, 3)[:, None, None, None], (3, 2, 20, 20))
    out = F.fine_reflective(city, f, rho, terms, n_bounce=3)
    e = terms["S"] * np.cos(np.radians(40.0)) + terms["D"]
    assert not city.present[1].any()  # no walls, no caps
    np.testing.assert_allclose(out["E"][:, 0], np.broadcast_to(e[:, None, None], (3, 20, 20)), rtol=1e-12)
    np.testing.assert_allclose(out["M"][:, 0] / np.pi, rho[:, 0] * e[:, None, None] / np.pi, rtol=1e-12)


def test_energy_conservation_without_absorption():
    # rho = 1 everywhere: with enough bounces everything that comes in (sun + sky) leaves to the sky
    rng = np.random.default_rng(11)
    city = _blocks(rng, 70)
    geom = Geometry(30.0, 200.0)
    f = city.fields(geom)
    bands = [SENTINEL2.bands[2]]
    terms = reflective_terms(Atmosphere(), bands, geom)
    ones = np.ones((1,) + city.layers.shape)
    out = F.fine_reflective(city, f, ones, terms, radius_m=6.0, n_bounce=400)
    area = f["area"]
    incoming = (area * out["E0"]).sum()
    to_sky = (area * f["svf"] * out["M"]).sum()
    assert to_sky == pytest.approx(incoming, rel=1e-6)
    # and an absorbing city keeps less: a checked inequality, not a tautology
    half = F.fine_reflective(city, f, 0.5 * ones, terms, radius_m=6.0, n_bounce=50)
    assert (area * f["svf"] * half["M"]).sum() < 0.5 * incoming


def _open_blocks(rng, n=120, margin=30, res=2.0):
    """Blocks away from the grid's edges by more than their longest shadow: no light leaves or enters sideways."""
    dsm = np.zeros((n, n))
    el = np.full((n, n), 2)
    el[:, : n // 3] = 3
    for r0 in range(margin, n - margin - 14, 22):
        for c0 in range(margin, n - margin - 14, 22):
            s = int(rng.integers(8, 14))
            dsm[r0:r0 + s, c0:c0 + s] = rng.uniform(8, 25)
            el[r0:r0 + s, c0:c0 + s] = 0
    return _city(dsm, el, ["roof", "wall", "road", "grass"], res)


@pytest.mark.parametrize("sza, saz", [(30.0, 200.0), (50.0, 130.0), (65.0, 75.0)])
def test_the_city_intercepts_the_beam_and_the_sky_that_fall_on_its_footprint(sza, saz):
    # every ray of the direct beam and of the isotropic sky lands on one facet: summed over the facets, the lit
    # cosine (S mu_i) and the sky view (D V_i) weighted by the facet areas equal the flux on the horizontal
    # footprint, S mu_s and D per cell, however the buildings share it out (cells lit or shaded whole, and the
    # horizons' azimuth sampling, leave some per cent)
    city = _open_blocks(np.random.default_rng(11))
    f = city.fields(Geometry(sza, saz))
    n = city.dsm.size
    assert city.facets["wall"].sum() > 0.01 * n and (f["mu_sun"][0] == 0).sum() > 0.03 * n  # walls and shadows
    assert (f["area"] * f["mu_sun"]).sum() / n == pytest.approx(np.cos(np.radians(sza)), rel=0.02)
    assert (f["area"] * f["svf"]).sum() / n == pytest.approx(1.0, rel=0.01)


def test_thermal_energy_balance_with_many_bounces():
    # what leaves to the sky is what the facets emit, plus what comes from the sky, less what they absorb
    # (emissivity times irradiance: sky and surroundings): Kirchhoff's law and the exchange's conservation
    rng = np.random.default_rng(11)
    city = _open_blocks(rng, res=1.0)
    geom = Geometry(35.0, 160.0)
    f = city.fields(geom)
    bands = [ECOSTRESS.thermal()[3]]
    terms = thermal_terms(Atmosphere(water_vapour=2.5), bands, geom)
    eps = rng.uniform(0.85, 0.99, (1,) + city.layers.shape)
    temp = rng.uniform(285, 330, city.layers.shape)
    ls = F.fine_thermal(city, f, eps, temp, bands, terms, radius_m=6.0, n_bounce=300)
    area, svf, sky = f["area"], f["svf"], terms["L_sky"][0]
    irradiance = svf * sky + (1 - svf) * F.Exchange(svf, area, 6).gather(ls)[..., None, :, :]
    emitted = (area * eps * band_planck(bands[0], temp)).sum()
    to_sky = (area * svf * ls).sum()
    assert to_sky == pytest.approx(emitted + (area * svf * sky).sum() - (area * eps * irradiance).sum(), rel=1e-9)
    assert 0.05 < 1 - to_sky / emitted  # a real exchange: the surroundings take a share of the emission


def test_element_form_equals_fine_model_and_jacobian_matches_differences():
    rng = np.random.default_rng(5)
    city = _blocks(rng)
    geom = Geometry(35.0, 150.0, 12.0, 100.0)
    f = city.fields(geom)
    grid = _grid(city, 10.0)
    bands = list(SENTINEL2.bands[:2])
    terms = reflective_terms(Atmosphere(aot550=0.2), bands, geom)
    ne = len(city.names)
    rho_e = rng.uniform(0.05, 0.6, (2, ne))
    y_fine = F.simulate_reflective(city, f, rho_e[:, city.layers], terms, grid, psf_px=0.45, n_bounce=1)
    ft = F.features(city, f, grid, psf_px=0.45)
    for b in range(2):
        tt = (terms["T_up"][b] + terms["T_dif"][b]) / np.pi
        A = np.moveaxis(tt * (terms["S"][b] * ft["g"] + terms["D"][b] * ft["s"]), 0, -1)[..., None, :]
        Q = np.moveaxis(tt * (terms["S"][b] * ft["cg"] + terms["D"][b] * ft["cs"]), (0, 1), (-2, -1))[..., None, :, :]
        y, J = F.reflective_model(rho_e[b], A, Q, terms["L_path"][b])
        np.testing.assert_allclose(y[..., 0], y_fine[b], rtol=1e-10)
        for e in range(ne):
            d = 1e-6
            up = rho_e.copy()
            up[b, e] += d
            dn = rho_e.copy()
            dn[b, e] -= d
            fd = (F.simulate_reflective(city, f, up[:, city.layers], terms, grid, 0.45)[b]
                  - F.simulate_reflective(city, f, dn[:, city.layers], terms, grid, 0.45)[b]) / (2 * d)
            np.testing.assert_allclose(J[..., 0, e], fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())
    # the bounce makes the model non-linear: doubling reflectance more than doubles the surface signal
    y1, _ = F.reflective_model(rho_e[0], A, Q, 0.0)
    y2, _ = F.reflective_model(2 * rho_e[0], A, Q, 0.0)
    assert (y2 > 2 * y1).all()


def test_thermal_element_form_and_jacobian():
    rng = np.random.default_rng(8)
    city = _blocks(rng)
    geom = Geometry(30.0, 170.0, 5.0, 90.0)
    f = city.fields(geom)
    grid = _grid(city, 30.0)
    bands = ECOSTRESS.thermal()
    terms = thermal_terms(Atmosphere(water_vapour=2.5), bands, geom)
    ne, nbt = len(city.names), len(bands)
    temp = rng.uniform(290, 320, ne)
    eps = rng.uniform(0.88, 0.99, (nbt, ne))
    y_fine = F.simulate_thermal(city, f, eps[:, city.layers], temp[city.layers], bands, terms, grid, psf_px=0.5)
    ft = F.features(city, f, grid, psf_px=0.5)
    a = np.moveaxis(ft["a"], 0, -1)[..., None, :]
    s = np.moveaxis(ft["s"], 0, -1)[..., None, :]
    c = np.moveaxis(ft["c"], (0, 1), (-2, -1))[..., None, :, :]
    y, dT, deps = F.thermal_model(temp, eps, a, s, c, bands, terms)
    np.testing.assert_allclose(np.moveaxis(y[..., 0], -1, 0), y_fine, rtol=1e-10)
    for e in range(ne):
        d = 1e-3
        tp, tm = temp.copy(), temp.copy()
        tp[e] += d
        tm[e] -= d
        fd = (F.thermal_model(tp, eps, a, s, c, bands, terms)[0] - F.thermal_model(tm, eps, a, s, c, bands, terms)[0]) / (2 * d)
        np.testing.assert_allclose(dT[..., e], fd, rtol=1e-5, atol=1e-9)
        for b in range(nbt):
            ep, em = eps.copy(), eps.copy()
            ep[b, e] += 1e-6
            em[b, e] -= 1e-6
            fd = (F.thermal_model(temp, ep, a, s, c, bands, terms)[0]
                  - F.thermal_model(temp, em, a, s, c, bands, terms)[0]) / 2e-6
            np.testing.assert_allclose(fd[..., b, :], deps[..., b, :, e], rtol=1e-5, atol=1e-7)
            others = np.delete(fd, b, axis=-2)
            assert np.abs(others).max() < 1e-9  # band-diagonal in emissivity


def test_planck_and_solar_weights():
    b = ECOSTRESS.thermal()[3]
    B, dB = band_planck(b, np.array([290.0, 300.0]), derivative=True)
    fd = (band_planck(b, 300.001) - band_planck(b, 299.999)) / 0.002
    assert dB[1] == pytest.approx(fd, rel=1e-6)
    assert B[1] > B[0] > 0
    w, width = broadband_weights(list(SENTINEL2.bands))
    assert w.sum() == pytest.approx(1.0)
    assert (width > 0).all()


@pytest.mark.parametrize("weight, psf, split, flat", [("view", 0.5, False, False), ("area", 0.0, True, False),
                                                      ("view", 0.6, True, False), ("view", 0.5, False, True)])
def test_features_of_a_band_or_tile_equal_those_pixels_of_the_whole_grid(weight, psf, split, flat):
    city = _blocks(np.random.default_rng(3), n=120)
    geom = Geometry(40.0, 140.0, 8.0, 100.0)
    f = city.fields(geom)
    grid = _grid(city, 6.0)  # 20 x 20 pixels
    kw = dict(psf_px=psf, radius_m=5.0, weight=weight, split_lit=split, flat=flat, mu_s=0.8)
    whole = F.features(city, f, grid, **kw)
    for rows in ((0, 7), (7, 13), (13, 20)):
        band = F.features(city, f, grid, rows=rows, **kw)
        for k, v in whole.items():
            np.testing.assert_allclose(band[k], v[..., rows[0]:rows[1], :], rtol=1e-9, atol=1e-12, err_msg=k)
    for rows, cols in (((0, 7), (0, 9)), ((7, 13), (9, 20)), ((13, 20), (4, 11))):
        tile = F.features(city, f, grid, rows=rows, cols=cols, **kw)
        for k, v in whole.items():
            np.testing.assert_allclose(tile[k], v[..., rows[0]:rows[1], cols[0]:cols[1]], rtol=1e-9, atol=1e-12,
                                       err_msg=k)


@pytest.mark.parametrize("sigma", [3.0, 600.0])  # a kernel narrower and one much wider than the grid
def test_adjacency_blur_equals_the_reflect_mode_gaussian_filter(sigma):
    f = np.random.default_rng(5).uniform(size=(3, 41, 57))
    want = ndimage.gaussian_filter(f, sigma=(0, sigma, sigma), mode="reflect")
    np.testing.assert_allclose(F._blur_reflect(f, sigma), want, rtol=1e-12)


@pytest.mark.parametrize("factor, psf_px, row0, col0", [(10, 0.5, 0, 0), (5, 0.9, 3, 7), (4, 0.2, 2, 0), (3, 2.0, 1, 2)])
@pytest.mark.parametrize("shape", ["square", "row band", "column band"])  # bands reduce their short axis first
def test_blur_and_sum_equals_the_blurred_field_summed_per_pixel(factor, psf_px, row0, col0, shape):
    from eoxr.urban.city import CoarseGrid

    rng = np.random.default_rng(factor)
    n_rows = row0 + 2 * factor + 3 if shape == "row band" else 61
    n_cols = col0 + 2 * factor + 3 if shape == "column band" else 67
    num, den = rng.uniform(size=(3, n_rows, n_cols)), rng.uniform(0.5, 1.0, size=(n_rows, n_cols))
    grid = CoarseGrid(factor, row0, col0, (n_rows - row0) // factor - (shape == "square"), (n_cols - col0) // factor)
    sigma = psf_px * factor

    def blurred_sum(f):  # the definition: Gaussian blur (zero beyond the grid), then the pixel sums
        return grid.block_sum(ndimage.gaussian_filter(f, sigma=(0,) * (f.ndim - 2) + (sigma, sigma), mode="constant"))

    np.testing.assert_allclose(F._aggregate(num, den, grid, psf_px), blurred_sum(num) / blurred_sum(den), rtol=1e-12)


@pytest.mark.parametrize("shift", [(0.0, 0.0), (0.3, -0.2)])
def test_a_psf_mixture_weighs_the_blurred_sums_of_its_gaussians(shift):
    from eoxr.urban.city import CoarseGrid

    rng = np.random.default_rng(2)
    num, den = rng.uniform(size=(2, 60, 70)), rng.uniform(0.5, 1.0, size=(60, 70))
    grid = CoarseGrid(10, 0, 0, 6, 7)

    def sums(sigma_px):
        s = sigma_px * grid.factor
        conv = lambda f: ndimage.shift(  # noqa: E731
            ndimage.gaussian_filter(f, sigma=(0,) * (f.ndim - 2) + (s, s), mode="constant"),
            (0,) * (f.ndim - 2) + (-shift[0] * 10, -shift[1] * 10), order=1, mode="nearest")
        return grid.block_sum(conv(num)), grid.block_sum(conv(den))

    (n1, d1), (n2, d2) = sums(0.5), sums(1.5)
    want = (0.8 * n1 + 0.2 * n2) / (0.8 * d1 + 0.2 * d2)  # weights are normalised: (4, 1) == (0.8, 0.2)
    np.testing.assert_allclose(F._aggregate(num, den, grid, [(4.0, 0.5), (1.0, 1.5)], shift), want, rtol=1e-10)
    np.testing.assert_allclose(F._aggregate(num, den, grid, [(1.0, 0.5)], shift), n1 / d1, rtol=1e-10)
    assert F.psf_components(0.45) == [(1.0, 0.45)]
    with pytest.raises(ValueError, match="weight >= 0"):
        F.psf_components([(0.5, -1.0)])
