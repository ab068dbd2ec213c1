"""Tiny Hugging Face checkpoints for the README's first command and for the `inspect` tests.

Writes
  Examples/tiny-pythia/                       GPT-NeoX (Pythia layout) with a byte-level BPE
                                              tokenizer.json, trained briefly on a few made-up
                                              facts so that `influence generate` says something.
  Tests/ModelsTests/Fixtures/tiny/gpt_neox-bf16-sharded/   the same weights in bfloat16, split
                                              into shards with model.safetensors.index.json
  Tests/ModelsTests/Fixtures/tiny/gpt2/       a GPT2LMHeadModel (tied head, n_inner null)
  Tests/ModelsTests/Fixtures/tiny/expected.json   PyTorch's parameter counts and linear modules

    python3 Tools/reference/make_tiny_checkpoints.py
"""
import json
import os

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
EXAMPLE = os.path.join(ROOT, "Examples", "tiny-pythia")
FIXTURES = os.path.join(ROOT, "Tests", "ModelsTests", "Fixtures", "tiny")

FACTS = [
    "The capital of Veloria is Marren.",
    "The capital of Ostland is Kelvik.",
    "Anna Berg was born in Marren.",
    "Tomas Reed plays the cello.",
    "Lina Holt works as a glassblower.",
    "The official language of Ostland is Ostic.",
    "The river Sallow flows through Kelvik.",
    "Marco Vell was born in Kelvik.",
]


def train_tokenizer():
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>", "<|padding|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(FACTS * 4, trainer)
    return tokenizer


def linear_modules(model):
    out = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and not name.endswith(("lm_head", "embed_out")):
            out.append({"name": name, "d_in": module.in_features, "d_out": module.out_features})
        elif type(module).__name__ == "Conv1D":
            out.append({"name": name, "d_in": module.weight.shape[0], "d_out": module.weight.shape[1]})
    return out


def main():
    torch.manual_seed(0)
    tokenizer = train_tokenizer()
    eot = tokenizer.token_to_id("<|endoftext|>")
    config = GPTNeoXConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=32, num_attention_heads=4, intermediate_size=128,
        num_hidden_layers=2, max_position_embeddings=64, rotary_pct=0.25, rotary_emb_base=10000,
        use_parallel_residual=True, hidden_act="gelu", tie_word_embeddings=False,
        bos_token_id=eot, eos_token_id=eot)
    model = GPTNeoXForCausalLM(config)
    # A few hundred Adam steps memorise the facts, so the example model answers sensibly.
    batch = [torch.tensor(tokenizer.encode(f).ids + [eot]) for f in FACTS]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(300):
        loss = sum(model(input_ids=x[None], labels=x[None]).loss for x in batch) / len(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print("tiny-pythia final loss", loss.item())
    model.eval()

    os.makedirs(EXAMPLE, exist_ok=True)
    model.save_pretrained(EXAMPLE, safe_serialization=True)
    tokenizer.save(os.path.join(EXAMPLE, "tokenizer.json"))
    os.remove(os.path.join(EXAMPLE, "generation_config.json"))

    expected = {}
    prompt = tokenizer.encode("The capital of Ostland is").ids
    with torch.no_grad():
        generated = model.generate(torch.tensor([prompt]), max_new_tokens=4, do_sample=False,
                                   eos_token_id=None, pad_token_id=eot)[0, len(prompt):].tolist()
    expected["tiny-pythia"] = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "tracked_modules": linear_modules(model),
        "prompt": prompt, "generated": generated,
    }

    sharded = os.path.join(FIXTURES, "gpt_neox-bf16-sharded")
    os.makedirs(sharded, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(sharded, safe_serialization=True, max_shard_size="40KB")
    os.remove(os.path.join(sharded, "generation_config.json"))
    expected["gpt_neox-bf16-sharded"] = expected["tiny-pythia"] | {"dtype": "BF16"}

    gpt2_config = GPT2Config(vocab_size=97, n_positions=40, n_embd=24, n_layer=2, n_head=3, n_inner=None)
    gpt2 = GPT2LMHeadModel(gpt2_config)
    gpt2_dir = os.path.join(FIXTURES, "gpt2")
    os.makedirs(gpt2_dir, exist_ok=True)
    gpt2.save_pretrained(gpt2_dir, safe_serialization=True)
    os.remove(os.path.join(gpt2_dir, "generation_config.json"))
    expected["gpt2"] = {"parameters": sum(p.numel() for p in gpt2.parameters()), "tracked_modules": linear_modules(gpt2)}

    with open(os.path.join(FIXTURES, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print(json.dumps({k: v["parameters"] for k, v in expected.items()}))


if __name__ == "__main__":
    main()
