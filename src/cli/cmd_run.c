/* cmd_run.c — `lir run`, as `ollama run`: load a model through the runtime (lir_runtime_load,
 * with a progress bar on a terminal), then one completion of PROMPT, of stdin when it is a pipe,
 * or an interactive chat when stdin is a terminal; --verbose prints Ollama's timing lines.
 * Also the helpers the model commands share (cli.h): the models directory, finding a model by
 * name or path, and the sampling flags.
 *
 *   lir run MODEL [PROMPT] [-n N] [sampling flags of `lir generate`] [--stop TEXT]...
 *           [--grammar-file F | --json | --format json | --json-schema-file F]
 *           [--system TEXT] [--raw] [--ctx N] [--threads N] [--batch N] [--models-dir D]
 *           [--remote ollama|openai:URL]... [--verbose] [--no-echo]
 *     MODEL   a GGUF path, or the name / id of a model in the models directory (see
 *             lir_cli_models_dir: --models-dir, $LIR_MODELS, ./models, $XDG_DATA_HOME/lir/models).
 *     PROMPT  one completion, streamed to stdout. Without PROMPT: stdin is the prompt when it is
 *             not a terminal; on a terminal, a chat (one message per line, "\" continues a line;
 *             /reset, /system TEXT, /bye or /exit; Ctrl-C stops a reply, Ctrl-D ends the chat).
 *     A model with a chat template (tokenizer.chat_template) gets PROMPT as a user message and
 *     prints the reply; one without (or --raw) continues PROMPT as text, which is echoed first
 *     (as llama-cli; --no-echo leaves it out).
 *     -n N    tokens to generate: 128 for a completion, until the end of the reply in a chat;
 *             0 = until end of generation or a full context.
 *     sampling: --temp (0..2) --top-k --top-p --min-p --typical-p --repeat-penalty
 *             --repeat-last-n --frequency-penalty --presence-penalty --mirostat --mirostat-tau
 *             --mirostat-eta --seed, as `lir generate`: every step off unless given, greedy by
 *             default; a chat samples with --temp 0.8 --top-k 40 unless told otherwise. The same
 *             --seed gives the same text as `lir generate -p` (the seed is drawn alike).
 *     --grammar-file F / --json (or Ollama's --format json) / --json-schema-file F: the output is
 *             constrained to a GBNF grammar / a JSON object / the JSON Schema in F, as `lir generate`.
 *     --remote KIND:URL  a remote backend through the runtime's router (lir_runtime_add_remote),
 *             e.g. ollama:http://127.0.0.1:11434 or openai:http://127.0.0.1:1234/v1; repeatable, in
 *             fallback order. A MODEL that is no local file or name is then a remote model (the
 *             server's name for it); a local one runs natively with the remotes as its fallbacks
 *             (used when the native engine fails before any text, e.g. the model does not fit).
 *             --remote-model NAME: the servers' name for the model (default: MODEL as given for a
 *             remote model, the file's name without .gguf for a local one).
 *     --ctx N the context (default: the model's, at most 4096).
 *     --verbose  after each reply, on stderr: total duration, load duration, prompt eval
 *             count/duration/rate, eval count/duration/rate, time to first token.
 * Exit 0 ok, 1 load or generation error, 2 usage. */
#include "cli/cli.h"
#include "gguf/gguf.h"
#include "sample/sample.h"
#include "util/util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- shared helpers (cli.h) */

const char *lir_cli_models_dir(const char *flag, char *buf, size_t n) {
    if (flag && *flag) return flag;
    const char *env = getenv("LIR_MODELS");
    if (env && *env) return env;
    struct stat st;
    if (!stat("models", &st) && S_ISDIR(st.st_mode)) return "models";
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (xdg && *xdg) snprintf(buf, n, "%s/lir/models", xdg);
    else snprintf(buf, n, "%s/.local/share/lir/models", home && *home ? home : ".");
    return buf;
}

void lir_cli_find_model(const char *model, const char *dir, struct lir_installed_model *out) {
    if (!model) lir_cli_die(2, "no model given");
    char err[LIR_ERR_MAX];
    struct stat st;
    if (!stat(model, &st)) {
        if (!S_ISREG(st.st_mode)) lir_cli_die(1, "'%s' is not a file", model);
        if (lir_model_inspect(model, out, err, sizeof err)) lir_cli_die(1, "cannot read '%s': %s", model, err);
        return;
    }
    struct lir_installed_model *v = NULL;
    int32_t n = 0;
    if (dir && lir_models_scan(dir, &v, &n) == LIR_OK)
        for (int32_t i = 0; i < n; i++)
            if (!strcmp(v[i].name, model) || !strcmp(v[i].id, model)) {
                *out = v[i];
                lir_runtime_free(v);
                return;
            }
    lir_runtime_free(v);
    lir_cli_die(1, "model '%s' not found: no such file, and no model of that name in %s (`lir models --dir %s` lists them)",
                model, dir ? dir : "(no models directory)", dir ? dir : "DIR");
}

int lir_cli_sampling_flag(int argc, char **argv, int i, struct lir_sampling_params *sp, const char **stops,
                          int32_t *n_stop) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--temp")) sp->temperature = lir_cli_arg_float(a, v, 0.0f, 2.0f);
    else if (!strcmp(a, "--top-k")) sp->top_k = (int32_t)lir_cli_arg_long(a, v, 0, INT32_MAX);
    else if (!strcmp(a, "--top-p")) sp->top_p = lir_cli_arg_float(a, v, 0.0f, 1.0f);
    else if (!strcmp(a, "--min-p")) sp->min_p = lir_cli_arg_float(a, v, 0.0f, 1.0f);
    else if (!strcmp(a, "--typical-p")) sp->typical_p = lir_cli_arg_float(a, v, 0.0f, 1.0f);
    else if (!strcmp(a, "--repeat-penalty")) sp->repeat_penalty = lir_cli_arg_float(a, v, 0.0f, 2.0f);
    else if (!strcmp(a, "--repeat-last-n")) sp->repeat_last_n = (int32_t)lir_cli_arg_long(a, v, -1, LIR_REPEAT_LAST_N_MAX);
    else if (!strcmp(a, "--frequency-penalty")) sp->frequency_penalty = lir_cli_arg_float(a, v, 0.0f, 2.0f);
    else if (!strcmp(a, "--presence-penalty")) sp->presence_penalty = lir_cli_arg_float(a, v, 0.0f, 2.0f);
    else if (!strcmp(a, "--mirostat")) sp->mirostat = (int32_t)lir_cli_arg_long(a, v, 0, 2);
    else if (!strcmp(a, "--mirostat-tau")) sp->mirostat_tau = lir_cli_arg_float(a, v, 0.0f, 20.0f);
    else if (!strcmp(a, "--mirostat-eta")) sp->mirostat_eta = lir_cli_arg_float(a, v, 0.0f, 1.0f);
    else if (!strcmp(a, "--seed")) sp->seed = (uint64_t)lir_cli_arg_long(a, v, 0, 0x7fffffffffffffffL);
    else if (!strcmp(a, "--stop")) {
        if (!v || !*v) lir_cli_die(2, "--stop needs a non-empty text");
        if (*n_stop >= LIR_STOP_MAX) lir_cli_die(2, "--stop: at most %d stop strings", LIR_STOP_MAX);
        stops[(*n_stop)++] = v;
        sp->stop = stops;
        sp->n_stop = *n_stop;
    } else return 0;
    return 1;
}

/* ---------------------------------------------------------------- lir run */

struct run {
    lir_runtime *rt;
    char id[LIR_ID_LEN];
    const char *route;              /* with --remote: the routed model name requests use, else NULL */
    struct lir_sampling_params sp;
    const char *grammar;            /* GBNF text (owned by lir_cli_run) or NULL */
    enum lir_response_format format;
    const char *json_schema;        /* with LIR_FORMAT_JSON_SCHEMA (owned by lir_cli_run) */
    bool seed_given, verbose;
    double load_ms;
    bool progress_shown;
};

/* The seed as `lir generate` draws it from --seed (cmd_generate.c), so both give the same text. */
static uint64_t drawn_seed(uint64_t seed) {
    uint64_t rng[4];
    lir_rng_seed(rng, seed);
    uint64_t s = (uint64_t)(lir_rng_uniform(rng) * 0x1p53);
    return s == LIR_SEED_RANDOM ? 0 : s;
}

static int progress_bar(float p, void *user) {
    struct run *r = user;
    int w = 30, k = (int)(p * (float)w + 0.5f);
    fprintf(stderr, "\rloading [%.*s%*s] %3d%%", k, "##############################", w - k, "", (int)(p * 100.0f + 0.5f));
    fflush(stderr);
    r->progress_shown = true;
    return 0;
}

/* Ctrl-C in a chat stops the reply being generated, as in `ollama run` (set by the handler,
 * cleared before each reply). Outside a chat SIGINT keeps its default: the process ends. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static int on_chunk(const struct lir_generate_chunk *c, void *user) {
    (void)user;
    if (c->len) {
        fwrite(c->text, 1, c->len, stdout);
        fflush(stdout);
    }
    return interrupted; /* non-zero cancels */
}

static void fmt_duration(char *buf, size_t n, double ms) {
    if (ms <= 0.0) snprintf(buf, n, "0s");
    else if (ms >= 1000.0) snprintf(buf, n, "%.6gs", ms / 1e3);
    else if (ms >= 1.0) snprintf(buf, n, "%.6gms", ms);
    else snprintf(buf, n, "%.6gµs", ms * 1e3);
}

/* Ollama's --verbose lines (`ollama run --verbose`), on stderr. */
static void print_metrics(const struct run *r, const struct lir_generate_result *res, bool with_load) {
    char b[64];
    const struct lir_generation_metrics *m = &res->metrics;
    double prompt_ms = m->prompt_tokens_per_second > 0 ? res->usage.prompt_tokens / m->prompt_tokens_per_second * 1e3 : 0;
    fmt_duration(b, sizeof b, m->total_ms + (with_load ? r->load_ms : 0));
    fprintf(stderr, "\ntotal duration:       %s\n", b);
    fmt_duration(b, sizeof b, with_load ? r->load_ms : 0);
    fprintf(stderr, "load duration:        %s\n", b);
    fprintf(stderr, "prompt eval count:    %d token(s)\n", res->usage.prompt_tokens);
    fmt_duration(b, sizeof b, prompt_ms);
    fprintf(stderr, "prompt eval duration: %s\n", b);
    fprintf(stderr, "prompt eval rate:     %.2f tokens/s\n", (double)m->prompt_tokens_per_second);
    fprintf(stderr, "eval count:           %d token(s)\n", res->usage.completion_tokens);
    fmt_duration(b, sizeof b, m->generation_ms);
    fprintf(stderr, "eval duration:        %s\n", b);
    fprintf(stderr, "eval rate:            %.2f tokens/s\n", (double)m->tokens_per_second);
    fmt_duration(b, sizeof b, m->ttft_ms);
    fprintf(stderr, "time to first token:  %s\n", b);
}

/* One request; the reply is streamed to stdout. Returns the result (caller clears it). */
static void generate(struct run *r, struct lir_generate_request *q, struct lir_generate_result *res) {
    char err[LIR_ERR_MAX];
    q->model = r->route ? r->route : r->id;
    q->sampling = r->sp;
    q->grammar = r->grammar;
    q->format = r->format;
    q->json_schema = r->json_schema;
    if (!r->seed_given) q->sampling.seed = LIR_SEED_RANDOM;
    interrupted = 0;
    enum lir_status s = lir_runtime_generate_stream(r->rt, q, on_chunk, NULL, res, err, sizeof err);
    if (s == LIR_ECANCELLED) fputs(" [stopped]", stdout); /* Ctrl-C: the partial reply is kept */
    else if (s) {
        fputc('\n', stdout);
        lir_cli_die(1, "%s", err);
    }
}

/* True when the file has a chat template. */
static bool has_chat_template(const char *path) {
    lir_gguf *g = NULL;
    if (lir_gguf_open(path, &g, NULL)) return false;
    bool yes = lir_gguf_find_key(g, "tokenizer.chat_template") >= 0;
    lir_gguf_close(g);
    return yes;
}

static void chat(struct run *r, const char *system, bool raw) {
    const bool tty = isatty(STDIN_FILENO);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESTART; /* at the prompt Ctrl-C does nothing: /bye or Ctrl-D ends the chat */
    sigemptyset(&sa.sa_mask);
    if (tty) sigaction(SIGINT, &sa, NULL);
    if (tty) fprintf(stderr, ">>> Send a message (/bye to quit, /reset, /system TEXT; end a line with \\ to continue)\n");
    struct lir_chat_message *hist = NULL;
    int32_t n = 0, cap = 0;
    char *sys = system && *system ? strdup(system) : NULL;
    bool first = true;
    char *msg;
    while ((msg = lir_cli_read_message(stdin, tty))) {
        if (!strcmp(msg, "/bye") || !strcmp(msg, "/exit") || !strcmp(msg, "/quit")) {
            free(msg);
            break;
        }
        if (!strcmp(msg, "/reset") || !strcmp(msg, "/clear") || !strcmp(msg, "/system") || !strncmp(msg, "/system ", 8)) {
            if (msg[1] == 's') {
                free(sys);
                sys = msg[7] && msg[8] ? strdup(msg + 8) : NULL;
            }
            for (int32_t i = 0; i < n; i++) free((char *)hist[i].content);
            n = 0;
            if (tty) fprintf(stderr, "[conversation cleared%s]\n", msg[1] == 's' ? (sys ? "; system prompt set" : "; system prompt removed") : "");
            free(msg);
            continue;
        }
        if (!msg[0]) {
            free(msg);
            continue;
        }
        if (n + 2 > cap) {
            cap = cap ? 2 * cap : 16;
            struct lir_chat_message *nh = realloc(hist, sizeof *nh * (size_t)cap);
            if (!nh) lir_cli_die(1, "out of memory");
            hist = nh;
        }
        hist[n++] = (struct lir_chat_message){ LIR_ROLE_USER, msg };
        struct lir_generate_request q = lir_generate_request_default();
        if (raw) q.prompt = msg; /* no template: each line is a completion of its own */
        else {
            q.messages = hist;
            q.n_messages = n;
            q.system_prompt = sys;
        }
        struct lir_generate_result res;
        generate(r, &q, &res);
        fputc('\n', stdout);
        fflush(stdout);
        if (r->verbose) print_metrics(r, &res, first);
        first = false;
        if (raw) {
            free(msg);
            n = 0;
        } else {
            char *reply = strdup(res.text ? res.text : "");
            if (!reply) lir_cli_die(1, "out of memory");
            hist[n++] = (struct lir_chat_message){ LIR_ROLE_ASSISTANT, reply };
        }
        lir_generate_result_clear(&res);
    }
    for (int32_t i = 0; i < n; i++) free((char *)hist[i].content);
    free(hist);
    free(sys);
}

static const char *run_usage =
    "usage: lir run MODEL [PROMPT] [options]\n"
    "  MODEL                a GGUF file, or a model name/id in the models directory\n"
    "  PROMPT               complete it (stdin is the prompt when it is a pipe; a chat on a terminal)\n"
    "  -n N                 tokens to generate (128 for a completion; a chat: until the reply ends; 0 = no limit)\n"
    "  --temp T --top-k K --top-p P --min-p P --typical-p P --repeat-penalty R --repeat-last-n N\n"
    "  --frequency-penalty F --presence-penalty F --mirostat 0|1|2 --mirostat-tau T --mirostat-eta E\n"
    "  --seed S --stop TEXT  sampling as `lir generate` (greedy unless given; a chat: --temp 0.8 --top-k 40)\n"
    "  --grammar-file F | --json | --format json | --json-schema-file F\n"
    "                       constrain the output: GBNF grammar, any JSON object, a JSON Schema\n"
    "  --system TEXT        system prompt (models with a chat template)\n"
    "  --raw                no chat template: continue the prompt as text\n"
    "  --no-echo            do not print the prompt before its continuation (raw completion)\n"
    "  --ctx N              context size (default: the model's, at most 4096)\n"
    "  --threads N --batch N\n"
    "  --models-dir D       models directory (default $LIR_MODELS, ./models, $XDG_DATA_HOME/lir/models)\n"
    "  --remote KIND:URL    remote backend (ollama:http://host:11434, openai:http://host:1234/v1), repeatable:\n"
    "                       a MODEL that is not local is served by them; a local one falls back to them\n"
    "  --remote-model NAME  the servers' name for the model (default: MODEL, or a local file's base name)\n"
    "  --verbose            print load, prompt-eval and eval timings after each reply (stderr)\n";

#define MAX_REMOTES 8

/* Whether model is a file or a model name/id under dir. */
static bool is_local(const char *model, const char *dir) {
    struct stat st;
    if (!stat(model, &st)) return true;
    struct lir_installed_model *v = NULL;
    int32_t n = 0;
    bool found = false;
    if (dir && lir_models_scan(dir, &v, &n) == LIR_OK)
        for (int32_t i = 0; i < n && !found; i++) found = !strcmp(v[i].name, model) || !strcmp(v[i].id, model);
    lir_runtime_free(v);
    return found;
}

/* --remote KIND:URL into p (strings borrowed from spec); dies (exit 2) on a bad one. */
static struct lir_remote_params parse_remote(const char *spec) {
    struct lir_remote_params p = lir_remote_params_default();
    if (!strncmp(spec, "ollama:", 7)) p.kind = LIR_REMOTE_OLLAMA, p.base_url = spec + 7;
    else if (!strncmp(spec, "openai:", 7)) p.kind = LIR_REMOTE_OPENAI, p.base_url = spec + 7;
    else lir_cli_die(2, "--remote: '%s' must be ollama:URL or openai:URL", spec);
    p.name = spec;
    p.max_retries = 1;
    p.retry_backoff_ms = 100;
    return p;
}

int lir_cli_run(int argc, char **argv) {
    const char *pos[2] = { NULL, NULL }, *model_flag = NULL, *dir_flag = NULL, *system = NULL;
    const char *grammar_file = NULL, *schema_file = NULL, *remotes[MAX_REMOTES], *remote_model = NULL;
    int n_constraints = 0, n_remotes = 0;
    const char *stops[LIR_STOP_MAX];
    int32_t n_stop = 0, n_gen = -1, n_ctx = 0, n_threads = 0, n_batch = 0;
    int n_pos = 0;
    bool raw = false, echo = true, temp_given = false, top_k_given = false;
    struct run r = { 0 };
    r.sp = lir_sampling_params_default();
    r.sp.temperature = 0.0f; /* as lir generate: every step off unless given */
    r.sp.top_p = 1.0f;
    r.sp.repeat_penalty = 1.0f;
    r.sp.seed = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(run_usage, stdout);
            return 0;
        }
        if (lir_cli_sampling_flag(argc, argv, i, &r.sp, stops, &n_stop)) {
            temp_given |= !strcmp(a, "--temp");
            top_k_given |= !strcmp(a, "--top-k");
            r.seed_given |= !strcmp(a, "--seed");
            i++;
            continue;
        }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!v) lir_cli_die(2, "%s needs a value", a); model_flag = v; i++; }
        else if (!strcmp(a, "--models-dir")) { if (!v) lir_cli_die(2, "%s needs a value", a); dir_flag = v; i++; }
        else if (!strcmp(a, "--system")) { if (!v) lir_cli_die(2, "%s needs a value", a); system = v; i++; }
        else if (!strcmp(a, "--remote-model")) { if (!v) lir_cli_die(2, "%s needs a value", a); remote_model = v; i++; }
        else if (!strcmp(a, "--remote")) {
            if (!v) lir_cli_die(2, "%s needs a value", a);
            if (n_remotes == MAX_REMOTES) lir_cli_die(2, "--remote: at most %d", MAX_REMOTES);
            parse_remote(v);
            remotes[n_remotes++] = v;
            i++;
        }
        else if (!strcmp(a, "--grammar-file")) { if (!v) lir_cli_die(2, "%s needs a value", a); grammar_file = v; n_constraints++; i++; }
        else if (!strcmp(a, "--json-schema-file")) { if (!v) lir_cli_die(2, "%s needs a value", a); schema_file = v; n_constraints++; i++; }
        else if (!strcmp(a, "--json")) { r.format = LIR_FORMAT_JSON; n_constraints++; }
        else if (!strcmp(a, "--format")) {
            if (!v || strcmp(v, "json")) lir_cli_die(2, "--format: only 'json' (or --json-schema-file F)");
            r.format = LIR_FORMAT_JSON;
            n_constraints++;
            i++;
        }
        else if (!strcmp(a, "-n")) { n_gen = (int32_t)lir_cli_arg_long(a, v, 0, 32768); i++; }
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) { n_ctx = (int32_t)lir_cli_arg_long(a, v, 1, 1 << 24); i++; }
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) { n_threads = (int32_t)lir_cli_arg_long(a, v, 1, 1024); i++; }
        else if (!strcmp(a, "--batch") || !strcmp(a, "-b")) { n_batch = (int32_t)lir_cli_arg_long(a, v, 1, 65536); i++; }
        else if (!strcmp(a, "--verbose")) r.verbose = true;
        else if (!strcmp(a, "--raw")) raw = true;
        else if (!strcmp(a, "--no-echo")) echo = false;
        else if (a[0] == '-' && a[1]) lir_cli_die(2, "run: unknown option '%s' (lir run --help)", a);
        else if (n_pos < 2) pos[n_pos++] = a;
        else lir_cli_die(2, "run: unexpected argument '%s'", a);
    }
    const char *model = model_flag ? model_flag : pos[0];
    const char *prompt = model_flag ? pos[0] : pos[1];
    if (model_flag && pos[1]) lir_cli_die(2, "run: unexpected argument '%s'", pos[1]);
    if (!model) lir_cli_die(2, "run: no model given (lir run MODEL [PROMPT])");
    if (n_constraints > 1) lir_cli_die(2, "run: give one of --grammar-file, --json/--format json, --json-schema-file");
    char *grammar_text = NULL, *schema_text = NULL;
    if (grammar_file && !(r.grammar = grammar_text = lir_cli_read_file(grammar_file, false, NULL)))
        lir_cli_die(1, "cannot read '%s': %s", grammar_file, strerror(errno));
    if (schema_file) {
        if (!(r.json_schema = schema_text = lir_cli_read_file(schema_file, false, NULL)))
            lir_cli_die(1, "cannot read '%s': %s", schema_file, strerror(errno));
        r.format = LIR_FORMAT_JSON_SCHEMA;
    }

    char dbuf[4096];
    const char *dir = lir_cli_models_dir(dir_flag, dbuf, sizeof dbuf);
    struct lir_installed_model im;
    const bool local = !n_remotes || is_local(model, dir);
    memset(&im, 0, sizeof im);
    if (local) lir_cli_find_model(model, dir, &im);
    if (!strcmp(im.arch, "bert") || !strcmp(im.arch, "nomic-bert"))
        lir_cli_die(1, "run: '%s' is an embedding model (%s): it does not generate text; use lir embed", model, im.arch);
    /* a remote model gets the prompt as a chat message (the server applies its template) */
    bool template = !raw && (!local || has_chat_template(im.path));
    bool interactive = !prompt && isatty(STDIN_FILENO);
    char *stdin_prompt = NULL;
    if (!prompt && !interactive) {
        if (!(stdin_prompt = lir_cli_read_file("-", true, NULL))) lir_cli_die(1, "cannot read stdin: %s", strerror(errno));
        size_t k = strlen(stdin_prompt);
        while (k && (stdin_prompt[k - 1] == '\n' || stdin_prompt[k - 1] == '\r')) stdin_prompt[--k] = 0;
        prompt = stdin_prompt;
    }
    if (interactive) {
        if (!temp_given) r.sp.temperature = 0.8f; /* as lir chat */
        if (!top_k_given) r.sp.top_k = 40;
    }
    r.sp.max_tokens = n_gen >= 0 ? n_gen : interactive ? 0 : 128;
    if (r.seed_given) r.sp.seed = drawn_seed(r.sp.seed);
    else if (!interactive) { r.sp.seed = drawn_seed(0); r.seed_given = true; } /* as lir generate without --seed */

    struct lir_runtime_params rp = lir_runtime_params_default();
    rp.models_dir = dir;
    rp.ram_alert_percent = 0;
    rp.monitor_interval_ms = 0; /* one command: no resource monitor thread */
    char err[LIR_ERR_MAX];
    if (lir_runtime_create(&rp, &r.rt, err, sizeof err)) lir_cli_die(1, "%s", err);
    char base[256];
    if (n_remotes) {
        r.route = local ? im.path : model;
        if (local && !remote_model) { /* the file's name without .gguf */
            const char *slash = strrchr(im.path, '/');
            snprintf(base, sizeof base, "%.255s", slash ? slash + 1 : im.path);
            size_t k = strlen(base);
            if (k > 5 && !strcmp(base + k - 5, ".gguf")) base[k - 5] = 0;
            remote_model = base;
        }
        for (int i = 0; i < n_remotes; i++) {
            struct lir_remote_params p = parse_remote(remotes[i]);
            p.model = remote_model;
            if (lir_runtime_add_remote(r.rt, r.route, &p, err, sizeof err)) lir_cli_die(1, "%s", err);
        }
    }
    if (local) {
        struct lir_load_options lo = lir_load_options_default();
        lo.context_size = n_ctx ? n_ctx : im.context_length > 0 && im.context_length < 4096 ? im.context_length : 4096;
        lo.threads = n_threads;
        if (n_batch) lo.batch_size = n_batch;
        lo.keep_alive_ms = LIR_KEEP_ALIVE_NEVER;
        struct lir_resource_check rc;
        bool bar = isatty(STDERR_FILENO);
        uint64_t t0 = lir__now_ns();
        enum lir_status s = lir_runtime_load(r.rt, im.path, &lo, bar ? progress_bar : NULL, &r, r.id, &rc, err, sizeof err);
        r.load_ms = (double)(lir__now_ns() - t0) / 1e6;
        if (r.progress_shown) fputs("\r\033[K", stderr);
        if (s && !n_remotes) lir_cli_die(1, "%s", err);
        if (s) fprintf(stderr, "lir: %s; trying the remote backends\n", err);
    }

    if (interactive) {
        chat(&r, system, !template);
    } else {
        struct lir_generate_request q = lir_generate_request_default();
        struct lir_chat_message one = { LIR_ROLE_USER, prompt };
        if (template) { /* the prompt as a user message, after the system prompt if any */
            q.messages = &one;
            q.n_messages = 1;
            q.system_prompt = system;
        } else {
            q.prompt = prompt;
        }
        if (!template && echo) {
            fputs(prompt, stdout);
            fflush(stdout);
        }
        struct lir_generate_result res;
        generate(&r, &q, &res);
        fputc('\n', stdout);
        fflush(stdout);
        if (r.verbose) print_metrics(&r, &res, true);
        lir_generate_result_clear(&res);
    }
    free(stdin_prompt);
    free(grammar_text);
    free(schema_text);
    lir_runtime_destroy(r.rt);
    return 0;
}
