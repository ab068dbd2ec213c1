"""PyTorch's time for one forward + backward of SmolLM2-135M (Llama, 30 layers) on a single sequence of
512 tokens with the summed next-token loss: the number the Swift implementation is measured against.

Loads <model-dir> (the Hugging Face directory make_smollm2_reference.py writes) when it exists, and
otherwise builds LlamaForCausalLM from SmolLM2-135M's configuration with random weights (the time
does not depend on the values). One thread, eager attention, float32; one warm-up run, then the
median of three. Prints one JSON line.

    python3 Tools/reference/bench_llama.py [--model-dir /work/models/smollm2-reference/hf]
"""
import argparse
import json
import os
import statistics
import time

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

TOKENS = 512

# SmolLM2-135M's shape, for when the converted checkpoint is absent.
SMOLLM2_135M = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                    num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=8192,
                    rms_norm_eps=1e-5, tie_word_embeddings=True, hidden_act="silu",
                    rope_parameters={"rope_type": "default", "rope_theta": 100000.0})


def load(model_dir):
    if os.path.exists(os.path.join(model_dir, "config.json")):
        return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager"), "checkpoint"
    torch.manual_seed(0)
    config = LlamaConfig(**SMOLLM2_135M)
    config._attn_implementation = "eager"
    return LlamaForCausalLM(config).float(), "random"


def step(model, tokens):
    model.zero_grad(set_to_none=True)
    logits = model(input_ids=tokens).logits
    loss = torch.nn.functional.cross_entropy(logits[0, :-1], tokens[0, 1:], reduction="sum")
    loss.backward()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", default="/work/models/smollm2-reference/hf")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, weights = load(args.model_dir)
    model.train(False)  # no dropout; gradients still flow
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, model.config.vocab_size, (1, TOKENS), generator=generator)
    step(model, tokens)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        step(model, tokens)
        times.append(time.perf_counter() - start)
    print(json.dumps({"seconds": round(statistics.median(times), 4), "tokens": TOKENS, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "weights": weights, "runs": [round(t, 4) for t in times]}))


if __name__ == "__main__":
    main()
