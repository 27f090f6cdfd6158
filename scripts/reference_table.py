"""Print the README's table of generated references from results/references/*.json
(written by `boltzbench reference TARGETS --out results/references`)."""

import json
import sys
from pathlib import Path

folder = Path(sys.argv[1] if len(sys.argv) > 1 else "results/references")
HEADER = (
    "| target | n | seconds | R-hat (energy) | ESS (energy) "
    "| ours: energy mean, sd; mean distance | checks |"
)
print(HEADER)
print("|---|---|---|---|---|---|---|")
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
    print(
        f"| `{p['target']}` | {p['n']} | {p['seconds']:.0f} | {p['r_hat_energy']:.3f} | "
        f"{p['ess_energy']:.0f} | {ours} | {checks} |"
    )
