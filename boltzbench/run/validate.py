"""Check the winner map by direct runs: at chosen points (target, N, price, requirement)
of ``winner.csv``, run the winner and the runner-up as the map says they would be run and
compare what they deliver with what the map predicted.

How an option is run at N draws: a learned sampler whose draws cost no evaluations is
trained at its budget and asked for N draws; any other method (a chain, SMC, a learned
sampler that pays per draw, such as PITA) gets the predicted evaluations as its budget and
is asked for N draws (a chain then thins its chains to spend it, so that its N draws are
worth about N effective ones if the map's cost per effective draw holds; PITA sizes its
data and annealing as shares of its budget, so it then trains on more than the cell the map
read). One fresh seed
(:data:`SEED`, not one of the sweep's). Measured: evaluations (budget units), seconds at
the point's price (evaluations × price + the method's own seconds) and the excess error
of the N draws over the exact floor at N (the primary metric directly up to
:data:`DIRECT_MAX` draws, else the block estimate of :mod:`boltzbench.score.bias`). The
option delivers when that excess is within the point's threshold plus twice the exact
sampler's spread at N (the map's rule for one seed); ``agrees`` says whether measurement
and map agree on who is cheaper among those that deliver. Known bias: a chain given the
predicted evaluations as its budget plans its own warm-up from it (``baselines/mcmc.py``),
so its production may get less than the map assumed.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from boltzbench.costs import predicted_evals
from boltzbench.records import iter_records
from boltzbench.registry import TARGETS, is_amortized
from boltzbench.run.cells import Cell, execute_cell, resolve
from boltzbench.score.bias import block_bias
from boltzbench.score.floors import noise_floors
from boltzbench.score.winner import exact_levels, spread

SEED = 100
DIRECT_MAX = 10_000


#: a point whose winner and runner-up together are estimated to take longer (seconds on
#: this machine, from their stored cells) is not picked
POINT_SECONDS = 300.0


def free_draws(stored: dict[str, Any]) -> bool:
    """Whether ``stored`` is a learned sampler whose draws cost no evaluations."""
    return is_amortized(stored["registry_name"]) and stored["costs"]["per_draw_evals"] == 0


def run_budget(stored: dict[str, Any], n: int, budget: float) -> tuple[int, float]:
    """(the validation run's budget, the evaluations the map predicts for ``n`` draws) of
    ``stored``'s option: a learned sampler with free draws keeps its ``budget``; every
    other method (chains, SMC, PITA, which pays per draw) gets the predicted evaluations."""
    predicted = predicted_evals(stored["costs"], n)
    return (int(budget) if free_draws(stored) else int(math.ceil(predicted))), predicted


def estimated_seconds(stored: dict[str, Any] | None, n: int) -> float:
    """Seconds a validation run of ``stored``'s method at ``n`` draws is expected to take:
    a learned sampler with free draws, its training as stored plus its sampling scaled to
    ``n``; any other method its stored seconds per budget unit times the evaluations
    predicted at ``n`` (its run's budget).
    Infinite without a stored cell."""
    if stored is None or "costs" not in stored:
        return math.inf
    train = float(stored.get("train_seconds") or 0)
    sample = float(stored.get("sample_seconds") or 0)
    if free_draws(stored):
        return train + sample * n / max(int(stored.get("n_samples") or n), 1)
    predicted = predicted_evals(stored["costs"], n)
    counts = stored.get("counts", {})
    spent = float(counts.get("cost_train", 0)) + float(counts.get("cost_sample", 0))
    return (train + sample) * predicted / max(spent, 1.0)


def point_seconds(cells: dict[tuple[str, str, float], dict[str, Any]], point: pd.Series) -> float:
    """Estimated seconds to run a point's winner and runner-up (:func:`estimated_seconds`)."""
    return sum(
        estimated_seconds(
            cells.get((str(point["target"]), str(point[role]), float(point[f"{role}_budget"]))),
            int(point["n_samples"]),
        )
        for role in ("winner", "runner_up")
    )


def pick_points(
    table: pd.DataFrame,
    per_target: int = 2,
    cells: dict[tuple[str, str, float], dict[str, Any]] | None = None,
    max_seconds: float = POINT_SECONDS,
) -> pd.DataFrame:
    """Points to check: the `floor` rows at N = 1e3, 1e4 or 1e5 and the prices 1 µs and
    1 s, ``per_target`` per target. Per target the first pick is a point won by a learned
    sampler, the next one won by a chain, then by another method, then any; among the
    candidates the N and the price least used so far are preferred (so that the picks
    spread over N and price), then the smaller N. With ``cells`` (:func:`stored_cells`),
    points estimated to take more than ``max_seconds`` are left out
    (:func:`point_seconds`)."""
    rows = table[
        (table["requirement"] == "floor")
        & (table["price"] != "measured")
        & table["seconds_per_eval"].isin([1e-6, 1.0])
        & (table["winner"] != "none")
        & (table["runner_up"] != "none")
    ]
    rows = rows[rows["n_samples"].isin([1000, 10_000, 100_000])]
    if cells is not None and len(rows):
        rows = rows[rows.apply(lambda p: point_seconds(cells, p), axis=1) <= max_seconds]
    picked: list[pd.Series] = []
    used_n: dict[int, int] = {}
    used_price: dict[float, int] = {}
    for _, sub in rows.groupby("target", sort=True):
        kind = sub["winner_kind"]
        wanted = [sub[kind == "learned"], sub[kind == "chain"], sub[kind != "learned"], sub]
        chosen: list[int] = []
        for group in wanted:
            group = group.drop(index=[i for i in chosen if i in group.index])
            if len(chosen) >= per_target or not len(group):
                continue
            order = sorted(
                group.index,
                key=lambda i: (
                    used_n.get(int(group.at[i, "n_samples"]), 0),
                    used_price.get(float(group.at[i, "seconds_per_eval"]), 0),
                    int(group.at[i, "n_samples"]),
                ),
            )
            take = order[: 1 if group is not wanted[-1] else per_target - len(chosen)]
            for i in take:
                chosen.append(i)
                n, price = int(sub.at[i, "n_samples"]), float(sub.at[i, "seconds_per_eval"])
                used_n[n] = used_n.get(n, 0) + 1
                used_price[price] = used_price.get(price, 0) + 1
        picked += [sub.loc[i] for i in chosen]
    return pd.DataFrame(picked).reset_index(drop=True) if picked else rows.head(0)


def stored_cells(folder: Path) -> dict[tuple[str, str, float], dict[str, Any]]:
    """One ok record per (target, method label, budget) of ``folder``, read once: the
    cell a validation run copies its method and params from."""
    cells: dict[tuple[str, str, float], dict[str, Any]] = {}
    for _, record, _ in iter_records(folder):
        if record is not None and record.get("status") == "ok":
            key = (record["target"], record["method"], record.get("budget"))
            cells.setdefault(key, record)
    return cells


def run_option(
    stored_by_key: dict[tuple[str, str, float], dict[str, Any]], point: pd.Series, role: str
) -> dict[str, Any]:
    """Run the point's ``role`` (``winner`` or ``runner_up``) at its N; one validation row."""
    target_name, n = str(point["target"]), int(point["n_samples"])
    method, budget = str(point[role]), float(point[f"{role}_budget"])
    stored = stored_by_key.get((target_name, method, budget))
    row: dict[str, Any] = {
        "target": target_name,
        "n_samples": n,
        "seconds_per_eval": float(point["seconds_per_eval"]),
        "requirement": point["requirement"],
        "threshold": float(point["threshold"]),
        "role": role,
        "method": method,
        "budget": budget,
        "predicted_seconds": float(point[f"{role}_cost_seconds"]),
    }
    if stored is None:
        return row | {"status": "no stored cell to copy"}
    price = row["seconds_per_eval"]
    budget_here, predicted_evals = run_budget(stored, n, budget)
    cell = resolve(
        Cell(
            suite="validation",
            target=target_name,
            method=stored["registry_name"],
            seed=SEED,
            params=tuple(sorted(stored.get("params", {}).items())),
            budget=budget_here,
            n_samples=n,
            label=method,
            # beyond DIRECT_MAX draws the quadratic metric is too slow: blocks below
            metrics=(stored["primary_metric"],) if n <= DIRECT_MAX else (),
        )
    )
    record, samples = execute_cell(cell, {})
    row |= {"predicted_evals": predicted_evals, "run_budget": budget_here}
    row["status"] = record["status"]
    if record["status"] != "ok" or samples is None:
        return row | {"error": record.get("error", "")}
    target = TARGETS.get(target_name)()
    counts = record["counts"]
    evals = float(counts["cost_train"]) + float(counts["cost_sample"])
    own = record["train_seconds"] + record["sample_seconds"] - float(counts["target_seconds"])
    row |= {"measured_evals": evals, "measured_seconds": evals * price + own}
    draws = torch.from_numpy(samples)
    metric = stored["primary_metric"]
    if n <= DIRECT_MAX:
        value = float(record["metrics"][metric])
        floor = noise_floors(target, [metric], n)[metric]
        excess = value - floor if floor is not None else math.nan
    else:
        bias = block_bias(target, draws, 2000)
        value, excess = bias["mean"], bias["value"]
    noise = spread(exact_levels(target), n)
    row |= {"measured_metric": value, "measured_excess": excess}
    row["delivers"] = bool(excess <= row["threshold"] + 2 * noise)
    return row


def validate(
    folder: Path,
    table: pd.DataFrame,
    per_target: int = 2,
    max_seconds: float = POINT_SECONDS,
    progress: bool = True,
) -> pd.DataFrame:
    """Run the winner and the runner-up at :func:`pick_points` of ``table`` (points
    estimated to take longer than ``max_seconds`` left out); one row each, with
    ``agrees`` on the winner's rows (the measured cheaper of the two that deliver is the
    map's winner). Prints one line per point to stderr when ``progress``."""
    rows = []
    cells = stored_cells(folder)
    points = pick_points(table, per_target, cells, max_seconds)
    for k, (_, point) in enumerate(points.iterrows()):
        if progress:
            print(
                f"validate {k + 1}/{len(points)}: {point['target']} N={int(point['n_samples'])}"
                f" at {point['seconds_per_eval']:g} s: {point['winner']} vs "
                f"{point['runner_up']} (about {point_seconds(cells, point):.0f} s)",
                file=sys.stderr,
                flush=True,
            )
        pair = [run_option(cells, point, role) for role in ("winner", "runner_up")]
        ok = [r for r in pair if r.get("delivers")]
        cheapest = min(ok, key=lambda r: r["measured_seconds"])["role"] if ok else "none"
        for r in pair:
            r["measured_cheapest"] = cheapest
            r["agrees"] = cheapest == "winner"
        rows += pair
    return pd.DataFrame(rows)
