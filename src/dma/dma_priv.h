/* SPDX-License-Identifier: MIT */
/* Internal: memory descriptors and bounce pools as the DMA layer sees them. */
#ifndef DMK_DMA_PRIV_H
#define DMK_DMA_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <dmakit/dma.h>
#include <dmakit/mem.h>

#include "../space/space_priv.h"

struct dmk_mem {
	struct iovec *iov;
	int iovcnt;
	int cap;
	enum dmk_dir dir;
	uint64_t total;
};

/*
 * struct dmk_bounce_pool - chunks of pre-registered memory
 *
 * One chunk is a device page. A bitmap says which are taken; a command
 * takes runs of chunks and gives them back at complete.
 */
struct dmk_bounce_pool {
	struct dmk_space *space;
	struct dmk_region *region;
	char *mem;
	uint64_t chunk;
	size_t nchunks;
	uint64_t *used;			/* bitmap */
	size_t hint;			/* where to look first */
	pthread_mutex_t lock;
	struct dmk_bounce_stats stats;
	size_t users;			/* commands created on it */
};

/*
 * Take up to @want chunks from the pool, contiguous in device space, the
 * first preferably at chunk @prefer (to extend a run). Returns the index of
 * the first chunk and sets *@got, or returns -1 when the pool is full.
 */
long dmki_bounce_take(struct dmk_bounce_pool *p, size_t want, long prefer, size_t *got);
void dmki_bounce_give(struct dmk_bounce_pool *p, size_t first, size_t n);
/* Count @bytes of transfers as bounced, for the statistics. */
void dmki_bounce_note(struct dmk_bounce_pool *p, uint64_t bytes);
/* 0 when every chunk of @p lies in @spec's window, else -ERANGE (dmki_fail). */
int dmki_bounce_in_window(const struct dmk_bounce_pool *p, const struct dmk_dma_spec *spec);
uint64_t dmki_bounce_dev(const struct dmk_bounce_pool *p, size_t chunk);


struct copy {
	char *host;
	char *bounce;
	uint64_t len;
	bool foreign;	/* @host is foreign memory: copied by the kernel (dma.c) */
};

struct chunk_run {
	size_t first, n;
};

struct dmk_dma {
	struct dmk_space *space;
	struct dmk_dma_spec spec;
	struct dmk_bounce_pool *pool;
	uint64_t G, E;			/* see the top of prepare.c */
	uint64_t max_seg;		/* max_seg_size, or no limit */
	bool unbounded;			/* no boundary, the whole window: emit()'s fast path */
	bool prepared;
	enum dmk_dir dir;
	uint64_t covered, bounced;
	size_t nsegs, cap;
	struct dmk_seg *segs;
	size_t nb, nb_cap;
	size_t *bidx;			/* indices of the segments in the bounce pool */
	size_t ncopies, copies_cap;
	struct copy *copies;
	size_t nruns, runs_cap;
	struct chunk_run *runs;
	struct dmki_hold hold;
	/*
	 * The region the last prepare ended in, valid while the space's
	 * unregister count is @hint_unregs: I/O tends to reuse its buffers,
	 * and this skips the radix walk for them.
	 */
	struct dmk_region *hint;
	uint64_t hint_unregs;
};


/* Grow *@arr (of *@cap elements of @elem bytes) to hold @need. */
int dmki_grow(void **arr, size_t *cap, size_t need, size_t elem);
/* The rules a command was created with. */
const struct dmk_dma_spec *dmki_dma_spec(const struct dmk_dma *d);
/* Give back the pool chunks and the registrations a command holds. */
void dmki_dma_release(struct dmk_dma *d);

#endif
