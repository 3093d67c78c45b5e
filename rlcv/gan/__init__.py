"""GAN generators as policies (BGAN, LDF): sample metrics, density baselines, f-divergences, patches."""
