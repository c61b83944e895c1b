"""The shipped reference run (minigpt/reference/): complete, loadable, consistent with its
report, and showing what Part II claims: PPO and DPO beat SFT on held-out gold."""

import math

import pytest

from minigpt import reference
from minigpt.reward import RewardModel
from minigpt.sft import sft_loss


@pytest.fixture(scope="module")
def report():
    return reference.load_report(reference.PACKAGE_DIR)


def test_every_stage_is_shipped_and_loads(report):
    for stage in reference.STAGES:
        ckpt = reference.load_stage(stage, reference.PACKAGE_DIR)
        assert ckpt["stage"] == stage
        assert ckpt["config"].n_layer == report["config"]["n_layer"]
        assert ckpt["tokenizer"].vocab_size == report["config"]["vocab_size"]
    assert isinstance(reference.load_stage("reward_model", reference.PACKAGE_DIR)["model"], RewardModel)
    total = sum(p.stat().st_size for p in reference.PACKAGE_DIR.rglob("*") if p.is_file())
    assert total < 10 * 2**20, f"the reference run takes {total / 2**20:.1f} MiB"


def test_the_sft_checkpoint_reproduces_the_report(report):
    sft = reference.load_stage("sft", reference.PACKAGE_DIR)
    data = reference.instruction_data(sft["tokenizer"], reference.PACKAGE_DIR)
    assert data["summary"] == report["data"]
    assert sft_loss(sft["model"], data["heldout_pairs"]) == pytest.approx(report["sft"]["heldout_loss"], rel=1e-5)


def test_report_has_the_numbers_the_book_quotes(report):
    for stage, key in [("pretrain", "val_loss"), ("pretrain", "val_perplexity"), ("sft", "heldout_gold"),
                       ("reward_model", "heldout_accuracy"), ("reward_model", "labeler_ceiling"),
                       ("ppo", "heldout_gold"), ("ppo", "kl"), ("dpo", "heldout_gold"), ("dpo", "kl")]:
        assert math.isfinite(report[stage][key]), (stage, key)
    for stage in ("sft", "ppo", "dpo"):
        assert report[stage]["heldout_gold_se"] > 0


@pytest.mark.parametrize("stage", ["ppo", "dpo"])
def test_alignment_beats_sft_by_three_standard_errors(report, stage):
    sft, se_sft = report["sft"]["heldout_gold"], report["sft"]["heldout_gold_se"]
    gold, se = report[stage]["heldout_gold"], report[stage]["heldout_gold_se"]
    assert gold - sft > 3 * math.hypot(se, se_sft), f"{stage}: {gold:.3f}±{se:.3f} vs SFT {sft:.3f}±{se_sft:.3f}"
    assert report[stage]["kl"] > 0
