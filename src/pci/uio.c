/* SPDX-License-Identifier: MIT */
/*
 * PCI devices without VFIO: a device bound to uio_pci_generic, reached
 * through sysfs (config, resourceN) and held through /dev/uioN. No IOMMU:
 * device addresses are physical, from a phys space. No interrupts are
 * routed (irq.c refuses them): users poll.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dmakit/pci.h>

#include "../core/error_priv.h"
#include "pci_priv.h"

/* IORESOURCE_IO in the flags column of sysfs "resource". */
#define RES_IO 0x100u

/* The N of uioN under /sys/bus/pci/devices/@bdf/uio; -ENOENT when unbound. */
static int find_uio(const char *bdf, int *n)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (dmki_pci_sysfs_path(path, sizeof(path), bdf, "uio"))
		return dmki_fail(-ENAMETOOLONG, "%s: sysfs path too long", bdf);
	d = opendir(path);
	if (!d)
		return dmki_fail(-ENOENT, "%s has no %s: not bound to uio_pci_generic", bdf, path);
	*n = -1;
	while ((de = readdir(d)))
		if (sscanf(de->d_name, "uio%d", n) == 1)
			break;
	closedir(d);
	if (*n < 0)
		return dmki_fail(-ENOENT, "%s: %s names no uioN device", bdf, path);
	return 0;
}

static int open_fail(const char *bdf, const char *path)
{
	int err = -errno;

	return dmki_fail(err, "%s: open %s: %s%s", bdf, path, strerror(-err),
			 err == -EACCES || err == -EPERM ? " (needs root)" : "");
}

int dmk_pci_open_uio(const char *bdf, struct dmk_pci **out)
{
	char path[PATH_MAX];
	struct dmk_pci *dev;
	struct stat st;
	int n, err;

	if (!out)
		return dmki_fail(-EINVAL, "dmk_pci_open_uio needs a result pointer");
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return dmki_fail(-ENOMEM, "out of memory opening a PCI device");
	dev->backend = DMKI_PCI_UIO;
	dev->fd = -1;
	dev->uio_fd = -1;
	dev->group = -1;
	dev->irq_type = -1;
	pthread_mutex_init(&dev->lock, NULL);
	err = dmki_pci_normalise_bdf(bdf, dev->bdf);
	if (err)
		goto fail;
	if (dmki_pci_sysfs_path(path, sizeof(path), dev->bdf, "") || stat(path, &st)) {
		err = dmki_fail(-ENODEV, "no PCI device %s", dev->bdf);
		goto fail;
	}
	err = find_uio(dev->bdf, &n);
	if (err)
		goto fail;
	snprintf(path, sizeof(path), "/dev/uio%d", n);
	dev->uio_fd = open(path, O_RDWR | O_CLOEXEC);
	if (dev->uio_fd < 0) {
		err = open_fail(dev->bdf, path);
		goto fail;
	}
	dmki_pci_sysfs_path(path, sizeof(path), dev->bdf, "config");
	dev->fd = open(path, O_RDWR | O_CLOEXEC);
	if (dev->fd < 0) {
		err = open_fail(dev->bdf, path);
		goto fail;
	}
	if (fstat(dev->fd, &st)) {
		err = -errno;
		err = dmki_fail(err, "%s: fstat %s: %s", dev->bdf, path, strerror(-err));
		goto fail;
	}
	dev->cfg_offset = 0;
	dev->cfg_size = (uint64_t)st.st_size;
	*out = dev;
	return 0;

fail:
	if (dev->fd >= 0)
		close(dev->fd);
	if (dev->uio_fd >= 0)
		close(dev->uio_fd);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
	return err;
}

/* Start, end and flags of BAR @bar from sysfs "resource" (line @bar). */
static int bar_resource(const struct dmk_pci *dev, unsigned bar, uint64_t *start,
			uint64_t *end, uint64_t *flags)
{
	char path[PATH_MAX], line[128] = "";
	unsigned i = 0;
	FILE *f;

	dmki_pci_sysfs_path(path, sizeof(path), dev->bdf, "resource");
	f = fopen(path, "re");
	if (!f)
		return open_fail(dev->bdf, path);
	while (fgets(line, sizeof(line), f) && i < bar)
		i++;
	fclose(f);
	if (i != bar || sscanf(line, "%" SCNx64 " %" SCNx64 " %" SCNx64, start, end, flags) != 3)
		return dmki_fail(-EIO, "%s: %s has no line for BAR %u", dev->bdf, path, bar);
	return 0;
}

int dmki_pci_uio_map_bar(struct dmk_pci *dev, unsigned bar, void **va, size_t *len)
{
	uint64_t start, end, flags;
	char path[PATH_MAX], attr[16];
	void *p;
	int fd, err;

	err = bar_resource(dev, bar, &start, &end, &flags);
	if (err)
		return err;
	if (!end || end < start)
		return dmki_fail(-ENOENT, "%s has no BAR %u", dev->bdf, bar);
	if (flags & RES_IO)
		return dmki_fail(-ENOTSUP, "%s: BAR %u holds I/O ports, which cannot be mapped",
				 dev->bdf, bar);
	snprintf(attr, sizeof(attr), "resource%u", bar);
	dmki_pci_sysfs_path(path, sizeof(path), dev->bdf, attr);
	fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0)
		return open_fail(dev->bdf, path);
	p = mmap(NULL, (size_t)(end - start + 1), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	err = p == MAP_FAILED ? -errno : 0;
	close(fd);
	if (err)
		return dmki_fail(err, "%s: mmap of %s (%" PRIu64 " bytes): %s", dev->bdf, path,
				 end - start + 1, strerror(-err));
	*va = p;
	*len = (size_t)(end - start + 1);
	return 0;
}

void dmki_pci_uio_close(struct dmk_pci *dev)
{
	if (dev->uio_fd >= 0)
		close(dev->uio_fd);
	dev->uio_fd = -1;
}
