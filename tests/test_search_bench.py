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
    assert (out / "search_pareto.png").stat().st_size > 5000
    trained = sorted(p.stat().st_mtime for p in tmp_path.glob("*/*/*/*/metrics.json"))
    assert bench.main(argv) == 0                                   # resumes: nothing is trained again
    assert sorted(p.stat().st_mtime for p in tmp_path.glob("*/*/*/*/metrics.json")) == trained
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
