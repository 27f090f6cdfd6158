"""A cell's cost decomposed into a fixed part and a part per draw, in evaluations and in
seconds, so that the cost of N draws can be predicted: ``fixed + N · per_draw``.

Three kinds of method:

- **chain** (the method keeps its production draws as chains, ``draws`` [chains, rounds, d]:
  ULA, MALA, HMC, NUTS, PT): fixed = the warm-up W, everything charged before the first
  production draw (the ``train`` phase); per draw = the production cost divided by the
  effective number of draws. Where that is limited by mode indicators at about one draw
  per chain (chains that never change mode), longer chains add nothing: N effective draws
  then take N new chains, and fixed = 0, per draw = (W + production) / ESS. The effective
  number is the smallest bulk ESS over the target's declared statistics
  (:func:`boltzbench.score.ess.declared_statistics`: every coordinate, the energy, the
  mode indicators of a target with modes, and a molecule's slow statistics: the torsions
  of ``ethanol``, so ``md``'s cost per decorrelated conformation is measured there).
- **learned** (registered ``amortized = True``): fixed = the training cost T; per draw =
  the sampling cost divided by the draws (0 evaluations for a one-step generator).
- **direct** (any other, e.g. SMC, whose every draw carries its share of the run): fixed =
  the ``train`` cost (usually none); per draw = the sampling cost divided by the distinct
  draws (resampled copies of one particle are one draw).

Seconds are split the same way, each into time inside the target's energy (measured by the
counter per phase) and the method's own time (the rest of its ``fit`` or ``sample`` wall
time: network training and sampling, chain arithmetic). Records written before the counter
split its seconds by phase divide ``target_seconds`` between the phases in proportion to
their cost (``seconds_split`` says which). ``target_seconds_per_eval`` is seconds inside the
energy per budget unit. The effective sizes come from
:mod:`boltzbench.score.ess`; everything here is arithmetic on a record's fields, so the
report can decompose a record that was scored before this existed.
"""

from __future__ import annotations

import math
from typing import Any

from boltzbench.registry import is_amortized


def _phase_seconds(record: dict[str, Any]) -> tuple[float, float, str]:
    """Seconds inside the target per phase (train, sample) and how they were obtained."""
    counts = record.get("counts", {})
    if "target_seconds_train" in counts:
        return (
            float(counts["target_seconds_train"]),
            float(counts["target_seconds_sample"]),
            "measured",
        )
    total = float(counts.get("target_seconds") or 0.0)
    train = float(counts.get("cost_train") or 0.0)
    sample = float(counts.get("cost_sample") or 0.0)
    share = train / (train + sample) if train + sample > 0 else 0.0
    return total * share, total * (1 - share), "by cost share"


def cost_kind(record: dict[str, Any]) -> str:
    """``chain``, ``learned`` or ``direct`` (see the module docstring)."""
    name = record.get("registry_name") or record.get("method", "")
    try:
        if is_amortized(name):
            return "learned"
    except Exception:  # an unregistered plugin: judge by what the record holds
        pass
    if record.get("chain_shape") or "ess_bulk" in record.get("diagnostics", {}):
        return "chain"
    return "direct"


def _modes_stuck(record: dict[str, Any]) -> bool:
    """Whether a chain record's smallest ESS is its mode indicators' at about one draw per
    chain (within 1.5×): chains that keep the mode they started in."""
    ess, shape = record.get("ess") or {}, record.get("chain_shape")
    if not shape or "modes" not in ess or ess.get("min") != ess["modes"]:
        return False
    return float(ess["modes"]) <= 1.5 * float(shape[0])


def decompose(record: dict[str, Any]) -> dict[str, Any]:
    """The record's cost as ``fixed + N · per_draw``, in budget units and seconds (see the
    module docstring). Reads ``counts``, ``train_seconds``, ``sample_seconds``,
    ``n_samples`` and, for a chain, ``ess`` (else its ``diag_ess_bulk``, coordinates only)."""
    counts = record.get("counts", {})
    n = int(record.get("n_samples") or 0)
    kind = cost_kind(record)
    fixed_evals = float(counts.get("cost_train") or 0.0)
    production = float(counts.get("cost_sample") or 0.0)
    t_train, t_sample, split = _phase_seconds(record)
    m_train = max(float(record.get("train_seconds") or 0.0) - t_train, 0.0)
    m_sample = max(float(record.get("sample_seconds") or 0.0) - t_sample, 0.0)
    n_eff, ess_from = float(n), "draws"
    if kind == "chain":
        ess = record.get("ess") or {}
        diagnostics = record.get("diagnostics", {})
        if "min" in ess:
            n_eff, ess_from = float(ess["min"]), "declared statistics"
        elif "ess_bulk" in diagnostics:
            n_eff = float(diagnostics["ess_bulk"])
            ess_from = "coordinates (method's own diagnostic)"
        else:  # too few rounds to split a chain: one draw per independent chain is sure
            n_eff = float(record["chain_shape"][0])
            ess_from = "chains (too few rounds for an ESS)"
        n_eff = min(n_eff, float(n)) if n else n_eff
    if kind == "chain" and _modes_stuck(record):
        # the chains never change mode: more length adds no effective draw of the mode
        # shares, so N effective draws take N new chains, each with its warm-up
        production += fixed_evals
        fixed_evals = 0.0
        m_sample, m_train = m_sample + m_train, 0.0
        t_sample, t_train = t_sample + t_train, 0.0
        ess_from = "new chains (the chains do not change mode)"
    elif kind == "direct" and record.get("distinct_fraction") is not None:
        # resampled particles: copies of one draw are one draw
        n_eff, ess_from = n * float(record["distinct_fraction"]), "distinct draws"
    per = 1.0 / n_eff if n_eff and math.isfinite(n_eff) and n_eff > 0 else math.nan
    probe = record.get("draw_probe") or {}
    per_draw_at = n
    if kind != "chain" and probe.get("sizes"):  # a draw timed at the largest probe batch
        per_draw_at = int(probe["sizes"][-1])
        # the method's seconds per draw there, scaled to the cell's n draws
        m_sample = max(n * float(probe["seconds"][-1]) / per_draw_at - t_sample, 0.0)
    evaluated = float(counts.get("cost_train") or 0.0) + float(counts.get("cost_sample") or 0.0)
    return {
        "kind": kind,
        "n_draws": n,
        "n_effective": n_eff,
        "effective_from": ess_from,
        "fixed_evals": fixed_evals,
        "per_draw_evals": production * per,
        "fixed_target_seconds": t_train,
        "fixed_method_seconds": m_train,
        "per_draw_target_seconds": t_sample * per,
        "per_draw_method_seconds": m_sample * per,
        "fixed_seconds": t_train + m_train,
        "per_draw_seconds": (t_sample + m_sample) * per,
        # seconds inside the energy per budget unit: the price the map's unit is charged at
        "target_seconds_per_eval": (t_train + t_sample) / evaluated if evaluated else math.nan,
        "seconds_split": split,
        "per_draw_seconds_at": per_draw_at,
    }


def predicted_evals(costs: dict[str, Any], n_draws: float) -> float:
    """Evaluations (budget units) to deliver ``n_draws`` effective draws: fixed + N · per
    draw."""
    return costs["fixed_evals"] + n_draws * costs["per_draw_evals"]


def predicted_cost(
    costs: dict[str, Any], n_draws: float, seconds_per_eval: float | None = None
) -> tuple[float, float]:
    """(evaluations, seconds) to deliver ``n_draws`` effective draws with the decomposed
    ``costs``; with ``seconds_per_eval`` the target's measured time is replaced by that
    price per evaluation (budget unit) and the method's own seconds are kept."""
    evals = predicted_evals(costs, n_draws)
    if seconds_per_eval is None:
        seconds = costs["fixed_seconds"] + n_draws * costs["per_draw_seconds"]
    else:
        own = costs["fixed_method_seconds"] + n_draws * costs["per_draw_method_seconds"]
        seconds = evals * seconds_per_eval + own
    return evals, seconds
