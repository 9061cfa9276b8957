/* chat.h — internal interface of the chat-template component (src/chat).
 * The public entry points are in include/lir.h ("chat templates"); this header adds what the
 * CLI and tests use beyond them. */
#ifndef LIR_CHAT_CHAT_H
#define LIR_CHAT_CHAT_H

#include "lir.h"

#include <stddef.h>

/* Built-in template source by name ("chatml", "llama3", ...), static storage; NULL if unknown. */
const char *lir__chat_builtin(const char *name);
/* Names of the built-in templates, NULL-terminated, static storage. */
const char *const *lir__chat_builtin_names(void);

#endif
