"""The Kronfluence task both Kronfluence scripts use: summed next-token cross-entropy on the
counted targets, labels sampled from the model when fitting (Kronfluence's `sample=True`),
the four GPT-NeoX linear modules tracked, no attention mask (one sequence per batch)."""

import torch
import torch.nn.functional as F
from kronfluence.task import Task

MODULES = ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h")


class Items(torch.utils.data.Dataset):
    """(tokens, prompt length) pairs; targets before the prompt's end are not counted."""

    def __init__(self, items):
        self.items = []
        for ids, prompt in items:
            labels = list(ids)
            for i in range(max(prompt, 1)):
                labels[i] = -100
            self.items.append((torch.tensor(ids), torch.tensor(labels)))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return {"input_ids": self.items[i][0], "labels": self.items[i][1]}


class LM(Task):
    def compute_train_loss(self, batch, model, sample=False):
        logits = model(input_ids=batch["input_ids"]).logits[:, :-1].float()
        flat = logits.reshape(-1, logits.size(-1))
        labels = batch["labels"][:, 1:].reshape(-1)
        if sample:
            with torch.no_grad():
                sampled = torch.multinomial(F.softmax(flat, -1), 1).flatten()
                labels = torch.where(labels == -100, labels, sampled)
        return F.cross_entropy(flat, labels, ignore_index=-100, reduction="sum")

    def compute_measurement(self, batch, model):
        logits = model(input_ids=batch["input_ids"]).logits[:, :-1].float()
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch["labels"][:, 1:].reshape(-1), ignore_index=-100,
                               reduction="sum")

    def get_influence_tracked_modules(self):
        return [n for n, m in self.model.named_modules() if isinstance(m, torch.nn.Linear) and n.split(".")[-1] in MODULES]

    def get_attention_mask(self, batch):
        return None
