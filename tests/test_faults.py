"""Fault injection in real processes: `python -m tinytransformer train` killed with SIGKILL at
random moments while it writes a checkpoint every step, stopped with SIGTERM and SIGINT, and
run under a file-size limit (the disk filling up). After every fault each checkpoint on disk
loads, and a run resumed from it ends exactly where an uninterrupted run ends.

The runs are the "tiny" preset with an evaluation (and so a checkpoint) at every step."""

import json
import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tinytransformer.training.checkpoint import load_checkpoint

STEPS = 30
FLAGS = ["--preset", "tiny", "--max-iters", str(STEPS), "--eval-interval", "1", "--eval-iters",
         "1", "--quiet", "--sample-tokens", "0", "--seed", "5"]  # fmt: skip


def command(out, *flags):
    return [sys.executable, "-m", "tinytransformer", "train", *FLAGS, "--out", str(out), *flags]


def run(out, *flags, **kw):
    return subprocess.run(command(out, *flags), capture_output=True, text=True, timeout=300, **kw)


def start(out, *flags, **kw):
    return subprocess.Popen(command(out, *flags), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)  # fmt: skip


def wait_for_step(out, step, proc, timeout=120):
    """Block until the run in `out` has logged an evaluation at `step` (or has ended)."""
    deadline = time.monotonic() + timeout
    metrics = out / "metrics.jsonl"
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.is_file() and any(
            json.loads(line)["step"] >= step for line in metrics.read_text().splitlines() if line
        ):
            return
        time.sleep(0.05)


def final_state(out):
    ckpt = load_checkpoint(out / "ckpt.npz")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return ckpt.step, ckpt.model.params, [(r["step"], r["train_loss"], r["val_loss"]) for r in rows]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    assert run(out).returncode == 0
    return final_state(out)


def test_kill_9_at_random_moments_loses_nothing(tmp_path, uninterrupted):
    out = tmp_path / "killed"
    rng = np.random.default_rng(0)
    kills = 0
    while kills < 12:
        resume = ["--resume"] if (out / "ckpt.npz").is_file() else ["--overwrite"]
        proc = start(out, *resume)
        wait_for_step(out, 1, proc)  # past start-up: the loop is writing checkpoints
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is not None:  # it finished before the kill: start again from scratch
            out_done = proc.returncode
            assert out_done == 0, proc.stderr.read()
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        for name in ("ckpt.npz", "best.npz"):  # whatever is on disk is a whole checkpoint
            if (out / name).is_file():
                load_checkpoint(out / name)
    assert kills >= 10
    done = run(out, "--resume")  # the lock of the last killed run is taken over
    assert done.returncode == 0, done.stderr
    step, params, rows = final_state(out)
    w_step, w_params, w_rows = uninterrupted
    assert step == w_step == STEPS
    assert all(np.array_equal(params[n], w_params[n]) for n in w_params)  # bit-identical
    assert rows == w_rows  # every evaluation logged once, with the same losses
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_save_and_exit_non_zero(tmp_path, uninterrupted, sig, status):
    out = tmp_path / "stopped"
    proc = start(out)
    wait_for_step(out, 3, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    stopped_at = load_checkpoint(out / "ckpt.npz").step
    assert 3 <= stopped_at < STEPS
    assert run(out, "--resume").returncode == 0
    step, params, rows = final_state(out)
    assert step == STEPS and rows == uninterrupted[2]
    assert all(np.array_equal(params[n], uninterrupted[1][n]) for n in params)


def test_a_full_disk_is_one_line_and_keeps_the_last_checkpoint(tmp_path):
    out = tmp_path / "full"
    assert run(out, "--max-iters", "2").returncode == 0
    good = (out / "ckpt.npz").read_bytes()

    def small_disk():  # a process may write files of at most 64 kB: a checkpoint is larger
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so that write() fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (64_000, 64_000))

    result = run(out, "--resume", "--max-iters", "4", preexec_fn=small_disk)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr
    assert "ckpt.npz" in lines[0] and "larger than this process may write" in lines[0]
    assert (out / "ckpt.npz").read_bytes() == good  # the old checkpoint is whole
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())
    assert run(out, "--resume", "--max-iters", "4").returncode == 0  # and the run goes on
    assert os.path.getsize(out / "ckpt.npz") > 64_000


def test_a_full_disk_during_a_metrics_row_leaves_a_torn_line_that_resume_repairs(
    tmp_path, uninterrupted
):
    """The disk fills in the middle of a metrics.jsonl row: one clear line, half a row left.
    A torn last line is what a crash leaves in an append-only log, so resume drops it, says
    so, and goes on to end exactly where an uninterrupted run ends."""
    out = tmp_path / "torn"
    proc = start(out)  # the uninterrupted run's settings, stopped (and saved) after a few steps
    wait_for_step(out, 3, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM
    step = load_checkpoint(out / "ckpt.npz").step
    # the resume keeps the rows before its step, then appends the one of that step
    rows = (out / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    size = len(b"".join(r for r in rows if json.loads(r)["step"] < step))

    def full_in_the_next_row():  # room for the rows kept, and 20 bytes of the next one
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 20, size + 20))

    result = run(out, "--resume", preexec_fn=full_in_the_next_row)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and "metrics.jsonl" in lines[0], lines
    torn = (out / "metrics.jsonl").read_bytes()
    assert len(torn) == size + 20 and not torn.endswith(b"\n")  # half a row
    result = run(out, "--resume")
    assert result.returncode == 0, result.stderr
    assert "dropped the unfinished last line of" in result.stdout
    step, params, rows = final_state(out)
    assert step == STEPS and rows == uninterrupted[2]
    assert all(np.array_equal(params[n], uninterrupted[1][n]) for n in params)
