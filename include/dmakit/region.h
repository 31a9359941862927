/* SPDX-License-Identifier: MIT */
/*
 * dmakit: registrations, memory pinned and mapped into a space once.
 */
#ifndef DMAKIT_REGION_H
#define DMAKIT_REGION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_space;
struct dmk_region;

/* DMK_PROT_READ - the device may read the memory (memory to device). */
#define DMK_PROT_READ (1u << 0)
/* DMK_PROT_WRITE - the device may write the memory (device to memory). */
#define DMK_PROT_WRITE (1u << 1)
#define DMK_PROT_RW (DMK_PROT_READ | DMK_PROT_WRITE)

/**
 * struct dmk_region_info - what a registration holds
 * @va: first byte registered, as given.
 * @len: bytes registered, as given.
 * @pinned_va: first byte of the first page pinned.
 * @pinned_len: bytes pinned and mapped, whole host pages.
 * @dev_runs: device-contiguous runs the pages form (1 behind an IOMMU).
 * @refs: registrations of this range not yet unregistered.
 * @prot: DMK_PROT_* bits.
 */
struct dmk_region_info {
	void *va;
	size_t len;
	void *pinned_va;
	size_t pinned_len;
	size_t dev_runs;
	unsigned refs;
	unsigned prot;
};

/**
 * dmk_region_register() - pin a VA range and map it into a space
 * @space: the space.
 * @va: first byte; any alignment.
 * @len: bytes; more than 0.
 * @prot: DMK_PROT_READ, DMK_PROT_WRITE or both.
 * @out: receives the registration.
 *
 * The enclosing host pages are pinned and mapped once. Registering a range
 * that lies inside an existing registration of the same space with at
 * least @prot takes one more reference on that registration and returns
 * it: nothing more is pinned. A range that only overlaps or touches others
 * gets a registration of its own; its pages shared with an older
 * registration keep translating through the older one while it lives, then
 * through this one. A device address is valid for a page as long as any
 * registration covering the page lives.
 *
 * Before the pin, every page the process may write is write-faulted
 * (MADV_POPULATE_WRITE): memory never written yet gets frames of its own
 * rather than the kernel's shared zero page, and pages shared copy-on-write
 * with a child are copied, so the device sees the frames the process goes
 * on writing, on every kernel. Memory the process may not write (a
 * read-only mapping) can be registered only for the device to read.
 *
 * Thread safety: safe; serialised per space.
 *
 * Return: 0; -EINVAL for a zero length, unknown @prot bits or a range that
 * wraps; -EFAULT when the range is not mapped in the process or a page
 * cannot be faulted in (a file mapping past its end, an empty hugetlb
 * pool); -EACCES when @prot has DMK_PROT_WRITE but the process may not
 * write the memory; -EOPNOTSUPP in a phys space for DMK_PROT_WRITE on a
 * kernel without MADV_POPULATE_WRITE (before 5.14) when io_uring cannot
 * pin the memory; -EIO for a hardware-poisoned page; -ENOSPC when
 * the space has no device addresses left; -ENOMEM; -EPERM or another errno
 * from the kernel when pinning fails (dmk_last_error() says which call).
 */
int dmk_region_register(struct dmk_space *space, void *va, size_t len, unsigned prot,
			struct dmk_region **out);

/**
 * dmk_region_unregister() - drop one reference on a registration
 * @region: the registration.
 *
 * The last reference unmaps and unpins the pages, once no DMA command
 * prepared on them remains; the device must not use their addresses any
 * more. In a phys space pinned through io_uring, the kernel may release
 * the pin itself a little later (Linux 6.1 does it about a second after,
 * from delayed work; 6.12 at once): until then the pages stay in the
 * process's VmPin, and nothing translates to them.
 *
 * Thread safety: safe; serialised per space. Commands being prepared on the
 * same memory at the same moment may fail with -EFAULT.
 *
 * Return: 0; -EBUSY when a prepared command still uses the memory (the
 * reference is kept).
 */
int dmk_region_unregister(struct dmk_region *region);

/**
 * dmk_region_info() - describe a registration
 * @region: the registration.
 * @info: receives the description.
 *
 * Thread safety: safe.
 *
 * Return: 0.
 */
int dmk_region_info(const struct dmk_region *region, struct dmk_region_info *info);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_REGION_H */
