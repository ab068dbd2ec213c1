"""Reference fixtures for the Llama family and GPT-2: transformers' LlamaForCausalLM,
Qwen2ForCausalLM, MistralForCausalLM and GPT2LMHeadModel (float32, eager attention), tiny, with
weights spread out so that every parameter matters (norms 1 +- 0.1, biases 0.05 randn, matrices
0.15 randn), run on a right-padded batch of three sequences (lengths 11, 5, 8). All four have a
vocabulary of 32, hidden size 8, 2 layers and (except GPT-2, whose MLP is 4 * 8) intermediate size 16:
small enough for the fixture byte budget, large enough that every mechanism below is exercised.

  llama    grouped-query attention (4 query heads, 2 key/value heads), head_dim 8 given explicitly
           (hidden/heads would be 2), llama3 rope scaling whose three frequency bands (kept,
           smoothly interpolated, divided by the factor) all occur at head_dim 8, rope_theta 500,
           untied embeddings, rms_norm_eps 1e-6, no biases.
           config-legacy.json: the same model with the pre-5.x keys real Hub checkpoints carry
           (`rope_theta`, `rope_scaling: {"rope_type": "llama3", ...}`), checked to load to the same logits.
  qwen2    Q/K/V biases, tied embeddings, linear rope scaling (factor 2), 2 query heads on 1 key/value head.
           config-legacy.json: the same with `rope_theta` and `rope_scaling: {"type": "linear", "factor": 2.0}`.
  mistral  sliding_window 4 (transformers: query i sees keys j with i - 4 < j <= i), sequences longer
           than 4; checked that the window changes the logits.
  gpt2     Conv1D weights ([in, out]), learned positions (n_positions 32), tied head, gelu_new.

Each fixture directory holds config.json and model.safetensors from save_pretrained (no
generation_config.json) and reference.safetensors:

    tokens           int64 [B, T]   right-padded with 0
    lengths          int64 [B]
    logits           f32   [N, V]   rows of the real tokens only, sequence after sequence
    loss             f64   [1]      summed next-token cross-entropy over all real targets
    generated        int64 [8]      greedy continuation of the first sequence's first 4 tokens (no EOS)
    grad.<name>      f32            d loss / d parameter, for every parameter (named_parameters names)

To fit the fixture byte budget, model.safetensors stores the weights as bfloat16 (config.json
still says dtype float32: the model is float32 with weights that happen to be bf16-exact). The
reference is computed from exactly those bf16-rounded weights upcast to float32, so a loader
that upcasts bf16 -> f32 reproduces it bit for bit.

    python3 Tools/reference/make_llama_family_fixtures.py
"""
import json
import os
import shutil
import tempfile

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import (AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM,
                          MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "ModelsTests", "Fixtures")
VOCAB = 32
LENGTHS = [11, 5, 8]

LLAMA3_ROPE = {"rope_type": "llama3", "rope_theta": 500.0, "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
LINEAR_ROPE = {"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0}


def llama():
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=8, intermediate_size=16, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=512,
                         rms_norm_eps=1e-6, tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
                         hidden_act="silu", rope_parameters=dict(LLAMA3_ROPE), bos_token_id=1, eos_token_id=2)
    return LlamaForCausalLM(config)


def qwen2():
    config = Qwen2Config(vocab_size=VOCAB, hidden_size=8, intermediate_size=16, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                         rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=False,
                         hidden_act="silu", rope_parameters=dict(LINEAR_ROPE), bos_token_id=1, eos_token_id=2)
    return Qwen2ForCausalLM(config)


def mistral(sliding_window=4):
    config = MistralConfig(vocab_size=VOCAB, hidden_size=8, intermediate_size=16, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                           rms_norm_eps=1e-5, tie_word_embeddings=False, sliding_window=sliding_window,
                           hidden_act="silu", rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                           bos_token_id=1, eos_token_id=2)
    return MistralForCausalLM(config)


def gpt2():
    config = GPT2Config(vocab_size=VOCAB, n_embd=8, n_layer=2, n_head=2, n_positions=32, n_inner=None,
                        activation_function="gelu_new", layer_norm_epsilon=1e-5, bos_token_id=1, eos_token_id=2)
    return GPT2LMHeadModel(config)


def spread_weights(model):
    """Spread out and round to bfloat16, which is how model.safetensors stores them."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or ".ln_" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))
            p.copy_(p.to(torch.bfloat16).float())


def batch():
    tokens = torch.zeros(len(LENGTHS), max(LENGTHS), dtype=torch.long)
    mask = torch.zeros_like(tokens)
    for b, n in enumerate(LENGTHS):
        tokens[b, :n] = torch.randint(0, VOCAB, (n,))
        mask[b, :n] = 1
    return tokens, mask


def summed_loss(logits, tokens):
    return sum(torch.nn.functional.cross_entropy(logits[b, : n - 1], tokens[b, 1:n], reduction="sum")
               for b, n in enumerate(LENGTHS))


def real_rows(logits):
    return torch.cat([logits[b, :n] for b, n in enumerate(LENGTHS)]).detach().contiguous()


def greedy(model, prompt, steps):
    """Greedy decoding by full recomputation: the check on generate()'s cached path."""
    ids = prompt.clone()
    for _ in range(steps):
        next_id = model(input_ids=ids).logits[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, next_id], dim=1)
    return ids[0, prompt.shape[1]:]


def save_bf16(directory):
    """Rewrite save_pretrained's float32 model.safetensors as bfloat16 (same names and metadata)."""
    path = os.path.join(directory, "model.safetensors")
    with safe_open(path, "pt") as f:
        metadata = f.metadata()
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    for name, tensor in tensors.items():
        assert torch.equal(tensor.to(torch.bfloat16).float(), tensor), name
    save_file({name: t.to(torch.bfloat16).contiguous() for name, t in tensors.items()}, path, metadata=metadata)


def logits_from_directory(directory, tokens, mask, config_file=None):
    """Logits of the batch for the model transformers loads from a directory, optionally with another config."""
    with tempfile.TemporaryDirectory() as scratch:
        shutil.copy(os.path.join(directory, "model.safetensors"), scratch)
        shutil.copy(os.path.join(directory, config_file or "config.json"), os.path.join(scratch, "config.json"))
        model = AutoModelForCausalLM.from_pretrained(scratch, dtype=torch.float32, attn_implementation="eager").eval()
        with torch.no_grad():
            return model(input_ids=tokens, attention_mask=mask).logits, model.config


def write_legacy_config(directory, rope_scaling):
    """config.json with `rope_parameters` replaced by the older `rope_theta` + `rope_scaling` keys."""
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    rope = config.pop("rope_parameters")
    config["rope_theta"] = rope["rope_theta"]
    config["rope_scaling"] = rope_scaling
    with open(os.path.join(directory, "config-legacy.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


def make(name, build, seed, legacy_rope_scaling=None):
    out = os.path.join(FIXTURES, name)
    torch.manual_seed(seed)
    model = build()
    model.config._attn_implementation = "eager"
    model = model.float().eval()
    spread_weights(model)
    tokens, mask = batch()
    logits = model(input_ids=tokens, attention_mask=mask).logits
    loss = summed_loss(logits, tokens)
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        generated = model.generate(tokens[:1, :4], attention_mask=mask[:1, :4], max_new_tokens=8, do_sample=False,
                                   eos_token_id=None, pad_token_id=0)[0, 4:]
        assert generated.shape[0] == 8 and torch.equal(generated, greedy(model, tokens[:1, :4], 8))

    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    generation_config = os.path.join(out, "generation_config.json")
    if os.path.exists(generation_config):
        os.remove(generation_config)
    save_bf16(out)
    tensors = {"tokens": tokens, "lengths": torch.tensor(LENGTHS), "logits": real_rows(logits),
               "loss": torch.tensor([loss.item()], dtype=torch.float64), "generated": generated.contiguous()}
    for pname, p in model.named_parameters():
        tensors["grad." + pname] = p.grad.detach().contiguous()
    save_file(tensors, os.path.join(out, "reference.safetensors"))

    # What is on disk must be the model that produced the reference.
    reloaded, _ = logits_from_directory(out, tokens, mask)
    assert torch.equal(real_rows(reloaded), tensors["logits"]), name
    print(f"{name}: loss {loss.item():.6f}, parameters {sum(p.numel() for p in model.parameters())}, "
          f"generated {generated.tolist()}")
    if legacy_rope_scaling is not None:
        write_legacy_config(out, legacy_rope_scaling)
        legacy, legacy_config = logits_from_directory(out, tokens, mask, "config-legacy.json")
        difference = (real_rows(legacy) - tensors["logits"]).abs().max().item()
        assert difference == 0.0, difference
        print(f"  config-legacy.json loads to the same logits (max |difference| {difference}); "
              f"rope_parameters read from it: {legacy_config.rope_parameters}")
    return model, tokens, mask


def check_llama3_scaling(model, tokens, mask):
    """The llama3 scaling must matter at this size: some inverse frequencies change, and the logits."""
    rotary = model.model.rotary_emb
    config = model.config
    head_dim = config.head_dim
    plain = 1.0 / (config.rope_parameters["rope_theta"] ** (torch.arange(0, head_dim, 2).float() / head_dim))
    scaled = rotary.inv_freq.float()
    print("  llama3 inverse frequencies: unscaled", [round(x, 6) for x in plain.tolist()],
          "scaled", [round(x, 6) for x in scaled.tolist()])
    assert not torch.allclose(plain, scaled)
    unscaled_config = LlamaConfig(**{**config.to_dict(), "rope_parameters": {"rope_type": "default",
                                                                             "rope_theta": config.rope_parameters["rope_theta"]}})
    unscaled_config._attn_implementation = "eager"
    unscaled = LlamaForCausalLM(unscaled_config).eval()
    unscaled.load_state_dict(model.state_dict())
    with torch.no_grad():
        difference = (real_rows(unscaled(input_ids=tokens, attention_mask=mask).logits) - real_rows(
            model(input_ids=tokens, attention_mask=mask).logits)).abs().max().item()
    print(f"  llama3 scaling vs none: max |logit difference| {difference:.6f}")
    assert difference > 1e-4


def check_sliding_window(model, tokens, mask):
    """The window must matter, and mean what the fixture says: query i sees keys i-3 ... i."""
    unwindowed_model = mistral(sliding_window=None)
    unwindowed_model.config._attn_implementation = "eager"
    unwindowed_model.eval().load_state_dict(model.state_dict())
    with torch.no_grad():
        windowed = model(input_ids=tokens, attention_mask=mask).logits
        unwindowed = unwindowed_model(input_ids=tokens, attention_mask=mask).logits
    per_position = (windowed[0] - unwindowed[0]).abs().amax(-1)
    print("  sliding_window 4 vs None, first sequence, max |logit difference| per position:",
          [f"{x:.2e}" for x in per_position.tolist()])
    assert per_position[:4].max() < 1e-6 and per_position[4:].min() > 1e-4


def main():
    llama_model, tokens, mask = make("llama", llama, 11, legacy_rope_scaling={
        key: LLAMA3_ROPE[key] for key in ("rope_type", "factor", "low_freq_factor", "high_freq_factor",
                                          "original_max_position_embeddings")})
    check_llama3_scaling(llama_model, tokens, mask)
    make("qwen2", qwen2, 22, legacy_rope_scaling={"type": "linear", "factor": 2.0})
    mistral_model, tokens, mask = make("mistral", mistral, 13)
    check_sliding_window(mistral_model, tokens, mask)
    make("gpt2", gpt2, 14)


if __name__ == "__main__":
    main()
