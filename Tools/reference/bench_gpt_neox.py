"""PyTorch side of `influence-bench model`: GPT-NeoX forward and forward+backward (parameter
gradients, as in training) on random weights, one thread, best of several runs. Run both in
one session to compare:

    swift run -c release influence-bench model
    python3 Tools/reference/bench_gpt_neox.py
"""
import time

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

torch.set_num_threads(1)


def best_time(fn, repetitions):
    fn()
    best = float("inf")
    for _ in range(repetitions):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def forward_flops(layers, hidden, intermediate, vocab, tokens):
    linear = 2 * (3 * hidden * hidden + hidden * hidden + 2 * hidden * intermediate)
    attention = 2 * 2 * tokens * tokens * hidden
    return layers * (tokens * linear + attention) + 2 * tokens * hidden * vocab


def bench(name, layers, hidden, heads, intermediate, tokens, repetitions, attention, vocab=50304):
    config = GPTNeoXConfig(vocab_size=vocab, hidden_size=hidden, num_attention_heads=heads,
                           intermediate_size=intermediate, num_hidden_layers=layers,
                           max_position_embeddings=2048, rotary_pct=0.25, hidden_act="gelu")
    config._attn_implementation = attention
    model = GPTNeoXForCausalLM(config).float()
    ids = torch.randint(0, vocab, (1, tokens))

    def forward():
        with torch.no_grad():
            model(input_ids=ids)

    def forward_backward():
        model.zero_grad(set_to_none=False)
        logits = model(input_ids=ids).logits[0]
        torch.nn.functional.cross_entropy(logits[:-1], ids[0, 1:], reduction="sum").backward()

    f = best_time(forward, repetitions)
    fb = best_time(forward_backward, repetitions)
    flops = 3 * forward_flops(layers, hidden, intermediate, vocab, tokens)
    print(f"{name + ' [' + attention + ']':56}{f * 1e3:8.1f} ms {fb * 1e3:9.1f} ms {tokens / fb:9.0f} {flops / fb / 1e9:9.1f}")


print("PyTorch GPT-NeoX forward and forward+backward, one sequence, one thread (best of 5)")
print(f"{'configuration':56}{'forward':>11} {'fwd+bwd':>12} {'tokens/s':>9} {'GFLOP/s':>9}")
for attention in ("sdpa", "eager"):
    bench("70m-sized (6×512, 8 heads, T=512, V=50304)", 6, 512, 8, 2048, 512, 5, attention)
    for vocab in (10000, 50304):
        bench(f"paper-small (2×256, 2 heads, T=128, V={vocab})", 2, 256, 2, 1024, 128, 20, attention, vocab)
