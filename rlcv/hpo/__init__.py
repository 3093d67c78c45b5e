"""Online hyper-parameter optimisation: the inner tasks (``inner_tasks``), their regularisers
(``regularizers``), the HPO methods as runners (``runners``, ``cosine_methods``), and the loss-landscape
probes (``landscape``) with the SGD paths they measure (``sgd_paths``, ``landscape_runs``)."""
