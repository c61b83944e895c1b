"""The whole course in one command: corpus -> tokenizer -> pre-training -> SFT ->
reward model -> PPO -> DPO -> evaluation.

Built in chapters 9-13 of the book.

    python -m minigpt pipeline --out runs/pipeline          # the full run (~45 minutes on 2 cores)
    python -m minigpt pipeline --out runs/quick --quick     # a reduced run (a few minutes)

Everything is measured against the gold score (``minigpt.gold``) on held-out prompts:
questions about standard-library callables whose answers the model never saw during
fine-tuning.  The reward model only ever sees the simulated labeller's noisy
preferences; the gold score is used to evaluate, never to train.

Outputs in ``--out``: ``checkpoints/*.npz`` (the models, stored in float16 so the set
ships with the package), ``report.json`` (every number the book quotes), ``plots/*.png``
and ``samples.json``.  After each stage the weights are rounded to float16 precision
before they are evaluated or trained further, so the shipped checkpoints reproduce the
report's numbers exactly.

Before the first stage the run checks that ``--out`` can be written and holds no earlier
run (``--overwrite`` replaces one).  As each stage finishes, its checkpoint,
``report.json`` and ``samples.json`` are written, with the stages done so far in
``report["completed_stages"]``: an interrupted run keeps what it finished.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .checkpoint import save_checkpoint
from .corpora import corpus_info, load_text
from .data import train_val_split
from .dpo import answer_logprobs_forward, dpo_step
from .fileio import atomic_write, check_writable
from .gold import Labeler, corrupt_answer, gold_score
from .instructions import END, build_instruction_data, encode_answer, right_pad, split_by_name
from .model import GPT, GPTConfig
from .optim import AdamW, clip_grad_norm, cosine_lr
from .checks import check_fields
from .ppo import PPOConfig, PPOTrainer, action_logprobs, pack_rollout
from .reward import RewardModel, train_reward_step
from .sft import answer_prompts, encode_dataset, prompt_ids, sft_loss, train_sft
from .tokenizer import SPECIAL_TOKENS, BPETokenizer
from .train import TrainConfig, evaluate_loss, progress_bar, train


@dataclass
class PipelineConfig:
    """Sizes and budgets of every stage (``quick()`` gives the reduced run)."""

    seed: int = 0
    vocab_size: int = 512
    block_size: int = 96
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    pretrain_iters: int = 3000
    pretrain_batch: int = 16
    pretrain_lr: float = 2e-3
    sft_iters: int = 300
    sft_batch: int = 32
    sft_lr: float = 5e-4
    max_new_tokens: int = 40
    rm_candidates: int = 4            # per prompt: 2 SFT samples, the reference, a corruption
    rm_pair_counts: tuple = (250, 1000, 4000)
    rm_epochs: int = 2
    rm_lr: float = 1e-4
    rm_prompts_per_batch: int = 8
    labeler_tau: float = 0.1
    labeler_flip: float = 0.15
    eval_prompts: int = 400           # held-out prompts for the gold score
    bon_prompts: int = 120
    bon_n: tuple = (1, 2, 4, 8, 16)
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(iterations=50, rollout_size=64, minibatch_size=16,
                                                             learning_rate=3e-5, value_learning_rate=1e-4))
    ppo_eval_every: int = 10
    ppo_eval_prompts: int = 160
    beta_sweep: tuple = (0.01, 0.2)   # extra PPO runs (shorter) besides the main beta
    beta_sweep_iterations: int = 25
    dpo_epochs: int = 2
    dpo_batch: int = 16
    dpo_lr: float = 2e-5
    dpo_beta: float = 0.1

    @classmethod
    def quick(cls) -> "PipelineConfig":
        """A small model and short stages: every code path runs, in a minute or two."""
        return cls(vocab_size=384, block_size=64, n_layer=2, n_head=2, d_model=64,
                   pretrain_iters=150, sft_iters=80, rm_pair_counts=(30, 120), rm_epochs=1,
                   eval_prompts=32, bon_prompts=12, bon_n=(1, 2, 4),
                   ppo=PPOConfig(iterations=2, rollout_size=16, minibatch_size=8, ppo_epochs=2,
                                 learning_rate=1e-3, value_learning_rate=1e-3),
                   ppo_eval_every=2, ppo_eval_prompts=12, beta_sweep=(0.2,), beta_sweep_iterations=1,
                   dpo_epochs=1, dpo_lr=1e-3, max_new_tokens=20)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ppo"] = self.ppo.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PipelineConfig":
        """The inverse of ``to_dict`` (e.g. ``report["config"]``); lists become tuples."""
        check_fields(cls, d, "; was the report written by another version?")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k != "ppo"}
        if "ppo" in d:
            values["ppo"] = PPOConfig(**d["ppo"])
        return cls(**values)


def _round_to_float16(model):
    """Round every parameter to float16 precision (kept as float32), so the shipped
    float16 checkpoint is exactly the model that was evaluated."""
    for p in model.params.values():
        p[...] = p.astype(np.float16).astype(p.dtype)


def _mean_se(values):
    values = np.asarray(values, dtype=np.float64)
    se = values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return float(values.mean()), float(se)


class Pipeline:
    """The stages as methods; ``run()`` calls them in order and writes the report."""

    STAGES = ("corpus_and_tokenizer", "pretrain", "data", "sft", "reward_model", "best_of_n", "ppo", "dpo",
              "evaluation")

    def __init__(self, out, config: PipelineConfig | None = None, progress=True, log=print, overwrite=False):
        self.out = Path(out)
        self.overwrite = overwrite
        self.config = config or PipelineConfig()
        self.progress = progress
        self.log = log
        self.report = {"seed": self.config.seed, "config": self.config.to_dict(),
                       "python": platform.python_version(), "numpy": np.__version__}
        self.samples = {}
        self.timings = {}

    # ------------------------------------------------------------------ helpers
    def _save(self, name, model, **extra):
        _round_to_float16(model)
        save_checkpoint(self.out / "checkpoints" / f"{name}.npz", model, tokenizer=self.tokenizer,
                        storage_dtype=np.float16, stage=name, **extra)

    def _stage(self, name):
        self.log(f"\n== {name} ==")
        self._t0 = time.perf_counter()
        self._stage_name = name

    def _done(self):
        self.timings[self._stage_name] = round(time.perf_counter() - self._t0, 1)

    def answers_for(self, model, examples, rng, temperature=1.0):
        """Sampled answers to the examples' questions: list of (ids, text, ended)."""
        prompts = [prompt_ids(self.tokenizer, ex["question"]) for ex in examples]
        out = []
        for ans in answer_prompts(model, prompts, self.end_id, self.config.max_new_tokens, rng, temperature):
            ended = len(ans) > 0 and ans[-1] == self.end_id
            out.append((ans, self.tokenizer.decode(ans[:-1] if ended else ans), bool(ended)))
        return prompts, out

    def evaluate_policy(self, model, examples, seed, reward_model=None, label=None):
        """Gold score (mean and standard error), reward-model score, KL to the SFT model,
        answer length and share of answers that ended, on ``examples``, one sample each
        at temperature 1 (the policy's own distribution)."""
        rng = np.random.default_rng(seed)
        prompts, answers = self.answers_for(model, examples, rng)
        golds = [gold_score(ex["question"], text, ex["answer"], ended)
                 for ex, (_, text, ended) in zip(examples, answers)]
        ro = pack_rollout(prompts, [a for a, _, _ in answers], self.end_id)
        logp, _, _ = action_logprobs(model, ro.idx)
        ref_logp, _, _ = action_logprobs(self.sft_model, ro.idx)
        kl = ((logp - ref_logp) * ro.action_mask).sum(axis=1)
        rm = reward_model or getattr(self, "reward_model", None)
        result = {}
        result["gold"], result["gold_se"] = _mean_se(golds)
        result["kl"], result["kl_se"] = _mean_se(kl)
        if rm is not None:
            result["reward_model_score"] = float(rm.score(ro.idx, ro.last).mean())
        result["answer_words"] = float(np.mean([len(t.split()) for _, t, _ in answers]))
        result["ended"] = float(np.mean([e for _, _, e in answers]))
        if label:
            self.samples[label] = [
                {"question": ex["question"], "reference": ex["answer"], "answer": text, "ended": ended,
                 "gold": round(g, 4)} for ex, (_, text, ended), g in list(zip(examples, answers, golds))[:12]]
        return result

    # ------------------------------------------------------------------ stages
    def stage_corpus_and_tokenizer(self):
        cfg = self.config
        self._stage("corpus and tokenizer")
        self.text = load_text("pydoc")
        info = corpus_info(self.text)
        self.tokenizer = BPETokenizer.train(self.text, cfg.vocab_size, special_tokens=SPECIAL_TOKENS)
        self.end_id = self.tokenizer.special_tokens[END]
        ids = np.array(self.tokenizer.encode(self.text, allowed_special="none"), dtype=np.int64)
        self.train_ids, self.val_ids = train_val_split(ids, 0.1)
        self.report["corpus"] = {**info, "tokens": len(ids), "bytes_per_token": info["bytes"] / len(ids)}
        self.log(f"pydoc corpus: {info['chars']:,} characters -> {len(ids):,} BPE tokens (vocab {cfg.vocab_size})")
        self._done()

    def stage_pretrain(self):
        cfg = self.config
        self._stage("pre-training")
        gcfg = GPTConfig(vocab_size=self.tokenizer.vocab_size, block_size=cfg.block_size, n_layer=cfg.n_layer,
                         n_head=cfg.n_head, d_model=cfg.d_model)
        self.pretrained = GPT(gcfg, seed=cfg.seed)
        tcfg = TrainConfig(max_iters=cfg.pretrain_iters, batch_size=cfg.pretrain_batch,
                           learning_rate=cfg.pretrain_lr, min_lr=cfg.pretrain_lr / 10,
                           warmup_iters=min(100, cfg.pretrain_iters // 10), weight_decay=0.1, beta2=0.99,
                           eval_interval=max(1, cfg.pretrain_iters // 5), eval_iters=10, seed=cfg.seed)
        history = train(self.pretrained, self.train_ids, self.val_ids, tcfg, progress=self.progress)
        _round_to_float16(self.pretrained)
        val_loss = evaluate_loss(self.pretrained, self.val_ids)
        self.report["pretrain"] = {"val_loss": val_loss, "val_perplexity": math.exp(val_loss),
                                   "parameters": self.pretrained.num_parameters(),
                                   "uniform_loss": math.log(self.tokenizer.vocab_size),
                                   "history": {k: history[k] for k in ("eval_step", "eval_train_loss", "val_loss")}}
        self._save("pretrain", self.pretrained, train_config=tcfg.to_dict())
        self.log(f"pre-trained {self.pretrained.num_parameters():,} parameters: val loss {val_loss:.3f} "
                 f"(perplexity {math.exp(val_loss):.1f}; uniform would be {math.log(self.tokenizer.vocab_size):.2f})")
        self._done()

    def stage_data(self):
        cfg = self.config
        split = instruction_splits(self.tokenizer, cfg)
        self.train_pairs, self.train_examples = split["train_pairs"], split["train_examples"]
        self.heldout_pairs, self.heldout_examples = split["heldout_pairs"], split["heldout_examples"]
        self.eval_examples = split["eval_examples"]
        self.report["data"] = split["summary"]
        self.log(f"instruction data: {split['summary']['pairs']} pairs about {split['summary']['callables']} "
                 f"callables; {len(self.train_examples)} train / {len(self.heldout_examples)} held out (by name)")

    def stage_sft(self):
        cfg = self.config
        self._stage("supervised fine-tuning")
        self.sft_model = GPT.from_state_dict(self.pretrained.config, self.pretrained.state_dict())
        loss_before = sft_loss(self.sft_model, self.heldout_pairs)
        tcfg = TrainConfig(max_iters=cfg.sft_iters, batch_size=cfg.sft_batch, learning_rate=cfg.sft_lr,
                           min_lr=cfg.sft_lr / 10, warmup_iters=min(50, cfg.sft_iters // 10), weight_decay=0.0,
                           beta2=0.99, eval_interval=max(1, cfg.sft_iters // 4), eval_iters=1, seed=cfg.seed)
        history = train_sft(self.sft_model, self.train_pairs, self.heldout_pairs, tcfg, progress=self.progress)
        _round_to_float16(self.sft_model)
        loss_after = sft_loss(self.sft_model, self.heldout_pairs)
        # greedy exact match on held-out questions: did it reproduce the docstring's sentence?
        greedy = self.answers_for(self.sft_model, self.eval_examples, np.random.default_rng(0), temperature=0)[1]
        exact = float(np.mean([text.strip() == ex["answer"] for ex, (_, text, _) in zip(self.eval_examples, greedy)]))
        greedy_gold = _mean_se([gold_score(ex["question"], t, ex["answer"], e)
                                for ex, (_, t, e) in zip(self.eval_examples, greedy)])
        ev = self.evaluate_policy(self.sft_model, self.eval_examples, seed=11, label="sft")
        self.report["sft"] = {"heldout_loss_before": loss_before, "heldout_loss": loss_after,
                              "heldout_exact_match_greedy": exact, "heldout_gold_greedy": greedy_gold[0],
                              "heldout_gold_greedy_se": greedy_gold[1],
                              "heldout_gold": ev["gold"], "heldout_gold_se": ev["gold_se"], "eval": ev,
                              "history": {k: history[k] for k in ("eval_step", "eval_train_loss", "val_loss")}}
        self._save("sft", self.sft_model, train_config=tcfg.to_dict())
        self.log(f"SFT: held-out answer loss {loss_before:.3f} -> {loss_after:.3f}; greedy exact match {exact:.1%}; "
                 f"gold (T=1) {ev['gold']:.3f} +- {ev['gold_se']:.3f}")
        self._done()

    def preference_groups(self, examples, seed):
        """For each example: K candidate answers (SFT samples, the reference, a corruption),
        their gold scores, and the labeller's verdict on all K(K-1)/2 pairs."""
        cfg = self.config
        rng = np.random.default_rng(seed)
        n_samples = max(1, cfg.rm_candidates - 2)
        prompts = [prompt_ids(self.tokenizer, ex["question"]) for ex in examples]
        sampled = [self.answers_for(self.sft_model, examples, rng)[1] for _ in range(n_samples)]
        pool = [ex["answer"] for ex in self.train_examples]
        groups = []
        for i, ex in enumerate(examples):
            cands = [(text, ended) for (_, text, ended) in (s[i] for s in sampled)]
            cands.append((ex["answer"], True))
            bad = corrupt_answer(ex["answer"], rng, pool=pool)
            cands.append((bad.text, bad.ended))
            golds = np.array([gold_score(ex["question"], t, ex["answer"], e) for t, e in cands])
            a, b = np.triu_indices(len(cands), k=1)
            labels = self.labeler.label_pairs(golds[a], golds[b])
            chosen = np.where(labels == 1, a, b)
            rejected = np.where(labels == 1, b, a)
            groups.append({"example": ex, "prompt": prompts[i], "candidates": cands, "gold": golds,
                           "chosen": chosen, "rejected": rejected, "a": a, "b": b})
        return groups

    def _candidate_batch(self, groups):
        """Token ids of every candidate of some groups, with pair indices into them."""
        seqs, last, chosen, rejected = [], [], [], []
        for g in groups:
            base = len(seqs)
            for k in range(len(g["candidates"])):
                ids, _ = self._answer_seq(g, k)
                seqs.append(ids)
                last.append(len(ids) - 1)
            chosen.extend(base + g["chosen"])
            rejected.extend(base + g["rejected"])
        return right_pad(seqs), np.array(last), np.array(chosen), np.array(rejected)

    def train_reward_model(self, groups, n_pairs, seed):
        """A reward model (from the SFT model) trained on the first ``n_pairs`` pairs."""
        cfg = self.config
        per_group = len(groups[0]["chosen"])
        used = groups[: max(1, n_pairs // per_group)]
        rm = RewardModel.from_gpt(self.sft_model, seed=seed)
        opt = AdamW(rm.params, lr=cfg.rm_lr, betas=(0.9, 0.95))
        rng = np.random.default_rng(seed)
        steps_per_epoch = math.ceil(len(used) / cfg.rm_prompts_per_batch)
        total = steps_per_epoch * cfg.rm_epochs
        history = []
        step = 0
        for _ in range(cfg.rm_epochs):
            order = rng.permutation(len(used))
            for start in range(0, len(used), cfg.rm_prompts_per_batch):
                batch = self._candidate_batch([used[i] for i in order[start:start + cfg.rm_prompts_per_batch]])
                lr = cosine_lr(step, cfg.rm_lr, cfg.rm_lr / 10, max(1, total // 10), total)
                history.append(train_reward_step(rm, opt, batch, lr))
                step += 1
        _round_to_float16(rm)
        return rm, len(used) * per_group, history

    def reward_accuracy(self, rm, groups):
        """Held-out pairwise accuracy against the labeller and against the gold order."""
        correct_label, correct_gold, n, n_gold = 0, 0, 0, 0
        for start in range(0, len(groups), 16):
            part = groups[start:start + 16]
            idx, last, chosen, rejected = self._candidate_batch(part)
            r = rm.score(idx, last)
            correct_label += int((r[chosen] > r[rejected]).sum())
            n += len(chosen)
            gold = np.concatenate([g["gold"] for g in part])
            a = np.concatenate([g["a"] + sum(len(h["candidates"]) for h in part[:j]) for j, g in enumerate(part)])
            b = np.concatenate([g["b"] + sum(len(h["candidates"]) for h in part[:j]) for j, g in enumerate(part)])
            untied = gold[a] != gold[b]
            agree = (r[a] > r[b]) == (gold[a] > gold[b])
            correct_gold += int(agree[untied].sum())
            n_gold += int(untied.sum())
        return correct_label / n, correct_gold / n_gold

    def stage_reward_model(self):
        cfg = self.config
        self._stage("reward model")
        self.labeler = Labeler(tau=cfg.labeler_tau, flip_prob=cfg.labeler_flip, seed=cfg.seed)
        per_group = cfg.rm_candidates * (cfg.rm_candidates - 1) // 2
        n_groups = min(len(self.train_examples), math.ceil(max(cfg.rm_pair_counts) / per_group))
        order = np.random.default_rng([cfg.seed, 3]).permutation(len(self.train_examples))
        self.rm_groups = self.preference_groups([self.train_examples[i] for i in order[:n_groups]], seed=cfg.seed + 1)
        heldout = [self.heldout_examples[i] for i in
                   np.random.default_rng([cfg.seed, 4]).permutation(len(self.heldout_examples))[: min(200, len(self.heldout_examples))]]
        self.rm_heldout_groups = self.preference_groups(heldout, seed=cfg.seed + 2)
        gold_a = np.concatenate([g["gold"][g["a"]] for g in self.rm_heldout_groups])
        gold_b = np.concatenate([g["gold"][g["b"]] for g in self.rm_heldout_groups])
        ceiling = self.labeler.labeler_ceiling(gold_a, gold_b)
        curve = []
        self.reward_models = {}
        for n_pairs in cfg.rm_pair_counts:
            rm, used, history = self.train_reward_model(self.rm_groups, n_pairs, seed=cfg.seed)
            acc_label, acc_gold = self.reward_accuracy(rm, self.rm_heldout_groups)
            curve.append({"pairs": used, "accuracy_vs_labeler": acc_label, "accuracy_vs_gold": acc_gold,
                          "final_train_loss": history[-1]["loss"]})
            self.reward_models[n_pairs] = rm
            self.log(f"reward model on {used} pairs: held-out accuracy {acc_label:.3f} vs labeller, "
                     f"{acc_gold:.3f} vs gold order (labeller ceiling {ceiling:.3f})")
        best = max(cfg.rm_pair_counts)
        self.reward_model = self.reward_models[best]
        self.weak_reward_model = self.reward_models[min(cfg.rm_pair_counts)]
        self.report["reward_model"] = {
            "heldout_accuracy": curve[-1]["accuracy_vs_labeler"], "heldout_accuracy_vs_gold": curve[-1]["accuracy_vs_gold"],
            "labeler_ceiling": ceiling, "labeler": {"tau": cfg.labeler_tau, "flip_prob": cfg.labeler_flip},
            "heldout_pairs": int(len(gold_a)), "accuracy_by_pairs": curve}
        self._save("reward_model", self.reward_model, pairs=curve[-1]["pairs"])
        self._done()

    def stage_best_of_n(self):
        """Best-of-n with the reward model: sample n answers, keep the highest-scoring."""
        cfg = self.config
        self._stage("best-of-n")
        examples = self.eval_examples[: cfg.bon_prompts]
        n_max = max(cfg.bon_n)
        rng = np.random.default_rng([cfg.seed, 5])
        prompts = [prompt_ids(self.tokenizer, ex["question"]) for ex in examples]
        gold = np.zeros((len(examples), n_max))
        proxy = {k: np.zeros((len(examples), n_max)) for k in ("strong", "weak")}
        for j in range(n_max):
            _, answers = self.answers_for(self.sft_model, examples, rng)
            ro = pack_rollout(prompts, [a for a, _, _ in answers], self.end_id)
            proxy["strong"][:, j] = self.reward_model.score(ro.idx, ro.last)
            proxy["weak"][:, j] = self.weak_reward_model.score(ro.idx, ro.last)
            gold[:, j] = [gold_score(ex["question"], t, ex["answer"], e) for ex, (_, t, e) in zip(examples, answers)]
        rows = np.arange(len(examples))
        result = {}
        for name, scores in proxy.items():
            curve = []
            for n in cfg.bon_n:
                pick = scores[:, :n].argmax(axis=1)
                g, se = _mean_se(gold[rows, pick])
                curve.append({"n": n, "kl": math.log(n) - (n - 1) / n, "gold": g, "gold_se": se,
                              "proxy": float(scores[rows, pick].mean())})
            result[name] = curve
        self.report["best_of_n"] = result
        self.log("best-of-n (strong RM): " + ", ".join(f"n={c['n']}: gold {c['gold']:.3f}" for c in result["strong"]))
        self._done()

    def run_ppo(self, reward_model, beta, iterations, label, seed, save_as=None):
        """A PPO run from the SFT model; returns (policy, curve of held-out evaluations, log)."""
        cfg = self.config
        policy = GPT.from_state_dict(self.sft_model.config, self.sft_model.state_dict())
        value = RewardModel.from_state_dict(reward_model.config, reward_model.state_dict())
        pcfg = replace(cfg.ppo, beta=beta, iterations=iterations, seed=seed, max_new_tokens=cfg.max_new_tokens)
        trainer = PPOTrainer(policy, self.sft_model, reward_model, value, self.end_id, pcfg)
        eval_set = self.eval_examples[: cfg.ppo_eval_prompts]
        rng = np.random.default_rng([seed, 9])
        curve, log = [], []

        def evaluate(it):
            ev = self.evaluate_policy(policy, eval_set, seed=1000 + it, reward_model=reward_model)
            curve.append({"iteration": it, **ev})

        evaluate(0)
        for it in progress_bar(range(1, iterations + 1), desc=f"PPO {label}", disable=not self.progress,
                               dynamic_ncols=True):
            rows = rng.choice(len(self.train_examples), pcfg.rollout_size, replace=False)
            prompts = [prompt_ids(self.tokenizer, self.train_examples[i]["question"]) for i in rows]
            stats = trainer.step(prompts)
            log.append({"iteration": it, **stats})
            if it % cfg.ppo_eval_every == 0 or it == iterations:
                evaluate(it)
        _round_to_float16(policy)
        return policy, curve, log

    def stage_ppo(self):
        cfg = self.config
        self._stage("PPO")
        main_beta = cfg.ppo.beta
        self.ppo_model, curve, log = self.run_ppo(self.reward_model, main_beta, cfg.ppo.iterations, "main", cfg.seed)
        ev = self.evaluate_policy(self.ppo_model, self.eval_examples, seed=11, label="ppo")
        runs = {"strong_rm": {"beta": main_beta, "pairs": max(cfg.rm_pair_counts), "curve": curve, "log": log}}
        _, weak_curve, weak_log = self.run_ppo(self.weak_reward_model, main_beta, cfg.ppo.iterations, "weak RM",
                                               cfg.seed)
        runs["weak_rm"] = {"beta": main_beta, "pairs": min(cfg.rm_pair_counts), "curve": weak_curve, "log": weak_log}
        for beta in cfg.beta_sweep:
            _, c, lg = self.run_ppo(self.reward_model, beta, cfg.beta_sweep_iterations, f"beta={beta}", cfg.seed)
            runs[f"beta_{beta}"] = {"beta": beta, "pairs": max(cfg.rm_pair_counts), "curve": c, "log": lg}
        self.report["ppo"] = {"heldout_gold": ev["gold"], "heldout_gold_se": ev["gold_se"], "kl": ev["kl"],
                              "eval": ev, "runs": runs}
        self._save("ppo", self.ppo_model, ppo_config=replace(cfg.ppo).to_dict())
        self.log(f"PPO: held-out gold {ev['gold']:.3f} +- {ev['gold_se']:.3f}, KL {ev['kl']:.2f}, "
                 f"RM score {ev.get('reward_model_score', float('nan')):.3f}")
        self._done()

    def stage_dpo(self):
        cfg = self.config
        self._stage("DPO")
        model = GPT.from_state_dict(self.sft_model.config, self.sft_model.state_dict())
        # the labeller's pairs, the same ones the strong reward model learned from
        per_group = len(self.rm_groups[0]["chosen"])
        groups = self.rm_groups[: max(1, max(cfg.rm_pair_counts) // per_group)]
        chosen, rejected = [], []
        for g in groups:
            for c, r in zip(g["chosen"], g["rejected"]):
                chosen.append(self._answer_seq(g, c))
                rejected.append(self._answer_seq(g, r))
        c_idx, c_mask = self._pad_answers(chosen)
        r_idx, r_mask = self._pad_answers(rejected)
        ref_c = self._logprob_sums(self.sft_model, c_idx, c_mask)
        ref_r = self._logprob_sums(self.sft_model, r_idx, r_mask)
        opt = AdamW(model.params, lr=cfg.dpo_lr, betas=(0.9, 0.95))
        rng = np.random.default_rng([cfg.seed, 6])
        n = len(chosen)
        total = cfg.dpo_epochs * math.ceil(n / cfg.dpo_batch)
        log, step = [], 0
        bar = progress_bar(total=total, desc="DPO", disable=not self.progress, dynamic_ncols=True)
        for _ in range(cfg.dpo_epochs):
            order = rng.permutation(n)
            for start in range(0, n, cfg.dpo_batch):
                rows = order[start:start + cfg.dpo_batch]
                Tc, Tr = int(c_mask[rows].any(0).nonzero()[0].max()) + 1, int(r_mask[rows].any(0).nonzero()[0].max()) + 1
                loss, stats, grads = dpo_step(model, c_idx[rows, :Tc], c_mask[rows, :Tc], r_idx[rows, :Tr],
                                              r_mask[rows, :Tr], ref_c[rows], ref_r[rows], cfg.dpo_beta)
                clip_grad_norm(grads, 1.0)
                opt.step(grads, lr=cosine_lr(step, cfg.dpo_lr, cfg.dpo_lr / 10, max(1, total // 10), total))
                model.release()
                log.append({"step": step, "loss": loss, **stats})
                step += 1
                bar.update()
        bar.close()
        _round_to_float16(model)
        self.dpo_model = model
        ev = self.evaluate_policy(model, self.eval_examples, seed=11, label="dpo")
        self.report["dpo"] = {"heldout_gold": ev["gold"], "heldout_gold_se": ev["gold_se"], "kl": ev["kl"],
                              "eval": ev, "pairs": n, "beta": cfg.dpo_beta, "log": log[:: max(1, len(log) // 200)]}
        self._save("dpo", model)
        self.log(f"DPO on {n} pairs: held-out gold {ev['gold']:.3f} +- {ev['gold_se']:.3f}, KL {ev['kl']:.2f}")
        self._done()

    def _answer_seq(self, group, k):
        text, ended = group["candidates"][k]
        ids = list(group["prompt"]) + encode_answer(self.tokenizer, text, ended)
        return ids[: self.config.block_size], len(group["prompt"])

    @staticmethod
    def _pad_answers(seqs):
        idx = right_pad([s for s, _ in seqs])  # (B, T)
        mask = np.zeros(idx.shape, dtype=bool)
        for i, (s, p) in enumerate(seqs):
            mask[i, p: len(s)] = True  # the answer's positions (and <|end|>)
        return idx, mask

    @staticmethod
    def _logprob_sums(model, idx, mask, batch=64):
        out = []
        for start in range(0, len(idx), batch):
            logp, _ = answer_logprobs_forward(model, idx[start:start + batch], mask[start:start + batch])
            out.append(logp)
        model.release()
        return np.concatenate(out)

    def stage_evaluation(self):
        """Every stage side by side, and the over-optimisation fits."""
        self._stage("evaluation")
        table = {}
        for name in ("sft", "ppo", "dpo"):
            ev = self.report[name]["eval"]
            table[name] = {k: ev.get(k) for k in ("gold", "gold_se", "reward_model_score", "kl", "answer_words", "ended")}
        table["reference answers"] = {"gold": _mean_se([gold_score(ex["question"], ex["answer"], ex["answer"])
                                                        for ex in self.eval_examples])[0]}
        self.report["evaluation"] = {"table": table, "fits": overoptimisation_fits(self.report)}
        self._done()

    # ------------------------------------------------------------------ driver
    def run(self):
        """Every stage in order (``STAGES``), then the plots and the summary table."""
        self.check_out()
        t = time.perf_counter()
        self.report["completed_stages"] = []
        for name in self.STAGES:
            getattr(self, f"stage_{name}")()
            self.report["completed_stages"].append(name)
            self.report["timings_seconds"] = dict(self.timings)
            self.write_json()  # what is done stays done, even if a later stage is interrupted
        self.report["timings_seconds"] = {**self.timings, "total": round(time.perf_counter() - t, 1)}
        self.write()
        return self.report

    def check_out(self):
        """Fail now, not after pre-training: ``out`` must be writable and, unless
        ``overwrite``, must not hold an earlier run's report or checkpoints."""
        earlier = [p for p in [self.out / "report.json", *sorted(self.out.glob("checkpoints/*.npz"))] if p.exists()]
        if earlier and not self.overwrite:
            raise FileExistsError(
                f"{self.out} already holds a pipeline run ({', '.join(p.name for p in earlier[:3])}"
                f"{', ...' if len(earlier) > 3 else ''}); choose another --out, or pass --overwrite "
                "(Pipeline(..., overwrite=True)) to replace it"
            )
        try:
            check_writable(self.out / "checkpoints")
        except OSError as exc:
            raise OSError(f"--out {self.out}: {exc}") from exc

    def write_json(self):
        """report.json and samples.json as they stand."""
        self.out.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.report, indent=1, default=float)
        atomic_write(self.out / "report.json", lambda f: f.write(text.encode()))
        samples = json.dumps(self.samples, indent=1, ensure_ascii=False)
        atomic_write(self.out / "samples.json", lambda f: f.write(samples.encode()))

    def write(self):
        self.write_json()
        from .plots import pipeline_plots
        pipeline_plots(self.report, self.out / "plots")
        self.log(summary_table(self.report))


def instruction_splits(tokenizer, config: PipelineConfig) -> dict:
    """The instruction data exactly as the pipeline uses it: train and held-out pairs
    (split by callable name), encoded for ``config.block_size``, and the fixed subset of
    held-out prompts every stage is evaluated on.  Deterministic given the config's seed,
    so a chapter that calls it sees the very prompts behind ``report.json``.

    Returns a dict with ``train_pairs`` / ``heldout_pairs`` (encoded, for the losses),
    ``train_examples`` / ``heldout_examples`` (dicts with question, answer, name),
    ``eval_examples`` and a ``summary`` of the counts.
    """
    examples = build_instruction_data(seed=config.seed)
    train_ex, heldout_ex = split_by_name(examples, 0.2, seed=config.seed)
    train_pairs, train_examples = encode_dataset(tokenizer, train_ex, config.block_size)
    heldout_pairs, heldout_examples = encode_dataset(tokenizer, heldout_ex, config.block_size)
    order = np.random.default_rng([config.seed, 7]).permutation(len(heldout_examples))
    eval_examples = [heldout_examples[i] for i in order[: config.eval_prompts]]
    summary = {"pairs": len(examples), "callables": len({e["name"] for e in examples}),
               "train": len(train_examples), "heldout": len(heldout_examples),
               "dropped_too_long": len(examples) - len(train_examples) - len(heldout_examples),
               "eval_prompts": len(eval_examples)}
    return {"train_pairs": train_pairs, "train_examples": train_examples, "heldout_pairs": heldout_pairs,
            "heldout_examples": heldout_examples, "eval_examples": eval_examples, "summary": summary}


def fit_through_origin(d, y, form):
    """Least-squares fit of Gao et al.'s (2022) forms, with y = gold(d) - gold(0):
    best-of-n  y = d (a - b d);  RL  y = d (a - b log d).  Returns (a, b)."""
    d, y = np.asarray(d, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = d > 0
    d, y = d[keep], y[keep]
    if len(d) < 2:
        return float("nan"), float("nan")
    second = d * d if form == "bon" else d * np.log(d)
    A = np.stack([d, -second], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(a), float(b)


def overoptimisation_fits(report):
    fits = {}
    for name, curve in report.get("best_of_n", {}).items():
        d = [math.sqrt(max(c["kl"], 0.0)) for c in curve]
        y = [c["gold"] - curve[0]["gold"] for c in curve]
        fits[f"best_of_n_{name}"] = dict(zip(("a", "b"), fit_through_origin(d, y, "bon")))
    for name, run in report.get("ppo", {}).get("runs", {}).items():
        curve = run["curve"]
        d = [math.sqrt(max(c["kl"], 0.0)) for c in curve]
        y = [c["gold"] - curve[0]["gold"] for c in curve]
        fits[f"ppo_{name}"] = dict(zip(("a", "b"), fit_through_origin(d, y, "rl")))
    return fits


def summary_table(report) -> str:
    lines = ["", "stage          held-out gold       KL to SFT   RM score   words   ended"]
    for name in ("sft", "ppo", "dpo"):
        ev = report.get(name, {}).get("eval")
        if not ev:
            continue
        lines.append(f"{name:12s} {ev['gold']:7.3f} +- {ev['gold_se']:.3f}   {ev['kl']:9.2f}   "
                     f"{ev.get('reward_model_score', float('nan')):8.3f}   {ev['answer_words']:5.1f}   {ev['ended']:5.2f}")
    pre = report.get("pretrain", {})
    rm = report.get("reward_model", {})
    if pre:
        lines.append(f"pre-training: val loss {pre['val_loss']:.3f}, perplexity {pre['val_perplexity']:.1f}")
    if rm:
        lines.append(f"reward model: held-out accuracy {rm['heldout_accuracy']:.3f} "
                     f"(labeller ceiling {rm['labeler_ceiling']:.3f})")
    return "\n".join(lines)
