"""Experiment: DPO variants from the shipped SFT model (seed 0), measured on dev (never test):
which pairs (the model's own samples only, or with the reference and another question's
reply), plain DPO or DPO with the chosen replies' NLL (``DPOConfig.nll_weight``).

    OPENBLAS_NUM_THREADS=1 python scripts/experiments/part2_dpo.py --out runs/exp/dpo.json
"""
import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from minigpt import alignment, evaluation
from minigpt.assistant import BiasedLabeller, verify_all
from minigpt.dpo import train_dpo
from minigpt.preferences import PreferenceGroup
from minigpt.sft import sample_replies

from dev_setup import measure_on_dev, shipped_sft_and_data

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--samples", type=int, default=4)
p.add_argument("--questions", type=int, default=1500)
p.add_argument("--variants", default="own:1:2e-5,own:0:2e-5,own:1:5e-5,all:1:2e-5",
               help="comma-separated pairs:nll_weight:lr, pairs = own (sample vs sample) or all")
p.add_argument("--own-questions", type=int, default=3000)
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--beta", type=float, default=0.1)
args = p.parse_args()

t0 = time.time()
cfg = alignment.AlignmentConfig(preference_samples=args.samples, preference_questions=args.questions)
tok, sft_model, data = shipped_sft_and_data(cfg)
dev = data["dev"]


def measure(model):
    return measure_on_dev(model, tok, dev, cfg)


base_g, base_t = measure(sft_model)
log = {"args": vars(args), "sft": {"greedy": float(base_g.mean()), "t1": float(base_t.mean())}, "runs": []}
print("SFT dev greedy", round(base_g.mean(), 3), "T1", round(base_t.mean(), 3), flush=True)
train_groups, _, _ = alignment.stage_preferences(sft_model, tok, data, cfg)


def own_pairs(questions, k):
    """Groups of the SFT model's own k samples only (each distinct reply once), every pair labelled."""
    rng = np.random.default_rng([0, 77])
    labeller = BiasedLabeller(cfg.length_bias, cfg.labeller_tau, cfg.labeller_flip, seed=np.random.default_rng([0, 78]))
    sampled = sample_replies(sft_model, tok, [e.question for e in questions], k, cfg.max_new_tokens, seed=rng)
    out = []
    for e, drawn in zip(questions, sampled):
        cands = list(dict.fromkeys((t, x) for t, x, _ in drawn))
        if len(cands) < 2:
            continue
        replies, ended = [t for t, _ in cands], [x for _, x in cands]
        a, b = np.triu_indices(len(replies), k=1)
        ra, rb = [replies[i] for i in a], [replies[i] for i in b]
        out.append(PreferenceGroup(e, replies, ended, ["sample"] * len(replies), verify_all([e] * len(replies), replies),
                                   a, b, labeller.label([e] * len(a), ra, rb), labeller.prob_a([e] * len(a), ra, rb)))
    return out


own_q = [data["train"][i] for i in np.random.default_rng([0, 79]).permutation(len(data["train"]))[:args.own_questions]]
pools = {"all": train_groups, "own": own_pairs(own_q, args.samples)}
for name, groups in pools.items():
    gold_c = np.concatenate([g.gold[g.chosen] for g in groups])
    gold_r = np.concatenate([g.gold[g.rejected] for g in groups])
    info = {"pairs": len(gold_c), "informative": float(np.mean(gold_c != gold_r)),
            "correct_chosen_when_informative": float(np.mean(gold_c[gold_c != gold_r] > gold_r[gold_c != gold_r]))}
    log[f"pairs_{name}"] = info
    print(name, info, flush=True)

for variant in args.variants.split(","):
    pairs, nll, lr = variant.split(":")
    model = alignment.copy_model(sft_model)
    dcfg = replace(cfg.dpo, learning_rate=float(lr), min_lr=float(lr) / 10, nll_weight=float(nll),
                   epochs=args.epochs, beta=args.beta)
    ts = time.time()
    train_log = train_dpo(model, sft_model, tok, pools[pairs], dcfg)
    g, t = measure(model)
    dg, dt = evaluation.paired_difference(g, base_g), evaluation.paired_difference(t, base_t)
    run = {"variant": variant, "greedy": float(g.mean()), "t1": float(t.mean()), "paired_greedy": dg,
           "paired_t1": dt, "seconds": time.time() - ts, "final": train_log[-1]}
    log["runs"].append(run)
    print(variant, "greedy", round(g.mean(), 3), f"({dg['diff']:+.3f} ± {dg['se']:.3f})", "T1", round(t.mean(), 3),
          f"({dt['diff']:+.3f} ± {dt['se']:.3f})", f"{run['seconds']:.0f}s", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(log, indent=1, default=float))
