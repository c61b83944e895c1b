"""The Part II run (minigpt/alignment.py): every stage on the shipped base model at the quick
sizes, the report's schema, selection on dev, streams, and a config that round-trips."""

import json

import numpy as np
import pytest

from minigpt import reference
from minigpt.alignment import STREAMS, AlignmentConfig, combine_seeds, run_alignment, stream, task_data


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("align")
    report = run_alignment(reference.load_stage("pretrain"), out, AlignmentConfig.quick(), log=lambda *a: None)
    return out, report


def test_every_stage_runs_and_the_report_is_on_disk(quick_run):
    out, report = quick_run
    assert report["completed_stages"] == ["sft", "reward_model", "best_of_n", "ppo", "dpo", "grpo", "grpo_rm", "rft", "test"]
    assert json.loads((out / "report.json").read_text()) == json.loads(json.dumps(report, default=float))
    for name in ("sft", "reward_model", "ppo", "dpo", "grpo", "grpo_rm", "rft"):
        assert (out / "checkpoints" / f"{name}.npz").is_file()
    assert set(report["timings_seconds"]) == set(report["completed_stages"]) | {"total"}


def test_the_test_section_has_every_stage_at_both_decodings_paired_against_sft(quick_run):
    _, report = quick_run
    test = report["test"]
    assert set(test["stages"]) == {"sft", "ppo", "dpo", "grpo", "grpo_rm", "rft"}
    for stage in test["stages"].values():
        for decoding in ("greedy", "temperature_1"):
            assert 0.0 <= stage[decoding]["accuracy"] <= 1.0 and stage[decoding]["se"] >= 0.0
        assert np.isfinite(stage["kl"])
    assert test["stages"]["sft"]["kl"] == pytest.approx(0.0, abs=1e-6)      # SFT against itself
    assert set(test["paired_vs_sft"]) == {"ppo", "dpo", "grpo", "grpo_rm", "rft"}
    assert set(test["baselines"]) == {"constant", "echo", "commonest_per_family"}
    assert all(b["accuracy"] <= 0.2 for b in test["baselines"].values())


def test_choices_are_made_on_dev_and_recorded(quick_run):
    _, report = quick_run
    sft = report["sft"]
    assert [t["learning_rate"] for t in sft["tried"]] == [2e-4, 5e-4]
    best = max(sft["tried"], key=lambda t: t["dev_accuracy"])
    assert sft["learning_rate"] == best["learning_rate"]
    assert report["selection"]["sft_learning_rate"]["on"] == "dev greedy accuracy"
    assert report["selection"]["dpo_learning_rate"]["chosen"] in (1e-5, 5e-5)
    rft = report["rft"]
    assert report["selection"]["rft_learning_rate"]["chosen"] == max(rft["tried"], key=lambda t: t["dev_accuracy"])[
        "learning_rate"]
    assert rft["kept"] == round(rft["solved"] * rft["questions"]) and rft["questions"] == 20


def test_curves_are_measured_on_schedule(quick_run):
    _, report = quick_run
    assert [c["iteration"] for c in report["ppo"]["curve"]] == [0, 1, 2]
    assert all({"gold", "proxy", "kl", "greedy"} <= set(c) for c in report["ppo"]["curve"])
    assert report["best_of_n"]["n"] == [1, 2, 4]
    assert [c["questions"] for c in report["reward_model"]["by_data_size"]] == [10, 30]


def test_splits_do_not_share_expressions():
    data = task_data(AlignmentConfig.quick())
    exprs = {name: {e.expr for e in examples} for name, examples in data.items()}
    assert not exprs["train"] & exprs["dev"] and not exprs["train"] & exprs["test"] and not exprs["dev"] & exprs["test"]


def test_streams_are_named_distinct_and_reproducible():
    assert len(set(STREAMS.values())) == len(STREAMS)
    assert stream(0, "ppo").integers(1 << 30) == stream(0, "ppo").integers(1 << 30)
    assert stream(0, "ppo").integers(1 << 30) != stream(0, "dpo").integers(1 << 30)
    assert stream(0, "ppo").integers(1 << 30) != stream(1, "ppo").integers(1 << 30)


def test_config_round_trips_through_json():
    config = AlignmentConfig.quick()
    back = AlignmentConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert back == config
    with pytest.raises(ValueError):
        AlignmentConfig.from_dict({**config.to_dict(), "no_such_field": 1})


def test_an_existing_run_is_not_overwritten(quick_run):
    out, _ = quick_run
    before = (out / "report.json").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        run_alignment(reference.load_stage("pretrain"), out, AlignmentConfig.quick())
    assert (out / "report.json").read_bytes() == before


def test_seeds_are_combined_prompt_by_prompt(quick_run):
    import copy

    from minigpt.evaluation import paired_difference

    _, report = quick_run
    other = copy.deepcopy(report)
    n = report["test"]["questions"]
    other["test"]["per_prompt"]["ppo"]["greedy"] = [1.0] * n          # a second seed where PPO is always right
    other["test"]["stages"]["ppo"]["greedy"]["accuracy"] = 1.0
    combined = combine_seeds({0: report, 1: other})
    assert combined["seeds"] == [0, 1]
    ppo = combined["test"]["ppo"]["greedy"]
    assert ppo["by_seed"]["1"] == 1.0
    mine = (np.array(report["test"]["per_prompt"]["ppo"]["greedy"]) + 1.0) / 2
    sft = np.array(report["test"]["per_prompt"]["sft"]["greedy"])
    assert ppo["accuracy"] == pytest.approx(mine.mean())
    assert ppo["se"] == pytest.approx(mine.std(ddof=1) / np.sqrt(len(mine)))
    expected = paired_difference(mine, sft)
    assert combined["paired"]["ppo"]["greedy"]["diff"] == pytest.approx(expected["diff"])
    assert combined["paired"]["ppo"]["greedy"]["se"] == pytest.approx(expected["se"])
    assert "sft" not in combined["paired"]


def test_the_combined_report_has_the_schema_the_book_reads(quick_run):
    _, report = quick_run
    combined = combine_seeds({0: report, 1: report})
    for stage in ("sft", "ppo", "dpo", "grpo"):
        entry = combined["test"][stage]
        for decoding in ("greedy", "temperature_1"):
            assert set(entry[decoding]) >= {"accuracy", "se"}
            assert entry[decoding]["accuracy"] == report["test"]["stages"][stage][decoding]["accuracy"]
        assert np.isfinite(entry["kl"])
    for stage in ("ppo", "dpo", "grpo"):
        for decoding in ("greedy", "temperature_1"):
            assert set(combined["paired"][stage][decoding]) >= {"diff", "se"}
    assert combined["test"]["baselines"] == {k: v["accuracy"] for k, v in report["test"]["baselines"].items()}
    assert combined["selection"]["seed_0"] == report["selection"]


def test_run_seeds_writes_each_seed_and_the_comparison(tmp_path, monkeypatch, quick_run):
    import copy

    import minigpt.alignment as alignment

    _, report = quick_run
    calls = []

    def fake_run(base_path, out, config_dict, overwrite):
        calls.append((out, config_dict["seed"]))
        return copy.deepcopy(report)

    monkeypatch.setattr(alignment, "_run_one_seed", fake_run)
    combined = alignment.run_seeds(tmp_path / "run", AlignmentConfig.quick(), seeds=(0, 3), workers=1, log=lambda *a: None)
    assert calls == [(str(tmp_path / "run" / "seed_0"), 0), (str(tmp_path / "run" / "seed_3"), 3)]
    assert json.loads((tmp_path / "run" / "report.json").read_text())["seeds"] == [0, 3]
    assert set(combined["timings_seconds"]) == {"total", "seed_0", "seed_3"}
    assert combined["timings_seconds"]["seed_0"] == report["timings_seconds"]       # every stage of each seed
    assert combined["seed_reports"] == {"0": "seed_0/report.json", "3": "seed_3/report.json"}
    with pytest.raises(FileExistsError):
        alignment.run_seeds(tmp_path / "run", AlignmentConfig.quick(), seeds=(0, 3), workers=1)


def test_sft_can_learn_from_fewer_demonstrations_than_there_are_questions():
    from dataclasses import replace

    from minigpt.alignment import sft_demonstrations

    config = AlignmentConfig.quick()
    train = task_data(config)["train"]
    assert sft_demonstrations(train, replace(config, sft_per_family=None)) == train
    few = sft_demonstrations(train, replace(config, sft_per_family=2))
    families = {e.family for e in train}
    assert len(few) == 2 * len(families) and all(e in train for e in few)
    assert {f: sum(e.family == f for e in few) for f in families} == dict.fromkeys(families, 2)


def test_subsets_of_a_split_cover_every_family():
    from minigpt.alignment import first_of_each_family

    dev = task_data(AlignmentConfig.quick())["dev"]          # listed family by family
    families = {e.family for e in dev}
    assert len({e.family for e in dev[:len(families)]}) < len(families)   # why a plain slice will not do
    chosen = first_of_each_family(dev, len(families))
    assert {e.family for e in chosen} == families
    assert first_of_each_family(dev, 10**6) == first_of_each_family(dev, len(dev))
    assert sorted(map(id, first_of_each_family(dev, len(dev)))) == sorted(map(id, dev))   # all, once
