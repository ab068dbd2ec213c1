"""Writes Tests/InfluenceTests/Fixtures/kronfluence: a tiny random GPT-NeoX, token ids of fitting
data, queries and training documents, and what Kronfluence 1.0.1 computes on them (EK-FAC, fused
attention blocks, a ones column for layers with a bias, labels sampled from the model, absolute
damping), for KronfluenceTests.swift:

* `{module}.A`: Kronfluence's activation covariance, converted to our convention (DESIGN §8):
  Kronfluence counts every position, we count the positions with a target, so the last position
  of each sequence is taken out of the sum and the count. Deterministic: the two must agree.
  The script checks the conversion against a direct PyTorch computation.
* `{module}.S` and `{module}.S.seed1`: gradient covariances of two Kronfluence fits with
  different seeds, converted the same way (the last position's gradient is zero). Sampled: they
  agree up to sampling noise, whose size the two seeds show.
* `scores` and `scores.seed1`: pairwise scores of the two fits [queries × documents].

    python3 Tools/reference/make_kronfluence_fixture.py

Needs torch (CPU), transformers and kronfluence (`pip install --no-deps kronfluence accelerate
einconv einops opt-einsum psutil pyyaml`).
"""
import logging
import os
import tempfile

import torch
from kronfluence.analyzer import Analyzer, prepare_model
from kronfluence.arguments import FactorArguments, ScoreArguments
from kronfluence_task import MODULES, LM, Items
from safetensors.torch import save_file
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

torch.set_num_threads(1)
logging.disable(logging.WARNING)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "InfluenceTests", "Fixtures", "kronfluence")
DAMPING = 1e-3


def spearman(a, b):
    ra = torch.tensor(a).argsort().argsort().double()
    rb = torch.tensor(b).argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def random_sequences(generator, count, lengths, vocabulary):
    return [torch.randint(0, vocabulary, (int(torch.randint(lengths[0], lengths[1] + 1, (1,), generator=generator)),),
                          generator=generator).tolist() for _ in range(count)]

def kronfluence(model_dir, fit, queries, train, seed, directory):
    torch.manual_seed(seed)
    model = GPTNeoXForCausalLM.from_pretrained(model_dir).eval()
    task = LM()
    task.model = model
    model = prepare_model(model, task)
    analyzer = Analyzer(analysis_name=f"fixture{seed}", model=model, task=task, cpu=True, output_dir=directory, disable_tqdm=True)
    analyzer.fit_all_factors(factors_name="f", dataset=Items(fit), per_device_batch_size=1, overwrite_output_dir=True,
                             factor_args=FactorArguments(strategy="ekfac", activation_covariance_dtype=torch.float64,
                                                         gradient_covariance_dtype=torch.float64))
    analyzer.compute_pairwise_scores(scores_name="s", factors_name="f", query_dataset=Items(queries), train_dataset=Items(train),
                                     per_device_query_batch_size=1, per_device_train_batch_size=1,
                                     score_args=ScoreArguments(damping_factor=DAMPING), overwrite_output_dir=True)
    covariances = analyzer.load_covariance_matrices("f")
    scores = analyzer.load_pairwise_scores("s")["all_modules"].double()
    return covariances, scores


def last_rows(model, fit):
    """Per module, Σ over sequences of a aᵀ at the last position (with the ones column)."""
    sums, hooks = {}, []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name.split(".")[-1] in MODULES:
            def hook(module, inputs, output, name=name):
                a = torch.cat([inputs[0][0, -1].double(), torch.ones(1, dtype=torch.float64)])
                sums[name] = sums.get(name, 0) + torch.outer(a, a)
            hooks.append(module.register_forward_hook(hook))
    with torch.no_grad():
        for ids, _ in fit:
            model(input_ids=torch.tensor([ids]))
    for h in hooks:
        h.remove()
    return sums


def counted_rows_covariance(model, fit):
    """Direct A over the positions with a target, to check the conversion."""
    sums, count, hooks = {}, [0], []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name.split(".")[-1] in MODULES:
            def hook(module, inputs, output, name=name):
                x = inputs[0][0, :-1].double()
                a = torch.cat([x, torch.ones(x.shape[0], 1, dtype=torch.float64)], 1)
                sums[name] = sums.get(name, 0) + a.T @ a
            hooks.append(module.register_forward_hook(hook))
    with torch.no_grad():
        for ids, _ in fit:
            model(input_ids=torch.tensor([ids]))
            count[0] += len(ids) - 1
    for h in hooks:
        h.remove()
    return {k: v / count[0] for k, v in sums.items()}


def padded(sequences):
    width = max(len(s) for s in sequences)
    return (torch.tensor([s + [0] * (width - len(s)) for s in sequences], dtype=torch.int64),
            torch.tensor([len(s) for s in sequences], dtype=torch.int64))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    config = GPTNeoXConfig(vocab_size=48, hidden_size=16, num_attention_heads=2, intermediate_size=32, num_hidden_layers=2,
                           max_position_embeddings=32, rotary_pct=0.5, attention_bias=True, use_parallel_residual=True,
                           tie_word_embeddings=False, initializer_range=0.3, hidden_act="gelu")
    model = GPTNeoXForCausalLM(config).eval()
    model.save_pretrained(OUT)
    generator = torch.Generator().manual_seed(1)
    V = config.vocab_size
    fit = [(s, 0) for s in random_sequences(generator, 64, (5, 12), V)]
    train = [(s, 0) for s in random_sequences(generator, 40, (4, 12), V)]
    queries = []
    for s in random_sequences(generator, 4, (6, 9), V):
        queries.append((s, 3))

    with tempfile.TemporaryDirectory() as directory:
        covariances0, scores0 = kronfluence(OUT, fit, queries, train, 0, directory)
        covariances1, scores1 = kronfluence(OUT, fit, queries, train, 1, directory)

    tensors = {}
    for name, value in (("fit", fit), ("query", queries), ("train", train)):
        tokens, lengths = padded([ids for ids, _ in value])
        tensors[f"{name}_tokens"], tensors[f"{name}_lengths"] = tokens, lengths
    tensors["query_prompt_lengths"] = torch.tensor([p for _, p in queries], dtype=torch.int64)
    tensors["scores"], tensors["scores.seed1"] = scores0.float().contiguous(), scores1.float().contiguous()

    reference = GPTNeoXForCausalLM.from_pretrained(OUT).eval()
    last = last_rows(reference, fit)
    direct = counted_rows_covariance(reference, fit)
    sequences = len(fit)
    for name in last:
        total = float(covariances0["num_activation_covariance_processed"][name])
        assert total == sum(len(ids) for ids, _ in fit), "Kronfluence counts every position"
        a = (covariances0["activation_covariance"][name].double() - last[name]) / (total - sequences)
        error = float((a - direct[name]).norm() / direct[name].norm())
        assert error < 1e-6, f"{name}: A conversion off by {error}"
        tensors[f"{name}.A"] = a.float().contiguous()
        for suffix, covariances in (("S", covariances0), ("S.seed1", covariances1)):
            count = float(covariances["num_gradient_covariance_processed"][name])
            tensors[f"{name}.{suffix}"] = (covariances["gradient_covariance"][name].double() / (count - sequences)).float().contiguous()
    save_file(tensors, os.path.join(OUT, "kronfluence.safetensors"), metadata={"damping": str(DAMPING)})

    for q in range(len(queries)):
        print(f"query {q}: Spearman(Kronfluence seed 0, seed 1) = {spearman(scores0[q].tolist(), scores1[q].tolist()):.3f}")
    for name in last:
        s0, s1 = tensors[f"{name}.S"].double(), tensors[f"{name}.S.seed1"].double()
        print(f"{name}: S seed-to-seed relative difference {float((s0 - s1).norm() / s0.norm()):.3f}")


if __name__ == "__main__":
    main()
