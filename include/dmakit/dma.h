/* SPDX-License-Identifier: MIT */
/*
 * dmakit: DMA commands, a descriptor turned into segments a device accepts.
 *
 * A command is prepared on a memory descriptor (or a slice of one) under a
 * spec in a space. Out come segments in transfer order that cover every
 * byte once, coalesced where device addresses are contiguous, each obeying
 * every rule of the spec. Where a rule cannot be met in place (an address
 * the device cannot reach, a misaligned piece) only the pieces that need it
 * go through a bounce pool, and dmk_dma_sync() moves their bytes.
 *
 * The life of one I/O:
 *
 *	dmk_dma_prepare(dma, mem, off, len, &covered);
 *	segs = dmk_dma_segs(dma, &n);        write them for the device
 *	dmk_dma_sync(dma, DMK_SYNC_FOR_DEVICE);
 *	... the device moves the bytes ...
 *	dmk_dma_sync(dma, DMK_SYNC_FOR_CPU);
 *	dmk_dma_complete(dma);
 *
 * and, when covered < len, again from off + covered.
 */
#ifndef DMAKIT_DMA_H
#define DMAKIT_DMA_H

#include <stddef.h>
#include <stdint.h>

#include <dmakit/mem.h>
#include <dmakit/spec.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_space;
struct dmk_mem;
struct dmk_dma;
struct dmk_bounce_pool;

/**
 * struct dmk_seg - one device-contiguous piece of a transfer
 * @addr: device address of its first byte.
 * @len: its length in bytes.
 */
struct dmk_seg {
	uint64_t addr;
	uint64_t len;
};

/**
 * struct dmk_bounce_stats - what a bounce pool holds and has done
 * @size: bytes in the pool.
 * @chunk: bytes in one chunk, the unit of allocation.
 * @in_use: bytes held by prepared commands now.
 * @peak: the most bytes ever in use at once.
 * @bounced: bytes of transfers ever routed through the pool.
 * @allocs: chunk runs ever handed out.
 * @exhausted: prepares refused because the pool was full.
 */
struct dmk_bounce_stats {
	uint64_t size;
	uint64_t chunk;
	uint64_t in_use;
	uint64_t peak;
	uint64_t bounced;
	uint64_t allocs;
	uint64_t exhausted;
};

/**
 * dmk_bounce_pool_create() - allocate and map a bounded bounce pool
 * @space: the space its memory is registered in.
 * @spec: rules its device addresses must obey (window, alignment); its
 *	chunks are @spec's @dev_page_size.
 * @size: bytes; rounded up to whole chunks.
 * @out: receives the pool.
 *
 * The memory is allocated, locked and registered now, so that a prepare
 * never allocates or maps.
 *
 * Thread safety: safe. A pool may serve many commands and threads at once.
 *
 * Return: 0; -EINVAL for a bad spec or a zero size; -ERANGE when the space
 * put the pool's memory outside @spec's window; -ENOMEM; the errors of
 * dmk_region_register().
 */
int dmk_bounce_pool_create(struct dmk_space *space, const struct dmk_dma_spec *spec,
			   size_t size, struct dmk_bounce_pool **out);

/**
 * dmk_bounce_pool_destroy() - release a pool
 * @pool: the pool, or NULL.
 *
 * Thread safety: not with other uses of @pool.
 *
 * Return: 0; -EBUSY when commands still use it (nothing is released).
 */
int dmk_bounce_pool_destroy(struct dmk_bounce_pool *pool);

/**
 * dmk_bounce_pool_stats() - read a pool's counters
 * @pool: the pool.
 * @stats: receives them.
 *
 * Thread safety: safe.
 *
 * Return: 0.
 */
int dmk_bounce_pool_stats(struct dmk_bounce_pool *pool, struct dmk_bounce_stats *stats);

/**
 * dmk_dma_create() - make a reusable DMA command
 * @space: the space whose registrations it uses.
 * @spec: the device's rules, copied; checked with dmk_dma_spec_check().
 * @pool: bounce pool for pieces that cannot go in place, or NULL to refuse
 *	such pieces. Its device addresses must obey @spec.
 * @out: receives the command.
 *
 * A command is one I/O in flight at a time; make as many as the device has
 * I/Os in flight.
 *
 * Thread safety: safe. One command is used by one thread at a time; many
 * commands of a space may be prepared on many threads at once.
 *
 * Return: 0; -EINVAL for a bad spec or a pool of another space; -ERANGE
 * when the pool's memory lies outside @spec's window; -ENOMEM.
 */
int dmk_dma_create(struct dmk_space *space, const struct dmk_dma_spec *spec,
		   struct dmk_bounce_pool *pool, struct dmk_dma **out);

/**
 * dmk_dma_destroy() - free a command
 * @dma: the command, or NULL.
 *
 * Thread safety: not with other uses of @dma.
 *
 * Return: 0; -EBUSY when it is prepared (complete it first).
 */
int dmk_dma_destroy(struct dmk_dma *dma);

/**
 * dmk_dma_prepare() - turn a slice of a descriptor into segments
 * @dma: an idle command.
 * @mem: the descriptor.
 * @offset: first byte of the slice within @mem.
 * @length: bytes of the slice.
 * @covered: receives how many bytes, from @offset, the segments cover.
 *
 * Walks the slice through the space's registrations and emits segments that
 * obey every rule of the command's spec. When the spec's segment count or
 * transfer size cannot hold the whole slice, the segments cover a prefix
 * and *@covered says how long it is: prepare again from @offset + *@covered
 * (after completing, or with another command). Nothing is dropped. Pieces
 * that break the window, an alignment or the page-list rule in place go
 * through the bounce pool, and only those.
 *
 * Thread safety: not with other uses of @dma; other commands may prepare
 * at the same time.
 *
 * Return: 0 (the command is prepared); -EBUSY when already prepared;
 * -EINVAL for a slice outside @mem or a length not a multiple of the
 * spec's @len_align, or, without a pool, for a piece that breaks an
 * alignment or the page-list rule; -EFAULT when a byte is in no
 * registered page or in a registration the device may not access in
 * @mem's direction; -ERANGE, without a pool, for a piece outside the
 * window; -ENOBUFS when the bounce pool is full. On error nothing stays
 * prepared.
 */
int dmk_dma_prepare(struct dmk_dma *dma, const struct dmk_mem *mem, uint64_t offset,
		    uint64_t length, uint64_t *covered);

/**
 * dmk_dma_prepare_buf() - prepare one buffer, no descriptor needed
 * @dma: an idle command.
 * @va: the buffer.
 * @len: its length.
 * @dir: which way the bytes go.
 * @covered: receives how many bytes the segments cover.
 *
 * The same as dmk_dma_prepare() on a one-entry descriptor, without
 * creating one: the fast path for the common I/O.
 *
 * Thread safety: as dmk_dma_prepare().
 *
 * Return: as dmk_dma_prepare(), and -EINVAL for an unknown @dir or a range
 * that wraps.
 */
int dmk_dma_prepare_buf(struct dmk_dma *dma, void *va, size_t len, enum dmk_dir dir,
			uint64_t *covered);

/**
 * dmk_dma_segs() - the segments of a prepared command
 * @dma: the command.
 * @nsegs: receives how many.
 *
 * Thread safety: not with other uses of @dma.
 *
 * Return: the segments, in transfer order, owned by @dma and valid until it
 * is completed; NULL with *@nsegs = 0 when it is not prepared.
 */
const struct dmk_seg *dmk_dma_segs(const struct dmk_dma *dma, size_t *nsegs);

/**
 * enum dmk_sync - which side is about to look at the memory
 * @DMK_SYNC_FOR_DEVICE: before the device starts; bounced bytes the device
 *	will read are copied into the bounce pool.
 * @DMK_SYNC_FOR_CPU: after the device finished; bounced bytes the device
 *	wrote are copied back into the caller's memory.
 */
enum dmk_sync {
	DMK_SYNC_FOR_DEVICE = 1,
	DMK_SYNC_FOR_CPU = 2,
};

/**
 * dmk_dma_sync() - move bounced bytes for the side about to use them
 * @dma: a prepared command.
 * @when: %DMK_SYNC_FOR_DEVICE or %DMK_SYNC_FOR_CPU.
 *
 * Costs nothing when nothing was bounced. Call it every time anyway: a
 * command that bounced and is not synced moves stale bytes. The bytes are
 * moved with memcpy(), except those of a client's file that the driver
 * daemon maps (dmk_ipc_client_register_memfd() on a hugetlbfs memfd),
 * whose pages the client may take away: the kernel moves those
 * (process_vm_readv() on this process, one call for up to 64 pieces), and
 * a page that cannot be faulted in fails the sync instead of raising
 * SIGBUS.
 *
 * Thread safety: not with other uses of @dma.
 *
 * Return: 0; -EINVAL when @dma is not prepared or @when is unknown; for a
 * client's file, -EFAULT when a page of it could not be faulted in (the
 * pieces before it moved; after %DMK_SYNC_FOR_DEVICE do not start the
 * device), -ENOSYS or -EPERM when this process may not use
 * process_vm_readv() (a seccomp filter).
 */
int dmk_dma_sync(struct dmk_dma *dma, enum dmk_sync when);

/**
 * dmk_dma_complete() - end an I/O and release what it held
 * @dma: a prepared command.
 *
 * Releases its bounce chunks and its hold on the registrations.
 *
 * Thread safety: not with other uses of @dma.
 *
 * Return: 0; -EINVAL when @dma is not prepared.
 */
int dmk_dma_complete(struct dmk_dma *dma);

/**
 * struct dmk_dma_info - what a prepared command holds
 * @covered: bytes its segments cover.
 * @nsegs: segments.
 * @bounced: bytes routed through the bounce pool.
 * @bounce_segs: segments that lie in the bounce pool.
 * @regions: registrations it holds.
 */
struct dmk_dma_info {
	uint64_t covered;
	size_t nsegs;
	uint64_t bounced;
	size_t bounce_segs;
	size_t regions;
};

/**
 * dmk_dma_info() - describe a prepared command
 * @dma: the command.
 * @info: receives the description (all zero when not prepared).
 *
 * Thread safety: not with other uses of @dma.
 *
 * Return: 0.
 */
int dmk_dma_info(const struct dmk_dma *dma, struct dmk_dma_info *info);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_DMA_H */
