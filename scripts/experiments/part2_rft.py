"""Experiment: rejection-sampling fine-tuning (RFT) from the shipped SFT model (seed 0),
measured on dev (never test): sample k replies to train questions, keep one correct reply
per question the model solved (the verifier decides), fine-tune on them with the SFT
demonstrations.

    OPENBLAS_NUM_THREADS=1 python scripts/experiments/part2_rft.py --out runs/exp/rft.json
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
from minigpt import alignment, assistant, evaluation
from minigpt.sft import encode_dataset, sample_replies, train_sft
from minigpt.train import TrainConfig

from dev_setup import measure_on_dev, shipped_sft_and_data

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--questions", type=int, default=3000)
p.add_argument("--k", type=int, default=8)
p.add_argument("--steps", type=int, default=300)
p.add_argument("--lrs", default="1e-4,2e-4")
args = p.parse_args()

t0 = time.time()
cfg = alignment.AlignmentConfig()
tok, sft_model, data = shipped_sft_and_data(cfg)
dev = data["dev"]


def measure(model):
    return measure_on_dev(model, tok, dev, cfg)


base_g, base_t = measure(sft_model)
log = {"args": vars(args), "sft": {"greedy": float(base_g.mean()), "t1": float(base_t.mean())}, "runs": []}
print("SFT dev greedy", round(base_g.mean(), 3), "T1", round(base_t.mean(), 3), flush=True)

demos = alignment.sft_demonstrations(data["train"], cfg)
seen = {id(e) for e in demos}
pool = [e for e in data["train"] if id(e) not in seen]
questions = [pool[i] for i in np.random.default_rng([0, 90]).permutation(len(pool))[:args.questions]]
ts = time.time()
drawn = sample_replies(sft_model, tok, [e.question for e in questions], args.k, cfg.max_new_tokens,
                       seed=np.random.default_rng([0, 91]))
kept, solved_by_family = [], {}
for e, replies in zip(questions, drawn):
    ok = [t for t, ended, _ in replies if ended and assistant.verify(e, t)]
    solved_by_family.setdefault(e.family, []).append(bool(ok))
    if ok:
        kept.append({"question": e.question, "answer": ok[0]})
log["sampling_seconds"] = time.time() - ts
log["solved"] = len(kept) / len(questions)
log["solved_by_family"] = {f: float(np.mean(v)) for f, v in solved_by_family.items()}
print(f"solved {log['solved']:.3f} of {len(questions)} in {log['sampling_seconds']:.0f}s",
      {f: round(v, 2) for f, v in log["solved_by_family"].items()}, flush=True)

bs = sft_model.config.block_size
train_pairs, _ = encode_dataset(tok, kept + [{"question": e.question, "answer": e.answer} for e in demos], bs)
dev_pairs, _ = encode_dataset(tok, [{"question": e.question, "answer": e.answer} for e in dev], bs)
for lr in map(float, args.lrs.split(",")):
    model = alignment.copy_model(sft_model)
    tcfg = TrainConfig(max_iters=args.steps, batch_size=32, learning_rate=lr, min_lr=lr / 10,
                       warmup_iters=max(1, args.steps // 20), weight_decay=0.0, beta2=0.99,
                       eval_interval=args.steps, eval_iters=1, seed=5)
    ts = time.time()
    train_sft(model, train_pairs, dev_pairs, tcfg, progress=False)
    g, t = measure(model)
    dg, dt = evaluation.paired_difference(g, base_g), evaluation.paired_difference(t, base_t)
    fam = {f: round(float(np.mean([s for s, e in zip(g, dev) if e.family == f])), 2) for f in dict.fromkeys(
        e.family for e in dev)}
    run = {"lr": lr, "greedy": float(g.mean()), "t1": float(t.mean()), "paired_greedy": dg, "paired_t1": dt,
           "seconds": time.time() - ts, "by_family": fam}
    log["runs"].append(run)
    print(lr, "greedy", round(g.mean(), 3), f"({dg['diff']:+.3f} ± {dg['se']:.3f})", "T1", round(t.mean(), 3),
          f"({dt['diff']:+.3f} ± {dt['se']:.3f})", f"{run['seconds']:.0f}s", fam, flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(log, indent=1, default=float))
