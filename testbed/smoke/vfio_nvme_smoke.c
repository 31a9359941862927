/* SPDX-License-Identifier: MIT */
/*
 * Test bed smoke test: QEMU's nvme device through raw VFIO type1 ioctls.
 * Opens the device, maps BAR0 and reads CAP and VS; does not drive the
 * controller. Also asks the host, with DMKCHECK lines, to verify that the
 * fresh backing file is still all zeros at its start and end, which proves
 * the host-side image check works end to end. Not part of the library.
 *
 * Environment (from the bed's /init): DMK_NVME_BDF, DMK_NVME_GROUP,
 * DMK_NVME_IMAGE_SIZE.
 */
#include "vfio_smoke.h"

#define NVME_CAP	0x00
#define NVME_VS		0x08
#define NVME_CSTS	0x1c

int main(void)
{
	const char *bdf = smoke_env("DMK_NVME_BDF");
	const char *group = smoke_env("DMK_NVME_GROUP");
	unsigned long long image_size = strtoull(smoke_env("DMK_NVME_IMAGE_SIZE"), NULL, 0);
	struct smoke_vfio v;
	uint64_t bar_size;

	SAY("vfio_nvme_smoke: nvme %s, group %s\n", bdf, group);
	smoke_vfio_open(&v, group);
	smoke_vfio_device(&v, bdf);
	volatile uint8_t *bar = smoke_map_bar(&v, VFIO_PCI_BAR0_REGION_INDEX, &bar_size);
	CHECK(bar_size >= 0x1000, "BAR0 is large enough (0x%llx)\n",
	      (unsigned long long)bar_size);

	uint32_t cap_lo = *(volatile uint32_t *)(bar + NVME_CAP);
	uint32_t cap_hi = *(volatile uint32_t *)(bar + NVME_CAP + 4);
	uint64_t cap = (uint64_t)cap_hi << 32 | cap_lo;
	uint32_t vs = *(volatile uint32_t *)(bar + NVME_VS);
	uint32_t csts = *(volatile uint32_t *)(bar + NVME_CSTS);

	SAY("  CAP  0x%016llx: MQES %u, CQR %u, TO %u ms, DSTRD %u, CSS 0x%02x, "
	    "MPSMIN %u KiB, MPSMAX %u KiB\n",
	    (unsigned long long)cap, (unsigned)(cap & 0xffff) + 1,
	    (unsigned)(cap >> 16) & 1, ((unsigned)(cap >> 24) & 0xff) * 500,
	    (unsigned)(cap >> 32) & 0xf, (unsigned)(cap >> 37) & 0xff,
	    4u << ((cap >> 48) & 0xf), 4u << ((cap >> 52) & 0xf));
	SAY("  VS   0x%08x: NVMe %u.%u.%u\n", vs, vs >> 16, (vs >> 8) & 0xff, vs & 0xff);
	SAY("  CSTS 0x%08x\n", csts);

	CHECK(cap != 0 && cap != ~0ull, "CAP reads as a real value\n");
	CHECK((vs >> 16) >= 1 && vs != ~0u, "VS names NVMe 1.x or later\n");
	CHECK(((cap >> 37) & 1) == 1, "CAP.CSS includes the NVM command set\n");

	/* The host verifies these against the backing file after power-off. */
	SAY("DMKCHECK offset=0 len=65536 pattern=00\n");
	if (image_size > 4096)
		SAY("DMKCHECK offset=%llu len=4096 pattern=00\n", image_size - 4096);

	close(v.device);
	close(v.group);
	close(v.container);
	return smoke_result("vfio_nvme_smoke");
}
