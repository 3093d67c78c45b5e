"""`rlcv eval`: load a run directory's final policy and evaluate it deterministically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rlcv import checkpoint
from rlcv.agents import SB3_ALGOS, agent_class
from rlcv.config import build_config
from rlcv.env_factory import make_env
from rlcv.errors import RlcvError
from rlcv.evaluation import evaluate
from rlcv.normalize import ObsNormalizer
from rlcv.policies import Policy


def read_meta(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise RlcvError(
            f"'{run_dir}' is not a run directory (no config.yaml); pass a folder made by `rlcv train`."
        )
    return yaml.safe_load(path.read_text())


def load_policy(run_dir: Path) -> tuple[dict[str, Any], Policy, ObsNormalizer]:
    """The run's final policy (``model.pt``, else the last checkpoint) and its frozen normaliser."""
    meta = read_meta(run_dir)
    cfg = meta["config"]
    if (run_dir / "model.pt").is_file():
        state = checkpoint.load(run_dir / "model.pt")
        policy_state, norm_state = state.get("policy"), state.get("obs_normalizer")
    else:
        state = checkpoint.load(run_dir / "checkpoints" / "last.pt")
        policy_state, norm_state = state.get("agent", {}).get("policy"), state.get("obs_normalizer")
    if policy_state is None or norm_state is None:
        raise RlcvError(
            f"'{run_dir}' holds no policy weights; the model file is from another tool or damaged."
        )
    env = make_env(meta["env"], cfg.get("env_kwargs"))
    # The run's own agent builds the policy, so agents with their own policy classes (controllers,
    # generators) evaluate like PPO does.
    config = build_config(agent_class(meta["algo"]).config_cls, cfg)
    agent = agent_class(meta["algo"])(
        observation_space=env.observation_space, action_space=env.action_space, config=config
    )
    policy = agent.policy
    normalizer = ObsNormalizer(
        env.observation_space.shape, enabled=cfg["normalize_obs"], clip=cfg["clip_obs"]
    )
    env.close()
    try:
        policy.load_state_dict(policy_state)
        normalizer.load_state_dict(norm_state)
    except (RuntimeError, KeyError) as exc:
        raise RlcvError(f"the model in '{run_dir}' does not match its config.yaml ({exc}).") from exc
    normalizer.training = False
    return meta, policy, normalizer


def eval_run(
    run_dir: str | Path,
    *,
    episodes: int,
    seed: int = 0,
    video_dir: str | None = None,
    grid_path: str | None = None,
) -> dict[str, Any]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RlcvError(
            f"run directory '{run_dir}' not found; pass the folder `rlcv train` wrote (see --run-dir)."
        )
    if episodes < 1:
        raise RlcvError(f"--episodes must be >= 1, got {episodes}.")
    meta = read_meta(run_dir)
    if meta["algo"] in SB3_ALGOS:
        from rlcv import sb3_runner

        return sb3_runner.evaluate_run(run_dir, meta, episodes=episodes, seed=seed, video_dir=video_dir)
    meta, policy, normalizer = load_policy(run_dir)
    env = make_env(meta["env"], meta["config"].get("env_kwargs"))
    if callable(getattr(env.unwrapped, "evaluate_policy", None)):
        try:
            return _eval_with_env_hook(
                run_dir,
                env,
                policy,
                normalizer,
                episodes=episodes,
                seed=seed,
                video_dir=video_dir,
                grid_path=grid_path,
            )
        finally:
            env.close()
    env.close()
    if grid_path is not None:
        raise RlcvError(
            f"--grid draws samples of generator envs (e.g. rlcv/BGAN-Digits-v0); {meta['env']} is not "
            f"one. Use --video DIR."
        )
    return evaluate(
        policy,
        meta["env"],
        episodes=episodes,
        obs_normalizer=normalizer,
        seed=seed,
        env_kwargs=meta["config"].get("env_kwargs"),
        video_dir=video_dir,
    )


def _saved_env_state(run_dir: Path) -> dict[str, Any] | None:
    """State an env learned during training (e.g. a discriminator), from model.pt or last.pt."""
    if (run_dir / "model.pt").is_file():
        return checkpoint.load(run_dir / "model.pt").get("env_state")
    states = checkpoint.load(run_dir / "checkpoints" / "last.pt").get("collector", {}).get("env_states")
    return states[0] if states else None


def _eval_with_env_hook(
    run_dir: Path,
    env: Any,
    policy: Policy,
    normalizer: ObsNormalizer,
    *,
    episodes: int,
    seed: int,
    video_dir: str | None,
    grid_path: str | None,
) -> dict[str, Any]:
    """Envs with an ``evaluate_policy`` hook (generator envs) evaluate with their own metrics, after
    loading what they learned during training."""
    if video_dir is not None:
        raise RlcvError("--video is not available for this env; use --grid FILE.png for a sample grid.")
    state = _saved_env_state(run_dir)
    if state is not None:
        try:
            env.unwrapped.load_state_dict(state)
        except (RuntimeError, KeyError) as exc:
            raise RlcvError(
                f"the env state saved in '{run_dir}' does not match its config.yaml ({exc})."
            ) from exc
    return env.unwrapped.evaluate_policy(
        policy, episodes=episodes, seed=seed, obs_normalizer=normalizer, grid_path=grid_path
    )
