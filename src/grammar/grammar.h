/* grammar.h — GBNF grammars, the incremental matcher and JSON Schema conversion (internal
 * interface; the public one is the "grammars" section of lir.h).
 *
 * A grammar (gbnf.c) is compiled into one flat array of elements, llama.cpp's layout:
 * each rule is its alternatives one after another, each alternative a run of elements ended by
 * ALT, the last by END. An element is a character set (one code point of input), a reference to
 * a rule, or an end marker. Repetitions and groups are rewritten into synthesized rules at parse
 * time, so the matcher knows only sets and references.
 *
 * The matcher (match.c) keeps the set of parse stacks that are alive after the input so far.
 * A stack is a persistent linked list of return positions; nodes are hash-consed in a per-state
 * pool, so equal stacks are equal ids, sets of stacks dedupe by id, and advancing by one code
 * point costs O(number of stacks), independent of how much was accepted before. The top of every
 * stack is a character set (references are expanded eagerly, left recursion is rejected at
 * compile time so expansion terminates); the empty stack (node 0) means "the grammar may end".
 */
#ifndef LIR_GRAMMAR_H
#define LIR_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lir.h"
#include "util/util.h"

struct lir_vocab;

enum lir_gelem_type { LIR_GE_END = 0, LIR_GE_ALT = 1, LIR_GE_REF = 2, LIR_GE_SET = 3 };

struct lir_gelem {
    uint32_t type; /* enum lir_gelem_type */
    uint32_t val;  /* REF: rule id; SET: set id */
};

/* A set of code points: sorted, merged, inclusive ranges, possibly negated; ascii is the same
 * set as a bitmap over 0..127 (the hot path). */
struct lir_gset {
    uint32_t first, n; /* ranges[first .. first+n) */
    bool negated;
    uint64_t ascii[2];
};

#define LIR_GRAMMAR_INF 0x3fffffffu /* min length of a rule that never finishes */

struct lir_grammar {
    uint32_t n_rules;
    char **names;            /* n_rules, NUL-terminated; synthesized rules are "parent_N" */
    uint32_t *alt_off;       /* n_rules + 1: rule r's alternatives are alts[alt_off[r] .. alt_off[r+1]) */
    uint32_t *alts;          /* element index where each alternative starts */
    uint32_t n_elems;
    struct lir_gelem *elems; /* n_elems */
    uint32_t *min_suffix;    /* n_elems: fewest code points from here to the end of the alternative */
    uint32_t *min_len;       /* n_rules: fewest code points a rule derives */
    uint32_t n_sets, n_ranges;
    struct lir_gset *sets;
    uint32_t *ranges;        /* 2 per range: lo, hi */
    uint32_t root;
};

/* Parses and compiles GBNF text (NUL-terminated). root: the start rule (NULL = "root").
 * Returns LIR_OK, LIR_EINVAL (syntax error: "gbnf: line L, column C: expected ..., found ...";
 * undefined or duplicate rule; left recursion; a rule that can never finish), LIR_ERANGE
 * (grammar over the size limits), LIR_ENOMEM. */
enum lir_status lir__grammar_parse(const char *gbnf, size_t len, const char *root, struct lir_grammar **out,
                                   lir_err *e);
void lir__grammar_free(struct lir_grammar *g);

bool lir__gset_has(const struct lir_grammar *g, uint32_t set, uint32_t cp);
/* Whether the set holds any code point in [lo, hi]. */
bool lir__gset_meets(const struct lir_grammar *g, uint32_t set, uint32_t lo, uint32_t hi);

/* Fewest code points still needed before the state can end (0: it may end now); LIR_GRAMMAR_INF
 * for a dead state. A pending partial UTF-8 character counts as one. */
uint32_t lir__grammar_state_min_remaining(const struct lir_grammar_state *s);
/* Number of live stacks (tests and benchmarks). */
uint32_t lir__grammar_state_n_stacks(const struct lir_grammar_state *s);

/* A token table for filtering built straight from a vocabulary (the sampler chain's path). */
enum lir_status lir__grammar_vocab_from_vocab(const struct lir_vocab *v, struct lir_grammar_vocab **out, lir_err *e);

/* JSON Schema (text) to GBNF; *out is malloc'd. Returns LIR_OK, LIR_EINVAL (bad JSON, bad
 * schema), LIR_EUNSUPPORTED (keywords we cannot express: all of them are listed), LIR_ENOMEM. */
enum lir_status lir__json_schema_to_gbnf(const char *schema, size_t len, char **out, lir_err *e);

/* The built-in JSON grammars' text (static). */
extern const char lir__gbnf_json_value[];
extern const char lir__gbnf_json_object[];

#endif /* LIR_GRAMMAR_H */
