"""Data layer: tasks, the common schema, and loaders for LaMP, native folders and synthetic users."""

from personalize.data.inspect import inspect_dataset
from personalize.data.lamp import OFFICIAL_BASE, download_lamp, load_lamp
from personalize.data.loading import load_dataset
from personalize.data.native import load_native, save_native
from personalize.data.schema import Example, HistoryItem, PersonalizationDataset, UserProfile
from personalize.data.synthetic import load_synthetic, make_preference_dataset, make_style_dataset
from personalize.data.tasks import TASKS, TaskSpec, get_task

__all__ = [
    "OFFICIAL_BASE",
    "TASKS",
    "Example",
    "HistoryItem",
    "PersonalizationDataset",
    "TaskSpec",
    "UserProfile",
    "download_lamp",
    "get_task",
    "inspect_dataset",
    "load_dataset",
    "load_lamp",
    "load_native",
    "load_synthetic",
    "make_preference_dataset",
    "make_style_dataset",
    "save_native",
]
