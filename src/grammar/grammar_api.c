/* grammar_api.c — the public grammar functions of lir.h that are not the matcher: parsing,
 * the built-in JSON grammars, JSON Schema conversion. */
#include "grammar/grammar.h"

#include <stdlib.h>
#include <string.h>

/* JSON (RFC 8259), with whitespace bounded so a model cannot pad forever, numbers bounded so
 * every parser reads them as finite doubles, and \u escapes paired for surrogates. */
#define JSON_COMMON                                                                                  \
    "value  ::= object | array | string | number | (\"true\" | \"false\" | \"null\") space\n"       \
    "object ::= \"{\" space ( string \":\" space value (\",\" space string \":\" space value)* )? \"}\" space\n" \
    "array  ::= \"[\" space ( value (\",\" space value)* )? \"]\" space\n"                           \
    "string ::= \"\\\"\" char* \"\\\"\" space\n"                                                     \
    "char   ::= [^\"\\\\\\x7F\\x00-\\x1F] | [\\\\] ([\"\\\\/bfnrt] | \"u\" uesc)\n"                  \
    "uesc   ::= [0-9a-cA-Ce-fE-F] hex{3} | [dD] [0-7] hex{2} | [dD] [89abAB] hex{2} \"\\\\u\" [dD] [c-fC-F] hex{2}\n" \
    "hex    ::= [0-9a-fA-F]\n"                                                                       \
    "number ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15}) (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})? space\n" \
    "space  ::= | \" \" | \"\\n\" [ \\t]{0,20}\n"

const char lir__gbnf_json_value[] = "root   ::= value\n" JSON_COMMON;
const char lir__gbnf_json_object[] = "root   ::= object\n" JSON_COMMON;

enum lir_status lir_grammar_parse(const char *gbnf, const char *root, lir_grammar **out, char *err, size_t err_len) {
    lir_err e = { { 0 } };
    if (!out) return LIR_EINVAL;
    *out = NULL;
    enum lir_status s = gbnf ? lir__grammar_parse(gbnf, strlen(gbnf), root, out, &e)
                             : lir__errf(&e, LIR_EINVAL, "lir_grammar_parse: NULL grammar");
    lir__err_copy(&e, err, err_len);
    return s;
}

void lir_grammar_free(lir_grammar *g) { lir__grammar_free(g); }

const char *lir_grammar_json_gbnf(bool object_only) { return object_only ? lir__gbnf_json_object : lir__gbnf_json_value; }

enum lir_status lir_grammar_json(bool object_only, lir_grammar **out) {
    return lir_grammar_parse(lir_grammar_json_gbnf(object_only), NULL, out, NULL, 0);
}

enum lir_status lir_json_schema_to_gbnf(const char *schema, char **out, char *err, size_t err_len) {
    lir_err e = { { 0 } };
    if (!out) return LIR_EINVAL;
    *out = NULL;
    enum lir_status s = schema ? lir__json_schema_to_gbnf(schema, strlen(schema), out, &e)
                               : lir__errf(&e, LIR_EINVAL, "json schema: NULL schema");
    lir__err_copy(&e, err, err_len);
    return s;
}

enum lir_status lir_grammar_from_json_schema(const char *schema, lir_grammar **out, char *err, size_t err_len) {
    if (!out) return LIR_EINVAL;
    *out = NULL;
    char *text;
    enum lir_status s = lir_json_schema_to_gbnf(schema, &text, err, err_len);
    if (s) return s;
    s = lir_grammar_parse(text, NULL, out, err, err_len);
    free(text);
    return s;
}

void lir_grammar_text_free(char *text) { free(text); }
