/* SPDX-License-Identifier: MIT */
/*
 * The NVMe backend: the server's reads and writes are the NVMe driver's,
 * on memory registered in the controller's space (zero copy).
 *
 * The asynchronous path keeps the rings' requests on the device: each is
 * cut into commands of at most max_transfer bytes (fewer when one command's
 * segments do not cover that much), submitted with dmk_nvme_submit_buf()
 * (or dmki_nvme_submit_dev() on the lease route) and collected with
 * dmk_nvme_reap(); a request ends when its last command has, with the
 * first error of its commands. Requests of every client share one queue:
 * when it is full they wait on a backlog, in order, and go on as commands
 * complete. A few slots stay free for the synchronous path (the socket's
 * requests, the copy route), which shares the queue. The server's thread
 * alone calls the asynchronous path: no lock of its own.
 */
#include <errno.h>
#include <stdlib.h>

#include <dmakit/ipc_server.h>
#include <dmakit/nvme.h>

#include "../core/error_priv.h"
#include "../drivers/nvme/nvme_priv.h"
#include "backend_priv.h"

#define REAP_BATCH 64

struct nvme_backend {
	struct dmk_ipc_backend be;
	struct dmk_nvme *ctrl;
	unsigned queue;
	uint64_t max_cmd;	/* bytes of one command */
	unsigned cap;		/* asynchronous commands on the queue at most */
	unsigned ncmd;		/* asynchronous commands on the queue now */
	struct dmki_ipc_breq *backlog, **backlog_tail;
	struct dmki_ipc_breq *done, **done_tail;
};

static void done_add(struct nvme_backend *n, struct dmki_ipc_breq *r)
{
	r->next = NULL;
	*n->done_tail = r;
	n->done_tail = &r->next;
}

/* Finished: nothing on the device, and nothing more to send. */
static bool finished(const struct dmki_ipc_breq *r)
{
	return r->pending == 0 && (r->rc || r->off == r->len);
}

/* Collect completed commands: wait for @min of them (0: take what there
 * is). Requests whose last command completed go to the done list. */
static unsigned reap_dev(struct nvme_backend *n, unsigned min)
{
	struct dmk_nvme_done d[REAP_BATCH];
	unsigned got, total = 0;

	do {
		got = 0;
		if (dmk_nvme_reap(n->ctrl, n->queue, d, REAP_BATCH, min, &got))
			break;
		for (unsigned i = 0; i < got; i++) {
			struct dmki_ipc_breq *r = (struct dmki_ipc_breq *)(uintptr_t)d[i].tag;

			n->ncmd--;
			r->pending--;
			if (d[i].err && !r->rc)
				r->rc = d[i].err;
			if (finished(r) && !r->queued)
				done_add(n, r);
		}
		total += got;
		min = 0;
	} while (got == REAP_BATCH);
	return total;
}

/* One command of @r from its byte @r->off: 0, -EAGAIN (no slot), or the
 * error that ends the request. A piece whose segments need more than one
 * command's is halved until it fits. */
static int submit_one(struct nvme_backend *n, struct dmki_ipc_breq *r)
{
	uint64_t left = r->len - r->off, bs = n->be.lba_size;
	uint64_t chunk = left < n->max_cmd ? left : n->max_cmd;
	uint64_t lba = r->lba + r->off / bs, tag = (uintptr_t)r;
	int rc;

	for (;;) {
		if (r->va)
			rc = dmk_nvme_submit_buf(n->ctrl, n->queue,
						 r->to_mem ? DMK_NVME_OP_READ : DMK_NVME_OP_WRITE, lba,
						 (uint8_t *)r->va + r->off, (size_t)chunk, 0, tag);
		else
			rc = dmki_nvme_submit_dev(n->ctrl, n->queue, !r->to_mem, lba, r->dev + r->off,
						  chunk, tag);
		if (rc != -E2BIG || chunk <= bs)
			break;
		chunk = chunk / 2 / bs * bs;
	}
	if (rc)
		return rc;
	n->ncmd++;
	r->pending++;
	r->off += chunk;
	return 0;
}

/* Send what the queue takes of @r: 0 when all of it is out or it failed
 * (@r->rc), -EAGAIN when the queue is full. */
static int push(struct nvme_backend *n, struct dmki_ipc_breq *r)
{
	while (r->off < r->len && !r->rc) {
		int rc = n->ncmd >= n->cap ? -EAGAIN : submit_one(n, r);

		if (rc == -EAGAIN) {
			if (n->ncmd == 0)
				/* nothing of ours will free a slot: slots given up on */
				r->rc = rc;
			return r->rc ? 0 : -EAGAIN;
		}
		if (rc)
			r->rc = rc;
	}
	return 0;
}

/* The backlog, oldest first, as far as the queue takes it. */
static void pump(struct nvme_backend *n)
{
	while (n->backlog) {
		struct dmki_ipc_breq *r = n->backlog;

		if (push(n, r) == -EAGAIN)
			return;
		n->backlog = r->next;
		if (!n->backlog)
			n->backlog_tail = &n->backlog;
		r->queued = false;
		if (finished(r))
			done_add(n, r);
	}
}

static int nvme_start(struct dmk_ipc_backend *be, struct dmki_ipc_breq *r)
{
	struct nvme_backend *n = (struct nvme_backend *)be;

	r->next = NULL;
	r->off = 0;
	r->pending = 0;
	r->rc = 0;
	r->queued = false;
	if (!n->backlog && push(n, r) == 0) {
		if (r->pending == 0)
			return r->rc;	/* refused before anything went out */
		return -EINPROGRESS;
	}
	/* After those already waiting: the queue is shared fairly. */
	r->queued = true;
	*n->backlog_tail = r;
	n->backlog_tail = &r->next;
	pump(n);
	return -EINPROGRESS;
}

static size_t nvme_reap(struct dmk_ipc_backend *be, struct dmki_ipc_breq **out, size_t max)
{
	struct nvme_backend *n = (struct nvme_backend *)be;
	size_t k = 0;

	dmki_nvme_queue_ack(n->ctrl, n->queue);
	/* Never waits: a command past the controller's timeout is given up on
	 * (-ETIMEDOUT) by dmk_nvme_reap() when it finds it late. */
	if (n->ncmd)
		reap_dev(n, 0);
	pump(n);
	while (k < max && n->done) {
		out[k++] = n->done;
		n->done = n->done->next;
		if (!n->done)
			n->done_tail = &n->done;
	}
	return k;
}

static int nvme_poll_fd(struct dmk_ipc_backend *be)
{
	struct nvme_backend *n = (struct nvme_backend *)be;

	return dmki_nvme_queue_efd(n->ctrl, n->queue);
}

static void nvme_quiesce(struct dmk_ipc_backend *be)
{
	struct nvme_backend *n = (struct nvme_backend *)be;

	while (n->backlog) {
		struct dmki_ipc_breq *r = n->backlog;

		n->backlog = r->next;
		r->queued = false;
		if (!r->rc)
			r->rc = -ECANCELED;
		if (finished(r))
			done_add(n, r);
	}
	n->backlog_tail = &n->backlog;
	/* Each wait ends by a completion or the device's timeout. */
	while (n->ncmd && reap_dev(n, 1))
		;
}

/* The synchronous path: when the rings' commands hold every slot, wait for
 * some of them (their requests end in the next reap()) and go on. */
static int sync_io(struct nvme_backend *n, bool write, uint64_t lba, void *va, uint64_t dev,
		   uint64_t len)
{
	for (;;) {
		int rc = va ? (write ? dmk_nvme_write_buf(n->ctrl, n->queue, lba, va, (size_t)len, 0)
				     : dmk_nvme_read_buf(n->ctrl, n->queue, lba, va, (size_t)len, 0))
			    : dmki_nvme_io_dev(n->ctrl, n->queue, write, lba, dev, len);

		if (rc != -EAGAIN || !n->ncmd || !reap_dev(n, 1))
			return rc;
	}
}

static int nvme_read(struct dmk_ipc_backend *be, uint64_t lba, void *va, size_t len)
{
	return sync_io((struct nvme_backend *)be, false, lba, va, 0, len);
}

static int nvme_write(struct dmk_ipc_backend *be, uint64_t lba, const void *va, size_t len)
{
	return sync_io((struct nvme_backend *)be, true, lba, (void *)(uintptr_t)va, 0, len);
}

static int nvme_io_dev(struct dmk_ipc_backend *be, bool write, uint64_t lba, uint64_t dev,
		       uint64_t len)
{
	return sync_io((struct nvme_backend *)be, write, lba, NULL, dev, len);
}

static int nvme_destroy(struct dmk_ipc_backend *be)
{
	/* The server quiesced and reaped before it went. */
	free(be);
	return 0;
}

static const struct dmki_ipc_backend_ops nvme_ops = {
	.name = "nvme",
	.read = nvme_read,
	.write = nvme_write,
	.destroy = nvme_destroy,
	.io_dev = nvme_io_dev,
	.start = nvme_start,
	.reap = nvme_reap,
	.poll_fd = nvme_poll_fd,
	.quiesce = nvme_quiesce,
};

int dmk_ipc_backend_nvme_create(struct dmk_space *space, struct dmk_nvme *ctrl, unsigned queue,
				struct dmk_ipc_backend **out)
{
	struct dmk_nvme_info info;
	struct nvme_backend *n;
	unsigned slots;

	if (!space || !ctrl || !out)
		return dmki_fail(-EINVAL, "dmk_ipc_backend_nvme_create: NULL argument");
	dmk_nvme_info(ctrl, &info);
	if (queue >= info.io_queues)
		return dmki_fail(-EINVAL, "queue %u: the controller has %u I/O queues", queue,
				 info.io_queues);
	n = calloc(1, sizeof(*n));
	if (!n)
		return dmki_fail(-ENOMEM, "out of memory for an NVMe backend");
	n->be.ops = &nvme_ops;
	n->be.space = space;
	n->be.lba_size = info.lba_size;
	n->be.nlba = info.nlba;
	n->ctrl = ctrl;
	n->queue = queue;
	n->max_cmd = info.max_transfer;
	/* An eighth of the slots (one at least) for the synchronous path. */
	slots = info.queue_depth - 1;
	n->cap = slots > 1 ? slots - (slots / 8 ? slots / 8 : 1) : 1;
	n->backlog_tail = &n->backlog;
	n->done_tail = &n->done;
	*out = &n->be;
	return 0;
}
