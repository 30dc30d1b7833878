"""City models from real rasters: Bilbao's LiDAR nDSM, canopy and DEM (PNOA), Gothenburg's DSM, DEM, canopy and
UMEP land cover, Athens' DSM and DEM; errors where grids or CRS disagree."""
import numpy as np
import pytest
import xarray as xr

from eoxr.errors import CRSError, GridError, MissingVariableError, UnitsError
from eoxr.urban import City
from eoxr.urban.rasters import UMEP_LAND_COVER, open_raster


@pytest.fixture(scope="module")
def bilbao(real_data):
    d = real_data / "urban_ndsm_bilbao_pnoa"
    return {k: open_raster(d / f"{k.upper()}.tif", k) for k in ("bdsm", "cdsm", "dem")}


@pytest.fixture(scope="module")
def gothenburg(real_data):
    d = real_data / "urban_dsm_gothenburg_athens_umep" / "goteborg"
    return {"dsm": d / "DSM_KRbig.tif", "dem": d / "DEM_KRbig.tif", "canopy": d / "CDSM_KRbig.tif",
            "landcover": d / "landcover.tif"}


def test_bilbao_from_ndsm_canopy_and_a_coarser_dem(bilbao):
    # a 600 m crop of dense blocks (43 % built), the DEM (5 m) interpolated onto the heights' grid (2.5 m); the
    # LiDAR rasters' cells are 2.5021 x 2.5024 m: resampled onto a square 2.5 m grid
    box = (499400.0, 4794800.0, 500000.0, 4795400.0)
    crop = {k: v.rio.clip_box(*box) for k, v in bilbao.items()}
    with pytest.raises(GridError, match="pass res="):
        City.from_rasters(ndsm=crop["bdsm"], canopy=crop["cdsm"], dem=crop["dem"])
    city = City.from_rasters(ndsm=crop["bdsm"], canopy=crop["cdsm"], dem=crop["dem"], res=2.5)
    assert city.res == 2.5 and city.crs == crop["bdsm"].rio.crs
    assert city.bounds[0] % 2.5 == 0 and city.bounds[3] % 2.5 == 0  # cell edges on multiples of the cell
    assert set(city.names) == {"road", "roof", "tree", "wall"}
    share = {n: float((city.element == city.names.index(n)).mean()) for n in city.names}
    assert 0.3 < share["roof"] + share["wall"] < 0.6 and share["tree"] > 0.01
    # the surface is the ground plus the buildings' height: roofs stand 2.5-55 m above the DEM
    dem = crop["dem"].rio.reproject_match(city.to_dataset()["dsm"], resampling=1).values  # bilinear
    roof = city.element == city.names.index("roof")
    above = city.dsm[roof] - dem[roof]
    assert np.percentile(above, 5) > 2.4 and above.max() < 56.0
    road = city.element == city.names.index("road")
    np.testing.assert_allclose(np.median(city.dsm[road] - dem[road]), 0.0, atol=0.5)


def test_gothenburg_from_dsm_dem_canopy_and_umep_land_cover(gothenburg):
    g = gothenburg
    city = City.from_rasters(g["dsm"], g["landcover"], UMEP_LAND_COVER, dem=g["dem"], canopy=g["canopy"])
    assert city.res == 1.0 and city.dsm.shape == (223, 234)
    assert {"road", "roof", "grass", "water", "tree", "wall"} <= set(city.names)
    lc = open_raster(g["landcover"], "land cover", height=False).values
    trees = city.ground == city.names.index("tree")
    # classes from the land cover, trees from the canopy where it rises over 2 m outside buildings
    kept = ~trees
    assert (np.array([UMEP_LAND_COVER[int(c)] for c in lc[kept]]) == np.array(city.names)[city.ground[kept]]).all()
    canopy = open_raster(g["canopy"], "canopy").values
    assert (canopy[trees] > 2.0).all() and not (lc[trees] == 2).any()


def test_athens_from_dsm_and_dem_by_thresholds(real_data):
    a = real_data / "urban_dsm_gothenburg_athens_umep" / "athens"
    city = City.from_rasters(a / "DSM.tif", dem=a / "DEM.tif")
    dsm, dem = (open_raster(a / f, f).values for f in ("DSM.tif", "DEM.tif"))
    assert set(city.names) == {"road", "roof", "wall"}
    building = city.ground == city.names.index("roof")
    np.testing.assert_array_equal(building, dsm - dem > 2.5)
    np.testing.assert_allclose(city.dsm, dsm)


def test_rasters_that_disagree_raise_errors_that_name_the_fix(gothenburg, real_data):
    g = gothenburg
    other = open_raster(g["dem"], "dem").rio.write_crs("EPSG:3006")
    with pytest.raises(CRSError, match=r"dem in EPSG:3006: reproject them onto one CRS"):
        City.from_rasters(g["dsm"], dem=other)
    shifted = open_raster(g["dem"], "dem")
    shifted = shifted.assign_coords(x=shifted.x + 0.5)
    with pytest.raises(GridError, match="dem raster.* not on the grid of the dsm raster: pass res="):
        City.from_rasters(g["dsm"], dem=shifted)
    # resampled onto one 1 m grid instead: the overlap of both
    city = City.from_rasters(g["dsm"], dem=shifted, res=1.0)
    assert city.dsm.shape == (223, 233)
    far = open_raster(real_data / "urban_dsm_gothenburg_athens_umep" / "athens" / "DEM.tif", "dem")
    with pytest.raises(CRSError, match="EPSG:2100"):
        City.from_rasters(g["dsm"], dem=far)
    with pytest.raises(MissingVariableError, match="does not tell buildings from the ground"):
        City.from_rasters(g["dsm"])
    with pytest.raises(MissingVariableError, match="pass element_names"):
        City.from_rasters(g["dsm"], g["landcover"])
    cm = open_raster(g["dsm"], "dsm").assign_attrs(units="K")
    with pytest.raises(UnitsError, match="cannot be converted to 'm'"):
        City.from_rasters(cm, dem=g["dem"])
    in_cm = (open_raster(g["dsm"], "dsm") * 100).assign_attrs(units="cm")
    np.testing.assert_allclose(City.from_rasters(in_cm, dem=g["dem"]).dsm, open_raster(g["dsm"], "dsm").values)


def test_a_crop_keeps_the_cells_inside_and_drops_absent_classes(gothenburg):
    g = gothenburg
    city = City.from_rasters(g["dsm"], g["landcover"], UMEP_LAND_COVER, dem=g["dem"], canopy=g["canopy"])
    left, bottom, _, top = city.bounds
    part = city.crop((left, top - 30.0, left + 40.0, top))
    assert part.dsm.shape == (30, 40) and part.res == city.res
    np.testing.assert_array_equal(part.dsm, city.dsm[:30, :40])
    assert set(part.names) <= set(city.names)
    assert all((part.ground == k).any() for k in range(len(part.names)) if part.names[k] != "wall")
    with pytest.raises(GridError, match="under 2 x 2 cells"):
        city.crop((left - 100.0, bottom - 100.0, left - 50.0, bottom - 50.0))


def test_the_classes_are_given_by_name(gothenburg):
    # a class raster of other codes, named by the caller
    g = gothenburg
    lc = open_raster(g["landcover"], "land cover", height=False)
    codes = xr.where(lc == 2, 10, 20)
    city = City.from_rasters(g["dsm"], codes, {10: "roof", 20: "road"})
    assert set(city.names) == {"roof", "road", "wall"}
