"""Online hyper-parameter optimisation: the inner tasks, their regularisers and the loss-landscape probes."""
