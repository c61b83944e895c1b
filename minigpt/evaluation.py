"""Measuring a stage of Part II: accuracy with standard errors, paired comparisons, baselines (chapter 13).

A claim like "PPO beats SFT" is a claim about a difference of two accuracies measured on the
same prompts. Three rules make it one an expert accepts:

* **Cluster by prompt.** With several sampled answers per prompt, the answers to one prompt
  are not independent (an easy prompt is easy every time). So the unit is the prompt: average
  each prompt's scores first, then take the mean and the standard error over prompts.
* **Pair.** Two stages answer the same prompts, so compare them prompt by prompt: the standard
  error of the mean *difference* is smaller than the two errors combined, because the prompts'
  difficulty cancels (``paired_difference``).
* **Trivial baselines beside it.** A stage's accuracy means little without what a model with no
  skill gets: a constant answer, the expression echoed back, each family's commonest answer
  (``baseline_replies``).

Scores are arrays ``(N,)`` (one answer per prompt) or ``(N, S)`` (S samples per prompt).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from .assistant import Example, format_answer, verify_all
from .instructions import END
from .sft import prompt_ids, sample_replies

__all__ = ["per_prompt", "mean_and_se", "paired_difference", "accuracy_by_family", "baseline_replies",
           "answer", "kl_to_reference", "reward_scores", "evaluate_policy", "best_of_n"]


def per_prompt(scores) -> np.ndarray:
    """Each prompt's mean score: (N,) -> (N,), (N, S) -> (N,)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim not in (1, 2) or len(scores) == 0:
        raise ValueError(f"scores must be (N,) or (N, S) with N >= 1, got shape {scores.shape}")
    return scores if scores.ndim == 1 else scores.mean(axis=1)


def mean_and_se(scores) -> dict:
    """Mean score and its standard error, clustered by prompt: ``{"accuracy", "se", "n"}``.

    se = std of the per-prompt means (ddof=1) / sqrt(N); 0 for a single prompt.
    """
    x = per_prompt(scores)
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else 0.0
    return {"accuracy": float(x.mean()), "se": se, "n": int(len(x))}


def paired_difference(scores_a, scores_b) -> dict:
    """Mean of A - B over the same prompts and its paired standard error: ``{"diff", "se", "n"}``."""
    a, b = per_prompt(scores_a), per_prompt(scores_b)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same prompts: {len(a)} against {len(b)}")
    d = mean_and_se(a - b)
    return {"diff": d["accuracy"], "se": d["se"], "n": d["n"]}


def accuracy_by_family(examples: Sequence[Example], scores) -> dict:
    """Accuracy and se of each family, and their mean with se = sqrt(sum se_f^2) / F (each
    family counts the same, as in ``sessions.score_completions``)."""
    x = per_prompt(scores)
    if len(examples) != len(x):
        raise ValueError(f"{len(examples)} examples but {len(x)} scores")
    by_family: dict[str, list[float]] = {}
    for e, s in zip(examples, x):
        by_family.setdefault(e.family, []).append(s)
    families = {f: mean_and_se(v) for f, v in by_family.items()}
    ses = [v["se"] for v in families.values()]
    overall = {"accuracy": float(np.mean([v["accuracy"] for v in families.values()])),
               "se": math.sqrt(sum(se * se for se in ses)) / len(ses), "n": int(len(x))}
    return {"families": families, "overall": overall}


def baseline_replies(examples: Sequence[Example], train_examples: Sequence[Example]) -> dict[str, list[str]]:
    """Replies of three content-free assistants, in the assistant's format:

    * ``constant``: always the value seen most often in ``train_examples`` (over all families);
    * ``echo``: the expression itself as the value (``The result is 17 // 5.``);
    * ``commonest_per_family``: the value seen most often for the question's family in
      ``train_examples`` (the family is read from the question, as a model could).
    """
    overall = Counter(e.value for e in train_examples).most_common(1)[0][0]
    commonest = {}
    for family in {e.family for e in train_examples}:
        commonest[family] = Counter(e.value for e in train_examples if e.family == family).most_common(1)[0][0]
    return {
        "constant": [format_answer(overall)] * len(examples),
        "echo": [format_answer(e.expr) for e in examples],
        "commonest_per_family": [format_answer(commonest.get(e.family, overall)) for e in examples],
    }


def answer(model, tokenizer, examples: Sequence[Example], temperature: float = 0.0, samples: int = 1,
           max_new_tokens: int = 40, seed=0) -> list[list[str]]:
    """``samples`` replies of ``model`` to each question (greedy when ``temperature`` is 0, and
    then ``samples`` must be 1): a list of N lists of ``samples`` texts. A reply that never
    wrote ``<|end|>`` is kept as written (the verifier will find it malformed or not)."""
    return [[text for text, _, _ in r] for r in _replies(model, tokenizer, examples, temperature, samples,
                                                          max_new_tokens, seed)]


def _replies(model, tokenizer, examples, temperature, samples, max_new_tokens, seed):
    if temperature == 0 and samples != 1:
        raise ValueError("greedy decoding gives one reply per question: use samples=1 or a temperature > 0")
    return sample_replies(model, tokenizer, [e.question for e in examples], samples, max_new_tokens, temperature,
                          seed)


def kl_to_reference(policy, reference, tokenizer, examples: Sequence[Example], reply_ids, batch_size: int = 64):
    """Monte-Carlo KL(policy || reference) per reply: the summed log-ratio
    ``log pi(y | x) - log pi_ref(y | x)`` over the reply's tokens, for replies ``y`` *sampled
    from the policy at temperature 1* (only then is its mean an unbiased estimate of the KL).
    reply_ids: N lists of S id arrays -> (N, S)."""
    from .ppo import action_logprobs, pack_rollout

    prompts = [prompt_ids(tokenizer, e.question) for e in examples]
    flat = [(prompts[i], ids) for i, row in enumerate(reply_ids) for ids in row]
    end_id = tokenizer.special_tokens[END]
    out = []
    for start in range(0, len(flat), batch_size):
        part = flat[start:start + batch_size]
        rollout = pack_rollout([p for p, _ in part], [a for _, a in part], end_id)
        logp, _, _ = action_logprobs(policy, rollout.idx, entropy=False)
        ref_logp, _, _ = action_logprobs(reference, rollout.idx, entropy=False)
        out.append(((logp - ref_logp) * rollout.action_mask).sum(axis=1))
    return np.concatenate(out).reshape(len(reply_ids), -1)


def reward_scores(reward_model, tokenizer, examples: Sequence[Example], reply_ids) -> np.ndarray:
    """``reward_model``'s score of each reply (ids as sampled, with ``<|end|>`` if it ended)
    to its question: reply_ids N lists of S id arrays -> (N, S)."""
    from .ppo import pack_rollout

    prompts = [prompt_ids(tokenizer, e.question) for e in examples]
    end_id = tokenizer.special_tokens[END]
    out = np.zeros((len(examples), len(reply_ids[0])))
    for j in range(out.shape[1]):
        rollout = pack_rollout(prompts, [row[j] for row in reply_ids], end_id)
        out[:, j] = reward_model.score(rollout.idx, rollout.last)
    return out


def evaluate_policy(model, tokenizer, examples: Sequence[Example], temperature: float = 0.0, samples: int = 1,
                    max_new_tokens: int = 40, seed=0, reference=None) -> dict:
    """Verify a model's replies: ``{"scores": (N, samples) array, "replies" (texts), "reply_ids",
    "accuracy", "se", "by_family", "reply_chars"}``, accuracy and se clustered by prompt (``mean_and_se``).

    With ``reference`` (and ``temperature`` 1) it also measures ``"kl"``, the mean of
    ``kl_to_reference`` over the sampled replies, and ``"kl_se"``."""
    drawn = _replies(model, tokenizer, examples, temperature, samples, max_new_tokens, seed)
    replies = [[text for text, _, _ in r] for r in drawn]
    scores = np.array([verify_all([e] * len(r), r) for e, r in zip(examples, replies)])   # (N, samples)
    summary = mean_and_se(scores)
    out = {"scores": scores, "replies": replies, "reply_ids": [[i for _, _, i in r] for r in drawn],
           "accuracy": summary["accuracy"], "se": summary["se"],
           "by_family": accuracy_by_family(examples, scores),
           "reply_chars": float(np.mean([len(t) for r in replies for t in r]))}
    if reference is not None:
        if temperature != 1.0:
            raise ValueError("the KL estimate needs replies sampled from the policy itself: use temperature=1")
        kl = mean_and_se(kl_to_reference(model, reference, tokenizer, examples, out["reply_ids"]))
        out["kl"], out["kl_se"] = kl["accuracy"], kl["se"]
    return out


def best_of_n(model, tokenizer, examples: Sequence[Example], reward_model, ns=(1, 2, 4, 8, 16),
              max_new_tokens: int = 40, seed=0) -> dict:
    """Best-of-n: sample ``max(ns)`` replies per question at temperature 1, and for each n keep
    the one of the first n that ``reward_model`` scores highest (the proxy's choice), and the
    one the verifier would keep (the oracle: right if any of the n is right).

    Returns ``{"n", "kl", "gold", "gold_se", "proxy", "oracle", "oracle_se"}``, lists over
    ``ns``; ``kl`` is the analytic KL of best-of-n to the sampling policy, log n - (n - 1) / n
    (Stiennon et al. 2020)."""
    n_max = max(ns)
    drawn = _replies(model, tokenizer, examples, 1.0, n_max, max_new_tokens, seed)
    gold = np.array([verify_all([e] * n_max, [t for t, _, _ in r]) for e, r in zip(examples, drawn)])   # (N, n)
    proxy = reward_scores(reward_model, tokenizer, examples, [[i for _, _, i in r] for r in drawn])    # (N, n)
    rows = np.arange(len(examples))
    out = {k: [] for k in ("n", "kl", "gold", "gold_se", "proxy", "oracle", "oracle_se")}
    for n in ns:
        pick = proxy[:, :n].argmax(axis=1)
        chosen, oracle = mean_and_se(gold[rows, pick]), mean_and_se(gold[:, :n].max(axis=1))
        out["n"].append(int(n))
        out["kl"].append(math.log(n) - (n - 1) / n)
        out["gold"].append(chosen["accuracy"])
        out["gold_se"].append(chosen["se"])
        out["proxy"].append(float(proxy[rows, pick].mean()))
        out["oracle"].append(oracle["accuracy"])
        out["oracle_se"].append(oracle["se"])
    return out
