/* SPDX-License-Identifier: MIT */
/*
 * The driver daemon's requests on the device: ring entries of the memfd,
 * pool and lease routes handed to the backend's asynchronous path, each in
 * one of its connection's preallocated requests; their completions go to
 * the connection's ring, or, for a connection gone, end its draining: its
 * regions (and lease) are released with its last request. Every backend
 * the same way (backend_priv.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <dmakit/error.h>
#include <dmakit/region.h>

#include "../core/error_priv.h"
#include "backend_priv.h"
#include "daemon_priv.h"
#include "lease.h"

#define REAP_BATCH 64

int dmki_srv_reqs_alloc(struct srv_client *c, uint32_t entries)
{
	c->reqs = calloc(entries, sizeof(*c->reqs));
	c->req_free = calloc(entries, sizeof(*c->req_free));
	if (!c->reqs || !c->req_free) {
		dmki_srv_reqs_free(c);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < entries; i++) {
		c->reqs[i].c = c;
		c->reqs[i].idx = i;
		c->req_free[i] = entries - 1 - i;
	}
	c->nreq_free = entries;
	return 0;
}

void dmki_srv_reqs_free(struct srv_client *c)
{
	free(c->reqs);
	free(c->req_free);
	c->reqs = NULL;
	c->req_free = NULL;
	c->nreq_free = 0;
}

int dmki_srv_device_start(struct dmk_ipc_server *srv, struct srv_client *c, struct srv_region *r,
			  bool rd, const struct dmk_ipc_io *io, uint64_t tag)
{
	struct dmk_ipc_backend *be = srv->be;
	struct srv_req *q;
	int rc;

	if (!c->nreq_free)	/* cannot be: one for each ring entry */
		return dmki_fail(-EBUSY, "no request free for a ring entry");
	q = &c->reqs[c->req_free[c->nreq_free - 1]];
	q->tag = tag;
	q->handle = r->handle;
	q->io.to_mem = rd;
	q->io.lba = io->lba;
	q->io.len = io->length;
	q->io.va = NULL;
	q->io.dev = 0;
	if (r->route == DMK_IPC_ROUTE_LEASE) {
		/* The IOVAs of the client's own mapping, checked again. */
		char lwhy[160];

		rc = dmki_lease_io(c->lease, r->handle, rd ? DMK_PROT_WRITE : DMK_PROT_READ,
				   io->offset, io->length, &q->io.dev, lwhy, sizeof(lwhy));
		if (rc)
			return dmki_fail(rc, "%s", lwhy);
	} else {
		q->io.va = (uint8_t *)r->map + io->offset;
	}
	rc = be->ops->start(be, &q->io);
	if (rc == -EINPROGRESS) {
		c->nreq_free--;
		r->busy++;
		c->inflight++;
		srv->inflight++;
		PEND_ADD(srv, inflight, 1);
		return 1;
	}
	PEND_ADD(srv, requests, 1);
	if (rc == 0)
		PEND_ADD(srv, bytes, io->length);
	return rc;
}

/* One request the device finished. */
static void complete(struct dmk_ipc_server *srv, struct srv_req *q)
{
	struct srv_client *c = q->c;
	struct srv_region *r = dmki_srv_find_region(c, q->handle);
	int rc = q->io.rc;

	PEND_ADD(srv, requests, 1);
	PEND_ADD(srv, inflight, (uint64_t)-1);
	if (rc == 0)
		PEND_ADD(srv, bytes, q->io.len);
	if (r && r->busy)
		r->busy--;
	c->inflight--;
	srv->inflight--;
	c->req_free[c->nreq_free++] = q->idx;
	if (rc == -ETIMEDOUT)
		c->lost = true;
	if (rc)
		dmki_srv_log(srv, "dmakitd: client %u: ring entry (tag %llu) on the device: error %d",
			     c->id, (unsigned long long)q->tag, rc);
	if (c->draining) {
		if (!c->inflight) {
			dmki_srv_log(srv, "dmakitd: client %u (pid %d): drained, %zu region(s) released",
				     c->id, (int)c->pid, c->nregions);
			PEND_ADD(srv, drained, 1);
			dmki_srv_client_release(srv, c);
		}
	} else if (c->fd >= 0 && c->ring.hdr) {
		dmki_srv_ring_post(&c->ring, q->tag, rc);
	}
}

/* Requests the device finished: their completions go to the rings of
 * clients still there, counted before any client sees them; a closed
 * client's regions go with its last one. */
unsigned dmki_srv_device_reap(struct dmk_ipc_server *srv)
{
	struct dmki_ipc_breq *done[REAP_BATCH];
	unsigned total = 0;
	size_t n;

	while ((n = srv->be->ops->reap(srv->be, done, REAP_BATCH)) > 0) {
		for (size_t i = 0; i < n; i++)
			complete(srv, (struct srv_req *)(void *)done[i]);
		total += (unsigned)n;
		if (n < REAP_BATCH)
			break;
	}
	if (!total)
		return 0;
	dmki_srv_stats_flush(srv);
	for (unsigned i = 0; i < srv->opts.max_clients; i++) {
		struct srv_client *c = &srv->clients[i];

		if (c->fd >= 0 && c->ring.hdr && c->ring.cq_pub != c->ring.cq_tail)
			dmki_srv_ring_publish(&c->ring);
	}
	return total;
}

/* The server goes: the device finishes (or gives up on) what it holds
 * before any memory is released. */
void dmki_srv_device_quiesce(struct dmk_ipc_server *srv)
{
	if (!srv->inflight)
		return;
	dmki_srv_log(srv, "dmakitd: %u request(s) on the device: waiting for them", srv->inflight);
	srv->be->ops->quiesce(srv->be);
	while (srv->inflight && dmki_srv_device_reap(srv))
		;
}
