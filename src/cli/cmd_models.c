/* cmd_models.c — `lir models`: the installed models (GGUF files) of a models directory.
 *
 *   lir models [--models-dir D] [--json]
 *     D: as every command finds it (lir_cli_models_dir: --models-dir or --dir, $LIR_MODELS,
 *     ./models when it exists, $XDG_DATA_HOME/lir/models). Files are found up to 4 folders deep;
 *     files that are not valid GGUF are skipped. Without --json a table (name, arch, parameters,
 *     size, context, id); with --json an array of {"id","name","path","display_name","arch",
 *     "parameters","size_bytes","context_length","block_count"} sorted by name.
 * Exit 0 ok (an empty or missing directory lists nothing), 1 error, 2 usage. */
#include "cli/cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void human(char *buf, size_t n, double v, const char *const *units) {
    int u = 0;
    while (v >= 1000.0 && units[u + 1]) v /= 1000.0, u++;
    snprintf(buf, n, u ? "%.1f%s" : "%.0f%s", v, units[u]);
}

int lir_cli_models(int argc, char **argv) {
    const char *dir = NULL;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--models-dir") || !strcmp(a, "--dir") || !strcmp(a, "-d")) { if (!v) lir_cli_die(2, "%s needs a value", a); dir = v; i++; }
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts("usage: lir models [--models-dir D] [--json]\n"
                 "  the GGUF models under D (default $LIR_MODELS, ./models, $XDG_DATA_HOME/lir/models)");
            return 0;
        }
        else lir_cli_die(2, "models: unexpected argument '%s'", a);
    }
    char def[4096];
    dir = lir_cli_models_dir(dir, def, sizeof def);
    struct lir_installed_model *v = NULL;
    int32_t n = 0;
    enum lir_status s = lir_models_scan(dir, &v, &n);
    if (s) lir_cli_die(1, "cannot list '%s': %s", dir, lir_status_str(s));
    if (json) {
        json_t *arr = json_array();
        for (int32_t i = 0; arr && i < n; i++) {
            const struct lir_installed_model *m = &v[i];
            json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:i,s:i}", "id", m->id, "name", m->name,
                                                 "path", m->path, "display_name", m->display_name, "arch", m->arch,
                                                 "parameters", (json_int_t)m->parameters, "size_bytes",
                                                 (json_int_t)m->size_bytes, "context_length", m->context_length,
                                                 "block_count", m->block_count));
        }
        char *d = arr ? json_dumps(arr, JSON_INDENT(2)) : NULL;
        if (!d) lir_cli_die(1, "out of memory");
        puts(d);
        free(d);
        json_decref(arr);
    } else {
        static const char *const pu[] = { "", "K", "M", "B", "T", NULL };
        static const char *const bu[] = { " B", " KB", " MB", " GB", " TB", NULL };
        printf("%-40s %-12s %8s %10s %8s  %s\n", "NAME", "ARCH", "PARAMS", "SIZE", "CONTEXT", "ID");
        for (int32_t i = 0; i < n; i++) {
            char p[32], b[32];
            human(p, sizeof p, (double)v[i].parameters, pu);
            human(b, sizeof b, (double)v[i].size_bytes, bu);
            printf("%-40s %-12s %8s %10s %8d  %s\n", v[i].name, v[i].arch, p, b, v[i].context_length, v[i].id);
        }
    }
    lir_runtime_free(v);
    return 0;
}
