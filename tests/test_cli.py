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
    assert result.returncode == 2  # status 2 for every user error, as argparse uses
    assert "not a readable minigpt checkpoint" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_help_documents_every_option():
    result = run_cli("train", "--help")
    assert result.returncode == 0
    for option in ("--corpus", "--tokenizer", "--vocab-size", "--n-layer", "--max-iters", "--out", "--resume"):
        assert option in result.stdout
    assert "--top-p" in run_cli("sample", "--help").stdout


# ---------------------------------------------------------------- hostile-input review (issue #11)
# These run ``main`` in-process on a tiny model: a few steps, a few seconds in all.

import json  # noqa: E402

import numpy as np  # noqa: E402

from minigpt import CharTokenizer, GPT, GPTConfig, load_checkpoint, save_checkpoint  # noqa: E402
from minigpt.cli import main  # noqa: E402
from minigpt.reference import PACKAGE_DIR  # noqa: E402


def _shipped(stage):
    """A checkpoint file of the shipped Part II run (seed 0's)."""
    return PACKAGE_DIR / "seed_0" / "checkpoints" / f"{stage}.npz"


TINY_MODEL = ["--tokenizer", "char", "--block-size", "8", "--n-layer", "1", "--n-head", "1", "--d-model", "8"]


def cli(capsys, *args):
    """(exit status, stdout, stderr) of ``python -m minigpt ARGS``, run in this process."""
    try:
        status = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def tiny_train(capsys, tmp_path, *extra, out="run"):
    corpus = tmp_path / "corpus.txt"
    if not corpus.exists():
        corpus.write_text("the cat sat on the mat. the dog sat on the log. " * 20)
    return cli(capsys, "train", "--corpus", corpus, *TINY_MODEL, "--max-iters", 4, "--eval-interval", 2,
               "--eval-iters", 1, "--batch-size", 2, "--learning-rate", 3e-3, "--no-progress",
               "--out", tmp_path / out, *extra)


def assert_one_line_error(status, err, *words):
    assert status == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "error:" in err
    for word in words:
        assert word in err, err


# defect class: re-running `train` into an existing --out replaced the finished checkpoint
def test_train_never_replaces_a_checkpoint_unless_asked(capsys, tmp_path):
    assert tiny_train(capsys, tmp_path)[0] == 0
    ckpt = tmp_path / "run" / "ckpt.npz"
    before = ckpt.read_bytes()
    status, _, err = tiny_train(capsys, tmp_path)
    assert_one_line_error(status, err, "--resume", "--overwrite")
    assert ckpt.read_bytes() == before
    status, _, err = tiny_train(capsys, tmp_path, "--overwrite", "--seed", 5)
    assert status == 0, err
    assert ckpt.read_bytes() != before


# defect class: invalid training settings (negative --grad-clip turned training into ascent)
@pytest.mark.parametrize("option, value", [("--grad-clip", -1), ("--learning-rate", "nan"),
                                           ("--beta2", 1.5), ("--seed", -3), ("--warmup-iters", -1)])
def test_invalid_training_option_is_refused_by_name(capsys, tmp_path, option, value):
    status, _, err = tiny_train(capsys, tmp_path, option, value)
    assert status == 2 and option in err and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()


# defect class: --resume ignored the training settings saved in the checkpoint
def test_resume_restores_the_saved_settings(capsys, tmp_path):
    assert tiny_train(capsys, tmp_path, "--weight-decay", 0.05)[0] == 0
    status, out, err = cli(capsys, "train", "--out", tmp_path / "run", "--resume", "--max-iters", 6, "--no-progress")
    assert status == 0, err
    assert "--max-iters 6 (saved: 4)" in out
    saved = load_checkpoint(tmp_path / "run" / "ckpt.npz")
    assert saved["step"] == 6
    config = saved["train_config"]
    assert (config["learning_rate"], config["batch_size"], config["weight_decay"], config["eval_interval"]) \
        == (3e-3, 2, 0.05, 2)
    assert config["max_iters"] == 6
    # the model cannot change shape under a resume
    status, _, err = cli(capsys, "train", "--out", tmp_path / "run", "--resume", "--d-model", 16, "--no-progress")
    assert_one_line_error(status, err, "--d-model")


def _ckpt_without_tokenizer(path):
    model = GPT(GPTConfig(vocab_size=12, block_size=8, n_layer=1, n_head=1, d_model=8))
    from minigpt import AdamW
    return save_checkpoint(path, model, optimizer=AdamW(model.params, lr=1e-3), step=2, history=None)


def _crafted_meta(path):
    model = GPT(GPTConfig(vocab_size=12, block_size=8, n_layer=1, n_head=1, d_model=8))
    save_checkpoint(path, model, tokenizer=CharTokenizer.train("abcdefghijkl"))
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["meta.json"].tobytes())
    meta["optimizer"] = {"t": 0}  # no lr, no moments
    arrays["meta.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)
    return path


# defect class: Python tracebacks for user errors (reward model, absurd sizes, crafted metadata, no tokenizer)
@pytest.mark.parametrize("case", ["reward model", "max-new-tokens", "crafted meta", "no tokenizer (sample)",
                                  "no tokenizer (resume)", "nan temperature"])
def test_user_errors_end_in_one_line_and_status_2(capsys, tmp_path, case):
    if case == "reward model":
        args, words = ["sample", "--checkpoint", _shipped("reward_model")], ["reward model"]
    elif case == "max-new-tokens":
        args = ["sample", "--checkpoint", _shipped("sft"), "--max-new-tokens", 10**13]
        words = ["--max-new-tokens"]
    elif case == "crafted meta":
        args, words = ["sample", "--checkpoint", _crafted_meta(tmp_path / "c.npz")], ["optimizer"]
    elif case == "no tokenizer (sample)":
        args, words = ["sample", "--checkpoint", _ckpt_without_tokenizer(tmp_path / "c.npz")], ["tokenizer"]
    elif case == "no tokenizer (resume)":
        _ckpt_without_tokenizer(tmp_path / "run" / "ckpt.npz")
        args, words = ["train", "--out", tmp_path / "run", "--resume", "--no-progress"], ["tokenizer"]
    else:
        args = ["sample", "--checkpoint", _shipped("sft"), "--temperature", "nan"]
        words = ["--temperature"]
    status, _, err = cli(capsys, *args)
    assert_one_line_error(status, err, *words)


# defect class: the pipeline wrote nothing until pre-training ended (unwritable --out found late)
def test_pipeline_refuses_an_unwritable_out_before_it_starts(capsys, tmp_path, monkeypatch):
    import minigpt.alignment as alignment

    def must_not_run(*args, **kwargs):
        raise AssertionError("a stage ran although --out cannot be written")

    monkeypatch.setattr(alignment, "stage_sft", must_not_run)
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    status, _, err = cli(capsys, "pipeline", "--quick", "--seeds", 0, "--out", blocker / "out")
    assert_one_line_error(status, err, "out")


def test_train_on_the_python_corpus_keeps_its_own_validation_text(capsys, tmp_path):
    # --corpus python: interpreter sessions mixed with the docs; the validation text is
    # held-out documents and expressions of the validation split, not the end of the text
    from minigpt.sessions import python_corpus

    status, out, err = cli(capsys, "train", "--corpus", "python", *TINY_MODEL, "--max-iters", 2,
                           "--eval-interval", 2, "--eval-iters", 1, "--batch-size", 2, "--no-progress",
                           "--docs-fraction", 0.5, "--out", tmp_path / "py")
    assert status == 0, err
    train_text, val_text = python_corpus(docs_fraction=0.5)
    assert f"{len(train_text) + len(val_text):,} tokens" in out  # char-level: one token a character
    assert f"{len(train_text):,} train, {len(val_text):,} validation" in out
    ck = load_checkpoint(tmp_path / "py" / "ckpt.npz")
    assert ck["run_settings"]["corpus"] == "python" and ck["run_settings"]["docs_fraction"] == 0.5


def test_pipeline_refuses_an_existing_run_with_one_line(tmp_path, capsys):
    from minigpt.cli import main

    (tmp_path / "report.json").write_text("{}")
    assert main(["pipeline", "--out", str(tmp_path), "--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already holds a run" in err and "overwrite" in err
    assert (tmp_path / "report.json").read_text() == "{}"


def test_pipeline_refuses_a_missing_base_checkpoint(tmp_path, capsys):
    from minigpt.cli import main

    assert main(["pipeline", "--out", str(tmp_path / "run"), "--base", str(tmp_path / "nope.npz")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
