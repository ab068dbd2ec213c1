"""Kronfluence side of `influence-bench influence`: the same EK-FAC fit and pairwise scoring
on a 70m-sized GPT-NeoX with random weights (16 fitting sequences × 256 tokens; 8 queries of
64 tokens, half prompt; 32 training documents of 256 tokens), PyTorch CPU with one thread.
Kronfluence tracks fused attention blocks (it has no per-head option) and, for layers with a bias,
appends a ones column to the inputs (blocks d_in + 1 wide).

    pip install --no-deps kronfluence accelerate einconv einops opt-einsum psutil pyyaml
    python3 Tools/reference/bench_kronfluence.py
    swift run -c release influence-bench influence     # in the same session
"""
import logging
import tempfile
import time

import torch
import torch.nn.functional as F
from kronfluence.analyzer import Analyzer, prepare_model
from kronfluence.arguments import FactorArguments, ScoreArguments
from kronfluence.task import Task
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

torch.set_num_threads(1)
logging.disable(logging.WARNING)
V = 50304


class Sequences(torch.utils.data.Dataset):
    def __init__(self, count, length, prompt, seed):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, V, (count, length), generator=g)
        self.prompt = prompt

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        labels = self.ids[i].clone()
        labels[: self.prompt] = -100
        return {"input_ids": self.ids[i], "labels": labels}


class LanguageModelling(Task):
    def compute_train_loss(self, batch, model, sample=False):
        logits = model(input_ids=batch["input_ids"]).logits[:, :-1].float()
        flat = logits.reshape(-1, logits.size(-1))
        if sample:
            with torch.no_grad():
                labels = torch.multinomial(F.softmax(flat, -1), 1).flatten()
        else:
            labels = batch["input_ids"][:, 1:].reshape(-1)
        return F.cross_entropy(flat, labels, reduction="sum")

    def compute_measurement(self, batch, model):
        logits = model(input_ids=batch["input_ids"]).logits[:, :-1].float()
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch["labels"][:, 1:].reshape(-1),
                               ignore_index=-100, reduction="sum")

    def get_influence_tracked_modules(self):
        names = []
        for l in range(6):
            p = f"gpt_neox.layers.{l}."
            names += [p + "attention.query_key_value", p + "attention.dense", p + "mlp.dense_h_to_4h", p + "mlp.dense_4h_to_h"]
        return names

    def get_attention_mask(self, batch):
        return None


def main():
    torch.manual_seed(1)
    config = GPTNeoXConfig(vocab_size=V, hidden_size=512, num_attention_heads=8, intermediate_size=2048, num_hidden_layers=6,
                           max_position_embeddings=2048, tie_word_embeddings=False)
    model = GPTNeoXForCausalLM(config).eval()
    task = LanguageModelling()
    model = prepare_model(model, task)
    with tempfile.TemporaryDirectory() as directory:
        analyzer = Analyzer(analysis_name="bench", model=model, task=task, cpu=True, output_dir=directory, disable_tqdm=True)
        fitting = Sequences(16, 256, 0, 3)
        start = time.perf_counter()
        analyzer.fit_all_factors(factors_name="ekfac", dataset=fitting, per_device_batch_size=8,
                                 factor_args=FactorArguments(strategy="ekfac"), overwrite_output_dir=True)
        fit = time.perf_counter() - start
        queries, documents = Sequences(8, 64, 32, 4), Sequences(32, 256, 0, 5)
        start = time.perf_counter()
        analyzer.compute_pairwise_scores(scores_name="scores", factors_name="ekfac", query_dataset=queries, train_dataset=documents,
                                         per_device_query_batch_size=8, per_device_train_batch_size=8,
                                         score_args=ScoreArguments(), overwrite_output_dir=True)
        score = time.perf_counter() - start
    print("Kronfluence 1.0.1, EK-FAC on a 70m-sized GPT-NeoX (random weights), one thread")
    print(f"  fit (covariances + eigendecomposition + eigenvalue correction), 16 x 256 tokens: {fit:.1f} s")
    print(f"  score 8 queries against 32 documents of 256 tokens: {score:.1f} s ({32 / score:.2f} documents/s)")


if __name__ == "__main__":
    main()
