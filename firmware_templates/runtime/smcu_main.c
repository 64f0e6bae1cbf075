/*
 * sparsemcu firmware main: boot, paint the stack, then serve the binary serial protocol
 * specified in board_test/protocol.py (module docstring) over the smcu_board.h interface.
 * Board independent, C99, no dynamic memory, no printf.
 */
#include <stdint.h>
#include <string.h>

#include "model.h"
#include "smcu_board.h"
#include "smcu_protocol.h"

/* ---------------------------------------------------------------- CRC-32 (zlib) */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t smcu_crc32_update(uint32_t crc, const uint8_t *data, uint32_t len) {
  /* crc is the running register (start with 0xFFFFFFFF, final xor 0xFFFFFFFF) */
  uint32_t i;
  for (i = 0; i < len; i++) {
    crc ^= data[i];
    crc = (crc >> 4) ^ crc_nibble[crc & 0xFu];
    crc = (crc >> 4) ^ crc_nibble[crc & 0xFu];
  }
  return crc;
}

/* ---------------------------------------------------------------- transmit */
static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

void smcu_send_frame(uint8_t cmd, const uint8_t *payload, uint32_t len) {
  uint8_t head[5];
  uint8_t tail[4];
  uint32_t crc;
  head[0] = SMCU_SYNC0;
  head[1] = SMCU_SYNC1;
  head[2] = cmd;
  head[3] = (uint8_t)len;
  head[4] = (uint8_t)(len >> 8);
  crc = smcu_crc32_update(0xFFFFFFFFu, &head[2], 3);
  crc = smcu_crc32_update(crc, payload, len) ^ 0xFFFFFFFFu;
  put_u32(tail, crc);
  board_uart_write(head, 5);
  if (len) board_uart_write(payload, len);
  board_uart_write(tail, 4);
}

static void send_error(uint8_t code, uint8_t cmd, uint32_t detail) {
  uint8_t p[6];
  p[0] = code;
  p[1] = cmd;
  put_u32(&p[2], detail);
  smcu_send_frame(SMCU_ERROR, p, 6);
}

static uint32_t put_str(uint8_t *p, const char *s) {
  uint32_t n = (uint32_t)strlen(s);
  if (n > 255u) n = 255u;
  p[0] = (uint8_t)n;
  memcpy(&p[1], s, n);
  return n + 1u;
}

static uint32_t put_f32(uint8_t *p, float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  put_u32(p, u);
  return 4;
}

/* Fault reporting, shared by every board's fault handler (callable from an exception). */
static void put_hex(uint8_t *p, uint32_t v) {
  static const char hex[] = "0123456789abcdef";
  int i;
  for (i = 0; i < 8; i++) p[i] = (uint8_t)hex[(v >> (28 - 4 * i)) & 0xFu];
}

void smcu_report_fault(uint32_t kind, uint32_t pc, uint32_t lr, uint32_t cfsr, uint32_t hfsr,
                       uint32_t mmfar, uint32_t bfar) {
  uint8_t p[28];
  static const char l0[] = "\r\nFAULT pc=0x";
  static const char l1[] = " lr=0x";
  static const char l2[] = " cfsr=0x";
  static const char l3[] = "\r\n";
  uint8_t h[8];
  put_u32(&p[0], kind);
  put_u32(&p[4], pc);
  put_u32(&p[8], lr);
  put_u32(&p[12], cfsr);
  put_u32(&p[16], hfsr);
  put_u32(&p[20], mmfar);
  put_u32(&p[24], bfar);
  smcu_send_frame(SMCU_FAULT, p, sizeof p);
  board_uart_write((const uint8_t *)l0, sizeof l0 - 1);
  put_hex(h, pc);
  board_uart_write(h, 8);
  board_uart_write((const uint8_t *)l1, sizeof l1 - 1);
  put_hex(h, lr);
  board_uart_write(h, 8);
  board_uart_write((const uint8_t *)l2, sizeof l2 - 1);
  put_hex(h, cfsr);
  board_uart_write(h, 8);
  board_uart_write((const uint8_t *)l3, sizeof l3 - 1);
}

/* ---------------------------------------------------------------- calibration loop */
static uint32_t calib_loop(uint32_t n, uint32_t *instructions) {
  uint32_t t0, t1;
#if defined(__arm__) && defined(__thumb2__)
  uint32_t r = n ? n : 1u;
  t0 = board_ticks();
  __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b\n" : "+r"(r) : : "cc");
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
static uint8_t tx_buf[128];
static int input_loaded;
static int output_valid;
static uint32_t runs;
static uint32_t last_ticks;

#ifdef SMCU_PROFILE
extern uint32_t smcu_profile_ticks[MODEL_CALLS];
#define SMCU_PROFILED_CALLS (MODEL_CALLS)
#else
#define SMCU_PROFILED_CALLS 0
#endif

/* PROFILE: u16 count, then count u32 ticks per kernel call of the last RUN (0 calls when the
 * firmware was not built with SMCU_PROFILE). */
static void send_profile(void) {
  static uint8_t buf[2 + 4 * (SMCU_PROFILED_CALLS + 1)];
  buf[0] = (uint8_t)(SMCU_PROFILED_CALLS);
  buf[1] = (uint8_t)((SMCU_PROFILED_CALLS) >> 8);
#ifdef SMCU_PROFILE
  {
    uint32_t i;
    for (i = 0; i < (uint32_t)(SMCU_PROFILED_CALLS); i++) put_u32(&buf[2 + 4 * i], smcu_profile_ticks[i]);
  }
#endif
  smcu_send_frame(SMCU_PROFILE_CMD | SMCU_RESPONSE, buf, 2u + 4u * (uint32_t)(SMCU_PROFILED_CALLS));
}

static const float input_scale = (float)(MODEL_INPUT_SCALE);
static const float output_scale = (float)(MODEL_OUTPUT_SCALE);

static void send_info(void) {
  uint8_t *p = tx_buf;
  uint32_t n = 0;
  p[n++] = SMCU_PROTOCOL_VERSION;
  put_u32(&p[n], board_clock_hz);
  n += 4;
  put_u32(&p[n], (uint32_t)(MODEL_ARENA_BYTES));
  n += 4;
  put_u32(&p[n], (uint32_t)(MODEL_INPUT_BYTES));
  n += 4;
  put_u32(&p[n], (uint32_t)(MODEL_OUTPUT_BYTES));
  n += 4;
  put_u32(&p[n], board_stack_size());
  n += 4;
  n += put_f32(&p[n], input_scale);
  put_u32(&p[n], (uint32_t)(int32_t)(MODEL_INPUT_ZERO_POINT));
  n += 4;
  n += put_f32(&p[n], output_scale);
  put_u32(&p[n], (uint32_t)(int32_t)(MODEL_OUTPUT_ZERO_POINT));
  n += 4;
  n += put_str(&p[n], board_name);
  n += put_str(&p[n], board_tick_unit);
  {
    /* the model name may be long: keep the INFO frame inside tx_buf */
    const char *name = MODEL_NAME;
    uint32_t len = (uint32_t)strlen(name);
    if (len > sizeof tx_buf - n - 20u) len = sizeof tx_buf - n - 20u;
    p[n++] = (uint8_t)len;
    memcpy(&p[n], name, len);
    n += len;
  }
  n += put_str(&p[n], MODEL_HASH);
  smcu_send_frame(SMCU_INFO | SMCU_RESPONSE, p, n);
}

static void send_boot(void) {
  uint32_t n = 0;
  tx_buf[n++] = SMCU_PROTOCOL_VERSION;
  n += put_str(&tx_buf[n], board_name);
  n += put_str(&tx_buf[n], MODEL_HASH);
  smcu_send_frame(SMCU_BOOT, tx_buf, n);
}

static void handle(uint8_t cmd, const uint8_t *payload, uint32_t len) {
  uint8_t p[16];
  switch (cmd) {
    case SMCU_PING:
      smcu_send_frame(SMCU_PING | SMCU_RESPONSE, payload, len);
      break;
    case SMCU_INFO:
      send_info();
      break;
    case SMCU_LOAD:
      if (len != (uint32_t)(MODEL_INPUT_BYTES)) {
        send_error(SMCU_ERR_BAD_LENGTH, cmd, (uint32_t)(MODEL_INPUT_BYTES));
        break;
      }
      input_loaded = 1;
      smcu_send_frame(SMCU_LOAD | SMCU_RESPONSE, p, 0);
      break;
    case SMCU_RUN: {
      uint32_t t0, t1;
      if (!input_loaded) {
        send_error(SMCU_ERR_NO_INPUT, cmd, 0);
        break;
      }
      t0 = board_ticks();
      model_invoke();
      t1 = board_ticks();
      last_ticks = t1 - t0;
      runs++;
      input_loaded = 0;
      output_valid = 1;
      put_u32(p, last_ticks);
      p[4] = 0;
      smcu_send_frame(SMCU_RUN | SMCU_RESPONSE, p, 5);
      break;
    }
    case SMCU_READ:
      if (!output_valid) {
        send_error(SMCU_ERR_NO_OUTPUT, cmd, 0);
        break;
      }
      smcu_send_frame(SMCU_READ | SMCU_RESPONSE, (const uint8_t *)model_output(),
                      (uint32_t)(MODEL_OUTPUT_BYTES));
      break;
    case SMCU_STATS:
      put_u32(&p[0], board_stack_used());
      put_u32(&p[4], board_stack_size());
      put_u32(&p[8], runs);
      put_u32(&p[12], last_ticks);
      smcu_send_frame(SMCU_STATS | SMCU_RESPONSE, p, 16);
      break;
    case SMCU_CALIB: {
      uint32_t n, ins, ticks;
      if (len != 4) {
        send_error(SMCU_ERR_BAD_LENGTH, cmd, 4);
        break;
      }
      n = (uint32_t)payload[0] | ((uint32_t)payload[1] << 8) | ((uint32_t)payload[2] << 16) |
          ((uint32_t)payload[3] << 24);
      ticks = calib_loop(n, &ins);
      put_u32(&p[0], ticks);
      put_u32(&p[4], ins);
      smcu_send_frame(SMCU_CALIB | SMCU_RESPONSE, p, 8);
      break;
    }
    case SMCU_PROFILE_CMD:
      send_profile();
      break;
    default:
      send_error(SMCU_ERR_UNKNOWN_CMD, cmd, 0);
      break;
  }
}

enum { ST_SYNC0, ST_SYNC1, ST_CMD, ST_LEN0, ST_LEN1, ST_PAYLOAD, ST_CRC };

int main(void) {
  int state = ST_SYNC0;
  uint8_t cmd = 0;
  uint32_t len = 0, got = 0, crc = 0, rx_crc = 0;
  uint8_t *dst = rx_buf;
  uint8_t hdr[3];

  board_stack_paint();
  board_init();
  send_boot();

  for (;;) {
    int c = board_uart_getc();
    uint8_t b;
    if (c < 0) return 0; /* host: the pipe was closed */
    b = (uint8_t)c;
    switch (state) {
      case ST_SYNC0:
        if (b == SMCU_SYNC0) state = ST_SYNC1;
        break;
      case ST_SYNC1:
        state = (b == SMCU_SYNC1) ? ST_CMD : (b == SMCU_SYNC0 ? ST_SYNC1 : ST_SYNC0);
        break;
      case ST_CMD:
        cmd = b;
        hdr[0] = b;
        state = ST_LEN0;
        break;
      case ST_LEN0:
        len = b;
        hdr[1] = b;
        state = ST_LEN1;
        break;
      case ST_LEN1:
        len |= (uint32_t)b << 8;
        hdr[2] = b;
        crc = smcu_crc32_update(0xFFFFFFFFu, hdr, 3);
        got = 0;
        rx_crc = 0;
        if (cmd == SMCU_LOAD && len == (uint32_t)(MODEL_INPUT_BYTES)) {
          dst = (uint8_t *)model_input();
          input_loaded = 0; /* the buffer is being overwritten ... */
          output_valid = 0; /* ... and may share arena bytes with the output */
        } else if (len <= SMCU_RX_MAX) {
          dst = rx_buf;
        } else {
          send_error(SMCU_ERR_BAD_LENGTH, cmd,
                     cmd == SMCU_LOAD ? (uint32_t)(MODEL_INPUT_BYTES) : (uint32_t)SMCU_RX_MAX);
          state = ST_SYNC0;
          break;
        }
        state = len ? ST_PAYLOAD : ST_CRC;
        break;
      case ST_PAYLOAD:
        dst[got++] = b;
        crc = smcu_crc32_update(crc, &b, 1);
        if (got == len) {
          got = 0;
          state = ST_CRC;
        }
        break;
      case ST_CRC:
        rx_crc |= (uint32_t)b << (8u * got);
        got++;
        if (got == 4) {
          state = ST_SYNC0;
          if ((crc ^ 0xFFFFFFFFu) != rx_crc) {
            send_error(SMCU_ERR_BAD_CRC, cmd, rx_crc);
          } else {
            handle(cmd, dst, len);
          }
        }
        break;
      default:
        state = ST_SYNC0;
        break;
    }
  }
}
