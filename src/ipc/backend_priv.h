/* SPDX-License-Identifier: MIT */
/*
 * Internal: what a server's backend is. A backend reads and writes whole
 * logical blocks from and into memory registered in its space; the server
 * checks ranges (blocks, the device's end) before it calls.
 */
#ifndef DMK_IPC_BACKEND_PRIV_H
#define DMK_IPC_BACKEND_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dmk_space;
struct dmk_ipc_backend;

struct dmki_ipc_backend_ops {
	const char *name;
	/* @len bytes from block @lba into @va (registered, DMK_PROT_WRITE) */
	int (*read)(struct dmk_ipc_backend *be, uint64_t lba, void *va, size_t len);
	/* @len bytes from @va (registered, DMK_PROT_READ) to block @lba */
	int (*write)(struct dmk_ipc_backend *be, uint64_t lba, const void *va, size_t len);
	int (*destroy)(struct dmk_ipc_backend *be);
	/* The lease route: @len bytes between block @lba and device address
	 * @dev, which the server checked lies in a client's lease; NULL when the
	 * backend cannot address devices that way. */
	int (*io_dev)(struct dmk_ipc_backend *be, bool write, uint64_t lba, uint64_t dev,
		      uint64_t len);
};

struct dmk_ipc_backend {
	const struct dmki_ipc_backend_ops *ops;
	struct dmk_space *space;
	uint32_t lba_size;
	uint64_t nlba;
};

#endif
