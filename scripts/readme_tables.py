"""The documents' tables, generated from the committed results (never edited by hand).

    python scripts/readme_tables.py          # rewrite the tables in README.md and docs/*.md
    python scripts/readme_tables.py --check  # exit 1 if a document differs (a test runs it)

Each table sits between a marker line ``<!-- NAME -->`` and the next blank line, in any of
README.md and docs/*.md: ``quick-table`` and ``full-table`` (the primary metric per target
from results/quick and results/full), ``posteriordb-table`` (results/posteriordb),
``repro-table`` (results/paper), ``reference-table`` (results/references/*.json),
``overall-full`` (mean rank over results/full's targets, one line per method) and
``crosscheck-table``
(results/posteriordb/crosscheck/*.json), ``sweep-table`` (results/sweep/crossover.csv:
where the amortized samplers overtake MCMC), ``answer`` and ``validation-table``
(results/sweep/winner.csv and validation.csv: when a one-step sampler pays off). A
marker whose results folder is absent renders a line saying so.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
PAPER_ROW = (
    "| gmm4 (paper, own protocol) | drifting | 0.0754 | 0.0425 | 0.0020 | n/a "
    "| not published | not published |"
)


def _g(v: float, digits: int = 4) -> str:
    return "n/a" if pd.isna(v) else f"{v:.{digits}g}"


def _seconds(results: Path) -> dict[str, str]:
    """Per method: mean wall seconds per cell of fit and sample (of which inside the
    target's energy), over its cells at each target's largest budget (runs.csv)."""
    runs = pd.read_csv(results / "runs.csv", low_memory=False)
    budget = pd.to_numeric(runs["budget"], errors="coerce")
    runs = runs[(budget == budget.groupby(runs["target"]).transform("max")) | budget.isna()]
    wall = runs["train_seconds"].fillna(0) + runs["sample_seconds"].fillna(0)
    out = {}
    for method, idx in runs.groupby("method").groups.items():
        energy = runs.loc[idx, "target_seconds"].mean()
        out[method] = f"{wall[idx].mean():.3g} ({energy:.2g})"
    return out


def primary_table(results: Path) -> str:
    """Each target's primary metric (median over seeds [order-statistic interval], shared
    rank; bold: within the exact floor; a failure tier instead of values) per method, with
    the mean rank over targets and the mean seconds per cell."""
    if not (results / "leaderboard.csv").is_file():
        return f"(no results in {results.relative_to(REPO)} yet)"
    board = pd.read_csv(results / "leaderboard.csv")
    board = board[board["primary"].astype(bool)]
    budget = pd.to_numeric(board["budget"], errors="coerce")
    board = board[budget == budget.groupby(board["target"]).transform("max")]
    targets = sorted(board["target"].unique())
    head = []
    for t in targets:
        sub = board[board["target"] == t]
        b = sub["budget"].iloc[0]
        head.append(
            f"`{t}` {sub['metric'].iloc[0]}" + (f" ({float(b):.0e})" if pd.notna(b) else "")
        )
    seconds = _seconds(results)
    lines = [
        f"| method | {' | '.join(head)} | mean rank | s per cell (in energy) |",
        "|---" * (len(targets) + 3) + "|",
    ]
    order = board.groupby("method")["rank"].mean().sort_values(kind="stable")
    for method, mean_rank in order.items():
        cells = []
        for t in targets:
            row = board[(board["method"] == method) & (board["target"] == t)]
            if row.empty:
                cells.append("n/a")
                continue
            r = row.iloc[0]
            tier = str(r.get("tier", "ok"))
            if tier != "ok":  # a failure tier or failed cells: no value shown as a number
                what = tier.replace("_", " ")
                cells.append(f"*{what}* ({int(r['tier_seeds'])}/{int(r['n_seeds'])})")
                continue
            ranks = board[board["target"] == t]["rank"]
            tie = "=" if int((ranks == r["rank"]).sum()) > 1 else ""
            interval = f"[{_g(r['low'], 2)}, {_g(r['high'], 2)}]"
            text = f"{_g(r['median'], 3)} {interval} ({tie}{int(r['rank'])})"
            cells.append(f"**{text}**" if r["within_floor"] else text)
        lines.append(
            f"| `{method}` | "
            + " | ".join(cells)
            + f" | {mean_rank:.2f} | {seconds.get(method, 'n/a')} |"
        )
    return "\n".join(lines)


def overall_table(results: Path) -> str:
    """Per method, over the targets of ``results``: the mean shared rank by each target's
    primary metric, the targets where it is within the exact floor, its best-ranked
    targets, ok cells out of all, and the mean seconds per cell."""
    if not (results / "leaderboard.csv").is_file():
        return f"(no results in {results.relative_to(REPO)} yet)"
    board = pd.read_csv(results / "leaderboard.csv")
    board = board[board["primary"].astype(bool)]
    n_targets = board["target"].nunique()
    seconds = _seconds(results)
    lines = [
        f"| method | mean rank ({n_targets} targets) | at the floor | ranked first on | ok cells "
        "| s per cell (in energy) |",
        "|---|---|---|---|---|---|",
    ]
    order = board.groupby("method")["rank"].mean().sort_values(kind="stable")
    for method, mean_rank in order.items():
        rows = board[board["method"] == method]
        floor = ", ".join(f"`{t}`" for t in sorted(rows[rows["within_floor"]]["target"]))
        first = ", ".join(f"`{t}`" for t in sorted(rows[rows["rank"] == 1]["target"]))
        ok = f"{int(rows['n_ok'].sum())}/{int(rows['n_seeds'].sum())}"
        lines.append(
            f"| `{method}` | {mean_rank:.2f} | {floor or 'none'} | {first or 'none'} | {ok} "
            f"| {seconds.get(method, 'n/a')} |"
        )
    return "\n".join(lines)


def _is_label(column: pd.Series, label: str) -> pd.Series:
    """Rows of ``label``, with or without a suffix naming what differs (``label (n=…)``)."""
    text = column.astype(str)
    return (text == label) | text.str.startswith(label + " (") | text.str.startswith(label + "@")


def repro_table(results: Path = REPO / "results" / "paper") -> str:
    """The drifting reproduction: three-seed means on gmm4 and double_well."""
    board = pd.read_csv(results / "leaderboard.csv")
    runs = pd.read_csv(results / "runs.csv")
    metrics = ["mean_error", "cov_error", "mmd", "mode_mass_error"]
    lines = [
        "| target | method | "
        + " | ".join(metrics)
        + " | energy+grad+HVP evals (train) | train s |",
        "|---" * 8 + "|",
    ]
    for target in ("gmm4", "double_well"):
        for method in ("drifting", "drifting_curv", "drifting_force", "mala"):
            # a label may carry its config hash (label@hash) where a folder holds two
            # configurations of it
            b = board[(board["target"] == target) & _is_label(board["method"], method)]
            values = [_g(b[b["metric"] == m]["median"].iloc[0]) for m in metrics]
            r = runs[(runs["target"] == target) & _is_label(runs["method"], method)]
            train = (
                r["energy_evals_train"] + r["grad_evals_train"] + r["hvp_evals_train"].fillna(0)
            ).mean()
            lines.append(
                f"| `{target}` | `{method}` | "
                + " | ".join(values)
                + f" | {train:.3g} | {r['train_seconds'].mean():.3g} |"
            )
    lines.append(PAPER_ROW)
    return "\n".join(lines)


def reference_table(folder: Path = REPO / "results" / "references") -> str:
    """The generated references' provenance records."""
    lines = [
        "| target | n | seconds | R-hat (energy) | ESS (energy) "
        "| ours: energy mean, sd; mean distance | checks |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in sorted(folder.glob("*.json")):
        p = json.loads(path.read_text())
        if "checks" not in p:
            continue
        comp = p.get("published_comparison", {}).get("ours")
        ours = (
            f"{comp['energy_mean']:.2f}, {comp['energy_sd']:.2f}; {comp['mean_distance']:.3f}"
            if comp and "mean_distance" in comp
            else "–"
        )
        checks = ", ".join(k for k, v in p["checks"].items() if v)
        lines.append(
            f"| `{p['target']}` | {p['n']} | {p['seconds']:.0f} | {p['r_hat_energy']:.3f} | "
            f"{p['ess_energy']:.0f} | {ours} | {checks} |"
        )
    return "\n".join(lines)


def crosscheck_table(folder: Path = REPO / "results" / "posteriordb" / "crosscheck") -> str:
    """The reference generator against posteriordb's draws (scripts/crosscheck_posteriordb.py)."""
    paths = sorted(folder.glob("*.json"))
    if not paths:
        return f"(no results in {folder.relative_to(REPO)} yet)"
    lines = [
        "| target | generator | mass matrix (condition) | max z (limit 4) "
        "| max sd error (limit 10%) | R-hat | ESS | all checks | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for path in paths:
        p = json.loads(path.read_text())
        for key in ("generator", "identity"):
            g = p.get(key)
            if g is None:
                continue
            checks = [v for k, v in g.items() if isinstance(v, bool)]
            rhat = max(g["generator_r_hat_energy"], g["generator_r_hat_coords_max"])
            ess = min(g["generator_ess_energy"], g["generator_ess_coords_min"])
            mass = g.get("generator_mass_matrix", "identity")
            cond = g.get("generator_mass_matrix_condition")
            if mass != "identity" and cond is not None:
                mass += f" ({cond:.3g})"
            label = "current" if key == "generator" else "old (identity mass)"
            if p.get("thin", 100) != 100:
                label += f", thin {p['thin']}"
            lines.append(
                f"| `{p['target']}` | {label} "
                f"| {mass} | {g['max_mean_z']:.2f} | {100 * g['max_sd_rel_error']:.1f}% "
                f"| {rhat:.3f} | {ess:.0f} | {'pass' if all(checks) else 'FAIL'} "
                f"| {g['generator_seconds']:.0f} |"
            )
    return "\n".join(lines)


def sweep_table(results: Path = REPO / "results" / "sweep") -> str:
    """Where each amortized method overtakes each MCMC method in the budget sweep
    (:func:`boltzbench.report.crossover.summary_table` of results/sweep/crossover.csv)."""
    from boltzbench.report.crossover import summary_table

    if not (results / "crossover.csv").is_file():
        return f"(no results in {results.relative_to(REPO)} yet)"
    return "\n".join(summary_table(pd.read_csv(results / "crossover.csv")))


def answer_list(results: Path = REPO / "results" / "sweep") -> str:
    """Per target, from which N an evaluation-free learned sampler is the cheapest way to
    N draws at the exact floor (results/sweep/winner.csv, ``boltzbench winner``)."""
    from boltzbench.report.winnermap import answer_lines

    if not (results / "winner.csv").is_file():
        return f"(no winner.csv in {results.relative_to(REPO)} yet: boltzbench winner)"
    return "\n".join(f"- {line}" for line in answer_lines(pd.read_csv(results / "winner.csv")))


def validation_table(results: Path = REPO / "results" / "sweep") -> str:
    """The direct checks of the winner map (results/sweep/validation.csv)."""
    path = results / "validation.csv"
    if not path.is_file():
        return (
            f"(no validation.csv in {results.relative_to(REPO)} yet: boltzbench winner --validate)"
        )
    v = pd.read_csv(path)
    lines = [
        "| target | N | s/eval | role | method (budget) | evals predicted → measured "
        "| seconds predicted → measured | excess (threshold) | delivers | map right |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in v.iterrows():
        lines.append(
            f"| `{r['target']}` | {int(r['n_samples']):,} | {r['seconds_per_eval']:g} "
            f"| {r['role']} | `{r['method']}` ({r['budget']:.3g}) "
            f"| {_g(r.get('predicted_evals'), 3)} → {_g(r.get('measured_evals'), 3)} "
            f"| {_g(r['predicted_seconds'], 3)} → {_g(r.get('measured_seconds'), 3)} "
            f"| {_g(r.get('measured_excess'), 3)} ({_g(r['threshold'], 3)}) "
            f"| {r.get('delivers', 'n/a')} | {r.get('agrees', 'n/a')} |"
        )
    return "\n".join(lines)


#: the sweep's learned samplers whose training curve the long budgets test
PLATEAU_METHODS = ("drifting", "drifting_force", "osds_fine")


def plateau_table(results: Path = REPO / "results" / "sweep") -> str:
    """Have the learned samplers flattened? Per method and target: the primary metric's
    median over seeds at each budget from 3.2e5 (seeds in brackets where fewer than five),
    the bias on its largest probe at the largest budget, and the verdict from the two
    largest budgets: `falling` when the largest's median is below the previous interval,
    `rising` when above it, `flat` otherwise."""
    board = pd.read_csv(results / "leaderboard.csv")
    runs = pd.read_csv(results / "runs.csv")
    board = board[board["primary"] & board["method"].isin(PLATEAU_METHODS)]
    budgets = sorted(b for b in board["budget"].unique() if b >= 3e5)
    head = " | ".join(f"{b:.2g}" for b in budgets)
    lines = [
        f"| method | target | {head} | bias at the largest | curve |",
        "|---|---|" + "---|" * len(budgets) + "---|---|",
    ]
    for (method, target), g in board.groupby(["method", "target"], sort=True):
        g = g.set_index("budget")
        cells = []
        for b in budgets:
            if b not in g.index:
                cells.append("–")
                continue
            n = int(g.loc[b, "n_ok"])
            cells.append(_g(g.loc[b, "median"], 2) + ("" if n >= 5 else f" ({n})"))
        have = [b for b in budgets if b in g.index]
        if len(have) < 2:
            verdict = "–"
        else:
            last, prev = g.loc[have[-1]], g.loc[have[-2]]
            verdict = (
                "falling"
                if last["median"] < prev["low"]
                else "rising"
                if last["median"] > prev["high"]
                else "flat"
            )
        r = runs[(runs["method"] == method) & (runs["target"] == target)]
        r = r[r["budget"] == have[-1]] if have else r.head(0)
        bias = pd.to_numeric(r.get("bias"), errors="coerce").dropna()
        se = pd.to_numeric(r.get("bias_se"), errors="coerce").dropna()
        text = f"{_g(bias.mean(), 2)} ± {_g(se.mean(), 1)}" if len(bias) else "–"
        lines.append(
            f"| `{method}` | `{target}` | " + " | ".join(cells) + f" | {text} | {verdict} |"
        )
    return "\n".join(lines)


def molecules_table(results: Path = REPO / "results" / "molecules") -> str:
    """The molecules suite's speed-up file (boltzbench.report.speedup): quality and
    seconds for 1e4 decorrelated conformations, per target and method."""
    frame = pd.read_csv(results / "speedup.csv")
    lines = [
        "| target | method | rama_kl | energy W1 (kT) | seconds for 1e4 conformations |",
        "|---|---|---|---|---|",
    ]
    order = {t: i for i, t in enumerate(("ethanol", "aldp"))}
    frame = frame.assign(rank=frame["target"].map(order).fillna(len(order)))
    frame = frame.sort_values(["rank", "target", "method"])
    for r in frame.itertuples():
        lines.append(
            f"| `{r.target}` | `{r.method}` | {r.quality:.3g} | {r.energy_w1:.3g} "
            f"| {r.seconds_for_n:.0f} |"
        )
    return "\n".join(lines)


TABLES = {
    "answer": answer_list,
    "plateau-table": plateau_table,
    "validation-table": validation_table,
    "quick-table": lambda: primary_table(REPO / "results" / "quick"),
    "full-table": lambda: primary_table(REPO / "results" / "full"),
    "overall-full": lambda: overall_table(REPO / "results" / "full"),
    "posteriordb-table": lambda: primary_table(REPO / "results" / "posteriordb"),
    "repro-table": repro_table,
    "reference-table": reference_table,
    "crosscheck-table": crosscheck_table,
    "sweep-table": sweep_table,
    "molecules-table": molecules_table,
}


DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def render(text: str) -> str:
    """``text`` (a document) with every marked table regenerated."""
    for name, make in TABLES.items():
        pattern = re.compile(rf"(<!-- {name} -->\n)(.*?)(\n\n)", re.S)
        if pattern.search(text):
            table = make()
            text = pattern.sub(lambda m, t=table: m.group(1) + t + m.group(3), text)
    return text


def main(argv: list[str]) -> int:
    stale = []
    for path in DOCUMENTS:
        text = path.read_text()
        new = render(text)
        if new != text:
            stale.append(path.name)
            if "--check" not in argv:
                path.write_text(new)
    if "--check" in argv and stale:
        print(f"tables differ from results/ in {', '.join(stale)}: run scripts/readme_tables.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
