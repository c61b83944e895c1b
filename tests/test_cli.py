"""The command line: train, sample, and one-line errors for everything a user can get wrong."""

import subprocess
import sys

import pytest


def run_cli(*args, cwd=None):
    """Run ``python -m minigpt`` in a subprocess (as a user would)."""
    return subprocess.run([sys.executable, "-m", "minigpt", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    text = out / "corpus.txt"
    text.write_text("the cat sat on the mat. the dog sat on the log. " * 200)
    result = run_cli("train", "--corpus", str(text), "--tokenizer", "char", "--block-size", "16",
                     "--n-layer", "1", "--n-head", "2", "--d-model", "16", "--max-iters", "60",
                     "--eval-interval", "30", "--eval-iters", "2", "--batch-size", "8",
                     "--learning-rate", "1e-2", "--out", str(out / "model"), "--no-progress")
    assert result.returncode == 0, result.stderr
    return out, result


def test_train_writes_checkpoint_and_reports(trained):
    out, result = trained
    assert (out / "model" / "ckpt.npz").is_file()
    assert (out / "model" / "ckpt.json").is_file()
    assert (out / "model" / "history.json").is_file()
    assert "validation loss over the whole split" in result.stdout
    assert "Traceback" not in result.stderr


def test_sample_is_reproducible(trained):
    out, _ = trained
    args = ("sample", "--checkpoint", str(out / "model" / "ckpt.npz"), "--prompt", "the ",
            "--max-new-tokens", "30", "--seed", "3")
    first, second = run_cli(*args), run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert first.stdout.startswith("the ")
    greedy = run_cli(*args[:-2], "--temperature", "0")
    assert greedy.returncode == 0


def test_resume_continues(trained):
    out, _ = trained
    result = run_cli("train", "--corpus", str(out / "corpus.txt"), "--tokenizer", "char", "--out",
                     str(out / "model"), "--resume", "--max-iters", "70", "--eval-interval", "30",
                     "--eval-iters", "2", "--batch-size", "8", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "resuming from" in result.stdout and "at step 60" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["train", "--corpus", "/no/such/file.txt"], "treated this as a path"),
    (["train", "--max-iters", "0"], "positive integer"),
    (["train", "--n-layer", "two"], "invalid"),
    (["sample"], "--checkpoint"),
    (["sample", "--checkpoint", "/no/such/ckpt.npz"], "checkpoint not found"),
    (["fly"], "invalid choice"),
])
def test_bad_input_gives_one_clear_line(args, message):
    result = run_cli(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "ckpt.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    result = run_cli("sample", "--checkpoint", str(bad))
    assert result.returncode == 1
    assert "not a readable minigpt checkpoint" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_help_documents_every_option():
    result = run_cli("train", "--help")
    assert result.returncode == 0
    for option in ("--corpus", "--tokenizer", "--vocab-size", "--n-layer", "--max-iters", "--out", "--resume"):
        assert option in result.stdout
    assert "--top-p" in run_cli("sample", "--help").stdout
