"""Gymnasium environments of the project, registered under the ``rlcv/`` namespace.

This folder sits at the top of the repository (as users asked) and installs as ``rlcv.envs``.
Adding an environment is one new file here plus one line in :data:`PROJECT_ENVS`.
"""

from gymnasium.envs.registration import register, registry

PROJECT_ENVS: dict[str, str] = {
    "rlcv/LQR-v0": "rlcv.envs.lqr:LQREnv",
    "rlcv/BGAN-Digits-v0": "rlcv.envs.bgan_digits:BGANDigitsEnv",
    "rlcv/BGAN-Digits4-v0": "rlcv.envs.bgan_digits:BGANDigits4Env",
    "rlcv/BGAN-DigitsCont-v0": "rlcv.envs.bgan_digits:BGANDigitsContEnv",
    "rlcv/OnlineHPO-v0": "rlcv.envs.online_hpo:OnlineHPOEnv",
    "rlcv/ResidualHPO-v0": "rlcv.envs.residual_hpo:ResidualHPOEnv",
    "rlcv/KnapsackGame-v0": "rlcv.envs.knapsack_game:KnapsackGameEnv",
    "rlcv/BGAN-DigitPatches-v0": "rlcv.envs.bgan_patches:BGANDigitPatchesEnv",
    "rlcv/BGAN-DigitCodes-v0": "rlcv.envs.bgan_patches:BGANDigitCodesEnv",
    "rlcv/LotSizingGame-v0": "rlcv.envs.lot_sizing_game:LotSizingGameEnv",
}

for _env_id, _entry_point in PROJECT_ENVS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry_point)
