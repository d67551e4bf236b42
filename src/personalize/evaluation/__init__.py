"""Evaluation harness: run any method on a dataset, score it, and record everything."""

from personalize.evaluation.harness import EvalOptions, Evaluation, evaluate, normalise_answer

__all__ = ["EvalOptions", "Evaluation", "evaluate", "normalise_answer"]
