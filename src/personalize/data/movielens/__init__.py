"""MovieLens: read and verify the published folders, build tasks from them, download them."""

from personalize.data.movielens.files import Movie, MovieLens, detect_format, read_movielens

__all__ = ["Movie", "MovieLens", "detect_format", "read_movielens"]
