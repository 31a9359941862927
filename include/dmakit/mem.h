/* SPDX-License-Identifier: MIT */
/*
 * dmakit: memory descriptors, the bytes one I/O moves.
 */
#ifndef DMAKIT_MEM_H
#define DMAKIT_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_mem;

/**
 * enum dmk_dir - which way the bytes go
 * @DMK_TO_DEVICE: the device reads memory (a disk write).
 * @DMK_FROM_DEVICE: the device writes memory (a disk read).
 * @DMK_BIDIRECTIONAL: both.
 */
enum dmk_dir {
	DMK_TO_DEVICE = 1,
	DMK_FROM_DEVICE = 2,
	DMK_BIDIRECTIONAL = 3,
};

/**
 * dmk_mem_create() - describe the bytes of an iovec
 * @iov: the ranges, in transfer order; any alignment, any length; entries
 *	of length 0 are allowed and skipped.
 * @iovcnt: how many; at least 1.
 * @dir: which way the bytes go.
 * @out: receives the descriptor.
 *
 * The iovec is copied once; slices of the descriptor (an offset and a
 * length given to dmk_dma_prepare()) never copy it again.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL for a NULL or empty iovec, an unknown @dir, or a range
 * that wraps around the address space or lengths that overflow; -ENOMEM.
 */
int dmk_mem_create(const struct iovec *iov, int iovcnt, enum dmk_dir dir,
		   struct dmk_mem **out);

/**
 * dmk_mem_reset() - reuse a descriptor for other bytes
 * @mem: the descriptor; no command may be prepared on it.
 * @iov: the new ranges.
 * @iovcnt: how many.
 * @dir: which way.
 *
 * Allocates only when @iovcnt exceeds every count @mem held before.
 *
 * Thread safety: not with other uses of @mem.
 *
 * Return: 0; the errors of dmk_mem_create() (then @mem is unchanged).
 */
int dmk_mem_reset(struct dmk_mem *mem, const struct iovec *iov, int iovcnt, enum dmk_dir dir);

/**
 * dmk_mem_destroy() - free a descriptor
 * @mem: the descriptor, or NULL. No command may be prepared on it.
 *
 * Thread safety: not with other uses of @mem.
 */
void dmk_mem_destroy(struct dmk_mem *mem);

/**
 * dmk_mem_length() - total bytes described
 * @mem: the descriptor.
 *
 * Return: the sum of the iovec's lengths.
 */
uint64_t dmk_mem_length(const struct dmk_mem *mem);

/**
 * dmk_mem_dir() - direction of a descriptor
 * @mem: the descriptor.
 *
 * Return: its &enum dmk_dir.
 */
enum dmk_dir dmk_mem_dir(const struct dmk_mem *mem);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_MEM_H */
