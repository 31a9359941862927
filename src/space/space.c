/* SPDX-License-Identifier: MIT */
/* What every address space shares: creation, destruction, translation. */
#include <errno.h>
#include <linux/membarrier.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <dmakit/space.h>

#include "../core/error_priv.h"
#include "space_priv.h"

static int membarrier(int cmd)
{
	return (int)syscall(SYS_membarrier, cmd, 0, 0);
}

int dmki_space_new(const struct dmk_space_ops *ops, void *priv, struct dmk_space **out)
{
	struct dmk_space *sp = calloc(1, sizeof(*sp));

	if (!sp)
		return dmki_fail(-ENOMEM, "out of memory for a %s space", ops->kind);
	if (dmki_radix_init(&sp->radix)) {
		free(sp);
		return dmki_fail(-ENOMEM, "out of memory for a %s space's translation table", ops->kind);
	}
	pthread_mutex_init(&sp->lock, NULL);
	sp->ops = ops;
	sp->priv = priv;
	/*
	 * With the kernel's expedited membarrier, unregister makes every
	 * thread pass a barrier and prepare needs none of its own. Without it
	 * (old kernels, seccomp), prepare pays for a fence.
	 */
	sp->reader_fence = membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0;
	*out = sp;
	return 0;
}

void dmki_writer_barrier(const struct dmk_space *sp)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (!sp->reader_fence && membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)
		abort(); /* registered at creation; failing now would void the protocol */
}

void dmki_space_add_hold(struct dmk_space *sp, struct dmki_hold *h)
{
	pthread_mutex_lock(&sp->lock);
	h->prev = NULL;
	h->next = sp->holds;
	if (sp->holds)
		sp->holds->prev = h;
	sp->holds = h;
	sp->nholds++;
	pthread_mutex_unlock(&sp->lock);
}

void dmki_space_del_hold(struct dmk_space *sp, struct dmki_hold *h)
{
	pthread_mutex_lock(&sp->lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		sp->holds = h->next;
	if (h->next)
		h->next->prev = h->prev;
	sp->nholds--;
	pthread_mutex_unlock(&sp->lock);
}

int dmk_space_destroy(struct dmk_space *sp)
{
	if (!sp)
		return 0;
	pthread_mutex_lock(&sp->lock);
	if (sp->nregions || sp->nholds) {
		size_t nr = sp->nregions, nh = sp->nholds;

		pthread_mutex_unlock(&sp->lock);
		return dmki_fail(-EBUSY, "%s space still has %zu registrations and %zu DMA commands",
				 sp->ops->kind, nr, nh);
	}
	pthread_mutex_unlock(&sp->lock);
	if (sp->ops->destroy)
		sp->ops->destroy(sp);
	dmki_radix_fini(&sp->radix);
	pthread_mutex_destroy(&sp->lock);
	free(sp);
	return 0;
}

const char *dmk_space_kind(const struct dmk_space *sp)
{
	return sp->ops->kind;
}

int dmk_space_translate(const struct dmk_space *sp, const void *va, uint64_t *dev)
{
	if (likely(dmki_radix_lookup(&sp->radix, (uintptr_t)va, dev, NULL)))
		return 0;
	return dmki_fail(-EFAULT, "%p is in no page registered in this %s space", va, sp->ops->kind);
}
