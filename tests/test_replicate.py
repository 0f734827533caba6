"""Replicate designs: scale, rscales and mse as R's svrepdesign; conversions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import ReplicateDesign, SurveyDesign


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    n = 60
    df = pd.DataFrame({"stratum": np.repeat([0, 1, 2], 20), "psu": np.repeat(np.arange(12), 5),
                       "w": rng.uniform(1, 3, n), "y": rng.normal(10, 2, n), "g": rng.choice(["a", "b"], n)})
    rep = rng.uniform(0.5, 1.5, (n, 8)) * df["w"].to_numpy()[:, None]
    for r in range(8):
        df[f"r{r}"] = rep[:, r]
    return df


def _by_hand(df, cols, scale, rscales, mse):
    w = df["w"].to_numpy()
    full = np.sum(w * df["y"]) / w.sum()
    th = np.array([np.sum(df[c] * df["y"]) / df[c].sum() for c in cols])
    centre = full if mse else th.mean()
    return np.sqrt(scale * np.sum(rscales * (th - centre) ** 2)), full


@pytest.mark.parametrize("mse", [False, True])
def test_user_replicates_with_scale_rscales_mse(data, mse):
    cols = [f"r{r}" for r in range(8)]
    rs = np.linspace(0.5, 1.2, 8)
    d = ReplicateDesign(data, weights="w", replicate_weights=cols, type="other", scale=0.37, rscales=rs, mse=mse)
    se, full = _by_hand(data, cols, 0.37, rs, mse)
    r = d.mean("y")
    assert r.estimate[0] == pytest.approx(full, rel=1e-12)
    assert r.se[0] == pytest.approx(se, rel=1e-10)


def test_default_scales_follow_r(data):
    cols = [f"r{r}" for r in range(8)]
    assert ReplicateDesign(data, weights="w", replicate_weights=cols, type="BRR").scale == pytest.approx(1 / 8)
    assert ReplicateDesign(data, weights="w", replicate_weights=cols, type="Fay", fay_rho=0.5).scale == pytest.approx(1 / (8 * 0.25))
    assert ReplicateDesign(data, weights="w", replicate_weights=cols, type="bootstrap").scale == pytest.approx(1 / 7)
    assert ReplicateDesign(data, weights="w", replicate_weights=cols, type="JK1").scale == pytest.approx(7 / 8)


def test_multiplier_replicates_and_domains(data):
    """combined_weights=False: columns are multipliers of the weights; domains zero rows outside."""
    cols = [f"r{r}" for r in range(8)]
    mult = data[cols].to_numpy() / data["w"].to_numpy()[:, None]
    a = ReplicateDesign(data, weights="w", replicate_weights=cols, type="bootstrap")
    b = ReplicateDesign(data, weights="w", replicate_weights=mult, type="bootstrap", combined_weights=False)
    ra, rb = a.mean("y", by="g"), b.mean("y", by="g")
    np.testing.assert_allclose(ra.se, rb.se, rtol=1e-10)
    sub = data[data["g"] == "a"]
    se, _ = _by_hand(sub, cols, 1 / 7, np.ones(8), False)
    assert ra.se[0] == pytest.approx(se, rel=1e-10)


def test_bootstrap_conversion_is_reproducible_and_scaled_as_r(data):
    d = SurveyDesign(data, weights="w", strata="stratum", psu="psu")
    b1 = d.to_replicate("bootstrap", replicates=200, seed=11)
    b2 = d.to_replicate("bootstrap", replicates=200, seed=11)
    np.testing.assert_array_equal(b1.replicate_weights, b2.replicate_weights)
    nbar = 4.0  # 4 PSUs in every stratum
    assert b1.scale == pytest.approx(nbar / ((nbar - 1) * 199))
    # multipliers are counts of n_h draws with replacement, constant within a PSU
    m = b1.replicate_weights / data["w"].to_numpy()[:, None]
    sums = pd.DataFrame(m).groupby(data["stratum"]).sum() / 5  # 5 rows per PSU
    np.testing.assert_allclose(sums.to_numpy(), 4.0)
    # bootstrap SE of a mean is close to the Taylor SE
    t = d.mean("y").se[0]
    assert b1.mean("y").se[0] == pytest.approx(t, rel=0.25)


def test_jk1_scale_carries_the_fpc():
    df = pd.DataFrame({"psu": np.repeat(np.arange(5), 2), "w": 10.0, "y": np.arange(10.0), "N": 50})
    d = SurveyDesign(df, weights="w", psu="psu", fpc="N").to_replicate("JK1")
    assert d.scale == pytest.approx((1 - 5 / 50) * 4 / 5)
    assert d.total("y").se[0] == pytest.approx(SurveyDesign(df, weights="w", psu="psu", fpc="N").total("y").se[0], rel=1e-10)


def _svd_rank(m, tol=1e-5):
    sv = np.linalg.svd(m, compute_uv=False)
    return int((sv > tol * sv.max()).sum()) if sv.size and sv.max() > 0 else 0


@pytest.mark.parametrize("seed", range(6))
def test_matrix_rank_certificates_agree_with_the_singular_values(seed, monkeypatch):
    """Full-rank, rank-deficient-by-construction (bootstrap counts of two strata) and low-rank matrices.

    The rank of bootstrap multipliers of a domain holding two strata (one less
    than its PSUs) is certified by the pivoted Cholesky factorisation, with no
    eigenvalues computed; every answer equals the count of singular values
    above 1e-5 times the largest (R's qr tolerance on these well-separated cases).
    """
    from analysis import replicate as rp

    rng = np.random.default_rng(seed)
    R = int(rng.integers(20, 60))
    n1, n2 = int(rng.integers(5, 25)), int(rng.integers(5, 25))
    boot = np.vstack([rng.multinomial(n, np.full(n, 1 / n), size=R).T for n in (n1, n2)]).astype(float)
    assert rp.matrix_rank(boot) == _svd_rank(boot) == min(n1 + n2 - 1, R)
    low = rng.normal(size=(40, 7)) @ rng.normal(size=(7, R))
    full = rng.uniform(0.5, 1.5, (3 * R, R))
    for m in (low, low.T, full, full[: R // 2], np.zeros((4, 3)), np.ones((5, 4))):
        assert rp.matrix_rank(m) == _svd_rank(m)
    if n1 + n2 - 1 < R:  # the dependent rows: certified without an eigen-decomposition
        monkeypatch.setattr(np.linalg, "eigvalsh", lambda g: pytest.fail("eigenvalues computed"))
        assert rp.matrix_rank(boot) == n1 + n2 - 1
