"""Reliability: byte-identical outputs, resumes that never mix code, interruptions, and a
one-line error for every failure a user can cause. All on the MNIST-format fixture, shrunk to
2x16 nets, 300 images, 2 seeds and a few epochs (seconds each)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from advgrad.core.io import CorruptFileError, OutputError, load_checked, save_checked, save_torch
from stages import analyze, attack, common, download, preprocess_mnist, train_mnist
from tests.fixtures import write_mnist_mirror

ROOT = Path(__file__).resolve().parents[1]
TOY = {"seeds": 2, "device": "cpu"}
TOY_MNIST = {"epochs": 3, "units": [16], "train_size": 300, "validation_size": 50, "last_epochs": 2}


def toy_params(folder: Path, **mnist) -> Path:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw.update(TOY)
    raw["mnist"].update({**TOY_MNIST, **mnist})
    (folder / "params.yaml").write_text(yaml.safe_dump(raw))
    return folder / "params.yaml"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A folder with toy params, the fixture mirror downloaded and preprocessed; cwd."""
    write_mnist_mirror(tmp_path / "mirror", n_train=300, n_test=60)
    ws = tmp_path / "ws"
    ws.mkdir()
    toy_params(ws)
    monkeypatch.chdir(ws)
    monkeypatch.setenv("ADVGRAD_RESUME_DIR", str(tmp_path / "resume"))
    monkeypatch.delenv("ADVGRAD_NO_RESUME", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    download.run("mnist", ws / "data/raw/mnist", mirror=str(tmp_path / "mirror"), allow_unverified=True)
    preprocess_mnist.main(["--raw", "data/raw/mnist", "--out", "data/processed/mnist.pt"])
    return ws


def train(method: str, split: str = "fit", epochs_seen: list | None = None, monkeypatch=None):
    key = f"mnist-relu-16-{method}" + ("-fit" if split == "fit" else "")
    train_mnist.main(
        [
            "--method",
            method,
            "--split",
            split,
            "--dataset",
            "mnist",
            "--activation",
            "relu",
            "--units",
            "16",
            "--data",
            "data/processed/mnist.pt",
            "--model",
            f"models/{key}.pt",
            "--run-dir",
            f"runs/{key}",
        ]
    )
    return Path(f"models/{key}.pt"), Path(f"runs/{key}")


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------- byte identity


def run_pipeline_stages(ws: Path) -> None:
    for method in ("backprop", "adversarial", "dropout"):
        train(method)
    attack.main(
        [
            "--data",
            "data/processed/mnist.pt",
            "--source",
            "models/mnist-relu-16-backprop-fit.pt",
            "--adversarial",
            "models/mnist-relu-16-adversarial-fit.pt",
            "--out",
            "runs/attack/mnist.json",
        ]
    )
    analyze.main(
        [
            "--data",
            "data/processed/mnist.pt",
            "--backprop",
            "models/mnist-relu-16-backprop-fit.pt",
            "--adversarial",
            "models/mnist-relu-16-adversarial-fit.pt",
            "--dropout",
            "models/mnist-relu-16-dropout-fit.pt",
            "--out",
            "runs/analysis/mnist",
        ]
    )


def test_two_runs_in_two_folders_write_byte_identical_outputs(tmp_path, monkeypatch):
    """Data and model files byte for byte, CSV, attack JSON and PNG too; metrics.json apart from
    its provenance block (the one part allowed to differ)."""
    mirror = write_mnist_mirror(tmp_path / "mirror", n_train=300, n_test=60).parent
    folders = []
    for name in ("a", "b"):
        ws = tmp_path / name
        ws.mkdir()
        toy_params(ws, epochs=2)
        monkeypatch.chdir(ws)
        monkeypatch.setenv("ADVGRAD_RESUME_DIR", str(ws / "resume"))
        download.run("mnist", ws / "data/raw/mnist", mirror=str(mirror), allow_unverified=True)
        preprocess_mnist.main(["--raw", "data/raw/mnist", "--out", "data/processed/mnist.pt"])
        run_pipeline_stages(ws)
        folders.append(ws)
    a, b = folders
    files = sorted(
        p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.parts[len(a.parts)] in ("data", "models", "runs")
    )
    assert {f.suffix for f in files} >= {".pt", ".csv", ".json", ".png"}
    assert (
        sorted(
            p.relative_to(b)
            for p in b.rglob("*")
            if p.is_file() and p.parts[len(b.parts)] in ("data", "models", "runs")
        )
        == files
    )
    for rel in files:
        if rel.name == "metrics.json":
            ja, jb = (json.loads((d / rel).read_text()) for d in (a, b))
            ja.pop("provenance"), jb.pop("provenance")
            assert ja == jb, rel
        else:
            assert md5(a / rel) == md5(b / rel), rel


def test_torch_files_hold_no_file_name(tmp_path):
    save_torch({"x": torch.arange(3)}, tmp_path / "one.pt")
    names = zipfile.ZipFile(tmp_path / "one.pt").namelist()
    assert all(n.startswith("archive/") for n in names), names  # not ".one.pt.<random>.tmp/"


# --------------------------------------------------------------------------------- resume keys


def test_the_code_digest_covers_the_stage_its_folders_and_nothing_else(tmp_path):
    for rel in (
        "stages/__init__.py",
        "stages/common.py",
        "stages/params.py",
        "stages/train_mnist.py",
        "stages/report.py",
        "advgrad/__init__.py",
        "advgrad/core/training.py",
        "advgrad/mnist/model.py",
        "advgrad/cifar/trainer.py",
        "advgrad/report/tables.py",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    shutil.copy(ROOT / "dvc.yaml", tmp_path)  # the code deps it declares for each stage
    before = common.code_digest("train_mnist", tmp_path)
    for rel in ("advgrad/cifar/trainer.py", "advgrad/report/tables.py", "stages/report.py"):  # not run by it
        (tmp_path / rel).write_text("x = 2\n")
    assert common.code_digest("train_mnist", tmp_path) == before
    for rel in ("advgrad/core/training.py", "advgrad/mnist/model.py", "stages/params.py", "stages/train_mnist.py"):
        (tmp_path / rel).write_text((tmp_path / rel).read_text() + "# an edit\n")
        assert common.code_digest("train_mnist", tmp_path) != before, rel
        before = common.code_digest("train_mnist", tmp_path)
    (tmp_path / "advgrad/mnist/new.py").write_text("")  # a new module in a folder it runs
    assert common.code_digest("train_mnist", tmp_path) != before


def test_editing_a_code_dependency_discards_the_checkpoint(
    workspace, monkeypatch, caplog, interrupt_after, record_epochs
):
    # A copy of the project's code: editing a module in it changes the resume key.
    code = workspace.parent / "code"
    for package in ("advgrad", "stages"):
        shutil.copytree(ROOT / package, code / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", code)
    monkeypatch.setattr(common, "ROOT", code)
    resume_training = interrupt_after(1)
    with pytest.raises(SystemExit):
        train("adversarial")
    assert len(list(Path(os.environ["ADVGRAD_RESUME_DIR"]).glob("*.pt"))) == 1

    with open(code / "advgrad" / "core" / "training.py", "a") as f:
        f.write("\n# an edit after the interruption\n")
    resume_training()
    seen = record_epochs()
    with caplog.at_level("INFO", logger="advgrad"):
        train("adversarial")
    assert seen == [1, 2, 3]  # trained from scratch, not resumed with the old code's state
    assert "a checkpoint of another configuration, code or torch version" in caplog.text


def test_a_corrupt_checkpoint_is_set_aside_and_training_starts_afresh(
    workspace, caplog, interrupt_after, record_epochs
):
    resume_training = interrupt_after(1)
    with pytest.raises(SystemExit):
        train("backprop")
    (checkpoint,) = Path(os.environ["ADVGRAD_RESUME_DIR"]).glob("*.pt")
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])  # truncated
    resume_training()
    seen = record_epochs()
    with caplog.at_level("WARNING", logger="advgrad"):
        train("backprop")
    assert seen == [1, 2, 3]
    assert str(checkpoint) in caplog.text and "truncated or corrupt" in caplog.text
    assert checkpoint.with_suffix(".corrupt").exists() and not checkpoint.exists()


def test_no_resume_starts_from_scratch(workspace, monkeypatch, interrupt_after, record_epochs):
    resume_training = interrupt_after(2)
    with pytest.raises(SystemExit):
        train("backprop")
    resume_training()
    monkeypatch.setenv("ADVGRAD_NO_RESUME", "1")
    seen = record_epochs()
    train("backprop")
    assert seen == [1, 2, 3]


def test_a_relative_resume_dir_belongs_to_the_repository_not_the_working_copy(
    workspace, monkeypatch, interrupt_after, record_epochs
):
    """`dvc exp run --queue` runs a stage in a temporary copy of the repository (deleted
    afterwards) with DVC_ROOT = the repository: the checkpoint must outlive the copy."""
    repo = workspace.parent / "repo"
    repo.mkdir()
    monkeypatch.setenv("DVC_ROOT", str(repo))
    monkeypatch.setenv("ADVGRAD_RESUME_DIR", ".advgrad/resume")
    assert common.resume_dir() == repo / ".advgrad/resume"
    resume_training = interrupt_after(1)
    with pytest.raises(SystemExit):
        train("backprop")
    assert len(list((repo / ".advgrad/resume").glob("*.pt"))) == 1
    resume_training()
    copy = workspace.parent / "second-copy"  # the next queued run works in another copy
    shutil.copytree(workspace, copy)
    shutil.rmtree(workspace)
    monkeypatch.chdir(copy)
    seen = record_epochs()
    train("backprop")
    assert seen == [2, 3]  # resumed
    monkeypatch.setenv("ADVGRAD_RESUME_DIR", "/abs/resume")
    assert common.resume_dir() == Path("/abs/resume")


# --------------------------------------------------------------------------------- signals


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_ctrl_c_end_the_stage_cleanly_after_a_checkpoint(workspace, sig, code):
    toy_params(workspace, epochs=400)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "stages.train_mnist",
        "--method",
        "backprop",
        "--split",
        "fit",
        "--dataset",
        "mnist",
        "--activation",
        "relu",
        "--units",
        "16",
        "--data",
        "data/processed/mnist.pt",
        "--model",
        "models/m.pt",
        "--run-dir",
        "runs/m",
    ]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    resume = Path(os.environ["ADVGRAD_RESUME_DIR"])
    deadline = time.time() + 60
    while not list(resume.glob("*.pt")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # a few more epochs
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    last = err.strip().splitlines()[-1]
    assert f"stopped by {sig.name}; epoch" in last and "to resume" in last, err
    assert "Traceback" not in err
    assert not Path("runs/m/metrics.json").exists() and not Path("models/m.pt").exists()
    saved = load_checked(next(resume.glob("*.pt")))["state"]["epoch"]
    assert f"epoch {saved} of 400 is saved" in last


# --------------------------------------------------------------------------------- one-line errors


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 32"),
        PermissionError(errno.EACCES, "Permission denied"),
    ],
)
def test_an_output_that_cannot_be_written_is_one_line_and_leaves_nothing(workspace, monkeypatch, capsys, error):
    real_save = torch.save

    def failing_save(obj, f, *args, **kwargs):
        if hasattr(f, "write") and "models" in str(getattr(f, "name", "")):
            f.write(b"partial")
            raise error
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(SystemExit) as stop:
        train("backprop")
    message = str(stop.value)
    assert message.startswith("train-backprop-fit:mnist-relu-16: cannot write models/mnist-relu-16-backprop-fit.pt: ")
    assert "\n" not in message and "inline_container" not in message
    assert list(Path("models").iterdir()) == []  # no partial file, no temporary file


def test_an_output_folder_that_cannot_be_created_is_one_line(workspace, monkeypatch):
    Path("runs").write_text("a file where a folder should be")
    with pytest.raises(SystemExit) as stop:
        train("backprop")
    assert "cannot write runs/mnist-relu-16-backprop-fit/curves.csv" in str(stop.value)
    assert "\n" not in str(stop.value)


@pytest.mark.parametrize("damage", ["truncate", "flip", "missing"])
@pytest.mark.parametrize("stage", ["attack", "analyze", "robustness"])
def test_a_corrupt_model_read_by_an_evaluation_stage_is_one_line_naming_the_file(workspace, damage, stage):
    from stages import robustness

    for method in ("backprop", "adversarial", "dropout"):
        train(method)
    model = Path("models/mnist-relu-16-adversarial-fit.pt")
    if damage == "truncate":
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    elif damage == "flip":
        flip_a_tensor_byte(model)
    else:
        model.unlink()
    argv = {
        "attack": (
            attack.main,
            [
                "--data",
                "data/processed/mnist.pt",
                "--source",
                "models/mnist-relu-16-backprop-fit.pt",
                "--adversarial",
                str(model),
                "--out",
                "runs/attack/mnist.json",
            ],
        ),
        "analyze": (
            analyze.main,
            [
                "--data",
                "data/processed/mnist.pt",
                "--backprop",
                "models/mnist-relu-16-backprop-fit.pt",
                "--adversarial",
                str(model),
                "--dropout",
                "models/mnist-relu-16-dropout-fit.pt",
                "--out",
                "runs/an",
            ],
        ),
        "robustness": (
            robustness.main,
            ["--data", "data/processed/mnist.pt", "--model", str(model), "--out", "runs/wb.csv"],
        ),
    }
    fn, args = argv[stage]
    with pytest.raises(SystemExit) as stop:
        fn(args)
    message = str(stop.value)
    assert message.startswith(f"{stage}: ") and str(model) in message and "\n" not in message
    expected = {"truncate": "truncated or corrupt", "flip": "checksum mismatch", "missing": "no such file"}
    assert expected[damage] in message


def flip_a_tensor_byte(path: Path) -> None:
    """Flip one byte in the middle of the largest tensor's bytes (a bit-rotted cache entry)."""
    with zipfile.ZipFile(path) as zf:
        info = max(zf.infolist(), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name_len, extra_len = (
        int.from_bytes(data[info.header_offset + k : info.header_offset + k + 2], "little") for k in (26, 28)
    )
    offset = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def test_a_bit_flip_in_a_checked_file_is_caught(tmp_path):
    save_checked({"w": torch.randn(100, 100)}, tmp_path / "m.pt")
    assert torch.load(tmp_path / "m.pt", weights_only=True)["w"].shape == (100, 100)  # torch sees nothing
    flip_a_tensor_byte(tmp_path / "m.pt")
    with pytest.raises(CorruptFileError, match="checksum mismatch"):
        load_checked(tmp_path / "m.pt")


def test_output_error_names_the_file(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(OutputError, match=f"cannot write {blocker}/x.pt: "):
        save_torch({}, blocker / "x.pt")


# --------------------------------------------------------------------------------- leftovers, params


def test_a_download_killed_midway_leaves_nothing_the_next_run_keeps(tmp_path):
    mirror = write_mnist_mirror(tmp_path / "mirror", n_train=300, n_test=60).parent
    raw = tmp_path / "data" / "raw"
    leftover = raw / ".mnist.k9x2.tmp"  # what kill -9 during a download leaves
    leftover.mkdir(parents=True)
    (leftover / "train-images-idx3-ubyte.gz").write_bytes(b"partial")
    download.run("mnist", raw / "mnist", mirror=str(mirror), allow_unverified=True)
    assert sorted(p.name for p in raw.iterdir()) == ["mnist"]


def test_every_stage_validates_params_before_any_work(workspace, monkeypatch):
    from stages import robustness

    raw = yaml.safe_load(Path("params.yaml").read_text())
    raw["cifar10"]["dropout"]["fc"] = 1.5  # a typo in a branch the stage does not even use
    Path("params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setattr(download, "fetch_dataset", lambda *a, **k: pytest.fail("download started"))
    calls = [
        (download.main, ["--dataset", "mnist", "--out", "data/raw/x"]),
        (preprocess_mnist.main, ["--raw", "data/raw/mnist", "--out", "data/processed/x.pt"]),
        (
            train_mnist.main,
            [
                "--method",
                "backprop",
                "--split",
                "fit",
                "--dataset",
                "mnist",
                "--activation",
                "relu",
                "--units",
                "16",
                "--data",
                "data/processed/mnist.pt",
                "--model",
                "m.pt",
                "--run-dir",
                "r",
            ],
        ),
        (attack.main, ["--data", "d", "--source", "s", "--adversarial", "a", "--out", "o"]),
        (robustness.main, ["--data", "d", "--model", "m", "--out", "o"]),
        (analyze.main, ["--data", "d", "--backprop", "b", "--adversarial", "a", "--dropout", "x", "--out", "o"]),
    ]
    for fn, argv in calls:
        with pytest.raises(SystemExit) as stop:
            fn(argv)
        assert "cifar10.dropout.fc = 1.5 is invalid" in str(stop.value), fn.__module__
    assert not Path("data/raw/x").exists() and not Path("data/processed/x.pt").exists()
