/* SPDX-License-Identifier: MIT */
/*
 * PCI devices through VFIO: interrupts delivered to eventfds. A uio device
 * (uio.c) has none of them: its users poll.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <dmakit/pci.h>

#include "../core/error_priv.h"
#include "pci_priv.h"

static const char *const irq_names[] = { "INTx", "MSI", "MSI-X" };

int dmk_pci_irq_count(struct dmk_pci *dev, enum dmk_pci_irq_type type, unsigned *count)
{
	struct vfio_irq_info ii = { .argsz = sizeof(ii) };

	if ((unsigned)type > DMK_PCI_IRQ_MSIX)
		return dmki_fail(-EINVAL, "unknown interrupt type %d", (int)type);
	*count = 0;
	if (dev->backend == DMKI_PCI_UIO)
		return 0;	/* uio_pci_generic offers no eventfds */
	if ((unsigned)type >= dev->num_irqs)
		return 0;
	ii.index = (uint32_t)type;
	if (ioctl(dev->fd, VFIO_DEVICE_GET_IRQ_INFO, &ii))
		return 0;	/* the kernel knows no such interrupt for the device */
	*count = ii.count;
	return 0;
}

/* VFIO_DEVICE_SET_IRQS with @n eventfds (or none, @fds NULL). */
static int set_irqs(struct dmk_pci *dev, uint32_t flags, unsigned index, unsigned n,
		    const int *fds)
{
	size_t sz = sizeof(struct vfio_irq_set) + (size_t)n * sizeof(int32_t);
	struct vfio_irq_set *set = calloc(1, sz);
	int err = 0;

	if (!set)
		return dmki_fail(-ENOMEM, "out of memory setting interrupts");
	set->argsz = (uint32_t)sz;
	set->flags = flags;
	set->index = index;
	set->start = 0;
	set->count = n;
	if (fds)
		memcpy(set->data, fds, (size_t)n * sizeof(int32_t));
	if (ioctl(dev->fd, VFIO_DEVICE_SET_IRQS, set)) {
		err = -errno;
		err = dmki_fail(err, "%s: VFIO_DEVICE_SET_IRQS(%s, %u vectors): %s", dev->bdf,
				irq_names[index], n, strerror(-err));
	}
	free(set);
	return err;
}

static void close_fds(struct dmk_pci *dev)
{
	for (unsigned i = 0; i < dev->irq_n; i++)
		close(dev->irq_fds[i]);
	free(dev->irq_fds);
	dev->irq_fds = NULL;
	dev->irq_n = 0;
	dev->irq_type = -1;
}

int dmk_pci_irq_enable(struct dmk_pci *dev, enum dmk_pci_irq_type type, unsigned nvec,
		       int efds[])
{
	unsigned have;
	int *fds, err;

	if (dev->backend == DMKI_PCI_UIO)
		return dmki_fail(-ENOTSUP, "%s: no %s interrupts through uio_pci_generic: poll the device",
				 dev->bdf, (unsigned)type <= DMK_PCI_IRQ_MSIX ? irq_names[type] : "such");
	err = dmk_pci_irq_count(dev, type, &have);
	if (err)
		return err;
	if (!nvec || nvec > have)
		return dmki_fail(-EINVAL, "%s has %u %s vectors; %u asked for", dev->bdf, have,
				 irq_names[type], nvec);
	pthread_mutex_lock(&dev->lock);
	if (dev->irq_type >= 0) {
		err = dmki_fail(-EBUSY, "%s: %s interrupts are enabled already", dev->bdf,
				irq_names[dev->irq_type]);
		goto out;
	}
	fds = calloc(nvec, sizeof(*fds));
	if (!fds) {
		err = dmki_fail(-ENOMEM, "out of memory for %u eventfds", nvec);
		goto out;
	}
	dev->irq_fds = fds;
	for (dev->irq_n = 0; dev->irq_n < nvec; dev->irq_n++) {
		fds[dev->irq_n] = eventfd(0, EFD_CLOEXEC);
		if (fds[dev->irq_n] < 0) {
			err = -errno;
			err = dmki_fail(err, "eventfd: %s", strerror(-err));
			close_fds(dev);
			goto out;
		}
	}
	err = set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		       (unsigned)type, nvec, fds);
	if (err) {
		close_fds(dev);
		goto out;
	}
	dev->irq_type = (int)type;
	memcpy(efds, fds, nvec * sizeof(*fds));
out:
	pthread_mutex_unlock(&dev->lock);
	return err;
}

int dmk_pci_irq_disable(struct dmk_pci *dev)
{
	int err = 0;

	pthread_mutex_lock(&dev->lock);
	if (dev->irq_type >= 0) {
		err = set_irqs(dev, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
			       (unsigned)dev->irq_type, 0, NULL);
		close_fds(dev);
	}
	pthread_mutex_unlock(&dev->lock);
	return err;
}

int dmk_pci_irq_unmask(struct dmk_pci *dev)
{
	int err;

	pthread_mutex_lock(&dev->lock);
	if (dev->irq_type != DMK_PCI_IRQ_INTX)
		err = dmki_fail(-EINVAL, "%s: INTx is not enabled", dev->bdf);
	else
		err = set_irqs(dev, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
			       VFIO_PCI_INTX_IRQ_INDEX, 1, NULL);
	pthread_mutex_unlock(&dev->lock);
	return err;
}
