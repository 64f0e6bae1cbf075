/*
 * sparsemcu firmware main: boot, paint the stack, then serve the binary serial protocol
 * specified in board_test/protocol.py (module docstring) over the smcu_board.h interface.
 * Board independent, C99, no dynamic memory, no printf, no libc (no memcpy/strlen: frames are
 * streamed to the UART piece by piece, the CRC computed on the way, so no transmit buffer).
 * Written for code size: one byte loop, one u32 writer, one frame writer shared by every reply.
 */
#include <stdint.h>

#include "model.h"
#include "smcu_board.h"
#include "smcu_model_checks.h"
#include "smcu_protocol.h"

/* A frame's u16 length field must be able to carry the input and the output. */
#if (MODEL_INPUT_BYTES) > 65535 || (MODEL_OUTPUT_BYTES) > 65535
#error "model.h: the input and the output must each fit one protocol frame (at most 65535 bytes)"
#endif

/* Helpers stay out of line (called from many places; -O2 would copy them into each). */
#if defined(__GNUC__)
#define SMCU_OUTLINE __attribute__((noinline))
#else
#define SMCU_OUTLINE
#endif

/* ---------------------------------------------------------------- CRC-32 (zlib) */
SMCU_OUTLINE uint32_t smcu_crc32_update(uint32_t crc, const uint8_t *data, uint32_t len) {
  /* crc is the running register (start with 0xFFFFFFFF, final xor 0xFFFFFFFF); bitwise, no table */
  while (len--) {
    uint32_t k;
    crc ^= *data++;
    for (k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return crc;
}

/* ---------------------------------------------------------------- transmit */
static uint32_t tx_crc;

/* Payload bytes (and the header's cmd/len): to the UART and into the running CRC. */
SMCU_OUTLINE static void tx(const void *data, uint32_t len) {
  tx_crc = smcu_crc32_update(tx_crc, (const uint8_t *)data, len);
  board_uart_write((const uint8_t *)data, len);
}

static void tx_u32(uint32_t v) {
  uint8_t b[4];
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
  b[2] = (uint8_t)(v >> 16);
  b[3] = (uint8_t)(v >> 24);
  tx(b, 4);
}

SMCU_OUTLINE static void tx_begin(uint32_t cmd, uint32_t len) {
  static const uint8_t sync[2] = {SMCU_SYNC0, SMCU_SYNC1};
  uint8_t h[3];
  h[0] = (uint8_t)cmd;
  h[1] = (uint8_t)len;
  h[2] = (uint8_t)(len >> 8);
  board_uart_write(sync, 2);
  tx_crc = 0xFFFFFFFFu;
  tx(h, 3);
}

SMCU_OUTLINE static void tx_end(void) { tx_u32(tx_crc ^ 0xFFFFFFFFu); }

void smcu_send_frame(uint8_t cmd, const uint8_t *payload, uint32_t len) {
  tx_begin(cmd, len);
  tx(payload, len);
  tx_end();
}

/* A frame whose payload is n u32 words, then `extra` (0 or 1) zero byte: RUN's status. */
SMCU_OUTLINE static void send_words(uint32_t cmd, const uint32_t *w, uint32_t n, uint32_t extra) {
  static const uint8_t zero = 0;
  uint32_t i;
  tx_begin(cmd, 4u * n + extra);
  for (i = 0; i < n; i++) tx_u32(w[i]);
  tx(&zero, extra);
  tx_end();
}

SMCU_OUTLINE static void send_error(uint32_t code, uint32_t cmd, uint32_t detail) {
  uint8_t p[2];
  p[0] = (uint8_t)code;
  p[1] = (uint8_t)cmd;
  tx_begin(SMCU_ERROR, 6);
  tx(p, 2);
  tx_u32(detail);
  tx_end();
}

/* Length of a NUL-terminated string, at most 255 (a protocol string's u8 length). */
SMCU_OUTLINE static uint32_t str_len(const char *s) {
  uint32_t n = 0;
  while (n < 255u && s[n]) n++;
  return n;
}

/* Length of a string literal, at most 255, at compile time. */
#define SMCU_LIT_LEN(s) (sizeof(s) - 1u > 255u ? 255u : (uint32_t)(sizeof(s) - 1u))

/* u8 length + bytes */
SMCU_OUTLINE static void tx_str(const char *s, uint32_t n) {
  uint8_t b = (uint8_t)n;
  tx(&b, 1);
  tx(s, n);
}

/* Fault reporting, shared by every board's fault handler (callable from an exception). */
void smcu_report_fault(uint32_t kind, uint32_t pc, uint32_t lr, uint32_t cfsr, uint32_t hfsr,
                       uint32_t mmfar, uint32_t bfar) {
  /* the text line: "\r\nFAULT pc=0x%08x lr=0x%08x cfsr=0x%08x\r\n", bytes 1..3 = w[1..3] in hex */
  static const char line[] = "\r\nFAULT pc=0x\1 lr=0x\2 cfsr=0x\3\r\n";
  const uint32_t w[7] = {kind, pc, lr, cfsr, hfsr, mmfar, bfar};
  const char *s;
  send_words(SMCU_FAULT, w, 7, 0);
  for (s = line; *s; s++) {
    uint8_t h[8];
    uint32_t n = 1;
    h[0] = (uint8_t)*s;
    if (*s < 4) {
      uint32_t v = w[(uint8_t)*s];
      for (n = 0; n < 8; n++, v <<= 4) {
        const uint32_t d = v >> 28;
        h[n] = (uint8_t)(d + (d < 10u ? '0' : 'a' - 10));
      }
    }
    board_uart_write(h, n);
  }
}

/* ---------------------------------------------------------------- calibration loop */
static uint32_t calib_loop(uint32_t n, uint32_t *instructions) {
  uint32_t t0, t1;
#if defined(__arm__) && defined(__thumb__)
  /* two instructions per iteration on every Cortex-M: SUBS (imm3, low register: valid Thumb-1 on
   * Armv6-M as on Armv7-M) and BNE */
  uint32_t r = n ? n : 1u;
  t0 = board_ticks();
  /* GCC passes Thumb-1 inline assembly in divided syntax: ask for unified (what it uses elsewhere) */
  __asm__ volatile(".syntax unified\n1: subs %0, %0, #1\n\tbne 1b\n" : "+l"(r) : : "cc");
  t1 = board_ticks();
  *instructions = 2u * (n ? n : 1u);
#else
  volatile uint32_t r = n;
  t0 = board_ticks();
  while (r) r--;
  t1 = board_ticks();
  *instructions = 0;
#endif
  return t1 - t0;
}

/* ---------------------------------------------------------------- receive and serve */
static uint8_t rx_buf[SMCU_RX_MAX];

/* The runtime's state in one place (one base address). */
static struct {
  uint32_t input_loaded;
  uint32_t output_valid;
  uint32_t runs;
  uint32_t last_ticks;
} st;

#ifdef SMCU_PROFILE
extern uint32_t smcu_profile_ticks[MODEL_CALLS];
#define SMCU_PROFILED_CALLS (MODEL_CALLS)
#else
#define SMCU_PROFILED_CALLS 0
#endif

/* INFO's u32 fields in order; 0 and 4 (clock, stack size) are filled in at run time. */
static const union {
  uint32_t u;
  float f;
} info_words[9] = {{0},
                   {(uint32_t)(MODEL_ARENA_BYTES)},
                   {(uint32_t)(MODEL_INPUT_BYTES)},
                   {(uint32_t)(MODEL_OUTPUT_BYTES)},
                   {0},
                   {.f = (float)(MODEL_INPUT_SCALE)},
                   {(uint32_t)(int32_t)(MODEL_INPUT_ZERO_POINT)},
                   {.f = (float)(MODEL_OUTPUT_SCALE)},
                   {(uint32_t)(int32_t)(MODEL_OUTPUT_ZERO_POINT)}};

/* INFO (names and all) and BOOT (version, board name, hash). */
SMCU_OUTLINE static void send_info(uint32_t cmd) {
  static const uint8_t version = SMCU_PROTOCOL_VERSION;
  const uint32_t nb = str_len(board_name), nh = SMCU_LIT_LEN(MODEL_HASH);
  const uint32_t info = cmd != SMCU_BOOT;
  uint32_t nt = 0, nn = 0, len = 3u + nb + nh, i;
  if (info) {
    /* the name's length byte is at 39 + nb + nt (version, 9 words, 2 strings); the model name may
     * be long: cut it so that the frame fits the 128-byte reply buffer of protocol v1 */
    nt = str_len(board_tick_unit);
    nn = SMCU_LIT_LEN(MODEL_NAME);
    if (nn > 128u - (39u + nb + nt) - 20u) nn = 128u - (39u + nb + nt) - 20u;
    len += 36u + 1u + nt + 1u + nn;
  }
  tx_begin(cmd, len);
  tx(&version, 1);
  if (info) {
    for (i = 0; i < 9; i++) {
      uint32_t v = info_words[i].u;
      if (i == 0) v = board_clock_hz;
      if (i == 4) v = board_stack_size();
      tx_u32(v);
    }
  }
  tx_str(board_name, nb);
  if (info) {
    tx_str(board_tick_unit, nt);
    tx_str(MODEL_NAME, nn);
  }
  tx_str(MODEL_HASH, nh);
  tx_end();
}

static void handle(uint32_t cmd, const uint8_t *payload, uint32_t len) {
  uint32_t w[4];
  uint32_t n = 0, extra = 0, err = 0, detail = 0;
  switch (cmd) {
    case SMCU_PING:
      smcu_send_frame((uint8_t)(cmd | SMCU_RESPONSE), payload, len);
      return;
    case SMCU_INFO:
      send_info(cmd | SMCU_RESPONSE);
      return;
    case SMCU_LOAD:
      if (len != (uint32_t)(MODEL_INPUT_BYTES)) {
        err = SMCU_ERR_BAD_LENGTH;
        detail = (uint32_t)(MODEL_INPUT_BYTES);
      } else {
        st.input_loaded = 1;
      }
      break;
    case SMCU_RUN: {
      uint32_t t0;
      if (!st.input_loaded) {
        err = SMCU_ERR_NO_INPUT;
        break;
      }
      t0 = board_ticks();
      model_invoke();
      st.last_ticks = w[0] = board_ticks() - t0;
      st.runs++;
      st.input_loaded = 0;
      st.output_valid = 1;
      n = 1;
      extra = 1; /* status 0 = ok */
      break;
    }
    case SMCU_READ:
      if (!st.output_valid) {
        err = SMCU_ERR_NO_OUTPUT;
        break;
      }
      smcu_send_frame((uint8_t)(cmd | SMCU_RESPONSE), (const uint8_t *)model_output(),
                      (uint32_t)(MODEL_OUTPUT_BYTES));
      return;
    case SMCU_STATS:
      w[0] = board_stack_used();
      w[1] = board_stack_size();
      w[2] = st.runs;
      w[3] = st.last_ticks;
      n = 4;
      break;
    case SMCU_CALIB:
      if (len != 4) {
        err = SMCU_ERR_BAD_LENGTH;
        detail = 4;
        break;
      }
      w[0] = calib_loop((uint32_t)payload[0] | ((uint32_t)payload[1] << 8) | ((uint32_t)payload[2] << 16) |
                            ((uint32_t)payload[3] << 24),
                        &w[1]);
      n = 2;
      break;
    case SMCU_PROFILE_CMD: {
      /* u16 count, then count u32 ticks per kernel call of the last RUN (0 calls when the firmware
       * was not built with SMCU_PROFILE) */
      static const uint8_t count[2] = {(uint8_t)(SMCU_PROFILED_CALLS), (uint8_t)((SMCU_PROFILED_CALLS) >> 8)};
      tx_begin(cmd | SMCU_RESPONSE, 2u + 4u * (uint32_t)(SMCU_PROFILED_CALLS));
      tx(count, 2);
#ifdef SMCU_PROFILE
      for (n = 0; n < (uint32_t)(SMCU_PROFILED_CALLS); n++) tx_u32(smcu_profile_ticks[n]);
#endif
      tx_end();
      return;
    }
    default:
      err = SMCU_ERR_UNKNOWN_CMD;
      break;
  }
  if (err) {
    send_error(err, cmd, detail);
  } else {
    send_words(cmd | SMCU_RESPONSE, w, n, extra);
  }
}

int main(void) {
  /* pos 0: hunting for SYNC0; 1: SYNC0 seen; 2 + i: byte i after the sync pair (cmd, len, payload, crc) */
  uint32_t pos = 0, len = 0, rx_crc = 0;
  uint8_t hdr[3];
  uint8_t *dst = rx_buf;

  board_stack_paint();
  board_init();
  send_info(SMCU_BOOT);

  for (;;) {
    const int c = board_uart_getc();
    uint8_t b;
    uint32_t i;
    if (c < 0) return 0; /* host: the pipe was closed */
    b = (uint8_t)c;
    if (pos < 2) {
      pos = (pos == 1 && b == SMCU_SYNC1) ? 2u : (b == SMCU_SYNC0);
      continue;
    }
    i = pos++ - 2;
    if (i < 3) {
      hdr[i] = b;
      if (i == 2) {
        len = hdr[1] | ((uint32_t)b << 8);
        rx_crc = 0;
        if (hdr[0] == SMCU_LOAD && len == (uint32_t)(MODEL_INPUT_BYTES)) {
          dst = (uint8_t *)model_input();
          st.input_loaded = 0; /* the buffer is being overwritten ... */
          st.output_valid = 0; /* ... and may share arena bytes with the output */
        } else if (len <= SMCU_RX_MAX) {
          dst = rx_buf;
        } else {
          send_error(SMCU_ERR_BAD_LENGTH, hdr[0],
                     hdr[0] == SMCU_LOAD ? (uint32_t)(MODEL_INPUT_BYTES) : (uint32_t)SMCU_RX_MAX);
          pos = 0;
        }
      }
    } else if ((i -= 3) < len) {
      dst[i] = b;
    } else {
      i -= len;
      rx_crc |= (uint32_t)b << (8u * i);
      if (i == 3) {
        pos = 0;
        if ((smcu_crc32_update(smcu_crc32_update(0xFFFFFFFFu, hdr, 3), dst, len) ^ 0xFFFFFFFFu) != rx_crc) {
          send_error(SMCU_ERR_BAD_CRC, hdr[0], rx_crc);
        } else {
          handle(hdr[0], dst, len);
        }
      }
    }
  }
}
