"""`sparsemcu search`: SpArSe architecture + pruning search under a board's flash/RAM budget."""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from sparsemcu.checks import check_output_dir, int_at_least, nonnegative_int, positive_int


def _bytes(text: str) -> int:
    t = text.strip().lower().replace("ib", "").rstrip("b")
    mult = 1
    if t and t[-1] in "km":
        mult = 1024 if t[-1] == "k" else 1024 * 1024
        t = t[:-1]
    try:
        v = float(t) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a byte count: {text!r} (e.g. 65536, 64K, 1M)") from None
    if v <= 0:
        raise argparse.ArgumentTypeError("a budget must be positive")
    return int(v)


def _positive_number(unit: str):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of {unit}: {text!r}") from None
        if not v > 0 or v == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a positive number of {unit}, got {text}")
        return v
    return parse


MIN_TRAIN = 10  # fewer training images leave no validation split to measure the error on


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "search", help="search CNN architectures + pruning (SpArSe) within a board's flash/RAM budget",
        description="Multi-objective search (validation error of the int8 model, flash, RAM) over CNNs with "
                    "pruning; flash and RAM are the exporter's own figures. Re-run the same command to resume; "
                    "point several workers at one --storage URL to share a study.")
    p.add_argument("--dataset", default="digits", metavar="D",
                   help="digits | fashion_mnist | mnist | cifar10 | cifar10_binary | NAME:PATH | file.npz "
                        "(default: digits)")
    p.add_argument("--board", metavar="B", help="budget from this board's memories (e.g. nucleo_f746, qemu_mps2_an500)")
    p.add_argument("--max-flash", type=_bytes, metavar="BYTES",
                   help="flash budget for the model, e.g. 65536 or 64K (overrides --board's)")
    p.add_argument("--max-ram", type=_bytes, metavar="BYTES", help="RAM (arena) budget in bytes (overrides --board's)")
    p.add_argument("--max-latency-ms", type=_positive_number("milliseconds"), metavar="MS",
                   help="latency budget: predicted instructions (kernel cost model) at --board's clock, in ms")
    p.add_argument("--trials", type=positive_int, default=20, metavar="N",
                   help="completed trials wanted in the study, counting earlier runs (default: 20)")
    p.add_argument("--epochs", type=positive_int, default=3, metavar="E",
                   help="screening: training epochs per trial (a morph child trains half; default: 3)")
    p.add_argument("--budget-epochs", type=_positive_number("epochs"), metavar="E",
                   help="also stop screening once the study spent E full-dataset-equivalent training epochs")
    p.add_argument("--final-epochs", type=nonnegative_int, default=15, metavar="E",
                   help="final stage: retrain the best screened trials from scratch for E epochs on the whole "
                        "training split before export (0: no final stage; default: 15)")
    p.add_argument("--refit", action="store_true",
                   help="after the final stage, retrain its most accurate model once more on the training and "
                        "validation images together (export then ships that model)")
    p.add_argument("--final-top", type=positive_int, default=6, metavar="N",
                   help="final stage: how many screened trials to retrain, best Pareto ranks first (default: 6)")
    p.add_argument("--sampler", choices=["sparse", "nsga2", "tpe", "random"], default="sparse",
                   help="sparse = SpArSe MOBO with random scalarisations + morphism (default); nsga2, tpe, random")
    p.add_argument("--error-weight", type=_positive_number("weight units"), default=1.0, metavar="W",
                   help="sparse sampler: Dirichlet weight of the error objective in the random scalarisations "
                        "(default 1: the whole front alike, as the paper; e.g. 8 steers the search to the most "
                        "accurate models within the budget)")
    p.add_argument("--storage", metavar="URL", help="Optuna storage URL, e.g. postgresql://user@host/db "
                                     "(default: sqlite file RUN/study.db)")
    p.add_argument("--study", default="sparsemcu", metavar="NAME", help="study name in the storage (default: sparsemcu)")
    p.add_argument("--objectives", default="error,flash,ram", metavar="LIST",
                   help="comma list starting with error, from error,flash,ram,macs,latency (default: error,flash,ram)")
    p.add_argument("--max-blocks", type=int_at_least(1, 3), default=3, metavar="N", help="conv blocks at most (1-3, default 3)")
    p.add_argument("--max-filters", type=int_at_least(2), default=64, metavar="N",
                   help="filters per layer at most, >= 2 (default 64; at least 4 unless this is lower)")
    p.add_argument("--max-train", type=int_at_least(MIN_TRAIN), metavar="N",
                   help=f"use at most this many training images (subsample), >= {MIN_TRAIN}")
    p.add_argument("--startup", type=nonnegative_int, default=4, metavar="N",
                   help="random trials before the model-based sampler, >= 0 (default: 4)")
    p.add_argument("--seed", type=int_at_least(0, 2**32 - 1), default=0, help="random seed, 0 .. 2^32-1 (default: 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--out", required=True, metavar="RUN", help="run directory (trials, pareto.json, pareto.png, study.db)")
    return p


def resolve_budget(board: str | None, max_flash: int | None, max_ram: int | None,
                   max_latency_ms: float | None = None):
    from sparsemcu.nas.budget import Budget, board_budget
    b = board_budget(board) if board else Budget()
    b.max_latency_ms = max_latency_ms
    if max_flash is not None:
        b.max_flash = max_flash
    if max_ram is not None:
        b.max_ram = max_ram
    if board and (max_flash or max_ram):
        b.source += " (overridden by --max-flash/--max-ram)"
    elif not board and (max_flash or max_ram):
        b.source = "--max-flash/--max-ram"
    return b


def run(args) -> int:
    warnings.filterwarnings("ignore")
    check_output_dir(args.out, "--out")
    from sparsemcu.nas.search import SearchConfig, run_search
    objectives = tuple(o.strip() for o in args.objectives.split(",") if o.strip())
    cfg = SearchConfig(dataset=args.dataset, out=Path(args.out), trials=args.trials, epochs=args.epochs,
                       storage=args.storage, study=args.study, sampler=args.sampler,
                       budget=resolve_budget(args.board, args.max_flash, args.max_ram, args.max_latency_ms),
                       objectives=objectives, seed=args.seed, max_blocks=args.max_blocks,
                       max_filters=args.max_filters, max_train=args.max_train, n_startup=args.startup,
                       progress=not args.no_progress, budget_epochs=args.budget_epochs,
                       final_epochs=args.final_epochs, final_top=args.final_top, error_weight=args.error_weight,
                       refit=args.refit)
    res = run_search(cfg)
    print(f"{res['n_complete']} trials complete ({res['n_feasible']} feasible); Pareto front "
          f"(validation error of the int8 model, flash, RAM):")
    for m in res["pareto"]:
        print(f"  trial {m['trial']:>4}: err {100 * m['val_error']:5.2f}%  flash {m['flash_bytes']:>8} B  "
              f"ram {m['arena_bytes']:>7} B  {m.get('description', '')}")
    if not res["pareto"]:
        print("  (no feasible trial yet)")
    if res.get("final"):
        print(f"final stage: {res['final']['n_final']} model(s) retrained at full budget; their Pareto front:")
        for m in res["final"]["pareto"]:
            test = m.get("test_accuracy_int8")
            print(f"  trial {m['trial']:>4}: err {100 * m['val_error']:5.2f}%  flash {m['flash_bytes']:>8} B  "
                  f"ram {m['arena_bytes']:>7} B  test acc {'-' if test is None else f'{100 * test:.2f}%'}  "
                  f"{m.get('description', '')}")
    if res.get("refit"):
        m = res["refit"]
        test = m.get("test_accuracy_int8")
        print(f"refit: trial {m['trial']} retrained on training + validation images: flash {m['flash_bytes']} B  "
              f"ram {m['arena_bytes']} B  test acc {'-' if test is None else f'{100 * test:.2f}%'} "
              f"({'ships' if m.get('feasible') else 'over the budget or learned nothing: the final run ships'})")
    from sparsemcu.nas.runs import trial_dir
    for m in res["pareto"]:  # the study remembers the trial, but its files were deleted: say so
        f = trial_dir(Path(args.out), int(m["trial"])) / str(m.get("tflite_path") or "")
        if m.get("tflite_path") and not f.is_file():
            print(f"sparsemcu search: warning: trial {m['trial']}'s model {f} is missing: it cannot be exported "
                  "(--pick); pick another trial", file=sys.stderr)
    print(f"wrote {args.out}/pareto.json, pareto.png, trials/" + (", final/" if res.get("final") else "")
          + "; export with: "
          f"sparsemcu export {args.out} --pick most-accurate|smallest|TRIAL --out DIR")
    sys.stdout.flush()
    return 0
