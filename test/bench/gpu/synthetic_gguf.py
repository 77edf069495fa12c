#!/usr/bin/env python3
"""Writes imagefleet's synthetic Qwen3-VL GGUF files without Node (standard library only).

The files are described in spec.json, which the Node side exports (test/bench/gpu/export-spec.ts):
every metadata entry and every tensor (name, shape, ggml type, how it is initialised) of each
synthetic model, the same description `imagefleet models make-synthetic` writes from. This script
writes the same header byte for byte (a test checks it) and random data of the same layout:
Q8_0 blocks (an f16 scale + 32 random int8), Q4_0 (an f16 scale + 16 bytes of random nibbles),
Q6_K (random 6-bit codes and sub-scales, an f16 scale), F16 values drawn from N(0, std) by a
quantile table, F32 constants. The scales give each tensor the standard deviation the spec asks
for. The bytes are reproducible from the seed, but they are not the bytes Node writes: the random
generators differ (Python's Mersenne Twister here, sfc32 there); the cost to load and run is the
same.

    python3 synthetic_gguf.py --spec spec.json --like qwen3-vl-4b --type q4_0 --out DIR [--seed 1]
"""
import argparse
import json
import os
import random
import statistics
import struct
import sys

ALIGNMENT = 32
CHUNK = 4 * 1024 * 1024
# ggml type: (id, elements per block, bytes per block)
GGML = {"F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q8_0": (8, 32, 34), "Q4_K": (12, 256, 144), "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210)}
# GGUF metadata value types
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
SCALAR = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i", FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}
# Standard deviation of the codes: uniform int8; nibbles standing for -8..7; 6-bit codes (-32..31) times an int8 sub-scale.
def uniform_std(low, high):
    return (((high - low + 1) ** 2 - 1) / 12) ** 0.5
CODE_STD = {"Q8_0": uniform_std(-128, 127), "Q4_0": uniform_std(-8, 7), "Q6_K": uniform_std(-32, 31) * (uniform_std(-128, 127) ** 2 + 0.25) ** 0.5}
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>"]


def synthetic_vocabulary(size):
    """The SentencePiece vocabulary of synthetic-model.ts syntheticVocabulary(), token for token."""
    tokens = ["<unk>", "<s>", "</s>"] + SPECIALS
    types = [2, 3, 3] + [3] * len(SPECIALS)
    for byte in range(256):
        tokens.append("<0x%02X>" % byte)
        types.append(6)
    pieces = ["\u2581"] + [chr(code) for code in range(33, 127)]
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = [""]
    length = 1
    while len(tokens) + len(pieces) < size:
        words = [word + letter for word in words for letter in letters]
        for prefix in (["\u2581"] if length == 1 else ["", "\u2581"]):
            for word in words:
                if len(tokens) + len(pieces) >= size:
                    break
                pieces.append(prefix + word)
        length += 1
    pieces = pieces[: size - len(tokens)]
    tokens += pieces
    types += [1] * len(pieces)
    if len(tokens) != size:
        raise ValueError("a vocabulary of %d tokens is too small" % size)
    scores = [-index / 1000 if types[index] == 1 else 0.0 for index in range(size)]
    return tokens, scores, types


def gguf_string(text):
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def scalar(kind, value):
    if kind == STRING:
        return gguf_string(value)
    return struct.pack(SCALAR[kind], value)


def resolve_metadata(entries):
    """Expands the vocabulary markers of the spec into the real arrays."""
    out = []
    for entry in entries:
        key, kind = entry[0], entry[1]
        if kind == ARRAY and isinstance(entry[3], dict):
            size = entry[3]["synthetic_vocabulary"]
            tokens, scores, types = synthetic_vocabulary(size)
            values = {"tokenizer.ggml.tokens": tokens, "tokenizer.ggml.scores": scores, "tokenizer.ggml.token_type": types}[key]
            out.append((key, kind, entry[2], values))
        else:
            out.append(tuple(entry))
    return out


def tensor_bytes(name, dims, kind):
    _, per_block, block_bytes = GGML[kind]
    count = 1
    for dim in dims:
        count *= dim
    if dims[0] % per_block:
        raise ValueError("tensor %s: rows of %d are not a multiple of the %s block" % (name, dims[0], kind))
    return count // per_block * block_bytes


def header(metadata, tensors):
    parts = [b"GGUF", struct.pack("<IQQ", 3, len(tensors), len(metadata))]
    for entry in metadata:
        key, kind = entry[0], entry[1]
        parts.append(gguf_string(key) + struct.pack("<I", kind))
        if kind == ARRAY:
            item_kind, values = entry[2], entry[3]
            parts.append(struct.pack("<IQ", item_kind, len(values)))
            if item_kind == STRING:
                parts.extend(gguf_string(value) for value in values)
            else:
                parts.append(struct.pack("<%d%s" % (len(values), SCALAR[item_kind][1]), *values))
        else:
            parts.append(scalar(kind, entry[2]))
    offset = 0
    for name, dims, kind, _ in tensors:
        offset = (offset + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
        parts.append(gguf_string(name) + struct.pack("<I", len(dims)) + struct.pack("<%dQ" % len(dims), *dims))
        parts.append(struct.pack("<IQ", GGML[kind][0], offset))
        offset += tensor_bytes(name, dims, kind)
    data = b"".join(parts)
    return data + b"\0" * ((ALIGNMENT - len(data) % ALIGNMENT) % ALIGNMENT)


def f16_bits(value):
    return struct.unpack("<H", struct.pack("<e", value))[0]


def half_table(std):
    """High bytes of f16 values at 256 quantiles of N(0, std): a random high byte draws a normal-ish value."""
    normal = statistics.NormalDist(0, std)
    return bytes(f16_bits(normal.inv_cdf((h + 0.5) / 256)) >> 8 for h in range(256))


def chunks(rng, kind, init, nbytes):
    """Yields the tensor's data, CHUNK bytes (whole blocks) at a time."""
    _, per_block, block_bytes = GGML[kind]
    size = max(block_bytes, CHUNK // block_bytes * block_bytes)
    table = half_table(init[1]) if kind == "F16" and init[0] == "normal" else None
    for start in range(0, nbytes, size):
        n = min(size, nbytes - start)
        if init[0] == "constant":
            if kind == "F32":
                yield struct.pack("<f", init[1]) * (n // 4)
            elif kind == "F16":
                yield struct.pack("<e", init[1]) * (n // 2)
            else:
                raise ValueError("constant %s data is not supported" % kind)
            continue
        std = init[1]
        if kind == "F32":
            yield struct.pack("<%df" % (n // 4), *(rng.gauss(0, std) for _ in range(n // 4)))
            continue
        data = bytearray(rng.randbytes(n))
        if kind == "F16":
            data[1::2] = data[1::2].translate(table)
        elif kind in ("Q8_0", "Q4_0", "Q6_K"):
            scale = struct.pack("<e", std / CODE_STD[kind])
            at = block_bytes - 2 if kind == "Q6_K" else 0
            blocks = n // block_bytes
            data[at::block_bytes] = scale[0:1] * blocks
            data[at + 1::block_bytes] = scale[1:2] * blocks
        else:
            raise ValueError("random %s data is not supported" % kind)
        yield bytes(data)


def write_file(path, description, seed, progress=None):
    metadata = resolve_metadata(description["metadata"])
    tensors = [(t[0], t[1], t[2], t[3]) for t in description["tensors"]]
    head = header(metadata, tensors)
    total = len(head) + sum(tensor_bytes(name, dims, kind) for name, dims, kind, _ in tensors) + ALIGNMENT * len(tensors)
    written = 0
    with open(path + ".part", "wb") as out:
        out.write(head)
        written += len(head)
        for index, (name, dims, kind, init) in enumerate(tensors):
            pad = (ALIGNMENT - written % ALIGNMENT) % ALIGNMENT
            out.write(b"\0" * pad)
            written += pad
            rng = random.Random("%d:%s" % (seed, name))
            for chunk in chunks(rng, kind, init, tensor_bytes(name, dims, kind)):
                out.write(chunk)
                written += len(chunk)
                if progress:
                    progress(written, total)
    os.replace(path + ".part", path)
    return written


def file_names(like, kind, mmproj_kind="f16"):
    return "%s-%s.gguf" % (like, kind.upper()), "%s-mmproj-%s.gguf" % (like, mmproj_kind.upper())


def make_pair(spec, like, kind, out_dir, seed=1, quiet=False):
    """Writes <like>-<TYPE>.gguf and <like>-mmproj-F16.gguf (skipped when a complete file is there)."""
    os.makedirs(out_dir, exist_ok=True)
    model_name, mmproj_name = file_names(like, kind)
    written = []
    for name, file_seed in ((model_name, seed), (mmproj_name, seed + 1)):
        key = name[: -len(".gguf")]
        if key not in spec["files"]:
            raise SystemExit("spec.json has no %s (export it: node test/dist/bench/gpu/export-spec.js)" % key)
        path = os.path.join(out_dir, name)
        if os.path.exists(path) and os.path.getsize(path) == spec["files"][key]["bytes"]:
            written.append(path)
            continue

        def progress(done, total, label=name):
            if not quiet and sys.stderr.isatty():
                sys.stderr.write("\r%s: %.2f / %.2f GiB\x1b[K" % (label, done / 2**30, total / 2**30))

        size = write_file(path, spec["files"][key], file_seed, progress)
        if not quiet and sys.stderr.isatty():
            sys.stderr.write("\n")
        if size != spec["files"][key]["bytes"]:
            raise SystemExit("%s: wrote %d bytes, the spec says %d" % (path, size, spec["files"][key]["bytes"]))
        written.append(path)
    return written[0], written[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "spec.json"))
    parser.add_argument("--like", required=True)
    parser.add_argument("--type", default="q8_0")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True)
    parser.add_argument("--header-only", action="store_true", help="write only the model's header (tests)")
    args = parser.parse_args()
    with open(args.spec) as handle:
        spec = json.load(handle)
    if args.header_only:
        for name in file_names(args.like, args.type):
            description = spec["files"][name[: -len(".gguf")]]
            with open(os.path.join(args.out, name + ".header"), "wb") as out:
                out.write(header(resolve_metadata(description["metadata"]), [tuple(t[:4]) for t in description["tensors"]]))
        return
    model, mmproj = make_pair(spec, args.like, args.type, args.out, args.seed)
    print("MODEL_PATH=%s\nMMPROJ_PATH=%s" % (model, mmproj))


if __name__ == "__main__":
    main()
