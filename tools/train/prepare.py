#!/usr/bin/env python3
"""prepare.py — the corpus and tokenizer of lir's default model (models/README.md).

  python3 tools/train/prepare.py [--out out/train] [--models models]

Needs Debian's bible-kjv-text (the King James Version, public domain; `bible` prints it) and
sentencepiece's spm_train/spm_encode. Standard library only (no numpy), so it runs anywhere.

1. `bible -f Gen1:1-Rev22:21`: one verse a line, "Ge1:1 In the beginning ...". The reference
   prefix is stripped; verses are grouped into chapters (1,189).
2. Held-out split: a fixed seeded 5% of the chapters (random.Random(SEED)), so the held-out text
   is spread over the whole book rather than being the end of Revelation.
   models/kjv-heldout.txt: one verse a line, chapters separated by one blank line.
3. Tokenizer: spm_train BPE, 4096 pieces, byte_fallback, identity normalization, no dummy
   prefix (so "In the beginning" at the start of a line is "In ▁the ▁beginning", as llama.cpp's
   and lir's tokenizers encode it with tokenizer.ggml.add_space_prefix = false), fixed seed.
4. Token stream (uint16 little-endian): every chapter is BOS, then each verse's ids followed by
   the byte token <0x0A> (a newline). Exactly what either runtime gives for "BOS + chapter text
   with a newline after each verse", so the model learns to start a chapter after BOS and to
   put verses on lines. train.bin and heldout.bin, plus meta.json.
"""
import argparse
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys

SEED = 1234
HELDOUT_FRACTION = 0.05
VOCAB = 4096
REF = re.compile(r"^([1-3]?[A-Za-z]+)(\d+):(\d+) (.*)$")


def run(cmd, **kw):
    print("+", " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, check=True, **kw)


def read_chapters():
    raw = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], check=True, capture_output=True, text=True).stdout
    chapters, key = [], None
    for line in raw.splitlines():
        m = REF.match(line)
        if not m:
            raise SystemExit(f"prepare: unexpected line {line!r}")
        book, ch, _, text = m.groups()
        text = " ".join(text.split())  # two verses carry a double space
        if (book, ch) != key:
            chapters.append([])
            key = (book, ch)
        chapters[-1].append(text)
    return chapters


def encode(model, verses, path_txt):
    with open(path_txt, "w") as f:
        f.write("\n".join(verses) + "\n")
    out = run(["spm_encode", f"--model={model}", "--output_format=id", f"--input={path_txt}"],
              capture_output=True, text=True).stdout.splitlines()
    if len(out) != len(verses):
        raise SystemExit(f"prepare: spm_encode gave {len(out)} lines for {len(verses)} verses")
    return [[int(t) for t in line.split()] for line in out]


def stream(chapters, ids_by_verse, bos, nl):
    s, k = [], 0
    for ch in chapters:
        s.append(bos)
        for _ in ch:
            s.extend(ids_by_verse[k])
            s.append(nl)
            k += 1
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="out/train")
    ap.add_argument("--models", default="models")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    os.makedirs(a.models, exist_ok=True)

    chapters = read_chapters()
    n_verses = sum(len(c) for c in chapters)
    idx = list(range(len(chapters)))
    random.Random(SEED).shuffle(idx)
    held = set(idx[: round(len(chapters) * HELDOUT_FRACTION)])
    train_ch = [c for i, c in enumerate(chapters) if i not in held]
    held_ch = [c for i, c in enumerate(chapters) if i in held]
    print(f"prepare: {len(chapters)} chapters, {n_verses} verses; held out {len(held_ch)} chapters "
          f"({sum(len(c) for c in held_ch)} verses)", file=sys.stderr)

    with open(os.path.join(a.models, "kjv-heldout.txt"), "w") as f:
        f.write("\n\n".join("\n".join(c) for c in held_ch) + "\n")
    train_txt = os.path.join(a.out, "train.txt")
    train_verses = [v for c in train_ch for v in c]
    with open(train_txt, "w") as f:
        f.write("\n".join(train_verses) + "\n")
    # the word list of the training text (the parity test checks generated words against it)
    words = sorted({w for v in train_verses for w in re.findall(r"[A-Za-z]+", v.lower())})
    with open(os.path.join(a.models, "kjv-words.txt"), "w") as f:
        f.write("\n".join(words) + "\n")

    prefix = os.path.join(a.out, "kjv")
    run(["spm_train", f"--input={train_txt}", f"--model_prefix={prefix}", f"--vocab_size={VOCAB}",
         "--model_type=bpe", "--byte_fallback=true", "--character_coverage=1.0",
         "--normalization_rule_name=identity", "--add_dummy_prefix=false", "--split_digits=true",
         f"--random_seed={SEED}", "--num_threads=2", "--unk_id=0", "--bos_id=1", "--eos_id=2",
         "--pad_id=-1"], stdout=subprocess.DEVNULL)
    pieces = [line.split("\t")[0] for line in open(prefix + ".vocab", encoding="utf-8")]
    bos, nl = 1, pieces.index("<0x0A>")
    shutil.copyfile(prefix + ".model", os.path.join(a.models, "kjv-bpe4k.model"))

    meta = {"vocab_size": len(pieces), "bos": bos, "newline": nl, "seed": SEED,
            "chapters_train": len(train_ch), "chapters_heldout": len(held_ch)}
    for name, chs in (("train", train_ch), ("heldout", held_ch)):
        verses = [v for c in chs for v in c]
        ids = stream(chs, encode(prefix + ".model", verses, os.path.join(a.out, name + ".verses.txt")), bos, nl)
        with open(os.path.join(a.out, name + ".bin"), "wb") as f:
            f.write(struct.pack(f"<{len(ids)}H", *ids))
        meta[f"tokens_{name}"] = len(ids)
        print(f"prepare: {name}: {len(ids)} tokens", file=sys.stderr)
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
