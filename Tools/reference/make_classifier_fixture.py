"""Reference for the GPT-NeoX sequence-classification head (GPTNeoXForSequenceClassification).

Builds a classifier on the parallel-rotary25 backbone with 3 labels and a random `score.weight`,
runs a right-padded batch (pad_token_id 0; real tokens are never 0), and writes to
Tests/TrainingTests/Fixtures/classifier/: config.json, model.safetensors, and
reference.safetensors with tokens [B, T], lengths [B], labels [B], logits [B, 3], loss (f64,
summed cross-entropy over the batch) and grad.<name> of every parameter.

    python3 Tools/reference/make_classifier_fixture.py
"""
import os

import torch
from safetensors.torch import save_file
from transformers import GPTNeoXConfig, GPTNeoXForSequenceClassification

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SOURCE = os.path.join(ROOT, "Tests", "ModelsTests", "Fixtures", "gpt_neox", "parallel-rotary25")
OUT = os.path.join(ROOT, "Tests", "TrainingTests", "Fixtures", "classifier")


def main():
    torch.manual_seed(11)
    config = GPTNeoXConfig.from_pretrained(SOURCE)
    config.num_labels = 3
    config.id2label = {0: "red", 1: "green", 2: "blue"}
    config.label2id = {v: k for k, v in config.id2label.items()}
    config.pad_token_id = 0
    config.architectures = ["GPTNeoXForSequenceClassification"]
    config._attn_implementation = "eager"
    model = GPTNeoXForSequenceClassification.from_pretrained(SOURCE, config=config).float().eval()
    with torch.no_grad():
        model.score.weight.copy_(0.3 * torch.randn_like(model.score.weight))
    lengths = [7, 3, 10]
    tokens = torch.zeros(3, 10, dtype=torch.long)
    for b, n in enumerate(lengths):
        tokens[b, :n] = torch.randint(1, config.vocab_size, (n,))
    labels = torch.tensor([2, 0, 1])
    logits = model(input_ids=tokens, attention_mask=(tokens != 0).long()).logits
    loss = torch.nn.functional.cross_entropy(logits, labels, reduction="sum")
    model.zero_grad()
    loss.backward()
    os.makedirs(OUT, exist_ok=True)
    model.save_pretrained(OUT, safe_serialization=True)
    tensors = {"tokens": tokens, "lengths": torch.tensor(lengths), "labels": labels, "logits": logits.detach().contiguous(),
               "loss": torch.tensor([loss.item()], dtype=torch.float64)}
    for name, p in model.named_parameters():
        tensors["grad." + name] = p.grad.detach().contiguous()
    save_file(tensors, os.path.join(OUT, "reference.safetensors"))
    gen = os.path.join(OUT, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)
    print("loss", loss.item(), [n for n, _ in model.named_parameters()][-2:])


if __name__ == "__main__":
    main()
