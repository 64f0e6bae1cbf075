"""A small version of bench/bench_search.py (digits, two samplers, two seeds, a tiny epoch budget, one
target search): every run spends its epoch budget, only the final samplers' runs are finalised, the
report has the targets, the hypervolume mean and spread per sampler and a verdict, the front models
are copied and measure as reported, re-running the benchmark resumes every run and stage without
training anything again, and --report-only rebuilds the report from the saved runs alone."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_search.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_search", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_small_search_benchmark(tmp_path):
    from sparsemcu.export.pipeline import footprint
    from sparsemcu.nas.objectives import measure_options
    bench = _bench()
    work, out = tmp_path / "runs", tmp_path / "out"
    argv = ["--dataset", "digits", "--samplers", "sparse,random", "--seeds", "0,1", "--budget-epochs", "0.4",
            "--epochs", "4", "--max-train", "300", "--final-epochs", "1", "--final-top", "1", "--max-blocks", "1",
            "--max-filters", "6", "--startup", "1", "--final-samplers", "sparse", "--target-searches", "16384:4096:3.0:8",
            "--target-budget-epochs", "1.0", "--target-final-top", "1", "--threads", "1",
            "--workdir", str(work), "--out", str(out)]
    assert bench.main(argv) == 0
    doc = json.loads((out / "search.json").read_text())
    assert set(doc["summary"]) == {"sparse", "random"}
    for name, s in doc["summary"].items():
        assert s["hv_screen"]["n"] == 2 and s["hv_screen"]["std"] is not None
        assert s["hv_final"]["n"] == (2 if name == "sparse" else 0)  # only the final samplers are finalised
        for seed, r in doc["runs"][name].items():
            assert r["epochs_spent"] >= 0.4                       # equal budgets, counted in epochs
            assert all(m["child_val_error"] <= 1 and m["parent"] < m["child"] for m in r["morph_pairs"])
            assert (r["hv_final"] is not None) == (name == "sparse") and (name == "sparse" or not r["finals"])
            for p in r["final_front"] + r["screen_front"]:        # the copied model measures as reported
                tfl = (out / p["file"]).read_bytes()
                fp = footprint(tfl, measure_options())
                assert (fp["flash_bytes"], fp["arena_bytes"]) == (p["flash_bytes"], p["arena_bytes"])
    assert "random" in doc["verdict_screen"]
    target = doc["target_searches"]["flash16384_ram4096"]  # a search under the target's own budget and epochs
    assert target["epochs_spent"] >= 3.0 and target["budget"]["max_flash"] == 16384 and target["finals"]
    assert all(p["flash_bytes"] <= 16384 and p["arena_bytes"] <= 4096 for p in target["screen_front"])
    md = (out / "search.md").read_text()
    assert f"flash16384_ram4096 ({target['epochs_spent']:.0f} epochs screened, error weight 8)" in md
    import optuna
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{Path(target['run_dir']) / 'study.db'}")
    assert study.user_attrs["sparsemcu_config"]["error_weight"] == 8.0  # the search ran with the target's weight
    assert "## Targets" in md and "± " in md and "Verdict" in md and "morph child vs parent" in md
    # the finalised model validation chooses within the target is refit on training + validation images
    chosen = min((p for p in target["finals"] if p["flash_bytes"] <= 16384 and p["arena_bytes"] <= 4096),
                 key=lambda p: (p["val_error"], p["flash_bytes"]))
    (refit,) = target["refits"]
    assert refit["trial"] == chosen["trial"] and refit["val_error"] == chosen["val_error"]
    tfl = (out / refit["file"]).read_bytes()
    assert (refit["flash_bytes"], refit["arena_bytes"]) == tuple(footprint(tfl, measure_options())[k]
                                                                  for k in ("flash_bytes", "arena_bytes"))
    final_m = json.loads((Path(chosen["_dir"]) / "metrics.json").read_text())
    refit_m = json.loads((Path(chosen["_dir"]) / "refit" / "metrics.json").read_text())
    assert refit_m["fidelity"]["name"] == "refit" and not refit_m["recipe"]["early_stop"]
    assert refit_m["epochs_run"] == final_m["epochs_run"] and len(refit_m["val_history"]) == final_m["epochs_run"]
    assert refit_m["val_accuracy"] == final_m["val_accuracy"] and "val_accuracy_seen" in refit_m
    assert (out / "search_pareto.png").stat().st_size > 5000
    trained = sorted(p.stat().st_mtime for p in tmp_path.glob("**/metrics.json"))
    assert len(trained) > len(list(tmp_path.glob("*/*/*/*/metrics.json")))  # the refit's too
    assert bench.main(argv) == 0                                   # resumes: nothing is trained again
    assert sorted(p.stat().st_mtime for p in tmp_path.glob("**/metrics.json")) == trained
    for f in ("search.json", "search.md"):
        (out / f).unlink()
    assert bench.main(argv + ["--report-only"]) == 0              # the report from the saved runs alone
    again = json.loads((out / "search.json").read_text())
    assert again["summary"] == doc["summary"] and again["target_searches"].keys() == doc["target_searches"].keys()
    only_random = list(argv)
    only_random[only_random.index("--samplers") + 1] = "random"
    only_random[only_random.index("--target-searches") + 1] = ""
    assert bench.main(only_random) == 0          # a process running some of the runs reports all saved runs
    again = json.loads((out / "search.json").read_text())
    assert again["summary"] == doc["summary"] and again["target_searches"].keys() == doc["target_searches"].keys()


def test_targets_table_scores_the_refit_of_the_validation_chosen_model():
    bench = _bench()

    def point(trial, val_error, test, flash, ram):
        return {"trial": trial, "val_error": val_error, "test_accuracy_int8": test, "flash_bytes": flash,
                "arena_bytes": ram, "description": f"model{trial}", "file": f"search/t{trial}.tflite"}
    run = {"epochs_spent": 50, "error_weight": 8.0, "trial_seconds": 3600, "tf_threads": 2,
           "finals": [point(12, 0.080, 0.9087, 30778, 1820), point(38, 0.084, 0.9113, 12751, 8708)],
           "refits": [point(12, 0.080, 0.9120, 30778, 1820)]}
    row = next(line for line in bench.targets_table({}, {"flash32768_ram16384": run}) if "<= 32768 B" in line)
    # validation chooses trial 12 (not 38, better on test); its refit is what ships and is scored
    assert "model12" in row and "91.20 % (refit; final run 90.87 %)" in row and row.endswith("| yes |")
    run["refits"] = [point(12, 0.080, 0.9120, 40000, 1820)]  # a refit that no longer fits: the final run ships
    row = next(line for line in bench.targets_table({}, {"flash32768_ram16384": run}) if "<= 32768 B" in line)
    assert "90.87 % (its refit, 40000 B flash / 1820 B RAM, does not fit)" in row and row.endswith("| no |")
    del run["refits"]                                         # saved before refits: the final run is scored
    row = next(line for line in bench.targets_table({}, {"flash32768_ram16384": run}) if "<= 32768 B" in line)
    assert "90.87 %" in row and "refit" not in row and row.endswith("| no |")
