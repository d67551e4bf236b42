"""MovieLens: read and verify the published folders, build tasks from them, download them.

See :mod:`~personalize.data.movielens.files` (formats and verification),
:mod:`~personalize.data.movielens.tasks` (records, protocols, item text, prompts) and
:mod:`~personalize.data.movielens.download`.
"""

from personalize.data.movielens.download import MOVIELENS_DOWNLOADS, download_movielens, movielens_dir
from personalize.data.movielens.files import Movie, MovieLens, detect_format, read_movielens
from personalize.data.movielens.tasks import (
    LIKE_TASK,
    RATING_TASK,
    MovieLensOptions,
    load_movielens,
    parse_options,
    split_records,
    tallrec_input,
)

__all__ = [
    "LIKE_TASK",
    "MOVIELENS_DOWNLOADS",
    "RATING_TASK",
    "Movie",
    "MovieLens",
    "MovieLensOptions",
    "detect_format",
    "download_movielens",
    "load_movielens",
    "movielens_dir",
    "parse_options",
    "read_movielens",
    "split_records",
    "tallrec_input",
]
