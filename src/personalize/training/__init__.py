"""Training soft-token adapters with the base LLM frozen."""

from personalize.training.trainer import TrainConfig, train

__all__ = ["TrainConfig", "train"]
