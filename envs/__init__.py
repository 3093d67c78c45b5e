"""Gymnasium environments of the project, registered under the ``rlcv/`` namespace."""

from gymnasium.envs.registration import register, registry

PROJECT_ENVS: dict[str, str] = {
    "rlcv/LQR-v0": "rlcv.envs.lqr:LQREnv",
}

for _env_id, _entry_point in PROJECT_ENVS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry_point)
