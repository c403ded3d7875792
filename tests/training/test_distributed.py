"""Several processes under torchrun (gloo on the CPU, loopback), and sweeps that share one Optuna
study through a real PostgreSQL server."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import yaml

from ganforge.runs import RunDir
from helpers import MNIST_DIR, REPO, TINY, train_tiny

pytestmark = pytest.mark.slow  # subprocess trainings, Optuna, PostgreSQL, torchrun


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def epochs_of(run) -> list[dict]:
    return [record for record in RunDir(run).read_metrics() if record["event"] == "epoch"]


def test_two_gloo_processes_train_like_one_with_the_global_batch(tmp_path):
    runs = tmp_path / "runs"
    two = runs / "two"
    tiny = [arg if arg != "32" else "16" for arg in TINY]  # 16 per process = 32 per step
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
               "-m", "ganforge", "train", *tiny, "--epochs", "2", "--out", str(two),
               "--set", "train.log_every=4"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 processes (gloo), batch 16 per process = 32 per step" in result.stdout
    assert sorted(path.name for path in runs.iterdir()) == ["two"]  # rank 1 wrote nothing
    assert result.stdout.count("epoch 2/2") == 1  # and printed nothing

    one = tmp_path / "one"
    assert train_tiny(one, "--epochs", "2", "--set", "train.log_every=4") == 0  # batch 32
    for parallel, single in zip(epochs_of(two), epochs_of(one), strict=True):
        assert parallel["step"] == single["step"]
        for key in ("loss_d", "loss_g", "d_real", "d_fake"):
            # Same data, noise and initial weights; only BatchNorm sees 16 images, not 32.
            assert abs(parallel[key] - single[key]) < 0.02, (key, parallel[key], single[key])

    # The checkpoint holds plain modules: one process continues the two-process run.
    resumed = subprocess.run([sys.executable, "-m", "ganforge", "train", "--resume", str(two),
                              "--epochs", "3"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert [record["epoch"] for record in epochs_of(two)] == [1, 2, 3]


@pytest.fixture
def postgres_url():
    """A throwaway PostgreSQL server on a free local port, stopped afterwards."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        pytest.skip("needs PostgreSQL (Debian package 'postgresql'); .ci/run installs it")
    bin_dir = os.path.dirname(binaries[-1])
    data = tempfile.mkdtemp(prefix="ganforge-pg-", dir="/tmp")
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*as_postgres, f"{bin_dir}/initdb", "-D", data, "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    subprocess.run([*as_postgres, f"{bin_dir}/pg_ctl", "-D", data, "-w", "-l", f"{data}/log",
                    "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_postgres, f"{bin_dir}/pg_ctl", "-D", data, "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def test_two_workers_share_one_study_in_postgresql(postgres_url, tmp_path):
    optuna = pytest.importorskip("optuna", reason="needs optuna (extra [sweep])")
    pytest.importorskip("psycopg", reason="needs psycopg (extra [sweep])")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "base": "mnist-dcgan", "eval_samples": 200,
        "overrides": {"data.limit": 64, "train.num_samples": 16, "train.epochs": 1},
        "search": {"train.lr_g": {"low": 1.0e-4, "high": 1.0e-3, "log": True}, "model.z_dim": [8, 16]},
    }))
    out = tmp_path / "shared"
    command = [sys.executable, "-m", "ganforge", "sweep", str(spec), "--search", "optuna",
               "--trials", "4", "--storage", postgres_url, "--study", "shared", "--out", str(out),
               "--data-dir", str(MNIST_DIR), "--device", "cpu"]
    workers = []
    for seed in (1, 2):
        workers.append(subprocess.Popen([*command, "--seed", str(seed)], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, cwd=REPO,
                                        env={**os.environ, "OMP_NUM_THREADS": "1"}))
        time.sleep(1)  # the first worker creates the study's tables
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    finished = [trial for trial in study.trials if trial.state.is_finished()]
    assert len(finished) == 4 and len({trial.number for trial in finished}) == 4
    assert all(trial.state != optuna.trial.TrialState.FAIL for trial in finished)
    assert len(list((out / "trials").iterdir())) == 4
    assert all(any(f"trial-{trial.number:04d}" in text for text in outputs) for trial in finished)
