"""Integer programming games (IPG) and their Nash equilibria by sampled generation (SGM / m-SGM).

After Carvalho, Dragotto, Lodi, Pedroso, "Computing equilibria for integer programming games" (EJOR 2022,
arXiv 2012.07082). Player p picks x^p in the feasible set of an integer programme and maximises a payoff
that is bilinear in the players' strategies (:mod:`rlcv.games.knapsack`). The sampled generation method
(:mod:`rlcv.games.sgm`) grows a finite set of pure strategies per player with exact best responses
(:mod:`rlcv.games.best_response`, HiGHS through scipy) and solves each finite sampled game by support
enumeration in the paper's orders (:mod:`rlcv.games.sampled_ne`; the sampled games are polymatrix, so
each support's test is an LP for any number of players), and past a work budget by one MIP-Nash MILP
(:mod:`rlcv.games.sampled_milp`) whose answer passes the same exact support test. Plain Porter–Nudelman–Shoham
(:mod:`rlcv.games.support_enumeration`, :mod:`rlcv.games.support_enumeration_nplayer`) serves the full
enumeration baseline (:mod:`rlcv.games.enumeration`); every result is graded by its exact NashConv
(:mod:`rlcv.games.nash_conv`). Games: the knapsack game (:mod:`rlcv.games.knapsack`) and the
lot-sizing game (:mod:`rlcv.games.lot_sizing`, exact DP best response). Instances:
:mod:`rlcv.games.instances`, the paper's files :mod:`rlcv.games.paper_files`. Solving at scale: one solve
as a graded JSON record (:mod:`rlcv.games.records`), resumable sweeps over instance sets and fresh draws
(:mod:`rlcv.games.sweep`), readings against the paper and full enumeration (:mod:`rlcv.games.comparisons`),
two commits' solvers side by side (:mod:`rlcv.games.versions`).
"""

from __future__ import annotations

from rlcv.games.knapsack import KnapsackGame
from rlcv.games.lot_sizing import LotSizingGame

__all__ = ["KnapsackGame", "LotSizingGame"]
