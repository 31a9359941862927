/* SPDX-License-Identifier: MIT */
/*
 * dmakit-bind: bind PCI devices to vfio-pci and print their IOMMU groups.
 *
 *	dmakit-bind 0000:00:03.0          bind one device
 *	dmakit-bind 1234:11e8             bind every edu device
 *	dmakit-bind -n 0000:00:03.0       only print the group
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmakit/error.h>
#include <dmakit/pci.h>

#define MAX_DEVS 64

static void usage(FILE *f)
{
	fprintf(f, "usage: dmakit-bind [-n] BDF|VENDOR:DEVICE...\n"
		   "  Binds each device (DDDD:BB:DD.F, or every device with the given\n"
		   "  hexadecimal IDs) to vfio-pci and prints: BDF group N /dev/vfio/N\n"
		   "  -n  bind nothing, only print the groups\n");
}

static int one(const char *bdf, int bind)
{
	int group, err;

	if (bind && (err = dmk_pci_bind_vfio(bdf))) {
		fprintf(stderr, "dmakit-bind: %s: %s\n", bdf, dmk_last_error());
		return 1;
	}
	err = dmk_pci_iommu_group(bdf, &group);
	if (err) {
		fprintf(stderr, "dmakit-bind: %s: %s\n", bdf, dmk_last_error());
		return 1;
	}
	printf("%s group %d /dev/vfio/%d\n", bdf, group, group);
	return 0;
}

int main(int argc, char **argv)
{
	int bind = 1, failed = 0, i = 1;

	if (argc > 1 && !strcmp(argv[1], "-n")) {
		bind = 0;
		i++;
	}
	if (i >= argc || !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
		usage(i >= argc ? stderr : stdout);
		return i >= argc ? 2 : 0;
	}
	for (; i < argc; i++) {
		unsigned vendor, device;
		char bdfs[MAX_DEVS][DMK_PCI_BDF_SIZE];
		size_t n;
		int len = 0;

		if (strchr(argv[i], '.')) {
			failed |= one(argv[i], bind);
			continue;
		}
		if (sscanf(argv[i], "%x:%x%n", &vendor, &device, &len) != 2 ||
		    argv[i][len] != 0) {
			fprintf(stderr, "dmakit-bind: '%s' is neither a BDF nor VENDOR:DEVICE\n",
				argv[i]);
			failed = 1;
			continue;
		}
		if (dmk_pci_find(vendor, device, DMK_PCI_ANY, bdfs, MAX_DEVS, &n)) {
			fprintf(stderr, "dmakit-bind: %s\n", dmk_last_error());
			return 1;
		}
		if (!n) {
			fprintf(stderr, "dmakit-bind: no %04x:%04x device\n", vendor, device);
			failed = 1;
		}
		for (size_t k = 0; k < n && k < MAX_DEVS; k++)
			failed |= one(bdfs[k], bind);
	}
	return failed;
}
