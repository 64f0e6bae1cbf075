"""`sparsemcu search` end to end on digits (tiny space, 1 epoch): run-dir layout, footprint
as the one source of flash/RAM, and the budget: infeasible trials are recorded as such and
never reported (Pareto front, pick, live line) as feasible."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sparsemcu.cli import main
from sparsemcu.errors import SparsemcuError
from sparsemcu.nas import runs
from sparsemcu.nas.objectives import measure_options
from sparsemcu.nas.training import is_collapsed

from harness import fake_trial

pytestmark = pytest.mark.filterwarnings("ignore")

TINY = ["--dataset", "digits", "--epochs", "3", "--max-blocks", "1", "--max-filters", "8", "--startup", "2",
        "--final-epochs", "2", "--final-top", "1",
        "--no-progress"]


def _metrics(run: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((run / "trials").glob("*/metrics.json"))]


def test_pick_ignores_infeasible_points(tmp_path):
    for i, (err, flash, ram, feasible) in enumerate([(0.01, 900, 90, False),  # most accurate and smallest, but over budget
                                                     (0.05, 2000, 300, True),
                                                     (0.10, 1000, 200, True),
                                                     (0.05, 2500, 100, True),
                                                     (0.90, 500, 100, True)]):  # smallest but at chance: not picked
        fake_trial(tmp_path, i, err, flash, ram, feasible)
    assert runs.pick(tmp_path, "most-accurate").name == "trial0001.tflite"  # ties -> less flash
    assert runs.pick(tmp_path, "smallest").name == "trial0002.tflite"
    assert runs.pick(tmp_path, "0").name == "trial0000.tflite"             # explicit number: any trial
    with pytest.raises(SparsemcuError, match="not in"):
        runs.pick(tmp_path, "17")
    with pytest.raises(SparsemcuError):
        runs.pick(tmp_path, "largest")
    fr = runs.front(runs.load_trials(tmp_path))
    assert {m["trial"] for m in fr} == {1, 2, 3, 4}


def test_pick_without_feasible_trial_is_an_error(tmp_path):
    fake_trial(tmp_path, 0, 0.01, 900, 90, feasible=False)
    with pytest.raises(SparsemcuError, match="no feasible"):
        runs.pick(tmp_path, "smallest")


def test_search_budget_and_run_dir(tmp_path, capsys):
    from sparsemcu.export.pipeline import footprint
    run = tmp_path / "run"
    max_flash, max_ram = 4000, 700
    assert main(["search", *TINY, "--trials", "3", "--max-flash", str(max_flash), "--max-ram", str(max_ram),
                 "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "Pareto front" in out
    ms = _metrics(run)
    assert len(ms) >= 3
    for m in ms:
        # within budget, and the int8 model (pruned, quantised) is better than chance
        feasible = (m["flash_bytes"] <= max_flash and m["arena_bytes"] <= max_ram
                    and not is_collapsed(m["val_accuracy"], 10))
        if m.get("collapsed"):  # learned nothing: never a feasible point, whatever its size
            assert not m["feasible"] and not m.get("tflite_path")
            continue
        assert m["feasible"] == feasible, m
        if m.get("tflite_path"):
            tfl = (run / "trials" / f"{m['trial']:04d}" / m["tflite_path"]).read_bytes()
            fp = footprint(tfl, measure_options())  # the exporter's figures, nothing estimated
            assert (fp["flash_bytes"], fp["arena_bytes"]) == (m["flash_bytes"], m["arena_bytes"])
            assert (run / "trials" / f"{m['trial']:04d}" / m["keras_path"]).exists()
    doc = json.loads((run / "pareto.json").read_text())
    assert (run / "pareto.png").stat().st_size > 1000
    assert doc["budget"]["max_flash"] == max_flash and doc["budget"]["max_ram"] == max_ram
    for p in doc["pareto"]:
        assert p["flash_bytes"] <= max_flash and p["arena_bytes"] <= max_ram
    assert any(m["feasible"] for m in ms), ms  # the budget leaves the tiny space feasible points
    for how in ("smallest", "most-accurate"):
        chosen = runs.pick(run, how)
        m = json.loads((chosen.parent / "metrics.json").read_text())
        assert m["feasible"] and m["flash_bytes"] <= max_flash and m["arena_bytes"] <= max_ram
    # `sparsemcu export RUN --pick smallest --optimize size` (how the search measures) exports
    # that trial with the same flash figure
    exp = run.parent / "exp"
    assert main(["export", str(run), "--pick", "smallest", "--optimize", "size", "--out", str(exp)]) == 0
    chosen = json.loads((runs.pick(run, "smallest").parent / "metrics.json").read_text())
    assert str(chosen["flash_bytes"]) in capsys.readouterr().out
    # re-running the same command with the same target does no new trial (resume semantics); with
    # --refit the final stage's most accurate model is trained once more on training + validation images
    n = len(ms)
    final_pick = runs.pick(run, "most-accurate")
    assert main(["search", *TINY, "--trials", "3", "--max-flash", str(max_flash), "--max-ram", str(max_ram),
                 "--out", str(run), "--refit"]) == 0
    assert len(_metrics(run)) == n
    refit = final_pick.parent / "refit"
    m, parent = (json.loads((d / "metrics.json").read_text()) for d in (refit, final_pick.parent))
    assert f"refit: trial {parent['trial']} retrained" in capsys.readouterr().out
    assert m["refit_of"] == str(final_pick.parent) and m["val_error"] == parent["val_error"]
    assert m["fidelity"]["name"] == "refit" and m["epochs_run"] == parent["epochs_run"]
    fp = footprint((refit / m["tflite_path"]).read_bytes(), measure_options())
    assert (fp["flash_bytes"], fp["arena_bytes"]) == (m["flash_bytes"], m["arena_bytes"])
    assert m["feasible"] == (m["flash_bytes"] <= max_flash and m["arena_bytes"] <= max_ram)
    assert runs.pick(run, "most-accurate") == (refit / m["tflite_path"] if m["feasible"] else final_pick)


def test_search_where_nothing_fits(tmp_path, capsys):
    run = tmp_path / "run"
    # 100 bytes of RAM cannot hold the 64-byte input and any conv output: every trial infeasible
    assert main(["search", *TINY, "--trials", "3", "--max-ram", "100", "--out", str(run)]) == 0
    captured = capsys.readouterr()
    assert "no feasible trial yet" in captured.out
    assert "best feasible: none yet" in captured.err
    ms = _metrics(run)
    assert len(ms) == 3 and not any(m["feasible"] for m in ms)
    assert json.loads((run / "pareto.json").read_text())["pareto"] == []
    with pytest.raises(SparsemcuError, match="no feasible"):
        runs.pick(run, "most-accurate")
    # the lead's `sparsemcu export RUN --pick` reports it in one line
    assert main(["export", str(run), "--out", str(tmp_path / "exp")]) == 2
    assert "no feasible" in capsys.readouterr().err


def test_search_rejects_a_changed_setting_on_resume(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["search", *TINY, "--trials", "1", "--max-ram", "100", "--out", str(run)]) == 0
    assert main(["search", *TINY, "--trials", "2", "--max-ram", "200", "--out", str(run)]) == 2
    assert "created with budget" in capsys.readouterr().err


def test_bad_dataset_is_one_line(tmp_path, capsys):
    assert main(["search", "--dataset", "nope", "--trials", "1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sparsemcu search: error: unknown dataset") and "\n" not in err
