/* SPDX-License-Identifier: MIT */
/*
 * dmakit: the "vfio" address space, a VFIO type1 IOMMU container.
 *
 * Registrations (dmk_region_register()) are mapped into the IOMMU with
 * VFIO_IOMMU_MAP_DMA at device addresses (IOVAs) that dmakit chooses: inside
 * the IOVA ranges the kernel reports, below the reach of every device
 * attached, one mapping per registration, so every registration is one
 * device-contiguous run. Where a registration's pages follow (or precede)
 * another registration's pages in the process, its IOVA is placed right
 * after (or before) the other's when that IOVA is free, so that a transfer
 * spanning both is still one segment; each keeps its own mapping, because
 * type1 unmaps only on the boundaries it mapped. Registrations of 2 MiB or
 * more get an IOVA with the same offset inside a 2 MiB page as their host
 * address, so that the IOMMU can use superpages where the host memory is
 * huge pages. Device address 0 is never handed out.
 *
 * What dmk_region_register() in a vfio space can fail with, besides its own
 * errors: -ENODEV when no device is open in the space yet; -ENOSPC when no
 * free IOVA range below the reach fits the registration; -EDQUOT when the
 * container has no DMA mappings left (vfio_iommu_type1's dma_entry_limit,
 * 65,535 by default: register fewer, larger buffers); -ENOMEM when the
 * locked-memory limit (RLIMIT_MEMLOCK) stops the kernel pinning the pages.
 * dmk_last_error() names the limit that was hit.
 *
 * Only VFIO type1 containers (/dev/vfio/vfio) are implemented. iommufd
 * (/dev/iommu) is not: the kernels this was built and tested on lack
 * CONFIG_IOMMUFD. A kernel built with iommufd and VFIO_CONTAINER emulation
 * still offers /dev/vfio/vfio and works here.
 *
 * Devices join the container when they are opened (dmk_pci_open() in
 * <dmakit/pci.h>); a space can map nothing before the first device is open,
 * because the IOMMU type is set when the first IOMMU group is attached.
 */
#ifndef DMAKIT_VFIO_H
#define DMAKIT_VFIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_space;

/* DMK_VFIO_MAX_RANGES - IOVA ranges struct dmk_vfio_info reports. */
#define DMK_VFIO_MAX_RANGES 8

/**
 * struct dmk_vfio_info - the state of a vfio space
 * @attached: 1 once an IOMMU group is attached (the IOMMU type is set).
 * @groups: IOMMU groups attached.
 * @iova_pgsizes: page sizes the IOMMU supports, a bitmap (bit n: 2^n bytes).
 * @dma_avail: DMA mappings the kernel still allows the container, by
 *	every process using it; UINT32_MAX when the kernel does not say.
 * @mappings: DMA mappings dmakit holds in the container now.
 * @reach: the lowest reach, in address bits, of the space and every device
 *	(64 when nothing limits it); every IOVA ends at or below 2^@reach.
 * @free_below_reach: bytes of IOVA space still free below 2^@reach.
 * @nranges: IOVA ranges the kernel reports (may exceed
 *	DMK_VFIO_MAX_RANGES; only that many are copied).
 * @ranges: the first of them; @ranges[i][0] is the first valid IOVA,
 *	@ranges[i][1] the last (inclusive).
 */
struct dmk_vfio_info {
	int attached;
	unsigned groups;
	uint64_t iova_pgsizes;
	uint32_t dma_avail;
	uint64_t mappings;
	unsigned reach;
	uint64_t free_below_reach;
	unsigned nranges;
	uint64_t ranges[DMK_VFIO_MAX_RANGES][2];
};

/**
 * dmk_space_vfio_create() - open a VFIO type1 container as a space
 * @out: receives the space.
 *
 * Opens /dev/vfio/vfio and checks that it speaks the VFIO API and offers
 * the type1v2 IOMMU. No group is attached yet: open a device in the space
 * with dmk_pci_open() before registering memory. The container is closed,
 * with every group, by dmk_space_destroy().
 *
 * Thread safety: safe.
 *
 * Return: 0; -ENOENT when /dev/vfio/vfio does not exist (vfio is not loaded,
 * or the kernel offers only iommufd, which dmakit does not implement);
 * -EACCES or -EPERM when it may not be opened; -ENOTSUP when the kernel's
 * VFIO API version is unknown or type1v2 is missing; -ENOMEM.
 */
int dmk_space_vfio_create(struct dmk_space **out);

/**
 * dmk_vfio_set_reach() - limit the device addresses of a vfio space
 * @space: a vfio space.
 * @bits: address bits every device using the space can drive, 12 to 64;
 *	64 lifts the limit. Later mappings end at or below 2^@bits.
 *
 * The limit applies on top of each device's own (dmk_pci_set_reach()).
 * Memory already registered is not moved: the call fails if any mapping
 * lies above the new limit.
 *
 * Thread safety: safe; serialised with registration.
 *
 * Return: 0; -EINVAL when @space is not vfio or @bits is out of range;
 * -ERANGE when a registration lies above 2^@bits (unregister it first).
 */
int dmk_vfio_set_reach(struct dmk_space *space, unsigned bits);

/**
 * dmk_vfio_info() - describe a vfio space
 * @space: a vfio space.
 * @info: receives the description.
 *
 * @dma_avail is asked of the kernel at each call: other processes holding
 * the container's descriptor map into it too.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL when @space is not vfio; -ENOMEM, or the errno of
 * VFIO_IOMMU_GET_INFO.
 */
int dmk_vfio_info(struct dmk_space *space, struct dmk_vfio_info *info);

/**
 * dmk_vfio_container_fd() - the container's file descriptor
 * @space: a vfio space.
 *
 * For handing the container to another process (over a UNIX socket with
 * SCM_RIGHTS) so that it can map its own memory. The descriptor stays
 * owned by @space: do not close it.
 *
 * Thread safety: safe.
 *
 * Return: the descriptor; -EINVAL when @space is not vfio.
 */
int dmk_vfio_container_fd(struct dmk_space *space);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_VFIO_H */
