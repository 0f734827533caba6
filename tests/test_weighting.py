"""Tests of analysis.weighting against R survey 4.1-1 reference numbers.

The design-independent tests use small stand-in design classes defined
here (one-stage cluster Taylor variance with fpc, and JK1 replicates), so
the weighting code is checked on its own; tests/test_weighting_design.py
repeats the reference cases through the library's real design classes.
"""

from __future__ import annotations

import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

from analysis.weighting import (CalibrationError, ControlTotalsError, ConvergenceError,
                                WeightingReport, WeightingWarning, calibrate, calibrate_weights,
                                poststratify, poststratify_weights, rake, rake_weights, trim,
                                trim_weights)

DATA = pathlib.Path(__file__).parent / "data"
CASES = {c["id"]: c for c in json.loads((DATA / "r_survey_api.json").read_text())}

POP_STYPE = pd.DataFrame({"stype": ["E", "H", "M"], "count": [4421, 755, 1018]})
POP_SCHWIDE = pd.DataFrame({"sch.wide": ["No", "Yes"], "count": [1072, 5122]})


@pytest.fixture(scope="module")
def apiclus1():
    return pd.read_csv(DATA / "apiclus1.csv", dtype={"cds": str})


@pytest.fixture(scope="module")
def api99_total():
    pop = pd.read_csv(DATA / "apipop.csv", dtype={"cds": str})
    return float(pop["api99"].sum())


# ---------------------------------------------------------------------------
# stand-in designs
# ---------------------------------------------------------------------------

class MiniDesign:
    """One-stage cluster sample, SRSWOR of PSUs with fpc N (like dclus1)."""

    def __init__(self, data, w, psu, N, steps=(), report=None):
        self.data = data
        self._w = np.asarray(w, dtype=np.float64)
        self._w.setflags(write=False)
        self.psu = psu
        self.N = N
        self._calibration = tuple(steps)
        self.weighting_report = report

    @property
    def weights(self):
        return self._w

    def with_weights(self, weights, *, calibration=None, replicate_weights=None, report=None):
        steps = self._calibration + ((calibration,) if calibration is not None else ())
        return MiniDesign(self.data, weights, self.psu, self.N, steps, report)

    def _se(self, z):
        for s in self._calibration:
            z = s.residualize(z)
        _, k = np.unique(self.psu, return_inverse=True)
        zk = np.bincount(k, weights=z)
        n = zk.size
        return float(np.sqrt((1 - n / self.N) * n / (n - 1) * np.sum((zk - zk.mean()) ** 2)))

    def mean(self, var):
        y = self.data[var].to_numpy(float)
        w = self._w
        N = w.sum()
        m = (w * y).sum() / N
        return m, self._se(w * (y - m) / N)

    def total(self, var):
        y = self.data[var].to_numpy(float)
        return (self._w * y).sum(), self._se(self._w * y)


class MiniRep:
    """Replicate design with full replicate weights (JK1 scale)."""

    def __init__(self, data, w, rep, scale, report=None):
        self.data = data
        self._w = np.asarray(w, dtype=np.float64)
        self.replicate_weights = rep
        self.scale = scale
        self.weighting_report = report

    @property
    def weights(self):
        return self._w

    def with_weights(self, weights, *, calibration=None, replicate_weights=None, report=None):
        return MiniRep(self.data, weights, replicate_weights, self.scale, report)

    def _run(self, stat, var):
        y = self.data[var].to_numpy(float)

        def est(w):
            return (w * y).sum() / (w.sum() if stat == "mean" else 1.0)

        th = np.array([est(self.replicate_weights[:, r])
                       for r in range(self.replicate_weights.shape[1])])
        return est(self._w), float(np.sqrt(self.scale * np.sum((th - th.mean()) ** 2)))

    def mean(self, var):
        return self._run("mean", var)

    def total(self, var):
        return self._run("total", var)


@pytest.fixture(scope="module")
def dclus1(apiclus1):
    return MiniDesign(apiclus1, apiclus1["pw"], apiclus1["dnum"].to_numpy(), 757)


@pytest.fixture(scope="module")
def jk1(apiclus1):
    psus = np.unique(apiclus1["dnum"])
    n = psus.size
    A = np.where(apiclus1["dnum"].to_numpy()[:, None] == psus[None, :], 0.0, n / (n - 1))
    w = apiclus1["pw"].to_numpy()
    return MiniRep(apiclus1, w, w[:, None] * A, (1 - n / 757) * (n - 1) / n)


def _designs(d, api99_total):
    return {
        "poststrat": lambda: poststratify(d, POP_STYPE),
        "rake": lambda: rake(d, [POP_STYPE, POP_SCHWIDE], convergence="r"),
        "rake_converged": lambda: rake(d, [POP_STYPE, POP_SCHWIDE]),
        "calibrate_linear": lambda: calibrate(d, margins=[POP_STYPE], totals={"api99": api99_total}),
        "calibrate_raking": lambda: calibrate(d, margins=[POP_STYPE], totals={"api99": api99_total},
                                              method="raking"),
        "calibrate_logit": lambda: calibrate(d, margins=[POP_STYPE], totals={"api99": api99_total},
                                             method="logit", bounds=(0.5, 2.0)),
    }


REF_CASES = [f"{k}_{s}" for k in ("poststrat", "rake", "rake_converged", "calibrate_linear",
                                   "calibrate_raking", "calibrate_logit")
             for s in ("mean_api00", "total_enroll")]


def _rel(a, b):
    return np.max(np.abs(np.asarray(a, float) / np.asarray(b, float) - 1.0))


# ---------------------------------------------------------------------------
# reference cases
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("case_id", REF_CASES)
def test_reference_weights_estimates_and_se(case_id, dclus1, api99_total):
    case = CASES[case_id]
    kind = case_id.rsplit("_", 2)[0]
    stat, var = case_id.rsplit("_", 2)[1:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightingWarning)
        d = _designs(dclus1, api99_total)[kind]()
    w = d.weights
    assert _rel(w.sum(), case["weights_sum"]) < 1e-6
    assert _rel(w[:5], case["weights_first5"]) < 1e-6
    est, se = getattr(d, stat)(var)
    assert _rel(est, case["estimate"]) < 1e-6
    assert _rel(se, case["se"]) < 1e-6
    assert isinstance(d.weighting_report, WeightingReport)


@pytest.mark.parametrize("kind", ["poststrat", "rake", "calibrate_linear"])
def test_closed_form_cases_are_tight(kind, dclus1, api99_total):
    case = CASES[f"{kind}_mean_api00"]
    d = _designs(dclus1, api99_total)[kind]()
    assert _rel(d.weights[:5], case["weights_first5"]) < 1e-12
    est, se = d.mean("api00")
    assert _rel(est, case["estimate"]) < 1e-12
    assert _rel(se, case["se"]) < 1e-10


def test_rake_r_mode_matches_r_sweeps(dclus1):
    d = rake(dclus1, [POP_STYPE, POP_SCHWIDE], convergence="r")
    r = d.weighting_report
    assert r.step == "rake" and r.iterations == 4  # R stops after 4 sweeps (delta < 1)
    assert 1e-7 < r.max_discrepancy < 1e-3          # deliberately not converged
    d2 = rake(dclus1, [POP_STYPE, POP_SCHWIDE])
    assert d2.weighting_report.max_discrepancy < 1e-10


def test_rake_r_mode_warns_when_not_converged(dclus1):
    with pytest.warns(WeightingWarning, match="did not converge"):
        rake(dclus1, [POP_STYPE, POP_SCHWIDE], convergence="r", epsilon=1e-13, max_iter=2)


def test_input_design_untouched(dclus1, api99_total):
    before = dclus1.weights.copy()
    data_before = dclus1.data.copy()
    for f in _designs(dclus1, api99_total).values():
        f()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightingWarning)
        trim(calibrate(dclus1, [POP_STYPE], {"api99": api99_total}), upper=1.5)
    np.testing.assert_array_equal(dclus1.weights, before)
    pd.testing.assert_frame_equal(dclus1.data, data_before)
    assert dclus1._calibration == ()


# ---------------------------------------------------------------------------
# replicate designs (JK1 from dclus1; numbers from R survey 4.1-1:
# as.svrepdesign(dclus1) then postStratify / rake / calibrate)
# ---------------------------------------------------------------------------

R_JK1 = {  # mean api00 (est, se), total enroll (est, se)
    "poststrat": (642.31078821158212, 26.934535367425983, 3680892.9451190475, 473431.35677977902),
    "rake": (641.23024686220879, 26.873474236089432, 3647300.0313143106, 463510.85956667707),
    "rake_converged": (641.2303209268199, 26.873980435467079, 3647280.1480652126,
                       463582.18621096754),
    "calibrate_linear": (665.30907116577998, 3.94285448376767, 3638487.2041318798,
                         478748.86392581684),
    "calibrate_raking": (665.39379600015013, 3.8792836622570599, 3616588.5632687537,
                         484873.92692379944),
}


@pytest.mark.parametrize("kind", sorted(R_JK1))
def test_replicate_designs_recalibrate_each_replicate(kind, jk1, api99_total):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightingWarning)
        d = _designs(jk1, api99_total)[kind]()
    m, sm, t, st = R_JK1[kind]
    est, se = d.mean("api00")
    assert _rel(est, m) < 1e-8 and _rel(se, sm) < 1e-6
    est, se = d.total("enroll")
    assert _rel(est, t) < 1e-8 and _rel(se, st) < 1e-6
    # every replicate meets the controls (except R-mode raking, unconverged by design)
    if kind != "rake":
        rep = d.replicate_weights
        codes = jk1.data["stype"].map({"E": 0, "H": 1, "M": 2}).to_numpy()
        for r in range(rep.shape[1]):
            tot = np.bincount(codes, weights=rep[:, r], minlength=3)
            np.testing.assert_allclose(tot, [4421, 755, 1018], rtol=1e-8)


def test_replicate_logit_infeasible_names_replicate(jk1, api99_total):
    # R warns "Failed to converge" for one replicate; we refuse, naming it.
    with pytest.raises(CalibrationError, match=r"replicate 11.*stype='H'"):
        _designs(jk1, api99_total)["calibrate_logit"]()


def _rake_residualize_rowwise(step, z):
    """R's svyrecvar raking branch, literally (rows, not cells)."""
    z = z.copy()
    for _ in range(10):
        for cc, s, f in zip(step.cell_codes, step.sizes, step.cell_factors):
            codes = cc[step.cell]
            psw = step.base_weights * f[step.cell]
            u = np.divide(z, psw[:, None], out=np.zeros_like(z), where=psw[:, None] != 0)
            cnt = np.bincount(codes, minlength=s)
            means = np.stack([np.bincount(codes, weights=u[:, j], minlength=s) / cnt
                              for j in range(z.shape[1])], axis=1)
            z -= psw[:, None] * means[codes]
    return z


def test_rake_step_cell_algorithm_equals_rowwise():
    from analysis.weighting import RakeStep
    rng = np.random.default_rng(7)
    n = 400
    df = pd.DataFrame({"a": rng.integers(0, 3, n), "b": rng.integers(0, 4, n),
                       "c": rng.integers(0, 2, n)})
    w = np.exp(rng.normal(2, 0.5, n))
    w[:5] = 0.0  # rows out of the sample
    A = pd.DataFrame({"a": [0, 1, 2], "count": [300.0, 200, 500]})
    B = pd.DataFrame({"b": [0, 1, 2, 3], "c": [0] * 4, "count": [100.0, 100, 100, 100]})
    B = pd.concat([B, B.assign(c=1, count=[150.0, 150, 150, 150])])
    d = MiniDesign(df, w, rng.integers(0, 20, n), 1000)
    r = rake(d, [A, B])
    (step,) = r._calibration
    assert isinstance(step, RakeStep)
    z = rng.normal(size=(n, 3)) * r.weights[:, None]
    np.testing.assert_allclose(step.residualize(z), _rake_residualize_rowwise(step, z),
                               rtol=1e-10, atol=1e-10 * np.abs(z).max())
    np.testing.assert_allclose(step.residualize(z[:, 1]), step.residualize(z)[:, 1], rtol=1e-13)


def test_greg_step_blocks_equal_qr_projection(apiclus1, api99_total):
    from analysis.weighting import GregStep
    d = MiniDesign(apiclus1, apiclus1["pw"], apiclus1["dnum"].to_numpy(), 757)
    c = calibrate(d, margins=[POP_STYPE, POP_SCHWIDE], totals={"api99": api99_total})
    (step,) = c._calibration
    assert step.Q is None and step.X is not None
    # the same regression through a dense orthonormal basis (R's qr route)
    X = np.column_stack([(apiclus1["stype"] == "E"), (apiclus1["stype"] == "H"),
                         (apiclus1["stype"] == "M"), (apiclus1["sch.wide"] == "Yes"),
                         apiclus1["api99"]]).astype(float)
    g = c.weights / d.weights
    dense = GregStep(X, d.weights, g)
    z = np.random.default_rng(1).normal(size=(len(apiclus1), 4)) * c.weights[:, None]
    np.testing.assert_allclose(step.residualize(z), dense.residualize(z), rtol=1e-8,
                               atol=1e-9 * np.abs(z).max())
    # a redundant (collinear) column changes nothing
    dense2 = GregStep(np.column_stack([X, X[:, 0] + X[:, 1]]), d.weights, g)
    np.testing.assert_allclose(dense2.residualize(z), dense.residualize(z), rtol=1e-8,
                               atol=1e-9 * np.abs(z).max())


@pytest.mark.parametrize("method, bounds", [("linear", (-np.inf, np.inf)), ("raking", (0.3, 3.0)),
                                            ("logit", (0.5, 2.0)), ("linear", (0.6, 1.7))])
def test_cell_model_matrix_equals_dense(method, bounds):
    from analysis.weighting.kernels import CellX, linear_calibrate, newton_calibrate
    rng = np.random.default_rng(3)
    n, C = 500, 12
    cell = rng.integers(0, C, n).astype(np.int32)
    E = np.column_stack([np.ones(C), (np.arange(C) % 3 == 1), (np.arange(C) % 4 == 2)]).astype(float)
    Z = rng.gamma(2.0, 1.0, (n, 2))
    X = CellX(cell, E, Z)
    dense = X.dense()
    w = np.exp(rng.normal(1, 0.3, n))
    T = dense.T @ w * np.array([1.05, 0.97, 1.08, 1.02, 1.04])
    v = rng.random(n)
    np.testing.assert_allclose(X.gram(v), (dense * v[:, None]).T @ dense, rtol=1e-12)
    np.testing.assert_allclose(X.tdot(v), dense.T @ v, rtol=1e-12)
    a = newton_calibrate(X, w, T, method, bounds)
    b = newton_calibrate(dense, w, T, method, bounds)
    assert a.converged and b.converged
    np.testing.assert_allclose(a.g, b.g, rtol=1e-9)
    np.testing.assert_allclose(dense.T @ (w * a.g), T, rtol=1e-9)
    if method == "linear" and not np.isfinite(bounds[1]):
        np.testing.assert_allclose(linear_calibrate(X, w, T), a.g, rtol=1e-9)
    # per-unit bounds (used by trim's fallback)
    c = newton_calibrate(X, w, T, "linear", (np.full(n, 0.5), np.full(n, 2.0)))
    assert c.converged and c.g.min() >= 0.5 - 1e-12 and c.g.max() <= 2.0 + 1e-12
