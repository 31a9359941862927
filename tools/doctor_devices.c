/* SPDX-License-Identifier: MIT */
/*
 * dmakit doctor: how devices can be reached. The IOMMU and its groups; VFIO
 * type1, vfio-pci, iommufd, VFIO's no-IOMMU mode and uio_pci_generic, each
 * available, not loaded (a module on disk) or missing; every PCI device with
 * its IDs, class, driver and IOMMU group.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <dmakit/pci.h>

#include "doctor.h"

#define SYS_PCI "/sys/bus/pci"

static long iommu(void)
{
	long groups = doc_count_dir("/sys/kernel/iommu_groups");
	char units[200] = "", v[256];
	DIR *d = opendir("/sys/class/iommu");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		size_t len = strlen(units), n = strlen(e->d_name);

		if (e->d_name[0] == '.' || len + n + 2 > sizeof(units))
			continue;	/* more units than fit: the first ones are named */
		if (len)
			units[len++] = ' ';
		memcpy(units + len, e->d_name, n + 1);
	}
	if (d)
		closedir(d);
	if (*units) {
		snprintf(v, sizeof(v), "on (%s)", units);
		doc_fact("iommu", v, "devices can be isolated: VFIO type1 and dmakit's vfio space "
			 "(dmk_space_vfio_create)");
	} else {
		doc_fact("iommu", "off", "no IOMMU in /sys/class/iommu (none in the machine, or not "
			 "enabled: intel_iommu=on, amd_iommu=on): no isolation; a device only through "
			 "uio_pci_generic and the phys space, as root");
	}
	if (groups < 0)
		groups = 0;
	snprintf(v, sizeof(v), "%ld", groups);
	if (groups)
		doc_fact("iommu groups", v, "each becomes /dev/vfio/N once its devices are bound to vfio-pci");
	else
		doc_fact("iommu groups", v, "no device can be opened through VFIO type1 (dmk_pci_open)");
	return groups;
}

/* "available", "not loaded" or "missing": @present tells the first. */
static const char *module_state(bool present, const char *module)
{
	return present ? "available" : doc_module_on_disk(module) ? "not loaded" : "missing";
}

static bool exists(const char *path)
{
	return !access(path, F_OK);
}

/* VFIO's container: its API version and the type1v2 IOMMU driver. */
static void vfio_type1(struct doc_who *who, long groups)
{
	int fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC), api, err = errno;
	char v[64];

	if (fd < 0 && err == ENOENT && exists("/sys/module/vfio")) {
		doc_fact("vfio type1", "missing", "vfio is loaded but offers no /dev/vfio/vfio "
			 "container (CONFIG_VFIO_CONTAINER off, and no iommufd compatibility "
			 "container): no vfio space");
		return;
	}
	if (fd < 0 && err == ENOENT) {
		const char *s = module_state(false, "vfio");

		doc_fact("vfio type1", s, "no /dev/vfio/vfio: %s", strcmp(s, "missing") ?
			 "modprobe vfio-pci (it loads vfio and vfio_iommu_type1)" :
			 "not loaded, and no vfio module in /lib/modules: no vfio space");
		return;
	}
	if (fd < 0) {
		snprintf(v, sizeof(v), "no access (%s)", strerror(err));
		doc_fact("vfio type1", v, "/dev/vfio/vfio cannot be opened by this user: run as root "
			 "or give it access (its mode, a group)");
		return;
	}
	api = ioctl(fd, VFIO_GET_API_VERSION);
	if (api != VFIO_API_VERSION) {
		snprintf(v, sizeof(v), "unusable (API version %d)", api);
		doc_fact("vfio type1", v, "dmakit speaks VFIO API version %d", VFIO_API_VERSION);
	} else if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
		doc_fact("vfio type1", "not loaded", "VFIO is there but offers no type1v2 IOMMU: "
			 "modprobe vfio_iommu_type1");
	} else {
		who->vfio_type1 = true;
		doc_fact("vfio type1", "available", "VFIO API %d, type1v2 IOMMU: dmk_space_vfio_create() "
			 "makes a container%s", api, groups ? "" : "; but no IOMMU group exists to attach");
	}
	close(fd);
}

static void vfio_pci(void)
{
	const char *s = module_state(exists(SYS_PCI "/drivers/vfio-pci"), "vfio-pci");

	doc_fact("vfio-pci", s, "%s", !strcmp(s, "available") ?
		 "the driver dmakit-bind binds devices to for dmk_pci_open()" :
		 !strcmp(s, "not loaded") ? "modprobe vfio-pci, then dmakit-bind BDF" :
		 "not loaded, and no vfio-pci module in /lib/modules: no device for dmk_pci_open()");
}

static void iommufd(void)
{
	const char *s = module_state(exists("/dev/iommu"), "iommufd");

	doc_fact("iommufd", s, "%s", !strcmp(s, "available") ?
		 "/dev/iommu is there; dmakit uses the type1 container (/dev/vfio/vfio, which "
		 "iommufd can provide), not iommufd itself" :
		 "dmakit does not need it: its vfio space uses the type1 container");
}

static void vfio_noiommu(void)
{
	char p[16];
	int err = doc_read_line("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", p, sizeof(p));

	if (!err && (p[0] == 'Y' || p[0] == '1'))
		doc_fact("vfio noiommu", "available", "VFIO without isolation (/dev/vfio/noiommu-N, "
			 "tainting the kernel); dmakit's vfio space needs type1 and does not use it: "
			 "use uio_pci_generic and the phys space");
	else if (!err)
		doc_fact("vfio noiommu", "off", "the kernel has VFIO's no-IOMMU mode, not enabled "
			 "(enable_unsafe_noiommu_mode=N); dmakit does not use it");
	else if (exists("/sys/module/vfio"))
		doc_fact("vfio noiommu", "missing", "vfio is loaded without no-IOMMU mode "
			 "(CONFIG_VFIO_NOIOMMU); dmakit does not use it");
	else
		doc_fact("vfio noiommu", module_state(false, "vfio"), "vfio is not loaded; dmakit "
			 "does not use the no-IOMMU mode");
}

static void uio(void)
{
	const char *s = module_state(exists(SYS_PCI "/drivers/uio_pci_generic"), "uio_pci_generic");

	doc_fact("uio_pci_generic", s, "%s", !strcmp(s, "available") ?
		 "devices bound to it open with dmk_pci_open_uio() for a phys space (root, no "
		 "isolation)" : !strcmp(s, "not loaded") ?
		 "modprobe uio_pci_generic for devices without an IOMMU (phys space)" :
		 "not loaded, and no uio_pci_generic module in /lib/modules: no device for dmk_pci_open_uio()");
}

/* The PCI base class, in words. */
static const char *class_name(unsigned long cls)
{
	static const char *const names[] = {
		"unclassified", "mass storage", "network", "display", "multimedia", "memory",
		"bridge", "communication", "system peripheral", "input", "docking station",
		"processor", "serial bus", "wireless", "intelligent I/O", "satellite",
		"encryption", "signal processing", "processing accelerator", "instrumentation",
	};
	unsigned long base = cls >> 16;

	if ((cls >> 8) == 0x0108)
		return "NVMe";
	return base < sizeof(names) / sizeof(names[0]) ? names[base] : "other";
}

static int cmp_bdf(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* One device: "pci: BDF VVVV:DDDD class CCCCCC (name) driver D group G". */
static void pci_device(const char *bdf)
{
	char path[PATH_MAX], vendor[16] = "?", device[16] = "?", cls[16] = "0", drv[64], v[256],
		grp[32];
	unsigned long c;
	int group = -1;
	bool has_drv;

	snprintf(path, sizeof(path), SYS_PCI "/devices/%s/vendor", bdf);
	doc_read_line(path, vendor, sizeof(vendor));
	snprintf(path, sizeof(path), SYS_PCI "/devices/%s/device", bdf);
	doc_read_line(path, device, sizeof(device));
	snprintf(path, sizeof(path), SYS_PCI "/devices/%s/class", bdf);
	doc_read_line(path, cls, sizeof(cls));
	snprintf(path, sizeof(path), SYS_PCI "/devices/%s/driver", bdf);
	has_drv = !doc_link_name(path, drv, sizeof(drv));
	if (dmk_pci_iommu_group(bdf, &group))
		group = -1;
	c = strtoul(cls, NULL, 16);
	snprintf(grp, sizeof(grp), group >= 0 ? "group %d" : "group none", group);
	snprintf(v, sizeof(v), "%s %s:%s class %06lx (%s) driver %s %s", bdf,
		 vendor + (strncmp(vendor, "0x", 2) ? 0 : 2), device + (strncmp(device, "0x", 2) ? 0 : 2),
		 c, class_name(c), has_drv ? drv : "none", grp);
	snprintf(path, sizeof(path), "/dev/vfio/%d", group);
	if (has_drv && !strcmp(drv, "vfio-pci") && group >= 0)
		doc_fact("pci", v, "%s", exists(path) ? "ready for dmk_pci_open() in a vfio space" :
			 "on vfio-pci, but /dev/vfio/N is missing (no-IOMMU mode?)");
	else if (has_drv && !strcmp(drv, "vfio-pci"))
		doc_fact("pci", v, "on vfio-pci without an IOMMU group: dmakit cannot open it");
	else if (has_drv && !strcmp(drv, "uio_pci_generic"))
		doc_fact("pci", v, "ready for dmk_pci_open_uio() in a phys space (root, no isolation)");
	else if ((c >> 16) == 0x06)
		doc_fact("pci", v, "a bridge: not a device for a dmakit driver");
	else if (has_drv)
		doc_fact("pci", v, "held by the kernel's %s driver; %s", drv, group >= 0 ?
			 "dmakit-bind BDF moves it to vfio-pci" : "without an IOMMU: bind it to "
			 "uio_pci_generic for a phys space");
	else
		doc_fact("pci", v, "no driver; %s", group >= 0 ? "dmakit-bind BDF binds it "
			 "to vfio-pci" : "bind it to uio_pci_generic for a phys space");
}

static void pci_devices(void)
{
	char (*bdfs)[DMK_PCI_BDF_SIZE];
	size_t n = 0, got;
	char v[32];

	if (dmk_pci_find(DMK_PCI_ANY, DMK_PCI_ANY, DMK_PCI_ANY, NULL, 0, &n)) {
		doc_fact("pci devices", "missing", "no " SYS_PCI "/devices (no PCI bus, or sysfs not mounted)");
		return;
	}
	bdfs = calloc(n ? n : 1, sizeof(*bdfs));
	if (!bdfs || dmk_pci_find(DMK_PCI_ANY, DMK_PCI_ANY, DMK_PCI_ANY, bdfs, n, &got)) {
		doc_fact("pci devices", "unknown", "out of memory, or " SYS_PCI "/devices went away");
		free(bdfs);
		return;
	}
	if (got < n)
		n = got;
	snprintf(v, sizeof(v), "%zu", n);
	doc_fact("pci devices", v, "in " SYS_PCI "/devices, one line each below");
	qsort(bdfs, n, sizeof(*bdfs), cmp_bdf);
	for (size_t i = 0; i < n; i++)
		pci_device(bdfs[i]);
	free(bdfs);
}

void doc_devices(struct doc_who *who)
{
	long groups = iommu();

	vfio_type1(who, groups);
	vfio_pci();
	iommufd();
	vfio_noiommu();
	uio();
	pci_devices();
}
