"""Hyper-parameter controllers for ``rlcv/OnlineHPO-v0``, by family (see :mod:`.base`)."""
