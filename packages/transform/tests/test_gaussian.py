"""scale_to_gaussian and the Tukey HH analyzers, checked against data drawn from a known
Tukey HH distribution and an independent numpy inverse (bisection, not Lambert's W)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.transform.gaussianization import LMomentsCombiner

LOC, SCALE, HL, HR = 5.0, 2.0, 0.1, 0.3
LOC2, SCALE2, HL2, HR2 = -3.0, 0.5, 0.25, 0.0
N = 40_000


def _tukey_hh(z: np.ndarray, hl: float, hr: float) -> np.ndarray:
    return z * np.exp(np.where(z < 0, hl, hr) * z * z / 2.0)


def _inverse_by_bisection(u: np.ndarray, hl: float, hr: float) -> np.ndarray:
    lo, hi = np.full_like(u, -40.0), np.full_like(u, 40.0)
    for _ in range(200):
        mid = (lo + hi) / 2.0
        above = _tukey_hh(mid, hl, hr) > u
        hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
    return (lo + hi) / 2.0


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    import tensorflow as tf

    import headwater.transform as tft

    rng = np.random.default_rng(7)
    z = rng.normal(size=N)
    x = LOC + SCALE * _tukey_hh(z, HL, HR)
    y = LOC2 + SCALE2 * _tukey_hh(rng.normal(size=N), HL2, HR2)
    batches = pa.table(
        {
            "x": x.astype(np.float32),
            "y": y.astype(np.float32),
            "u": rng.uniform(-1, 1, N).astype(np.float32),
        }
    ).to_batches(max_chunksize=10_000)
    spec = {
        "x": tf.io.FixedLenFeature([], tf.float32),
        "y": tf.io.FixedLenFeature([], tf.float32),
        "u": tf.io.FixedLenFeature([], tf.float32),
    }

    def fn(inputs):
        ones = tf.ones_like(inputs["x"])
        hl, hr = tft.tukey_h_params(inputs["x"])
        xy = tf.stack([inputs["x"], inputs["y"]], axis=1)
        hl2, hr2 = tft.tukey_h_params(xy, reduce_instance_dims=False)
        return {
            "g": tft.scale_to_gaussian(inputs["x"]),
            "gu": tft.scale_to_gaussian(inputs["u"]),
            "loc": ones * tft.tukey_location(inputs["x"]),
            "scale": ones * tft.tukey_scale(inputs["x"]),
            "hl": ones * hl,
            "hr": ones * hr,
            "ge": tft.scale_to_gaussian(xy, elementwise=True),
            "ye_hl": ones[:, None] * hl2,
            "ye_hr": ones[:, None] * hr2,
        }

    out, _ = tft.analyze_and_transform_dataset(
        batches, spec, fn, str(tmp_path_factory.mktemp("gauss") / "o")
    )
    table = pa.Table.from_batches(batches)
    return table, pa.Table.from_batches(out)


def test_tukey_parameters_recover_the_generating_distribution(result):
    _, out = result
    params = [out.column(c).to_numpy()[0] for c in ("loc", "scale", "hl", "hr")]
    np.testing.assert_allclose(params, [LOC, SCALE, HL, HR], atol=0.03)


def test_scale_to_gaussian_inverts_the_fitted_tukey_hh(result):
    table, out = result
    loc, scale, hl, hr = (out.column(c).to_numpy()[0] for c in ("loc", "scale", "hl", "hr"))
    x = table.column("x").to_numpy().astype(np.float64)
    expected = _inverse_by_bisection((x - loc) / scale, float(hl), float(hr))
    np.testing.assert_allclose(out.column("g").to_numpy(), expected, rtol=1e-5, atol=2e-5)


def test_output_is_approximately_standard_normal(result):
    g = result[1].column("g").to_numpy().astype(np.float64)
    z = (g - g.mean()) / g.std()
    assert abs(g.mean()) < 0.02
    assert abs(g.std() - 1.0) < 0.02
    assert abs(np.mean(z**3)) < 0.05
    assert abs(np.mean(z**4) - 3.0) < 0.1
    x = result[0].column("x").to_numpy().astype(np.float64)
    raw = (x - x.mean()) / x.std()
    assert np.mean(raw**4) > 6.0  # the input was heavy-tailed


def test_light_tails_are_only_shifted_and_scaled(result):
    table, out = result
    u = table.column("u").to_numpy().astype(np.float64)
    g = out.column("gu").to_numpy().astype(np.float64)
    slope, intercept = np.polyfit(u, g, 1)
    np.testing.assert_allclose(g, slope * u + intercept, atol=1e-5)
    # l2 of U(-1, 1) is 1/3; the normal's l2 is 1/sqrt(pi): scale = l2 / (1/sqrt(pi)).
    s = np.sort(u)  # sample l2 = 2 * b1 - b0, b1 = mean(rank / (n - 1) * x_sorted)
    l2 = 2 * np.mean(np.arange(s.size) / (s.size - 1) * s) - s.mean()
    np.testing.assert_allclose(1.0 / slope, l2 * np.sqrt(np.pi), rtol=1e-4)
    np.testing.assert_allclose(l2, 1 / 3, rtol=0.02)


def test_elementwise_fits_each_column(result):
    table, out = result
    ge = np.stack(out.column("ge").to_numpy(zero_copy_only=False))
    np.testing.assert_array_equal(ge[:, 0], out.column("g").to_numpy())  # same fit as reduced
    hl = out.column("ye_hl").to_pylist()[0]
    hr = out.column("ye_hr").to_pylist()[0]
    np.testing.assert_allclose(
        [hl[0], hr[0]], out.column("hl").to_pylist()[:1] + out.column("hr").to_pylist()[:1]
    )
    np.testing.assert_allclose([hl[1], hr[1]], [HL2, HR2], atol=0.03)
    y = table.column("y").to_numpy().astype(np.float64)
    g1 = ge[:, 1].astype(np.float64)
    # y's fit maps y monotonically onto approximately N(0, 1); its left tail was heavy.
    assert np.all(np.diff(g1[np.argsort(y)]) >= 0)
    assert abs(g1.mean()) < 0.02
    assert abs(g1.std() - 1.0) < 0.02
    assert abs(np.mean(((g1 - g1.mean()) / g1.std()) ** 4) - 3.0) < 0.1


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_l_moment_accumulators_merge_in_any_order(sizes, rnd):
    rng = np.random.default_rng(rnd.randint(0, 2**31))
    parts = [rng.standard_t(3, size=n) for n in sizes]
    c = LMomentsCombiner("float64")
    accs = [c.add_input(c.create_accumulator(), [p]) for p in parts]
    order = list(range(len(accs)))
    rnd.shuffle(order)
    a = c.merge_accumulators(accs)
    b = c.merge_accumulators([accs[i] for i in order])
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a[1], b[1])
    one = c.add_input(c.create_accumulator(), [parts[0]])
    np.testing.assert_allclose(c.merge_accumulators([one])[0], one[0])
