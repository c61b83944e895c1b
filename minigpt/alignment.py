"""Part II in one run: the base model -> SFT -> preferences -> reward models -> best-of-n ->
PPO -> DPO -> GRPO -> rejection-sampling fine-tuning -> evaluation on test (chapters 9-14).

    python -m minigpt pipeline --out runs/reference              # the reference run: two seeds, two cores
    python -m minigpt pipeline --out runs/quick --quick --seeds 0  # every stage, small (a minute or two)

Each stage is a function of explicit arguments, built from the public functions of the
modules the chapters teach (``sft``, ``preferences``, ``reward``, ``ppo``, ``dpo``,
``grpo``, ``rft``, ``evaluation``); ``run_alignment`` only calls them in order and writes what
they return. The rules of the measurement:

* Questions are split three ways by expression (``assistant.task_splits``): *train* to learn
  from, *dev* for every choice (learning rates, early stopping), *test* read once, at the end,
  for the final table. ``report["selection"]`` records each choice and what it was made on.
* The gold score is correctness, decided by the verifier (the interpreter's value), never
  seen by the reward model, PPO or DPO; GRPO with the verifier is the one stage that trains
  on it, as RL with verifiable rewards does.
* Every stage is measured at greedy decoding and at temperature 1, beside content-free
  baselines, with standard errors clustered by prompt and paired against SFT.
* Every random draw comes from its own stream, ``default_rng([seed, STREAMS[name]])``, so one
  stage's draws never shift another's; ``seed`` is the training seed (a second seed repeats
  the training on the same questions) and ``data_seed`` picks the questions.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import assistant, evaluation
from .assistant import BiasedLabeller
from .checkpoint import save_checkpoint
from .checks import check_fields
from .dpo import DPOConfig, reference_pair_logprobs, train_dpo
from .fileio import atomic_write, check_writable
from .grpo import GRPOConfig, train_grpo
from .model import GPT
from .ppo import PPOConfig, train_ppo
from .preferences import preference_groups
from .rft import rejection_sample
from .reward import RewardModel, RewardTrainConfig, pairwise_accuracy, train_reward_model
from .sft import encode_dataset, sft_loss, train_sft
from .train import TrainConfig, evaluate_loss

# The random streams of a run: stage name -> the second number of its seed sequence.
STREAMS = {"sft": 1, "preferences": 2, "preferences_dev": 3, "labeller": 4, "reward_model": 5, "best_of_n": 6,
           "ppo": 7, "dpo": 8, "grpo": 9, "grpo_rm": 10, "evaluation": 11, "baselines": 12, "rft": 13}


def stream(seed: int, name: str) -> np.random.Generator:
    """The random stream ``name`` of a run with training seed ``seed``."""
    return np.random.default_rng([seed, STREAMS[name]])


@dataclass
class AlignmentConfig:
    """Every size, budget and setting of the run (``quick()``: the small one the tests use)."""

    seed: int = 0                      # training seed
    data_seed: int = 0                 # which questions: the same for every training seed
    train_per_family: int = 800        # questions per family in each split
    sft_per_family: int | None = 100   # demonstrations per family for SFT (None: every train question):
                                       # demonstrations are scarce, questions cheap (RESULTS.md: with all
                                       # 800 SFT is stronger and GRPO finds almost nothing to add)
    dev_per_family: int = 30
    test_per_family: int = 60
    max_new_tokens: int = 48           # the longest reference reply (a sorted list) is 43 tokens
    # SFT: each learning rate is tried, the one with the best dev greedy accuracy is kept
    sft_steps: int = 300
    sft_batch: int = 32
    sft_learning_rates: tuple = (2e-4, 5e-4)
    # the simulated labeller (assistant.BiasedLabeller)
    length_bias: float = 0.25
    labeller_tau: float = 0.1
    labeller_flip: float = 0.1
    # preference data: questions, each with `preference_samples` SFT replies + 2 fixed ones
    preference_questions: int = 1500
    preference_dev_questions: int = 150
    preference_samples: int = 2
    rm_question_counts: tuple = (100, 400, 1500)   # the data-size curve; the largest is the RM used
    reward: RewardTrainConfig = field(default_factory=lambda: RewardTrainConfig(steps=300))
    # best-of-n on dev questions
    bon_questions: int = 150
    bon_n: tuple = (1, 2, 4, 8, 16, 32)
    # PPO against the reward model, measured on fixed dev questions every ppo_eval_every
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(iterations=60, rollout_size=64, minibatch_size=32,
                                                             ppo_epochs=2, learning_rate=3e-5,
                                                             value_learning_rate=1e-4, beta=0.05))
    ppo_eval_every: int = 5
    curve_questions: int = 150
    # DPO on the labeller's pairs: each learning rate tried, the best dev greedy accuracy kept
    dpo: DPOConfig = field(default_factory=lambda: DPOConfig(epochs=2, batch_size=32, beta=0.1))
    dpo_learning_rates: tuple = (1e-5, 5e-5)
    # GRPO with the verifier, and with the reward model
    grpo: GRPOConfig = field(default_factory=lambda: GRPOConfig(iterations=200, prompts_per_step=32, group_size=8,
                                                                minibatch_size=64, learning_rate=5e-5))
    grpo_rm_iterations: int = 40
    # rejection-sampling fine-tuning: `rft_samples` replies to `rft_questions` train questions SFT was
    # not shown, one verified reply kept per solved question, then SFT on them and the demonstrations;
    # each learning rate tried, the best dev greedy accuracy kept
    rft_questions: int = 3000
    rft_samples: int = 8
    rft_steps: int = 300
    rft_learning_rates: tuple = (1e-4, 2e-4)
    # final evaluation: test questions at greedy and `eval_samples` replies at temperature 1
    eval_samples: int = 4
    sample_questions: int = 30         # test questions whose replies samples.json keeps (two per family)
    tax_tokens: int = 40_000           # held-out pre-training tokens for the alignment tax
    tax_docs_fraction: float = 0.05    # the base model's corpus mix (its report's docs_fraction)

    @classmethod
    def quick(cls) -> "AlignmentConfig":
        """Every stage and code path, in a minute or two on one core."""
        return cls(train_per_family=8, sft_per_family=4, dev_per_family=3, test_per_family=3, max_new_tokens=16,
                   sft_steps=4, sft_batch=8, sft_learning_rates=(2e-4, 5e-4),
                   preference_questions=30, preference_dev_questions=12, preference_samples=1,
                   rm_question_counts=(10, 30), reward=RewardTrainConfig(steps=4, groups_per_batch=4, eval_every=2),
                   bon_questions=6, bon_n=(1, 2, 4),
                   ppo=PPOConfig(iterations=2, rollout_size=8, minibatch_size=8, ppo_epochs=1),
                   ppo_eval_every=1, curve_questions=6,
                   dpo=DPOConfig(epochs=1, batch_size=16), dpo_learning_rates=(1e-5, 5e-5),
                   grpo=GRPOConfig(iterations=2, prompts_per_step=4, group_size=2, minibatch_size=8),
                   grpo_rm_iterations=1, rft_questions=20, rft_samples=2, rft_steps=4,
                   eval_samples=2, tax_tokens=2_000)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AlignmentConfig":
        """The inverse of ``to_dict`` (e.g. ``report["config"]``); lists become tuples."""
        check_fields(cls, d, "; was the report written by another version?")
        nested = {"reward": RewardTrainConfig, "ppo": PPOConfig, "dpo": DPOConfig, "grpo": GRPOConfig}
        values = {k: (nested[k](**v) if k in nested else tuple(v) if isinstance(v, list) else v) for k, v in d.items()}
        return cls(**values)


def copy_model(model):
    """An independent copy of a GPT or a RewardModel."""
    if isinstance(model, RewardModel):
        return RewardModel.from_state_dict(model.config, model.state_dict())
    return GPT.from_state_dict(model.config, model.state_dict())


def round_to_float16(model):
    """Round every parameter to float16 precision (kept in the model's dtype), so the shipped
    float16 checkpoint is exactly the model that was measured."""
    for p in model.params.values():
        p[...] = p.astype(np.float16).astype(p.dtype)


# ------------------------------------------------------------------------------ stages


def task_data(config: AlignmentConfig) -> dict:
    """The train, dev and test questions (``assistant.task_splits``), fixed by ``data_seed``."""
    return assistant.task_splits({"train": config.train_per_family, "dev": config.dev_per_family,
                                  "test": config.test_per_family}, seed=config.data_seed)


def first_of_each_family(examples, n: int) -> list:
    """The first ``n`` of ``examples`` taken round-robin over their families (the splits list
    each family's questions together, so a plain ``examples[:n]`` would hold the first few
    families only). Order within a family is kept; the result is fixed by the split."""
    by_family: dict[str, list] = {}
    for e in examples:
        by_family.setdefault(e.family, []).append(e)
    out, rank = [], 0
    while len(out) < min(n, len(examples)):
        for family_examples in by_family.values():
            if rank < len(family_examples) and len(out) < n:
                out.append(family_examples[rank])
        rank += 1
    return out


def _as_dicts(examples):
    return [{"question": e.question, "answer": e.answer} for e in examples]


def dev_accuracy(model, tokenizer, dev, config: AlignmentConfig) -> float:
    """Greedy accuracy on the dev questions: the number every choice of the run is made on."""
    return evaluation.evaluate_policy(model, tokenizer, dev, max_new_tokens=config.max_new_tokens)["accuracy"]


def sft_demonstrations(train, config: AlignmentConfig) -> list:
    """The train questions SFT learns from: the first ``config.sft_per_family`` of each family
    (all of them if it is None). The RL stages still draw from every train question."""
    if config.sft_per_family is None:
        return list(train)
    taken: dict[str, int] = {}
    out = []
    for e in train:
        if taken.get(e.family, 0) < config.sft_per_family:
            taken[e.family] = taken.get(e.family, 0) + 1
            out.append(e)
    return out


def fine_tune_on_dev(start, tokenizer, train_pairs, dev_pairs, dev, config: AlignmentConfig, steps: int,
                     learning_rates, seed: int, progress=False):
    """SFT of a copy of ``start`` on ``train_pairs`` for ``steps`` steps, once per learning rate;
    the copy with the best dev greedy accuracy is kept. Returns (model, learning rate, dev
    accuracy, tried: each rate's dev accuracy, dev loss and loss history)."""
    tried, best = [], None
    for lr in learning_rates:
        model = copy_model(start)
        tcfg = TrainConfig(max_iters=steps, batch_size=config.sft_batch, learning_rate=lr, min_lr=lr / 10,
                           warmup_iters=max(1, steps // 20), weight_decay=0.0, beta2=0.99,
                           eval_interval=max(1, steps // 4), eval_iters=1, seed=seed)
        history = train_sft(model, train_pairs, dev_pairs, tcfg, progress=progress)
        round_to_float16(model)
        accuracy = dev_accuracy(model, tokenizer, dev, config)
        tried.append({"learning_rate": lr, "dev_accuracy": accuracy, "dev_loss": sft_loss(model, dev_pairs),
                      "history": {k: history[k] for k in ("eval_step", "eval_train_loss", "val_loss")}})
        if best is None or accuracy > best[0]:
            best = (accuracy, lr, model)
    return best[2], best[1], best[0], tried


def stage_sft(base, tokenizer, data: dict, config: AlignmentConfig, progress=False):
    """Fine-tune a copy of ``base`` on the train questions' reference replies, once per
    learning rate in ``config.sft_learning_rates``; keep the one with the best dev greedy
    accuracy. Returns (model, record)."""
    block = base.config.block_size
    train_pairs, _ = encode_dataset(tokenizer, _as_dicts(sft_demonstrations(data["train"], config)), block)
    dev_pairs, _ = encode_dataset(tokenizer, _as_dicts(data["dev"]), block)
    model, lr, accuracy, tried = fine_tune_on_dev(base, tokenizer, train_pairs, dev_pairs, data["dev"], config,
                                                  config.sft_steps, config.sft_learning_rates,
                                                  int(stream(config.seed, "sft").integers(2**31)), progress)
    record = {"tried": tried, "learning_rate": lr, "dev_accuracy": accuracy, "train_questions": len(train_pairs)}
    return model, record


def stage_preferences(sft, tokenizer, data: dict, config: AlignmentConfig):
    """Preference groups on train questions (for the reward models and DPO) and on dev
    questions (early stopping and held-out accuracy), labelled by the biased labeller.
    Returns (train_groups, dev_groups, labeller)."""
    labeller = BiasedLabeller(config.length_bias, config.labeller_tau, config.labeller_flip,
                              seed=stream(config.seed, "labeller"))
    rng = stream(config.seed, "preferences")
    train_q = [data["train"][i] for i in rng.permutation(len(data["train"]))[:config.preference_questions]]
    dev_q = first_of_each_family(data["dev"], config.preference_dev_questions)
    kw = dict(samples=config.preference_samples, max_new_tokens=config.max_new_tokens, pool=data["train"])
    train_groups = preference_groups(sft, tokenizer, train_q, labeller, seed=rng, **kw)
    dev_groups = preference_groups(sft, tokenizer, dev_q, labeller, seed=stream(config.seed, "preferences_dev"), **kw)
    return train_groups, dev_groups, labeller


def stage_reward_models(sft, tokenizer, train_groups, dev_groups, config: AlignmentConfig):
    """One reward model per size in ``config.rm_question_counts`` (questions of preference
    data), each from the SFT model with the same step budget and early stopping on the dev
    pairs. Returns ({count: model}, the data-size curve)."""
    models, curve = {}, []
    for count in config.rm_question_counts:
        rm = RewardModel.from_gpt(sft, seed=int(stream(config.seed, "reward_model").integers(2**31)))
        history = train_reward_model(rm, tokenizer, train_groups[:count], dev_groups, config.reward)
        round_to_float16(rm)
        measured = pairwise_accuracy(rm, tokenizer, dev_groups, rm.config.block_size)
        curve.append({"questions": count, "pairs": sum(len(g.a) for g in train_groups[:count]),
                      "best_step": history["best_step"],
                      **{k: measured[k] for k in ("loss", "vs_labeller", "vs_gold", "other_question")},
                      "history": {k: history[k] for k in ("eval_step", "dev_loss", "dev_accuracy")}})
        models[count] = rm
    return models, curve


def labeller_ceiling(labeller: BiasedLabeller, groups) -> float:
    """The best accuracy any reward model can reach on these groups' labels."""
    ex, ra, rb = [], [], []
    for g in groups:
        ex += [g.example] * len(g.a)
        ra += [g.replies[i] for i in g.a]
        rb += [g.replies[i] for i in g.b]
    return labeller.ceiling(ex, ra, rb)


def measure_policy(policy, reference, tokenizer, examples, config: AlignmentConfig, seed, reward_model=None,
                   samples: int = 1) -> dict:
    """Greedy accuracy, and at temperature 1: accuracy, KL to ``reference``, reply length and
    (with ``reward_model``) its mean score. Used for the curves on fixed dev questions."""
    greedy = evaluation.evaluate_policy(policy, tokenizer, examples, max_new_tokens=config.max_new_tokens)
    t1 = evaluation.evaluate_policy(policy, tokenizer, examples, temperature=1.0, samples=samples,
                                    max_new_tokens=config.max_new_tokens, seed=seed, reference=reference)
    out = {"greedy": greedy["accuracy"], "greedy_se": greedy["se"], "gold": t1["accuracy"], "gold_se": t1["se"],
           "kl": t1["kl"], "kl_se": t1["kl_se"], "reply_chars": t1["reply_chars"]}
    if reward_model is not None:
        out["proxy"] = float(evaluation.reward_scores(reward_model, tokenizer, examples, t1["reply_ids"]).mean())
    return out


def stage_ppo(sft, reward_model, tokenizer, data: dict, config: AlignmentConfig, progress=False):
    """PPO against ``reward_model`` from the SFT model, measured on fixed dev questions every
    ``config.ppo_eval_every`` iterations (gold and proxy against KL). Returns (policy, record)."""
    policy, value = copy_model(sft), copy_model(reward_model)
    curve_q = first_of_each_family(data["dev"], config.curve_questions)
    seed = int(stream(config.seed, "ppo").integers(2**31))

    def evaluate(it):
        return measure_policy(policy, sft, tokenizer, curve_q, config, seed=[seed, 0], reward_model=reward_model)

    history = train_ppo(policy, sft, reward_model, value, tokenizer, data["train"],
                        replace(config.ppo, seed=seed, max_new_tokens=config.max_new_tokens),
                        evaluate=evaluate, eval_every=config.ppo_eval_every)
    round_to_float16(policy)
    return policy, {"curve": [{"iteration": it, **m} for it, m in history["evals"]], "steps": history["steps"]}


def stage_dpo(sft, tokenizer, train_groups, data: dict, config: AlignmentConfig):
    """DPO from the SFT model on the labeller's pairs, once per learning rate; the best dev
    greedy accuracy is kept. Returns (model, record)."""
    tried, best = [], None
    reference = reference_pair_logprobs(sft, tokenizer, train_groups, sft.config.block_size)   # shared by every lr
    for lr in config.dpo_learning_rates:
        model = copy_model(sft)
        dcfg = replace(config.dpo, learning_rate=lr, min_lr=lr / 10,
                       seed=int(stream(config.seed, "dpo").integers(2**31)))
        log = train_dpo(model, sft, tokenizer, train_groups, dcfg, reference_logprobs=reference)
        round_to_float16(model)
        accuracy = dev_accuracy(model, tokenizer, data["dev"], config)
        tried.append({"learning_rate": lr, "dev_accuracy": accuracy, "final_loss": log[-1]["loss"],
                      "final_reward_accuracy": log[-1]["reward_accuracy"], "steps": len(log)})
        if best is None or accuracy > best[0]:
            best = (accuracy, lr, model)
    return best[2], {"tried": tried, "learning_rate": best[1], "dev_accuracy": best[0],
                     "pairs": sum(len(g.a) for g in train_groups)}


def stage_grpo(sft, tokenizer, data: dict, config: AlignmentConfig, reward_model=None, iterations=None,
               stream_name="grpo"):
    """GRPO from the SFT model with the verifier (or ``reward_model``) as reward, measured on
    the fixed dev questions every 10 iterations. Returns (policy, record)."""
    policy = copy_model(sft)
    curve_q = first_of_each_family(data["dev"], config.curve_questions)
    seed = int(stream(config.seed, stream_name).integers(2**31))
    gcfg = replace(config.grpo, seed=seed, max_new_tokens=config.max_new_tokens,
                   iterations=iterations or config.grpo.iterations)

    def evaluate(it):
        return measure_policy(policy, sft, tokenizer, curve_q, config, seed=[seed, 0], reward_model=reward_model)

    history = train_grpo(policy, sft, tokenizer, data["train"], gcfg, reward_model=reward_model, evaluate=evaluate,
                         eval_every=max(1, gcfg.iterations // 10))
    round_to_float16(policy)
    return policy, {"curve": [{"iteration": it, **m} for it, m in history["evals"]], "steps": history["steps"]}


def stage_rft(sft, tokenizer, data: dict, config: AlignmentConfig, progress=False):
    """Rejection-sampling fine-tuning from the SFT model: ``config.rft_samples`` replies (temperature
    1) to ``config.rft_questions`` train questions that were not among SFT's demonstrations, one
    reply the verifier accepts kept per solved question; then a copy of the SFT model is trained on
    the kept replies and the demonstrations, once per learning rate in
    ``config.rft_learning_rates``, and the best dev greedy accuracy is kept. Returns (model, record)."""
    rng = stream(config.seed, "rft")
    demonstrations = sft_demonstrations(data["train"], config)
    shown = {id(e) for e in demonstrations}
    unseen = [e for e in data["train"] if id(e) not in shown]
    if not unseen:
        raise ValueError("rejection-sampling fine-tuning draws its questions from the train questions SFT was not "
                         "shown, and there are none: make sft_per_family smaller than train_per_family")
    questions = [unseen[i] for i in rng.permutation(len(unseen))[:config.rft_questions]]
    kept, solved = rejection_sample(sft, tokenizer, questions, config.rft_samples, config.max_new_tokens, seed=rng)
    block = sft.config.block_size
    train_pairs, _ = encode_dataset(tokenizer, kept + _as_dicts(demonstrations), block)
    dev_pairs, _ = encode_dataset(tokenizer, _as_dicts(data["dev"]), block)
    model, lr, accuracy, tried = fine_tune_on_dev(sft, tokenizer, train_pairs, dev_pairs, data["dev"], config,
                                                  config.rft_steps, config.rft_learning_rates,
                                                  int(rng.integers(2**31)), progress)
    families = sorted({e.family for e in questions})
    solved_by_family = {f: float(np.mean([s for e, s in zip(questions, solved) if e.family == f])) for f in families}
    tried = [{k: t[k] for k in ("learning_rate", "dev_accuracy")} for t in tried]
    return model, {"tried": tried, "learning_rate": lr, "dev_accuracy": accuracy, "questions": len(questions),
                     "solved": float(solved.mean()), "solved_by_family": solved_by_family, "kept": len(kept),
                     "train_pairs": len(train_pairs)}


def stage_test(policies: dict, sft, tokenizer, data: dict, config: AlignmentConfig, tax_ids=None) -> dict:
    """The final table, read once: every policy on the test questions at greedy and at
    temperature 1 (``eval_samples`` replies each, KL to SFT), accuracy by family, paired
    differences against SFT, the content-free baselines, and the alignment tax (loss on
    held-out pre-training text, if ``tax_ids`` is given). Returns (report section, samples)."""
    test = data["test"]
    seed = int(stream(config.seed, "evaluation").integers(2**31))
    results, scores, samples = {}, {}, {}
    shown = {id(e) for e in first_of_each_family(test, config.sample_questions)}   # kept in samples.json
    for name, model in policies.items():
        greedy = evaluation.evaluate_policy(model, tokenizer, test, max_new_tokens=config.max_new_tokens)
        t1 = evaluation.evaluate_policy(model, tokenizer, test, temperature=1.0, samples=config.eval_samples,
                                        max_new_tokens=config.max_new_tokens, seed=seed, reference=sft)
        scores[name] = (greedy["scores"], t1["scores"])
        results[name] = {
            "greedy": {"accuracy": greedy["accuracy"], "se": greedy["se"],
                       "by_family": {f: v["accuracy"] for f, v in greedy["by_family"]["families"].items()}},
            "temperature_1": {"accuracy": t1["accuracy"], "se": t1["se"],
                              "by_family": {f: v["accuracy"] for f, v in t1["by_family"]["families"].items()}},
            "kl": t1["kl"], "kl_se": t1["kl_se"], "reply_chars": t1["reply_chars"],
        }
        if tax_ids is not None:
            results[name]["heldout_pretraining_loss"] = evaluate_loss(model, tax_ids)
        samples[name] = [{"question": e.question, "family": e.family, "expected": e.value, "greedy": g[0],
                          "sampled": s[0]}
                         for e, g, s in zip(test, greedy["replies"], t1["replies"]) if id(e) in shown]
    paired = {}
    for name in policies:
        if name != "sft":
            paired[name] = {
                "greedy": evaluation.paired_difference(scores[name][0], scores["sft"][0]),
                "temperature_1": evaluation.paired_difference(scores[name][1], scores["sft"][1]),
            }
    baselines = {}
    for name, replies in evaluation.baseline_replies(test, data["train"]).items():
        baselines[name] = evaluation.mean_and_se(assistant.verify_all(test, replies))
    per_prompt = {name: {"greedy": g[:, 0].tolist(), "temperature_1": evaluation.per_prompt(t).round(4).tolist()}
                  for name, (g, t) in scores.items()}
    return {"stages": results, "paired_vs_sft": paired, "baselines": baselines, "questions": len(test),
            "per_prompt": per_prompt}, samples


# ------------------------------------------------------------------------------ the run


def heldout_pretraining_ids(tokenizer, config: AlignmentConfig) -> np.ndarray:
    """The first ``config.tax_tokens`` tokens of the pre-training corpus's validation text
    (documentation and interpreter sessions no model was trained on): the alignment tax is
    how much each stage's loss on them rises above the base model's."""
    from .sessions import python_corpus

    _, val_text = python_corpus(docs_fraction=config.tax_docs_fraction, train_chars=1000)
    ids = tokenizer.encode(val_text[: config.tax_tokens * 4])     # ~1.6 characters per token: plenty
    if len(ids) < config.tax_tokens:
        raise ValueError(f"the validation text has {len(ids)} tokens, fewer than tax_tokens={config.tax_tokens}")
    return np.array(ids[: config.tax_tokens], dtype=np.int64)


def run_alignment(base_checkpoint: dict, out, config: AlignmentConfig | None = None, *, progress=False, log=print,
                  overwrite=False) -> dict:
    """Every stage in order from the base model (``load_checkpoint``'s dict: model and
    tokenizer), writing ``out/report.json``, ``out/samples.json`` and ``out/checkpoints/*.npz``
    (float16) as it goes. Returns the report."""
    config = config or AlignmentConfig()
    out = Path(out)
    if (out / "report.json").exists() and not overwrite:
        raise FileExistsError(f"{out} already holds a run (report.json); choose another out or pass overwrite=True")
    check_writable(out / "checkpoints")
    base, tokenizer = base_checkpoint["model"], base_checkpoint["tokenizer"]
    report = {"config": config.to_dict(), "seed": config.seed, "python": platform.python_version(),
              "numpy": np.__version__, "selection": {}, "timings_seconds": {}, "completed_stages": []}
    start = time.perf_counter()
    models = {}

    def done(name, t0):
        report["timings_seconds"][name] = round(time.perf_counter() - t0, 1)
        report["completed_stages"].append(name)
        _write_json(out / "report.json", report)
        log(f"{name}: {report['timings_seconds'][name]} s")

    def save(name, model):
        save_checkpoint(out / "checkpoints" / f"{name}.npz", model, tokenizer=tokenizer, storage_dtype=np.float16,
                        stage=name)

    t0 = time.perf_counter()
    data = task_data(config)
    report["data"] = {k: len(v) for k, v in data.items()}
    sft, report["sft"] = stage_sft(base, tokenizer, data, config, progress)
    report["selection"]["sft_learning_rate"] = {"chosen": report["sft"]["learning_rate"],
                                                "on": "dev greedy accuracy", "tried": list(config.sft_learning_rates)}
    save("sft", sft)
    models["sft"] = sft
    done("sft", t0)

    t0 = time.perf_counter()
    train_groups, dev_groups, labeller = stage_preferences(sft, tokenizer, data, config)
    rms, curve = stage_reward_models(sft, tokenizer, train_groups, dev_groups, config)
    reward_model = rms[max(config.rm_question_counts)]
    measured = pairwise_accuracy(reward_model, tokenizer, dev_groups, reward_model.config.block_size)
    report["reward_model"] = {"by_data_size": curve, "labeller": repr(labeller),
                              "labeller_ceiling": labeller_ceiling(labeller, dev_groups),
                              "calibration": {"predicted": measured["predicted"].round(4).tolist(),
                                              "true": measured["true"].round(4).tolist()}}
    report["selection"]["reward_model_weights"] = {"chosen": "lowest dev-pair loss", "on": "dev preference pairs"}
    save("reward_model", reward_model)
    done("reward_model", t0)

    t0 = time.perf_counter()
    bon_q = first_of_each_family(data["dev"], config.bon_questions)
    report["best_of_n"] = evaluation.best_of_n(sft, tokenizer, bon_q, reward_model, config.bon_n,
                                               config.max_new_tokens, seed=stream(config.seed, "best_of_n"))
    done("best_of_n", t0)

    t0 = time.perf_counter()
    models["ppo"], report["ppo"] = stage_ppo(sft, reward_model, tokenizer, data, config, progress)
    save("ppo", models["ppo"])
    done("ppo", t0)

    t0 = time.perf_counter()
    models["dpo"], report["dpo"] = stage_dpo(sft, tokenizer, train_groups, data, config)
    report["selection"]["dpo_learning_rate"] = {"chosen": report["dpo"]["learning_rate"],
                                                "on": "dev greedy accuracy", "tried": list(config.dpo_learning_rates)}
    save("dpo", models["dpo"])
    done("dpo", t0)

    t0 = time.perf_counter()
    models["grpo"], report["grpo"] = stage_grpo(sft, tokenizer, data, config)
    save("grpo", models["grpo"])
    done("grpo", t0)

    t0 = time.perf_counter()
    models["grpo_rm"], report["grpo_rm"] = stage_grpo(sft, tokenizer, data, config, reward_model=reward_model,
                                                      iterations=config.grpo_rm_iterations, stream_name="grpo_rm")
    save("grpo_rm", models["grpo_rm"])
    done("grpo_rm", t0)

    t0 = time.perf_counter()
    models["rft"], report["rft"] = stage_rft(sft, tokenizer, data, config, progress)
    report["selection"]["rft_learning_rate"] = {"chosen": report["rft"]["learning_rate"],
                                                "on": "dev greedy accuracy", "tried": list(config.rft_learning_rates)}
    save("rft", models["rft"])
    done("rft", t0)

    t0 = time.perf_counter()
    tax_ids = heldout_pretraining_ids(tokenizer, config)
    report["base_heldout_pretraining_loss"] = evaluate_loss(base, tax_ids)
    report["test"], samples = stage_test(models, sft, tokenizer, data, config, tax_ids)
    _write_json(out / "samples.json", samples)
    done("test", t0)
    report["timings_seconds"]["total"] = round(time.perf_counter() - start, 1)
    _write_json(out / "report.json", report)
    return report


def combine_seeds(reports: dict) -> dict:
    """The final comparison over training seeds, in the shape the book quotes
    (``reference.load_report()``). ``reports``: {seed: run_alignment's report}.

    * ``test[stage]``: for each decoding the accuracy averaged over the seeds, its standard
      error over prompts (each prompt's score first averaged over the seeds, so the prompt stays
      the unit and the seeds' spread counts as far as two seeds can show it), each seed's
      accuracy and the accuracy by family; the KL to SFT and the held-out pre-training loss
      averaged over the seeds. ``test["baselines"]``: {name: accuracy}.
    * ``paired[stage]``: stage minus SFT for each decoding, paired prompt by prompt on the
      seed-averaged scores.
    * ``selection``: what each seed chose on dev.
    """
    seeds = sorted(reports)
    first = reports[seeds[0]]["test"]
    stages = list(first["per_prompt"])

    def seed_mean(values):
        return float(np.mean(values))

    def prompt_scores(name, decoding):            # (N,) each prompt's score averaged over the seeds
        return np.mean([reports[s]["test"]["per_prompt"][name][decoding] for s in seeds], axis=0)

    test = {"questions": first["questions"], "seeds": seeds}
    for name in stages:
        entry = {}
        for decoding in ("greedy", "temperature_1"):
            each = {str(s): reports[s]["test"]["stages"][name][decoding]["accuracy"] for s in seeds}
            measured = evaluation.mean_and_se(prompt_scores(name, decoding))
            families = first["stages"][name][decoding]["by_family"]
            entry[decoding] = {"accuracy": measured["accuracy"], "se": measured["se"], "by_seed": each,
                               "by_family": {f: seed_mean([reports[s]["test"]["stages"][name][decoding]["by_family"][f]
                                                           for s in seeds]) for f in families}}
        for key in ("kl", "reply_chars", "heldout_pretraining_loss"):
            if key in first["stages"][name]:
                entry[key] = seed_mean([reports[s]["test"]["stages"][name][key] for s in seeds])
        test[name] = entry
    test["baselines"] = {name: b["accuracy"] for name, b in first["baselines"].items()}
    paired = {}
    for name in stages:
        if name != "sft":
            paired[name] = {decoding: evaluation.paired_difference(prompt_scores(name, decoding),
                                                                   prompt_scores("sft", decoding))
                            for decoding in ("greedy", "temperature_1")}
    selection = {f"seed_{s}": reports[s]["selection"] for s in seeds}
    out = {"seeds": seeds, "test": test, "paired": paired, "selection": selection}
    if "base_heldout_pretraining_loss" in reports[seeds[0]]:
        out["base_heldout_pretraining_loss"] = reports[seeds[0]]["base_heldout_pretraining_loss"]
    return out


def _run_one_seed(base_path, out, config_dict, overwrite):
    """A worker process's run (arguments and result are plain data: paths, dicts)."""
    from .checkpoint import load_checkpoint
    from .reference import load_stage

    base = load_checkpoint(base_path) if base_path else load_stage("pretrain")
    return run_alignment(base, out, AlignmentConfig.from_dict(config_dict), log=lambda *a: None,
                         overwrite=overwrite)


def run_seeds(out, config: AlignmentConfig | None = None, seeds=(0, 1), *, base_path=None, workers: int = 2,
              overwrite=False, log=print) -> dict:
    """``run_alignment`` once per training seed, ``workers`` at a time in separate processes
    (each on one core), into ``out/seed_<s>/``; then ``out/report.json`` with the per-seed
    reports' test tables combined (``combine_seeds``) and the wall time of the whole run.
    The base model is ``base_path`` (a checkpoint) or the shipped one."""
    from concurrent.futures import ProcessPoolExecutor

    config = config or AlignmentConfig()
    out = Path(out)
    if (out / "report.json").exists() and not overwrite:
        raise FileExistsError(f"{out} already holds a run (report.json); choose another out or pass overwrite=True")
    check_writable(out)
    start = time.perf_counter()
    jobs = {s: (str(base_path) if base_path else None, str(out / f"seed_{s}"), replace(config, seed=s).to_dict(),
                overwrite) for s in seeds}
    if workers > 1 and len(seeds) > 1:
        with ProcessPoolExecutor(max_workers=min(workers, len(seeds))) as pool:
            futures = {s: pool.submit(_run_one_seed, *job) for s, job in jobs.items()}
            reports = {s: f.result() for s, f in futures.items()}
    else:
        reports = {s: _run_one_seed(*job) for s, job in jobs.items()}
    combined = {"config": config.to_dict(), **combine_seeds(reports), "workers": workers,
                "seed_reports": {str(s): f"seed_{s}/report.json" for s in seeds},
                "timings_seconds": {"total": round(time.perf_counter() - start, 1),
                                    **{f"seed_{s}": r["timings_seconds"] for s, r in reports.items()}}}
    _write_json(out / "report.json", combined)
    log(f"{len(seeds)} seeds in {combined['timings_seconds']['total']:.0f} s")
    return combined


def _write_json(path: Path, obj) -> None:
    text = json.dumps(obj, indent=1, default=float, ensure_ascii=False)
    atomic_write(path, lambda f: f.write(text.encode()))


__all__ = ["STREAMS", "stream", "AlignmentConfig", "copy_model", "round_to_float16", "task_data", "dev_accuracy",
           "sft_demonstrations", "first_of_each_family", "fine_tune_on_dev", "stage_sft", "stage_preferences", "stage_reward_models", "labeller_ceiling", "measure_policy",
           "stage_ppo", "stage_dpo", "stage_grpo", "stage_rft", "stage_test", "heldout_pretraining_ids", "run_alignment",
           "combine_seeds", "run_seeds"]
