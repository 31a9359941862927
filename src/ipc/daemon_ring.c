/* SPDX-License-Identifier: MIT */
/*
 * The driver daemon's shared-memory rings: set up on RINGS, served from the
 * poll loop (each entry copied out once and checked as a message, then
 * started on the device, daemon_device.c, or moved at once on the copy
 * route), completions posted and published in batches.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/region.h>
#include <dmakit/vfio.h>

#include "../core/error_priv.h"
#include "backend_priv.h"
#include "daemon_priv.h"

void dmki_srv_ring_free(struct srv_ring *rg)
{
	if (rg->map)
		munmap(rg->map, rg->map_len);
	if (rg->req_efd > 0)
		close(rg->req_efd);
	if (rg->cq_efd > 0)
		close(rg->cq_efd);
	memset(rg, 0, sizeof(*rg));
}

/* RINGS: a memfd holding both rings (sealed: neither side can resize it
 * or seal it further) and two eventfds, sent to the client with the answer.
 * A hole the client punches into it reads as zeros here (shmem refills it),
 * never a fault: ring indices and entries that make no sense then are
 * refused as any others. */
void dmki_srv_rings(struct dmk_ipc_server *srv, struct srv_client *c, const struct dmk_ipc_msg *m)
{
	struct srv_ring *rg = &c->ring;
	struct dmk_ipc_msg ok;
	char why[DMK_IPC_REASON_MAX + 1];
	uint32_t entries = m->rings.entries;
	int fds[3] = { -1, -1, -1 };

	if (rg->hdr) {
		dmki_srv_refuse(srv, c, m->seq, -EEXIST, "RINGS: the connection has its rings already");
		return;
	}
	if (m->rings.size != 0) {
		dmki_srv_refuse(srv, c, m->seq, -EINVAL, "RINGS: a client asks with size 0");
		return;
	}
	if (entries > srv->opts.ring_entries)
		entries = srv->opts.ring_entries;
	if (dmki_srv_reqs_alloc(c, entries)) {
		dmki_srv_refuse(srv, c, m->seq, -ENOMEM, "RINGS: out of memory for the requests");
		return;
	}
	rg->entries = entries;
	rg->map_len = (size_t)dmk_ipc_ring_size(entries);
	fds[0] = memfd_create("dmakitd-rings", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fds[0] < 0 || ftruncate(fds[0], (off_t)rg->map_len) != 0 ||
	    fcntl(fds[0], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
		goto fail;
	rg->map = mmap(NULL, rg->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (rg->map == MAP_FAILED) {
		rg->map = NULL;
		goto fail;
	}
	fds[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fds[2] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fds[1] < 0 || fds[2] < 0)
		goto fail;
	rg->hdr = rg->map;
	rg->sq = (struct dmk_ipc_sqe *)((uint8_t *)rg->map + DMK_IPC_RING_SQ_OFF);
	rg->cq = (struct dmk_ipc_cqe *)((uint8_t *)rg->map + dmk_ipc_ring_cq_off(entries));
	rg->req_efd = fds[1];
	rg->cq_efd = fds[2];
	/* Asleep until the poll loop says otherwise: ring the doorbell. */
	__atomic_store_n(&rg->hdr->sq_flags, DMK_IPC_RING_NEED_WAKEUP, __ATOMIC_SEQ_CST);
	memset(&ok, 0, sizeof(ok));
	ok.type = DMK_IPC_RINGS;
	ok.seq = m->seq;
	ok.rings.entries = entries;
	ok.rings.size = rg->map_len;
	dmki_srv_reply_fds(c, &ok, fds, 3);	/* else closed after this message */
	close(fds[0]);
	dmki_srv_log(srv, "dmakitd: client %u (pid %d): rings of %u entries", c->id, (int)c->pid, entries);
	return;
fail:
	snprintf(why, sizeof(why), "RINGS: %s", strerror(errno));
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (rg->map)
		munmap(rg->map, rg->map_len);
	memset(rg, 0, sizeof(*rg));
	dmki_srv_reqs_free(c);
	dmki_srv_refuse(srv, c, m->seq, -ENOMEM, why);
}

/* One submission entry, copied out of the shared memory once (each word
 * read once, volatile: the client may change it meanwhile), then checked
 * like a READ or WRITE message. */
static int32_t ring_entry(struct dmk_ipc_server *srv, struct srv_client *c,
			  const struct dmk_ipc_sqe *slot, uint64_t *tag)
{
	const volatile uint64_t *src = (const volatile uint64_t *)(const void *)slot;
	uint64_t w[sizeof(struct dmk_ipc_sqe) / 8];
	struct dmk_ipc_sqe e;
	struct dmk_ipc_io io;
	struct srv_region *r = NULL;
	char why[DMK_IPC_REASON_MAX + 1];
	int rc;

	for (size_t i = 0; i < sizeof(w) / 8; i++)
		w[i] = src[i];
	memcpy(&e, w, sizeof(e));
	*tag = e.tag;
	io.handle = e.handle;
	io.offset = e.offset;
	io.length = e.length;
	io.lba = e.lba;
	if ((e.op != DMK_IPC_READ && e.op != DMK_IPC_WRITE) || e.flags) {
		snprintf(why, sizeof(why), "ring entry: op %u, flags %#x (READ or WRITE, 0)", e.op, e.flags);
		rc = -EINVAL;
	} else {
		rc = dmki_srv_io_check(srv, c, e.op == DMK_IPC_READ, &io, &r, why, sizeof(why));
	}
	if (rc) {
		STAT_ADD(srv, refused, 1);
		dmki_srv_log(srv, "dmakitd: client %u (pid %d): refused a ring entry (tag %llu): %s", c->id,
		     (int)c->pid, (unsigned long long)e.tag, why);
		return rc;
	}
	if (r->route != DMK_IPC_ROUTE_COPY) {
		/* On the device, which may hold it (in flight). */
		rc = dmki_srv_device_start(srv, c, r, e.op == DMK_IPC_READ, &io, e.tag);
		if (rc > 0)
			return 1;
	} else {
		rc = dmki_srv_io_exec(srv, c, r, e.op == DMK_IPC_READ, &io);
	}
	if (rc)
		dmki_srv_log(srv, "dmakitd: client %u (pid %d): ring entry (tag %llu): %s", c->id, (int)c->pid,
		     (unsigned long long)e.tag, dmk_last_error());
	return rc;
}

void dmki_srv_ring_post(struct srv_ring *rg, uint64_t tag, int32_t st)
{
	struct dmk_ipc_cqe *ce = &rg->cq[rg->cq_tail & (rg->entries - 1)];

	ce->tag = tag;
	ce->status = st;
	ce->flags = 0;
	rg->cq_tail++;
}

void dmki_srv_ring_publish(struct srv_ring *rg)
{
	rg->cq_pub = rg->cq_tail;
	__atomic_store_n(&rg->hdr->cq_tail, rg->cq_tail, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&rg->hdr->cq_flags, __ATOMIC_RELAXED) & DMK_IPC_RING_NEED_WAKEUP) {
		uint64_t one = 1;

		if (write(rg->cq_efd, &one, sizeof(one)) < 0) {
			/* the counter is full: the client is awake anyway */
		}
	}
}

/* Indices read once; false when the client wrote ones that cannot be. */
static bool ring_indices(struct srv_ring *rg, uint32_t *tail, uint32_t *cq_head)
{
	*tail = __atomic_load_n(&rg->hdr->sq_tail, __ATOMIC_ACQUIRE);
	*cq_head = __atomic_load_n(&rg->hdr->cq_head, __ATOMIC_ACQUIRE);
	return *tail - rg->sq_head <= rg->entries && rg->cq_tail - *cq_head <= rg->entries;
}

/* Serve up to one ring's worth of entries; a completion slot is taken
 * before each entry, so that the client's requests in flight never pass
 * @entries. Returns entries served; a client whose indices cannot be is
 * closed. */
unsigned dmki_srv_ring_serve(struct dmk_ipc_server *srv, struct srv_client *c)
{
	struct srv_ring *rg = &c->ring;
	uint32_t mask = rg->entries - 1, tail, cq_head;
	unsigned done = 0;

	c->msg_pid = -1;	/* ring entries say nothing of their sender (daemon_peer.c) */
	if (!ring_indices(rg, &tail, &cq_head)) {
		char why[DMK_IPC_REASON_MAX + 1];

		snprintf(why, sizeof(why),
			 "ring indices out of bounds (sq %u..%u, cq %u..%u, %u entries)", rg->sq_head,
			 tail, cq_head, rg->cq_tail, rg->entries);
		dmki_srv_drop(srv, c, 0, -EPROTO, why);
		return 0;
	}
	/* A completion slot for each entry taken, those on the device too. */
	while (rg->sq_head != tail && rg->cq_tail - cq_head + c->inflight < rg->entries &&
	       done < rg->entries) {
		uint64_t tag = 0;
		int32_t st = ring_entry(srv, c, &rg->sq[rg->sq_head & mask], &tag);

		rg->sq_head++;
		__atomic_store_n(&rg->hdr->sq_head, rg->sq_head, __ATOMIC_RELEASE);
		if (st <= 0)
			dmki_srv_ring_post(rg, tag, st);
		done++;
	}
	if (rg->cq_pub != rg->cq_tail) {
		/* counted before the client can see them */
		dmki_srv_stats_flush(srv);
		dmki_srv_ring_publish(rg);
	}
	return done;
}

/* Going to sleep: ask for the doorbell, then look once more (the client
 * publishes, fences, reads the flag; here the flag is set, fenced, the
 * index read: one of the two sees the other). True when there is work. */
bool dmki_srv_ring_arm(struct srv_ring *rg, unsigned inflight)
{
	uint32_t tail, cq_head;

	__atomic_store_n(&rg->hdr->sq_flags, DMK_IPC_RING_NEED_WAKEUP, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!ring_indices(rg, &tail, &cq_head))
		return true; /* dmki_srv_ring_serve() closes it */
	return tail != rg->sq_head && rg->cq_tail - cq_head + inflight < rg->entries;
}
