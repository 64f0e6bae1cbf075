/*
 * Compile-time checks of model.h that every firmware main relies on (hand-written model.h files
 * included): the input it loads at model_input() and the output it reads at model_output() lie
 * inside the model's arena. Include after model.h.
 */
#ifndef SMCU_MODEL_CHECKS_H
#define SMCU_MODEL_CHECKS_H

#if (MODEL_INPUT_BYTES) < 1 || (MODEL_OUTPUT_BYTES) < 1
#error "model.h: MODEL_INPUT_BYTES and MODEL_OUTPUT_BYTES must be at least 1"
#endif
#if (MODEL_INPUT_BYTES) > (MODEL_ARENA_BYTES) || (MODEL_OUTPUT_BYTES) > (MODEL_ARENA_BYTES)
#error "model.h: the model's input or output is larger than its arena (MODEL_ARENA_BYTES)"
#endif
#if defined(MODEL_INPUT_OFFSET) && (MODEL_INPUT_OFFSET) + (MODEL_INPUT_BYTES) > (MODEL_ARENA_BYTES)
#error "model.h: the input (MODEL_INPUT_OFFSET + MODEL_INPUT_BYTES) does not fit the arena"
#endif
#if defined(MODEL_OUTPUT_OFFSET) && (MODEL_OUTPUT_OFFSET) + (MODEL_OUTPUT_BYTES) > (MODEL_ARENA_BYTES)
#error "model.h: the output (MODEL_OUTPUT_OFFSET + MODEL_OUTPUT_BYTES) does not fit the arena"
#endif

#endif
