/* SPDX-License-Identifier: MIT */
/*
 * dmakit-bind: bind PCI devices to vfio-pci and print their IOMMU groups.
 *
 *	dmakit-bind 0000:00:03.0          bind one device
 *	dmakit-bind 1234:11e8             bind every edu device
 *	dmakit-bind -n 0000:00:03.0       only print the group
 *
 * dmakit-bind --help lists the options.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmakit/error.h>
#include <dmakit/pci.h>

#include "opts.h"

#define PROG "dmakit-bind"
#define MAX_DEVS 64

/* @s is VENDOR:DEVICE, each 1 to 4 hexadecimal digits: 0, or -1. */
static int parse_ids(const char *s, unsigned *vendor, unsigned *device)
{
	unsigned *id = vendor;
	int digits = 0;

	*vendor = *device = 0;
	for (; *s; s++) {
		int d = *s >= '0' && *s <= '9' ? *s - '0' :
			*s >= 'a' && *s <= 'f' ? *s - 'a' + 10 :
			*s >= 'A' && *s <= 'F' ? *s - 'A' + 10 : -1;

		if (*s == ':' && id == vendor && digits) {
			id = device;
			digits = 0;
			continue;
		}
		if (d < 0 || ++digits > 4)
			return -1;
		*id = *id * 16 + (unsigned)d;
	}
	return id == device && digits ? 0 : -1;
}

static int one(const char *bdf, bool bind)
{
	int group, err;

	if (bind && (err = dmk_pci_bind_vfio(bdf))) {
		fprintf(stderr, PROG ": %s: %s\n", bdf, dmk_last_error());
		return 1;
	}
	err = dmk_pci_iommu_group(bdf, &group);
	if (err) {
		fprintf(stderr, PROG ": %s: %s\n", bdf, dmk_last_error());
		return 1;
	}
	printf("%s group %d /dev/vfio/%d\n", bdf, group, group);
	return 0;
}

int main(int argc, char **argv)
{
	bool no_bind = false;
	const struct opt_def defs[] = {
		{ .name = "no-bind", .key = 'n', .type = OPT_FLAG, OPT_TO(no_bind),
		  .help = "bind nothing, only print the groups" },
	};
	const struct opt_tool tool = {
		PROG, "[-n] BDF|VENDOR:DEVICE...",
		"Binds each device (DDDD:BB:DD.F, or every device with the given hexadecimal "
		"IDs) to vfio-pci and prints: BDF group N /dev/vfio/N",
		"Exit status: 0; 1 when a device cannot be bound or has no IOMMU group (its "
		"reason is printed); 2 for bad options or operands.",
		defs, OPT_COUNT(defs),
	};
	int failed = 0, first = opt_parse(&tool, argc, argv);

	if (first >= argc)
		opt_usage_error(PROG, "name at least one device: BDF or VENDOR:DEVICE");
	/* every operand checked before anything is bound */
	for (int i = first; i < argc; i++) {
		unsigned vendor, device;

		if (!opt_is_bdf(argv[i]) && parse_ids(argv[i], &vendor, &device))
			opt_usage_error(PROG, "'%s' is neither a BDF (DDDD:BB:DD.F, lowercase "
					"hexadecimal) nor VENDOR:DEVICE (hexadecimal IDs)", argv[i]);
	}
	for (int i = first; i < argc; i++) {
		char bdfs[MAX_DEVS][DMK_PCI_BDF_SIZE];
		unsigned vendor, device;
		size_t n;

		if (opt_is_bdf(argv[i])) {
			failed |= one(argv[i], !no_bind);
			continue;
		}
		parse_ids(argv[i], &vendor, &device);
		if (dmk_pci_find(vendor, device, DMK_PCI_ANY, bdfs, MAX_DEVS, &n)) {
			fprintf(stderr, PROG ": %s\n", dmk_last_error());
			return EXIT_LIB;
		}
		if (!n) {
			fprintf(stderr, PROG ": no %04x:%04x device\n", vendor, device);
			failed = 1;
		}
		for (size_t k = 0; k < n && k < MAX_DEVS; k++)
			failed |= one(bdfs[k], !no_bind);
	}
	return failed;
}
