/* SPDX-License-Identifier: MIT */
/*
 * Internal: the sim backend's asynchronous path, which lets the server keep
 * requests in flight on the simulated device (and tests hold them there
 * with dmk_ipc_backend_sim_hold()).
 */
#ifndef DMK_IPC_SIM_PRIV_H
#define DMK_IPC_SIM_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dmk_ipc_backend;

/* True for a backend of dmk_ipc_backend_sim_create(). */
bool dmki_ipc_is_sim(struct dmk_ipc_backend *be);

/* Start a transfer (as the backend's read when @to_mem, its write
 * otherwise). 0 or a negative errno when the device finished it at once;
 * -EINPROGRESS when the device holds it: dmki_ipc_sim_reap() gives
 * @cookie and its status once released. */
int dmki_ipc_sim_start(struct dmk_ipc_backend *be, int to_mem, uint64_t lba, void *va, size_t len,
		       void *cookie);

/* Up to @max finished held transfers: their cookies and statuses. */
size_t dmki_ipc_sim_reap(struct dmk_ipc_backend *be, void **cookies, int *rcs, size_t max);

/* An eventfd (non-blocking) signalled when held transfers finish. */
int dmki_ipc_sim_efd(struct dmk_ipc_backend *be);

#endif
