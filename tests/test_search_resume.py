"""A search killed mid-run (SIGKILL, as a crash or a pre-empted CI job) resumes where it
stopped when the same command is run again: finished trials are kept as they are, the
trial that was running is failed and re-queued with the same parameters, and the study
ends with exactly the requested number of completed trials."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from sparsemcu.tf import TF_ENV

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]


def _cmd(run: Path, trials: int) -> list[str]:
    return [sys.executable, "-m", "sparsemcu.cli", "search", "--dataset", "digits", "--epochs", "2",
            "--max-blocks", "1", "--max-filters", "8", "--startup", "2", "--no-progress", "--final-epochs", "0",
            "--trials", str(trials), "--board", "nucleo_f746", "--out", str(run)]


def _env():
    return {**os.environ, **TF_ENV}


def test_killed_search_resumes(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(_cmd(run, 4), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    storage = f"sqlite:///{run / 'study.db'}"

    def running_now():
        try:
            st = optuna.load_study(study_name="sparsemcu", storage=storage)
            trials = st.get_trials(states=(optuna.trial.TrialState.RUNNING,))
        except Exception:  # not created yet, or frozen in the middle of a write
            return []
        return [t for t in trials if "worker" in t.user_attrs]

    try:
        # kill while a trial is being evaluated, after at least 2 trials finished. The search is
        # frozen (SIGSTOP) before the study is read, so the trial seen running is still running
        # when the kill lands; otherwise it is thawed and polled again.
        while True:
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.time() < deadline, "search too slow to reach 2 trials"
            if len(list(run.glob("trials/*/metrics.json"))) >= 2:
                proc.send_signal(signal.SIGSTOP)
                if running_now():
                    break
                proc.send_signal(signal.SIGCONT)
            time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait()
    before = {p.parent.name: p.read_text() for p in run.glob("trials/*/metrics.json")}
    assert len(before) >= 2

    study = optuna.load_study(study_name="sparsemcu", storage=storage)
    running = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.RUNNING]
    assert running, "the kill did not interrupt a trial"

    res = subprocess.run(_cmd(run, 4), env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    study = optuna.load_study(study_name="sparsemcu", storage=storage)
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(complete) == 4
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    # finished trials were kept, not redone
    for name, text in before.items():
        assert (run / "trials" / name / "metrics.json").read_text() == text
    # a trial interrupted by the kill was failed and retried with the parameters it had chosen
    # (the kill may land while it is still choosing: the retry then chooses the rest)
    for t in running:
        assert study.trials[t.number].state == optuna.trial.TrialState.FAIL
        # (a retry that learned nothing is marked PRUNED: the same parameters, retried all the same)
        finished = complete + study.get_trials(states=(optuna.trial.TrialState.PRUNED,))
        retries = [c for c in finished if c.user_attrs.get("retry_of") == t.number]
        assert retries and t.params and retries[0].params.items() >= t.params.items()
        assert "resuming" in res.stderr
    metrics = [json.loads(p.read_text()) for p in run.glob("trials/*/metrics.json")]
    assert {c.number for c in complete} <= {m["trial"] for m in metrics}
    assert len(json.loads((run / "pareto.json").read_text())["pareto"]) >= 1
