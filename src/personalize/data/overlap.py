"""Word overlap between two texts (ROUGE from ``rouge_score``, no stemming), shared by the
metrics and by data augmentation's paraphrase filter, so that both count overlap the same way."""

from __future__ import annotations

from typing import Any

_ROUGE_SCORER: Any = None


def rouge_scorer() -> Any:
    """The one ``rouge_score.RougeScorer`` (ROUGE-1 and ROUGE-L, no stemming), built on first use."""
    global _ROUGE_SCORER
    if _ROUGE_SCORER is None:
        from rouge_score import rouge_scorer as module

        _ROUGE_SCORER = module.RougeScorer(["rouge1", "rougeL"], use_stemmer=False)
    return _ROUGE_SCORER


def rouge_1(reference: str, prediction: str) -> float:
    """ROUGE-1 F of one prediction against one reference, as the metrics count it."""
    return float(rouge_scorer().score(reference, prediction)["rouge1"].fmeasure)
