"""The search space: strided blocks, and the rough sizes the SpArSe sampler's prior proposes from
(`space.size_estimate`, `objectives.plausible`) against the Keras model and the exporter's measurement."""
from __future__ import annotations

import numpy as np
import pytest

from sparsemcu.nas.budget import Budget
from sparsemcu.nas.objectives import plausible, quantize_and_measure
from sparsemcu.nas.sampler import _sample_value
from sparsemcu.nas.space import SpaceConfig, build_model, decode, params_count, size_estimate

pytestmark = pytest.mark.filterwarnings("ignore")

SHAPE = (28, 28, 1)


def _random_points(n, seed, max_weights=60000):
    """Random unpruned points of the space small enough to build quickly."""
    dists = SpaceConfig(filters=(4, 64)).distributions()
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        p = {k: _sample_value(rng, d) for k, d in dists.items()}
        p["prune"] = "none"
        if params_count(decode(p), SHAPE, 10) <= max_weights:
            out.append(p)
    return out


def test_a_strided_block_halves_the_map_in_its_first_layer():
    p = _random_points(1, 0)[0]
    p.update(n_blocks=1, b0_layers=2, b0_l0_type="dw", b0_l1_type="conv", b0_stride=2, b0_pool="max", head="gap")
    cand = decode(p)
    assert [l.stride for l in cand.blocks[0].layers] == [2, 1]
    assert "s2" in cand.describe()
    model = build_model(cand, SHAPE, 10, batchnorm=False)
    shapes = {l.name: tuple(l.output_shape[1:3]) for l in model.layers}
    assert shapes["b0_l0_dw"] == (14, 14) and shapes["b0_l1_conv"] == (14, 14) and shapes["b0_pool"] == (7, 7)


def test_the_space_walk_counts_the_keras_models_weights():
    """params_count and size_estimate walk the shapes (strides, SAME padding, pooling, head) as
    build_model does: their weight counts are exactly the Keras model's."""
    for p in _random_points(25, 1):
        cand = decode(p)
        model = build_model(cand, SHAPE, 10, batchnorm=False)
        kernels = sum(int(np.prod(l.get_weights()[0].shape)) for l in model.layers if l.get_weights())
        biases = sum(int(np.prod(l.get_weights()[1].shape)) for l in model.layers if len(l.get_weights()) > 1)
        assert params_count(cand, SHAPE, 10) == kernels, cand.describe()
        assert size_estimate(cand, SHAPE, 10)[0] == kernels + 4 * biases, cand.describe()


def test_size_estimate_tracks_the_exporters_footprint():
    calib = np.random.default_rng(0).random((16, *SHAPE), np.float32)
    for p in _random_points(8, 2):
        cand = decode(p)
        weights, arena = size_estimate(cand, SHAPE, 10)
        _, fp = quantize_and_measure(build_model(cand, SHAPE, 10, batchnorm=False), calib)
        assert 0.9 <= weights / fp["weight_bytes"] <= 1.4, (cand.describe(), weights, fp["weight_bytes"])
        assert 0.5 <= arena / fp["arena_bytes"] <= 2.5, (cand.describe(), arena, fp["arena_bytes"])


def test_the_prior_keeps_what_may_fit_and_drops_what_cannot():
    small, tiny = Budget(32768, 16384), Budget(4096, 4096)
    points = _random_points(200, 3, max_weights=10 ** 9)
    for p in points:
        cand = decode(p)
        weights, arena = size_estimate(cand, SHAPE, 10)
        fits = plausible(p, SHAPE, 10, tiny)
        assert fits == (weights <= 1.25 * 4096 and arena <= 1.25 * 4096), cand.describe()  # unpruned: no discount
        assert not fits or plausible(p, SHAPE, 10, small)  # a larger budget keeps what a smaller one does
        assert plausible(p, SHAPE, 10, Budget())             # no budget: everything
    assert 0 < sum(plausible(p, SHAPE, 10, tiny) for p in points) < len(points)
    # pruning may shrink the flash: an 8 K-weight model is plausible under 4 KB only when pruned
    big = dict(points[0], n_blocks=1, b0_layers=1, b0_l0_type="conv", b0_filters=16, b0_kernel=3, b0_stride=2,
               b0_pool="max", head="flatten", n_dense=0)
    assert 4096 * 1.25 < size_estimate(decode(big), SHAPE, 10)[0] < 4096 * 1.25 / 0.3
    assert not plausible(big, SHAPE, 10, Budget(4096, None))
    assert plausible(dict(big, prune="svd"), SHAPE, 10, Budget(4096, None))
