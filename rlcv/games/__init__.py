"""Integer programming games (IPG) and their Nash equilibria by sampled generation (SGM / m-SGM).

After Carvalho, Dragotto, Lodi, Pedroso, "Computing equilibria for integer programming games" (EJOR 2022,
arXiv 2012.07082). Player p picks x^p in the feasible set of an integer programme and maximises a payoff
that is bilinear in the players' strategies (:mod:`rlcv.games.knapsack`). The sampled generation method
(:mod:`rlcv.games.sgm`) grows a finite set of pure strategies per player with exact best responses
(:mod:`rlcv.games.best_response`, HiGHS through scipy) and solves each finite sampled game with
Porter–Nudelman–Shoham support enumeration (:mod:`rlcv.games.support_enumeration`); the result is graded
by its exact NashConv (:mod:`rlcv.games.nash_conv`). Instances: :mod:`rlcv.games.instances`.
"""

from __future__ import annotations

from rlcv.games.knapsack import KnapsackGame

__all__ = ["KnapsackGame"]
