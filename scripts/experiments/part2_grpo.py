"""Experiment: SFT on the assistant task from the shipped base model, then GRPO with the
verifier, measured on dev (never test). Writes a JSON of every measurement.

    OPENBLAS_NUM_THREADS=1 python scripts/experiments/part2_grpo.py --out runs/exp/a.json ...
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

from minigpt import assistant, evaluation, reference
from minigpt.checkpoint import load_checkpoint, save_checkpoint
from minigpt.grpo import GRPOConfig, train_grpo
from minigpt.sft import encode_dataset, train_sft
from minigpt.train import TrainConfig

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--sft-steps", type=int, default=300)
p.add_argument("--sft-lr", type=float, default=5e-4)
p.add_argument("--sft-train", type=int, default=800, help="train expressions per family")
p.add_argument("--dev", type=int, default=30)
p.add_argument("--grpo-train", type=int, default=800, help="train questions per family for GRPO")
p.add_argument("--sft-cache", default=None, help="reuse/save the SFT model here")
p.add_argument("--grpo-its", type=int, default=0)
p.add_argument("--grpo-lr", type=float, default=5e-5)
p.add_argument("--prompts", type=int, default=32)
p.add_argument("--group", type=int, default=8)
p.add_argument("--beta", type=float, default=0.04)
p.add_argument("--eval-every", type=int, default=25)
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--minibatch", type=int, default=64)
p.add_argument("--format", default="result", choices=["result", "restate", "work", "mixed", "shell"])
p.add_argument("--temperature", type=float, default=1.0)
args = p.parse_args()

if args.format == "restate":
    # an experiment: the reply restates the expression before its value ("`17 // 5` evaluates to 3.")
    from minigpt import sessions
    _EVAL = "` evaluates to "

    def _read(text):
        text = text.strip()
        if not (text.startswith("`") and _EVAL in text and text.endswith(".")):
            return sessions.MALFORMED
        return sessions.parse_answer(text[text.index(_EVAL) + len(_EVAL):-1])

    _orig_make = assistant.make_examples

    def _make(expressions, seed=0, phrasings=1):
        return [assistant.Example(e.question, f"`{e.expr}{_EVAL}{e.value}.", e.expr, e.family, e.value)
                for e in _orig_make(expressions, seed, phrasings)]

    assistant.make_examples = _make
    assistant.read_answer = _read

if args.format == "shell":
    # an experiment: the reply is an interpreter exchange, ">>> EXPR\nVALUE", the base model's own format
    from minigpt import sessions

    def _read(text):
        lines = text.strip().split("\n")
        if len(lines) != 2 or not lines[0].startswith(">>> "):
            return sessions.MALFORMED
        return sessions.parse_answer(lines[1])

    _orig_make = assistant.make_examples

    def _make(expressions, seed=0, phrasings=1):
        return [assistant.Example(e.question, f">>> {e.expr}\n{e.value}", e.expr, e.family, e.value)
                for e in _orig_make(expressions, seed, phrasings)]

    assistant.make_examples = _make
    assistant.read_answer = _read

if args.format in ("work", "mixed"):
    # an experiment: the reply may show an interpreter line first (">>> EXPR\nVALUE\n"), then
    # "The result is VALUE."; the verifier reads the last "The result is" sentence.
    from minigpt import sessions

    def _read(text):
        text = text.strip()
        k = text.rfind(assistant.ANSWER_PREFIX)
        if k < 0 or not text.endswith("."):
            return sessions.MALFORMED
        return sessions.parse_answer(text[k + len(assistant.ANSWER_PREFIX):-1])

    _orig_make = assistant.make_examples

    def _make(expressions, seed=0, phrasings=1):
        out = []
        for i, e in enumerate(_orig_make(expressions, seed, phrasings)):
            work = args.format == "work" or i % 2 == 0
            answer = f">>> {e.expr}\n{e.value}\n{e.answer}" if work else e.answer
            out.append(assistant.Example(e.question, answer, e.expr, e.family, e.value))
        return out

    assistant.make_examples = _make
    assistant.read_answer = _read

t0 = time.time()
base = reference.load_stage("pretrain")
tok = base["tokenizer"]
splits = assistant.task_splits({"train": args.sft_train, "dev": args.dev}, seed=0, phrasings=1)
train, dev = splits["train"], splits["dev"]
log = {"args": vars(args)}


def dev_eval(model, temperature=0.0, samples=1):
    r = evaluation.evaluate_policy(model, tok, dev, temperature=temperature, samples=samples, seed=123)
    fams = {f: round(v["accuracy"], 3) for f, v in r["by_family"]["families"].items()}
    return {"acc": r["accuracy"], "se": r["se"], "fam": fams}


if args.sft_cache and Path(args.sft_cache).is_file():
    sft = load_checkpoint(args.sft_cache)["model"]
    log["sft_time"] = None
else:
    model = base["model"]
    bs = model.config.block_size
    pairs, _ = encode_dataset(tok, [{"question": e.question, "answer": e.answer} for e in train], bs)
    sp = assistant.task_splits({"dev": 20}, seed=7)["dev"]
    val_pairs, _ = encode_dataset(tok, [{"question": e.question, "answer": e.answer} for e in sp], bs)
    cfg = TrainConfig(max_iters=args.sft_steps, batch_size=32, learning_rate=args.sft_lr, min_lr=args.sft_lr / 10,
                      warmup_iters=20, eval_interval=max(args.sft_steps // 3, 1), eval_iters=1, seed=0)
    ts = time.time()
    train_sft(model, pairs, val_pairs, cfg, progress=False)
    log["sft_time"] = time.time() - ts
    sft = model
    if args.sft_cache:
        save_checkpoint(args.sft_cache, sft, tok)
log["sft_dev"] = dev_eval(sft)
print("SFT dev", round(log["sft_dev"]["acc"], 3), log["sft_dev"]["fam"], flush=True)

if args.grpo_its:
    policy = load_checkpoint(args.sft_cache)["model"] if args.sft_cache else sft
    ref = load_checkpoint(args.sft_cache)["model"] if args.sft_cache else None
    cfg = GRPOConfig(iterations=args.grpo_its, prompts_per_step=args.prompts, group_size=args.group,
                     learning_rate=args.grpo_lr, beta=args.beta, minibatch_size=args.minibatch, epochs=args.epochs,
                     temperature=args.temperature)
    evals = []

    steps = []

    def evaluate(it):
        e = dev_eval(policy)
        evals.append((it, e["acc"]))
        recent = steps[-args.eval_every:]
        summary = {k: round(float(np.mean([s[k] for s in recent])), 3) for k in ("reward", "kl", "useful_groups")} if recent else {}
        print(f"it {it} dev greedy {e['acc']:.3f} {time.time() - t0:.0f}s train {summary}", flush=True)
        return e

    tg = time.time()
    from minigpt import grpo as _grpo
    _step = _grpo.GRPOTrainer.step

    def _logged(self, prompts):
        out = _step(self, prompts)
        steps.append(out)
        return out

    _grpo.GRPOTrainer.step = _logged
    grpo_pool = assistant.task_splits({"train": args.grpo_train}, seed=0)["train"]
    hist = train_grpo(policy, ref, tok, grpo_pool, cfg, evaluate=evaluate, eval_every=args.eval_every)
    log["grpo_time"] = time.time() - tg
    log["grpo_steps"] = hist["steps"]
    log["grpo_evals"] = hist["evals"]
    log["grpo_final_T1"] = dev_eval(policy, 1.0, 4)
    log["sft_T1"] = dev_eval(load_checkpoint(args.sft_cache)["model"], 1.0, 4) if args.sft_cache else None
    print("final T1", log["grpo_final_T1"]["acc"], "sft T1", log["sft_T1"] and log["sft_T1"]["acc"])
log["total_time"] = time.time() - t0
Path(args.out).parent.mkdir(parents=True, exist_ok=True)
Path(args.out).write_text(json.dumps(log, indent=1))
