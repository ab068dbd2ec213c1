"""Tokenizer fixtures: small byte-level BPE tokenizers trained with Hugging Face `tokenizers`
in the configurations of GPT-NeoX/Pythia, GPT-2 and BLOOM, and the ids and decodings the
library gives for a few hundred test strings.

Writes Tests/TokenizationTests/Fixtures/{gpt_neox,gpt2,bloom,legacy_merges}/tokenizer.json
and Tests/TokenizationTests/Fixtures/cases.json:
  {"strings": [...], "<name>": {"ids": [[...]], "decoded": [...], "decoded_skip_special": [...]}}

    python3 Tools/reference/make_tokenizer_fixtures.py
"""
import json
import os
import random
import unicodedata

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TokenizationTests", "Fixtures")

CORPUS = """The quick brown fox jumps over the lazy dog. It's a dog's life, isn't it? They're here; we've gone.
I'll say it: you'd better believe what I'm telling you. THE END. Don't SHOUT, it'S fine.
def influence(query, documents):\n    return [score(query, d) for d in documents]  # 42 results
for (int i = 0; i < 1024; i++) { total += values[i] * 3.14159; }
Influence functions estimate how training documents change a model's answers.
Numbers: 0 1 12 123 1234 12345 3.14 2,718 1e-10 0x1F 2026-11-24 $19.99 50% №7 ½ ² Ⅻ
Café naïve résumé façade coöperate Zürich São Paulo Ångström Łódź Øre straße
Привет, как дела? Это тест. Ελληνικά γράμματα. עברית מימין לשמאל. مرحبا بالعالم
日本語のテキスト、東京都。中文文本，北京市。한국어 텍스트입니다. हिन्दी पाठ। বাংলা ไทย
Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 🇯🇵 ❤️ 🤖 ✨ 🚀
Whitespace:\ttabs\t\tand   spaces    and\nnewlines\n\n\nand\r\nwindows  lines   
"""

STRINGS = [
    "", " ", "  ", "   ", "\t", "\n", "\n\n", " \n ", "a", " a", "a ", "  a", "a  ", "a  b", "a\n\nb", "a \n b",
    "Hello world", "Hello  world", "Hello\tworld", "Hello\u00a0world", "Hello\u3000world", "Hello\u2003world",
    "trailing spaces   ", "   leading spaces", "mixed \t \n whitespace \r\n end",
    "It's", "it's", "IT'S", "they're", "we've", "I'm", "you'll", "he'd", "don't", "'s", "' s", "''", "'",
    "rock'n'roll", "o'clock", "5'11\"", "'twas",
    "0", "7", "42", "123", "1234567890", "3.14159", "-17", "1,000,000", "1e-10", "0x1F", "v2.0.1", "2026-11-24",
    "½", "²", "Ⅻ", "١٢٣", "०१२", "№7",
    "café", "cafe\u0301", "naïve", "nai\u0308ve", "Å", "A\u030a", "ﬁ ligature", "Ｆｕｌｌｗｉｄｔｈ",
    "Привет мир", "Ελληνικά", "עברית", "مرحبا بالعالم", "日本語", "東京都", "中文，标点。", "한국어", "हिन्दी", "ไทย",
    "😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷🇯🇵", "❤️", "🤖✨🚀", "a😀b", " 😀 ",
    "def f(x):\n    return x * 2\n", "for (int i = 0; i < n; i++) {}", "x = [1, 2, 3]  # comment",
    "<html><body>Hi</body></html>", "SELECT * FROM t WHERE id = 1;", "path/to/file.txt", "https://example.com/a?b=c",
    "user@example.com", "#hashtag @mention", "!!!???...", "—–-", "“quotes” ‘single’ «guillemets»", "…",
    "<|endoftext|>", "a<|endoftext|>b", "<|endoftext|><|endoftext|>", " <|endoftext|> ", "text <|padding|> more",
    "</s>", "<s>hello</s>", "<unk>", "<pad>", "a  b   c    d", "    indented code",
]


def more_strings():
    rng = random.Random(0)
    words = CORPUS.split()
    out = []
    for _ in range(160):
        n = rng.randint(1, 12)
        pieces = []
        for _ in range(n):
            pieces.append(rng.choice(words))
            pieces.append(rng.choice([" ", " ", " ", "  ", "\n", "\t", "", " \n"]))
        out.append("".join(pieces))
    for line in CORPUS.split("\n"):
        out.append(line)
    return out


def byte_level_tokenizer(normalizer, pre_tokenizer, added, special):
    tokenizer = Tokenizer(models.BPE())
    if normalizer is not None:
        tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator([CORPUS] * 3 + STRINGS, trainer)
    if added:
        tokenizer.add_tokens(added)
    return tokenizer


def main():
    strings = STRINGS + more_strings()
    tokenizers = {
        "gpt_neox": byte_level_tokenizer(
            normalizers.NFC(), pre_tokenizers.ByteLevel(add_prefix_space=False),
            [AddedToken("  ", normalized=False), AddedToken("   ", normalized=False), AddedToken("    ", normalized=False)],
            ["<|endoftext|>", "<|padding|>"]),
        "gpt2": byte_level_tokenizer(None, pre_tokenizers.ByteLevel(add_prefix_space=False), [], ["<|endoftext|>"]),
        "bloom": byte_level_tokenizer(
            None,
            pre_tokenizers.Sequence([
                pre_tokenizers.Split(Regex(" ?[^(\\s|[.,!?…。，、।۔،])]+"), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]),
            [], ["<unk>", "<s>", "</s>", "<pad>"]),
    }
    cases = {"strings": strings}
    for name, tokenizer in tokenizers.items():
        directory = os.path.join(OUT, name)
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "tokenizer.json")
        tokenizer.save(path)
        encodings = [tokenizer.encode(s, add_special_tokens=False).ids for s in strings]
        cases[name] = {
            "ids": encodings,
            "decoded": [tokenizer.decode(ids, skip_special_tokens=False) for ids in encodings],
            "decoded_skip_special": [tokenizer.decode(ids, skip_special_tokens=True) for ids in encodings],
        }
    # The same GPT-2 tokenizer with merges written the old way, as "a b" strings.
    with open(os.path.join(OUT, "gpt2", "tokenizer.json")) as f:
        legacy = json.load(f)
    legacy["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in legacy["model"]["merges"]]
    os.makedirs(os.path.join(OUT, "legacy_merges"), exist_ok=True)
    with open(os.path.join(OUT, "legacy_merges", "tokenizer.json"), "w") as f:
        json.dump(legacy, f, ensure_ascii=False)
    cases["legacy_merges"] = cases["gpt2"]
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, ensure_ascii=False)
    print(len(strings), "strings;", {k: len(v.get_vocab()) for k, v in tokenizers.items()})


if __name__ == "__main__":
    main()
