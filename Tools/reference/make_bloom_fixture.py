"""Reference for BLOOM (ALiBi, embedding layer norm, tied head): transformers'
BloomForCausalLM with 6 heads (not a power of two, so both ALiBi slope sequences are used),
weights spread out so that every parameter matters, a right-padded batch of three sequences.
Writes Tests/ModelsTests/Fixtures/bloom/ (config.json, model.safetensors, reference.safetensors
with tokens, lengths, logits of the real tokens, the summed loss, a greedy continuation and
grad.<name> of every parameter).

    python3 Tools/reference/make_bloom_fixture.py
"""
import os

import torch
from safetensors.torch import save_file
from transformers import BloomConfig, BloomForCausalLM

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "ModelsTests", "Fixtures", "bloom")


def main():
    torch.manual_seed(5)
    config = BloomConfig(vocab_size=61, hidden_size=24, n_layer=2, n_head=6, layer_norm_epsilon=1e-5)
    config._attn_implementation = "eager"
    model = BloomForCausalLM(config).float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layernorm" in name or "ln_f" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))
    lengths = [11, 5, 8]
    tokens = torch.zeros(3, 11, dtype=torch.long)
    mask = torch.zeros(3, 11, dtype=torch.long)
    for b, n in enumerate(lengths):
        tokens[b, :n] = torch.randint(0, 61, (n,))
        mask[b, :n] = 1
    logits = model(input_ids=tokens, attention_mask=mask).logits
    loss = sum(torch.nn.functional.cross_entropy(logits[b, : n - 1], tokens[b, 1:n], reduction="sum") for b, n in enumerate(lengths))
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        generated = model.generate(tokens[:1, :4], attention_mask=mask[:1, :4], max_new_tokens=8, do_sample=False,
                                   eos_token_id=None, pad_token_id=0)[0, 4:]
    os.makedirs(OUT, exist_ok=True)
    model.save_pretrained(OUT, safe_serialization=True)
    gen = os.path.join(OUT, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)
    tensors = {"tokens": tokens, "lengths": torch.tensor(lengths),
               "logits": torch.cat([logits[b, :n] for b, n in enumerate(lengths)]).detach().contiguous(),
               "loss": torch.tensor([loss.item()], dtype=torch.float64), "generated": generated.contiguous()}
    for name, p in model.named_parameters():
        tensors["grad." + name] = p.grad.detach().contiguous()
    save_file(tensors, os.path.join(OUT, "reference.safetensors"))
    print("loss", loss.item(), "parameters", sum(p.numel() for p in model.parameters()), sorted(tensors)[:4])


if __name__ == "__main__":
    main()
