"""Errors a user can act on.

Library code raises :class:`PersonalizeError` (or a subclass) for anything caused by the user's
input or environment: a missing model package, a malformed file, an unknown name. The CLI turns
these into one clear line and a non-zero exit instead of a traceback.
"""

from __future__ import annotations


class PersonalizeError(Exception):
    """A problem the user can fix; its message says what and where."""


class DataError(PersonalizeError):
    """Bad input data: the message names the file and the record."""


class ModelNotAvailableError(PersonalizeError):
    """A bundled model's package is not installed; the message names the pip command."""


class ConfigError(PersonalizeError):
    """A configuration that cannot be used (unknown key, wrong type, unknown name)."""
