"""Gauss–Newton–vector product reference for `GaussNewtonProduct` (the products CG, LiSSA and
Arnoldi run on), with torch.func's jvp and vjp in Float64.

Takes the GPT-NeoX model of the GDP fixture (Tests/InfluenceTests/Fixtures/gdp, a copy of the
parallel-rotary25 model), three plain-text sequences, and the direction
    v[module m][i] = sin(0.37 · i + m)     (row-major [out, in], the tracked weights
                                             query_key_value, dense, dense_h_to_4h, dense_4h_to_h
                                             of every layer in layer order; no biases)
and writes
  Tests/InfluenceTests/Fixtures/ggn/reference.safetensors
    tokens   int64 [S, T] (0-padded)   lengths int64 [S]
    gv.<m>   f32 [out, in]   G·v with G = (1/S) Σ_sequences Σ_{t < T−1} J_tᵀ (diag p_t − p_t p_tᵀ) J_t,
             J_t the Jacobian of row t's logits in the tracked weights (every next-token target counted)

    python3 Tools/reference/make_ggn_fixture.py
"""
import math
import os

import torch
from safetensors.torch import save_file
from torch.func import functional_call, jvp, vjp
from transformers import GPTNeoXForCausalLM

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
MODEL = os.path.join(ROOT, "Tests", "InfluenceTests", "Fixtures", "gdp")
OUT = os.path.join(ROOT, "Tests", "InfluenceTests", "Fixtures", "ggn")
SEQUENCES = [[3, 17, 42, 8, 8, 59, 1, 30, 12], [5, 0, 60, 21], [44, 9, 9, 2, 37, 14]]


def main():
    os.makedirs(OUT, exist_ok=True)
    model = GPTNeoXForCausalLM.from_pretrained(MODEL, dtype=torch.float64, attn_implementation="eager")
    model.eval()
    params = {name: p.detach() for name, p in model.named_parameters()}
    names = []
    for layer in range(model.config.num_hidden_layers):
        prefix = f"gpt_neox.layers.{layer}."
        names += [prefix + "attention.query_key_value.weight", prefix + "attention.dense.weight",
                  prefix + "mlp.dense_h_to_4h.weight", prefix + "mlp.dense_4h_to_h.weight"]
    tracked = {n: params[n] for n in names}
    v = {}
    for m, n in enumerate(names):
        count = tracked[n].numel()
        v[n] = torch.tensor([math.sin(0.37 * i + m) for i in range(count)], dtype=torch.float64).reshape(tracked[n].shape)

    total = {n: torch.zeros_like(tracked[n]) for n in names}
    for sequence in SEQUENCES:
        ids = torch.tensor([sequence])

        def logits(weights):
            return functional_call(model, {**params, **weights}, (ids,)).logits[0]

        z0, z = jvp(logits, (tracked,), (v,))
        p = torch.softmax(z0, dim=-1)
        u = p * (z - (p * z).sum(dim=-1, keepdim=True))
        u[-1] = 0  # the last token has no next-token target
        _, pullback = vjp(logits, tracked)
        (gv,) = pullback(u)
        for n in names:
            total[n] += gv[n]
    T = max(len(s) for s in SEQUENCES)
    tensors = {
        "tokens": torch.tensor([s + [0] * (T - len(s)) for s in SEQUENCES], dtype=torch.int64),
        "lengths": torch.tensor([len(s) for s in SEQUENCES], dtype=torch.int64),
    }
    for m, n in enumerate(names):
        tensors[f"gv.{m}"] = (total[n] / len(SEQUENCES)).to(torch.float32).contiguous()
    save_file(tensors, os.path.join(OUT, "reference.safetensors"))
    print("wrote", os.path.join(OUT, "reference.safetensors"))


if __name__ == "__main__":
    main()
