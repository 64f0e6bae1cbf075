/*
 * MLPerf Tiny benchmark mode: the firmware main when built with `sparsemcu build --protocol mlperf`
 * (instead of smcu_main.c, which stays the default). Serves the MLPerf Tiny benchmark API's UART
 * command set, performance mode, as specified in board_test/mlperf.py (module docstring):
 * name, timestamp, profile, help, db load N / db HEX / db print, infer N W, results.
 * Every inference is our generated model_invoke() (no interpreter), on the bytes loaded with `db`
 * converted to the model's int8 input by the benchmark's rule (SMCU_MLPERF_INPUT_OFFSET).
 * Board independent, C99, no libc, no dynamic memory.
 *
 * Build-time defines (sparsemcu/firmware/build.py, from board.json and board_test/mlperf.py):
 *   SMCU_MLPERF_MODEL         benchmark id printed by `profile` (m-model-[...]), e.g. "ic01"
 *   SMCU_MLPERF_INPUT_OFFSET  int8 input = loaded byte - offset (mod 256): 128 for ic01/vww01, 0 for kws01
 *   SMCU_TICKS_PER_US         board_ticks() per microsecond of the board's clock (QEMU: emulated time)
 *   SMCU_MLPERF_EMULATED      1 on QEMU boards: `help` says the microseconds are emulated
 */
#include <stdint.h>

#include "model.h"
#include "smcu_board.h"
#include "smcu_mlperf.h"
#include "smcu_model_checks.h"
#include "smcu_protocol.h" /* smcu_report_fault(), called by the boards' fault handlers */

#if !defined(SMCU_MLPERF_MODEL) || !defined(SMCU_MLPERF_INPUT_OFFSET) || !defined(SMCU_TICKS_PER_US)
#error "smcu_mlperf_main.c: build with sparsemcu build --protocol mlperf (SMCU_MLPERF_MODEL, ..._INPUT_OFFSET, SMCU_TICKS_PER_US)"
#endif
#ifndef SMCU_MLPERF_EMULATED
#define SMCU_MLPERF_EMULATED 0
#endif

#if SMCU_MLPERF_RESULT_DECIMALS != 6u
#error "print_results() rounds 1e-9 units to 1e-6: it prints exactly 6 decimals"
#endif

#define STR_(x) #x
#define STR(x) STR_(x)

/* ---------------------------------------------------------------- output */
static uint32_t str_len(const char *s) {
  uint32_t n = 0;
  while (s[n]) n++;
  return n;
}

static void put(const char *s) { board_uart_write((const uint8_t *)s, str_len(s)); }

static void put_line(const char *s) {
  put(s);
  put("\r\n");
}

static void put_u64(uint64_t v) {
  char b[20];
  uint32_t n = 0;
  do {
    b[19 - n++] = (char)('0' + (uint32_t)(v % 10u));
    v /= 10u;
  } while (v);
  board_uart_write((const uint8_t *)b + 20 - n, n);
}

static void put_hex(uint32_t v, uint32_t digits) {
  char b[8];
  uint32_t i;
  for (i = 0; i < digits; i++) {
    const uint32_t d = (v >> (4u * (digits - 1u - i))) & 15u;
    b[i] = (char)(d < 10u ? '0' + d : 'a' + d - 10u);
  }
  board_uart_write((const uint8_t *)b, digits);
}

/* ---------------------------------------------------------------- time */
/* board_ticks() is 32 bits and wraps (QEMU: every 2^32 emulated instructions = 4.3 s of emulated
 * time; 216 MHz cycles: 19.9 s); the benchmark's windows last 10 s or more, so the ticks are
 * accumulated into 64 bits at every timestamp and after every inference (each inference must take
 * less than one wrap period). */
static uint64_t clock_ticks;
static uint32_t clock_last;

static uint64_t now_ticks(void) {
  const uint32_t t = board_ticks();
  clock_ticks += (uint32_t)(t - clock_last);
  clock_last = t;
  return clock_ticks;
}

/* th_timestamp() in performance mode: m-lap-us-<microseconds of the board's clock>. */
static void timestamp(void) {
  const uint64_t us = now_ticks() / (uint64_t)(SMCU_TICKS_PER_US);
  put(SMCU_MLPERF_MSG_LAP_US);
  put_u64(us);
  put("\r\n");
}

/* ---------------------------------------------------------------- state */
static uint8_t db_buf[MODEL_INPUT_BYTES]; /* the bytes loaded with `db`, as received */
static uint32_t db_size, db_pos;          /* announced by `db load N`, received so far */
static uint32_t results_valid;            /* model_output() holds the last inference's output */

/* One inference as timed: the loaded bytes -> the model's int8 input (the memory plan may let
 * activations overwrite the input, so it is rewritten every time), then model_invoke(). */
static void infer_once(void) {
  int8_t *in = model_input();
  uint32_t i;
  for (i = 0; i < (uint32_t)(MODEL_INPUT_BYTES); i++)
    in[i] = (int8_t)(uint8_t)(db_buf[i] - (uint32_t)(SMCU_MLPERF_INPUT_OFFSET));
  model_invoke();
  (void)now_ticks();
}

/* m-results-[v0,v1,...]: each output dequantised, (q - zero point) * scale, printed with
 * SMCU_MLPERF_RESULT_DECIMALS decimals; integer arithmetic (the scale in 1e-9 units, folded by the
 * compiler), so no float formatting on the device. */
static void print_results(void) {
  static const int64_t scale_nano = (int64_t)((double)(MODEL_OUTPUT_SCALE) * 1e9 + 0.5);
  const int8_t *out = model_output();
  uint32_t i, d;
  put(SMCU_MLPERF_MSG_RESULTS);
  for (i = 0; i < (uint32_t)(MODEL_OUTPUT_BYTES); i++) {
    int64_t v = ((int64_t)out[i] - (int64_t)(MODEL_OUTPUT_ZERO_POINT)) * scale_nano; /* 1e-9 units */
    uint64_t micro;
    char frac[SMCU_MLPERF_RESULT_DECIMALS];
    if (i) put(",");
    if (v < 0) {
      put("-");
      v = -v;
    }
    micro = ((uint64_t)v + 500u) / 1000u; /* 1e-6 units, rounded half up */
    put_u64(micro / 1000000u);
    put(".");
    micro %= 1000000u;
    for (d = SMCU_MLPERF_RESULT_DECIMALS; d--; micro /= 10u) frac[d] = (char)('0' + (uint32_t)(micro % 10u));
    board_uart_write((const uint8_t *)frac, SMCU_MLPERF_RESULT_DECIMALS);
  }
  put("]\r\n");
}

/* ---------------------------------------------------------------- parsing */
/* The next space-separated token of *p (NUL-terminated in place), or 0 at the end. */
static char *token(char **p) {
  char *s = *p, *t;
  while (*s == ' ') s++;
  if (!*s) return 0;
  t = s;
  while (*s && *s != ' ') s++;
  if (*s) *s++ = 0;
  *p = s;
  return t;
}

static int same(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

/* C's atoi() as the reference parser uses it: optional sign, digits up to the first non-digit
 * (none: 0); saturates instead of overflowing. */
static int32_t to_int(const char *s) {
  int32_t neg = 0, v = 0;
  if (*s == '-' || *s == '+') neg = *s++ == '-';
  for (; *s >= '0' && *s <= '9'; s++) v = v > (2147483647 - (*s - '0')) / 10 ? 2147483647 : v * 10 + (*s - '0');
  return neg ? -v : v;
}

static int32_t hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* ---------------------------------------------------------------- commands */
static void cmd_db(char **rest) {
  char *sub = token(rest);
  if (!sub) {
    put_line(SMCU_MLPERF_ERR_DB_SUBCMD);
  } else if (same(sub, "load")) {
    const char *n = token(rest);
    int32_t size;
    if (!n) {
      put_line(SMCU_MLPERF_ERR_DB_LOAD_N);
      return;
    }
    size = to_int(n);
    if (size <= 0) {
      put_line(SMCU_MLPERF_ERR_DB_LOAD_ZERO);
    } else if ((uint32_t)size > (uint32_t)(MODEL_INPUT_BYTES)) {
      put(SMCU_MLPERF_ERR_TOO_BIG);
      put_u64((uint32_t)(MODEL_INPUT_BYTES));
      put_line("]");
    } else {
      db_size = (uint32_t)size;
      db_pos = 0;
      put(SMCU_MLPERF_MSG_EXPECTING);
      put_u64(db_size);
      put_line(" bytes]");
    }
  } else if (same(sub, "print")) {
    uint32_t i;
    for (i = 0; i < db_size; i++) {
      put(i % 8u ? "-" : SMCU_MLPERF_MSG_BUFFER);
      put_hex(db_buf[i], 2);
      if (i % 8u == 7u || i + 1u == db_size) put("\r\n");
    }
  } else {
    /* hex bytes: two digits each, all checked before any byte is stored */
    uint32_t n = str_len(sub), i;
    if (n & 1u) {
      put_line(SMCU_MLPERF_ERR_HEX_ODD);
      return;
    }
    for (i = 0; i < n; i++) {
      if (hex_digit(sub[i]) < 0) {
        char bad[3];
        bad[0] = sub[i & ~1u]; /* the two-digit pair that holds the bad digit (n is even) */
        bad[1] = sub[i | 1u];
        bad[2] = 0;
        put(SMCU_MLPERF_ERR_HEX_DIGIT);
        put(bad);
        put_line("']");
        return;
      }
    }
    if (db_pos >= db_size) {
      put_line(SMCU_MLPERF_ERR_DB_FULL);
      return;
    }
    for (i = 0; i < n && db_pos < db_size; i += 2) {
      db_buf[db_pos++] = (uint8_t)(hex_digit(sub[i]) * 16 + hex_digit(sub[i + 1]));
    }
    if (db_pos == db_size) put_line(SMCU_MLPERF_MSG_LOAD_DONE); /* the rest of the digits is ignored */
  }
}

static void cmd_infer(char **rest) {
  const char *a = token(rest), *b = a ? token(rest) : 0;
  int32_t n = (int32_t)(SMCU_MLPERF_DEFAULT_ITERATIONS), w = (int32_t)(SMCU_MLPERF_DEFAULT_WARMUPS);
  if (a && (n = to_int(a)) <= 0) {
    put_line(SMCU_MLPERF_ERR_ITERATIONS);
    return;
  }
  if (b && (w = to_int(b)) < 0) {
    put_line(SMCU_MLPERF_ERR_WARMUPS);
    return;
  }
  if (db_size != (uint32_t)(MODEL_INPUT_BYTES) || db_pos != db_size) {
    put(SMCU_MLPERF_ERR_INPUT);
    put_u64(db_pos);
    put(" bytes, expected ");
    put_u64((uint32_t)(MODEL_INPUT_BYTES));
    put_line("]");
    return;
  }
  put(SMCU_MLPERF_MSG_WARMUP_START);
  put_u64((uint32_t)w);
  put("\r\n");
  while (w-- > 0) infer_once();
  put_line(SMCU_MLPERF_MSG_WARMUP_DONE);
  put(SMCU_MLPERF_MSG_INFER_START);
  put_u64((uint32_t)n);
  put("\r\n");
  timestamp();
  while (n-- > 0) infer_once();
  timestamp();
  put_line(SMCU_MLPERF_MSG_INFER_DONE);
  results_valid = 1;
  print_results();
}

static void cmd_help(void) {
  put_line(SMCU_MLPERF_FW_VERSION);
  put_line("");
  put_line("help         : Print this information");
  put_line("name         : Print the name of the device");
  put_line("timestamp    : Generate a timestamp");
  put_line("db SUBCMD    : Manipulate a generic byte buffer");
  put_line("  load N     : Allocate N bytes and set load counter");
  put_line("  db HH[HH]* : Load 8-bit hex byte(s) until N bytes");
  put_line("  print      : Print the buffer as hex");
  put_line("infer N [W=10]: Load input, execute N inferences after W warmup loops");
  put_line("results      : Return the result fp32 vector");
  put("board        : ");
  put(board_name);
  put(", model " MODEL_NAME " " MODEL_HASH ", m-lap-us = board_ticks / " STR(SMCU_TICKS_PER_US) " (");
  put(board_tick_unit);
  put_line(SMCU_MLPERF_EMULATED ? "): emulated time under QEMU -icount, not a real-board latency" : ")");
}

static void dispatch(char *line) {
  char *rest = line;
  const char *cmd = token(&rest);
  if (!cmd) cmd = "";
  if (same(cmd, "name")) {
    put(SMCU_MLPERF_MSG_NAME SMCU_MLPERF_DEVICE_NAME "-[" SMCU_MLPERF_VENDOR " " MODEL_HASH "]\r\n");
  } else if (same(cmd, "timestamp")) {
    timestamp();
  } else if (same(cmd, "profile")) {
    put_line(SMCU_MLPERF_MSG_PROFILE SMCU_MLPERF_FW_VERSION "]");
    put_line(SMCU_MLPERF_MSG_MODEL SMCU_MLPERF_MODEL "]");
  } else if (same(cmd, "help")) {
    cmd_help();
  } else if (same(cmd, "db")) {
    cmd_db(&rest);
  } else if (same(cmd, "infer")) {
    cmd_infer(&rest);
  } else if (same(cmd, "results")) {
    if (results_valid) {
      print_results();
    } else {
      put_line(SMCU_MLPERF_ERR_NO_RESULTS);
    }
  } else {
    put(SMCU_MLPERF_ERR_UNKNOWN);
    put(cmd);
    put_line("]");
  }
}

/* Board fault handlers report here: one e- line (there is no frame protocol in this mode). */
void smcu_report_fault(uint32_t kind, uint32_t pc, uint32_t lr, uint32_t cfsr, uint32_t hfsr,
                       uint32_t mmfar, uint32_t bfar) {
  (void)hfsr;
  (void)mmfar;
  (void)bfar;
  put("\r\n" SMCU_MLPERF_ERR_FAULT "kind=0x");
  put_hex(kind, 8);
  put(" pc=0x");
  put_hex(pc, 8);
  put(" lr=0x");
  put_hex(lr, 8);
  put(" cfsr=0x");
  put_hex(cfsr, 8);
  put_line("]");
}

int main(void) {
  static char line[SMCU_MLPERF_CMD_SIZE + 1u];
  uint32_t len = 0, too_long = 0;

  board_stack_paint();
  board_init();
  put_line(SMCU_MLPERF_MSG_TIMESTAMP_MODE);
  /* the clock starts after some output: a timer read at once after board_init() may precede the timer's
   * first reload (QEMU mps2: SysTick still 0, read as a full period) and start the count 2^32 off */
  clock_last = board_ticks();
  timestamp();
  put_line(SMCU_MLPERF_MSG_INIT_DONE);
  put_line(SMCU_MLPERF_MSG_READY);

  for (;;) {
    const int c = board_uart_getc();
    if (c < 0) return 0; /* host: the pipe was closed */
    if (c == SMCU_MLPERF_TERMINATOR) {
      line[len] = 0;
      if (too_long) {
        put_line(SMCU_MLPERF_ERR_TOO_LONG);
      } else {
        dispatch(line);
      }
      put_line(SMCU_MLPERF_MSG_READY);
      len = too_long = 0;
    } else if (len < SMCU_MLPERF_CMD_SIZE) {
      line[len++] = (char)c;
    } else {
      too_long = 1;
    }
  }
}
