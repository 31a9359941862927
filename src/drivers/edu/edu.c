/* SPDX-License-Identifier: MIT */
/*
 * The edu reference driver (see <dmakit/edu.h>): registers, completion by
 * polling or by MSI, and the handle. The transfer logic is in plan.c.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dmakit/edu.h>
#include <dmakit/pci.h>
#include <dmakit/spec.h>

#include "../../core/error_priv.h"
#include "../../pci/pci_priv.h"
#include "../../space/vfio_priv.h"
#include "edu_priv.h"

#define DEFAULT_TIMEOUT_MS 5000u
#define DEFAULT_BOUNCE (64u << 10)

struct dmk_edu {
	struct dmk_space *space;
	struct dmk_pci *pci;
	volatile uint8_t *bar;
	struct dmk_edu_opts opts;
	struct dmk_bounce_pool *pool;
	struct dmk_dma *dma;
	int efd;			/* MSI eventfd, owned by @pci; -1 when polling */
	pthread_mutex_t lock;		/* one transfer at a time */
	bool broken;			/* a command timed out */
	bool stuck;			/* @dma is still prepared after a failure */
	bool transferred;		/* @log describes a transfer */
	struct dmki_edu_log log;
};

static uint32_t rd32(const struct dmk_edu *e, unsigned off)
{
	return *(volatile uint32_t *)(e->bar + off);
}

static void wr32(struct dmk_edu *e, unsigned off, uint32_t v)
{
	*(volatile uint32_t *)(e->bar + off) = v;
}

static uint64_t rd64(const struct dmk_edu *e, unsigned off)
{
	return *(volatile uint64_t *)(e->bar + off);
}

static void wr64(struct dmk_edu *e, unsigned off, uint64_t v)
{
	*(volatile uint64_t *)(e->bar + off) = v;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool running(const struct dmk_edu *e)
{
	return rd64(e, DMKI_EDU_REG_DMA_CMD) & DMKI_EDU_CMD_RUN;
}

/* Wait for the run bit to clear, reading it every millisecond. */
static int wait_poll(struct dmk_edu *e, int64_t until)
{
	const struct timespec ms = { .tv_nsec = 1000000 };

	while (running(e)) {
		if (now_ms() > until)
			return -ETIMEDOUT;
		nanosleep(&ms, NULL);
	}
	return 0;
}

/* Sleep on the MSI eventfd, acknowledge, and check the run bit is clear. */
static int wait_msi(struct dmk_edu *e, int64_t until)
{
	struct pollfd pfd = { .fd = e->efd, .events = POLLIN };
	uint64_t count;

	for (;;) {
		int64_t left = until - now_ms();
		int rc;

		if (left < 0)
			left = 0;
		rc = poll(&pfd, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return dmki_fail(-errno, "poll on the edu interrupt's eventfd failed");
		if (rc == 0)
			return -ETIMEDOUT;
		if (read(e->efd, &count, sizeof(count)) != sizeof(count))
			return dmki_fail(-EIO, "reading the edu interrupt's eventfd failed");
		e->log.x.irqs += count;
		/* edu raises status bit 0x100; writing it to 0x64 clears it. */
		if (rd32(e, DMKI_EDU_REG_IRQ_STATUS) & DMKI_EDU_IRQ_DMA)
			wr32(e, DMKI_EDU_REG_IRQ_ACK, DMKI_EDU_IRQ_DMA);
		if (!running(e))
			return 0;
	}
}

static int run_cmd(void *ctx, const struct dmki_edu_cmd *c)
{
	struct dmk_edu *e = ctx;
	int64_t until = now_ms() + e->opts.timeout_ms;
	int err;

	/* The registers ignore writes while a command runs; none should. */
	err = wait_poll(e, until);
	if (err)
		return dmki_fail(err, "edu was still busy before a command");
	wr64(e, DMKI_EDU_REG_DMA_SRC, c->src);
	wr64(e, DMKI_EDU_REG_DMA_DST, c->dst);
	wr64(e, DMKI_EDU_REG_DMA_CNT, c->cnt);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);	/* memory synced before the run bit */
	wr64(e, DMKI_EDU_REG_DMA_CMD, c->cmd);
	err = e->efd >= 0 ? wait_msi(e, until) : wait_poll(e, until);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);	/* the device's bytes before ours */
	if (err == -ETIMEDOUT)
		return dmki_fail(err, "edu DMA of %u bytes (%#llx -> %#llx) did not finish in %u ms",
				 c->cnt, (unsigned long long)c->src, (unsigned long long)c->dst,
				 e->opts.timeout_ms);
	return err;
}

int dmk_edu_open(struct dmk_space *space, struct dmk_pci *pci, const struct dmk_edu_opts *opts,
		 struct dmk_edu **out)
{
	struct dmk_edu_opts o = { 0 };
	struct dmk_dma_spec spec;
	struct dmk_edu *e;
	bool temp_reach = false;
	unsigned nmsi = 0;
	size_t len;
	void *va;
	int err;

	if (!space || !pci || !out)
		return dmki_fail(-EINVAL, "dmk_edu_open: no space, device or place for the handle");
	if (!dmki_space_is_vfio(space))
		return dmki_fail(-EINVAL, "dmk_edu_open: the space is not vfio");
	if (pci->space != space)
		return dmki_fail(-EINVAL, "dmk_edu_open: %s was opened in another space",
				 dmk_pci_bdf(pci));
	if (opts)
		o = *opts;
	if (o.flags & ~DMK_EDU_NO_REACH)
		return dmki_fail(-EINVAL, "dmk_edu_open: unknown flags %#x", o.flags);
	if (o.wait != DMK_EDU_WAIT_POLL && o.wait != DMK_EDU_WAIT_MSI)
		return dmki_fail(-EINVAL, "dmk_edu_open: unknown wait mode %d", (int)o.wait);
	if (!o.timeout_ms)
		o.timeout_ms = DEFAULT_TIMEOUT_MS;
	if (!o.bounce_size)
		o.bounce_size = DEFAULT_BOUNCE;

	err = dmk_pci_map_bar(pci, 0, &va, &len);
	if (err)
		return err;
	if (len < 0x100 || *(volatile uint32_t *)va != DMKI_EDU_ID)
		return dmki_fail(-ENODEV, "%s is not edu: BAR0 of %zu bytes, identification %#x",
				 dmk_pci_bdf(pci), len, len >= 4 ? *(volatile uint32_t *)va : 0);
	if (o.wait == DMK_EDU_WAIT_MSI) {
		err = dmk_pci_irq_count(pci, DMK_PCI_IRQ_MSI, &nmsi);
		if (err)
			return err;
		if (!nmsi)
			return dmki_fail(-ENOTSUP, "%s has no MSI", dmk_pci_bdf(pci));
	}
	err = dmk_pci_enable_bus_master(pci);
	if (err)
		return err;
	if (!(o.flags & DMK_EDU_NO_REACH)) {
		err = dmk_pci_set_reach(pci, DMK_EDU_REACH_BITS);
		if (err)
			return err;
	} else {
		/* Only for the pool; memory already above 2^28 makes it fail. */
		temp_reach = !dmk_pci_set_reach(pci, DMK_EDU_REACH_BITS);
	}

	e = calloc(1, sizeof(*e));
	if (!e)
		return dmki_fail(-ENOMEM, "out of memory for an edu handle");
	e->space = space;
	e->pci = pci;
	e->bar = va;
	e->opts = o;
	e->efd = -1;
	dmk_dma_spec_preset(&spec, "edu");
	err = dmk_bounce_pool_create(space, &spec, o.bounce_size, &e->pool);
	if (temp_reach)
		dmk_pci_set_reach(pci, 64);
	if (err)
		goto fail;
	err = dmk_dma_create(space, &spec, e->pool, &e->dma);
	if (err)
		goto fail;
	if (o.wait == DMK_EDU_WAIT_MSI) {
		err = dmk_pci_irq_enable(pci, DMK_PCI_IRQ_MSI, 1, &e->efd);
		if (err) {
			e->efd = -1;
			goto fail;
		}
		/* Nothing old may count as a completion. */
		wr32(e, DMKI_EDU_REG_IRQ_ACK, rd32(e, DMKI_EDU_REG_IRQ_STATUS));
	}
	pthread_mutex_init(&e->lock, NULL);
	*out = e;
	return 0;
fail:
	dmk_dma_destroy(e->dma);
	dmk_bounce_pool_destroy(e->pool);
	free(e);
	return err;
}

int dmk_edu_close(struct dmk_edu *e)
{
	if (!e)
		return 0;
	if (e->stuck) {
		if (running(e))
			return dmki_fail(-EBUSY, "edu still runs a command that timed out");
		dmk_dma_complete(e->dma);
		e->stuck = false;
	}
	if (e->efd >= 0)
		dmk_pci_irq_disable(e->pci);
	dmk_dma_destroy(e->dma);
	dmk_bounce_pool_destroy(e->pool);
	dmki_edu_log_free(&e->log);
	pthread_mutex_destroy(&e->lock);
	free(e);
	return 0;
}

static int transfer(struct dmk_edu *e, uint32_t buf_off, const struct dmk_mem *mem, void *buf,
		    uint64_t offset, size_t len, bool to_ram)
{
	bool stuck = false;
	int err;

	if (!e)
		return dmki_fail(-EINVAL, "no edu handle");
	pthread_mutex_lock(&e->lock);
	if (e->broken) {
		pthread_mutex_unlock(&e->lock);
		return dmki_fail(-EIO, "the edu handle is unusable after a command timed out");
	}
	err = dmki_edu_transfer(e->dma, e->pool, mem, buf, offset, len, to_ram, buf_off,
				e->efd >= 0 ? DMKI_EDU_CMD_IRQ : 0, run_cmd, e, &e->log, &stuck);
	e->transferred = true;
	if (stuck) {
		e->stuck = true;
		e->broken = true;
	}
	pthread_mutex_unlock(&e->lock);
	return err;
}

int dmk_edu_write(struct dmk_edu *edu, uint32_t buf_off, const void *buf, size_t len)
{
	if (!buf)
		return dmki_fail(-EINVAL, "dmk_edu_write: no buffer");
	return transfer(edu, buf_off, NULL, (void *)(uintptr_t)buf, 0, len, false);
}

int dmk_edu_read(struct dmk_edu *edu, uint32_t buf_off, void *buf, size_t len)
{
	if (!buf)
		return dmki_fail(-EINVAL, "dmk_edu_read: no buffer");
	return transfer(edu, buf_off, NULL, buf, 0, len, true);
}

int dmk_edu_write_mem(struct dmk_edu *edu, uint32_t buf_off, const struct dmk_mem *mem,
		      uint64_t offset, size_t len)
{
	if (!mem)
		return dmki_fail(-EINVAL, "dmk_edu_write_mem: no descriptor");
	return transfer(edu, buf_off, mem, NULL, offset, len, false);
}

int dmk_edu_read_mem(struct dmk_edu *edu, uint32_t buf_off, const struct dmk_mem *mem,
		     uint64_t offset, size_t len)
{
	if (!mem)
		return dmki_fail(-EINVAL, "dmk_edu_read_mem: no descriptor");
	return transfer(edu, buf_off, mem, NULL, offset, len, true);
}

const struct dmk_edu_seg *dmk_edu_last(const struct dmk_edu *edu, struct dmk_edu_xfer *xfer,
				       size_t *nsegs)
{
	if (xfer)
		memset(xfer, 0, sizeof(*xfer));
	if (nsegs)
		*nsegs = 0;
	if (!edu || !edu->transferred)
		return NULL;
	if (xfer)
		*xfer = edu->log.x;
	if (nsegs)
		*nsegs = edu->log.nsegs;
	return edu->log.segs;
}

int dmk_edu_bounce_stats(struct dmk_edu *edu, struct dmk_bounce_stats *stats)
{
	if (!edu || !stats)
		return dmki_fail(-EINVAL, "dmk_edu_bounce_stats: no handle or no place for the counters");
	return dmk_bounce_pool_stats(edu->pool, stats);
}
