"""Diagnostics of a gradient estimator that a user can call on their own estimator, checkpoint or
batch: how much variance it leaves, whether it is biased (with the power to tell), and what a perfect
model would allow. The benches (`rlcv bench variance`, `gradcheck`, `model-diag`) are protocols on
top of these.

- :mod:`rlcv.diagnostics.gradient_stats`: trace of the covariance from Gram matrices, paired
  bootstraps over batches, bias tests against a reference and their power (numpy / scipy only).
- :mod:`rlcv.diagnostics.ceiling`: the perfect-model ceiling of the k-step control variate.
- :mod:`rlcv.diagnostics.checkpoint`: a frozen checkpoint as a session, fresh batches, a dynamics
  model fitted on them, an estimator bound to the checkpoint.
- :mod:`rlcv.diagnostics.gradients`: an estimator's policy gradients on many batches and their spread,
  bias and variance shares.
- :mod:`rlcv.diagnostics.lqr`: a linear-Gaussian policy on ``rlcv/LQR-v0``, its exact gradient,
  per-estimate surrogate gradients and their bias tests.
- :mod:`rlcv.diagnostics.gradcheck`: the whole bias check of an estimator against that exact
  gradient as one call.
- :mod:`rlcv.diagnostics.cv_regression`: held-out regressions of the advantage on the CV's features
  (split η, one η per horizon block).
- :mod:`rlcv.diagnostics.estimator`: a registered estimator set up for a diagnostic.
- :mod:`rlcv.diagnostics.variance`: the whole variance measurement at a checkpoint (every k and η
  mode on common batches, the reference gradient, the ceiling) as one call.
"""
