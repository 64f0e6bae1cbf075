"""The SpArSe sampler (GP per objective, random scalarisation, EI over sampled candidates,
morphism) on a synthetic objective: fast, no training. Infeasible points never count as best."""
from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from sparsemcu.nas.gp import GP
from sparsemcu.nas.sampler import MORPH_ATTR, SpArSeSampler
from sparsemcu.nas.space import SpaceConfig, active_names, decode, suggest

pytestmark = pytest.mark.filterwarnings("ignore")

MAX_FLASH = 3000.0


def _synthetic(trial, space):
    p = suggest(trial, space)
    c = decode(p)
    size = sum(l.filters * l.kernel ** 2 for b in c.blocks for l in b.layers) * 4.0 + 200
    err = 1.0 / (1.0 + 0.02 * size) + 0.05 * abs(math.log(p["lr"] / 5e-3)) + 0.01 * len(c.dense)
    trial.set_user_attr("constraints", [size - MAX_FLASH])
    trial.set_user_attr("feasible", size <= MAX_FLASH)
    return err, size


def test_gp_fits_a_smooth_function():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (40, 3))
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2
    gp = GP().fit(X, y)
    Xt = rng.uniform(0, 1, (50, 3))
    mu, sd = gp.predict(Xt)
    assert np.sqrt(np.mean((mu - (np.sin(3 * Xt[:, 0]) + Xt[:, 1] ** 2)) ** 2)) < 0.15
    assert np.all(sd > 0)
    mu_tr, sd_tr = gp.predict(X)
    assert np.mean(sd_tr) < np.mean(sd)


def test_sampler_multiobjective_constrained_with_morphism():
    space = SpaceConfig(max_blocks=2, filters=(2, 32))
    cons = lambda t: t.user_attrs.get("constraints", [0.0])  # noqa: E731
    sampler = SpArSeSampler(space, n_startup_trials=5, n_candidates=256, constraints_func=cons,
                            budgets={1: MAX_FLASH}, seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(lambda t: _synthetic(t, space), n_trials=25)
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 25
    # the model-based phase proposes morphs of earlier feasible trials
    morphs = [t for t in trials if MORPH_ATTR in t.user_attrs]
    assert morphs, "no morphism candidate was ever chosen"
    for t in morphs:
        parent = trials[t.user_attrs[MORPH_ATTR]]
        assert parent.number < t.number and parent.user_attrs["feasible"]
    # the constraint reached Optuna (system attr) exactly as computed
    for t in trials:
        c = t.system_attrs[optuna.samplers._base._CONSTRAINTS_KEY]
        assert (c[0] <= 0) == t.user_attrs["feasible"]
    # the model-based phase mostly stays within the budget (probability of feasibility)
    late = trials[5:]
    assert sum(t.user_attrs["feasible"] for t in late) >= 0.6 * len(late)
    # every trial suggests the whole space (fixed-dimensional encoding)
    assert all(set(t.params) == set(space.distributions()) for t in trials)


def test_active_names_follow_the_architecture():
    p = {"n_blocks": 1, "b0_layers": 2, "b0_l0_type": "down", "b0_l1_type": "conv", "n_dense": 0,
         "prune": "bc", "head": "gap", "lr": 1e-3, "batch_size": 32}
    act = active_names(p)
    assert {"b0_reduce", "b0_l1_type", "prune_kl", "prune_threshold"} <= act
    assert "b1_filters" not in act and "b0_l2_type" not in act and "d0_units" not in act


def test_morphism_inherits_weights_where_shapes_match(tmp_path):
    import tf_keras as keras
    from sparsemcu.nas.objectives import inherit_weights
    from sparsemcu.nas.space import BlockSpec, Candidate, LayerSpec, build_model
    keras.utils.set_random_seed(0)
    parent = build_model(Candidate([BlockSpec([LayerSpec("conv", 8, 3)], "max"),
                                    BlockSpec([LayerSpec("conv", 6, 3)], "none")], "flatten", [16]), (8, 8, 1), 10)
    parent.save(tmp_path / "parent.keras")
    # the child changes block 1's filters (6 -> 12): b0 transfers; b1, d0 (new shapes) do not
    child = build_model(Candidate([BlockSpec([LayerSpec("conv", 8, 3)], "max"),
                                   BlockSpec([LayerSpec("conv", 12, 3)], "none")], "flatten", [16]), (8, 8, 1), 10)
    n = inherit_weights(child, tmp_path / "parent.keras")
    by = {l.name: l for l in parent.layers}
    same = [l.name for l in child.layers if l.get_weights() and all(
        a.shape == b.shape and np.array_equal(a, b) for a, b in zip(l.get_weights(), by[l.name].get_weights()))]
    assert same == ["b0_l0_conv", "logits"] and n == 2
