/* SPDX-License-Identifier: MIT */
/* PCI devices: BARs mapped into the process (VFIO here, uio in uio.c). */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include <dmakit/pci.h>

#include "../core/error_priv.h"
#include "pci_priv.h"

int dmk_pci_map_bar(struct dmk_pci *dev, unsigned bar, void **va, size_t *len)
{
	struct vfio_region_info ri;
	int prot = 0, err = 0;
	void *p;

	if (bar >= DMKI_PCI_BARS)
		return dmki_fail(-EINVAL, "BAR %u: a PCI device has BARs 0 to 5", bar);
	pthread_mutex_lock(&dev->lock);
	if (dev->bar[bar].va)
		goto done;
	if (dev->backend == DMKI_PCI_UIO) {
		err = dmki_pci_uio_map_bar(dev, bar, &dev->bar[bar].va, &dev->bar[bar].len);
		if (err)
			goto out;
		goto done;
	}
	err = dmki_pci_region_info(dev, VFIO_PCI_BAR0_REGION_INDEX + bar, &ri);
	if (err)
		goto out;
	if (!ri.size) {
		err = dmki_fail(-ENOENT, "%s has no BAR %u", dev->bdf, bar);
		goto out;
	}
	if (!(ri.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		err = dmki_fail(-ENOTSUP, "%s: VFIO does not let BAR %u be mapped (I/O ports?)",
				dev->bdf, bar);
		goto out;
	}
	if (ri.flags & VFIO_REGION_INFO_FLAG_READ)
		prot |= PROT_READ;
	if (ri.flags & VFIO_REGION_INFO_FLAG_WRITE)
		prot |= PROT_WRITE;
	p = mmap(NULL, ri.size, prot, MAP_SHARED, dev->fd, (off_t)ri.offset);
	if (p == MAP_FAILED) {
		err = -errno;
		err = dmki_fail(err, "%s: mmap of BAR %u (%llu bytes): %s%s", dev->bdf, bar,
				(unsigned long long)ri.size, strerror(-err),
				err == -EINVAL ? " (only parts of it may be mappable)" : "");
		goto out;
	}
	dev->bar[bar].va = p;
	dev->bar[bar].len = ri.size;
done:
	*va = dev->bar[bar].va;
	*len = dev->bar[bar].len;
out:
	pthread_mutex_unlock(&dev->lock);
	return err;
}

void dmki_pci_unmap_bars(struct dmk_pci *dev)
{
	for (unsigned i = 0; i < DMKI_PCI_BARS; i++) {
		if (dev->bar[i].va)
			munmap(dev->bar[i].va, dev->bar[i].len);
		dev->bar[i].va = NULL;
	}
}
