"""The whole pipeline, in its quick form: every stage runs, the report holds the numbers
the book quotes, and the saved checkpoints reproduce them."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from minigpt import load_checkpoint
from minigpt import reference
from minigpt.pipeline import Pipeline, PipelineConfig, fit_through_origin, instruction_splits
from minigpt.reward import RewardModel
from minigpt.sft import sft_loss


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline")
    pipeline = Pipeline(out, PipelineConfig.quick(), progress=False, log=lambda *a: None)
    report = pipeline.run()
    return out, report, pipeline


def test_report_has_every_number(quick_run):
    out, report, _ = quick_run
    on_disk = json.loads((out / "report.json").read_text())
    for stage, key in [("pretrain", "val_loss"), ("pretrain", "val_perplexity"), ("sft", "heldout_gold"),
                       ("sft", "heldout_gold_se"), ("reward_model", "heldout_accuracy"),
                       ("reward_model", "labeler_ceiling"), ("ppo", "heldout_gold"), ("ppo", "heldout_gold_se"),
                       ("ppo", "kl"), ("dpo", "heldout_gold"), ("dpo", "heldout_gold_se")]:
        value = on_disk[stage][key]
        assert isinstance(value, float) and math.isfinite(value), (stage, key)
    assert on_disk["seed"] == 0 and on_disk["config"]["n_layer"] == 2
    assert on_disk["pretrain"]["val_perplexity"] == pytest.approx(math.exp(on_disk["pretrain"]["val_loss"]))
    # pre-training learned something: well below the uniform guess
    assert on_disk["pretrain"]["val_loss"] < on_disk["pretrain"]["uniform_loss"] - 1.0
    assert 0 <= on_disk["sft"]["heldout_gold"] <= 1
    assert report["ppo"]["kl"] > 0  # PPO moved the policy away from the SFT model
    for name in ("losses", "reward_model_accuracy", "overoptimisation", "beta_sweep", "stages"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 1000
    samples = json.loads((out / "samples.json").read_text())
    assert set(samples) >= {"sft", "ppo", "dpo"} and samples["sft"][0]["question"]


def test_checkpoints_reproduce_the_report(quick_run):
    out, report, pipeline = quick_run
    sft = load_checkpoint(out / "checkpoints" / "sft.npz")
    assert sft["stage"] == "sft" and sft["tokenizer"].vocab_size == 384
    # the shipped float16 weights are exactly the evaluated model
    assert sft_loss(sft["model"], pipeline.heldout_pairs) == pytest.approx(report["sft"]["heldout_loss"], rel=1e-6)
    rm = load_checkpoint(out / "checkpoints" / "reward_model.npz")["model"]
    assert isinstance(rm, RewardModel)
    for name in ("pretrain", "ppo", "dpo"):
        assert load_checkpoint(out / "checkpoints" / f"{name}.npz")["model"].config.n_layer == 2


def test_fit_through_origin_recovers_known_curves():
    d = np.linspace(0.2, 3, 12)
    a, b = fit_through_origin(d, d * (0.5 - 0.1 * d), "bon")
    assert (a, b) == pytest.approx((0.5, 0.1))
    a, b = fit_through_origin(d, d * (0.4 - 0.2 * np.log(d)), "rl")
    assert (a, b) == pytest.approx((0.4, 0.2))


def test_config_round_trips_through_the_report(quick_run):
    out, report, pipeline = quick_run
    config = PipelineConfig.from_dict(json.loads((out / "report.json").read_text())["config"])
    assert config == pipeline.config
    with pytest.raises(ValueError, match="unknown PipelineConfig fields"):
        PipelineConfig.from_dict({**report["config"], "n_layers": 3})


def test_instruction_splits_are_the_pipelines(quick_run):
    out, report, pipeline = quick_run
    split = instruction_splits(pipeline.tokenizer, pipeline.config)
    assert [e["question"] for e in split["eval_examples"]] == [e["question"] for e in pipeline.eval_examples]
    assert split["summary"] == report["data"]
    train_names = {e["name"] for e in split["train_examples"]}
    assert not train_names & {e["name"] for e in split["heldout_examples"]}  # split by callable name


def test_reference_loader_reads_a_run_directory(quick_run, monkeypatch):
    out, report, pipeline = quick_run
    monkeypatch.setenv("MINIGPT_REFERENCE", str(out))
    assert reference.load_report()["pretrain"]["val_loss"] == report["pretrain"]["val_loss"]
    assert reference.load_stage("ppo")["stage"] == "ppo"
    assert reference.pipeline_config() == pipeline.config
    assert set(reference.load_samples()) >= {"sft", "ppo", "dpo"}
    assert reference.plot_path("stages").is_file()
    with pytest.raises(ValueError, match="unknown stage"):
        reference.load_stage("rlhf")
    with pytest.raises(FileNotFoundError, match="no reference run"):
        reference.load_report(directory=out / "checkpoints")


def _small_pipeline(monkeypatch, out, **kwargs):
    """A pipeline on the first 60,000 characters of the corpus, 4 pre-training steps."""
    import minigpt.pipeline as pipeline_module
    text = pipeline_module.load_text("pydoc")[:60_000]
    monkeypatch.setattr(pipeline_module, "load_text", lambda name: text)
    config = replace(PipelineConfig.quick(), pretrain_iters=4)
    return Pipeline(out, config, progress=False, log=lambda *a: None, **kwargs)


# defect class: the pipeline wrote nothing until the end (Ctrl-C after pre-training lost the report)
def test_an_interrupted_pipeline_keeps_its_finished_stages(tmp_path, monkeypatch):
    def interrupt(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Pipeline, "stage_sft", interrupt)
    with pytest.raises(KeyboardInterrupt):
        _small_pipeline(monkeypatch, tmp_path).run()
    assert load_checkpoint(tmp_path / "checkpoints" / "pretrain.npz")["stage"] == "pretrain"
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["completed_stages"] == ["corpus_and_tokenizer", "pretrain", "data"]
    assert math.isfinite(report["pretrain"]["val_loss"]) and "sft" not in report


# defect class: re-running into an existing --out replaced a finished run without being asked
def test_pipeline_never_replaces_a_run_unless_asked(tmp_path, monkeypatch):
    (tmp_path / "report.json").write_text("{}")

    def reached(self):
        raise RuntimeError("reached the first stage")

    monkeypatch.setattr(Pipeline, "stage_corpus_and_tokenizer", reached)
    with pytest.raises(FileExistsError, match="overwrite"):
        _small_pipeline(monkeypatch, tmp_path).run()
    with pytest.raises(RuntimeError, match="reached the first stage"):
        _small_pipeline(monkeypatch, tmp_path, overwrite=True).run()
