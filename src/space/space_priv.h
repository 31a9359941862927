/* SPDX-License-Identifier: MIT */
/*
 * Internal: what every address space shares, and the small interface a
 * backend (sim, phys, vfio) implements. The layers above (regions, DMA
 * commands) only ever see struct dmk_space and struct dmk_region.
 */
#ifndef DMK_SPACE_PRIV_H
#define DMK_SPACE_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmakit/region.h>
#include <dmakit/space.h>

#include "../core/bits.h"
#include "radix.h"

struct dmk_space;

/*
 * struct dmki_hold - the registrations one DMA command uses
 *
 * A command records each region it translates through here before it
 * checks that the region is live; dmk_region_unregister() marks a region
 * dying, then looks at every hold (see region.c). @seq is odd while a
 * prepare walks the radix, so that unregister can wait for walks that may
 * still hold a pointer to a region it is about to free.
 */
#define DMKI_HOLD_MAX 64
struct dmki_hold {
	_Atomic unsigned seq;
	_Atomic unsigned n;
	_Atomic(struct dmk_region *) region[DMKI_HOLD_MAX];
	struct dmki_hold *prev, *next;	/* space->holds, under space->lock */
};

enum dmk_region_state {
	DMK_REGION_LIVE = 0,
	DMK_REGION_DYING = 1,
};

/*
 * struct dmk_region - one registration
 *
 * The backend fills either @dev_base (and sets @linear: device address =
 * @dev_base + (va - @pva)) or @pages (one device address per 4 KiB host page
 * of [@pva, @pva + @plen)). Readers reach a region through the radix without
 * a lock; @state tells them it is going away (see region.c for the protocol).
 */
struct dmk_region {
	struct dmk_space *space;
	uintptr_t va;		/* as registered */
	size_t len;
	uintptr_t pva;		/* host pages pinned and mapped */
	size_t plen;
	unsigned prot;
	unsigned refs;		/* registrations; under space->lock */
	bool overlaps;		/* shares pages with another registration */
	_Atomic int state;	/* enum dmk_region_state */
	bool linear;
	uint64_t dev_base;	/* when linear */
	uint64_t *pages;	/* when not linear; freed by the core */
	size_t dev_runs;	/* device-contiguous runs, for dmk_region_info */
	bool foreign;		/* dmki_region_register_foreign() */
	void *backend_priv;	/* the backend's own record */
	struct dmk_region *prev, *next;	/* space->regions, under space->lock */
};

/* Device address of host address @va inside region @r. */
static inline uint64_t dmk_region_dev(const struct dmk_region *r, uintptr_t va)
{
	if (r->linear)
		return r->dev_base + (va - r->pva);
	return r->pages[(va - r->pva) >> DMK_HOST_PAGE_SHIFT] + (va & (DMK_HOST_PAGE - 1));
}

/*
 * struct dmk_space_ops - what a backend does
 * @kind: "sim", "phys", "vfio".
 * @map: pin [@r->pva, +@r->plen) (whole host pages) and make it reachable
 *	by the device with @r->prot; fill @r->linear/@r->dev_base or @r->pages
 *	(malloc'd, one entry a host page) and @r->dev_runs. Return 0 or a
 *	negative errno after dmk_fail().
 * @unmap: undo @map. Called once no device may use the addresses.
 * @destroy: free the backend's state (the space struct itself is the
 *	core's).
 */
struct dmk_space_ops {
	const char *kind;
	int (*map)(struct dmk_space *sp, struct dmk_region *r);
	void (*unmap)(struct dmk_space *sp, struct dmk_region *r);
	void (*destroy)(struct dmk_space *sp);
};

/*
 * struct dmk_space - the core's part of every space
 *
 * Backends embed nothing; they keep their own state behind @priv.
 */
struct dmk_space {
	const struct dmk_space_ops *ops;
	void *priv;
	struct dmk_radix radix;		/* VA -> device address, lock-free reads */
	pthread_mutex_t lock;		/* registrations, command list */
	struct dmk_region *regions;	/* all live regions */
	size_t nregions;
	struct dmki_hold *holds;	/* every command's, for unregister's scan */
	size_t nholds;
	bool reader_fence;		/* no membarrier: readers fence themselves */
	_Atomic uint64_t unregs;	/* unregisters begun: validates commands' region hints */
};

/*
 * dmki_space_new() - the core's half of a backend's constructor
 *
 * Allocates the space with its radix and lock; @priv is the backend's.
 * Returns 0 or -ENOMEM (after dmki_fail()).
 */
int dmki_space_new(const struct dmk_space_ops *ops, void *priv, struct dmk_space **out);

/*
 * dmki_region_register_foreign() - dmk_region_register() for memory whose
 * pages may go at any time
 *
 * For a mapping of a file another process controls (the driver daemon's
 * mapping of a client's hugetlbfs memfd: a hole punched into it while the
 * huge page pool is empty faults on the next access). The library's own
 * CPU copies of such memory, the sim device's and the bounce copies, go
 * through the kernel (core/nofault_priv.h), so that a page that is gone is
 * an error (-EFAULT) and not SIGBUS; other memory is copied with memcpy().
 * Never shares a registration with memory registered otherwise.
 */
int dmki_region_register_foreign(struct dmk_space *sp, void *va, size_t len, unsigned prot,
				 struct dmk_region **out);

/* Add or remove a command's hold from the space's list. */
void dmki_space_add_hold(struct dmk_space *sp, struct dmki_hold *h);
void dmki_space_del_hold(struct dmk_space *sp, struct dmki_hold *h);

/*
 * The readers' half of the unregister protocol (region.c): a barrier that
 * is free when the kernel's membarrier does the other half.
 */
static inline void dmki_reader_fence(const struct dmk_space *sp)
{
	if (__builtin_expect(sp->reader_fence, 0))
		atomic_thread_fence(memory_order_seq_cst);
	else
		atomic_signal_fence(memory_order_seq_cst);
}

/* The writers' half: every thread of the process passes a full barrier. */
void dmki_writer_barrier(const struct dmk_space *sp);

#endif
