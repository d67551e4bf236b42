"""Collect every results.json under a folder into one markdown table (printed and saved).

    python benchmarks/collect.py runs/text-baseline/lamp7
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs")
    rows = []
    for path in sorted(root.rglob("results.json")):
        r = json.loads(path.read_text())
        rows.append((path.parent.relative_to(root).as_posix(), r))
    if not rows:
        sys.exit(f"no results.json under {root}")
    metric_names = list(rows[0][1]["metrics"])
    header = ["run", "mode", *metric_names, "context tok", "prompt tok", "ex/s", "n"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, r in rows:
        m = r["metrics"]
        lines.append("| " + " | ".join([
            name, r["mode"], *[f"{m.get(k, float('nan')):.4f}" for k in metric_names],
            f"{r['mean_context_tokens']:.1f}", f"{r['mean_prompt_tokens']:.1f}",
            f"{r['examples_per_second']:.2f}", str(r["n_examples"]),
        ]) + " |")
    table = "\n".join(lines)
    print(table)
    (root / "summary.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
