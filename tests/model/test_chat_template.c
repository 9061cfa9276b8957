/* test_chat_template.c — lir_model_chat_template: the model's tokenizer.chat_template comes back
 * whole and NUL-terminated (the GGUF string is not), NULL when the key is absent, and it renders
 * through lir_chat_apply. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include "lir.h"
#include "model/model_util.h"

static char base_path[256], tmpl_path[256];

static void cleanup(void) {
    unlink(base_path);
    unlink(tmpl_path);
}

static lir_model *load_ok(const char *path) {
    char err[512] = "";
    lir_model *m = NULL;
    cr_assert_eq(lir_model_load(path, NULL, &m, err, sizeof err), LIR_OK, "load %s: %s", path, err);
    return m;
}

static const char *TEMPLATE =
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}";

Test(model_chat_template, with_and_without, .fini = cleanup) {
    lir_err e = { { 0 } };
    tmp_model_path(base_path, sizeof base_path, "ct-base");
    tmp_model_path(tmpl_path, sizeof tmpl_path, "ct-tmpl");
    cr_assert_eq(make_tiny(base_path, LIR_GEN_LLAMA, LIR_TYPE_F32, 3, &e), LIR_OK, "generate: %s", e.msg);
    struct model_edit ed = { .set_key_str = "tokenizer.chat_template", .str_value = TEMPLATE };
    cr_assert_eq(copy_model(base_path, tmpl_path, &ed, &e), LIR_OK, "copy: %s", e.msg);

    lir_model *plain = load_ok(base_path);
    cr_expect_null(lir_model_chat_template(plain), "a model without the key has no template");
    lir_model_free(plain);

    lir_model *m = load_ok(tmpl_path);
    const char *t = lir_model_chat_template(m);
    cr_assert_not_null(t);
    cr_expect_str_eq(t, TEMPLATE);
    cr_expect_eq(lir_model_chat_template(m), t, "same pointer on every call");

    struct lir_chat_params p = lir_chat_params_default();
    p.add_generation_prompt = true;
    p.eos_token = "</s>";
    char *out = NULL, err[512] = "";
    size_t n = 0;
    cr_assert_eq(lir_chat_apply(t, "[{\"role\":\"user\",\"content\":\"hi\"}]", &p, &out, &n, err, sizeof err), LIR_OK,
                 "%s", err);
    cr_expect_str_eq(out, "<|user|>hi</s>\n<|assistant|>");
    lir_chat_free(out);
    lir_model_free(m);

    cr_expect_null(lir_model_chat_template(NULL));
}
