/* SPDX-License-Identifier: MIT */
/*
 * NVMe queue pairs: submission ring, completion ring with its phase tag,
 * doorbells spaced by CAP.DSTRD, command identifiers (slots), waiting for
 * completions by polling or on an MSI-X eventfd.
 *
 * A queue of depth D has D - 1 slots, so at most D - 1 commands are in
 * flight: the SQ never overruns the head and the CQ never fills.
 */
#include <errno.h>
#include <endian.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bits.h"
#include "core/error_priv.h"
#include "debug.h"
#include "nvme_priv.h"

static bool dmki_hold_doorbells;

void dmki_nvme_debug_hold_doorbells(bool hold)
{
	__atomic_store_n(&dmki_hold_doorbells, hold, __ATOMIC_SEQ_CST);
}

int dmki_nvme_queue_init(struct dmk_nvme *c, struct dmki_nvme_queue *q, uint16_t qid,
			 unsigned depth, uint8_t *sq, uint64_t sq_dev, uint8_t *cq,
			 uint64_t cq_dev, int efd, unsigned vector)
{
	unsigned stride = c->info.dstrd;

	memset(q, 0, sizeof(*q));
	q->ctrl = c;
	q->qid = qid;
	q->depth = depth;
	q->sq = sq;
	q->sq_dev = sq_dev;
	q->cq = cq;
	q->cq_dev = cq_dev;
	q->phase = 1;
	q->sq_db = (volatile uint32_t *)(c->bar + DMKI_NVME_REG_DBS + (2u * qid) * stride);
	q->cq_db = (volatile uint32_t *)(c->bar + DMKI_NVME_REG_DBS + (2u * qid + 1) * stride);
	q->nslots = depth - 1;
	q->efd = efd;
	q->vector = vector;
	q->slots = calloc(q->nslots, sizeof(*q->slots));
	q->done = calloc(q->nslots, sizeof(*q->done));
	q->adone = calloc(q->nslots, sizeof(*q->adone));
	if (!q->slots || !q->done || !q->adone) {
		free(q->slots);
		free(q->done);
		free(q->adone);
		q->slots = NULL;
		q->done = NULL;
		q->adone = NULL;
		return dmki_fail(-ENOMEM, "no memory for %u command slots of queue %u", q->nslots, qid);
	}
	pthread_mutex_init(&q->lock, NULL);
	return 0;
}

void dmki_nvme_queue_fini(struct dmki_nvme_queue *q)
{
	if (!q->slots)
		return;
	for (unsigned i = 0; i < q->nslots; i++) {
		struct dmki_nvme_slot *s = &q->slots[i];

		if (s->used)
			dmk_dma_complete(s->used);
		dmk_dma_destroy(s->dma_prp);
		dmk_dma_destroy(s->dma_sgl);
	}
	free(q->slots);
	free(q->done);
	free(q->adone);
	q->slots = NULL;
	q->done = NULL;
	q->adone = NULL;
	pthread_mutex_destroy(&q->lock);
}

int dmki_nvme_slot_get(struct dmki_nvme_queue *q)
{
	for (unsigned n = 0; n < q->nslots; n++) {
		unsigned i = (q->hint + n) % q->nslots;

		if (q->slots[i].state == DMKI_SLOT_FREE) {
			q->slots[i].state = DMKI_SLOT_BUSY;
			q->slots[i].done = false;
			q->slots[i].status = 0;
			q->slots[i].dw0 = 0;
			q->slots[i].async = false;
			q->hint = (i + 1) % q->nslots;
			q->busy++;
			return (int)i;
		}
	}
	return -1;
}

void dmki_nvme_slot_put(struct dmki_nvme_queue *q, unsigned cid)
{
	struct dmki_nvme_slot *s = &q->slots[cid];

	if (s->used) {
		/* A failed copy back (a page of the caller's memory that cannot
		 * be faulted in, dmk_dma_sync()) leaves those bytes out of that
		 * memory alone; the command's status stands. */
		dmk_dma_sync(s->used, DMK_SYNC_FOR_CPU);
		dmk_dma_complete(s->used);
		s->used = NULL;
	}
	if (s->state != DMKI_SLOT_FREE)
		q->busy--;
	s->state = DMKI_SLOT_FREE;
	s->done = false;
}

void dmki_nvme_sq_put(struct dmki_nvme_queue *q, uint32_t cmd[16], unsigned cid)
{
	uint32_t le[16];

	cmd[0] = (cmd[0] & 0xffffu) | (uint32_t)cid << 16;
	for (int i = 0; i < 16; i++)
		le[i] = htole32(cmd[i]);
	memcpy(q->sq + (size_t)q->sq_tail * DMKI_NVME_SQE_SIZE, le, sizeof(le));
	q->sq_tail = (uint16_t)((q->sq_tail + 1) % q->depth);
	q->slots[cid].started_ns = dmki_nvme_now_ns();
}

void dmki_nvme_sq_ring(struct dmki_nvme_queue *q)
{
	/* The entries must be in memory before the controller hears of them. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (unlikely(__atomic_load_n(&dmki_hold_doorbells, __ATOMIC_RELAXED)))
		return;
	*q->sq_db = q->sq_tail;
}

unsigned dmki_nvme_reap(struct dmki_nvme_queue *q)
{
	unsigned n = 0, listed = 0;

	q->ndone = 0;
	for (;;) {
		volatile uint8_t *e = q->cq + (size_t)q->cq_head * DMKI_NVME_CQE_SIZE;
		uint32_t dw3 = le32toh(*(volatile uint32_t *)(e + 12));
		uint32_t dw0;
		uint16_t cid;
		struct dmki_nvme_slot *s;

		if (((dw3 >> 16) & 1u) != q->phase)
			break;
		/* The rest of the entry is read only after its phase tag. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		dw0 = le32toh(*(volatile uint32_t *)e);
		cid = (uint16_t)(dw3 & 0xffff);
		if (++q->cq_head == q->depth) {
			q->cq_head = 0;
			q->phase ^= 1u;
		}
		n++;
		if (cid >= q->nslots)
			continue;	/* not ours: ignore, the head moves on */
		s = &q->slots[cid];
		if (s->state == DMKI_SLOT_LOST) {
			dmki_nvme_slot_put(q, cid);
			continue;
		}
		if (s->state != DMKI_SLOT_BUSY || s->done)
			continue;
		s->done = true;
		s->dw0 = dw0;
		s->status = (uint16_t)(dw3 >> 17);
		if (s->async)
			q->adone[(q->adone_head + q->nadone++) % q->nslots] = cid;
		else
			q->done[q->ndone++] = cid;
		listed++;
	}
	if (n) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		*q->cq_db = q->cq_head;
	}
	return listed;
}

/* Take a pending interrupt off the eventfd, so it wakes no later wait. */
static void drain(struct dmki_nvme_queue *q)
{
	struct pollfd p = { .fd = q->efd, .events = POLLIN };
	uint64_t cnt;

	if (poll(&p, 1, 0) > 0 && read(q->efd, &cnt, sizeof(cnt)) == (ssize_t)sizeof(cnt))
		q->stats.interrupts++;
}

int dmki_nvme_wait(struct dmki_nvme_queue *q, uint64_t deadline_ns)
{
	unsigned spins = 0;

	for (;;) {
		uint64_t now;

		if (dmki_nvme_reap(q)) {
			if (q->efd >= 0)
				drain(q);
			return 0;
		}
		now = dmki_nvme_now_ns();
		if (now >= deadline_ns)
			return -ETIMEDOUT;
		if (q->efd >= 0) {
			struct pollfd p = { .fd = q->efd, .events = POLLIN };
			uint64_t left_ms = (deadline_ns - now + 999999) / 1000000;
			uint64_t cnt;

			if (poll(&p, 1, (int)(left_ms > 1000 ? 1000 : left_ms)) > 0 &&
			    read(q->efd, &cnt, sizeof(cnt)) == (ssize_t)sizeof(cnt))
				q->stats.interrupts++;
		} else if (++spins > 64) {
			sched_yield();
		}
	}
}

int dmki_nvme_exec_locked(struct dmki_nvme_queue *q, uint32_t cmd[16], unsigned timeout_ms,
			  uint32_t *dw0, uint16_t *status)
{
	int cid = dmki_nvme_slot_get(q);
	uint64_t deadline;
	struct dmki_nvme_slot *s;

	if (cid < 0)
		return dmki_fail(-EAGAIN, "queue %u: all %u command slots are taken by commands given up on",
				 q->qid, q->nslots);
	s = &q->slots[cid];
	s->opc = (uint8_t)cmd[0];
	dmki_nvme_sq_put(q, cmd, (unsigned)cid);
	dmki_nvme_sq_ring(q);
	deadline = s->started_ns + (uint64_t)timeout_ms * 1000000u;
	while (!s->done) {
		if (dmki_nvme_wait(q, deadline) == -ETIMEDOUT && !s->done) {
			s->state = DMKI_SLOT_LOST;
			return dmki_fail(-ETIMEDOUT,
					 "NVMe command opcode %#x (cid %d) on queue %u did not complete within %u ms",
					 (unsigned)(cmd[0] & 0xff), cid, q->qid, timeout_ms);
		}
	}
	if (dw0)
		*dw0 = s->dw0;
	*status = s->status;
	dmki_nvme_slot_put(q, (unsigned)cid);
	return 0;
}
