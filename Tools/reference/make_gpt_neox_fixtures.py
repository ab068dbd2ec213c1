"""Reference fixtures for the GPT-NeoX forward and backward passes.

For each configuration, transformers' GPTNeoXForCausalLM (float32, eager attention) runs a
right-padded batch of sequences of different lengths with an attention mask, and this script
writes, next to the checkpoint (config.json + model.safetensors):

  reference.safetensors
    tokens           int64 [B, T]   (padded with 0)
    lengths          int64 [B]
    logits           f32   [N, V]   rows of the real tokens only, sequence after sequence
    loss             f64   [1]      summed next-token cross-entropy over all real targets
    grad.<name>      f32            d loss / d parameter, for every parameter

The Swift tests (Tests/ModelsTests/GPTNeoXReferenceTests.swift) pack the same sequences and
compare. Weights are re-initialised with a larger spread than transformers' default (and
layer norms perturbed) so that every parameter visibly affects the loss.

    python3 Tools/reference/make_gpt_neox_fixtures.py
"""
import json
import os

import torch
from safetensors.torch import save_file
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "ModelsTests", "Fixtures", "gpt_neox")

CONFIGS = {
    "parallel-rotary25": dict(use_parallel_residual=True, rotary_pct=0.25, attention_bias=True),
    "sequential-rotary100": dict(use_parallel_residual=False, rotary_pct=1.0, attention_bias=False),
}


def build(name, options, seed):
    torch.manual_seed(seed)
    config = GPTNeoXConfig(
        vocab_size=61, hidden_size=32, num_attention_heads=4, intermediate_size=48,
        num_hidden_layers=2, max_position_embeddings=32, rotary_emb_base=10000,
        layer_norm_eps=1e-5, hidden_act="gelu", tie_word_embeddings=False,
        **options,
    )
    config._attn_implementation = "eager"
    model = GPTNeoXForCausalLM(config).float().eval()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if "layernorm" in pname or "layer_norm" in pname:
                base = 1.0 if pname.endswith("weight") else 0.0
                p.copy_(base + 0.1 * torch.randn_like(p))
            elif pname.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))

    lengths = [11, 5, 8]
    B, T = len(lengths), max(lengths)
    tokens = torch.zeros(B, T, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    for b, n in enumerate(lengths):
        tokens[b, :n] = torch.randint(0, config.vocab_size, (n,))
        mask[b, :n] = 1

    logits = model(input_ids=tokens, attention_mask=mask).logits
    loss = torch.zeros((), dtype=torch.float32)
    for b, n in enumerate(lengths):
        loss = loss + torch.nn.functional.cross_entropy(logits[b, : n - 1], tokens[b, 1:n], reduction="sum")
    model.zero_grad()
    loss.backward()

    # Greedy continuation of the first sequence's first 4 tokens (no sampling, no stop token).
    with torch.no_grad():
        generated = model.generate(tokens[:1, :4], attention_mask=mask[:1, :4], max_new_tokens=8,
                                   do_sample=False, eos_token_id=None, pad_token_id=0)[0, 4:]

    directory = os.path.join(OUT, name)
    os.makedirs(directory, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    tensors = {
        "tokens": tokens,
        "lengths": torch.tensor(lengths, dtype=torch.long),
        "logits": torch.cat([logits[b, :n] for b, n in enumerate(lengths)]).detach().contiguous(),
        "loss": torch.tensor([loss.item()], dtype=torch.float64),
        "generated": generated.contiguous(),
    }
    for pname, p in model.named_parameters():
        # transformers 5 calls the unembedding lm_head in memory and embed_out on disk.
        disk_name = "embed_out.weight" if pname == "lm_head.weight" else pname
        tensors["grad." + disk_name] = p.grad.detach().contiguous()
    save_file(tensors, os.path.join(directory, "reference.safetensors"))
    os.remove(os.path.join(directory, "generation_config.json"))
    print(name, "loss", loss.item(), "parameters", sum(p.numel() for p in model.parameters()))


for i, (name, options) in enumerate(CONFIGS.items()):
    build(name, options, seed=100 + i)
