/* Test harness: reads N model inputs back to back on stdin, writes N outputs on stdout. */
#include <stdio.h>
#include <string.h>

#include "model.h"

int main(void) {
  static int8_t in[MODEL_INPUT_BYTES];
  while (fread(in, 1, MODEL_INPUT_BYTES, stdin) == MODEL_INPUT_BYTES) {
    memcpy(model_input(), in, MODEL_INPUT_BYTES);
    model_invoke();
    if (fwrite(model_output(), 1, MODEL_OUTPUT_BYTES, stdout) != MODEL_OUTPUT_BYTES) {
      return 1;
    }
  }
  return 0;
}
