"""The SpArSe sampler (GP per objective, random scalarisation, EI over sampled candidates,
morphism) on a synthetic objective: fast, no training. Infeasible points never count as best."""
from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from sparsemcu.nas.gp import GP
from sparsemcu.nas.sampler import SpArSeSampler, _sample_value, architecture, morph_move, mutate
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
    morphs = [t for t in trials if sampler.parent_of(t.number) is not None]
    assert morphs, "no morphism candidate was ever chosen"
    for t in morphs:
        parent = trials[sampler.parent_of(t.number)]
        assert parent.number < t.number and parent.user_attrs["feasible"]
    # no configuration is proposed twice by the model-based phase
    keys = [tuple(sorted(t.params.items())) for t in trials[5:]]
    assert len(set(keys)) == len(keys)
    # nor does it keep re-training one architecture with other learning rates (this objective
    # rewards exactly that; without the repeat penalty one architecture took 4-8 of the 20)
    archs = [architecture(t.params) for t in trials[5:]]
    assert max(archs.count(a) for a in archs) <= 2
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


def test_morph_moves_grow_the_network_or_change_a_setting():
    space = SpaceConfig(max_blocks=2, filters=(2, 32))
    dists = space.distributions()
    rng = np.random.default_rng(0)
    base = {"n_blocks": 2, "b0_layers": 1, "b0_l0_type": "conv", "b0_l1_type": "dw", "b0_l2_type": "conv",
            "b0_filters": 4, "b0_kernel": 3, "b0_reduce": 0.5, "b0_pool": "max",
            "b1_layers": 3, "b1_l0_type": "dw", "b1_l1_type": "conv", "b1_l2_type": "conv",
            "b1_filters": 32, "b1_kernel": 5, "b1_reduce": 0.5, "b1_pool": "none",
            "head": "gap", "n_dense": 0, "d0_units": 8, "d1_units": 8, "prune": "none", "prune_target": 0.5,
            "prune_kl": 1.0, "prune_threshold": 0.0, "lr": 3e-3, "batch_size": 64, "augment": "light"}
    for _ in range(200):
        child = morph_move(rng, base, dists)
        a, b = decode(base), decode(child)
        changed = {k for k in base if child[k] != base[k]}
        assert changed, "a move must change something"
        grew = [(len(x.layers), x.layers[0].filters, x.layers[0].kernel) for x in a.blocks] != \
            [(len(x.layers), x.layers[0].filters, x.layers[0].kernel) for x in b.blocks]
        if grew:  # never narrower, shallower or with a smaller kernel than the parent
            for x, y in zip(a.blocks, b.blocks):
                assert len(y.layers) >= len(x.layers) and y.layers[0].filters >= x.layers[0].filters
                assert y.layers[0].kernel >= x.layers[0].kernel
            assert b.blocks[1].layers[0].filters == 32 and len(b.blocks[1].layers) == 3  # at its maximum
        else:
            assert changed <= {"prune", "prune_target", "prune_kl", "prune_threshold", "lr", "batch_size", "augment"}


def test_mutations_change_any_active_parameter_within_the_space():
    space = SpaceConfig(max_blocks=2, filters=(4, 32))
    dists = space.distributions()
    rng = np.random.default_rng(1)
    parent = {n: (d.choices[0] if hasattr(d, "choices") else d.low) for n, d in dists.items()}
    parent.update(n_blocks=2, b0_layers=2, b1_layers=1, n_dense=1, prune="magnitude")
    changed = set()
    for _ in range(300):
        child = mutate(rng, parent, dists)
        diff = {n for n in parent if child[n] != parent[n]}
        assert 1 <= len(diff) <= 3 and diff <= active_names(parent) | active_names(child)
        for n in diff:
            d = dists[n]
            assert child[n] in d.choices if hasattr(d, "choices") else d.low <= child[n] <= d.high
        changed |= diff
    # not only growth: pooling, head, layer types and settings move too
    assert {"head", "b0_pool", "b0_l1_type", "lr", "prune_target", "n_blocks"} <= changed


def test_random_start_lasts_until_enough_trials_were_trained():
    sampler = SpArSeSampler(SpaceConfig(max_blocks=1), n_startup_trials=2)

    def done(skipped):
        return optuna.trial.create_trial(values=[0.5, 1.0], user_attrs={"skipped_training": skipped})
    assert sampler._starting([done(True)] * 10 + [done(False)])   # draws skipped as over budget do not count
    assert not sampler._starting([done(True)] * 10 + [done(False)] * 2)
    assert not sampler._starting([done(True)] * 16)               # bounded: 8 x n_startup_trials draws


def test_random_points_come_from_the_prior():
    """With a prior, the start and the random candidates are drawn from it (until it accepts, bounded)."""
    space = SpaceConfig(max_blocks=2, filters=(2, 32))

    def small(p):
        return sum(l.filters * l.kernel ** 2 for b in decode(p).blocks for l in b.layers) * 4.0 + 200 <= MAX_FLASH
    cons = lambda t: t.user_attrs.get("constraints", [0.0])  # noqa: E731
    sampler = SpArSeSampler(space, n_startup_trials=6, n_candidates=64, constraints_func=cons,
                            budgets={1: MAX_FLASH}, prior=small, seed=0)
    assert all(small(sampler._random_point()) for _ in range(50))
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(lambda t: _synthetic(t, space), n_trials=6)
    assert all(t.user_attrs["feasible"] for t in study.trials)  # this prior is the objective's budget
    # without a prior, the same start has points over the budget
    plain = optuna.create_study(directions=["minimize", "minimize"],
                                sampler=SpArSeSampler(space, n_startup_trials=6, seed=0))
    plain.optimize(lambda t: _synthetic(t, space), n_trials=6)
    assert not all(t.user_attrs["feasible"] for t in plain.trials)
    # a prior nothing satisfies still yields points (the last draw)
    never = SpArSeSampler(space, prior=lambda p: False, seed=0)
    assert set(never._random_point()) == set(space.distributions())


def test_mutations_start_from_accurate_trials_slightly_over_the_budget(monkeypatch):
    """Under a small budget the most accurate early trials are often just over it: mutations start
    from those too (morphs, which only grow, from feasible trials only); far-over ones are not parents."""
    import sparsemcu.nas.sampler as sampler_mod
    space = SpaceConfig(max_blocks=1, filters=(4, 16))
    dists = space.distributions()
    rng = np.random.default_rng(0)

    def done(err, flash, lr, skipped=False):
        p = {n: _sample_value(rng, d) for n, d in dists.items()}
        p.update(lr=lr, prune="none")
        return optuna.trial.create_trial(params=p, distributions=dists, values=[err, flash],
                                         user_attrs={"constraints": [flash - MAX_FLASH], "skipped_training": skipped})
    study = optuna.create_study(directions=["minimize", "minimize"])
    for t in (done(0.6, 1000, 1.1e-3), done(0.7, 900, 1.2e-3), done(0.15, 1.1 * MAX_FLASH, 2e-3),
              done(0.10, 3 * MAX_FLASH, 4e-3), done(1.0, 1.2 * MAX_FLASH, 8e-3, skipped=True)):
        study.add_trial(t)
    mutated, morphed = [], []
    real_mutate, real_morph = sampler_mod.mutate, sampler_mod.morph_move
    monkeypatch.setattr(sampler_mod, "mutate", lambda r, p, d: mutated.append(p["lr"]) or real_mutate(r, p, d))
    monkeypatch.setattr(sampler_mod, "morph_move", lambda r, p, d: morphed.append(p["lr"]) or real_morph(r, p, d))
    cons = lambda t: t.user_attrs.get("constraints", [0.0])  # noqa: E731
    s = SpArSeSampler(space, n_startup_trials=2, n_candidates=200, constraints_func=cons, budgets={1: MAX_FLASH}, seed=0)
    s._suggest(study, study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
    assert 2e-3 in mutated and set(mutated) <= {1.1e-3, 1.2e-3, 2e-3}  # not the 3x-over one, nor the skipped one
    assert morphed and not {2e-3, 4e-3, 8e-3} & set(morphed)  # (a second move starts from a first one)


def test_error_weight_steers_the_search_to_the_accurate_end_of_the_front():
    """Paria et al.'s prior over the scalarisation weights: with the error's Dirichlet weight raised,
    the model-based trials are larger (closer to the budget, where this objective's error is lowest)
    and the best feasible error is lower than with the uniform weights, on every seed."""
    space = SpaceConfig(max_blocks=2, filters=(2, 32))
    cons = lambda t: t.user_attrs.get("constraints", [0.0])  # noqa: E731
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def run(weight, seed):
        s = SpArSeSampler(space, n_startup_trials=5, n_candidates=256, constraints_func=cons,
                          budgets={1: MAX_FLASH}, error_weight=weight, seed=seed)
        study = optuna.create_study(directions=["minimize", "minimize"], sampler=s)
        study.optimize(lambda t: _synthetic(t, space), n_trials=30)
        late = np.median([t.values[1] for t in study.trials[5:]])
        return late, min(t.values[0] for t in study.trials if t.user_attrs["feasible"])
    for seed in range(4):
        (size_u, err_u), (size_f, err_f) = run(1.0, seed), run(8.0, seed)
        assert size_f > size_u and err_f < err_u, (seed, size_u, size_f, err_u, err_f)
    with pytest.raises(ValueError):
        SpArSeSampler(space, error_weight=0.0)
