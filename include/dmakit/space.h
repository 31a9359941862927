/* SPDX-License-Identifier: MIT */
/*
 * dmakit: address spaces, where a device sees memory.
 *
 * A space turns process virtual addresses into device addresses. Three
 * kinds share one interface: "sim" (a software IOMMU for tests and
 * benchmarks, no privileges), "phys" (no IOMMU: physical frames from
 * /proc/self/pagemap, root only) and "vfio" (a VFIO container, see
 * <dmakit/vfio.h>). Memory is registered into a space with
 * dmk_region_register() (<dmakit/region.h>) before a device may touch it.
 */
#ifndef DMAKIT_SPACE_H
#define DMAKIT_SPACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_space;

/**
 * enum dmk_sim_layout - how a sim space places a registration's pages
 * @DMK_SIM_CONTIG: one contiguous device range per registration, what an
 *	IOMMU gives.
 * @DMK_SIM_SCATTERED: every page at a random device page (from @seed), what
 *	physical memory gives.
 * @DMK_SIM_REVERSED: pages at descending device addresses, so that no two
 *	neighbouring pages are ever contiguous.
 */
enum dmk_sim_layout {
	DMK_SIM_CONTIG = 0,
	DMK_SIM_SCATTERED = 1,
	DMK_SIM_REVERSED = 2,
};

/**
 * struct dmk_sim_config - the shape of a simulated IOMMU
 * @page_size: IOMMU page size, a power of two from 4 KiB to 1 GiB.
 * @window_base: first device address the IOMMU hands out; a multiple of
 *	@page_size.
 * @window_size: bytes of device address space from @window_base; a
 *	multiple of @page_size. @window_base + @window_size may be 2^64
 *	exactly (the window ends on the last byte of the 64-bit space), not
 *	more.
 * @layout: see &enum dmk_sim_layout.
 * @seed: seed of the scattered layout; the same seed gives the same
 *	addresses.
 */
struct dmk_sim_config {
	uint64_t page_size;
	uint64_t window_base;
	uint64_t window_size;
	enum dmk_sim_layout layout;
	uint64_t seed;
};

/**
 * struct dmk_sim_fault - one access the simulated IOMMU refused
 * @addr: first device address of the access.
 * @len: bytes the access asked for.
 * @write: 1 when the device wrote memory, 0 when it read.
 * @reason: "not mapped", "no write permission" or "no read permission";
 *	"host page faulted" when the device's pages are mapped but the host
 *	memory behind them, a client's file that the driver daemon maps
 *	(<dmakit/ipc_client.h>), could not be faulted in.
 */
struct dmk_sim_fault {
	uint64_t addr;
	uint64_t len;
	int write;
	const char *reason;
};

/**
 * dmk_space_sim_create() - make a software IOMMU
 * @cfg: its shape; NULL for 4 KiB pages, contiguous layout, window
 *	[4 GiB, 2^47).
 * @out: receives the space.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL for a bad @cfg (dmk_last_error() says which field;
 * a window past 2^64 "wraps"); -ENOMEM.
 */
int dmk_space_sim_create(const struct dmk_sim_config *cfg, struct dmk_space **out);

/**
 * dmk_space_phys_create() - make a space of physical addresses, no IOMMU
 * @out: receives the space.
 *
 * Registrations pin their pages for the long term and read the physical
 * frames from /proc/self/pagemap, many entries a read, with the file kept
 * open. The pin is io_uring's registered buffer (FOLL_LONGTERM, the pin
 * VFIO takes: pages neither move nor get shared at fork; they count in
 * VmPin) where the kernel allows it, else mlock (pages count in VmLck;
 * the kernel may still migrate them). The environment variable
 * DMK_PHYS_PIN=mlock, read at creation, forces mlock. Only root
 * (CAP_SYS_ADMIN) sees frames; the kernel shows others 0.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EPERM when the process may not read frames (not root, or
 * pagemap hides them); -ENOENT when /proc/self/pagemap is missing; -ENOMEM.
 */
int dmk_space_phys_create(struct dmk_space **out);

/**
 * dmk_space_destroy() - release a space
 * @space: the space, or NULL.
 *
 * Every region and DMA command of the space must be gone first.
 *
 * Thread safety: not with any other use of @space.
 *
 * Return: 0; -EBUSY when regions or commands remain (nothing is released).
 */
int dmk_space_destroy(struct dmk_space *space);

/**
 * dmk_space_kind() - the kind of a space
 * @space: the space.
 *
 * Thread safety: safe.
 *
 * Return: "sim", "phys" or "vfio".
 */
const char *dmk_space_kind(const struct dmk_space *space);

/**
 * dmk_space_translate() - device address of one virtual address
 * @space: the space.
 * @va: any address inside a registered page.
 * @dev: receives the device address of @va.
 *
 * A radix walk over three tables; no lock, no search. Translation is page
 * granular: every byte of a page that a registration touches translates.
 *
 * Thread safety: safe, also against concurrent registration. A lookup that
 * races with dmk_region_unregister() of the same memory may see either
 * state.
 *
 * Return: 0, or -EFAULT when @va is in no registered page.
 */
int dmk_space_translate(const struct dmk_space *space, const void *va, uint64_t *dev);

/**
 * dmk_sim_dma_write() - a simulated device writes memory through the IOMMU
 * @space: a sim space.
 * @dev: device address of the first byte.
 * @src: the bytes the device writes.
 * @len: how many.
 *
 * Every page touched must be mapped with write permission; otherwise
 * nothing is written and a fault is logged, as a real IOMMU would. The
 * bytes are moved with memcpy(), except into a client's file that the
 * driver daemon maps (dmk_ipc_client_register_memfd() on a hugetlbfs
 * memfd), whose pages the client may take away: the kernel moves those
 * (process_vm_readv() on this process), and a page that cannot be faulted
 * in fails the access, logged, instead of raising SIGBUS; the bytes before
 * that page may have been written.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EFAULT on an IOMMU fault or a host page that faulted;
 * -EINVAL when @space is not sim; for a client's file, -ENOSYS or -EPERM
 * when this process may not use process_vm_readv() (a seccomp filter).
 */
int dmk_sim_dma_write(struct dmk_space *space, uint64_t dev, const void *src, size_t len);

/**
 * dmk_sim_dma_read() - a simulated device reads memory through the IOMMU
 * @space: a sim space.
 * @dev: device address of the first byte.
 * @dst: where the bytes go.
 * @len: how many.
 *
 * As dmk_sim_dma_write(): checked first, then moved.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EFAULT on an IOMMU fault or a host page that faulted
 * (logged); -EINVAL when @space is not sim; -ENOSYS or -EPERM as for
 * dmk_sim_dma_write().
 */
int dmk_sim_dma_read(struct dmk_space *space, uint64_t dev, void *dst, size_t len);

/**
 * dmk_sim_faults() - take the faults a sim space logged
 * @space: a sim space.
 * @faults: where to copy them, oldest first.
 * @max: room in @faults.
 * @count: receives how many were copied; they leave the log.
 *
 * The log keeps the 256 newest faults.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL when @space is not sim.
 */
int dmk_sim_faults(struct dmk_space *space, struct dmk_sim_fault *faults, size_t max,
		   size_t *count);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_SPACE_H */
