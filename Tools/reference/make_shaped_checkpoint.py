#!/usr/bin/env python3
"""A GPT-NeoX checkpoint with a real model's shape and random BF16 weights, for measuring
memory and time at the paper's scale (issue 15) without downloading anything.

    python3 Tools/reference/make_shaped_checkpoint.py dolly-v2-3b /work/models/shaped/dolly-v2-3b
    python3 Tools/reference/make_shaped_checkpoint.py pythia-410m /work/models/shaped/pythia-410m

Writes config.json (the model's own hyperparameters, torch_dtype bfloat16), model.safetensors
(BF16; linear weights N(0, 0.02), norms at weight 1 and bias 0, biases 0, as transformers
initialises GPT-NeoX) and a byte-level BPE tokenizer.json with no merges (256 byte tokens and
<|endoftext|>). The tensors are streamed into the file one at a time, so memory stays at one
tensor. Never commit the output (dolly-v2-3b's shape is 5.6 GB).
"""
import json
import os
import struct
import sys

import numpy as np

SHAPES = {
    # databricks/dolly-v2-3b (GPT-NeoX, pythia-2.8b's shape)
    "dolly-v2-3b": dict(hidden_size=2560, num_hidden_layers=32, num_attention_heads=32, intermediate_size=10240,
                        vocab_size=50280, rotary_pct=0.25, max_position_embeddings=2048),
    # EleutherAI/pythia-410m
    "pythia-410m": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                        vocab_size=50304, rotary_pct=0.25, max_position_embeddings=2048),
}


def config(shape):
    return dict(architectures=["GPTNeoXForCausalLM"], model_type="gpt_neox", hidden_act="gelu", layer_norm_eps=1e-5,
                rotary_emb_base=10000, use_parallel_residual=True, tie_word_embeddings=False, bos_token_id=0,
                eos_token_id=0, initializer_range=0.02, torch_dtype="bfloat16", **shape)


def layout(c):
    H, I, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    yield "gpt_neox.embed_in.weight", (V, H), "normal"
    for l in range(c["num_hidden_layers"]):
        p = f"gpt_neox.layers.{l}."
        for norm in ("input_layernorm", "post_attention_layernorm"):
            yield p + norm + ".weight", (H,), "ones"
            yield p + norm + ".bias", (H,), "zeros"
        for name, shape in (("attention.query_key_value", (3 * H, H)), ("attention.dense", (H, H)),
                            ("mlp.dense_h_to_4h", (I, H)), ("mlp.dense_4h_to_h", (H, I))):
            yield p + name + ".weight", shape, "normal"
            yield p + name + ".bias", (shape[0],), "zeros"
    yield "gpt_neox.final_layer_norm.weight", (H,), "ones"
    yield "gpt_neox.final_layer_norm.bias", (H,), "zeros"
    yield "embed_out.weight", (V, H), "normal"


def bfloat16_bytes(x):
    """float32 → bfloat16 bits, round to nearest even."""
    bits = x.astype(np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16).tobytes()


def tensor(kind, shape, rng):
    if kind == "ones":
        return np.ones(shape, np.float32)
    if kind == "zeros":
        return np.zeros(shape, np.float32)
    return (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02))


def byte_level_tokenizer():
    # GPT-2's printable stand-ins for the 256 bytes.
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, n = printable[:], 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    vocab = {"<|endoftext|>": 0}
    for b, c in zip(printable, chars):
        vocab[chr(c)] = len(vocab)
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 0, "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": []},
    }


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in SHAPES:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(SHAPES)} OUT_DIR")
    c = config(SHAPES[sys.argv[1]])
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    entries = list(layout(c))
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape, _ in entries:
        size = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    rng = np.random.default_rng(0)
    path = os.path.join(out, "model.safetensors")
    with open(path + ".partial", "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded)
        for i, (name, shape, kind) in enumerate(entries):
            f.write(bfloat16_bytes(tensor(kind, shape, rng)))
            print(f"\r{i + 1}/{len(entries)} tensors", end="", file=sys.stderr)
    os.replace(path + ".partial", path)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(byte_level_tokenizer(), f)
    params = sum(int(np.prod(s)) for _, s, _ in entries)
    print(f"\n{out}: {params / 1e9:.2f}B parameters, {offset / 1e9:.2f} GB of BF16", file=sys.stderr)


if __name__ == "__main__":
    main()
