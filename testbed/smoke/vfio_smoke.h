/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the test bed's VFIO smoke tests: raw VFIO type1 ioctls,
 * no dmakit code. Not part of the library.
 */
#ifndef DMK_VFIO_SMOKE_H
#define DMK_VFIO_SMOKE_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#define SMOKE_FN static __attribute__((unused))

static int smoke_failures;

#define SAY(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)

/* CHECK(cond, fmt...): report and count a failed check, go on. */
#define CHECK(cond, ...)                                                \
	do {                                                            \
		if (cond) {                                             \
			SAY("  ok: " __VA_ARGS__);                      \
		} else {                                                \
			SAY("  FAILED: " __VA_ARGS__);                  \
			smoke_failures++;                               \
		}                                                       \
	} while (0)

/* DIE(fmt...): report a failure that leaves nothing to test, exit 1. */
#define DIE(...)                                                        \
	do {                                                            \
		SAY("  FATAL: " __VA_ARGS__);                           \
		exit(1);                                                \
	} while (0)

SMOKE_FN const char *smoke_env(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v)
		DIE("environment variable %s is not set (run under testbed/run)\n", name);
	return v;
}

SMOKE_FN double smoke_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct smoke_iova_range {
	uint64_t start, end; /* inclusive */
};

struct smoke_vfio {
	int container;
	int group;
	int device;
	struct smoke_iova_range ranges[16];
	unsigned int nr_ranges;
	uint64_t pgsizes;
};

/* Open the container and @group_no, set type1v2, read the IOVA ranges. */
SMOKE_FN void smoke_vfio_open(struct smoke_vfio *v, const char *group_no)
{
	char path[64];
	struct vfio_group_status status = { .argsz = sizeof(status) };

	memset(v, 0, sizeof(*v));
	v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (v->container < 0)
		DIE("open /dev/vfio/vfio: %s\n", strerror(errno));
	int api = ioctl(v->container, VFIO_GET_API_VERSION);
	if (api != VFIO_API_VERSION)
		DIE("VFIO API version %d, want %d\n", api, VFIO_API_VERSION);
	if (ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1)
		DIE("container lacks VFIO_TYPE1v2_IOMMU\n");

	snprintf(path, sizeof(path), "/dev/vfio/%s", group_no);
	v->group = open(path, O_RDWR | O_CLOEXEC);
	if (v->group < 0)
		DIE("open %s: %s\n", path, strerror(errno));
	if (ioctl(v->group, VFIO_GROUP_GET_STATUS, &status) < 0)
		DIE("VFIO_GROUP_GET_STATUS: %s\n", strerror(errno));
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE))
		DIE("group %s is not viable (another device of it is bound elsewhere)\n", group_no);
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container) < 0)
		DIE("VFIO_GROUP_SET_CONTAINER: %s\n", strerror(errno));
	if (ioctl(v->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0)
		DIE("VFIO_SET_IOMMU(TYPE1v2): %s\n", strerror(errno));

	/* IOMMU info, then again with room for the capability chain. */
	struct vfio_iommu_type1_info *info = calloc(1, sizeof(*info));
	if (!info)
		DIE("out of memory\n");
	info->argsz = sizeof(*info);
	if (ioctl(v->container, VFIO_IOMMU_GET_INFO, info) < 0)
		DIE("VFIO_IOMMU_GET_INFO: %s\n", strerror(errno));
	if (info->argsz > sizeof(*info)) {
		uint32_t sz = info->argsz;
		info = realloc(info, sz);
		if (!info)
			DIE("out of memory\n");
		memset(info, 0, sz);
		info->argsz = sz;
		if (ioctl(v->container, VFIO_IOMMU_GET_INFO, info) < 0)
			DIE("VFIO_IOMMU_GET_INFO (caps): %s\n", strerror(errno));
	}
	v->pgsizes = info->iova_pgsizes;
	SAY("  iommu: page sizes 0x%llx, flags 0x%x\n",
	    (unsigned long long)info->iova_pgsizes, info->flags);
	if ((info->flags & VFIO_IOMMU_INFO_CAPS) && info->cap_offset) {
		uint32_t off = info->cap_offset;
		while (off) {
			struct vfio_info_cap_header *h = (void *)((char *)info + off);
			if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
				struct vfio_iommu_type1_info_cap_iova_range *r = (void *)h;
				for (uint32_t i = 0; i < r->nr_iovas && v->nr_ranges < 16; i++) {
					v->ranges[v->nr_ranges].start = r->iova_ranges[i].start;
					v->ranges[v->nr_ranges].end = r->iova_ranges[i].end;
					SAY("  iommu: IOVA range %u: 0x%llx-0x%llx\n", i,
					    (unsigned long long)r->iova_ranges[i].start,
					    (unsigned long long)r->iova_ranges[i].end);
					v->nr_ranges++;
				}
			}
			off = h->next;
		}
	}
	free(info);
	if (v->nr_ranges == 0)
		DIE("VFIO_IOMMU_GET_INFO reported no IOVA range capability\n");
}

/* true if [iova, iova + len) lies inside one usable IOVA range */
SMOKE_FN bool smoke_iova_ok(const struct smoke_vfio *v, uint64_t iova, uint64_t len)
{
	for (unsigned int i = 0; i < v->nr_ranges; i++)
		if (iova >= v->ranges[i].start && iova + len - 1 <= v->ranges[i].end)
			return true;
	return false;
}

SMOKE_FN void smoke_vfio_device(struct smoke_vfio *v, const char *bdf)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (v->device < 0)
		DIE("VFIO_GROUP_GET_DEVICE_FD %s: %s\n", bdf, strerror(errno));
	if (ioctl(v->device, VFIO_DEVICE_GET_INFO, &info) < 0)
		DIE("VFIO_DEVICE_GET_INFO: %s\n", strerror(errno));
	SAY("  device %s: flags 0x%x, %u regions, %u irqs\n", bdf, info.flags,
	    info.num_regions, info.num_irqs);
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI))
		DIE("device %s is not a PCI device\n", bdf);
}

SMOKE_FN volatile void *smoke_map_bar(struct smoke_vfio *v, unsigned int index,
				    uint64_t *size)
{
	struct vfio_region_info reg = { .argsz = sizeof(reg), .index = index };

	if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &reg) < 0)
		DIE("VFIO_DEVICE_GET_REGION_INFO(%u): %s\n", index, strerror(errno));
	SAY("  BAR%u: size 0x%llx, offset 0x%llx, flags 0x%x\n", index,
	    (unsigned long long)reg.size, (unsigned long long)reg.offset, reg.flags);
	if (!(reg.flags & VFIO_REGION_INFO_FLAG_MMAP) || reg.size == 0)
		DIE("BAR%u cannot be mmapped\n", index);
	void *p = mmap(NULL, reg.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       v->device, (off_t)reg.offset);
	if (p == MAP_FAILED)
		DIE("mmap BAR%u: %s\n", index, strerror(errno));
	*size = reg.size;
	return p;
}

/* Set memory space and bus master enable in the command register. */
SMOKE_FN void smoke_enable_bus_master(struct smoke_vfio *v)
{
	struct vfio_region_info reg = { .argsz = sizeof(reg),
					.index = VFIO_PCI_CONFIG_REGION_INDEX };
	uint16_t cmd;

	if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &reg) < 0)
		DIE("config region info: %s\n", strerror(errno));
	if (pread(v->device, &cmd, 2, (off_t)reg.offset + PCI_COMMAND) != 2)
		DIE("read PCI_COMMAND: %s\n", strerror(errno));
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (pwrite(v->device, &cmd, 2, (off_t)reg.offset + PCI_COMMAND) != 2)
		DIE("write PCI_COMMAND: %s\n", strerror(errno));
	if (pread(v->device, &cmd, 2, (off_t)reg.offset + PCI_COMMAND) != 2)
		DIE("read PCI_COMMAND: %s\n", strerror(errno));
	CHECK(cmd & PCI_COMMAND_MASTER, "bus mastering enabled (command 0x%04x)\n", cmd);
}

SMOKE_FN int smoke_map_dma(struct smoke_vfio *v, void *vaddr, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	return ioctl(v->container, VFIO_IOMMU_MAP_DMA, &map);
}

SMOKE_FN int smoke_unmap_dma(struct smoke_vfio *v, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = size,
	};

	if (ioctl(v->container, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
		return -1;
	return unmap.size == size ? 0 : -1;
}

SMOKE_FN int smoke_result(const char *name)
{
	if (smoke_failures) {
		SAY("%s: %d check(s) FAILED\n", name, smoke_failures);
		return 1;
	}
	SAY("%s: all checks passed\n", name);
	return 0;
}

#endif
