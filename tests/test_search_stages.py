"""The search's stages and budgets: final-stage selection and `pick` from finalised models, the
latency budget, the measured firmware reserve, collapse detection, the epoch budget, hypervolume."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sparsemcu.cli import main
from sparsemcu.nas import runs
from sparsemcu.nas.budget import INSTRUCTIONS_PER_MAC, Budget, latency_ms
from sparsemcu.nas.finalise import select
from sparsemcu.nas.hypervolume import hypervolume

from harness import fake_trial

pytestmark = pytest.mark.filterwarnings("ignore")


def _rec(trial, err, flash, ram, feasible=True):
    return {"trial": trial, "val_error": err, "flash_bytes": flash, "arena_bytes": ram, "feasible": feasible,
            "skipped_training": False}


def test_final_selection_takes_fronts_in_rank_order():
    recs = [_rec(0, 0.08, 1000, 100), _rec(1, 0.09, 500, 100), _rec(2, 0.05, 4000, 100),   # front
            _rec(3, 0.085, 1100, 100),                                                      # second rank
            _rec(4, 0.01, 100, 10, feasible=False)]                                         # over budget
    assert {m["trial"] for m in select(recs, 3)} == {0, 1, 2}
    assert {m["trial"] for m in select(recs, 4)} == {0, 1, 2, 3}
    # a front larger than the room left is thinned evenly over flash (both ends kept)
    assert {m["trial"] for m in select(recs, 2)} == {1, 2}
    # a model with more than twice the best error is not worth retraining at full budget
    assert 5 not in {m["trial"] for m in select(recs + [_rec(5, 0.11, 50, 50)], 9)}


def test_pick_chooses_among_finalised_models(tmp_path):
    fake_trial(tmp_path, 0, 0.30, 1000)
    fake_trial(tmp_path, 1, 0.10, 2000)               # best when screened ...
    fake_trial(tmp_path, 2, 0.40, 500)
    fake_trial(tmp_path, 0, 0.08, 1000, final=True)   # ... but after retraining trial 0 wins
    fake_trial(tmp_path, 1, 0.09, 2000, final=True)
    assert runs.pick(tmp_path, "most-accurate") == tmp_path / "final" / "0000" / "trial0000.tflite"
    assert runs.pick(tmp_path, "smallest") == tmp_path / "final" / "0000" / "trial0000.tflite"
    assert runs.pick(tmp_path, "1") == tmp_path / "final" / "0001" / "trial0001.tflite"
    assert runs.pick(tmp_path, "2") == tmp_path / "trials" / "0002" / "trial0002.tflite"  # never finalised
    # a refit of the chosen trial ships in its place, once it finished and fits (its validation figures
    # are the final run's, so the choice itself does not change)
    refit = tmp_path / "final" / "0000" / "refit"
    shutil.copytree(tmp_path / "final" / "0000", refit, ignore=shutil.ignore_patterns("refit"))
    assert runs.pick(tmp_path, "most-accurate") == tmp_path / "final" / "0000" / "trial0000.tflite"  # unfinished
    m = json.loads((refit / "metrics.json").read_text())
    (refit / "metrics.json").write_text(json.dumps({**m, "refit_of": str(refit.parent), "feasible": False}))
    assert runs.pick(tmp_path, "most-accurate") == tmp_path / "final" / "0000" / "trial0000.tflite"  # too big
    (refit / "metrics.json").write_text(json.dumps({**m, "refit_of": str(refit.parent)}))
    assert runs.pick(tmp_path, "most-accurate") == refit / "trial0000.tflite"
    assert runs.pick(tmp_path, "0") == refit / "trial0000.tflite"
    assert runs.pick(tmp_path, "1") == tmp_path / "final" / "0001" / "trial0001.tflite"


def test_refit_needs_a_final_stage(tmp_path, capsys):
    assert main(["search", "--dataset", "digits", "--out", str(tmp_path / "r"), "--final-epochs", "0",
                 "--refit", "--trials", "1"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--refit" in err and "--final-epochs" in err


def test_latency_budget_and_prediction():
    b = Budget(max_flash=1000, max_ram=100, max_latency_ms=2.0, clock_hz=100_000_000)
    assert b.feasible(900, 90, 1.5) and not b.feasible(900, 90, 2.5)
    assert b.constraints(900, 90, 2.5)[2] == pytest.approx(0.5)
    assert len(Budget(1000, 100).constraints(1, 1, 99.0)) == 2  # no latency budget: not a constraint
    assert latency_ms({"predicted_instructions": 200_000, "macs": 1}, 100_000_000) == pytest.approx(2.0)
    assert latency_ms({"predicted_instructions": 0, "macs": 1000}, 1_000_000) == pytest.approx(INSTRUCTIONS_PER_MAC)
    assert latency_ms({"predicted_instructions": 5}, None) is None


@pytest.mark.parametrize("argv, message", [
    (["--max-latency-ms", "0"], "argument --max-latency-ms"),
    (["--max-latency-ms", "5"], "needs --board"),
    (["--objectives", "error,latency"], "needs --board"),
    (["--final-epochs", "-1"], "argument --final-epochs"),
    (["--budget-epochs", "x"], "argument --budget-epochs"),
])
def test_bad_search_flags_are_one_line(tmp_path, capsys, argv, message):
    try:
        code = main(["search", "--dataset", "digits", "--trials", "1", *argv, "--out", str(tmp_path / "r")])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err


def test_reserve_is_measured_from_a_firmware_build_and_cached(tmp_path, monkeypatch):
    from sparsemcu.firmware.boards import get_board
    from sparsemcu.nas import reserve
    board = get_board("qemu_mps2_an386")
    monkeypatch.setattr(reserve, "CACHE_DIR", tmp_path / "cache")
    assumed = reserve.runtime_reserve(board, measure=False)
    assert not assumed.measured and "assumed" in assumed.source
    if shutil.which(board.cc) is None:
        pytest.skip(f"{board.cc} not installed")
    r = reserve.runtime_reserve(board)
    assert r.measured and "measured" in r.source
    assert 1000 < r.flash_bytes < board.flash_size // 4          # runtime + kernels, not a constant
    assert r.ram_bytes >= board.stack_bytes and r.stack_reserved == board.stack_bytes
    if r.stack_high_water is not None:                              # QEMU ran the probe
        assert 0 < r.stack_high_water < r.stack_reserved
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1
    monkeypatch.setattr(reserve, "measure_reserve", lambda b: pytest.fail("measured again"))
    assert reserve.runtime_reserve(board) == r                      # from the cache


def test_a_run_that_learns_nothing_is_detected():
    from sparsemcu.nas.objectives import TrialData
    from sparsemcu.nas.space import BlockSpec, Candidate, LayerSpec, build_model
    from sparsemcu.nas.training import COLLAPSE_RETRIES, Recipe, is_collapsed, train
    rng = np.random.default_rng(0)
    x = rng.random((256, 8, 8, 1), np.float32)
    y = rng.integers(0, 10, 256)                                    # random labels: nothing to learn
    data = TrialData(x[:192], y[:192], x[192:], y[192:], x[:0], y[:0], 10)
    cand = Candidate([BlockSpec([LayerSpec("conv", 2, 3)], "max")], "gap")
    _, out = train(lambda: build_model(cand, (8, 8, 1), 10), data, Recipe(epochs=2, lr=1e-3, batch_size=64))
    assert out.collapsed == is_collapsed(out.val_accuracy, 10)
    assert out.attempts == (COLLAPSE_RETRIES + 1 if out.collapsed else 1)
    assert is_collapsed(0.12, 10) and not is_collapsed(0.5, 10)


def test_epoch_budget_stops_the_screening_and_latency_is_an_objective(tmp_path):
    from sparsemcu.firmware.boards import get_board
    run = tmp_path / "run"
    assert main(["search", "--dataset", "digits", "--epochs", "1", "--max-blocks", "1", "--max-filters", "4",
                 "--startup", "1", "--no-progress", "--final-epochs", "0", "--trials", "50",
                 "--budget-epochs", "0.5", "--max-train", "300", "--board", "qemu_mps2_an386",
                 "--max-latency-ms", "40", "--objectives", "error,flash,latency", "--out", str(run)]) == 0
    ms = [json.loads(p.read_text()) for p in run.glob("trials/*/metrics.json")]
    clock = get_board("qemu_mps2_an386").clock_hz
    for m in ms:
        if m.get("tflite_path"):  # latency = the cost model's instructions at the board's clock, budgeted
            assert m["latency_ms"] == pytest.approx(1000 * m["predicted_instructions"] / clock)
            assert len(m["constraints"]) == 3 and (m["constraints"][2] <= 0) == (m["latency_ms"] <= 40)
            assert not m["feasible"] or m["latency_ms"] <= 40
    spent = sum(m.get("epoch_cost", 0.0) for m in ms)
    trained = [m for m in ms if not m.get("skipped_training")]
    assert 1 <= len(ms) < 50 and spent >= 0.5
    # a trial on 300 of the 1527 training images for one epoch costs about a fifth of an epoch
    assert all(0 < m["epoch_cost"] <= 300 / 1527 * 3 for m in trained)
    assert spent - max(m["epoch_cost"] for m in trained) < 0.5      # it stopped once the budget was spent


def test_nsga2_population_fits_the_trials_an_epoch_budget_allows(tmp_path):
    """With an epoch budget the study's trial limit is no guide: a population sized from it would
    leave NSGA-II in its random first generation for the whole run."""
    from sparsemcu.nas.objectives import TrialData
    from sparsemcu.nas.search import SearchConfig, expected_trials, make_sampler
    x, y = np.zeros((5000, 8, 8, 1), np.float32), np.zeros(5000, int)
    data = TrialData(x[:1000], y[:1000], x[:10], y[:10], x[:0], y[:0], 10, full_train=5000)
    cfg = SearchConfig(dataset="digits", out=tmp_path, trials=10 ** 6, epochs=5, sampler="nsga2", budget_epochs=16)
    assert expected_trials(cfg, data) == 16                   # a trial: 5 epochs on a fifth of the images
    assert make_sampler(cfg, 0, data)._population_size == 5   # three generations and more
    cfg.budget_epochs = None
    cfg.trials = 30
    assert expected_trials(cfg, data) == 30 and make_sampler(cfg, 0, data)._population_size == 10


def test_hypervolume_is_exact():
    ref = np.array([1.0, 1.0, 1.0])
    assert hypervolume([[0.5, 0.5, 0.5]], ref) == pytest.approx(0.125)
    # two boxes overlapping in a 0.5 x 0.5 x 0.25 block
    assert hypervolume([[0.5, 0.5, 0.0], [0.0, 0.5, 0.75]], ref) == pytest.approx(0.25 + 0.125 - 0.0625)
    rng = np.random.default_rng(0)
    pts = rng.random((6, 3))
    samples = rng.random((200_000, 3))
    dominated = np.zeros(len(samples), bool)
    for p in pts:
        dominated |= np.all(samples >= p, axis=1)
    assert hypervolume(pts, ref) == pytest.approx(dominated.mean(), abs=0.005)
    assert hypervolume([[1.2, 0.1, 0.1]], ref) == 0.0


def test_a_re_measured_firmware_reserve_keeps_the_studys_budget(tmp_path):
    import optuna

    from sparsemcu.errors import SparsemcuError
    from sparsemcu.nas.search import SearchConfig, _check_identity
    study = optuna.create_study(directions=["minimize"] * 3)

    def cfg(flash, source):
        return SearchConfig(dataset="digits", out=tmp_path, trials=1, budget=Budget(flash, 500, source))
    _check_identity(study, cfg(1000, "board b: flash 2000 B - 1000 B firmware"))
    resumed = cfg(990, "board b: flash 2000 B - 1010 B firmware")   # the runtime grew by 10 bytes
    notes = []
    _check_identity(study, resumed, notes.append)
    assert resumed.budget.max_flash == 1000 and "keeping its budget" in notes[0]
    with pytest.raises(SparsemcuError, match="created with budget"):  # a limit the user changed is an error
        _check_identity(study, cfg(990, "--max-flash/--max-ram"))
    weighted = SearchConfig(dataset="digits", out=tmp_path, trials=1, budget=Budget(1000, 500, "x"), error_weight=8.0)
    with pytest.raises(SparsemcuError, match="created with error_weight=1.0, not 8.0"):
        _check_identity(study, weighted)
    older = optuna.create_study(directions=["minimize"] * 3)  # begun before the error weight was recorded
    older.set_user_attr("sparsemcu_config", {k: v for k, v in cfg(1000, "x").identity().items() if k != "error_weight"})
    _check_identity(older, cfg(1000, "x"))
    with pytest.raises(SparsemcuError, match="created with error_weight=1.0, not 8.0"):
        _check_identity(older, weighted)
