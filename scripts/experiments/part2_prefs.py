"""Experiment: preferences -> reward model -> best-of-n -> PPO -> DPO from a cached SFT model,
with alignment.py's stage functions, measured on dev (never test). Prints as it goes."""
import argparse
import json
import time
from pathlib import Path


from minigpt import alignment, evaluation
from minigpt.checkpoint import load_checkpoint
from minigpt.dpo import DPOConfig
from minigpt.ppo import PPOConfig
from minigpt.reward import RewardTrainConfig

p = argparse.ArgumentParser()
p.add_argument("--sft", required=True)
p.add_argument("--out", required=True)
p.add_argument("--length-bias", type=float, default=0.25)
p.add_argument("--pref-q", type=int, default=1500)
p.add_argument("--rm-steps", type=int, default=300)
p.add_argument("--rm-lr", type=float, default=1e-4)
p.add_argument("--ppo-its", type=int, default=60)
p.add_argument("--ppo-lr", type=float, default=3e-5)
p.add_argument("--ppo-beta", type=float, default=0.05)
p.add_argument("--dpo-lrs", default="1e-5,5e-5")
p.add_argument("--dpo-beta", type=float, default=0.1)
p.add_argument("--skip", default="")
args = p.parse_args()
t0 = time.time()
ck = load_checkpoint(args.sft)
sft, tok = ck["model"], ck["tokenizer"]
cfg = alignment.AlignmentConfig(
    length_bias=args.length_bias, preference_questions=args.pref_q, rm_question_counts=(args.pref_q,),
    reward=RewardTrainConfig(steps=args.rm_steps, learning_rate=args.rm_lr, min_lr=args.rm_lr / 10),
    ppo=PPOConfig(iterations=args.ppo_its, rollout_size=64, minibatch_size=32, ppo_epochs=2,
                  learning_rate=args.ppo_lr, value_learning_rate=1e-4, beta=args.ppo_beta),
    dpo=DPOConfig(epochs=2, batch_size=32, beta=args.dpo_beta),
    dpo_learning_rates=tuple(float(x) for x in args.dpo_lrs.split(",")))
data = alignment.task_data(cfg)
log = {"args": vars(args)}


def say(*a):
    print(f"[{time.time() - t0:5.0f}s]", *a, flush=True)


train_groups, dev_groups, labeller = alignment.stage_preferences(sft, tok, data, cfg)
say("preferences", len(train_groups), len(dev_groups), "ceiling", round(alignment.labeller_ceiling(labeller, dev_groups), 3))
rms, curve = alignment.stage_reward_models(sft, tok, train_groups, dev_groups, cfg)
rm = rms[args.pref_q]
log["rm"] = curve
say("RM", {k: round(v, 3) for k, v in curve[-1].items() if isinstance(v, float)}, "best step", curve[-1]["best_step"])
if "bon" not in args.skip:
    bon = evaluation.best_of_n(sft, tok, data["dev"][:150], rm, (1, 2, 4, 8, 16, 32), 40, seed=5)
    log["bon"] = bon
    say("BoN gold", [round(x, 3) for x in bon["gold"]], "proxy", [round(x, 2) for x in bon["proxy"]],
        "oracle", [round(x, 3) for x in bon["oracle"]])
if "ppo" not in args.skip:
    policy, rec = alignment.stage_ppo(sft, rm, tok, data, cfg)
    log["ppo"] = rec["curve"]
    for c in rec["curve"]:
        say("PPO", c["iteration"], {k: round(c[k], 3) for k in ("greedy", "gold", "proxy", "kl", "reply_chars")})
if "dpo" not in args.skip:
    model, rec = alignment.stage_dpo(sft, tok, train_groups, data, cfg)
    log["dpo"] = rec
    say("DPO", rec["tried"])
    t1 = evaluation.evaluate_policy(model, tok, data["dev"], temperature=1.0, samples=2, seed=3)
    t1s = evaluation.evaluate_policy(sft, tok, data["dev"], temperature=1.0, samples=2, seed=3)
    say("DPO T1", round(t1["accuracy"], 3), "SFT T1", round(t1s["accuracy"], 3))
Path(args.out).write_text(json.dumps(log, indent=1, default=float))
