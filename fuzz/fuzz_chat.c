/* fuzz_chat.c — libFuzzer target for the chat-template interpreter (lir_chat_apply).
 *
 * Input layout: byte 0 picks the mode and the chat parameters, the rest is the payload.
 *   bit 0 clear: the payload is the whole template, rendered over a fixed, valid conversation
 *                (system/user/assistant with tool calls, a tool reply, list content) — this
 *                is the mode that reaches deep into the evaluator;
 *   bit 0 set:   the payload is "template NUL messages-json [NUL extra-json]" — the messages
 *                (and extra variables) are fuzzed too;
 *   bit 1:       add_generation_prompt;
 *   bit 2:       tools given (a fixed array of one function);
 *   bit 3:       extra variables given (fixed, or the fuzzed third part in mode 1).
 * Every call must return LIR_OK with a NUL-terminated string of the length reported, or an
 * error with a non-empty message and no output. Hangs (libFuzzer -timeout), leaks and memory
 * errors (ASan) are findings. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lir.h"

static const char FIXED_MESSAGES[] =
    "[{\"role\":\"system\",\"content\":\"You are terse.\"},"
    "{\"role\":\"user\",\"content\":\"Hi \\u00e9\\u4e2d <|eot_id|>\"},"
    "{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
    "\"function\":{\"name\":\"get\",\"arguments\":{\"x\":1,\"y\":[true,null,2.5]}}}]},"
    "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"{\\\"ok\\\":1}\"},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},{\"type\":\"image\"}]},"
    "{\"role\":\"assistant\",\"content\":\"<think>hm</think>Done.\"}]";

static const char FIXED_TOOLS[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get\",\"description\":\"d\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}},\"required\":[\"x\"]}}}]";

static const char FIXED_EXTRA[] = "{\"enable_thinking\":false,\"date_string\":\"26 Jul 2024\",\"n\":3}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0];
    /* one heap copy, NUL-terminated, so reads past the end are caught by ASan */
    char *buf = malloc(size);
    if (!buf) return 0;
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = 0;

    const char *tmpl = buf, *msgs = FIXED_MESSAGES, *extra = (mode & 8) ? FIXED_EXTRA : NULL;
    if (mode & 1) {
        /* buf holds size-1 payload bytes plus the final NUL at buf[size-1] */
        size_t tl = strlen(buf);
        msgs = "[]";
        if (tl + 1 < size) {
            msgs = buf + tl + 1;
            size_t ml = strlen(msgs);
            if ((mode & 8) && tl + 1 + ml + 1 < size) extra = msgs + ml + 1;
        }
    }
    struct lir_chat_params p = lir_chat_params_default();
    p.add_generation_prompt = mode & 2;
    p.bos_token = "<s>";
    p.eos_token = "</s>";
    p.tools_json = (mode & 4) ? FIXED_TOOLS : NULL;
    p.extra_json = extra;

    char *out = (char *)1, err[256];
    size_t out_len = 12345;
    err[0] = 0;
    enum lir_status s = lir_chat_apply(tmpl, msgs, &p, &out, &out_len, err, sizeof err);
    if (getenv("FUZZ_CHAT_DEBUG")) /* reproducing a finding: show what the template did */
        fprintf(stderr, "status %d: %s\n%.*s\n", s, s ? err : "", s ? 0 : (int)out_len, s ? "" : out);
    if (s == LIR_OK) {
        if (!out || out[out_len] != 0) abort(); /* length must match the NUL-terminated result */
        lir_chat_free(out);
    } else {
        if (out || out_len != 0) abort(); /* an error hands out nothing */
        if (!err[0]) abort();              /* ... but always says why */
        if (s != LIR_EINVAL && s != LIR_ENOMEM) abort();
    }
    free(buf);
    return 0;
}
