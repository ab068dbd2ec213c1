"""Gradient-dot-product (GDP) reference for `influence score --method gdp`.

Takes the parallel-rotary25 GPT-NeoX fixture, builds two queries (a prompt/completion pair
whose measurement is the summed cross-entropy of the completion tokens, and a plain text)
and five training texts, and writes, with PyTorch autograd,

  Tests/InfluenceTests/Fixtures/gdp/{config.json, model.safetensors}   (copied model)
  Tests/InfluenceTests/Fixtures/gdp/reference.safetensors
    query_tokens  int64 [Q, T] (0-padded)   query_lengths int64 [Q]   query_prompt_lengths int64 [Q]
    train_tokens  int64 [D, T]              train_lengths int64 [D]
    scores        f64 [Q, D]   Σ over tracked weights (query_key_value, dense, dense_h_to_4h,
                               dense_4h_to_h of every layer; no biases) of ⟨∇f(q), ∇L(d)⟩
    module_scores f64 [M, Q, D] the same per module, in layer order

    python3 Tools/reference/make_gdp_fixture.py
"""
import os
import shutil

import torch
from safetensors.torch import save_file
from transformers import GPTNeoXForCausalLM

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SOURCE = os.path.join(ROOT, "Tests", "ModelsTests", "Fixtures", "gpt_neox", "parallel-rotary25")
OUT = os.path.join(ROOT, "Tests", "InfluenceTests", "Fixtures", "gdp")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in ["config.json", "model.safetensors"]:
        shutil.copy(os.path.join(SOURCE, name), os.path.join(OUT, name))
    model = GPTNeoXForCausalLM.from_pretrained(OUT, attn_implementation="eager").float().eval()
    V = model.config.vocab_size
    g = torch.Generator().manual_seed(7)
    queries = [(torch.randint(0, V, (9,), generator=g).tolist(), 5), (torch.randint(0, V, (6,), generator=g).tolist(), 0)]
    train = [torch.randint(0, V, (n,), generator=g).tolist() for n in [7, 12, 4, 9, 2]]

    tracked = [n for n, _ in model.named_parameters()
               if n.endswith(("query_key_value.weight", "attention.dense.weight", "dense_h_to_4h.weight", "dense_4h_to_h.weight"))]
    tracked.sort(key=lambda n: (int(n.split(".")[2]), ["query_key_value", "attention.dense", "dense_h_to_4h", "dense_4h_to_h"].index(
        next(k for k in ["query_key_value", "attention.dense", "dense_h_to_4h", "dense_4h_to_h"] if k in n))))
    params = dict(model.named_parameters())

    def gradient(tokens, prompt_length):
        x = torch.tensor([tokens])
        logits = model(input_ids=x).logits[0]
        start = max(prompt_length, 1)  # row t predicts token t+1; count targets at index >= prompt length
        loss = torch.nn.functional.cross_entropy(logits[start - 1:-1], x[0, start:], reduction="sum")
        grads = torch.autograd.grad(loss, [params[n] for n in tracked])
        return [gr.double() for gr in grads]

    qg = [gradient(t, p) for t, p in queries]
    tg = [gradient(t, 0) for t in train]
    module_scores = torch.tensor([[[float((qg[q][m] * tg[d][m]).sum()) for d in range(len(train))]
                                   for q in range(len(queries))] for m in range(len(tracked))], dtype=torch.float64)

    def pad(seqs):
        T = max(len(s) for s in seqs)
        return torch.tensor([s + [0] * (T - len(s)) for s in seqs], dtype=torch.long)

    save_file({
        "query_tokens": pad([t for t, _ in queries]),
        "query_lengths": torch.tensor([len(t) for t, _ in queries]),
        "query_prompt_lengths": torch.tensor([p for _, p in queries]),
        "train_tokens": pad(train),
        "train_lengths": torch.tensor([len(t) for t in train]),
        "scores": module_scores.sum(0).contiguous(),
        "module_scores": module_scores.contiguous(),
    }, os.path.join(OUT, "reference.safetensors"))
    print("modules", tracked)
    print("scores", module_scores.sum(0))


if __name__ == "__main__":
    main()
