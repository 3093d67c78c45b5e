"""Online hyper-parameter optimisation: the inner tasks (``inner_tasks``), their regularisers
(``regularizers``), the HPO methods as runners (``runners``, ``cosine_methods``) and their per-run
summaries read side by side and compared on paired seeds (``method_results``, with issue 30's targets in
``budget_targets`` and the tuning-seed choice of settings in ``setting_choice``), and the loss-landscape
probes (``landscape``) with the SGD paths they measure (``sgd_paths``, ``landscape_runs``), their
records (``landscape_records``) and the noise-scale readings of a sharpness sweep (``noise_scale``)."""
