"""Tests for minigpt.dpo: answer log-probabilities and the DPO loss, gradient-checked in float64."""

import numpy as np
import pytest

from minigpt.dpo import answer_logprobs_backward, answer_logprobs_forward, dpo_loss_backward, dpo_loss_forward
from minigpt.gradcheck import numerical_gradient, relative_error
from tiny_models import tiny_model


def test_answer_logprobs_gradient():
    model = tiny_model()
    rng = np.random.default_rng(2)
    idx = rng.integers(0, 9, (3, 7))
    mask = np.zeros((3, 7), bool)
    mask[:, 3:] = True
    mask[2, 5:] = False  # a shorter answer, then padding
    w = rng.normal(size=3)
    logp, cache = answer_logprobs_forward(model, idx, mask)
    grads = answer_logprobs_backward(model, w, cache)
    for name in ("transformer.h.0.attn.c_attn.weight", "transformer.wpe.weight"):
        numeric = numerical_gradient(lambda: float(answer_logprobs_forward(model, idx, mask)[0] @ w),
                                     model.params[name])
        assert relative_error(grads[name], numeric) < 1e-6, name

def test_dpo_loss_gradient_and_stats():
    rng = np.random.default_rng(3)
    pc, pr, rc, rr = rng.normal(size=(4, 6)) * 3
    loss, stats, cache = dpo_loss_forward(pc, pr, rc, rr, beta=0.1)
    z = 0.1 * ((pc - rc) - (pr - rr))
    assert loss == pytest.approx(np.mean(np.log1p(np.exp(-z))))
    assert stats["reward_accuracy"] == pytest.approx(np.mean(z > 0))
    d_c, d_r = dpo_loss_backward(cache)
    assert relative_error(d_c, numerical_gradient(lambda: dpo_loss_forward(pc, pr, rc, rr, 0.1)[0], pc)) < 1e-6
    assert relative_error(d_r, numerical_gradient(lambda: dpo_loss_forward(pc, pr, rc, rr, 0.1)[0], pr)) < 1e-6

def test_dpo_step_with_chosen_nll_matches_finite_differences():
    """dpo_step's gradient with the NLL term, against finite differences of its own loss, and
    the loss is DPO's plus nll_weight times the chosen replies' per-token NLL."""
    from minigpt.dpo import dpo_step

    model = tiny_model()
    rng = np.random.default_rng(5)
    c_idx, r_idx = rng.integers(0, 9, (3, 7)), rng.integers(0, 9, (3, 6))
    c_mask, r_mask = np.zeros((3, 7), bool), np.zeros((3, 6), bool)
    c_mask[:, 3:] = True
    c_mask[1, 5:] = False               # a shorter chosen reply, then padding
    r_mask[:, 3:] = True
    ref_c, ref_r = rng.normal(size=3) - 8, rng.normal(size=3) - 8

    def loss(weight):
        return dpo_step(model, c_idx, c_mask, r_idx, r_mask, ref_c, ref_r, 0.5, nll_weight=weight)

    plain, _, _ = loss(0.0)
    with_nll, stats, grads = loss(0.7)
    assert with_nll == pytest.approx(plain + 0.7 * stats["chosen_nll"])
    logp_c, _ = answer_logprobs_forward(model, c_idx, c_mask)
    assert stats["chosen_nll"] == pytest.approx(float(np.mean(-logp_c / c_mask[:, 1:].sum(axis=1))))
    for name in ("transformer.h.0.attn.c_attn.weight", "transformer.wte.weight"):
        numeric = numerical_gradient(lambda: loss(0.7)[0], model.params[name])
        assert relative_error(grads[name], numeric) < 1e-6, name


def test_dpo_loss_at_start_is_log2():
    """With the policy equal to the reference every implicit reward is 0."""
    logp = np.array([-3.0, -5.0])
    loss, stats, _ = dpo_loss_forward(logp, logp, logp, logp)
    assert loss == pytest.approx(np.log(2))
    assert stats["reward_margin"] == 0


def test_train_dpo_raises_the_chosen_replies_implicit_reward():
    import copy

    from minigpt.assistant import BiasedLabeller
    from minigpt.dpo import DPOConfig, preference_pairs, sequence_logprobs, train_dpo
    from minigpt.preferences import answer_sequences, preference_groups
    from tiny_models import tiny_assistant

    examples, tokenizer, policy = tiny_assistant(3, families=("add", "upper"))
    reference = copy.deepcopy(policy)
    groups = preference_groups(policy, tokenizer, examples, BiasedLabeller(tau=0.01, flip_prob=0.0, seed=0),
                               samples=1, max_new_tokens=6, seed=0)
    c_idx, c_mask, r_idx, r_mask = preference_pairs(tokenizer, groups, 64)
    assert len(c_idx) == len(r_idx) == 3 * len(groups)
    # the mask covers exactly the reply and its end token
    seq, prompt_length = answer_sequences(tokenizer, groups[0], 64)[groups[0].chosen[0]]
    assert c_mask[0].sum() == len(seq) - prompt_length
    log = train_dpo(policy, reference, tokenizer, groups, DPOConfig(epochs=8, batch_size=6, learning_rate=3e-3))
    assert log[-1]["loss"] < log[0]["loss"] - 0.05
    margin = ((sequence_logprobs(policy, c_idx, c_mask) - sequence_logprobs(reference, c_idx, c_mask))
              - (sequence_logprobs(policy, r_idx, r_mask) - sequence_logprobs(reference, r_idx, r_mask)))
    assert np.mean(margin > 0) > 0.8


def test_train_dpo_with_precomputed_reference_logprobs_is_the_same_run():
    """Passing the reference's log-probabilities (as stage_dpo does, once for every learning
    rate) gives the very same weights as letting train_dpo compute them; arrays made for
    other pairs are refused."""
    import copy

    from minigpt.assistant import BiasedLabeller
    from minigpt.dpo import DPOConfig, reference_pair_logprobs, train_dpo
    from minigpt.preferences import preference_groups
    from tiny_models import tiny_assistant

    examples, tokenizer, policy = tiny_assistant(3, families=("add", "upper"))
    reference = copy.deepcopy(policy)
    groups = preference_groups(policy, tokenizer, examples, BiasedLabeller(tau=0.01, flip_prob=0.0, seed=0),
                               samples=1, max_new_tokens=6, seed=0)
    config = DPOConfig(epochs=2, batch_size=6, learning_rate=3e-3)
    a, b = copy.deepcopy(policy), copy.deepcopy(policy)
    log_a = train_dpo(a, reference, tokenizer, groups, config)
    ref = reference_pair_logprobs(reference, tokenizer, groups, a.config.block_size)
    assert ref[0].shape == ref[1].shape == (3 * len(groups),)
    log_b = train_dpo(b, reference, tokenizer, groups, config, reference_logprobs=ref)
    assert [s["loss"] for s in log_a] == [s["loss"] for s in log_b]
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    with pytest.raises(ValueError, match="other groups"):
        train_dpo(copy.deepcopy(policy), reference, tokenizer, groups, config,
                  reference_logprobs=(ref[0][:-1], ref[1][:-1]))
