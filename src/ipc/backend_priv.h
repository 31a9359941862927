/* SPDX-License-Identifier: MIT */
/*
 * Internal: what a server's backend is. A backend reads and writes whole
 * logical blocks from and into memory registered in its space; the server
 * checks ranges (blocks, the device's end) before it calls.
 *
 * Two paths. The synchronous one (read, write, io_dev) returns when the
 * device is done: the socket's requests and the copy route. The
 * asynchronous one (start, reap, poll_fd, quiesce) keeps transfers on the
 * device: the rings' requests on the memfd, pool and lease routes. Every
 * backend has both; the server treats them all the same.
 */
#ifndef DMK_IPC_BACKEND_PRIV_H
#define DMK_IPC_BACKEND_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dmk_space;
struct dmk_ipc_backend;

/*
 * One asynchronous transfer. The server fills the first fields and owns
 * the memory (preallocated, no allocation per request); from start() until
 * reap() gives it back the backend owns the rest, and the bytes.
 */
struct dmki_ipc_breq {
	bool to_mem;		/* a read: blocks into memory */
	uint64_t lba;
	void *va;		/* memfd and pool routes: registered memory; or NULL */
	uint64_t dev;		/* the lease route (@va NULL): a device address checked */
	uint64_t len;		/* whole blocks */
	/* the backend's while it holds the transfer */
	struct dmki_ipc_breq *next;	/* its lists (backlog, held, done) */
	uint64_t off;			/* bytes handed to the device */
	unsigned pending;		/* device commands not completed */
	bool queued;			/* on the backlog */
	int rc;				/* the first error */
};

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
	/* Start @r: 0 or a negative errno when it finished at once (the
	 * backend is done with @r); -EINPROGRESS when the device holds it,
	 * until reap() returns it with its status in @r->rc. */
	int (*start)(struct dmk_ipc_backend *be, struct dmki_ipc_breq *r);
	/* Up to @max transfers that finished, oldest first; never waits. */
	size_t (*reap)(struct dmk_ipc_backend *be, struct dmki_ipc_breq **out, size_t max);
	/* A descriptor that becomes readable when reap() may have something
	 * (reap() takes the readiness off); -1: look again while transfers
	 * are in flight, the device does not say. */
	int (*poll_fd)(struct dmk_ipc_backend *be);
	/* Before the server goes: wait for every transfer on the device
	 * (or give up on it after the device's timeout) and cancel those not
	 * started; afterwards reap() returns every one of them. */
	void (*quiesce)(struct dmk_ipc_backend *be);
};

struct dmk_ipc_backend {
	const struct dmki_ipc_backend_ops *ops;
	struct dmk_space *space;
	uint32_t lba_size;
	uint64_t nlba;
};

#endif
