/* SPDX-License-Identifier: MIT */
/*
 * NVMe controller: registers, reset and enable (CAP, CC, CSTS, with the
 * waits CAP.TO allows), the memory the driver registers once at open, and
 * open / close / info / stats.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/pci.h>
#include <dmakit/region.h>
#include <dmakit/space.h>

#include "core/bits.h"
#include "core/error_priv.h"
#include "pci/pci_priv.h"
#include "nvme_priv.h"

uint32_t dmki_nvme_rd32(const struct dmk_nvme *c, unsigned off)
{
	return le32toh(*(volatile const uint32_t *)(c->bar + off));
}

void dmki_nvme_wr32(struct dmk_nvme *c, unsigned off, uint32_t v)
{
	*(volatile uint32_t *)(c->bar + off) = htole32(v);
}

/* 64-bit registers as two dword accesses, low half first. */
static uint64_t rd64(const struct dmk_nvme *c, unsigned off)
{
	uint64_t lo = dmki_nvme_rd32(c, off);

	return lo | (uint64_t)dmki_nvme_rd32(c, off + 4) << 32;
}

static void wr64(struct dmk_nvme *c, unsigned off, uint64_t v)
{
	dmki_nvme_wr32(c, off, (uint32_t)v);
	dmki_nvme_wr32(c, off + 4, (uint32_t)(v >> 32));
}

uint64_t dmki_nvme_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void dmk_nvme_opts_init(struct dmk_nvme_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->io_queues = 1;
	opts->queue_depth = 64;
	opts->admin_depth = 32;
	opts->timeout_ms = DMKI_NVME_DEF_TIMEOUT_MS;
	opts->nsid = 1;
	opts->dptr = DMK_NVME_DPTR_AUTO;
}

/* Wait for (CSTS & @mask) == @want within CAP.TO; -ETIMEDOUT or -EIO. */
static int wait_csts(struct dmk_nvme *c, uint32_t mask, uint32_t want, const char *what)
{
	uint64_t deadline = dmki_nvme_now_ns() + (uint64_t)c->info.ready_timeout_ms * 1000000u;
	uint32_t csts;

	for (;;) {
		csts = dmki_nvme_rd32(c, DMKI_NVME_REG_CSTS);
		if (csts == UINT32_MAX)
			return dmki_fail(-EIO, "%s: CSTS reads all ones while waiting to %s: the device is gone",
					 dmk_pci_bdf(c->pci), what);
		if ((csts & mask) == want)
			return 0;
		if ((csts & DMKI_NVME_CSTS_CFS) && want != 0)
			return dmki_fail(-EIO, "%s: controller fatal status (CSTS.CFS, CSTS %#x) while waiting to %s",
					 dmk_pci_bdf(c->pci), csts, what);
		if (dmki_nvme_now_ns() > deadline)
			return dmki_fail(-ETIMEDOUT, "%s: controller did not %s within CAP.TO = %u ms (CSTS %#x)",
					 dmk_pci_bdf(c->pci), what, c->info.ready_timeout_ms, csts);
		usleep(1000);
	}
}

static int disable(struct dmk_nvme *c)
{
	uint32_t cc = dmki_nvme_rd32(c, DMKI_NVME_REG_CC);
	uint32_t csts = dmki_nvme_rd32(c, DMKI_NVME_REG_CSTS);

	if (!(cc & DMKI_NVME_CC_EN) && !(csts & DMKI_NVME_CSTS_RDY))
		return 0;
	dmki_nvme_wr32(c, DMKI_NVME_REG_CC, cc & ~DMKI_NVME_CC_EN);
	return wait_csts(c, DMKI_NVME_CSTS_RDY, 0, "stop (CC.EN = 0)");
}

static int check_opts(const struct dmk_nvme_opts *o)
{
	if (o->io_queues < 1 || o->io_queues > 64)
		return dmki_fail(-EINVAL, "io_queues %u is not 1 to 64", o->io_queues);
	if (o->queue_depth < 2 || o->queue_depth > 4096)
		return dmki_fail(-EINVAL, "queue_depth %u is not 2 to 4096", o->queue_depth);
	if (o->admin_depth < 2 || o->admin_depth > 4096)
		return dmki_fail(-EINVAL, "admin_depth %u is not 2 to 4096", o->admin_depth);
	if (!o->timeout_ms)
		return dmki_fail(-EINVAL, "timeout_ms is 0");
	if (!o->nsid || o->nsid == UINT32_MAX)
		return dmki_fail(-EINVAL, "namespace ID %#x is not a valid NSID", o->nsid);
	if ((unsigned)o->dptr > DMK_NVME_DPTR_SGL)
		return dmki_fail(-EINVAL, "unknown data pointer kind %d", (int)o->dptr);
	return 0;
}

static size_t pages_of(size_t bytes)
{
	return (size_t)align_up(bytes, DMKI_NVME_PAGE);
}

/*
 * One registration for the admin queues, the identify page, and each I/O
 * queue's rings and list pages; checked to be device-contiguous, since a
 * queue of more than one page is handed over as one address.
 */
static int alloc_memory(struct dmk_nvme *c, unsigned depth, unsigned adepth)
{
	size_t per_io = pages_of((size_t)depth * DMKI_NVME_SQE_SIZE) +
			pages_of((size_t)depth * DMKI_NVME_CQE_SIZE) +
			(size_t)(depth - 1) * DMKI_NVME_PAGE;
	size_t len = pages_of((size_t)adepth * DMKI_NVME_SQE_SIZE) +
		     pages_of((size_t)adepth * DMKI_NVME_CQE_SIZE) + DMKI_NVME_PAGE +
		     per_io * c->opts.io_queues;
	struct dmk_region_info ri;
	uint8_t *mem;
	int err;

	err = dmki_nvme_contig_alloc(c->space, len, &mem, &c->mem_map);
	if (err)
		return err;
	err = dmk_region_register(c->space, mem, len, DMK_PROT_RW, &c->region);
	if (err) {
		dmki_nvme_contig_free(mem, c->mem_map);
		return err;
	}
	c->mem = mem;
	c->mem_len = len;
	if (!dmk_region_info(c->region, &ri) && ri.dev_runs != 1)
		return dmki_fail(-EINVAL, "the driver's %zu bytes of queue memory lie in %zu device runs of a %s space; the controller needs one",
				 len, ri.dev_runs, dmk_space_kind(c->space));
	for (size_t off = 0; off < len; off += DMKI_NVME_PAGE) {
		uint64_t dev = 0;

		dmk_space_translate(c->space, c->mem + off, &dev);
		if (!off)
			c->mem_dev = dev;
		else if (dev != c->mem_dev + off)
			return dmki_fail(-EINVAL, "the driver's queue memory is not device-contiguous in a %s space (page %zu at %#" PRIx64 ")",
					 dmk_space_kind(c->space), off / DMKI_NVME_PAGE, dev);
	}
	return 0;
}

static void free_memory(struct dmk_nvme *c)
{
	if (c->region)
		dmk_region_unregister(c->region);
	if (c->mem)
		dmki_nvme_contig_free(c->mem, c->mem_map);
	c->region = NULL;
	c->mem = NULL;
}

/* Lay out the admin queues and program AQA, ASQ, ACQ. */
static int setup_admin(struct dmk_nvme *c, unsigned adepth)
{
	size_t sq_len = pages_of((size_t)adepth * DMKI_NVME_SQE_SIZE);
	size_t cq_len = pages_of((size_t)adepth * DMKI_NVME_CQE_SIZE);
	int err;

	err = dmki_nvme_queue_init(c, &c->admin, 0, adepth, c->mem, c->mem_dev, c->mem + sq_len,
				   c->mem_dev + sq_len, c->nvec ? c->efds[0] : -1, 0);
	if (err)
		return err;
	c->idbuf = c->mem + sq_len + cq_len;
	c->idbuf_dev = c->mem_dev + sq_len + cq_len;
	dmki_nvme_wr32(c, DMKI_NVME_REG_AQA, (adepth - 1) << 16 | (adepth - 1));
	wr64(c, DMKI_NVME_REG_ASQ, c->admin.sq_dev);
	wr64(c, DMKI_NVME_REG_ACQ, c->admin.cq_dev);
	return 0;
}

/* Lay out I/O queue @i (qid i + 1) and its slots' list pages and DMA commands. */
static int setup_io_queue(struct dmk_nvme *c, unsigned i, unsigned depth, size_t adm_len)
{
	size_t sq_len = pages_of((size_t)depth * DMKI_NVME_SQE_SIZE);
	size_t cq_len = pages_of((size_t)depth * DMKI_NVME_CQE_SIZE);
	size_t per_io = sq_len + cq_len + (size_t)(depth - 1) * DMKI_NVME_PAGE;
	size_t base = adm_len + i * per_io;
	struct dmki_nvme_queue *q = &c->io[i];
	unsigned qid = i + 1;
	unsigned vec = c->nvec ? (qid < c->nvec ? qid : qid % c->nvec) : 0;
	int err;

	err = dmki_nvme_queue_init(c, q, (uint16_t)qid, depth, c->mem + base, c->mem_dev + base,
				   c->mem + base + sq_len, c->mem_dev + base + sq_len,
				   c->nvec ? c->efds[vec] : -1, vec);
	if (err)
		return err;
	for (unsigned s = 0; s < q->nslots; s++) {
		struct dmki_nvme_slot *sl = &q->slots[s];
		size_t off = base + sq_len + cq_len + (size_t)s * DMKI_NVME_PAGE;

		sl->list.va = c->mem + off;
		sl->list.dev = c->mem_dev + off;
		err = dmk_dma_create(c->space, &c->spec_prp, c->pool, &sl->dma_prp);
		if (!err && c->info.sgl)
			err = dmk_dma_create(c->space, &c->spec_sgl, c->pool, &sl->dma_sgl);
		if (err)
			return err;
	}
	return 0;
}

static void shutdown_ctrl(struct dmk_nvme *c)
{
	uint32_t cc = dmki_nvme_rd32(c, DMKI_NVME_REG_CC);

	if (cc & DMKI_NVME_CC_EN) {
		dmki_nvme_wr32(c, DMKI_NVME_REG_CC, (cc & ~(3u << 14)) | DMKI_NVME_CC_SHN_NORMAL);
		wait_csts(c, DMKI_NVME_CSTS_SHST_MASK, DMKI_NVME_CSTS_SHST_DONE, "finish shutdown");
	}
	disable(c);
}

int dmk_nvme_close(struct dmk_nvme *c)
{
	if (!c)
		return 0;
	if (c->enabled) {
		dmki_nvme_delete_io_queues(c);
		shutdown_ctrl(c);
	}
	if (c->io)
		for (unsigned i = 0; i < c->opts.io_queues; i++)
			dmki_nvme_queue_fini(&c->io[i]);
	dmki_nvme_queue_fini(&c->admin);
	free(c->io);
	if (c->pool)
		dmk_bounce_pool_destroy(c->pool);
	if (c->nvec)
		dmk_pci_irq_disable(c->pci);
	free(c->efds);
	free_memory(c);
	free(c);
	return 0;
}

static int read_cap(struct dmk_nvme *c)
{
	uint64_t cap = rd64(c, DMKI_NVME_REG_CAP);
	unsigned mpsmin = (unsigned)(cap >> 48) & 0xf, mpsmax = (unsigned)(cap >> 52) & 0xf;

	if (cap == UINT64_MAX || !cap)
		return dmki_fail(-EIO, "%s: CAP reads %#" PRIx64 ": no controller answers",
				 dmk_pci_bdf(c->pci), cap);
	if (!((cap >> 37) & 1))
		return dmki_fail(-EINVAL, "%s: CAP.CSS %#x lacks the NVM command set",
				 dmk_pci_bdf(c->pci), (unsigned)(cap >> 37) & 0xff);
	if (mpsmin > 0 || mpsmax < mpsmin)
		return dmki_fail(-EINVAL, "%s: controller pages %u to %u KiB exclude the host's 4 KiB",
				 dmk_pci_bdf(c->pci), 4u << mpsmin, 4u << mpsmax);
	c->info.cap = cap;
	c->info.version = dmki_nvme_rd32(c, DMKI_NVME_REG_VS);
	c->info.mqes = (unsigned)(cap & 0xffff) + 1;
	c->info.dstrd = 4u << ((cap >> 32) & 0xf);
	c->info.ready_timeout_ms = (unsigned)((cap >> 24) & 0xff) * 500u;
	if (!c->info.ready_timeout_ms)
		c->info.ready_timeout_ms = 500;
	c->info.page_size = DMKI_NVME_PAGE;
	return 0;
}

static int enable(struct dmk_nvme *c)
{
	dmki_nvme_wr32(c, DMKI_NVME_REG_CC,
		       DMKI_NVME_CC_EN | DMKI_NVME_CC_IOSQES | DMKI_NVME_CC_IOCQES);
	return wait_csts(c, DMKI_NVME_CSTS_RDY, DMKI_NVME_CSTS_RDY, "become ready (CC.EN = 1)");
}

static int setup_irqs(struct dmk_nvme *c)
{
	unsigned count = 0;
	int err;

	dmk_pci_irq_count(c->pci, DMK_PCI_IRQ_MSIX, &count);
	if (!count)
		return dmki_fail(-ENOTSUP, "%s: use_msix asked for, but the device has no MSI-X",
				 dmk_pci_bdf(c->pci));
	c->nvec = c->opts.io_queues + 1 < count ? c->opts.io_queues + 1 : count;
	c->efds = calloc(c->nvec, sizeof(*c->efds));
	if (!c->efds) {
		c->nvec = 0;
		return dmki_fail(-ENOMEM, "no memory for %u eventfds", count);
	}
	err = dmk_pci_irq_enable(c->pci, DMK_PCI_IRQ_MSIX, c->nvec, c->efds);
	if (err)
		c->nvec = 0;
	return err;
}

int dmk_nvme_open(struct dmk_space *space, struct dmk_pci *pci,
		  const struct dmk_nvme_opts *opts, struct dmk_nvme **out)
{
	struct dmk_nvme *c;
	void *bar = NULL;
	unsigned depth, adepth, granted = 0;
	size_t adm_len;
	int err;

	if (!space || !pci || !out)
		return dmki_fail(-EINVAL, "dmk_nvme_open needs a space, a device and a result pointer");
	if (!dmki_pci_in_space(pci, space))
		return dmki_fail(-EINVAL, "%s is not open in the space given to dmk_nvme_open (a uio device needs a phys space)",
				 dmk_pci_bdf(pci));
	c = calloc(1, sizeof(*c));
	if (!c)
		return dmki_fail(-ENOMEM, "no memory for an NVMe controller");
	c->space = space;
	c->pci = pci;
	if (opts)
		c->opts = *opts;
	else
		dmk_nvme_opts_init(&c->opts);
	err = check_opts(&c->opts);
	if (err)
		goto fail;
	c->timeout_ms = c->opts.timeout_ms;
	err = dmk_pci_map_bar(pci, 0, &bar, &c->bar_len);
	if (err)
		goto fail;
	c->bar = bar;
	if (c->bar_len < DMKI_NVME_REG_DBS + 0x100) {
		err = dmki_fail(-EINVAL, "%s: BAR0 of %zu bytes is too small for an NVMe controller",
				dmk_pci_bdf(pci), c->bar_len);
		goto fail;
	}
	err = read_cap(c);
	if (err)
		goto fail;
	depth = c->opts.queue_depth < c->info.mqes ? c->opts.queue_depth : c->info.mqes;
	adepth = c->opts.admin_depth < c->info.mqes ? c->opts.admin_depth : c->info.mqes;
	if (DMKI_NVME_REG_DBS + (2u * c->opts.io_queues + 2) * c->info.dstrd > c->bar_len) {
		err = dmki_fail(-EINVAL, "%s: BAR0 of %zu bytes has no doorbells for %u queues",
				dmk_pci_bdf(pci), c->bar_len, c->opts.io_queues);
		goto fail;
	}
	err = dmk_pci_enable_bus_master(pci);
	if (!err)
		err = disable(c);
	if (!err && c->opts.use_msix)
		err = setup_irqs(c);
	if (!err)
		err = alloc_memory(c, depth, adepth);
	if (!err)
		err = setup_admin(c, adepth);
	if (!err)
		err = enable(c);
	if (err)
		goto fail;
	c->enabled = true;
	err = dmki_nvme_identify(c);
	if (!err)
		err = dmki_nvme_specs(c);
	if (err)
		goto fail;
	if (c->opts.bounce_size) {
		err = dmk_bounce_pool_create(space, &c->spec_prp, c->opts.bounce_size, &c->pool);
		if (err)
			goto fail;
	}
	err = dmki_nvme_set_queues(c, c->opts.io_queues, &granted);
	if (err)
		goto fail;
	c->io = calloc(c->opts.io_queues, sizeof(*c->io));
	if (!c->io) {
		err = dmki_fail(-ENOMEM, "no memory for %u I/O queues", c->opts.io_queues);
		goto fail;
	}
	adm_len = pages_of((size_t)adepth * DMKI_NVME_SQE_SIZE) +
		  pages_of((size_t)adepth * DMKI_NVME_CQE_SIZE) + DMKI_NVME_PAGE;
	c->nio = c->opts.io_queues < granted ? c->opts.io_queues : granted;
	for (unsigned i = 0; i < c->nio; i++) {
		err = setup_io_queue(c, i, depth, adm_len);
		if (!err)
			err = dmki_nvme_create_io_queue(c, &c->io[i]);
		if (err)
			goto fail;
	}
	c->info.io_queues = c->nio;
	c->info.queue_depth = depth;
	c->info.msix = c->nvec > 0;
	*out = c;
	return 0;
fail:
	{
		/* Closing may fail quietly; keep the reason of the failure. */
		char why[256];

		snprintf(why, sizeof(why), "%s", dmk_last_error());
		dmk_nvme_close(c);
		return dmki_fail(err, "%s", why);
	}
}

int dmk_nvme_info(const struct dmk_nvme *c, struct dmk_nvme_info *info)
{
	*info = c->info;
	return 0;
}

int dmk_nvme_stats(struct dmk_nvme *c, struct dmk_nvme_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < c->nio; i++) {
		const struct dmk_nvme_stats *q = &c->io[i].stats;

		st->commands += q->commands;
		st->errors += q->errors;
		st->timeouts += q->timeouts;
		st->bytes += q->bytes;
		st->segments += q->segments;
		st->prp_commands += q->prp_commands;
		st->sgl_commands += q->sgl_commands;
		st->split += q->split;
		st->bounced += q->bounced;
		st->interrupts += q->interrupts;
	}
	return 0;
}
