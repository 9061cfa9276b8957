#include "grammar/grammar.h"
enum lir_status lir__json_schema_to_gbnf(const char *schema, size_t len, char **out, lir_err *e) {
    return lir__errf(e, LIR_EUNSUPPORTED, "json schema: todo");
}
