// Structured output end to end: `lir generate --json-schema-file F` on a seeded random-weight
// model must print JSON that a real validator (ajv 8, draft 2020-12, with ajv-formats) accepts,
// for many schemas x seeds; `lir generate --json` must print a JSON object; a schema with
// keywords lir cannot express must be refused (exit 1) with a message naming each of them.
//
// The model comes from build/lir-gen with a 300-token vocabulary: 3 control tokens, the 256
// byte tokens <0x00>..<0xFF> (so it can spell any UTF-8 text, hence any JSON) and 41 short
// words. Its random weights make the raw distribution unrelated to the grammar, so nearly every
// step takes the grammar's slow path (filter the vocabulary, sample again), and strings are
// random byte soup — exactly what a validator should then be given.
// Sampling: temperature 2 (at 1 the peaked random model falls into loops inside unbounded
// strings) with 5 seeds per schema, up to 4000 tokens; every run must end because the grammar
// completed (finish_reason "stop"), not by length.
//
// Environment: LIR_BIN, LIR_GEN_BIN (default build/lir, build/lir-gen).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const LIR = process.env.LIR_BIN ?? path.join(ROOT, "build/lir");
const LIR_GEN = process.env.LIR_GEN_BIN ?? path.join(ROOT, "build/lir-gen");
const SEEDS = [1, 2, 3, 4, 5];
const N_MAX = 4000;

let tmp, model;

function lir(args) {
  const r = spawnSync(LIR, [...args, "--threads", "1"], { encoding: "utf8", maxBuffer: 64 << 20, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr, signal: r.signal };
}

// One constrained generation: the parsed --output json object (exit 0 asserted).
function generate(constraint, seed) {
  const args = ["generate", "-m", model, "-p", "Data:", "-n", String(N_MAX), "--temp", "2", "--seed", String(seed),
    ...constraint, "--output", "json"];
  const r = lir(args);
  assert.equal(r.code, 0, `lir ${args.join(" ")} failed (${r.signal ?? r.code}): ${r.err}`);
  return JSON.parse(r.out);
}

// Together these cover every keyword the issue lists: types, properties, required/optional,
// additionalProperties (false, a schema, true), enum, const, arrays with items/minItems/maxItems,
// nested objects, anyOf/oneOf/allOf, the formats date/time/date-time/uuid/email,
// minLength/maxLength, integer ranges, local $ref/$defs (recursive too).
const SCHEMAS = {
  "required and optional properties": {
    type: "object",
    properties: {
      name: { type: "string" }, age: { type: "integer", minimum: 0, maximum: 150 },
      nickname: { type: "string", maxLength: 8 }, admin: { type: "boolean" },
    },
    required: ["name", "age"],
  },
  "every scalar type, no extra properties": {
    type: "object",
    properties: {
      s: { type: "string", maxLength: 6 }, n: { type: "number" }, i: { type: "integer" }, b: { type: "boolean" },
      z: { type: "null" }, sn: { type: ["string", "null"], maxLength: 4 }, ni: { type: ["number", "boolean"] },
    },
    required: ["s", "n", "i", "b", "z", "sn", "ni"],
    additionalProperties: false,
  },
  "additionalProperties as a schema": {
    type: "object",
    properties: { id: { type: "integer", minimum: 1, maximum: 9 } },
    required: ["id"],
    additionalProperties: { type: "number" },
  },
  "additionalProperties true": {
    type: "object",
    properties: { a: { type: "boolean" } },
    required: ["a"],
    additionalProperties: true,
  },
  "enum and const": {
    type: "object",
    properties: {
      color: { enum: ["red", "green", "blue"] }, size: { enum: [1, 2.5, "xl", null, true] },
      version: { const: 2 }, meta: { const: { k: [true, "v\"q"], e: {} } }, tag: { type: "string", enum: ["a", "bb"] },
    },
    required: ["color", "size", "version", "meta", "tag"],
  },
  "arrays: items, minItems, maxItems": {
    type: "object",
    properties: {
      tags: { type: "array", items: { type: "string", maxLength: 5 }, minItems: 1, maxItems: 4 },
      scores: { type: "array", items: { type: "integer", minimum: -10, maximum: 10 }, minItems: 3, maxItems: 3 },
      none: { type: "array", maxItems: 0 },
      pairs: { type: "array", items: { type: "array", items: { type: "boolean" }, minItems: 2, maxItems: 2 }, maxItems: 2 },
    },
    required: ["tags", "scores", "none", "pairs"],
  },
  "nested objects": {
    type: "object",
    properties: {
      user: {
        type: "object",
        properties: {
          address: {
            type: "object",
            properties: { city: { type: "string", maxLength: 10 }, zip: { type: "string", minLength: 5, maxLength: 5 } },
            required: ["city", "zip"], additionalProperties: false,
          },
          id: { type: "integer", minimum: 0, maximum: 999 },
        },
        required: ["address", "id"],
      },
    },
    required: ["user"],
  },
  "anyOf": {
    anyOf: [
      { type: "integer", minimum: 0, maximum: 99 },
      { type: "object", properties: { x: { type: "string", maxLength: 4 } }, required: ["x"] },
      { type: "null" },
      { type: "array", items: { enum: ["p", "q"] }, maxItems: 3 },
    ],
  },
  "oneOf (disjoint branches)": {
    type: "object",
    properties: {
      shape: {
        oneOf: [
          { type: "object", properties: { kind: { const: "circle" }, r: { type: "number" } }, required: ["kind", "r"], additionalProperties: false },
          { type: "object", properties: { kind: { const: "rect" }, w: { type: "integer" }, h: { type: "integer" } }, required: ["kind", "w", "h"], additionalProperties: false },
        ],
      },
      id: { oneOf: [{ type: "string", maxLength: 3 }, { type: "integer", minimum: 0, maximum: 9 }] },
    },
    required: ["shape", "id"],
  },
  "allOf": {
    allOf: [
      { type: "object", properties: { a: { type: "integer", minimum: 1, maximum: 5 } }, required: ["a"] },
      { properties: { b: { type: "string", maxLength: 3 } }, required: ["b"] },
      { properties: { c: { type: "boolean" } } },
    ],
  },
  "string formats": {
    type: "object",
    properties: {
      d: { type: "string", format: "date" }, t: { type: "string", format: "time" },
      dt: { type: "string", format: "date-time" }, u: { type: "string", format: "uuid" },
      e: { type: "string", format: "email" },
      ds: { type: "array", items: { type: "string", format: "date" }, minItems: 4, maxItems: 4 },
    },
    required: ["d", "t", "dt", "u", "e", "ds"],
  },
  "minLength and maxLength": {
    type: "object",
    properties: {
      empty: { type: "string", maxLength: 0 }, mid: { type: "string", minLength: 3, maxLength: 6 },
      atLeast: { type: "string", minLength: 4 }, exact: { type: "string", minLength: 2, maxLength: 2 },
    },
    required: ["empty", "mid", "atLeast", "exact"],
  },
  "integer ranges": {
    type: "object",
    properties: {
      a: { type: "integer", minimum: -20, maximum: 35 }, b: { type: "integer", exclusiveMinimum: 100, exclusiveMaximum: 105 },
      c: { type: "integer", minimum: 1000 }, d: { type: "integer", maximum: -7 }, e: { type: "integer", minimum: 0, maximum: 0 },
      f: { type: "integer", minimum: -1234, maximum: 56789 },
    },
    required: ["a", "b", "c", "d", "e", "f"],
  },
  "local $ref and $defs, recursive": {
    $defs: {
      point: { type: "object", properties: { x: { type: "integer", minimum: -9, maximum: 9 }, y: { $ref: "#/$defs/coord" } }, required: ["x", "y"] },
      coord: { type: "integer", minimum: 0, maximum: 99 },
      tree: {
        type: "object",
        properties: { v: { type: "integer", minimum: 0, maximum: 9 }, kids: { type: "array", items: { $ref: "#/$defs/tree" }, maxItems: 1 } },
        required: ["v"], additionalProperties: false,
      },
    },
    type: "object",
    properties: { p: { $ref: "#/$defs/point" }, q: { $ref: "#/$defs/point" }, t: { $ref: "#/$defs/tree" } },
    required: ["p", "t"],
  },
  "top-level array of objects": {
    type: "array",
    items: { type: "object", properties: { n: { type: "number" }, ok: { type: "boolean" } }, required: ["n"] },
    minItems: 2, maxItems: 3,
  },
};

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lir-json-schema-"));
  model = path.join(tmp, "m.gguf");
  execFileSync(LIR_GEN, ["--n-vocab", "300", "--n-embd", "64", "--n-layer", "1", "--n-head", "2", "--n-head-kv", "1",
    "--head-dim", "32", "--n-ff", "128", "--seed", "7", "-o", model], { stdio: "pipe" });
});

after(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

describe("lir generate --json-schema-file", () => {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);

  for (const [name, schema] of Object.entries(SCHEMAS)) {
    it(`${name}: ${SEEDS.length} seeds give JSON valid for the schema (ajv)`, () => {
      const file = path.join(tmp, name.replace(/[^a-z0-9]+/gi, "_") + ".json");
      fs.writeFileSync(file, JSON.stringify(schema, null, 1));
      const validate = ajv.compile(schema);
      assert.ok(!validate("a bare string"), "the validator rejects what the schema does not allow");
      const texts = new Set();
      for (const seed of SEEDS) {
        const r = generate(["--json-schema-file", file], seed);
        const where = `seed ${seed}: ${JSON.stringify(r.text)}`;
        assert.equal(r.finish_reason, "stop", `${where}: the grammar must complete within ${N_MAX} tokens`);
        let value;
        assert.doesNotThrow(() => { value = JSON.parse(r.text); }, `${where}: not JSON`);
        assert.ok(validate(value), `${where}: invalid: ${ajv.errorsText(validate.errors)}`);
        texts.add(r.text);
      }
      // the seeds matter (a constant output would make the checks above weak)
      assert.ok(texts.size >= 2, `${name}: all ${SEEDS.length} seeds gave the same text`);
    });
  }
});

describe("lir generate --json", () => {
  it("8 seeds give a JSON object each", () => {
    for (let seed = 1; seed <= 8; seed++) {
      const r = generate(["--json"], seed);
      assert.equal(r.finish_reason, "stop", `seed ${seed}: ${JSON.stringify(r.text)}`);
      const v = JSON.parse(r.text);
      assert.ok(v !== null && typeof v === "object" && !Array.isArray(v), `seed ${seed}: not an object: ${r.text}`);
    }
  });

  it("the same seed gives the same text; --output text prints that text", () => {
    const a = generate(["--json"], 3), b = generate(["--json"], 3);
    assert.equal(a.text, b.text);
    const r = lir(["generate", "-m", model, "-p", "Data:", "-n", String(N_MAX), "--temp", "2", "--seed", "3", "--json"]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, a.text + "\n");
  });
});

describe("lir generate --tokens ... --json (issue 2's machine interface)", () => {
  it("prints the same one JSON object as --output json, unconstrained", () => {
    const base = ["generate", "-m", model, "--tokens", "1,5,9", "-n", "12", "--temp", "0"];
    const a = lir([...base, "--json"]), b = lir([...base, "--output", "json"]);
    assert.equal(a.code, 0, a.err);
    assert.equal(b.code, 0, b.err);
    const ja = JSON.parse(a.out), jb = JSON.parse(b.out);
    assert.deepEqual(ja.tokens, jb.tokens);
    assert.equal(ja.n_prompt, 3);
    assert.equal(ja.n_gen, jb.n_gen);
    assert.equal(ja.tokens.length, ja.n_gen);
  });
});

describe("refusals", () => {
  it("unsupported keywords: exit 1, every one named with its path, nothing generated", () => {
    const file = path.join(tmp, "unsupported.json");
    fs.writeFileSync(file, JSON.stringify({
      type: "object",
      properties: { a: { type: "string", pattern: "^x+$" }, n: { type: "number", multipleOf: 3 }, h: { type: "string", format: "hostname" } },
      patternProperties: { "^z": { type: "integer" } },
    }));
    const r = lir(["generate", "-m", model, "-p", "Data:", "--json-schema-file", file]);
    assert.equal(r.code, 1, r.err);
    assert.equal(r.out, "");
    for (const kw of ["/properties/a: pattern", "multipleOf", "hostname", "patternProperties"])
      assert.ok(r.err.includes(kw), `stderr does not name ${kw}: ${r.err}`);
  });

  it("a schema that is not JSON, a missing file, two constraints: clear errors", () => {
    const bad = path.join(tmp, "bad.json");
    fs.writeFileSync(bad, '{"type": "object",');
    let r = lir(["generate", "-m", model, "-p", "x", "--json-schema-file", bad]);
    assert.equal(r.code, 1);
    assert.match(r.err, /bad\.json/);
    r = lir(["generate", "-m", model, "-p", "x", "--json-schema-file", path.join(tmp, "none.json")]);
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot read .*none\.json/);
    r = lir(["generate", "-m", model, "-p", "x", "--json", "--json-schema-file", bad]);
    assert.equal(r.code, 2);
    assert.match(r.err, /one of --grammar-file, --json, --json-schema-file/);
  });
});
