"""Evaluation harness: run any method on a dataset, score it, and record everything."""

from personalize.evaluation.harness import EvalOptions, evaluate, normalise_answer

__all__ = ["EvalOptions", "evaluate", "normalise_answer"]
