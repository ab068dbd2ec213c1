"""Optimizer reference for the Swift trainer: two AdamW steps in PyTorch.

Copies the parallel-rotary25 GPT-NeoX fixture to Tests/TrainingTests/Fixtures/adamw/ and writes
reference.safetensors with the batch (tokens [B, T] 0-padded, lengths [B]) and every parameter
after two steps of torch.optim.AdamW(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
weight decay on all parameters but biases and layer norms, the loss being the mean next-token
cross-entropy over the batch's targets, gradients recomputed before each step.

    python3 Tools/reference/make_training_fixtures.py
"""
import os
import shutil

import torch
from safetensors.torch import save_file
from transformers import GPTNeoXForCausalLM

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SOURCE = os.path.join(ROOT, "Tests", "ModelsTests", "Fixtures", "gpt_neox", "parallel-rotary25")
OUT = os.path.join(ROOT, "Tests", "TrainingTests", "Fixtures", "adamw")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in ["config.json", "model.safetensors"]:
        shutil.copy(os.path.join(SOURCE, name), os.path.join(OUT, name))
    model = GPTNeoXForCausalLM.from_pretrained(OUT, attn_implementation="eager").float()
    g = torch.Generator().manual_seed(3)
    lengths = [9, 4, 12]
    seqs = [torch.randint(0, model.config.vocab_size, (n,), generator=g) for n in lengths]
    decay = [p for n, p in model.named_parameters() if not (n.endswith(".bias") or "layernorm" in n or "layer_norm" in n)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith(".bias") or "layernorm" in n or "layer_norm" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    for _ in range(2):
        total = sum(n - 1 for n in lengths)
        loss = sum(torch.nn.functional.cross_entropy(model(input_ids=s[None]).logits[0, :-1], s[1:], reduction="sum")
                   for s in seqs) / total
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    tensors = {"tokens": torch.stack([torch.cat([s, torch.zeros(12 - len(s), dtype=torch.long)]) for s in seqs]),
               "lengths": torch.tensor(lengths)}
    for name, p in model.named_parameters():
        tensors["after." + ("embed_out.weight" if name == "lm_head.weight" else name)] = p.detach().contiguous()
    save_file(tensors, os.path.join(OUT, "reference.safetensors"))
    print("loss before the second step", loss.item())


if __name__ == "__main__":
    main()
