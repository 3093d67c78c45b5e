"""rlcv.bench.runs, the benches' one subprocess runner, with a fake `rlcv train` (a few lines of Python
that write a run folder or fail), so each test takes a fraction of a second per run."""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from rlcv.bench import runs, summaries
from rlcv.bench.runs import ResultStore, SummaryStore, Task, run_tasks
from rlcv.errors import RlcvError
from rlcv.run_dir import RunDir

# Writes what a finished run leaves (metrics.csv reaching --steps, the final policy), or fails like
# `rlcv train` on a bad setting ("fail" in the arguments), or stops early and exits 0 ("short").
FAKE_TRAIN = """
import os, sys, pathlib
args = sys.argv[1:]
run = pathlib.Path(args[args.index("--run-dir") + 1])
if "fail" in args:
    sys.stderr.write("Traceback ...\\nrlcv: error: unknown config key 'fail'\\n")
    sys.exit(2)
steps = int(args[args.index("--steps") + 1])
run.mkdir(parents=True)
(run / "metrics.csv").write_text(f"step\\n{steps // 2 if 'short' in args else steps}\\n")
(run / "policy.pt").write_text(os.environ.get("OMP_NUM_THREADS", "unset"))
"""


@pytest.fixture(autouse=True)
def fake_train(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        runs,
        "train_command",
        lambda train_args, run_dir: [
            sys.executable,
            "-c",
            FAKE_TRAIN,
            *train_args,
            "--run-dir",
            str(run_dir),
        ],
    )


def job(root: Path, name: str, *extra: str, steps: int = 100) -> runs.RunJob:
    return runs.RunJob(name, root / name, ["train", "--steps", str(steps), *extra], steps)


def test_runs_what_is_missing_then_skips_finished_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = [job(tmp_path, "a"), job(tmp_path, "b")]
    lines: list[str] = []
    report = runs.execute(jobs, workers=2, echo=lines.append)
    assert [o.ok for o in report.outcomes] == [True, True] and report.failures == []
    assert lines[0] == "running 2 run(s) on 2 local worker(s)"
    for j in jobs:
        assert RunDir(j.run_dir).is_finished(100)
        assert (j.run_dir / "policy.pt").read_text() == "1"  # one BLAS thread per process
        assert json.loads(j.args_path.read_text()) == {"train_args": j.train_args}

    def no_training(*args: object) -> None:
        raise AssertionError("a finished run was started again")

    monkeypatch.setattr(runs, "run_local", no_training)
    lines.clear()
    report = runs.execute(jobs, workers=2, echo=lines.append)
    assert report.skipped == jobs and report.outcomes == []
    assert lines == [f"skipping 2 finished run(s) already in {tmp_path}", "nothing to run"]


def test_unfinished_run_is_moved_aside_and_restarted(tmp_path: Path) -> None:
    partial = tmp_path / "a"
    partial.mkdir()
    (partial / "metrics.csv").write_text("step\n50\n")  # killed half-way: no final policy
    report = runs.execute([job(tmp_path, "a")], workers=1, echo=lambda _: None)
    assert report.failures == [] and RunDir(partial).is_finished(100)
    assert (tmp_path / "a.incomplete" / "metrics.csv").read_text() == "step\n50\n"


def test_finished_run_made_with_other_arguments_is_an_error_before_anything_runs(tmp_path: Path) -> None:
    runs.execute([job(tmp_path, "a"), job(tmp_path, "b", "--seed", "1")], workers=1, echo=lambda _: None)
    (tmp_path / "b").rename(tmp_path / "b_kept")  # b unfinished now: it must not be moved aside on error
    (tmp_path / "b").mkdir()
    with pytest.raises(RlcvError, match=r"1 finished run\(s\) were made with other settings") as err:
        runs.execute(
            [job(tmp_path, "a", "--set", "gamma=0.9"), job(tmp_path, "b", "--seed", "1")],
            fix="use another --out",
            echo=lambda _: None,
        )
    message = str(err.value)
    assert "`rlcv train --steps 100`" in message and "use another --out, or delete" in message
    assert (tmp_path / "b").is_dir() and not (tmp_path / "b.incomplete").exists()


def test_records_of_the_older_list_format_are_read(tmp_path: Path) -> None:
    a = job(tmp_path, "a")
    runs.execute([a], workers=1, echo=lambda _: None)
    a.args_path.write_text(json.dumps(["train", "--run-dir", str(a.run_dir), "--steps", "100"]))
    assert runs.recorded_args(a) == a.train_args
    assert runs.triage([a]) == ([a], [])
    a.args_path.write_text("not json")  # an unreadable record is trusted, like a missing one
    assert runs.recorded_args(a) is None and runs.triage([a]) == ([a], [])


def test_a_failing_run_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    jobs = [job(tmp_path, "bad", "fail"), job(tmp_path, "short", "short"), job(tmp_path, "good")]
    lines: list[str] = []
    report = runs.execute(jobs, workers=1, echo=lines.append)
    assert len(report.outcomes) == 3
    by_name = {o.job.name: o for o in report.outcomes}
    assert by_name["good"].ok and RunDir(tmp_path / "good").is_finished(100)
    assert [o.job.name for o in report.failures] == ["bad", "short"]
    bad, short = by_name["bad"], by_name["short"]
    assert bad.returncode == 2 and bad.last_line == "rlcv: error: unknown config key 'fail'"
    assert "Traceback" in bad.stderr_tail
    assert short.returncode == 0 and short.last_line.startswith("exited 0 but left no policy")
    assert "[1/3] bad FAILED: rlcv: error: unknown config key 'fail'" in lines[1]


def test_unknown_backend_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RlcvError, match="--backend must be 'local' or 'ray'"):
        runs.execute([job(tmp_path, "a")], backend="slurm")
    assert not (tmp_path / "a").exists()


def summary_job(root: Path, name: str, *extra: str) -> runs.RunJob:
    j = job(root / "runs", name, *extra)
    return runs.RunJob(j.name, j.run_dir, j.train_args, j.steps, summary=root / "summaries" / f"{name}.json")


def test_summary_is_written_when_a_run_finishes_and_skips_it_without_its_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = summary_job(tmp_path, "a")
    report = runs.execute([a], workers=1, echo=lambda _: None)
    assert report.failures == [] and a.summary is not None
    summary = json.loads(a.summary.read_text())
    assert summary["name"] == "a" and summary["train_args"] == a.train_args and summary["steps"] == 100
    assert summary["final"] == {"step": 100.0} and summary["eval"]["steps"] == []
    assert summary["wall_seconds"] == report.outcomes[0].seconds

    shutil.rmtree(tmp_path / "runs")  # a fresh clone: summaries are committed, run folders are not
    monkeypatch.setattr(runs, "run_local", lambda *args: (_ for _ in ()).throw(AssertionError("ran again")))
    lines: list[str] = []
    report = runs.execute([a], workers=1, echo=lines.append)
    assert report.skipped == [a] and lines[-1] == "nothing to run"
    with pytest.raises(RlcvError, match=r"were made with other settings \(e.g. '.*a.json'"):
        runs.execute([summary_job(tmp_path, "a", "--seed", "1")], echo=lambda _: None)


def test_summary_reads_eval_rows_and_is_made_for_runs_finished_before_it_was_asked_for(
    tmp_path: Path,
) -> None:
    a = summary_job(tmp_path, "a")
    a.run_dir.mkdir(parents=True)
    (a.run_dir / "metrics.csv").write_text(
        "step,time_elapsed,eval_return_mean,eval_return_std,value_loss\n50,1.5,,,0.25\n100,3.0,7.5,0.5,nan\n"
    )
    (a.run_dir / "policy.pt").write_text("")
    assert runs.triage([a]) == ([a], [])
    assert a.summary is not None
    summary = json.loads(a.summary.read_text())
    assert summary["eval"] == {"steps": [100], "return_mean": [7.5], "return_std": [0.5]}
    assert summary["final"] == {
        "step": 100.0,
        "time_elapsed": 3.0,
        "eval_return_mean": 7.5,
        "eval_return_std": 0.5,
        "value_loss": None,
    }
    assert summary["wall_seconds"] == 3.0
    a.summary.write_text("{}")
    with pytest.raises(RlcvError, match="is not a run summary"):
        runs.triage([a])


def test_a_sweep_of_hours_says_so_before_it_starts(tmp_path) -> None:
    from rlcv.bench.runs import RunJob, duration_warning

    short = [RunJob(f"s{i}", tmp_path / f"s{i}", [], 10_000) for i in range(4)]
    long = [RunJob(f"s{i}", tmp_path / f"s{i}", [], 1_000_000) for i in range(20)]
    assert duration_warning(short, 2) is None
    text = duration_warning(long, 2)
    assert text is not None and "20 run(s), 20,000,000 env steps" in text and "2.8 h on 2 worker(s)" in text


# -- in-process tasks (run_tasks) -------------------------------------------------------------------
def _task(name: str, value: float, calls: list[str] | None = None) -> Task:
    def compute() -> dict[str, float]:
        if calls is not None:
            calls.append(name)
        return {"value": value}

    return Task(name, {"name": name}, compute)


def test_run_tasks_computes_what_is_missing_stores_it_and_reuses_it(tmp_path: Path) -> None:
    store, calls, lines = SummaryStore(tmp_path), [], []
    tasks = [_task("a", 1.0, calls), _task("b", 2.0, calls)]
    assert run_tasks(store, tasks, echo=lines.append) == {"a": {"value": 1.0}, "b": {"value": 2.0}}
    assert calls == ["a", "b"] and lines[0].startswith("running 2 run(s) on 1 local worker(s); 0 finished")
    stored = json.loads((tmp_path / "a.json").read_text())
    assert stored == {"params": {"name": "a"}, "result": {"value": 1.0}}
    more = [*tasks, _task("c", float("nan"), calls)]  # a NaN result reads back as NaN
    out = run_tasks(store, more, echo=lines.append)
    assert calls == ["a", "b", "c"] and list(out) == ["a", "b", "c"]
    assert out["c"]["value"] != out["c"]["value"]
    assert run_tasks(store, more, report_only=True, echo=lines.append)["b"] == {"value": 2.0}


def test_run_tasks_refuses_stale_or_missing_summaries_before_running_anything(tmp_path: Path) -> None:
    store, calls = SummaryStore(tmp_path), []
    store.put("b", {"name": "other"}, {"value": 0.0})  # made with other params
    with pytest.raises(RlcvError, match="made with other parameters"):
        run_tasks(store, [_task("a", 1.0, calls), _task("b", 2.0, calls)], echo=lambda _: None)
    with pytest.raises(RlcvError, match=r"--report-only: .*a\.json is missing \(1 run\(s\) missing\)"):
        run_tasks(store, [_task("a", 1.0, calls)], report_only=True, echo=lambda _: None)
    with pytest.raises(RlcvError, match="--backend must be"):
        run_tasks(store, [_task("a", 1.0, calls)], backend="slurm")
    assert calls == [] and not (tmp_path / "a.json").exists()


@pytest.mark.expensive  # ~2 s: two spawned worker processes start
def test_run_tasks_on_a_process_pool(tmp_path: Path) -> None:
    import functools

    store = SummaryStore(tmp_path)
    tasks = [Task(f"t{i}", {"i": i}, functools.partial(dict, i=i)) for i in range(3)]  # picklable
    out = run_tasks(store, tasks, workers=2, echo=lambda _: None)
    assert out == {"t0": {"i": 0}, "t1": {"i": 1}, "t2": {"i": 2}} and len(list(tmp_path.glob("*.json"))) == 3


def test_a_summary_whose_preset_changed_since_is_refused_and_a_new_key_is_not(tmp_path: Path) -> None:
    """Same arguments, other resolved config (a preset edited after the run): refused before anything
    runs; a key the run did not know (added since with a default) does not count."""
    args = ["train", "--algo", "ppo", "--env", "Pendulum-v1", "--steps", "100"]
    a = runs.RunJob("a", tmp_path / "runs" / "a", args, 100, summary=tmp_path / "summaries" / "a.json")
    planned = summaries.planned_config(args)
    assert planned is not None and "ent_coef" in planned and a.summary is not None
    assert summaries.planned_config([*args, "--set", "gamma=0.5"])["gamma"] == 0.5  # type: ignore[index]
    a.summary.parent.mkdir(parents=True)
    old = {k: v for k, v in planned.items() if k != "ent_coef"}  # made before ent_coef existed
    a.summary.write_text(json.dumps({"train_args": args, "eval": {}, "final": {}, "config": old}))
    assert runs.triage([a]) == ([a], [])
    old["estimator_settings"] = {**(old.get("estimator_settings") or {}), "unknown_then": 1}
    old["gamma"] = planned["gamma"] / 2  # the preset's gamma changed since
    a.summary.write_text(json.dumps({"train_args": args, "eval": {}, "final": {}, "config": old}))
    with pytest.raises(RlcvError, match=r"1 finished run\(s\) were made with a config their arguments no"):
        runs.triage([a], fix="use another --out")


def test_config_differs_compares_shared_keys_recursively() -> None:
    assert not summaries.differs({"a": 1, "s": {"k": 2}}, {"a": 1, "s": {"k": 2, "new": 0}, "b": 3})
    assert summaries.differs({"a": 1, "s": {"k": 2}}, {"a": 1, "s": {"k": 3}})
    assert not summaries.differs({"a": 1}, None)


def test_result_store_keeps_the_result_alone_and_run_tasks_reuses_it(tmp_path: Path) -> None:
    store, calls = ResultStore(tmp_path), []

    def compute() -> dict[str, float]:
        calls.append(1)
        return {"x": 1.5}

    task = Task("a_s0", {}, compute)
    assert run_tasks(store, [task], echo=lambda _: None) == {"a_s0": {"x": 1.5}}
    assert (tmp_path / "a_s0.json").read_text() == '{"x": 1.5}'  # as the HPO benches' per_run/ files
    assert run_tasks(store, [task], echo=lambda _: None) == {"a_s0": {"x": 1.5}} and calls == [1]
    assert store.get("missing", {}) is None


def test_run_local_stopped_starts_nothing_more_and_stops_what_runs(tmp_path, monkeypatch) -> None:
    """A sweep stopped by Ctrl-C / SIGTERM (here: its consumer closes the generator) cancels the queued
    runs and terminates the running one, instead of waiting for the whole queue (a bug: the thread pool
    went on launching every queued run after the bench had been told to stop)."""
    import time

    def command(train_args: list[str], run_dir: Path) -> list[str]:
        code = f"import pathlib, time; pathlib.Path({str(run_dir)!r}).touch(); time.sleep({train_args[0]})"
        return [sys.executable, "-c", code]

    monkeypatch.setattr(runs, "train_command", command)
    jobs = [runs.RunJob(f"j{i}", tmp_path / f"j{i}", [t], 1) for i, t in enumerate(["0", "30", "0"])]
    start = time.perf_counter()
    gen = runs.run_local(jobs, 1)
    assert next(gen).job.name == "j0"
    time.sleep(0.5)  # let j1 start
    gen.close()
    assert time.perf_counter() - start < 20  # j1 was terminated, not waited for
    assert (tmp_path / "j1").exists() and not (tmp_path / "j2").exists()  # j2 never started


def test_ray_finished_yields_each_call_once_as_its_task_ends() -> None:
    """The Ray backends' shared wait loop, on a stand-in for ``ray`` (Ray is optional): every key comes
    back once with its own result, in the order the tasks end (here: last submitted first)."""

    class FakeRay:
        def remote(self, **options: Any) -> Any:
            assert options == {"num_cpus": 1, "max_retries": 0}
            return lambda body: types.SimpleNamespace(remote=lambda arg: ("ref", body(arg)))

        def wait(self, refs: list[Any], num_returns: int) -> tuple[list[Any], list[Any]]:
            return [refs[-1]], refs[:-1]

    out = list(runs.ray_finished(FakeRay(), lambda x: x * 10, [("a", 1), ("b", 2), ("c", 3)]))
    assert out == [("c", ("ref", 30)), ("b", ("ref", 20)), ("a", ("ref", 10))]
