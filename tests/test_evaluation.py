"""Evaluation of Part II's stages (minigpt/evaluation.py): clustered and paired standard errors,
accuracy by family, content-free baselines."""

import math

import numpy as np
import pytest

from minigpt.assistant import Example, format_answer, task_splits, verify_all
from minigpt.evaluation import accuracy_by_family, baseline_replies, mean_and_se, paired_difference, per_prompt


def test_mean_and_se_by_hand():
    r = mean_and_se([1, 0, 1, 1])
    assert r["accuracy"] == 0.75 and r["n"] == 4
    assert r["se"] == pytest.approx(np.std([1, 0, 1, 1], ddof=1) / 2)
    assert mean_and_se([1.0])["se"] == 0.0
    with pytest.raises(ValueError):
        mean_and_se([])


def test_samples_are_clustered_by_prompt():
    """Four samples of two prompts, one always right and one always wrong: two independent
    units, not eight. The clustered se is that of two numbers, 0 and 1."""
    scores = np.array([[1, 1, 1, 1], [0, 0, 0, 0]])
    assert per_prompt(scores).tolist() == [1.0, 0.0]
    clustered = mean_and_se(scores)
    naive = np.std(scores.ravel(), ddof=1) / math.sqrt(scores.size)
    assert clustered["se"] == pytest.approx(0.5) and clustered["se"] > naive


def test_pairing_removes_the_prompts_difficulty():
    rng = np.random.default_rng(0)
    difficulty = rng.random(400) < 0.5                  # half the prompts are hard for everyone
    a = (~difficulty) | (rng.random(400) < 0.1)         # A: the easy ones, and 10% of the hard ones
    b = ~difficulty                                     # B: only the easy ones
    paired = paired_difference(a, b)
    assert paired["diff"] == pytest.approx(a.mean() - b.mean())
    unpaired = math.hypot(mean_and_se(a)["se"], mean_and_se(b)["se"])
    assert paired["se"] < unpaired / 3
    with pytest.raises(ValueError, match="same prompts"):
        paired_difference([1, 0], [1, 0, 1])


def test_accuracy_by_family_weights_families_equally():
    examples = [Example("q", "a", "x", "add", "1")] * 3 + [Example("q", "a", "x", "mul", "1")]
    result = accuracy_by_family(examples, [1, 1, 1, 0])
    assert result["families"]["add"]["accuracy"] == 1.0 and result["families"]["mul"]["accuracy"] == 0.0
    assert result["overall"]["accuracy"] == 0.5 and result["overall"]["n"] == 4


def test_content_free_baselines_score_low_on_the_assistant_task():
    splits = task_splits(n_per_family={"train": 100, "test": 40}, seed=0)
    replies = baseline_replies(splits["test"], splits["train"])
    for name, texts in replies.items():
        accuracy = accuracy_by_family(splits["test"], verify_all(splits["test"], texts))["overall"]["accuracy"]
        assert accuracy <= 0.05, (name, accuracy)
    assert replies["echo"][0] == format_answer(splits["test"][0].expr)
    # the reference answers themselves score 1: the baselines are scored by the same verifier
    assert verify_all(splits["test"], [e.answer for e in splits["test"]]).mean() == 1.0


class Oracle:
    """A stand-in model whose generate() writes a fixed reply after each known prompt: right for
    the questions in ``right``, a wrong value for the others."""

    def __init__(self, tokenizer, examples, right):
        from minigpt.instructions import END, encode_answer, encode_prompt

        self.config = type("Config", (), {"block_size": 256})()
        self.replies = {}
        for e in examples:
            text = e.answer if e.expr in right else format_answer("-1")
            self.replies[tuple(encode_prompt(tokenizer, e.question))] = encode_answer(tokenizer, text)
        self.end_id = tokenizer.special_tokens[END]

    def generate(self, idx, max_new_tokens, temperature=1.0, seed=None, stop_token=None, **_):
        rows = [list(row) + self.replies[tuple(row)] for row in idx]
        width = max(len(r) for r in rows)
        return np.array([r + [self.end_id] * (width - len(r)) for r in rows])


def test_evaluate_policy_verifies_every_reply():
    from minigpt import BPETokenizer

    examples = task_splits(n_per_family={"test": 3}, seed=0)["test"]
    tokenizer = BPETokenizer.train(" ".join(e.question + e.answer for e in examples), 300)
    right = {e.expr for e in examples[::3]}
    oracle = Oracle(tokenizer, examples, right)
    from minigpt.evaluation import evaluate_policy

    greedy = evaluate_policy(oracle, tokenizer, examples)
    assert greedy["scores"].shape == (len(examples), 1)
    assert greedy["scores"][:, 0].tolist() == [float(e.expr in right) for e in examples]
    assert greedy["accuracy"] == pytest.approx(len(right) / len(examples))
    assert greedy["replies"][0] == [examples[0].answer]
    sampled = evaluate_policy(oracle, tokenizer, examples, temperature=1.0, samples=3, seed=1)
    assert sampled["scores"].shape == (len(examples), 3)
    assert sampled["se"] == pytest.approx(greedy["se"])      # the same reply each time: the same prompts' spread
    with pytest.raises(ValueError, match="greedy"):
        evaluate_policy(oracle, tokenizer, examples, samples=2)


def _tiny_policy_and_examples():
    from tiny_models import tiny_assistant

    examples, tokenizer, model = tiny_assistant(2, "dev", ("add", "upper", "max"), dtype=np.float64)
    return model, tokenizer, examples


def test_kl_to_reference_is_zero_for_the_same_model_and_sums_log_ratios():
    import copy

    from minigpt.evaluation import evaluate_policy, kl_to_reference
    from minigpt.ppo import action_logprobs, pack_rollout
    from minigpt.sft import prompt_ids, sample_replies

    model, tokenizer, examples = _tiny_policy_and_examples()
    drawn = sample_replies(model, tokenizer, [e.question for e in examples], samples=2, max_new_tokens=5, seed=0)
    ids = [[i for _, _, i in r] for r in drawn]
    np.testing.assert_allclose(kl_to_reference(model, model, tokenizer, examples, ids), 0.0, atol=1e-12)
    other = copy.deepcopy(model)
    other.params["transformer.wte.weight"] *= 1.5
    kl = kl_to_reference(model, other, tokenizer, examples, ids, batch_size=4)
    assert kl.shape == (len(examples), 2)
    # by hand for the first reply
    ro = pack_rollout([prompt_ids(tokenizer, examples[0].question)], [ids[0][0]], tokenizer.special_tokens["<|end|>"])
    by_hand = ((action_logprobs(model, ro.idx)[0] - action_logprobs(other, ro.idx)[0]) * ro.action_mask).sum()
    assert kl[0, 0] == pytest.approx(by_hand)
    measured = evaluate_policy(model, tokenizer, examples, temperature=1.0, samples=2, max_new_tokens=5, seed=0,
                               reference=model)
    assert measured["kl"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="temperature=1"):
        evaluate_policy(model, tokenizer, examples, reference=model)


def test_best_of_n_picks_by_the_proxy_and_the_oracle_is_pass_at_n():
    from minigpt.evaluation import best_of_n
    from minigpt.reward import RewardModel

    model, tokenizer, examples = _tiny_policy_and_examples()
    rm = RewardModel.from_gpt(model, seed=3)
    curve = best_of_n(model, tokenizer, examples, rm, ns=(1, 2, 4), max_new_tokens=5, seed=0)
    assert curve["n"] == [1, 2, 4]
    assert curve["kl"] == pytest.approx([0.0, math.log(2) - 0.5, math.log(4) - 0.75])
    assert curve["proxy"][0] <= curve["proxy"][1] <= curve["proxy"][2]        # a max over more samples
    assert curve["oracle"][0] <= curve["oracle"][1] <= curve["oracle"][2]
    assert curve["gold"][0] == curve["oracle"][0]                              # n = 1: no choice
