"""The ``boltzbench`` command line: ``list``, ``run``, ``score``, ``report`` and
``reference``.

User mistakes (unknown names, bad option values, broken plugins) print one line to stderr
and exit with status 2; nothing is written. ``run`` exits 0 when every cell is ok, and
100 + the number of failed cells (at most 200) otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from boltzbench import options
from boltzbench.cli.listing import cmd_list
from boltzbench.cli.report import add_report_parser
from boltzbench.cli.verify import add_verify_parser
from boltzbench.cli.winner import add_winner_parser
from boltzbench.options import UsageError
from boltzbench.registry import (
    METRICS,
    TARGETS,
    PluginError,
    UnknownNameError,
    load_plugin,
)
from boltzbench.report.style import FigureStyle
from boltzbench.run.preflight import check_targets, prepare_references

EXIT_USAGE = 2
EXIT_FAILED_BASE = 100
#: ``run`` and ``score`` draw PNG figures only (fast); ``boltzbench report`` adds PDF and SVG
QUICK_FIGURES = FigureStyle(formats=("png",))


def _load_plugins(plugins: list[str]) -> None:
    for plugin in plugins:
        load_plugin(plugin)


def cmd_run(args: argparse.Namespace) -> int:
    from boltzbench.report.build import build_report
    from boltzbench.run.scheduler import run_cells
    from boltzbench.run.suites import expand, get_suite, unavailable_targets

    _load_plugins(args.plugin)
    suite = get_suite(args.suite or "quick")
    if args.suite is None and (args.methods or args.targets or args.method or args.seeds):
        # a grid the user chose, not the quick suite: labelled and stored as its own
        suite = dataclasses.replace(suite, name="custom")
    if args.budget and args.budgets:
        raise UsageError("--budget and --budgets exclude each other (--budgets is a sweep)")
    targets = options.names(args.targets, "--targets") if args.targets else list(suite.targets)
    missing = unavailable_targets(targets)
    if args.targets and missing:  # named on the command line: an error, not a skip
        raise UsageError("; ".join(f"target {n!r}: {why}" for n, why in missing.items()))
    for name, why in missing.items():
        print(f"boltzbench: skipping target {name!r}: {why}", file=sys.stderr)
    targets = [t for t in targets if t not in missing]
    cost = options.cost(args.cost) if args.cost else None
    try:
        cells = expand(
            suite,
            variants=options.variants(args.method),
            cost=cost,
            methods=options.names(args.methods, "--methods") if args.methods else None,
            targets=targets,
            seeds=options.seeds(args.seeds) if args.seeds else None,
            params=options.params(args.param),
            budget=options.positive_int("--budget", args.budget, True) if args.budget else None,
            budgets=[
                options.positive_int("--budgets", b, True)
                for b in options.names(args.budgets, "--budgets")
            ]
            if args.budgets
            else None,
            n_samples=options.positive_int("--n-samples", args.n_samples)
            if args.n_samples
            else None,
            metrics=options.names(args.metrics, "--metrics") if args.metrics else None,
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, UnknownNameError):
            raise
        raise UsageError(str(exc)) from None
    if args.jobs < 1:
        raise UsageError(f"--jobs: expected a positive integer, got {args.jobs}")
    timeout = suite.timeout if args.timeout is None else args.timeout
    if timeout <= 0:
        raise UsageError(f"--timeout: expected a positive number of seconds, got {timeout:g}")
    device = _device(args.device, args.executor)
    if args.executor == "dask" and not args.scheduler:
        raise UsageError("--executor dask needs --scheduler ADDRESS (e.g. tcp://host:8786)")
    if args.scheduler and args.executor != "dask":
        raise UsageError("--scheduler goes with --executor dask")
    if args.executor == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise UsageError(
                "--executor dask needs the 'distributed' package: pip install 'boltzbench[dask]'"
            ) from None
    memory_limit = options.memory_limit(args.memory_limit)
    out = options.out_folder(args.out or str(Path("results") / suite.name))
    check_targets(sorted({cell.target for cell in cells}))
    print(f"boltzbench: {len(cells)} cells -> {out}", file=sys.stderr)
    prepare_references(sorted({cell.target for cell in cells}))
    summary = run_cells(
        cells,
        out,
        jobs=args.jobs,
        timeout=timeout,
        force=args.force,
        retry_failed=args.retry_failed,
        plugins=args.plugin,
        progress=not args.no_progress,
        device=device,
        executor=args.executor,
        scheduler=args.scheduler,
        memory_limit=memory_limit,
    )
    print(
        f"boltzbench: {summary.total} cells: {summary.ok} ran ok, {len(summary.failed)} failed, "
        f"{summary.skipped} already done (skipped)",
        file=sys.stderr,
    )
    if not args.no_report:
        paths = build_report(
            out, command=_command_line(), plots=not args.no_plots, style=QUICK_FIGURES
        )
        print(f"boltzbench: report written: {', '.join(str(p) for p in paths)}", file=sys.stderr)
    failed = len(summary.failed)
    return 0 if failed == 0 else EXIT_FAILED_BASE + min(failed, 100)


def _device(text: str, executor: str) -> str:
    """Validate ``--device``: ``cpu``, ``cuda`` or ``cuda:N``; CUDA must be usable here
    (with the local executor; Dask workers are checked by their cells)."""
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise UsageError(f"--device: expected cpu, cuda or cuda:N, got {text!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise UsageError(f"--device: expected cpu, cuda or cuda:N, got {text!r}")
    if device.type == "cuda" and executor == "local":
        if not torch.cuda.is_available():
            raise UsageError(
                f"--device {text}: CUDA is not available here (torch {torch.__version__})"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(
                f"--device {text}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
    return str(device)


def _command_line() -> str:
    import shlex

    return "boltzbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def cmd_score(args: argparse.Namespace) -> int:
    from boltzbench.report.build import build_report
    from boltzbench.score.scoring import rescore

    _load_plugins(args.plugin)
    out = Path(args.dir)
    if not (out / "cells").is_dir():
        raise UsageError(f"{out} has no cells/ folder: not a boltzbench results folder")
    metrics = options.names(args.metrics, "--metrics") if args.metrics else None
    for name in metrics or []:
        METRICS.get(name)
    targets = options.names(args.targets, "--targets") if args.targets else None
    if args.tiers_only and metrics:
        raise UsageError("--tiers-only recomputes no metric: leave out --metrics")
    n = rescore(out, metrics, targets, tiers_only=args.tiers_only)
    print(f"boltzbench: rescored {n} cells in {out} (no method was run)", file=sys.stderr)
    if not args.no_report:
        paths = build_report(
            out, command=_command_line(), plots=not args.no_plots, style=QUICK_FIGURES
        )
        print(f"boltzbench: report written: {len(paths)} files", file=sys.stderr)
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    from boltzbench.files import atomic_write_json

    _load_plugins(args.plugin)
    names = options.names(args.targets, "targets") if args.targets else TARGETS.names()
    classes = [TARGETS.get(name) for name in names]  # unknown names fail before any work
    status = 0
    for name, cls in zip(names, classes, strict=True):
        try:
            target = cls()
        except ImportError as exc:
            print(f"boltzbench: {name}: skipped: {exc}", file=sys.stderr)
            continue
        print(f"boltzbench: {name}: reference ...", file=sys.stderr, flush=True)
        try:
            ref = target.reference()
        except Exception as exc:  # a refused reference: report it and go on
            print(f"boltzbench: {name}: FAILED: {exc}", file=sys.stderr)
            status = 1
            continue
        prov = ref.provenance
        checks = prov.get("checks", {})
        passed = ", ".join(f"{k}={v}" for k, v in checks.items()) or "exact sampler"
        print(f"  {name:<16} n={prov['n']} {prov['method']}: {passed}")
        if args.out:
            atomic_write_json(Path(args.out) / f"{name}.json", prov)
    return status


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="boltzbench",
        description="Benchmark samplers of Boltzmann distributions: quality and energy cost.",
    )
    from boltzbench import __version__

    parser.add_argument("--version", action="version", version=f"boltzbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    no_plots_help = "tables and documents only (faster): no plots/"
    plugin_help = "a plugin .py file or importable module to load first (repeatable)"

    p = sub.add_parser("list", help="show the registered methods, targets, metrics and suites")
    p.add_argument("name", nargs="?", help="describe one method (its config), target or metric")
    p.add_argument("--plugin", action="append", default=[], help=plugin_help)
    p.add_argument("--json", action="store_true", help="print the names as JSON")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run a grid of cells and write the report")
    p.add_argument(
        "--suite",
        help="suite to run (default: quick; a grid chosen with --methods, --targets, --method "
        "or --seeds and no --suite is labelled 'custom' and goes to results/custom)",
    )
    p.add_argument("--methods", help="comma-separated methods (default: the suite's)")
    p.add_argument("--targets", help="comma-separated targets (default: the suite's)")
    p.add_argument("--seeds", help="seeds, e.g. 0,1,2 or 0-4 (default: the suite's)")
    p.add_argument("--metrics", help="comma-separated metrics (default: the suite's)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="METHOD.KEY=VALUE",
        help="override a method's config value (repeatable)",
    )
    p.add_argument(
        "--method",
        action="append",
        default=[],
        metavar="LABEL=METHOD[:KEY=VALUE...]",
        help="add a named variant, e.g. fast_mala=mala:step_size=0.05 (repeatable)",
    )
    p.add_argument("--budget", help="budget per cell in cost units (e.g. 1e6)")
    p.add_argument(
        "--cost",
        metavar="energy=1,grad=1,hvp=2",
        help="cost model: units per energy-only row, gradient row, Hessian-vector product "
        "(default: the suite's; built-in suites use 1, 1, 2)",
    )
    p.add_argument("--budgets", help="a sweep: rerun the grid at each budget, e.g. 1e4,1e5,1e6")
    p.add_argument("--n-samples", help="samples per cell (default: the target's n_eval)")
    p.add_argument("--out", help="results folder (default: results/<suite>)")
    p.add_argument("--jobs", type=int, default=1, help="cells run in parallel (default: 1)")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds per cell before it is killed (default: the suite's; 1800, "
        "5400 for molecules)",
    )
    p.add_argument(
        "--device",
        default="cpu",
        help="torch device for methods and metrics: cpu (default), cuda or cuda:N",
    )
    p.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="where cells run: local processes (default) or a Dask cluster (--scheduler)",
    )
    p.add_argument("--scheduler", help="Dask scheduler address for --executor dask")
    p.add_argument(
        "--memory-limit",
        metavar="GIB",
        help="memory a cell may allocate, in GiB (CPU runs on Linux); past it the cell "
        "fails with out_of_memory (default: no limit)",
    )
    p.add_argument("--force", action="store_true", help="recompute cells that are done")
    p.add_argument("--retry-failed", action="store_true", help="recompute failed cells")
    p.add_argument("--no-report", action="store_true", help="do not rebuild the report")
    p.add_argument("--no-plots", action="store_true", help=no_plots_help)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--plugin", action="append", default=[], help=plugin_help)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "score", help="rescore stored samples (no method is run) and rebuild the report"
    )
    p.add_argument("dir", help="a results folder written by 'boltzbench run'")
    p.add_argument(
        "--metrics",
        help="comma-separated metrics to (re)compute; the others stored are kept "
        "(default: every metric of each record)",
    )
    p.add_argument("--targets", help="rescore only the cells of these targets (default: all)")
    p.add_argument(
        "--tiers-only", action="store_true", help="classify failure tiers only (no metric)"
    )
    p.add_argument("--no-report", action="store_true", help="do not rebuild the report")
    p.add_argument("--no-plots", action="store_true", help=no_plots_help)
    p.add_argument("--plugin", action="append", default=[], help=plugin_help)
    p.set_defaults(func=cmd_score)

    add_report_parser(sub, no_plots_help, plugin_help)

    p = sub.add_parser(
        "reference",
        help="generate (or load from the cache) targets' reference sets and show their checks",
    )
    p.add_argument("targets", nargs="?", help="comma-separated targets (default: all)")
    p.add_argument("--out", help="also write each provenance record to OUT/<target>.json")
    p.add_argument("--plugin", action="append", default=[], help=plugin_help)
    p.set_defaults(func=cmd_reference)
    add_verify_parser(sub)
    add_winner_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, UnknownNameError, PluginError) as exc:
        print(f"boltzbench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("boltzbench: interrupted; finished cells are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
