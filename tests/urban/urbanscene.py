"""The geometry, atmosphere and bands of the urban test scenes (imported by name: a conftest is not a module)."""
from eoxr.urban import Atmosphere, Geometry

S2_BANDS = ["B03", "B04", "B08", "B11"]
GEOM = Geometry(35.0, 150.0, 8.0, 100.0)
ATM = Atmosphere(aot550=0.15)
