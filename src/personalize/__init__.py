"""personalize: inject a user's context into a frozen LLM, and measure what it costs and gains."""

__version__ = "0.1.0"

from personalize.errors import PersonalizeError  # noqa: E402

__all__ = ["PersonalizeError", "__version__"]
