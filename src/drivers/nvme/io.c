/* SPDX-License-Identifier: MIT */
/*
 * NVMe reads and writes: the caller's registered memory prepared into
 * segments (dmk_dma_prepare) under the rules of PRPs or SGLs, written as the
 * command's data pointer into the slot's list page, split into as many
 * commands as MDTS and one list page allow, kept in flight up to the queue
 * depth, completed and checked.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <dmakit/mem.h>

#include "core/bits.h"
#include "core/error_priv.h"
#include "dma/dma_priv.h"
#include "nvme_priv.h"

int dmki_nvme_specs(struct dmk_nvme *c)
{
	uint64_t bs = c->info.lba_size;
	uint64_t x = DMKI_NVME_MAX_XFER;
	int err;

	if (c->info.mdts && c->info.mdts < x)
		x = c->info.mdts;
	if (c->opts.max_transfer && c->opts.max_transfer < x)
		x = c->opts.max_transfer;
	if (x > 65536 * bs)
		x = 65536 * bs;		/* NLB is 16 bits */
	x = align_down(x, bs);
	if (!x)
		return dmki_fail(-EINVAL, "max_transfer %" PRIu64 " is less than one logical block (%" PRIu64 " bytes)",
				 c->opts.max_transfer, bs);
	c->max_xfer = x;
	c->info.max_transfer = x;

	dmk_dma_spec_preset(&c->spec_prp, "nvme-prp");
	c->spec_prp.dev_page_size = DMKI_NVME_PAGE;
	c->spec_prp.max_transfer = x;
	err = dmk_dma_spec_check(&c->spec_prp);
	if (err)
		return err;

	dmk_dma_spec_preset(&c->spec_sgl, "nvme-sgl");
	c->spec_sgl.max_transfer = x;
	/* Every data block in one segment page (or in SGL1 alone). */
	c->spec_sgl.max_segs = DMKI_NVME_SGL_SEGS;
	if (c->info.sgl_dword_aligned) {
		c->spec_sgl.addr_align = 4;
		c->spec_sgl.len_align = 4;
	}
	err = dmk_dma_spec_check(&c->spec_sgl);
	if (err)
		return err;

	switch (c->opts.dptr) {
	case DMK_NVME_DPTR_SGL:
		if (!c->info.sgl)
			return dmki_fail(-ENOTSUP, "SGLs asked for, but the controller does not support them for I/O (Identify SGLS)");
		c->info.dptr = DMK_NVME_DPTR_SGL;
		break;
	case DMK_NVME_DPTR_PRP:
		c->info.dptr = DMK_NVME_DPTR_PRP;
		break;
	default:
		c->info.dptr = c->info.sgl ? DMK_NVME_DPTR_SGL : DMK_NVME_DPTR_PRP;
		break;
	}
	return 0;
}

int dmk_nvme_dma_spec(const struct dmk_nvme *c, enum dmk_nvme_dptr dptr,
		      struct dmk_dma_spec *spec)
{
	if (dptr == DMK_NVME_DPTR_AUTO)
		dptr = c->info.dptr;
	switch (dptr) {
	case DMK_NVME_DPTR_PRP:
		*spec = c->spec_prp;
		return 0;
	case DMK_NVME_DPTR_SGL:
		if (!c->info.sgl)
			return dmki_fail(-ENOTSUP, "the controller does not support SGLs");
		*spec = c->spec_sgl;
		return 0;
	default:
		return dmki_fail(-EINVAL, "unknown data pointer kind %d", (int)dptr);
	}
}

static const char *op_name(uint8_t opc)
{
	return opc == DMKI_NVME_CMD_READ ? "read" : opc == DMKI_NVME_CMD_WRITE ? "write" : "flush";
}

/*
 * Prepare the next command of a transfer in slot @cid: at most @rem bytes
 * from @off of @mem, whole blocks, starting at block @lba; *@len receives
 * the bytes it covers. The command is in the SQ, the doorbell not rung.
 */
static int build(struct dmk_nvme *c, struct dmki_nvme_queue *q, unsigned cid, uint8_t opc,
		 bool sgl, const struct dmk_mem *mem, uint64_t off, uint64_t rem, uint64_t lba,
		 uint64_t *len)
{
	struct dmki_nvme_slot *s = &q->slots[cid];
	struct dmk_dma *dma = sgl ? s->dma_sgl : s->dma_prp;
	uint64_t bs = c->info.lba_size, want = min_u64(rem, c->max_xfer), cov = 0;
	const struct dmk_seg *segs;
	struct dmk_dma_info di;
	uint32_t cmd[16] = { 0 };
	size_t n, used;
	int err;

	err = dmk_dma_prepare(dma, mem, off, want, &cov);
	if (err)
		return err;
	if (cov < want && cov % bs) {
		/* The segments ran out inside a block: end the command on one. */
		uint64_t keep = align_down(cov, bs);

		dmk_dma_complete(dma);
		if (!keep)
			return dmki_fail(-EINVAL, "the logical block at byte %" PRIu64 " of the transfer needs more than the %u segments one %s command carries",
					 off, sgl ? c->spec_sgl.max_segs : 0u, sgl ? "SGL" : "PRP");
		err = dmk_dma_prepare(dma, mem, off, keep, &cov);
		if (err)
			return err;
	}
	segs = dmk_dma_segs(dma, &n);
	cmd[0] = opc | (sgl ? DMKI_NVME_PSDT_SGL : 0u);
	cmd[1] = c->info.nsid;
	if (sgl) {
		uint8_t sgl1[16];
		uint32_t w[4];

		err = dmk_nvme_sgl_write(segs, n, DMKI_NVME_PAGE, &s->list, 1, sgl1, &used);
		memcpy(w, sgl1, sizeof(w));
		for (int i = 0; i < 4; i++)
			cmd[6 + i] = le32toh(w[i]);
	} else {
		uint64_t prp[2] = { 0, 0 };

		err = dmk_nvme_prp_write(segs, n, DMKI_NVME_PAGE, &s->list, 1, prp, &used);
		cmd[6] = (uint32_t)prp[0];
		cmd[7] = (uint32_t)(prp[0] >> 32);
		cmd[8] = (uint32_t)prp[1];
		cmd[9] = (uint32_t)(prp[1] >> 32);
	}
	/* A bounced piece of memory that faulted (dmk_dma_sync()) leaves stale
	 * bytes of an earlier command in the pool: the command does not go. */
	if (!err)
		err = dmk_dma_sync(dma, DMK_SYNC_FOR_DEVICE);
	if (err) {
		dmk_dma_complete(dma);
		return err;
	}
	cmd[10] = (uint32_t)lba;
	cmd[11] = (uint32_t)(lba >> 32);
	cmd[12] = (uint32_t)(cov / bs - 1);
	dmk_dma_info(dma, &di);
	q->stats.bounced += di.bounced;
	q->stats.segments += n;
	if (sgl)
		q->stats.sgl_commands++;
	else
		q->stats.prp_commands++;
	s->used = dma;
	s->opc = opc;
	s->lba = lba;
	s->nlb = (uint32_t)(cov / bs);
	s->bytes = cov;
	dmki_nvme_sq_put(q, cmd, cid);
	*len = cov;
	return 0;
}

/*
 * Prepare the next command of a transfer on device addresses: at most @rem
 * bytes from @iova + @off, which the caller vouches are mapped for the
 * device (dmki_nvme_io_dev()). PRPs only; one device run.
 */
static int build_dev(struct dmk_nvme *c, struct dmki_nvme_queue *q, unsigned cid, uint8_t opc,
		     uint64_t iova, uint64_t off, uint64_t rem, uint64_t lba, uint64_t *len)
{
	struct dmki_nvme_slot *s = &q->slots[cid];
	uint64_t bs = c->info.lba_size, prp[2] = { 0, 0 };
	struct dmk_seg seg = { iova + off, min_u64(rem, c->max_xfer) };
	uint32_t cmd[16] = { 0 };
	size_t used;
	int err;

	err = dmk_nvme_prp_write(&seg, 1, DMKI_NVME_PAGE, &s->list, 1, prp, &used);
	if (err)
		return err;
	cmd[0] = opc;
	cmd[1] = c->info.nsid;
	cmd[6] = (uint32_t)prp[0];
	cmd[7] = (uint32_t)(prp[0] >> 32);
	cmd[8] = (uint32_t)prp[1];
	cmd[9] = (uint32_t)(prp[1] >> 32);
	cmd[10] = (uint32_t)lba;
	cmd[11] = (uint32_t)(lba >> 32);
	cmd[12] = (uint32_t)(seg.len / bs - 1);
	q->stats.segments++;
	q->stats.prp_commands++;
	s->used = NULL;
	s->opc = opc;
	s->lba = lba;
	s->nlb = (uint32_t)(seg.len / bs);
	s->bytes = seg.len;
	dmki_nvme_sq_put(q, cmd, cid);
	*len = seg.len;
	return 0;
}

/* A reaped command of this call: check its status, release its slot. */
static void finish(struct dmki_nvme_queue *q, unsigned cid, int *err)
{
	struct dmki_nvme_slot *s = &q->slots[cid];

	q->stats.commands++;
	if (s->status & 0x7ff) {
		q->stats.errors++;
		if (!*err)
			*err = dmki_nvme_status_fail(s->status, "%s of LBA %" PRIu64 "+%u, queue %u, cid %u",
						     op_name(s->opc), s->lba, s->nlb, q->qid, cid);
	} else {
		q->stats.bytes += s->bytes;
	}
	dmki_nvme_slot_put(q, cid);
}

/* Oldest start among the sync call's (or the async) commands in flight. */
static uint64_t oldest(const struct dmki_nvme_queue *q, bool async, unsigned *cid)
{
	uint64_t t = UINT64_MAX;

	for (unsigned i = 0; i < q->nslots; i++)
		if (q->slots[i].state == DMKI_SLOT_BUSY && !q->slots[i].done &&
		    q->slots[i].async == async && q->slots[i].started_ns < t) {
			t = q->slots[i].started_ns;
			*cid = i;
		}
	return t;
}

static int give_up(struct dmk_nvme *c, struct dmki_nvme_queue *q, unsigned late)
{
	const struct dmki_nvme_slot *ls = &q->slots[late];
	unsigned lost = 0;
	uint8_t opc = ls->opc;
	uint64_t lba = ls->lba;
	uint32_t nlb = ls->nlb;

	for (unsigned i = 0; i < q->nslots; i++)
		if (q->slots[i].state == DMKI_SLOT_BUSY && !q->slots[i].async) {
			q->slots[i].state = DMKI_SLOT_LOST;
			lost++;
		}
	q->stats.timeouts += lost;
	return dmki_fail(-ETIMEDOUT,
			 "NVMe %s of LBA %" PRIu64 "+%u (queue %u, cid %u) did not complete within %u ms; %u command(s) given up on, their buffers stay held",
			 op_name(opc), lba, nlb, q->qid, late, c->timeout_ms, lost);
}

/* What every read and write is checked for before a command is made. */
static int check_io(const struct dmk_nvme *c, unsigned queue, uint8_t opc, uint64_t lba,
		    const struct dmk_mem *mem, unsigned flags, bool *sgl)
{
	uint64_t total, bs;

	if (!c || !mem)
		return dmki_fail(-EINVAL, "%s needs a controller and a descriptor", op_name(opc));
	if (queue >= c->nio)
		return dmki_fail(-EINVAL, "I/O queue %u does not exist (%u created)", queue, c->nio);
	if (flags & ~(DMK_NVME_IO_PRP | DMK_NVME_IO_SGL) ||
	    (flags & DMK_NVME_IO_PRP && flags & DMK_NVME_IO_SGL))
		return dmki_fail(-EINVAL, "bad I/O flags %#x", flags);
	if (opc == DMKI_NVME_CMD_READ && !(dmk_mem_dir(mem) & DMK_FROM_DEVICE))
		return dmki_fail(-EINVAL, "a read needs a descriptor of direction DMK_FROM_DEVICE");
	if (opc == DMKI_NVME_CMD_WRITE && !(dmk_mem_dir(mem) & DMK_TO_DEVICE))
		return dmki_fail(-EINVAL, "a write needs a descriptor of direction DMK_TO_DEVICE");
	total = dmk_mem_length(mem);
	bs = c->info.lba_size;
	if (!total || total % bs)
		return dmki_fail(-EINVAL, "%s of %" PRIu64 " bytes is not a whole number of %" PRIu64 "-byte blocks",
				 op_name(opc), total, bs);
	if (lba >= c->info.nlba || total / bs > c->info.nlba - lba)
		return dmki_fail(-ERANGE, "%s of LBA %" PRIu64 "+%" PRIu64 " lies beyond namespace %u of %" PRIu64 " blocks",
				 op_name(opc), lba, total / bs, c->info.nsid, c->info.nlba);
	*sgl = flags & DMK_NVME_IO_SGL || (!(flags & DMK_NVME_IO_PRP) && c->info.dptr == DMK_NVME_DPTR_SGL);
	if (*sgl && !c->info.sgl)
		return dmki_fail(-ENOTSUP, "SGLs asked for, but the controller does not support them");
	return 0;
}

/* @mem, or (@mem NULL) @dev_len bytes at device address @dev. */
static int io(struct dmk_nvme *c, unsigned queue, uint8_t opc, uint64_t lba,
	      const struct dmk_mem *mem, unsigned flags, uint64_t dev, uint64_t dev_len)
{
	struct dmki_nvme_queue *q;
	uint64_t total, bs, off = 0;
	unsigned inflight = 0, ncmds = 0;
	bool sgl = false;
	int err = 0;

	if (mem) {
		err = check_io(c, queue, opc, lba, mem, flags, &sgl);
		if (err)
			return err;
		total = dmk_mem_length(mem);
	} else {
		total = dev_len;
	}
	bs = c->info.lba_size;
	q = &c->io[queue];
	pthread_mutex_lock(&q->lock);
	for (;;) {
		unsigned batch = 0, late = 0;
		uint64_t t0;

		while (!err && off < total) {
			int cid = dmki_nvme_slot_get(q);
			uint64_t len = 0;
			int r;

			if (cid < 0)
				break;
			r = mem ? build(c, q, (unsigned)cid, opc, sgl, mem, off, total - off, lba + off / bs, &len)
				: build_dev(c, q, (unsigned)cid, opc, dev, off, total - off, lba + off / bs, &len);
			if (r) {
				dmki_nvme_slot_put(q, (unsigned)cid);
				err = r;
				break;
			}
			off += len;
			batch++;
			ncmds++;
			inflight++;
		}
		if (batch)
			dmki_nvme_sq_ring(q);
		if (!inflight) {
			if (!err && off < total)
				err = dmki_fail(-EAGAIN, "queue %u: every command slot is held by commands given up on",
						q->qid);
			break;
		}
		t0 = oldest(q, false, &late);
		if (dmki_nvme_wait(q, t0 + (uint64_t)c->timeout_ms * 1000000u) == -ETIMEDOUT) {
			int r = give_up(c, q, late);

			err = err ? err : r;
			break;
		}
		for (unsigned i = 0; i < q->ndone; i++) {
			finish(q, q->done[i], &err);
			inflight--;
		}
	}
	if (ncmds > 1)
		q->stats.split++;
	pthread_mutex_unlock(&q->lock);
	return err;
}

int dmk_nvme_read(struct dmk_nvme *c, unsigned queue, uint64_t lba, const struct dmk_mem *mem,
		  unsigned flags)
{
	return io(c, queue, DMKI_NVME_CMD_READ, lba, mem, flags, 0, 0);
}

int dmk_nvme_write(struct dmk_nvme *c, unsigned queue, uint64_t lba, const struct dmk_mem *mem,
		   unsigned flags)
{
	return io(c, queue, DMKI_NVME_CMD_WRITE, lba, mem, flags, 0, 0);
}

/* A one-entry descriptor on the stack: no allocation per I/O. */
static void one_buf(struct dmk_mem *m, struct iovec *iov, uint8_t opc, void *buf, size_t len)
{
	iov->iov_base = buf;
	iov->iov_len = len;
	m->iov = iov;
	m->iovcnt = 1;
	m->cap = 1;
	m->dir = opc == DMKI_NVME_CMD_READ ? DMK_FROM_DEVICE : DMK_TO_DEVICE;
	m->total = len;
}

static int io_buf(struct dmk_nvme *c, unsigned queue, uint8_t opc, uint64_t lba, void *buf,
		  size_t len, unsigned flags)
{
	struct iovec iov;
	struct dmk_mem m;

	if ((uintptr_t)buf + len < (uintptr_t)buf)
		return dmki_fail(-EINVAL, "buffer %p + %zu wraps around the address space", buf, len);
	one_buf(&m, &iov, opc, buf, len);
	return io(c, queue, opc, lba, &m, flags, 0, 0);
}

/* dmki_nvme_io_dev()'s checks: 0 or a negative errno. */
static int check_dev(const struct dmk_nvme *c, unsigned queue, uint64_t lba, uint64_t dev,
		     uint64_t len)
{
	uint64_t bs;

	if (!c || queue >= c->nio)
		return dmki_fail(-EINVAL, "I/O queue %u does not exist", queue);
	bs = c->info.lba_size;
	if (!len || len % bs || (dev & 3) || dev + len < dev)
		return dmki_fail(-EINVAL, "%" PRIu64 " bytes at device address %#" PRIx64 ": not whole %" PRIu64 "-byte blocks, dword-aligned",
				 len, dev, bs);
	if (lba >= c->info.nlba || len / bs > c->info.nlba - lba)
		return dmki_fail(-ERANGE, "LBA %" PRIu64 "+%" PRIu64 " lies beyond namespace %u of %" PRIu64 " blocks",
				 lba, len / bs, c->info.nsid, c->info.nlba);
	return 0;
}

int dmki_nvme_io_dev(struct dmk_nvme *c, unsigned queue, bool write, uint64_t lba, uint64_t dev,
		     uint64_t len)
{
	int err = check_dev(c, queue, lba, dev, len);

	if (err)
		return err;
	return io(c, queue, write ? DMKI_NVME_CMD_WRITE : DMKI_NVME_CMD_READ, lba, NULL, 0, dev, len);
}

/* An asynchronous command built in slot @cid (@err 0) goes to the
 * controller; a failed one gives its slot back. Unlocks @q. */
static int submitted(struct dmki_nvme_queue *q, int cid, int err, uint64_t tag)
{
	if (err) {
		dmki_nvme_slot_put(q, (unsigned)cid);
	} else {
		q->slots[cid].async = true;
		q->slots[cid].tag = tag;
		dmki_nvme_sq_ring(q);
	}
	pthread_mutex_unlock(&q->lock);
	return err;
}

int dmki_nvme_submit_dev(struct dmk_nvme *c, unsigned queue, bool write, uint64_t lba,
			 uint64_t dev, uint64_t len, uint64_t tag)
{
	uint8_t opc = write ? DMKI_NVME_CMD_WRITE : DMKI_NVME_CMD_READ;
	struct dmki_nvme_queue *q;
	uint64_t got = 0;
	int cid, err = check_dev(c, queue, lba, dev, len);

	if (err)
		return err;
	if (len > c->max_xfer)
		return dmki_fail(-E2BIG, "%" PRIu64 " bytes need more than one command (at most %" PRIu64 ")",
				 len, c->max_xfer);
	q = &c->io[queue];
	pthread_mutex_lock(&q->lock);
	cid = dmki_nvme_slot_get(q);
	if (cid < 0) {
		pthread_mutex_unlock(&q->lock);
		return dmki_fail(-EAGAIN, "queue %u: all %u command slots are in flight", q->qid, q->nslots);
	}
	err = build_dev(c, q, (unsigned)cid, opc, dev, 0, len, lba, &got);
	return submitted(q, cid, err, tag);
}

int dmki_nvme_queue_efd(struct dmk_nvme *c, unsigned queue)
{
	return c && queue < c->nio ? c->io[queue].efd : -1;
}

void dmki_nvme_queue_ack(struct dmk_nvme *c, unsigned queue)
{
	struct dmki_nvme_queue *q = &c->io[queue];
	struct pollfd p = { .fd = q->efd, .events = POLLIN };
	uint64_t cnt;

	if (q->efd < 0)
		return;
	pthread_mutex_lock(&q->lock);
	if (poll(&p, 1, 0) > 0 && read(q->efd, &cnt, sizeof(cnt)) == (ssize_t)sizeof(cnt))
		q->stats.interrupts++;
	pthread_mutex_unlock(&q->lock);
}

int dmk_nvme_read_buf(struct dmk_nvme *c, unsigned queue, uint64_t lba, void *buf, size_t len,
		      unsigned flags)
{
	return io_buf(c, queue, DMKI_NVME_CMD_READ, lba, buf, len, flags);
}

int dmk_nvme_write_buf(struct dmk_nvme *c, unsigned queue, uint64_t lba, const void *buf,
		       size_t len, unsigned flags)
{
	return io_buf(c, queue, DMKI_NVME_CMD_WRITE, lba, (void *)(uintptr_t)buf, len, flags);
}

int dmk_nvme_flush(struct dmk_nvme *c, unsigned queue)
{
	struct dmki_nvme_queue *q;
	uint32_t cmd[16] = { 0 };
	uint16_t status = 0;
	int err;

	if (!c || queue >= c->nio)
		return dmki_fail(-EINVAL, "I/O queue %u does not exist", queue);
	q = &c->io[queue];
	cmd[0] = DMKI_NVME_CMD_FLUSH;
	cmd[1] = c->info.nsid;
	pthread_mutex_lock(&q->lock);
	err = dmki_nvme_exec_locked(q, cmd, c->timeout_ms, NULL, &status);
	pthread_mutex_unlock(&q->lock);
	if (err)
		return err;
	if (status & 0x7ff)
		return dmki_nvme_status_fail(status, "flush of namespace %u, queue %u", c->info.nsid,
					     q->qid);
	return 0;
}

int dmk_nvme_submit_buf(struct dmk_nvme *c, unsigned queue, enum dmk_nvme_op op, uint64_t lba,
			void *buf, size_t len, unsigned flags, uint64_t tag)
{
	uint8_t opc = op == DMK_NVME_OP_WRITE ? DMKI_NVME_CMD_WRITE : DMKI_NVME_CMD_READ;
	struct dmki_nvme_queue *q;
	struct iovec iov;
	struct dmk_mem m;
	uint64_t got = 0;
	bool sgl = false;
	int cid, err;

	if ((unsigned)op > DMK_NVME_OP_WRITE)
		return dmki_fail(-EINVAL, "unknown operation %d", (int)op);
	if ((uintptr_t)buf + len < (uintptr_t)buf)
		return dmki_fail(-EINVAL, "buffer %p + %zu wraps around the address space", buf, len);
	one_buf(&m, &iov, opc, buf, len);
	err = check_io(c, queue, opc, lba, &m, flags, &sgl);
	if (err)
		return err;
	if (len > c->max_xfer)
		return dmki_fail(-E2BIG, "%zu bytes need more than one command (at most %" PRIu64 ")",
				 len, c->max_xfer);
	q = &c->io[queue];
	pthread_mutex_lock(&q->lock);
	cid = dmki_nvme_slot_get(q);
	if (cid < 0) {
		pthread_mutex_unlock(&q->lock);
		return dmki_fail(-EAGAIN, "queue %u: all %u command slots are in flight", q->qid, q->nslots);
	}
	err = build(c, q, (unsigned)cid, opc, sgl, &m, 0, len, lba, &got);
	if (!err && got < len) {
		/* build() put it in the SQ already: take it back before ringing. */
		q->sq_tail = (uint16_t)((q->sq_tail + q->depth - 1) % q->depth);
		err = dmki_fail(-E2BIG, "%zu bytes need more segments than one command carries (it covers %" PRIu64 ")",
				len, got);
	}
	return submitted(q, cid, err, tag);
}

/* An asynchronous command past its time: given up on, reported in @d. */
static void lose(struct dmk_nvme *c, struct dmki_nvme_queue *q, unsigned late,
		 struct dmk_nvme_done *d)
{
	struct dmki_nvme_slot *s = &q->slots[late];

	s->state = DMKI_SLOT_LOST;
	q->stats.timeouts++;
	d->tag = s->tag;
	d->status = 0;
	d->err = dmki_fail(-ETIMEDOUT,
			   "NVMe %s of LBA %" PRIu64 "+%u (queue %u, cid %u) did not complete within %u ms",
			   op_name(s->opc), s->lba, s->nlb, q->qid, late, c->timeout_ms);
}

int dmk_nvme_reap(struct dmk_nvme *c, unsigned queue, struct dmk_nvme_done *done, unsigned max,
		  unsigned min, unsigned *count)
{
	struct dmki_nvme_queue *q;
	unsigned got = 0;

	if (!c || !done || !count || queue >= c->nio || !max || min > max)
		return dmki_fail(-EINVAL, "dmk_nvme_reap: bad queue %u, max %u or min %u", queue, max, min);
	q = &c->io[queue];
	pthread_mutex_lock(&q->lock);
	dmki_nvme_reap(q);
	for (;;) {
		uint64_t tmo = (uint64_t)c->timeout_ms * 1000000u, t0;
		unsigned late = 0;

		while (q->nadone && got < max) {
			unsigned cid = q->adone[q->adone_head];
			struct dmki_nvme_slot *s = &q->slots[cid];
			int err = 0;

			q->adone_head = (q->adone_head + 1) % q->nslots;
			q->nadone--;
			finish(q, cid, &err);
			done[got].tag = s->tag;
			done[got].status = s->status;
			done[got].err = err;
			got++;
		}
		/* Commands past their time end now, whatever @min: a caller
		 * that only polls (min 0) must see them end too. */
		while (got < max && (t0 = oldest(q, true, &late)) != UINT64_MAX &&
		       dmki_nvme_now_ns() >= t0 + tmo)
			lose(c, q, late, &done[got++]);
		if (got >= min || got == max)
			break;
		t0 = oldest(q, true, &late);
		if (t0 == UINT64_MAX)
			break;		/* nothing in flight */
		dmki_nvme_wait(q, t0 + tmo);	/* a completion, or the oldest's time up */
	}
	pthread_mutex_unlock(&q->lock);
	*count = got;
	return 0;
}
