/* SPDX-License-Identifier: MIT */
/*
 * PCI devices: open through VFIO, close, configuration space, reset, reach.
 * The uio backend (uio.c) shares the configuration space calls: its @fd is
 * the sysfs config file, at offset 0.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <dmakit/pci.h>
#include <dmakit/space.h>

#include "../core/error_priv.h"
#include "../space/vfio_priv.h"
#include "pci_priv.h"

#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4

int dmki_pci_normalise_bdf(const char *bdf, char out[DMK_PCI_BDF_SIZE])
{
	size_t len, colons = 0;

	if (!bdf)
		return dmki_fail(-EINVAL, "no PCI address given");
	len = strlen(bdf);
	for (size_t i = 0; i < len; i++) {
		if (bdf[i] == ':')
			colons++;
		else if (!isxdigit((unsigned char)bdf[i]) && bdf[i] != '.')
			return dmki_fail(-EINVAL, "\"%s\" is not a PCI address (DDDD:BB:DD.F)", bdf);
	}
	if (!len || colons < 1 || colons > 2 || !strchr(bdf, '.') ||
	    len + (colons == 1 ? 5 : 0) >= DMK_PCI_BDF_SIZE)
		return dmki_fail(-EINVAL, "\"%s\" is not a PCI address (DDDD:BB:DD.F)", bdf);
	snprintf(out, DMK_PCI_BDF_SIZE, "%s%s", colons == 1 ? "0000:" : "", bdf);
	return 0;
}

int dmki_pci_region_info(struct dmk_pci *dev, unsigned index, struct vfio_region_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	if (ioctl(dev->fd, VFIO_DEVICE_GET_REGION_INFO, ri)) {
		int err = -errno;

		return dmki_fail(err, "%s: VFIO_DEVICE_GET_REGION_INFO(%u): %s", dev->bdf, index,
				 strerror(-err));
	}
	return 0;
}

int dmk_pci_open(struct dmk_space *vfio_space, const char *bdf, struct dmk_pci **out)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info ri;
	struct dmk_pci *dev;
	int gfd, err;

	if (!dmki_space_is_vfio(vfio_space))
		return dmki_fail(-EINVAL, "dmk_pci_open needs a vfio space");
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return dmki_fail(-ENOMEM, "out of memory opening a PCI device");
	dev->fd = -1;
	dev->irq_type = -1;
	pthread_mutex_init(&dev->lock, NULL);
	dev->space = vfio_space;
	dev->uio_fd = -1;
	err = dmki_pci_normalise_bdf(bdf, dev->bdf);
	if (err)
		goto fail;
	err = dmk_pci_iommu_group(dev->bdf, &dev->group);	/* -ENODEV when missing */
	if (err)
		goto fail;
	err = dmki_vfio_group_attach(vfio_space, dev->group, &gfd);
	if (err)
		goto fail;
	dev->fd = ioctl(gfd, VFIO_GROUP_GET_DEVICE_FD, dev->bdf);
	if (dev->fd < 0) {
		err = -errno;
		err = dmki_fail(err, "VFIO_GROUP_GET_DEVICE_FD(%s) in group %d: %s", dev->bdf,
				dev->group, strerror(-err));
		goto fail;
	}
	if (ioctl(dev->fd, VFIO_DEVICE_GET_INFO, &info)) {
		err = -errno;
		err = dmki_fail(err, "%s: VFIO_DEVICE_GET_INFO: %s", dev->bdf, strerror(-err));
		goto fail;
	}
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX) {
		err = dmki_fail(-ENODEV, "%s is not a VFIO PCI device", dev->bdf);
		goto fail;
	}
	dev->flags = info.flags;
	dev->num_regions = info.num_regions;
	dev->num_irqs = info.num_irqs;
	err = dmki_pci_region_info(dev, VFIO_PCI_CONFIG_REGION_INDEX, &ri);
	if (err)
		goto fail;
	dev->cfg_offset = ri.offset;
	dev->cfg_size = ri.size;
	*out = dev;
	return 0;

fail:
	if (dev->fd >= 0)
		close(dev->fd);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
	return err;
}

int dmk_pci_close(struct dmk_pci *dev)
{
	if (!dev)
		return 0;
	dmk_pci_irq_disable(dev);
	dmki_pci_unmap_bars(dev);
	if (dev->backend == DMKI_PCI_UIO)
		dmki_pci_uio_close(dev);
	else
		dmki_vfio_dev_reach(dev->space, dev, 0);
	close(dev->fd);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
	return 0;
}

const char *dmk_pci_bdf(const struct dmk_pci *dev)
{
	return dev->bdf;
}

bool dmki_pci_in_space(const struct dmk_pci *dev, const struct dmk_space *sp)
{
	if (dev->backend == DMKI_PCI_UIO)
		return sp && strcmp(dmk_space_kind(sp), "phys") == 0;
	return dev->space == sp;
}

static int config_range(const struct dmk_pci *dev, unsigned offset, size_t len)
{
	if (offset > dev->cfg_size || len > dev->cfg_size - offset)
		return dmki_fail(-EINVAL, "%s: config bytes [%#x, +%zu) outside its %llu bytes",
				 dev->bdf, offset, len, (unsigned long long)dev->cfg_size);
	return 0;
}

int dmk_pci_config_read(struct dmk_pci *dev, unsigned offset, void *buf, size_t len)
{
	ssize_t n;
	int err = config_range(dev, offset, len);

	if (err)
		return err;
	n = pread(dev->fd, buf, len, (off_t)(dev->cfg_offset + offset));
	if (n < 0) {
		err = -errno;
		return dmki_fail(err, "%s: config read at %#x: %s", dev->bdf, offset,
				 strerror(-err));
	}
	if ((size_t)n != len)
		return dmki_fail(-EIO, "%s: config read at %#x: %zd of %zu bytes", dev->bdf,
				 offset, n, len);
	return 0;
}

int dmk_pci_config_write(struct dmk_pci *dev, unsigned offset, const void *buf, size_t len)
{
	ssize_t n;
	int err = config_range(dev, offset, len);

	if (err)
		return err;
	n = pwrite(dev->fd, buf, len, (off_t)(dev->cfg_offset + offset));
	if (n < 0) {
		err = -errno;
		return dmki_fail(err, "%s: config write at %#x: %s", dev->bdf, offset,
				 strerror(-err));
	}
	if ((size_t)n != len)
		return dmki_fail(-EIO, "%s: config write at %#x: %zd of %zu bytes", dev->bdf,
				 offset, n, len);
	return 0;
}

int dmk_pci_enable_bus_master(struct dmk_pci *dev)
{
	uint8_t cmd[2];
	int err;

	pthread_mutex_lock(&dev->lock);
	err = dmk_pci_config_read(dev, PCI_COMMAND, cmd, sizeof(cmd));
	if (!err && (cmd[0] & (PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY)) !=
			    (PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY)) {
		cmd[0] |= PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY;	/* low byte, little-endian */
		err = dmk_pci_config_write(dev, PCI_COMMAND, cmd, sizeof(cmd));
	}
	pthread_mutex_unlock(&dev->lock);
	return err;
}

int dmk_pci_reset(struct dmk_pci *dev)
{
	if (dev->backend == DMKI_PCI_UIO)
		return dmki_fail(-ENOTSUP, "%s: no reset through uio_pci_generic (VFIO only)",
				 dev->bdf);
	if (!(dev->flags & VFIO_DEVICE_FLAGS_RESET))
		return dmki_fail(-ENOTSUP, "%s cannot be reset on its own (VFIO offers no reset)",
				 dev->bdf);
	if (ioctl(dev->fd, VFIO_DEVICE_RESET)) {
		int err = -errno;

		return dmki_fail(err, "%s: VFIO_DEVICE_RESET: %s", dev->bdf, strerror(-err));
	}
	return 0;
}

int dmk_pci_set_reach(struct dmk_pci *dev, unsigned bits)
{
	if (bits < 12 || bits > 64)
		return dmki_fail(-EINVAL, "reach of %u address bits is not within 12..64", bits);
	if (dev->backend == DMKI_PCI_UIO) {
		dev->reach = bits;	/* physical addresses: nothing to remap */
		return 0;
	}
	return dmki_vfio_dev_reach(dev->space, dev, bits);
}
