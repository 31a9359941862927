/* SPDX-License-Identifier: MIT */
/* Internal: memory descriptors and bounce pools as the DMA layer sees them. */
#ifndef DMK_DMA_PRIV_H
#define DMK_DMA_PRIV_H

#include <pthread.h>
#include <stdint.h>
#include <sys/uio.h>

#include <dmakit/dma.h>
#include <dmakit/mem.h>

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
uint64_t dmki_bounce_dev(const struct dmk_bounce_pool *p, size_t chunk);

#endif
