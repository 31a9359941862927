/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: arbitrary bytes into the IPC decoder
 * (include/dmakit/ipc.h). A message the decoder accepts must encode back
 * to exactly the same bytes, and decoding what the encoder wrote must give
 * the same message; a refusal must be one of the documented errnos with a
 * reason.
 *
 *	CC=clang meson setup build-fuzz -Dfuzz=true
 *	ninja -C build-fuzz tests/fuzz/fuzz_proto
 *	build-fuzz/tests/fuzz/fuzz_proto -max_total_time=20
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dmakit/error.h>
#include <dmakit/ipc.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmk_ipc_msg msg, again;
	uint8_t buf[DMK_IPC_MSG_MAX];
	size_t len = 0;
	int rc;

	/* The bytes in a buffer of their own size, so ASan sees any overread. */
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	rc = dmk_ipc_decode(copy, size, &msg);
	if (rc) {
		if (rc != -EBADMSG && rc != -EPROTO && rc != -EINVAL)
			abort();
		if (dmk_last_error()[0] == '\0')
			abort();
		free(copy);
		return 0;
	}
	if (size > DMK_IPC_MSG_MAX)
		abort();
	if (dmk_ipc_encode(&msg, buf, sizeof(buf), &len) != 0)
		abort();
	if (len != size || memcmp(buf, copy, size) != 0)
		abort();
	if (dmk_ipc_decode(buf, len, &again) != 0)
		abort();
	if (memcmp(&again, &msg, sizeof(msg)) != 0)
		abort();
	free(copy);
	return 0;
}
