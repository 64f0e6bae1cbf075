/* Serial protocol constants; the specification is board_test/protocol.py (module docstring). */
#ifndef SMCU_PROTOCOL_H
#define SMCU_PROTOCOL_H

#include <stdint.h>

#define SMCU_PROTOCOL_VERSION 1u
#define SMCU_SYNC0 0xA5u
#define SMCU_SYNC1 0x5Au
#define SMCU_RX_MAX 64u

#define SMCU_PING 0x01u
#define SMCU_INFO 0x02u
#define SMCU_LOAD 0x03u
#define SMCU_RUN 0x04u
#define SMCU_READ 0x05u
#define SMCU_STATS 0x06u
#define SMCU_CALIB 0x07u
#define SMCU_PROFILE_CMD 0x08u
#define SMCU_RESPONSE 0x80u
#define SMCU_BOOT 0xB0u
#define SMCU_ERROR 0xEEu
#define SMCU_FAULT 0xFFu

#define SMCU_ERR_BAD_CRC 1u
#define SMCU_ERR_BAD_LENGTH 2u
#define SMCU_ERR_UNKNOWN_CMD 3u
#define SMCU_ERR_NO_INPUT 4u
#define SMCU_ERR_NO_OUTPUT 5u

/* zlib CRC-32 register update (init 0xFFFFFFFF, xor 0xFFFFFFFF at the end). */
uint32_t smcu_crc32_update(uint32_t crc, const uint8_t *data, uint32_t len);

/* Send one frame. */
void smcu_send_frame(uint8_t cmd, const uint8_t *payload, uint32_t len);

/* Send a FAULT frame and the "FAULT pc=... lr=... cfsr=..." text line (board fault handlers). */
void smcu_report_fault(uint32_t kind, uint32_t pc, uint32_t lr, uint32_t cfsr, uint32_t hfsr,
                       uint32_t mmfar, uint32_t bfar);

#endif /* SMCU_PROTOCOL_H */
