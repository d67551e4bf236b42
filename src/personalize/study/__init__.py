"""Preference study: blind pairwise judgments of methods' outputs, ranked with Bradley-Terry.

* :mod:`~personalize.study.pairs`: build a study file from eval or compare run folders;
* :mod:`~personalize.study.store`: the SQLite study file (pairs, raters, judgments);
* :mod:`~personalize.study.server`: the local web page where people judge;
* :mod:`~personalize.study.raters`: machine raters (``oracle``, ``user-likeness``);
* :mod:`~personalize.study.rank`: Bradley-Terry strengths, bootstrap intervals, win rates, agreement.
"""

from personalize.study.pairs import StudyConfig, create_study
from personalize.study.rank import plot_ranking, rank_study
from personalize.study.raters import judge_study

__all__ = ["StudyConfig", "create_study", "judge_study", "plot_ranking", "rank_study"]
