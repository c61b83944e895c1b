"""What the Part II experiments share: the shipped seed-0 SFT model, the run's questions, and a
measurement on dev (greedy, and at temperature 1 with four samples per question)."""
from minigpt import alignment, evaluation, reference


def shipped_sft_and_data(config: alignment.AlignmentConfig):
    """(tokenizer, SFT model, {train, dev, test}) of the shipped run's seed 0."""
    sft = reference.load_stage("sft", seed=0)
    return sft["tokenizer"], sft["model"], alignment.task_data(config)


def measure_on_dev(model, tokenizer, dev, config):
    """Each dev question's greedy score (N,) and its mean score over four samples at T=1 (N,)."""
    g = evaluation.evaluate_policy(model, tokenizer, dev, max_new_tokens=config.max_new_tokens)
    t = evaluation.evaluate_policy(model, tokenizer, dev, temperature=1.0, samples=4,
                                   max_new_tokens=config.max_new_tokens, seed=123)
    return g["scores"][:, 0], evaluation.per_prompt(t["scores"])
