/* SPDX-License-Identifier: MIT */
/*
 * Internal: what the PCI layer asks of a vfio space. A device joins the
 * space's container through its IOMMU group and states its reach.
 */
#ifndef DMK_VFIO_PRIV_H
#define DMK_VFIO_PRIV_H

#include <stdbool.h>
#include <stdint.h>

struct dmk_space;

bool dmki_space_is_vfio(const struct dmk_space *sp);

/*
 * dmki_vfio_group_attach() - attach IOMMU group @group to the container
 *
 * Opens /dev/vfio/@group, checks it is viable, joins it to the container
 * (setting the IOMMU type for the first group) and rereads the IOVA ranges.
 * A group already attached is reused. The group stays attached, and its
 * descriptor open, until the space is destroyed: detaching the last group
 * would drop every mapping. *@fd receives the group's descriptor, owned by
 * the space. Return: 0 or a negative errno after dmki_fail().
 */
int dmki_vfio_group_attach(struct dmk_space *sp, int group, int *fd);

/*
 * dmki_vfio_dev_reach() - record the reach of device @owner in address bits
 *
 * 0 forgets @owner (when it closes). Return: 0; -ERANGE when a mapping lies
 * above the new limit; -ENOMEM; after dmki_fail().
 */
int dmki_vfio_dev_reach(struct dmk_space *sp, const void *owner, unsigned bits);

/*
 * dmki_vfio_window_take() - reserve an IOVA window of @size bytes (page
 * multiple) below the reach of every device, for another process to map
 * into (the IPC lease route); the space's own registrations never land
 * there. *@base receives its first IOVA. Return: 0; -EINVAL; -ENODEV (no
 * device yet); -ENOSPC; -ENOMEM; after dmki_fail().
 */
int dmki_vfio_window_take(struct dmk_space *sp, uint64_t size, uint64_t *base);

/*
 * dmki_vfio_window_give() - unmap every mapping inside a window from the
 * container (VFIO_IOMMU_UNMAP_DMA over the whole window) and give the IOVAs
 * back, unless @keep: then they stay reserved, never handed out again (a
 * command the driver gave up on may still reach them). *@unmapped (may be
 * NULL) receives the bytes the kernel unmapped. When the kernel refuses (a
 * mapping straddles the window's edge) the window stays reserved.
 * Return: 0 or a negative errno after dmki_fail().
 */
int dmki_vfio_window_give(struct dmk_space *sp, uint64_t base, uint64_t size, bool keep,
			  uint64_t *unmapped);

#endif
