/* SPDX-License-Identifier: MIT */
/* PCI devices in sysfs: finding them, their IOMMU groups, binding vfio-pci. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dmakit/pci.h>

#include "../core/error_priv.h"
#include "pci_priv.h"

#define SYSFS_PCI "/sys/bus/pci"

int dmki_pci_sysfs_path(char *buf, size_t size, const char *bdf, const char *attr)
{
	int n = snprintf(buf, size, SYSFS_PCI "/devices/%s/%s", bdf, attr);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* A sysfs attribute holding one hexadecimal number ("0x1b36\n"). */
static int read_hex(const char *bdf, const char *attr, uint32_t *val)
{
	char path[PATH_MAX], text[32];
	ssize_t n;
	int fd;

	if (dmki_pci_sysfs_path(path, sizeof(path), bdf, attr))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	text[n] = 0;
	*val = (uint32_t)strtoul(text, NULL, 16);
	return 0;
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0) {
		err = -errno;
		return dmki_fail(err, "open %s: %s", path, strerror(-err));
	}
	n = write(fd, text, strlen(text));
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return dmki_fail(err, "write \"%s\" to %s: %s", text, path, strerror(-err));
	return 0;
}

/* The last component of the symbolic link @attr of the device, or "". */
static int link_name(const char *bdf, const char *attr, char *name, size_t size)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *slash;
	ssize_t n;

	if (dmki_pci_sysfs_path(path, sizeof(path), bdf, attr))
		return -ENAMETOOLONG;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = 0;
	slash = strrchr(target, '/');
	slash = slash ? slash + 1 : target;
	if (strlen(slash) >= size)
		return -ENAMETOOLONG;
	strcpy(name, slash);
	return 0;
}

int dmk_pci_find(uint32_t vendor, uint32_t device, uint32_t class_code,
		 char bdfs[][DMK_PCI_BDF_SIZE], size_t max, size_t *count)
{
	DIR *d = opendir(SYSFS_PCI "/devices");
	struct dirent *e;
	size_t n = 0;

	if (!d) {
		int err = -errno;

		return dmki_fail(-ENOENT, "cannot read " SYSFS_PCI "/devices: %s", strerror(-err));
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		uint32_t v, dv, c;

		if (e->d_name[0] == '.' || len >= DMK_PCI_BDF_SIZE)
			continue;
		if (read_hex(e->d_name, "vendor", &v) || read_hex(e->d_name, "device", &dv) ||
		    read_hex(e->d_name, "class", &c))
			continue;
		if ((vendor != DMK_PCI_ANY && v != vendor) ||
		    (device != DMK_PCI_ANY && dv != device) ||
		    (class_code != DMK_PCI_ANY && c != class_code))
			continue;
		if (n < max)
			memcpy(bdfs[n], e->d_name, len + 1);
		n++;
	}
	closedir(d);
	*count = n;
	return 0;
}

/* 0 when @bdf names a device in sysfs; -EINVAL or -ENODEV after dmki_fail(). */
static int check_device(const char *bdf)
{
	char path[PATH_MAX];

	if (!bdf || strchr(bdf, '/') || dmki_pci_sysfs_path(path, sizeof(path), bdf, ""))
		return dmki_fail(-EINVAL, "\"%s\" is not a PCI address", bdf ? bdf : "(null)");
	if (access(path, F_OK))
		return dmki_fail(-ENODEV, "no PCI device %s", bdf);
	return 0;
}

int dmk_pci_iommu_group(const char *bdf, int *group)
{
	char name[64];
	char *end;
	long g;
	int err;

	err = check_device(bdf);
	if (err)
		return err;
	err = link_name(bdf, "iommu_group", name, sizeof(name));
	if (err)
		return dmki_fail(-ENOENT, "%s has no IOMMU group: is the IOMMU on "
				 "(intel_iommu=on / amd_iommu=on)?", bdf);
	g = strtol(name, &end, 10);
	if (*end || g < 0 || g > INT_MAX)
		return dmki_fail(-ENOENT, "%s: IOMMU group \"%s\" is not a number", bdf, name);
	*group = (int)g;
	return 0;
}

int dmk_pci_bind_vfio(const char *bdf)
{
	char path[PATH_MAX], drv[64];
	int err;

	err = check_device(bdf);
	if (err)
		return err;
	if (!link_name(bdf, "driver", drv, sizeof(drv)) && !strcmp(drv, "vfio-pci"))
		return 0;
	dmki_pci_sysfs_path(path, sizeof(path), bdf, "driver_override");
	err = write_text(path, "vfio-pci");
	if (err)
		return err;
	if (!link_name(bdf, "driver", drv, sizeof(drv))) {
		dmki_pci_sysfs_path(path, sizeof(path), bdf, "driver/unbind");
		err = write_text(path, bdf);
		if (err)
			return err;
	}
	err = write_text(SYSFS_PCI "/drivers_probe", bdf);
	if (err && err != -EINVAL && err != -ENODEV)
		return err;
	if (link_name(bdf, "driver", drv, sizeof(drv)) || strcmp(drv, "vfio-pci"))
		return dmki_fail(-ENODEV, "vfio-pci did not take %s (is the vfio-pci module "
				 "loaded? does the device have an IOMMU group?)", bdf);
	return 0;
}
