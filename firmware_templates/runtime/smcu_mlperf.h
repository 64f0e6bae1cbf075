/* MLPerf Tiny benchmark mode (`sparsemcu build --protocol mlperf`): the UART command set of the
 * MLPerf Tiny / EEMBC benchmark API as its runners send it. The specification we follow, with
 * references, is board_test/mlperf.py (module docstring); tests/test_mlperf.py checks that every
 * constant here has the same value there. Only performance mode (DUT wired to the host) is built:
 * the energy mode's GPIO timestamp and 9600 baud are not implemented. */
#ifndef SMCU_MLPERF_H
#define SMCU_MLPERF_H

/* Framing: a command is ASCII up to the terminator; tokens are separated by spaces. */
#define SMCU_MLPERF_CMD_SIZE 80u
#define SMCU_MLPERF_TERMINATOR '%'
#define SMCU_MLPERF_BAUD 115200u /* performance mode, DUT direct */

/* Identity: `name` -> m-name-dut-[VENDOR MODEL_HASH]; `profile` -> m-profile-[FW] and m-model-[ID]. */
#define SMCU_MLPERF_DEVICE_NAME "dut"
#define SMCU_MLPERF_VENDOR "sparsemcu"
#define SMCU_MLPERF_FW_VERSION "ULPMark for tinyML Firmware V0.0.1"

/* Defaults of `infer` without arguments. */
#define SMCU_MLPERF_DEFAULT_ITERATIONS 1u
#define SMCU_MLPERF_DEFAULT_WARMUPS 10u

/* Decimal places of each dequantised output value in m-results-[...]. */
#define SMCU_MLPERF_RESULT_DECIMALS 6u

/* Response lines (each ends with \r\n). */
#define SMCU_MLPERF_MSG_READY "m-ready"
#define SMCU_MLPERF_MSG_INIT_DONE "m-init-done"
#define SMCU_MLPERF_MSG_TIMESTAMP_MODE "m-timestamp-mode-performance"
#define SMCU_MLPERF_MSG_LAP_US "m-lap-us-"
#define SMCU_MLPERF_MSG_NAME "m-name-"
#define SMCU_MLPERF_MSG_PROFILE "m-profile-["
#define SMCU_MLPERF_MSG_MODEL "m-model-["
#define SMCU_MLPERF_MSG_EXPECTING "m-[Expecting "
#define SMCU_MLPERF_MSG_LOAD_DONE "m-load-done"
#define SMCU_MLPERF_MSG_BUFFER "m-buffer-"
#define SMCU_MLPERF_MSG_WARMUP_START "m-warmup-start-"
#define SMCU_MLPERF_MSG_WARMUP_DONE "m-warmup-done"
#define SMCU_MLPERF_MSG_INFER_START "m-infer-start-"
#define SMCU_MLPERF_MSG_INFER_DONE "m-infer-done"
#define SMCU_MLPERF_MSG_RESULTS "m-results-["

/* Error lines: e-[...]. The first seven are the reference implementation's texts. */
#define SMCU_MLPERF_ERR_UNKNOWN "e-[Unknown command: "
#define SMCU_MLPERF_ERR_DB_SUBCMD "e-[Command 'db' requires a subcommand]"
#define SMCU_MLPERF_ERR_DB_LOAD_N "e-[Command 'db load' requires the # of bytes]"
#define SMCU_MLPERF_ERR_DB_LOAD_ZERO "e-[Command 'db load' must be >0 bytes]"
#define SMCU_MLPERF_ERR_HEX_ODD "e-[Insufficent number of hex digits]"
#define SMCU_MLPERF_ERR_HEX_DIGIT "e-[Invalid hex digit '"
#define SMCU_MLPERF_ERR_ITERATIONS "e-[Inference iterations must be >0]"
#define SMCU_MLPERF_ERR_WARMUPS "e-[Inference warmup must be >=0]"
/* ... and ours, where the reference would overflow a buffer or run on a stale input. */
#define SMCU_MLPERF_ERR_TOO_BIG "e-[Supplied buffer size exceeds maximum of "
#define SMCU_MLPERF_ERR_DB_FULL "e-[No room: send 'db load N' first]"
#define SMCU_MLPERF_ERR_INPUT "e-[Input db has "
#define SMCU_MLPERF_ERR_NO_RESULTS "e-[No results: run infer first]"
#define SMCU_MLPERF_ERR_TOO_LONG "e-[Command longer than 80 characters]"
#define SMCU_MLPERF_ERR_FAULT "e-[FAULT "

#endif /* SMCU_MLPERF_H */
