"""Numerical cross-check of `influence score` against Kronfluence on the same model and data.

Fits Kronfluence's EK-FAC (fused attention blocks, a ones column for layers with a bias, labels
sampled from the model, damping 0.1 × mean eigenvalue per module) and computes pairwise scores;
then runs `influence fit --attention-blocks fused --include-bias` and `influence score
--damping auto` and prints the Spearman correlation of the two score rows of every query.
Both fits sample labels, so they agree only up to sampling noise (Kronfluence against itself
with another seed is the yardstick, printed too).

    python3 Tools/reference/compare_kronfluence_scores.py MODEL_DIR FIT.jsonl QUERIES.jsonl TRAIN.jsonl
"""
import json
import logging
import os
import subprocess
import sys
import tempfile

import torch
from kronfluence.analyzer import Analyzer, prepare_model
from kronfluence.arguments import FactorArguments, ScoreArguments
from kronfluence_task import LM, Items
from tokenizers import Tokenizer
from transformers import GPTNeoXForCausalLM

torch.set_num_threads(1)
logging.disable(logging.WARNING)
INFLUENCE = os.path.join(os.path.dirname(__file__), "..", "..", ".build", "release", "influence")


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def spearman(a, b):
    ra = torch.tensor(a).argsort().argsort().double()
    rb = torch.tensor(b).argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))

def tokenized(records, tokenizer):
    """(tokens, prompt length) per record, tokenised as DESIGN §8 says."""
    pairs = []
    for r in records:
        if "text" in r:
            pairs.append((tokenizer.encode(r["text"]).ids, 0))
        else:
            prompt = tokenizer.encode(r["prompt"]).ids
            pairs.append((prompt + tokenizer.encode(r["completion"]).ids, len(prompt)))
    return pairs


def kronfluence_scores(model_dir, fit, queries, train, seed, directory):
    torch.manual_seed(seed)
    tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    model = GPTNeoXForCausalLM.from_pretrained(model_dir).eval()
    task = LM()
    task.model = model
    model = prepare_model(model, task)
    analyzer = Analyzer(analysis_name=f"cmp{seed}", model=model, task=task, cpu=True, output_dir=directory, disable_tqdm=True)
    analyzer.fit_all_factors(factors_name="f", dataset=Items(tokenized(read(fit), tokenizer)), per_device_batch_size=1,
                             factor_args=FactorArguments(strategy="ekfac"), overwrite_output_dir=True)
    analyzer.compute_pairwise_scores(scores_name="s", factors_name="f", query_dataset=Items(tokenized(read(queries), tokenizer)),
                                     train_dataset=Items(tokenized(read(train), tokenizer)), per_device_query_batch_size=1,
                                     per_device_train_batch_size=1, score_args=ScoreArguments(damping_factor=None),
                                     overwrite_output_dir=True)
    return analyzer.load_pairwise_scores("s")["all_modules"].double().tolist()


def main():
    model_dir, fit, queries, train = sys.argv[1:5]
    with tempfile.TemporaryDirectory() as directory:
        kf = kronfluence_scores(model_dir, fit, queries, train, 0, directory)
        kf2 = kronfluence_scores(model_dir, fit, queries, train, 1, directory)
        factors = os.path.join(directory, "factors")
        subprocess.run([INFLUENCE, "fit", model_dir, "--data", fit, "--out", factors, "--attention-blocks", "fused", "--include-bias"],
                       check=True, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        out = subprocess.run([INFLUENCE, "score", "--model", model_dir, "--factors", factors, "--queries", queries, "--train", train,
                              "--damping", "auto"], check=True, capture_output=True, text=True).stdout
        ours = json.loads(out)["scores"]
    for q in range(len(ours)):
        print(f"query {q}: Spearman(ours, Kronfluence) = {spearman(ours[q], kf[q]):.3f}; "
              f"Kronfluence seed 0 vs seed 1 = {spearman(kf[q], kf2[q]):.3f}")


if __name__ == "__main__":
    main()
