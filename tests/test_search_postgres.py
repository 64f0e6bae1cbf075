"""Two worker processes share one study on a PostgreSQL server (started on loopback by the
test with Debian's `postgresql` binaries): together they complete the requested trials,
both contribute, and every worker sees the study-wide results.

Needs the Debian package `postgresql` (initdb/pg_ctl under /usr/lib/postgresql/*/bin) and
psycopg2 (psycopg2-binary, in the [test] extra). As root, the server runs as the
`postgres` user (created by the package) through runuser."""
from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest

from sparsemcu.board_test import ci
from sparsemcu.tf import TF_ENV

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pg_url():
    bindir = _bindir()
    if bindir is None:
        # CI=true: a failure, not a skip
        ci.unavailable("PostgreSQL server binaries are absent (install the Debian package postgresql)")
    base = Path(tempfile.mkdtemp(prefix="smcu-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        for user in ("postgres", "nobody"):
            try:
                pw = pwd.getpwnam(user)
                break
            except KeyError:
                continue
        else:
            pytest.fail("running as root and neither a postgres nor a nobody user exists")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", pw.pw_name, "--"]
    data, port = base / "data", _free_port()

    def run(*args):
        res = subprocess.run(prefix + [str(a) for a in args], capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, f"{args[0]} failed: {res.stdout[-1500:]} {res.stderr[-1500:]}"

    run(bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
    run(bindir / "pg_ctl", "-D", data, "-l", base / "server.log", "-w", "-t", "60", "-o",
        f"-p {port} -k {base} -h 127.0.0.1 -c fsync=off -c max_connections=40", "start")
    try:
        import psycopg2
        con = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        con.autocommit = True
        con.cursor().execute("CREATE DATABASE smcu")
        con.close()
        yield f"postgresql://postgres@127.0.0.1:{port}/smcu"
    finally:
        subprocess.run(prefix + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def test_two_workers_share_one_study(pg_url, tmp_path):
    env = {**os.environ, **TF_ENV}
    trials = 4

    def cmd(out):
        return [sys.executable, "-m", "sparsemcu.cli", "search", "--dataset", "digits", "--epochs", "1",
                "--max-blocks", "1", "--max-filters", "8", "--startup", "2", "--no-progress", "--final-epochs", "0",
                "--trials", str(trials), "--board", "nucleo_f746", "--storage", pg_url, "--study", "shared",
                "--out", str(out)]

    outs = [tmp_path / "worker_a", tmp_path / "worker_b"]
    procs = [subprocess.Popen(cmd(o), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for o in outs]
    results = [p.communicate(timeout=400) for p in procs]
    for p, (so, se) in zip(procs, results):
        assert p.returncode == 0, se[-3000:]

    from sparsemcu.nas.search import normalise_url
    study = optuna.load_study(study_name="shared", storage=normalise_url(pg_url))
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    # each worker stops once the study holds `trials` completed trials (at most one extra in flight each)
    assert trials <= len(complete) <= trials + 1
    workers = {t.user_attrs["worker"] for t in complete}
    assert len(workers) == 2, f"only {workers} completed trials"
    assert len({t.number for t in complete}) == len(complete)
    # every trial's artefacts are in the run dir of the worker that ran it
    local = set()
    for o in outs:
        nums = {json.loads(p.read_text())["trial"] for p in o.glob("trials/*/metrics.json")}
        assert nums, f"{o} holds no trial"
        assert not (nums & local)
        local |= nums
    assert {t.number for t in complete} <= local
    # the Pareto front written by the worker that finished last covers the whole study
    docs = [json.loads((o / "pareto.json").read_text()) for o in outs]
    assert max(d["n_trials"] for d in docs) == len(complete)
