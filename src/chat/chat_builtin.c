/* chat_builtin.c — built-in chat templates selectable by name (lir template --template NAME,
 * lir_chat_builtin), for models whose GGUF has no template or one that cannot run.
 * Each string is the model family's public template as published with its tokenizer
 * (the same text as tests/chat/templates/<fixture>.jinja, which the parity test renders
 * against @huggingface/jinja). */
#include "chat/chat.h"

#include <string.h>

struct builtin { const char *name; const char *src; };

#include "chat/chat_builtin_data.h"

const char *lir__chat_builtin(const char *name) {
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (!strcmp(builtins[i].name, name)) return builtins[i].src;
    return NULL;
}

const char *const *lir__chat_builtin_names(void) {
    static const char *names[sizeof builtins / sizeof builtins[0] + 1];
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) names[i] = builtins[i].name;
    return names;
}
