/* SPDX-License-Identifier: MIT */
/*
 * The edu driver's device-independent half: a transfer becomes DMA
 * prepares, each prepare's segments become edu commands (one each: edu
 * moves one contiguous range per command), and the log says which of them
 * went through the bounce pool. No registers here; the caller's run()
 * drives the device (or, in the host tests, a software edu on the sim
 * space).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <dmakit/dma.h>

#include "../../core/error_priv.h"
#include "../../dma/dma_priv.h"
#include "edu_priv.h"

#define EDU_REACH_END (UINT64_C(1) << DMK_EDU_REACH_BITS)

int dmki_edu_check_range(uint64_t buf_off, uint64_t len)
{
	if (!len)
		return dmki_fail(-EINVAL, "edu transfer of 0 bytes");
	if (buf_off >= DMK_EDU_BUF_END || len > DMK_EDU_BUF_END - buf_off)
		return dmki_fail(-EINVAL, "edu buffer range [%" PRIu64 ", +%" PRIu64 ") goes past "
				 "offset %u (QEMU 7.2 aborts the VM on a DMA ending at the "
				 "end of its %u-byte buffer)", buf_off, len, DMK_EDU_BUF_END,
				 DMK_EDU_BUF_SIZE);
	return 0;
}

int dmki_edu_plan(const struct dmk_seg *segs, size_t nsegs, uint64_t buf_off, bool to_ram,
		  uint32_t cmd_bits, struct dmki_edu_cmd *cmds)
{
	uint64_t at = buf_off;

	if (!segs || !nsegs || !cmds)
		return dmki_fail(-EINVAL, "edu plan: no segments");
	if (cmd_bits & ~DMKI_EDU_CMD_IRQ)
		return dmki_fail(-EINVAL, "edu plan: unknown command bits %#x", cmd_bits);
	for (size_t i = 0; i < nsegs; i++) {
		const struct dmk_seg *s = &segs[i];

		if (!s->len || s->len > DMK_EDU_BUF_END)
			return dmki_fail(-EINVAL, "segment %zu of %" PRIu64 " bytes: edu moves 1 to %u "
					 "bytes a command", i, s->len, DMK_EDU_BUF_END);
		if (s->addr >= EDU_REACH_END || s->len > EDU_REACH_END - s->addr)
			return dmki_fail(-EINVAL, "segment %zu at %#" PRIx64 " (+%" PRIu64 ") is beyond "
					 "edu's %u-bit reach", i, s->addr, s->len,
					 DMK_EDU_REACH_BITS);
		if (at >= DMK_EDU_BUF_END || s->len > DMK_EDU_BUF_END - at)
			return dmki_fail(-EINVAL, "segment %zu would end past edu buffer offset %u",
					 i, DMK_EDU_BUF_END);
		cmds[i].cnt = (uint32_t)s->len;
		cmds[i].cmd = DMKI_EDU_CMD_RUN | cmd_bits | (to_ram ? DMKI_EDU_CMD_TO_RAM : 0);
		if (to_ram) {
			cmds[i].src = DMKI_EDU_BUF_BASE + at;
			cmds[i].dst = s->addr;
		} else {
			cmds[i].src = s->addr;
			cmds[i].dst = DMKI_EDU_BUF_BASE + at;
		}
		at += s->len;
	}
	return 0;
}

void dmki_edu_log_free(struct dmki_edu_log *log)
{
	free(log->segs);
	free(log->cmds);
	memset(log, 0, sizeof(*log));
}

static int reserve(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 16;
	void *n;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	n = realloc(*arr, ncap * elem);
	if (!n)
		return dmki_fail(-ENOMEM, "out of memory for %zu edu commands", need);
	*arr = n;
	*cap = ncap;
	return 0;
}

/* Whether device address @addr lies in one of @pool's chunks. */
static bool in_pool(const struct dmk_bounce_pool *pool, uint64_t addr)
{
	if (!pool)
		return false;
	for (size_t c = 0; c < pool->nchunks; c++) {
		uint64_t dev = dmki_bounce_dev(pool, c);

		if (addr >= dev && addr - dev < pool->chunk)
			return true;
	}
	return false;
}

int dmki_edu_transfer(struct dmk_dma *dma, struct dmk_bounce_pool *pool,
		      const struct dmk_mem *mem, void *buf, uint64_t offset, uint64_t len,
		      bool to_ram, uint64_t buf_off, uint32_t cmd_bits, dmki_edu_run_fn run,
		      void *ctx, struct dmki_edu_log *log, bool *stuck)
{
	enum dmk_dir dir = to_ram ? DMK_FROM_DEVICE : DMK_TO_DEVICE;
	uint64_t done = 0;
	int err;

	*stuck = false;
	memset(&log->x, 0, sizeof(log->x));
	log->nsegs = 0;
	err = dmki_edu_check_range(buf_off, len);
	if (err)
		return err;
	if (mem) {
		enum dmk_dir md = dmk_mem_dir(mem);

		if (md != dir && md != DMK_BIDIRECTIONAL)
			return dmki_fail(-EINVAL, "edu %s needs a descriptor the device may %s",
					 to_ram ? "read" : "write", to_ram ? "write" : "read");
	} else if (!buf) {
		return dmki_fail(-EINVAL, "edu transfer with no buffer");
	}

	while (done < len) {
		const struct dmk_seg *segs;
		struct dmk_dma_info info;
		uint64_t covered = 0;
		size_t n;

		if (mem)
			err = dmk_dma_prepare(dma, mem, offset + done, len - done, &covered);
		else
			err = dmk_dma_prepare_buf(dma, (char *)buf + done, len - done, dir,
						  &covered);
		if (err)
			return err;
		log->x.prepares++;
		segs = dmk_dma_segs(dma, &n);
		dmk_dma_info(dma, &info);
		err = reserve((void **)&log->cmds, &log->cmds_cap, n, sizeof(*log->cmds));
		if (!err)
			err = reserve((void **)&log->segs, &log->segs_cap, log->nsegs + n,
				      sizeof(*log->segs));
		if (!err && (!covered || !n))
			err = dmki_fail(-EIO, "a DMA prepare covered nothing of %" PRIu64 " bytes",
					len - done);
		if (!err)
			err = dmki_edu_plan(segs, n, buf_off + done, to_ram, cmd_bits, log->cmds);
		if (!err)
			err = dmk_dma_sync(dma, DMK_SYNC_FOR_DEVICE);
		if (err) {
			dmk_dma_complete(dma);
			return err;
		}
		log->x.bounced += info.bounced;
		log->x.bounce_segs += info.bounce_segs;
		for (size_t i = 0; i < n; i++) {
			struct dmk_edu_seg *ls = &log->segs[log->nsegs];

			ls->addr = segs[i].addr;
			ls->len = (uint32_t)segs[i].len;
			ls->buf_off = (uint32_t)(to_ram ? log->cmds[i].src : log->cmds[i].dst) -
				      (uint32_t)DMKI_EDU_BUF_BASE;
			ls->bounced = in_pool(pool, segs[i].addr);
			err = run(ctx, &log->cmds[i]);
			if (err) {
				*stuck = true;	/* the device may still use the addresses */
				return err;
			}
			log->nsegs++;
			log->x.nsegs++;
			log->x.len += segs[i].len;
		}
		err = dmk_dma_sync(dma, DMK_SYNC_FOR_CPU);
		dmk_dma_complete(dma);
		if (err)
			return err;
		done += covered;
	}
	return 0;
}
