"""The urban solvers in torch: the same results as the numpy solvers on CPU (always) and on CUDA (where present),
torch left unimported by ``import eoxr.urban``, and the devices a user may ask for."""
import subprocess
import sys

import numpy as np
import pytest

import eoxr
from eoxr.errors import EoxrError, ParameterError
from eoxr.urban import device, synth
from eoxr.urban.lm import levenberg_marquardt
from eoxr.urban.reflective import WeightedQuadratic

from urbanscene import ATM, GEOM, S2_BANDS

torch = pytest.importorskip("torch")

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: torch.cuda.is_available() is "
                          "False on this machine (run benchmarks/gpu_check.sh on a GPU machine)")
# torch and numpy sum the float32 bounce products in other orders: the solutions agree to the solver's own
# tolerances (tol 1e-6; REFLECTANCE_STEP_STD of the posterior std), far below the retrieval's errors (1e-3 and more)
SAME = dict(rtol=1e-5, atol=1e-5)
REFLECTIVE = ("reflectance", "reflectance_std", "albedo", "net_shortwave", "residual")
THERMAL = ("temperature", "emissivity", "emitted_longwave", "temperature_anomaly", "thermal_residual")


def test_import_eoxr_urban_leaves_torch_unimported():
    code = "import sys, eoxr, eoxr.urban; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture(scope="module")
def bench_scenes():
    """The benchmark's scenes, small: a Sentinel-2-like image (10 m) of a city observed on one twice as fine, with
    noise, the adjacency effect and a wider PSF than the inversion assumes; an ECOSTRESS-like one (70 m)."""
    s2 = eoxr.urban.get_sensor("sentinel-2").subset(S2_BANDS)
    fine = synth.make_city(120.0, 0.5, seed=2)
    truth = synth.draw_properties(fine, s2, 2, GEOM)
    obs = synth.observe(fine, truth, s2, GEOM, ATM, pixel_size=10.0, noise=0.01, n_bounce=2, adjacency_m=300.0,
                        psf=((0.9, 1.1 * s2.psf_sigma), (0.1, 3.0 * s2.psf_sigma)), seed=2)
    eco = eoxr.urban.get_sensor("ecostress").subset(["TIR1", "TIR2", "TIR3", "TIR4", "TIR5"])
    tfine = synth.make_city(420.0, 1.0, seed=3)
    ttruth = synth.draw_properties(tfine, eco, 3, GEOM)
    tobs = synth.observe(tfine, ttruth, eco, GEOM, ATM, pixel_size=70.0, nedt=0.15, seed=3)
    return ((obs, fine.coarsen(2), s2, dict(reflectance_prior=synth.reflectance_prior(s2.reflective()),
                                            reflective_model_error=0.1, adjacency_m=250.0)),
            (tobs, tfine.coarsen(2), eco, dict(nedt=0.15, emissivity_prior=synth.emissivity_prior(eco.thermal()),
                                               temperature_anomaly_std=1.0)))


def _invert_on(scene, dev, monkeypatch, cpu_solver="numpy"):
    obs, city, sen, kw = scene
    monkeypatch.setattr(device, "CPU_SOLVER", cpu_solver)
    return eoxr.urban.invert(obs, city, sen, ATM, 5, max_iter=15, device=dev, **kw).compute()


def _assert_same(got, ref, names):
    for v in names:
        np.testing.assert_allclose(got[v].values, ref[v].values, err_msg=v, **SAME)
    np.testing.assert_array_equal(np.isfinite(got[names[0]].values), np.isfinite(ref[names[0]].values))


def test_torch_solver_on_cpu_equals_the_numpy_solver_on_the_benchmark_scenes(bench_scenes, monkeypatch):
    for scene, names in zip(bench_scenes, (REFLECTIVE, THERMAL)):
        ref = _invert_on(scene, "cpu", monkeypatch)
        got = _invert_on(scene, "cpu", monkeypatch, cpu_solver="torch")
        _assert_same(got, ref, names)


@pytest.mark.cuda
@CUDA
def test_torch_solver_on_cuda_equals_the_numpy_solver_on_the_benchmark_scenes(bench_scenes, monkeypatch):
    for scene, names in zip(bench_scenes, (REFLECTIVE, THERMAL)):
        _assert_same(_invert_on(scene, "cuda", monkeypatch), _invert_on(scene, "cpu", monkeypatch), names)
        assert device.solver_device("auto") == "cuda"


def _problems(rng, P=64, K=25, ne=5):
    A = rng.uniform(0.5, 2.0, (P, K, ne))
    Q = rng.uniform(0.0, 0.15, (P, K, ne, ne))
    Q = (Q + Q.swapaxes(-1, -2)).astype(np.float32)  # symmetric, as the bounce couplings
    sw = rng.uniform(1.0, 3.0, (P, K))
    x_true = rng.uniform(-0.2, 0.6, (P, ne))  # the data pull some below the lower bound
    y = ((A + 0.5 * np.einsum("pkef,pf->pke", Q, x_true)) * x_true[:, None]).sum(-1) + rng.normal(0, 0.01, (P, K))
    return sw[..., None] * A, sw[..., None, None] * Q, sw * y


@pytest.mark.parametrize("masked", [False, True])
def test_torch_iterations_gathered_or_masked_equal_numpys(masked):
    """The masked loop (CUDA's) and the gathered one (the CPU's) take the numpy solver's steps, stops and counts."""
    from eoxr.urban.lm_torch import levenberg_marquardt as lm_torch
    from eoxr.urban.problems_torch import WeightedQuadratic as TorchQuadratic

    A, Q, y = _problems(np.random.default_rng(4))
    P, ne = A.shape[0], A.shape[-1]
    pm, pp = np.full((P, ne), 0.2), np.full((P, ne), 4.0)
    kw = dict(max_iter=20, tol=1e-6, std_tol=0.01, full_cov=True)
    ref = levenberg_marquardt(WeightedQuadratic(A, Q, y), pm, 0.0, 1.0, pm, pp, **kw)
    got = lm_torch(TorchQuadratic(*(torch.as_tensor(v) for v in (A, Q, y))), pm, 0.0, 1.0, pm, pp, masked=masked,
                   **kw)
    np.testing.assert_array_equal(got.iterations, ref.iterations)
    np.testing.assert_array_equal(got.converged, ref.converged)
    for name in ("x", "std", "cost", "rss", "cov"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-6, atol=1e-9, err_msg=name)
    assert (ref.x == 0).any() and ref.iterations.min() < ref.iterations.max()  # bounds and early stops exercised


def test_devices_asked_for_are_checked(s2_scene):
    city, sen, _, obs = s2_scene
    with pytest.raises(ParameterError, match="'auto', 'cpu', 'cuda' or 'cuda:N'"):
        eoxr.urban.invert(obs, city, sen, ATM, device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(EoxrError, match="no CUDA device"):
            device.solver_device("cuda:0")
        assert device.solver_device("auto") is None  # the numpy solver (device.CPU_SOLVER)
