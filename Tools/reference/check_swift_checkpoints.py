"""Checks that transformers loads checkpoints written by `influence train` as we mean them.

Tests/TrainingTests/Fixtures/swift-written-{lm,classifier}/ were written by the Swift tool
(tokenizer.json removed to keep them small). This script loads each with transformers
(GPTNeoXForCausalLM / GPTNeoXForSequenceClassification, chosen from config.json's
`architectures`), runs fixed token sequences, and writes transformers_logits.safetensors
beside them; the Swift test ReadBackTests compares its own logits with these.

    python3 Tools/reference/check_swift_checkpoints.py
"""
import os

import torch
from safetensors.torch import save_file
from transformers import AutoConfig, GPTNeoXForCausalLM, GPTNeoXForSequenceClassification

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TrainingTests", "Fixtures")
SEQUENCES = [[5, 17, 42, 3, 99, 250, 7], [300, 1, 2, 3]]

for name in ["swift-written-lm", "swift-written-classifier"]:
    directory = os.path.join(ROOT, name)
    config = AutoConfig.from_pretrained(directory)
    cls = GPTNeoXForSequenceClassification if "GPTNeoXForSequenceClassification" in config.architectures else GPTNeoXForCausalLM
    model = cls.from_pretrained(directory).eval()
    with torch.no_grad():
        logits = [model(input_ids=torch.tensor([s])).logits[0] for s in SEQUENCES]
    tensors = {f"logits.{i}": l.contiguous() for i, l in enumerate(logits)}
    tensors.update({f"tokens.{i}": torch.tensor(s) for i, s in enumerate(SEQUENCES)})
    save_file(tensors, os.path.join(directory, "transformers_logits.safetensors"))
    print(name, cls.__name__, [tuple(l.shape) for l in logits])
