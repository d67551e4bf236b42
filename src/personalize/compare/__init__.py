"""Compare personalization methods on the same examples: quality, context size, cost, speed.

``personalize compare --config FILE`` runs every method of a :class:`ComparisonConfig` through the
evaluation harness with one base model, measures time to first token, decode speed and peak
memory, and writes ``comparison.json``, ``comparison.md``, two plots and a self-contained
``report.html``.
"""

from personalize.compare.config import ComparisonConfig, MethodSpec, load_comparison_config
from personalize.compare.latency import measure_latency
from personalize.compare.report import write_report
from personalize.compare.runner import run_comparison
from personalize.compare.tables import table_cells

__all__ = [
    "ComparisonConfig",
    "MethodSpec",
    "load_comparison_config",
    "measure_latency",
    "run_comparison",
    "table_cells",
    "write_report",
]
