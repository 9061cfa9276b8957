#!/usr/bin/python3
"""make_seeds.py — writes the fuzz_snapshot seeds next to itself: small valid snapshot files made
by mirroring the format of src/context/snapshot.h (header, name, tokens, logits, sampler state,
padding, KV blocks, XXH3/BLAKE2b tree checksum; version 2), and one with a sampler state of lir_sampling_params_default()."""
import hashlib, os, struct
import xxhash  # Debian python3-xxhash

ALIGN = 4096
here = os.path.dirname(os.path.abspath(__file__))

def digest(b):
    return xxhash.xxh3_128(b).digest()  # canonical (big-endian) form

def snap(name=b"", toks=(), n_vocab=8, token_bytes=16, block=2, logits=None, smp=b"", kv_type=0, n_ctx=64):
    n = len(toks)
    n_blocks = (n + block - 1) // block
    kv_bytes = n_blocks * block * token_bytes
    pre = 128 + len(name) + 4 * n + (0 if logits is None else 4 * n_vocab) + len(smp)
    kv_off = (pre + ALIGN - 1) // ALIGN * ALIGN
    h = bytearray(128)
    h[0:8] = b"LIRSNAP\0"
    struct.pack_into("<II", h, 8, 2, 128)
    h[16:48] = bytes(range(32))
    struct.pack_into("<iiiiQIIQIIQQ", h, 48, kv_type, n_ctx, n_vocab, n, token_bytes, block, len(name), 1764500000000,
                     0 if logits is None else n_vocab, len(smp), kv_bytes, kv_off)
    prefix = bytes(h) + name + b"".join(struct.pack("<i", t) for t in toks)
    if logits is not None:
        prefix += b"".join(struct.pack("<f", f) for f in logits)
    prefix += smp
    prefix += bytes(kv_off - len(prefix))
    kv = bytes((i * 7) & 255 for i in range(kv_bytes))
    bb = block * token_bytes
    leaves = [digest(prefix)] + [digest(kv[j * bb:(j + 1) * bb]) for j in range(n_blocks)]
    body = prefix + kv
    sum_ = hashlib.blake2b(b"LIRSNAP sum v2 xxh3" + struct.pack("<Q", len(body)) + b"".join(leaves),
                           digest_size=32).digest()
    return body + sum_

def f32(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]

# lir_sampler_state_save of a default sampler over 8 tokens (sampler.c: "state blob")
words = [f32(0.7), f32(0.9), 0, f32(0.0), f32(1.0), f32(1.1), 64, f32(0.0), f32(0.0), 0, f32(5.0), f32(0.1), 0, 0]
smp = struct.pack("<4sIi", b"LSMP", 1, 8) + b"".join(struct.pack("<I", w) for w in words)
smp += struct.pack("<Q", 42) + struct.pack("<4Q", 1, 2, 3, 4) + struct.pack("<I", f32(0.0))
smp += struct.pack("<I", 3) + struct.pack("<3i", 1, 2, 3)

seeds = {
    "empty.bin": snap(),
    "two_tokens.bin": snap(b"two", (1, 5), logits=[0.5 * i for i in range(8)]),
    "q8_blocks.bin": snap(b"q8 blocks", (0, 1, 2, 3, 4, 5, 6), kv_type=1, token_bytes=34, block=3,
                          logits=[-1e30] + [1.0] * 7),
    "sampler.bin": snap(b"s", (7,), smp=smp, logits=[0.0] * 8),
}
for name, data in seeds.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)
