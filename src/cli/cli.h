/* cli.h — what the files of the `lir` command share: argument parsing that exits on bad input,
 * model loading, and the sampling loop of `run`, `generate` and `chat` (cmd_generate.c).
 * Only this layer prints and exits; everything it computes goes through include/lir.h. */
#ifndef LIR_CLI_H
#define LIR_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "lir.h"
#include <jansson.h>

/* "lir: MESSAGE" on stderr, then exit(code): 1 for run-time errors, 2 for usage errors. */
_Noreturn void lir_cli_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The value of a flag as an integer / a number in [lo, hi]; dies (exit 2) naming the flag. */
long lir_cli_arg_long(const char *flag, const char *v, long lo, long hi);
float lir_cli_arg_float(const char *flag, const char *v, float lo, float hi);
/* The whole file at path ("-" = stdin when allow_stdin) as a malloc'd NUL-terminated buffer
 * (the caller frees it), its length in *len (may be NULL). NULL with errno set when the file
 * cannot be opened or read, or on out of memory. */
char *lir_cli_read_file(const char *path, bool allow_stdin, size_t *len);
/* Loads a model or dies (exit 1) with the loader's message. */
lir_model *lir_cli_load_model(const char *path);
/* Tokenizes text (add_special: BOS/EOS as the vocabulary asks; parse_special: control tokens
 * written in the text match). Returns a malloc'd array of *n ids, or dies (exit 1). */
lir_token *lir_cli_text_tokens(const lir_model *m, const char *text, bool add_special, bool parse_special, int32_t *n);

/* Sampler settings and state; the generator state carries over between calls (chat turns). */
struct lir_cli_sampler {
    float temp;      /* 0 = greedy */
    int32_t top_k;   /* 0 = whole vocabulary; else sample among the k largest logits */
    uint64_t rng[4]; /* lir_rng_seed */
};

/* Text of the generated tokens: whole UTF-8 characters only (lir_detok), written and flushed
 * to out (may be NULL) as they complete, and collected in text/len (malloc'd, NUL-terminated;
 * the caller frees text). */
struct lir_cli_text {
    lir_detok *detok; /* borrowed */
    FILE *out;
    char *text;
    size_t len, cap;
};

/* One generation. tokens/margins are malloc'd (n_gen entries; the caller frees both). */
struct lir_cli_gen {
    lir_token *tokens;  /* sampled tokens; the last one is not in the KV cache */
    float *margins;     /* top-2 logit margin at each step */
    int32_t n_gen;      /* sampled tokens */
    int32_t n_decode;   /* of which evaluated (now in the KV cache): all but the last */
    bool eog;           /* ended by an end-of-generation token */
    bool ctx_full;      /* ended because the context is full */
    double ttft_ms, prompt_ms, gen_ms;
};

/* Evaluates prompt[0..n_prompt) (borrowed) at positions pos.. — the first pos tokens of the
 * sequence are already in ctx's KV cache, anything after them is overwritten — then samples up
 * to n_gen tokens, evaluating each but the last. Stops at an end-of-generation token (which is
 * kept in r->tokens and given to txt, where control tokens show as nothing) or when the context
 * is full. txt may be NULL. Returns LIR_OK, or the status of lir_context_decode (LIR_ECONTEXT
 * when the prompt does not fit) with its message in err; LIR_ENOMEM. */
enum lir_status lir_cli_generate_tokens(lir_model *m, lir_context *ctx, const lir_token *prompt, int32_t n_prompt,
                                        int32_t pos, int32_t n_gen, struct lir_cli_sampler *smp,
                                        struct lir_cli_text *txt, struct lir_cli_gen *r, char *err, size_t err_len);

/* cli_http.c: a running server. The base URL ("http://host:port", no trailing slash) from
 * $LIR_HOST (default 127.0.0.1:7373; 0.0.0.0 means this machine; port 7373 when none is given). */
void lir_cli_server_url(char *buf, size_t n);
enum lir_cli_reply { LIR_CLI_REPLY_OK, LIR_CLI_NO_SERVER, LIR_CLI_REPLY_ERROR };
/* One request to base + path: GET when body is NULL, else POST of the JSON body. On
 * LIR_CLI_REPLY_OK *out is the parsed JSON reply (the caller decrefs); LIR_CLI_REPLY_ERROR: err
 * says why (the server's message when it sent one); LIR_CLI_NO_SERVER: nothing listens there. */
enum lir_cli_reply lir_cli_request(const char *base, const char *path, const char *body, long connect_ms,
                                   long timeout_s, json_t **out, char *err, size_t err_len);

int lir_cli_generate(int argc, char **argv); /* `lir generate` */
int lir_cli_chat(int argc, char **argv);     /* `lir chat` */
int lir_cli_run(int argc, char **argv);      /* `lir run` (cmd_run.c) */
int lir_cli_show(int argc, char **argv);     /* `lir show` (cmd_show.c) */
int lir_cli_bench(int argc, char **argv);    /* `lir bench` (cmd_bench.c) */
int lir_cli_ps(int argc, char **argv);       /* `lir ps` (cmd_ps.c) */
int lir_cli_load(int argc, char **argv);     /* `lir load` (cmd_ps.c) */
int lir_cli_unload(int argc, char **argv);   /* `lir unload` (cmd_ps.c) */

/* One chat message from in: lines ending in '\' continue; a "> " prompt on a terminal.
 * Returns a malloc'd string (the caller frees it), NULL at the end of input (cmd_chat.c). */
char *lir_cli_read_message(FILE *in, bool tty);

/* The models directory: flag (--models-dir) if given, else $LIR_MODELS, else ./models when it
 * exists, else $XDG_DATA_HOME/lir/models (~/.local/share/lir/models). May return buf (n bytes). */
const char *lir_cli_models_dir(const char *flag, char *buf, size_t n);
/* A model given as a GGUF path, or as a name or id under dir (may be NULL): its metadata in
 * *out, or dies (exit 1) saying where it looked. (cmd_run.c) */
void lir_cli_find_model(const char *model, const char *dir, struct lir_installed_model *out);
/* When argv[i] is a sampling flag of `lir generate` (--temp --top-k --top-p --min-p --typical-p
 * --repeat-penalty --repeat-last-n --frequency-penalty --presence-penalty --mirostat
 * --mirostat-tau --mirostat-eta --seed --stop), parses its value (argv[i + 1]) into sp —
 * --stop appends to stops (LIR_STOP_MAX entries, borrowed from argv) — and returns 1; dies
 * (exit 2) on a bad value. Returns 0 for any other argument. (cmd_run.c) */
int lir_cli_sampling_flag(int argc, char **argv, int i, struct lir_sampling_params *sp, const char **stops,
                          int32_t *n_stop);

#endif /* LIR_CLI_H */
