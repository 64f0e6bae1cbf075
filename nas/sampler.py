"""SpArSe's optimiser as an Optuna sampler: multi-objective Bayesian optimisation with
random scalarisations (Paria et al. 2018, as used by Fedorov et al. 2019) and network
morphism.

For every suggestion:
  1. fit one GP per objective (validation error, log flash, log RAM [, log MACs]) on the
     completed trials (trials whose training was skipped as certainly infeasible do not
     inform the error GP);
  2. draw a fresh random weighting lambda ~ Dirichlet(alpha) and scalarise the normalised
     objectives with the Chebyshev (max) scalarisation. alpha is 1 for every objective (the
     paper: the whole front alike) unless `error_weight` concentrates it on the error: Paria et
     al.'s prior over the weights, which steers the search to the front's accurate end. Under a
     roomy budget the uniform weights spend most trials on tiny networks (their sizes are far
     below every other trial's, so they win most scalarisations), which is not what a user who
     wants the most accurate model within the budget asked for;
  3. sample candidates: random points of the space, *morphs* of good earlier trials
     (network morphism moves on a Pareto-optimal feasible trial: widen a block or a dense
     layer, deepen a block, grow a kernel, or change its pruning / training settings; the
     child starts from the parent's trained function, `nas/morph.py`, and trains fewer epochs)
     and *mutations* of good trials, feasible ones or the most accurate ones slightly over the
     budget (one to three of their parameters changed to a neighbouring value, any parameter:
     pooling, head, layer types...; trained from scratch). Under a small
     budget almost no random point is feasible, and morphs only grow a network, so without
     mutations the search cannot leave a poor small architecture;
  4. pick the candidate maximising the Monte-Carlo expected improvement of the
     scalarised objective over the best feasible trial, times the GP probability that
     flash and RAM are within the budget, halved for every evaluated trial that already had
     the candidate's architecture (else the search re-trains one architecture with slightly
     different learning rates, whose noisy errors keep its expected improvement up).
The start is random until `n_startup_trials` trials were trained (trials skipped as certainly over
budget do not count, up to a bound). With a `prior` (the search gives `objectives.plausible`: rough
size within the budget), every random point, in the start and among the candidates, is drawn from
it: drawn again, up to PRIOR_DRAWS times, until the prior accepts it. Under a 4 KB budget most of the
space is far over it, and without the prior the start and the random candidates are nearly all one
family of the few networks that fit. The chosen parent of trial N is `parent_of(N)`; the
search stores it in the trial's user attr `morph_parent`.

Only Optuna's public API is used: completed trials come from `study.get_trials`, constraints
from `constraints_func` (the trial's user attrs).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from .gp import GP
from .space import SpaceConfig, active_names

MORPH_ATTR = "morph_parent"


class _Encoder:
    def __init__(self, dists: dict[str, optuna.distributions.BaseDistribution]):
        self.names = sorted(dists)
        self.dists = dists
        self.dim = sum(len(d.choices) if isinstance(d, CategoricalDistribution) else 1 for d in dists.values())

    def encode(self, params: dict) -> np.ndarray:
        act = active_names(params)
        out = []
        for n in self.names:
            d = self.dists[n]
            on = n in act
            if isinstance(d, CategoricalDistribution):
                v = np.zeros(len(d.choices))
                if on and params.get(n) in d.choices:
                    v[d.choices.index(params[n])] = 1.0
                out.extend(v)
            else:
                if not on or n not in params:
                    out.append(0.5)
                    continue
                x = float(params[n])
                lo, hi = float(d.low), float(d.high)
                if d.log:
                    x, lo, hi = math.log(x), math.log(lo), math.log(hi)
                out.append((x - lo) / (hi - lo) if hi > lo else 0.5)
        return np.asarray(out, float)


def _sample_value(rng: np.random.Generator, d):
    if isinstance(d, CategoricalDistribution):
        return d.choices[int(rng.integers(len(d.choices)))]
    lo, hi = float(d.low), float(d.high)
    if d.log:
        x = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    else:
        x = rng.uniform(lo, hi)
    if isinstance(d, IntDistribution):
        return int(min(d.high, max(d.low, round(x))))
    return float(x)


def _perturb(rng: np.random.Generator, d, value):
    """A local move: neighbouring integer / nearby float (in log space if log) / other category."""
    if isinstance(d, CategoricalDistribution):
        others = [c for c in d.choices if c != value]
        return others[int(rng.integers(len(others)))] if others else value
    lo, hi = float(d.low), float(d.high)
    if d.log:
        x = math.log(value) + rng.normal(0, 0.35 * (math.log(hi) - math.log(lo)) / 2)
        x = math.exp(min(math.log(hi), max(math.log(lo), x)))
    else:
        x = min(hi, max(lo, value + rng.normal(0, 0.2 * (hi - lo))))
    if isinstance(d, IntDistribution):
        xi = int(round(x))
        if xi == value:
            xi = value + (1 if rng.random() < 0.5 else -1)
        return int(min(d.high, max(d.low, xi)))
    return float(x)


# Settings a morph may change without touching the trained function (pruning, training).
_SETTINGS = ("prune", "prune_target", "prune_kl", "prune_threshold", "lr", "batch_size", "augment")
WIDEN_FACTOR = (1.25, 2.0)  # a widened layer gets this many times the filters (at least one more)
# the random start draws at most this many times n_startup_trials points (see _starting)
STARTUP_DRAWS_FACTOR = 8
# a random point is drawn at most this many times until the prior accepts it
PRIOR_DRAWS = 64
# mutations also start from the NEAR_FEASIBLE_PARENTS most accurate trained trials over the budget by
# at most NEAR_FEASIBLE_FACTOR (under 4 KB, the most accurate early trials were 1-10 % over it)
NEAR_FEASIBLE_FACTOR = 1.5
NEAR_FEASIBLE_PARENTS = 3
# a candidate's score is multiplied by this for every evaluated trial with the same architecture
ARCH_REPEAT_DECAY = 0.5
# encoded candidates this close to an evaluated trial are not proposed again
DUPLICATE_DISTANCE = 1e-6


def morph_move(rng: np.random.Generator, params: dict, dists: dict) -> dict:
    """One function-preserving network-morphism move (`nas/morph.py` realises it on the weights):
    widen a block, deepen a block, grow a block's kernel, widen a dense layer, or change a
    pruning / training setting."""
    p = dict(params)
    n_blocks = int(p["n_blocks"])
    moves = []
    for b in range(n_blocks):
        d = dists[f"b{b}_filters"]
        if p[f"b{b}_filters"] < d.high:
            moves.append(("widen", f"b{b}_filters"))
        if p[f"b{b}_layers"] < dists[f"b{b}_layers"].high:
            moves.append(("deepen", b))
        ks = dists[f"b{b}_kernel"].choices
        if any(k > p[f"b{b}_kernel"] for k in ks):
            moves.append(("kernel", f"b{b}_kernel"))
    for i in range(int(p["n_dense"])):
        if p[f"d{i}_units"] < dists[f"d{i}_units"].high:
            moves.append(("widen", f"d{i}_units"))
    act = active_names(p)
    moves += [("setting", n) for n in _SETTINGS if n in act and n in dists]
    kind, what = moves[int(rng.integers(len(moves)))]
    if kind == "widen":
        d = dists[what]
        p[what] = int(min(d.high, max(p[what] + 1, round(p[what] * rng.uniform(*WIDEN_FACTOR)))))
    elif kind == "deepen":
        b = what
        n = int(p[f"b{b}_layers"])
        p[f"b{b}_layers"] = n + 1
        # the new layer repeats the block's last type: conv / dw start as the identity
        p[f"b{b}_l{n}_type"] = p[f"b{b}_l{n - 1}_type"] if p[f"b{b}_l{n - 1}_type"] != "down" else "conv"
    elif kind == "kernel":
        p[what] = min(k for k in dists[what].choices if k > p[what])
    else:
        p[what] = _perturb(rng, dists[what], p[what])
    return p


def mutate(rng: np.random.Generator, params: dict, dists: dict) -> dict:
    """One to three active parameters changed to a neighbouring value (`_perturb`); not
    function-preserving, so the child trains from scratch."""
    names = sorted(n for n in active_names(params) if n in dists)
    for _ in range(10):  # a float at its bound may not move: try again
        p = dict(params)
        for n in rng.choice(names, size=min(len(names), int(rng.integers(1, 4))), replace=False):
            n = str(n)
            p[n] = _perturb(rng, dists[n], p[n])
        if p != params:
            return p
    return p


def architecture(params: dict) -> tuple:
    """The active parameters that define the network (not its pruning or training settings)."""
    return tuple(sorted((n, params[n]) for n in active_names(params) if n not in _SETTINGS and n in params))


def _nondominated(Y: np.ndarray) -> np.ndarray:
    n = len(Y)
    keep = np.ones(n, bool)
    for i in range(n):
        if not keep[i]:
            continue
        dominated = np.all(Y <= Y[i], axis=1) & np.any(Y < Y[i], axis=1)
        if dominated.any():
            keep[i] = False
    return keep


class SpArSeSampler(BaseSampler):
    def __init__(self, space: SpaceConfig | None = None, *, n_startup_trials: int = 5,
                 n_candidates: int = 512, morph_fraction: float = 0.35, mutate_fraction: float = 0.35,
                 mc_samples: int = 64,
                 constraints_func: Callable[[FrozenTrial], Sequence[float]] | None = None,
                 budgets: dict[int, float] | None = None, prior: Callable[[dict], bool] | None = None,
                 error_weight: float = 1.0, seed: int | None = None):
        """`budgets` maps an objective index (e.g. 1 = flash, 2 = RAM) to its upper bound, used
        for the probability-of-feasibility factor; `prior(params)` says whether a random point is
        worth proposing (None: every point is); `error_weight` is the Dirichlet concentration of the
        error objective's scalarisation weight (the others have 1)."""
        if not error_weight > 0:
            raise ValueError(f"error_weight must be positive, not {error_weight}")
        self._space = space or SpaceConfig()
        self._dists = self._space.distributions()
        self._enc = _Encoder(self._dists)
        self._n_startup = int(n_startup_trials)
        self._n_cand = int(n_candidates)
        self._morph_fraction = float(morph_fraction)
        self._mutate_fraction = float(mutate_fraction)
        self._mc = int(mc_samples)
        self._constraints_func = constraints_func
        self._budgets = dict(budgets or {})
        self._prior = prior
        self._error_weight = float(error_weight)
        self._rng = np.random.default_rng(seed)
        self._random = RandomSampler(seed=seed)
        self.last_choice: dict = {}
        self._parents: dict[int, int] = {}

    def parent_of(self, trial_number: int) -> int | None:
        """The trial this sampler morphed trial `trial_number` from (None: not a morph)."""
        return self._parents.get(int(trial_number))

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._random.reseed_rng()

    # -- Optuna interface -------------------------------------------------------------
    def _starting(self, done: Sequence[FrozenTrial]) -> bool:
        """Still in the random start: fewer than `n_startup_trials` trials were trained. A trial skipped
        as certainly over budget costs a few seconds and no training, so under a small budget (where
        most random points are over it) the start keeps drawing until it has trained that many, up to
        STARTUP_DRAWS_FACTOR times as many draws."""
        trained = sum(1 for t in done if not t.user_attrs.get("skipped_training", False))
        return trained < self._n_startup and len(done) < STARTUP_DRAWS_FACTOR * max(1, self._n_startup)

    def infer_relative_search_space(self, study, trial):
        if self._prior is None and self._starting(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))):
            return {}  # Optuna's random sampler draws the start
        return dict(self._dists)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:
        if not search_space:
            return {}
        trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                  if t.values is not None and all(n in t.params for n in self._dists)
                  and all(np.isfinite(v) for v in t.values)]
        if len(trials) < 2 or self._starting(trials):
            return self._random_point() if self._prior is not None else {}
        params, parent = self._suggest(study, trials)
        if parent is not None:
            self._parents[trial.number] = int(parent)
        return {k: v for k, v in params.items() if k in search_space}

    # -- the method ---------------------------------------------------------------------
    def _random_point(self) -> dict:
        """A random point of the space, from the prior if there is one (the last draw if none of
        PRIOR_DRAWS was accepted)."""
        for _ in range(PRIOR_DRAWS if self._prior is not None else 1):
            p = {n: _sample_value(self._rng, d) for n, d in self._dists.items()}
            if self._prior is None or self._prior(p):
                break
        return p

    def _objective_matrix(self, study, trials):
        Y = np.array([t.values for t in trials], float)
        signs = np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in study.directions])
        Y = Y * signs
        # sizes are positive and span orders of magnitude: model them in log space
        logged = np.zeros(Y.shape[1], bool)
        for j in range(Y.shape[1]):
            if j > 0 and np.all(Y[:, j] > 0):
                Y[:, j] = np.log(Y[:, j])
                logged[j] = True
        return Y, logged

    def _feasible(self, t: FrozenTrial) -> bool:
        c = self._constraints_func(t) if self._constraints_func is not None else None
        return c is None or all(v <= 0 for v in c)

    @staticmethod
    def _parent_pool(Y: np.ndarray, feas: np.ndarray, scal) -> np.ndarray:
        """Indices of the feasible trials worth growing: the Pareto front and the best 5 by the
        current scalarisation."""
        idx = np.where(feas)[0]
        if not len(idx):
            return idx
        front = idx[_nondominated(Y[idx])]
        by_scal = idx[np.argsort(scal(Y[idx]))][:5]
        return np.unique(np.concatenate([front, by_scal]))

    def _near_feasible(self, t: FrozenTrial) -> bool:
        """Every budgeted objective of the trial within NEAR_FEASIBLE_FACTOR x its bound."""
        return bool(self._budgets) and all(
            j < len(t.values) and t.values[j] <= NEAR_FEASIBLE_FACTOR * bound
            for j, bound in self._budgets.items() if bound is not None)

    def _suggest(self, study, trials):
        rng = self._rng
        Y, logged = self._objective_matrix(study, trials)
        X = np.stack([self._enc.encode(t.params) for t in trials])
        m = Y.shape[1]
        skipped = np.array([bool(t.user_attrs.get("skipped_training", False)) for t in trials])
        gps = []
        for j in range(m):
            rows = ~skipped if (j == 0 and (~skipped).sum() >= 2) else np.ones(len(trials), bool)
            gps.append(GP().fit(X[rows], Y[rows, j]))

        feas = np.array([self._feasible(t) for t in trials]) & ~skipped
        lo, hi = Y.min(0), Y.max(0)
        span = np.where(hi - lo > 1e-12, hi - lo, 1.0)
        lam = rng.dirichlet(np.r_[self._error_weight, np.ones(m - 1)])

        def scal(V):  # V: (..., m)
            return np.max(lam * (V - lo) / span, axis=-1)

        best = scal(Y[feas]).min() if feas.any() else scal(Y).min() + 0.5

        # candidates: random + morphs of good feasible trials (Pareto front first) + mutations of those
        # and of the most accurate trials slightly over the budget (a smaller kernel or dense layer
        # may bring one within it; morphs only grow, so they start from feasible trials only)
        grow_pool = self._parent_pool(Y, feas, scal)
        near = ~skipped & ~feas & np.array([self._near_feasible(t) for t in trials])
        near_best = np.where(near)[0][np.argsort(Y[near, 0])][:NEAR_FEASIBLE_PARENTS]
        mutate_pool = np.unique(np.concatenate([grow_pool, near_best])).astype(int)
        n_morph = int(self._n_cand * self._morph_fraction) if len(grow_pool) else 0
        n_mutate = int(self._n_cand * self._mutate_fraction) if len(mutate_pool) else 0
        cands: list[dict] = []
        parents: list[int | None] = []
        for _ in range(self._n_cand - n_morph - n_mutate):
            cands.append(self._random_point())
            parents.append(None)
        for i in range(n_morph + n_mutate):
            pool = grow_pool if i < n_morph else mutate_pool
            p = trials[int(pool[rng.integers(len(pool))])]
            child = dict(p.params)
            if i < n_morph:
                for _ in range(int(rng.integers(1, 3))):
                    child = morph_move(rng, child, self._dists)
            else:
                child = mutate(rng, child, self._dists)
            cands.append(child)
            parents.append(p.number if i < n_morph else None)
        Xc = np.stack([self._enc.encode(c) for c in cands])
        mus, sds = zip(*(gp.predict(Xc) for gp in gps))
        mu = np.stack(mus, 1)
        sd = np.stack(sds, 1)
        eps = rng.standard_normal((self._mc, 1, m))
        samples = mu[None] + sd[None] * eps                 # (S, N, m)
        ei = np.maximum(best - scal(samples), 0.0).mean(0)  # (N,)
        pof = np.ones(len(cands))
        from scipy.stats import norm
        for j, bound in self._budgets.items():
            if j >= m or bound is None:
                continue
            b = math.log(bound) if logged[j] else bound
            pof *= norm.cdf((b - mu[:, j]) / np.maximum(sd[:, j], 1e-9))
        score = ei * pof + 1e-12 * pof  # with no improvement anywhere, prefer likely-feasible
        seen: dict[tuple, int] = {}
        for t in trials:
            a = architecture(t.params)
            seen[a] = seen.get(a, 0) + 1
        score = score * ARCH_REPEAT_DECAY ** np.array([seen.get(architecture(c), 0) for c in cands], float)
        # never propose a configuration that was evaluated already (same encoded point)
        d2 = ((Xc[:, None, :] - X[None, :, :]) ** 2).sum(-1).min(1)
        score = np.where(d2 > DUPLICATE_DISTANCE ** 2, score, -1.0)
        k = int(np.argmax(score))
        self.last_choice = {"ei": float(ei[k]), "pof": float(pof[k]), "weights": lam.tolist(),
                            "parent": parents[k]}
        return cands[k], parents[k]
