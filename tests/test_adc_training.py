"""The ADC-aware training path (model.flow.adc_training) and the front end's gain/compression terms.

Expected values are derived independently: the SAR search is re-written here
as a loop over the front end's weights, the gain and compression as their
formulas, the nominal offsets from the ideal quantiser's arithmetic.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="ADC-aware training needs torch: install it with `make deps-aihwkit`"
)

from model.analog import crossbar  # noqa: E402
from model.analog.adc_metrics import noise_free  # noqa: E402
from model.flow import adc_training as at  # noqa: E402
from model.flow import digits, tile_net  # noqa: E402
from model.nmpu import NMPUConfig, nmpu  # noqa: E402
from model.sar import AnalogFrontEnd, SARConfig, sar_convert  # noqa: E402

HARSH = at.ADCLevel("harsh", mismatch=0.1, offset=4.0, noise=1.0, gain=0.3, compression=1.0)


def search(fe: AnalogFrontEnd, lhs, k: int) -> np.ndarray:
    """Independent binary SAR on held inputs ``lhs`` [vectors, columns], nominal-weight codes."""
    steps = fe.steps
    nominal = [1 << (steps - 1 - i) for i in range(steps)]
    code = np.zeros(lhs.shape, dtype=np.int64)
    level = np.zeros(lhs.shape)
    for i in range(k):
        trial = level + fe.weights[:, i]
        keep = lhs >= trial
        level = np.where(keep, trial, level)
        code += keep * nominal[i]
    fill = (sum(nominal[k:]) + 1) // 2
    return np.minimum(code + fill, (1 << fe.out_width) - 1)


def inputs(rng, n, columns):
    v = rng.uniform(-1.1, 1.1, (n, columns))
    v[:8] = np.array([-1.0, -0.5, 0.0, 0.5, 0.99, 1.0, -1.0 + 2 / 256, 2 / 256])[:, None]
    return v


def test_terms_off_by_default_give_identical_instances(seed):
    cfg = SARConfig(columns=16)
    base = AnalogFrontEnd.sample(cfg, mismatch=0.05, offset=2.0, noise=0.7, seed=seed % 1000)
    off = AnalogFrontEnd.sample(
        cfg, mismatch=0.05, offset=2.0, noise=0.7, seed=seed % 1000, gain=0.0, compression=0.0
    )
    on = AnalogFrontEnd.sample(
        cfg, mismatch=0.05, offset=2.0, noise=0.7, seed=seed % 1000, gain=0.3, compression=1.0
    )
    assert "gain" not in base.params and "compression" not in base.params
    np.testing.assert_array_equal(base.gain, np.ones(16))
    np.testing.assert_array_equal(base.compression, np.zeros(16))
    # Turning the new terms on does not move the capacitors or offsets of the instance.
    np.testing.assert_array_equal(on.weights, base.weights)
    np.testing.assert_array_equal(on.offset, base.offset)
    assert (on.gain != 1).all() and (on.compression > 0).all()
    # Default codes: the held input is exactly the documented linear formula.
    v = inputs(np.random.default_rng(seed), 300, 16)
    lhs = (np.clip(v, -1, 1) + 1) / 2 * 256 + base.offset
    np.testing.assert_array_equal(base.held_input(v) + base.offset, lhs)
    c0, d0 = sar_convert(cfg, base, v)
    c1, d1 = sar_convert(cfg, off, v)
    np.testing.assert_array_equal(c0, c1)
    np.testing.assert_array_equal(d0, d1)
    c2, _ = sar_convert(cfg, on, v)
    assert (c2 != c0).mean() > 0.5, "gain/compression on must change most codes"


@pytest.mark.parametrize("k", [8, 5, 3])
def test_gain_and_compression_follow_their_formula(seed, k):
    cfg = SARConfig(columns=12)
    fe = noise_free(AnalogFrontEnd.sample(cfg, mismatch=0.08, offset=3.0, seed=5, gain=0.3,
                                          compression=1.2))  # fmt: skip
    # noise_free (adc_metrics) rebuilds the front end from its arrays and params: keeps the terms.
    ref = AnalogFrontEnd.sample(cfg, mismatch=0.08, offset=3.0, seed=5, gain=0.3, compression=1.2)
    np.testing.assert_array_equal(fe.gain, ref.gain)
    np.testing.assert_array_equal(fe.compression, ref.compression)
    v = inputs(np.random.default_rng(seed), 2000, 12)
    a, g = fe.compression, fe.gain
    u = g * np.tanh(a * np.clip(v, -1, 1)) / a
    lhs = (u + 1) / 2 * 256 + fe.offset
    codes, _ = sar_convert(cfg, fe, v, k)
    exp = search(fe, lhs, k)
    bad = np.argwhere(codes != exp)
    assert bad.size == 0, f"at {bad[:3].tolist()}: expected {exp[tuple(bad[0])]}, got " + str(
        codes[tuple(bad[0])]
    )


def test_compare_one_vector_at_a_time_equals_batch(seed):
    """The closed loop asks compare() one vector and one step at a time: same decisions."""
    cfg = SARConfig(columns=8)
    fe = AnalogFrontEnd.sample(cfg, mismatch=0.1, offset=4, noise=1.0, seed=3, gain=0.3,
                               compression=1.0)  # fmt: skip
    v = inputs(np.random.default_rng(seed), 40, 8)
    codes, dec = sar_convert(cfg, fe, v, 6)
    for n in range(len(v)):
        kept = np.zeros(8, dtype=np.int64)
        for i in range(6):
            b = fe.compare(v[n], kept | (1 << i), i, n)
            assert (b == dec[n, :, i]).all(), f"vector {n} step {i}: {b} != {dec[n, :, i]}"
            kept |= b.astype(np.int64) << i


@pytest.mark.parametrize("k", [8, 6, 4])
def test_table_and_torch_forward_equal_golden_codes(seed, k):
    cfg = SARConfig(columns=10)
    fe = noise_free(HARSH.front_end(cfg, 11))
    table = at.SARTable.build(cfg, fe, k)
    rng = np.random.default_rng(seed)
    v = inputs(rng, 4000, 10)
    golden, _ = sar_convert(cfg, fe, v, k)
    lhs = fe.held_input(v) + fe.offset
    np.testing.assert_array_equal(table.lookup(lhs), golden)
    vt = torch.tensor(v, requires_grad=True)
    code = at.sar_codes_torch(fe, table, vt)
    np.testing.assert_array_equal(code.detach().numpy().astype(np.int64), golden)
    # Straight-through gradient: d code / d v = d lhs / d v inside the range, 0 where clipped.
    code.sum().backward()
    inside = (np.abs(v) < 0.9) & (lhs - 0.5 > 0) & (lhs - 0.5 < 255)
    a, g = fe.compression, fe.gain
    dlhs = g * (1 - np.tanh(a * v) ** 2) * 128
    np.testing.assert_allclose(vt.grad.numpy()[inside], np.broadcast_to(dlhs, v.shape)[inside])
    assert (vt.grad.numpy()[np.abs(v) > 1] == 0).all()


def test_nominal_offset_and_identity_params():
    sar = SARConfig(columns=8)
    # Floor quantiser: mean(x - floor(x)) = 1/2; a k-step code sits mid-interval: 0.
    assert at.nominal_offset(sar, 8) == 0.5
    assert at.nominal_offset(sar, 4) == 0.0
    net = tile_net.TileNet("mlp", [np.ones((4, 8)) * 0.1], [np.linspace(-1, 1, 8)],
                           np.ones((8, 10)), np.zeros(10))  # fmt: skip
    net.out_scale[:] = 2.0
    net.act_lsb[:] = 0.01
    ncfg = NMPUConfig(columns=8, lanes=8, scale_fmt=at.SCALE_FMT)
    p = at.identity_params(net, 0, ncfg)
    assert (p["scale"] == 64).all() and (p["offset"] == 0).all()  # 1.0 in UQ(3,6), 0
    # The identity correction is the bypassed correction stage, bit for bit.
    x = np.random.default_rng(0).integers(-128, 128, (500, 1, 8))
    bypass = NMPUConfig.from_dict({**ncfg.to_dict(), "correction": False})
    kept = {k: v for k, v in p.items() if k in bypass.param_fields}
    np.testing.assert_array_equal(nmpu(ncfg, x, **p), nmpu(bypass, x, **kept))


def test_adc_aware_beats_uncalibrated_float_on_a_harsh_instance(seed):
    """Small seeded setup (MLP, harsh front end, 4 active steps, 6 epochs): a few seconds."""
    print(f"training seed 0, ADC instance 1 (test seed {seed} unused: the setup is fixed)")
    d = digits.load_data()
    xcfg = crossbar.CrossbarConfig()
    net = tile_net.mlp_net()
    net.set_scales(d.x_train, xcfg)
    kw = {"level": HARSH, "adc_seed": 1, "active_steps": 4, "xcfg": xcfg, "chip_seed": 7}
    uncal, _ = at.evaluate(net, d.x_test, d.y_test, calibration_mode="nominal", **kw)
    aware = at.train_adc_aware(net, d.x_train, d.y_train, level=HARSH, active_steps=4,
                               adc_seed=1, xcfg=xcfg, epochs=6, lr=2e-3, seed=0)  # fmt: skip
    acc, runs = at.evaluate(aware, d.x_test, d.y_test, calibration_mode="none", **kw)
    assert acc >= uncal + 0.02, f"ADC-aware {acc:.4f} vs uncalibrated float {uncal:.4f}"
    assert (runs[0].params["scale"] == 64).all() and (runs[0].params["offset"] == 0).all()
    # The float network is left untouched by the fine-tuning (a copy is trained).
    again, _ = at.evaluate(net, d.x_test, d.y_test, calibration_mode="nominal", **kw)
    assert again == uncal


def test_training_is_deterministic_for_a_seed():
    """Same seeds -> same weights (batch order, chips, noise, instances, dropout masks);
    another seed differs."""
    d = digits.load_data()
    xcfg = crossbar.CrossbarConfig()
    net = tile_net.mlp_net()
    net.set_scales(d.x_train, xcfg)
    kw = {"level": HARSH, "active_steps": 5, "adc_seed": 1, "xcfg": xcfg, "epochs": 1,
          "instances": 3, "column_dropout": 0.1}  # fmt: skip
    a = at.train_adc_aware(net, d.x_train[:256], d.y_train[:256], distribution=True, seed=4, **kw)
    b = at.train_adc_aware(net, d.x_train[:256], d.y_train[:256], distribution=True, seed=4, **kw)
    c = at.train_adc_aware(net, d.x_train[:256], d.y_train[:256], distribution=True, seed=5, **kw)
    np.testing.assert_array_equal(a.w[0].detach().numpy(), b.w[0].detach().numpy())
    np.testing.assert_array_equal(a.bn_gain[0].detach().numpy(), b.bn_gain[0].detach().numpy())
    assert not np.array_equal(a.w[0].detach().numpy(), c.w[0].detach().numpy())


def _small_cnn(seed: int) -> tile_net.TileNet:
    """An untrained CNN TileNet with scales set (fast: no training)."""
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((9, 8)) / 3, rng.standard_normal((72, 16)) / 8]
    biases = [rng.standard_normal(8) * 0.1, rng.standard_normal(16) * 0.1]
    net = tile_net.TileNet("cnn", weights, biases, rng.standard_normal((64, 10)), np.zeros(10))
    net.set_scales(digits.load_data().x_train[:200], crossbar.CrossbarConfig())
    return net


def test_instances_per_batch_split_the_images_and_column_dropout_drops_whole_columns(seed):
    """Distribution-aware forward with 3 instances per batch: images 0-2, 3-4 and 5-6 of a
    7-image batch are converted by instances 0, 1 and 2 (each checked against a one-instance
    forward with that instance), all drawn from training seeds; column dropout zeroes one
    column of one image at every im2col position, and scales the kept ones by 1 / (1 - p)."""
    net = _small_cnn(seed)
    assert at.rows_per_image(net) == [64, 16]
    level = at.ADCLevel("harsh, noise off", mismatch=0.1, offset=4.0, gain=0.3, compression=1.0)
    xcfg = crossbar.CrossbarConfig()
    sampler = at.InstanceSampler(net, level, 6, seed % 1000, distribution=True, instances=3)
    sampler.next()
    seeds = [[fe.seed for fe in fes] for fes in sampler.fes]
    assert all(s >= at.TRAIN_SEED_BASE for row in seeds for s in row), seeds
    assert len(set(seeds[0])) == 3, f"three distinct instances per batch, got {seeds[0]}"
    x = torch.as_tensor(np.array(digits.load_data().x_test[:7]))
    rows = net.layer_rows(x, 0)  # [7 * 64, 9]
    out = at.AwareTile(net, sampler, xcfg, seed=2)(0, rows).detach().numpy().reshape(7, 64, 8)
    groups = [[0, 1, 2], [3, 4], [5, 6]]
    single = []
    for g in range(3):
        one = at.InstanceSampler(net, level, 6, 0)  # one instance, replaced by instance g
        one.fes = [[fes[g]] for fes in sampler.fes]
        one.tables = [[tables[g]] for tables in sampler.tables]
        # Same tile seed: the same crossbar chip is drawn on the first call.
        ref = at.AwareTile(net, one, xcfg, seed=2)(0, rows).detach().numpy().reshape(7, 64, 8)
        np.testing.assert_array_equal(out[groups[g]], ref[groups[g]], err_msg=f"instance {g}")
        single.append(ref)
    assert not np.array_equal(single[0], single[1]), "instances 0 and 1 give the same codes"
    p = 0.5
    drop = at.AwareTile(net, sampler, xcfg, seed=2, column_dropout=p)(0, rows)
    drop = drop.detach().numpy().reshape(7, 64, 8)
    live = np.abs(out).sum(axis=1) > 0  # [image, column] with any nonzero activation
    zeroed = (drop == 0).all(axis=1)
    kept = (drop == out / (1 - p)).all(axis=1)
    assert (zeroed | kept).all(), "a column is neither dropped whole nor kept whole"
    assert (zeroed & live).sum() >= 5 and (kept & live).sum() >= 5, (zeroed & live).sum()
    with pytest.raises(ValueError, match="instances=2 needs distribution=True"):
        at.InstanceSampler(net, level, 6, 0, instances=2)
    with pytest.raises(ValueError, match="column_dropout must be in"):
        at.AwareTile(net, sampler, xcfg, seed=2, column_dropout=1.0)
