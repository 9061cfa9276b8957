// Grammar-constrained generation end to end: the GBNF files of tests/grammar/data (copied from
// llama.cpp's grammars/ folder: json, arithmetic, list, chess, c, japanese) drive
// `lir generate --grammar-file`, and every output is checked by a checker written here in
// JavaScript, independent of lir's GBNF parser and matcher:
//  - json: JSON.parse (and an object, as the grammar's root says);
//  - the others: a small parser built from the combinators below, transcribed by hand from
//    each grammar file.
// A run that ended because the grammar completed (end-of-generation token, or nothing may
// follow) must be a complete string of the language; a run cut by -n must be a prefix of one
// (what "never emits a string outside the grammar" means for a truncated text; it may happen
// to be complete as well). The checkers
// are first shown to accept and reject hand-written examples, so they cannot pass vacuously.
//
// Model: build/lir-gen, 300-token vocabulary (3 control tokens, the 256 byte tokens, 41 short
// words: it can spell any UTF-8 text), one small layer; temperature 2, 5 seeds per grammar.
//
// Environment: LIR_BIN, LIR_GEN_BIN (default build/lir, build/lir-gen).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const LIR = process.env.LIR_BIN ?? path.join(ROOT, "build/lir");
const LIR_GEN = process.env.LIR_GEN_BIN ?? path.join(ROOT, "build/lir-gen");
const DATA = path.join(ROOT, "tests/grammar/data");
const SEEDS = [1, 2, 3, 4, 5];
const N_GEN = 1200;

// ---------------------------------------------------------------- prefix-aware combinators
// A parser is (s, i) => { ends, partial }: s is an array of code points, ends the positions
// where a match starting at i can finish, partial whether some path ran out of input while it
// still expected more (then s is a prefix of a longer match). Sets of positions make
// ambiguity cheap; named rules are memoized per position.
const none = { ends: [], partial: false };
const cp = (pred) => (s, i) => (i >= s.length ? { ends: [], partial: true } : pred(s[i]) ? { ends: [i + 1], partial: false } : none);
const lit = (str) => {
  const c = Array.from(str);
  return (s, i) => {
    for (let k = 0; k < c.length; k++) {
      if (i + k >= s.length) return { ends: [], partial: true };
      if (s[i + k] !== c[k]) return none;
    }
    return { ends: [i + c.length], partial: false };
  };
};
const seq = (...ps) => (s, i) => {
  let cur = new Set([i]), partial = false;
  for (const p of ps) {
    const next = new Set();
    for (const j of cur) {
      const r = p(s, j);
      partial ||= r.partial;
      for (const e of r.ends) next.add(e);
    }
    cur = next;
    if (!cur.size) break;
  }
  return { ends: [...cur], partial };
};
const alt = (...ps) => (s, i) => {
  const ends = new Set();
  let partial = false;
  for (const p of ps) {
    const r = p(s, i);
    partial ||= r.partial;
    for (const e of r.ends) ends.add(e);
  }
  return { ends: [...ends], partial };
};
const rep = (p, min, max = Infinity) => (s, i) => {
  let cur = new Set([i]), partial = false;
  const ends = new Set(min === 0 ? [i] : []), seen = new Set([i]);
  for (let k = 1; k <= max && cur.size; k++) {
    const next = new Set();
    for (const j of cur) {
      const r = p(s, j);
      partial ||= r.partial;
      for (const e of r.ends) if (k <= min || !seen.has(e)) next.add(e);
    }
    for (const e of next) { seen.add(e); if (k >= min) ends.add(e); }
    cur = next;
  }
  return { ends: [...ends], partial };
};
const opt = (p) => rep(p, 0, 1);
// A grammar: rules is a function (ref) => { name: parser }, ref(name) a lazy, memoized reference.
function grammar(rules) {
  let memo = new Map();
  const table = rules((name) => (s, i) => {
    const key = name + ":" + i;
    if (!memo.has(key)) memo.set(key, table[name](s, i));
    return memo.get(key);
  });
  // "complete": text is a string of the language; "prefix": of a longer one; "invalid".
  return (text) => {
    memo = new Map();
    const s = Array.from(text, (ch) => ch);
    const r = table.root(s, 0);
    return r.ends.includes(s.length) ? "complete" : r.partial ? "prefix" : "invalid";
  };
}
const inRange = (ranges) => (c) => { const x = c.codePointAt(0); return ranges.some(([lo, hi]) => x >= lo && x <= hi); };
const oneOf = (chars) => (c) => chars.includes(c);
const range = (a, b) => [a.codePointAt(0), b.codePointAt(0)];
const DIGIT = inRange([range("0", "9")]);

// ---------------------------------------------------------------- the checkers

const CHECK = {
  // root ::= (expr "=" ws term "\n")+ ...
  arithmetic: grammar((r) => ({
    root: rep(seq(r("expr"), lit("="), r("ws"), r("term"), lit("\n")), 1),
    expr: seq(r("term"), rep(seq(cp(oneOf("-+*/")), r("term")), 0)),
    term: alt(r("ident"), r("num"), seq(lit("("), r("ws"), r("expr"), lit(")"), r("ws"))),
    ident: seq(cp(inRange([range("a", "z")])), rep(cp(inRange([range("a", "z"), range("0", "9"), range("_", "_")])), 0), r("ws")),
    num: seq(rep(cp(DIGIT), 1), r("ws")),
    ws: rep(cp(oneOf(" \t\n")), 0),
  })),
  // root ::= item+ ; item ::= "- " [^\r\n\x0b\x0c\x85\u2028\u2029]+ "\n"
  list: grammar((r) => ({
    root: rep(r("item"), 1),
    item: seq(lit("- "), rep(cp((c) => !"\r\n\x0b\x0c\x85\u2028\u2029".includes(c)), 1), lit("\n")),
  })),
  chess: grammar((r) => ({
    root: seq(lit("1. "), r("move"), lit(" "), r("move"), lit("\n"),
      rep(seq(cp(inRange([range("1", "9")])), opt(cp(DIGIT)), lit(". "), r("move"), lit(" "), r("move"), lit("\n")), 1)),
    move: seq(alt(r("pawn"), r("nonpawn"), r("castle")), opt(cp(oneOf("+#")))),
    nonpawn: seq(cp(oneOf("NBKQR")), opt(cp(r8("a"))), opt(cp(r8("1"))), opt(lit("x")), cp(r8("a")), cp(r8("1"))),
    pawn: seq(opt(seq(cp(r8("a")), lit("x"))), cp(r8("a")), cp(r8("1")), opt(seq(lit("="), cp(oneOf("NBKQR"))))),
    castle: seq(lit("O-O"), opt(lit("-O"))),
  })),
  japanese: grammar((r) => ({
    root: seq(rep(r("jp"), 1), rep(seq(cp(oneOf(" \t\n")), rep(r("jp"), 1)), 0)),
    jp: cp(inRange([range("ぁ", "ゟ"), range("ァ", "ヿ"), range("、", "〾"), range("一", "鿿")])),
  })),
  c: grammar((r) => {
    const ws = rep(cp(oneOf(" \t\n")), 1), L = lit, stmts = rep(r("statement"), 0);
    const assign = seq(r("identifier"), ws, L("="), ws, r("expression"));
    return {
      root: rep(r("declaration"), 0),
      declaration: seq(r("dataType"), r("identifier"), L("("), opt(r("parameter")), L(")"), L("{"), stmts, L("}")),
      dataType: alt(seq(L("int"), ws), seq(L("float"), ws), seq(L("char"), ws)),
      identifier: seq(cp(inRange([range("a", "z"), range("A", "Z"), range("_", "_")])),
        rep(cp(inRange([range("a", "z"), range("A", "Z"), range("_", "_"), range("0", "9")])), 0)),
      parameter: seq(r("dataType"), r("identifier")),
      statement: alt(
        seq(r("dataType"), assign, L(";")),
        seq(assign, L(";")),
        seq(r("identifier"), ws, L("("), opt(r("argList")), L(")"), L(";")),
        seq(L("return"), ws, r("expression"), L(";")),
        seq(L("while"), L("("), r("condition"), L(")"), L("{"), stmts, L("}")),
        seq(L("for"), L("("), r("forInit"), L(";"), ws, r("condition"), L(";"), ws, assign, L(")"), L("{"), stmts, L("}")),
        seq(L("if"), L("("), r("condition"), L(")"), L("{"), stmts, L("}"), opt(seq(L("else"), L("{"), stmts, L("}")))),
        seq(L("//"), rep(cp((c) => c !== "\n"), 0), L("\n")),
        seq(L("/*"), rep(alt(cp((c) => c !== "*"), seq(L("*"), cp((c) => c !== "/"))), 0), L("*/"))),
      forInit: alt(seq(r("dataType"), assign), assign),
      condition: seq(r("expression"), alt(L("<="), L("<"), L("=="), L("!="), L(">="), L(">")), r("expression")),
      expression: seq(r("term"), rep(seq(cp(oneOf("+-")), r("term")), 0)),
      term: seq(r("factor"), rep(seq(cp(oneOf("*/")), r("factor")), 0)),
      factor: alt(r("identifier"), rep(cp(DIGIT), 1), seq(L("-"), r("factor")),
        seq(r("identifier"), L("("), opt(r("argList")), L(")")), seq(L("("), ws, r("expression"), ws, L(")"))),
      argList: seq(r("expression"), rep(seq(L(","), ws, r("expression")), 0)),
    };
  }),
  // JSON (RFC 8259) as a prefix checker; complete outputs also go through JSON.parse.
  json: grammar((r) => {
    const ws = rep(cp(oneOf(" \t\n\r")), 0), L = lit, hex = cp(inRange([range("0", "9"), range("a", "f"), range("A", "F")]));
    return {
      root: seq(ws, r("object")),
      value: seq(alt(r("object"), r("array"), r("string"), r("number"), L("true"), L("false"), L("null")), ws),
      object: seq(L("{"), ws, opt(seq(r("member"), rep(seq(L(","), ws, r("member")), 0))), L("}"), ws),
      member: seq(r("string"), ws, L(":"), ws, r("value")),
      array: seq(L("["), ws, opt(seq(r("value"), rep(seq(L(","), ws, r("value")), 0))), L("]"), ws),
      string: seq(L('"'), rep(alt(cp((c) => c !== '"' && c !== "\\" && c.codePointAt(0) >= 0x20),
        seq(L("\\"), alt(cp(oneOf('"\\/bfnrt')), seq(L("u"), hex, hex, hex, hex)))), 0), L('"'), ws),
      number: seq(opt(L("-")), alt(L("0"), seq(cp(inRange([range("1", "9")])), rep(cp(DIGIT), 0))),
        opt(seq(L("."), rep(cp(DIGIT), 1))), opt(seq(cp(oneOf("eE")), opt(cp(oneOf("+-"))), rep(cp(DIGIT), 1))), ws),
    };
  }),
};
function r8(first) { return inRange([range(first, String.fromCharCode(first.charCodeAt(0) + 7))]); }

// Hand-written examples: [complete strings, proper prefixes, invalid strings].
const EXAMPLES = {
  arithmetic: [["a=b\n", "x1 +(y*2)= 3\n(q)=z\n", "12/ab_c-( 4 )=\t5 \n"],
    ["", "a", "a=", "(x+", "a=b", "a=b\nc"],
    ["=a\n", "A=b\n", "a==b\n", "a+=b\n", "a=b\n=", "a+ b=c\n"]],
  list: [["- a\n", "- one\n- two words\n"], ["", "-", "- ", "- x", "- x\n- "], ["-a\n", "- \n", "* x\n", "- x\r\n"]],
  chess: [["1. e4 e5\n2. Nf3 Nc6\n", "1. O-O-O Qxd8#\n12. exd5 a8=Q+\n"],
    ["1", "1. e4", "1. e4 e5\n", "1. e4 e5\n2. O-"],
    ["1. e9 e5\n", "2. e4 e5\n", "1. Ze4 e5\n", "1. e4 e5\n0a", "1. e4  e5\n"]],
  japanese: [["こんにちは", "日本 語\tカタカナ、"], ["", "日本 "], ["abc", "日本  語", " 日本", "日本x"]],
  c: [["", "int main(){}", "float f(int x){y = x*2;return y;}char g(){while(a<b){a = a+1;}}"],
    ["int", "int main(", "int f(){/* c", "int f()"],
    ["main(){}", "int 1x(){}", "int f();", "int f(){ }"]],
  json: [['{"a": [1, -2.5e3, true, null, "x\\u00e9"]}', "{}", '{ "k" : {"n":{}} } '],
    ["", '{"a', "{", '{"a": [1,'],
    ["[]", '{"a" 1}', "{,}", '{"a":01}', '{"a":"\\x"}']],
};

// ---------------------------------------------------------------- the test

let tmp, model;

function lir(args) {
  const r = spawnSync(LIR, [...args, "--threads", "1"], { encoding: "utf8", maxBuffer: 64 << 20, timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr, signal: r.signal };
}

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lir-grammar-files-"));
  model = path.join(tmp, "m.gguf");
  execFileSync(LIR_GEN, ["--n-vocab", "300", "--n-embd", "64", "--n-layer", "1", "--n-head", "2", "--n-head-kv", "1",
    "--head-dim", "32", "--n-ff", "128", "--seed", "11", "-o", model], { stdio: "pipe" });
});

after(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

describe("the JavaScript checkers", () => {
  for (const [name, [complete, prefixes, invalid]] of Object.entries(EXAMPLES)) {
    it(`${name}: accept, see prefixes, reject hand-written examples`, () => {
      for (const x of complete) assert.equal(CHECK[name](x), "complete", JSON.stringify(x));
      for (const x of prefixes) assert.equal(CHECK[name](x), "prefix", JSON.stringify(x));
      for (const x of invalid) assert.equal(CHECK[name](x), "invalid", JSON.stringify(x));
    });
  }
});

describe("lir generate --grammar-file tests/grammar/data/*.gbnf", () => {
  const files = fs.readdirSync(DATA).filter((f) => f.endsWith(".gbnf")).sort();

  it("every grammar file has a checker here", () => {
    assert.ok(files.length >= 6, files.join(" "));
    for (const f of files) assert.ok(CHECK[f.replace(/\.gbnf$/, "")], `no checker for ${f}`);
  });

  for (const f of files) {
    const name = f.replace(/\.gbnf$/, "");
    it(`${name}: ${SEEDS.length} seeds, every output in the language (complete when ended by the grammar, a prefix when cut by -n)`, (t) => {
      let nComplete = 0;
      for (const seed of SEEDS) {
        const args = ["generate", "-m", model, "-p", "Go:", "-n", String(N_GEN), "--temp", "2", "--seed", String(seed),
          "--grammar-file", path.join(DATA, f), "--output", "json"];
        const r = lir(args);
        assert.equal(r.code, 0, `lir ${args.join(" ")} failed (${r.signal ?? r.code}): ${r.err}`);
        const out = JSON.parse(r.out);
        const where = `seed ${seed}, ${out.n_gen} tokens, ${out.finish_reason}: ${JSON.stringify(out.text.slice(0, 400))}`;
        const verdict = CHECK[name](out.text);
        if (out.finish_reason === "stop") {
          assert.equal(verdict, "complete", where);
          if (name === "json") {
            const v = JSON.parse(out.text);
            assert.ok(v !== null && typeof v === "object" && !Array.isArray(v), where);
          }
          nComplete++;
        } else {
          assert.equal(out.finish_reason, "length");
          assert.equal(out.n_gen, N_GEN, where);
          assert.notEqual(verdict, "invalid", where); // a prefix, maybe complete too (cut at a line end)
        }
      }
      t.diagnostic(`${name}: ${nComplete} of ${SEEDS.length} runs completed the grammar`);
      // control: the same run without the grammar is not in the language (the grammar does the work)
      const free = lir(["generate", "-m", model, "-p", "Go:", "-n", "200", "--temp", "2", "--seed", "1", "--output", "json"]);
      assert.equal(free.code, 0, free.err);
      assert.equal(CHECK[name](JSON.parse(free.out).text), "invalid");
    });
  }

  // Complete strings from every grammar: a random model seldom picks end-of-generation, so four
  // of the six grammars mostly run into -n above. With end-of-generation favoured by a logit bias
  // (llama.cpp's --logit-bias), allowed by the grammar only where the language may end, every run
  // must end the grammar ("stop") with a whole string of the language.
  it("with end-of-generation favoured (-l EOS+20), every grammar x seed ends with a complete string", () => {
    const show = JSON.parse(execFileSync(LIR, ["show", "--json", model], { encoding: "utf8" }));
    const eos = show.metadata["tokenizer.ggml.eos_token_id"];
    assert.equal(typeof eos, "number");
    for (const f of files) {
      const name = f.replace(/\.gbnf$/, "");
      for (const seed of SEEDS) {
        const r = lir(["generate", "-m", model, "-p", "Go:", "-n", String(N_GEN), "--temp", "2", "--seed", String(seed),
          "--grammar-file", path.join(DATA, f), "-l", `${eos}+20`, "--output", "json"]);
        assert.equal(r.code, 0, r.err);
        const out = JSON.parse(r.out);
        const where = `${name} seed ${seed}, ${out.n_gen} tokens: ${JSON.stringify(out.text.slice(0, 200))}`;
        assert.equal(out.finish_reason, "stop", where);
        assert.equal(CHECK[name](out.text), "complete", where);
      }
    }
  });

  it("a grammar with a syntax error: exit 1, the line and column in the message", () => {
    const bad = path.join(tmp, "bad.gbnf");
    fs.writeFileSync(bad, 'root ::= "a" item\nitem ::= [a-z\n');
    let r = lir(["generate", "-m", model, "-p", "x", "--grammar-file", bad]);
    assert.equal(r.code, 1);
    assert.equal(r.out, "");
    assert.match(r.err, /bad\.gbnf.*line 2, column \d+/);
    fs.writeFileSync(bad, "root ::= undefined-rule\n");
    r = lir(["generate", "-m", model, "-p", "x", "--grammar-file", bad]);
    assert.equal(r.code, 1);
    assert.match(r.err, /undefined-rule/);
  });
});
