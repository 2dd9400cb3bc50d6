/* One interface over the two example models, for the C programs of CrossTargetTests and
 * SanitizerTests: compile with -DMODEL_GPT (gpt_tiny.h: tokens i32[seq_len] -> logits) or
 * -DMODEL_VIT (vit_tiny.h: image f32[3, 32, 32] -> logits f32[1, 10]) and -I the folder that
 * holds the header `tfc compile` wrote. */
#ifndef TFC_TEST_MODEL_API_H
#define TFC_TEST_MODEL_API_H

#include <stdint.h>

#if defined(MODEL_GPT)
#include "gpt_tiny.h"
typedef int32_t model_input_t;
#define MODEL_NAME "gpt_tiny"
#define MODEL_HAS_SEQ 1
#define MODEL_MAX_SEQ GPT_TINY_MAX_SEQ_LEN
#define MODEL_VOCAB GPT_TINY_TOKENS_LIMIT
#define MODEL_INPUT_COUNT(s) GPT_TINY_TOKENS_COUNT(s)
#define MODEL_OUTPUT_COUNT(s) GPT_TINY_LOGITS_COUNT(s)
#define MODEL_WORKSPACE_SIZE GPT_TINY_WORKSPACE_SIZE
#define MODEL_WORKSPACE_ALIGNMENT GPT_TINY_WORKSPACE_ALIGNMENT
#define MODEL_OK GPT_TINY_OK
#define MODEL_ERR_SEQ_LEN GPT_TINY_ERR_SEQ_LEN
#define MODEL_ERR_TOKEN_ID GPT_TINY_ERR_TOKEN_ID
#define MODEL_ERR_NULL GPT_TINY_ERR_NULL
#define MODEL_ERR_ALIGNMENT GPT_TINY_ERR_ALIGNMENT
#define MODEL_FORWARD(in, s, out, ws) gpt_tiny_forward((in), (s), (out), (ws))
#define MODEL_FORWARD_THREADS(in, s, out, ws, t) gpt_tiny_forward_threads((in), (s), (out), (ws), (t))
#elif defined(MODEL_VIT)
#include "vit_tiny.h"
typedef float model_input_t;
#define MODEL_NAME "vit_tiny"
#define MODEL_HAS_SEQ 0
#define MODEL_MAX_SEQ 1
#define MODEL_INPUT_COUNT(s) ((size_t)VIT_TINY_IMAGE_COUNT)
#define MODEL_OUTPUT_COUNT(s) ((size_t)VIT_TINY_LOGITS_COUNT)
#define MODEL_WORKSPACE_SIZE VIT_TINY_WORKSPACE_SIZE
#define MODEL_WORKSPACE_ALIGNMENT VIT_TINY_WORKSPACE_ALIGNMENT
#define MODEL_OK VIT_TINY_OK
#define MODEL_ERR_SEQ_LEN VIT_TINY_ERR_SEQ_LEN
#define MODEL_ERR_TOKEN_ID VIT_TINY_ERR_TOKEN_ID
#define MODEL_ERR_NULL VIT_TINY_ERR_NULL
#define MODEL_ERR_ALIGNMENT VIT_TINY_ERR_ALIGNMENT
/* The sequence length is fixed: it is not an argument of the entry points. */
#define MODEL_FORWARD(in, s, out, ws) ((void)(s), vit_tiny_forward((in), (out), (ws)))
#define MODEL_FORWARD_THREADS(in, s, out, ws, t) ((void)(s), vit_tiny_forward_threads((in), (out), (ws), (t)))
#else
#error "compile with -DMODEL_GPT or -DMODEL_VIT"
#endif

#endif
