/* SPDX-License-Identifier: MIT */
/*
 * Test bed smoke test: QEMU's edu device through raw VFIO type1 ioctls.
 * Not part of the library; proves the bed (kernel, IOMMU, vfio-pci) works.
 *
 * edu (QEMU hw/misc/edu.c), BAR0 registers:
 *   0x00 identification 0x010000ed    0x04 liveness: reads back ~written
 *   0x80 DMA source     0x88 DMA destination   0x90 DMA count
 *   0x98 DMA command: bit 0 run (cleared when done), bit 1 direction
 *        (0: RAM -> device buffer, 1: device buffer -> RAM), bit 2 irq
 * The device buffer is 4096 bytes at device address 0x40000. QEMU 7.2
 * aborts the VM on a transfer that ends exactly at 0x41000, so transfers
 * here stay <= 4095 bytes. RAM addresses are masked to 28 bits: every IOVA
 * used here is below 2^28.
 *
 * Environment (from the bed's /init): DMK_EDU_BDF, DMK_EDU_GROUP.
 */
#include "vfio_smoke.h"

#define EDU_ID		0x00
#define EDU_LIVE	0x04
#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_CNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_CMD_RUN	0x1
#define EDU_CMD_TO_RAM	0x2
#define EDU_BUF		0x40000ull
#define EDU_REACH	(1ull << 28)

#define PAGE		4096ull
#define XFER		4095u		/* edu 7.2: never end at 0x41000 */
#define IOVA_BASE	0x1000000ull	/* 16 MiB */
#define IOVA_FAULT	0x5000000ull	/* 80 MiB: never mapped */

static volatile uint8_t *bar;

static uint32_t rd32(uint64_t off) { return *(volatile uint32_t *)(bar + off); }
static void wr32(uint64_t off, uint32_t v) { *(volatile uint32_t *)(bar + off) = v; }
static uint64_t rd64(uint64_t off) { return *(volatile uint64_t *)(bar + off); }
static void wr64(uint64_t off, uint64_t v) { *(volatile uint64_t *)(bar + off) = v; }

/* Run one edu DMA and wait for it; false if it never completes. */
static bool edu_dma(uint64_t src, uint64_t dst, uint64_t cnt, bool to_ram)
{
	if (cnt == 0 || cnt > XFER)
		DIE("edu_dma: bad count %llu\n", (unsigned long long)cnt);
	wr64(EDU_DMA_SRC, src);
	wr64(EDU_DMA_DST, dst);
	wr64(EDU_DMA_CNT, cnt);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr64(EDU_DMA_CMD, EDU_CMD_RUN | (to_ram ? EDU_CMD_TO_RAM : 0));
	double until = smoke_now() + 10.0;
	while (rd64(EDU_DMA_CMD) & EDU_CMD_RUN) {
		if (smoke_now() > until)
			return false;
		usleep(1000);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return true;
}

/* /dev/kmsg, positioned at its end, to see the IOMMU's fault reports. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* Wait up to 3 s for a DMAR fault record naming @iova. */
static bool kmsg_saw_fault(int fd, uint64_t iova)
{
	char want[64], rec[2048];
	double until = smoke_now() + 3.0;

	snprintf(want, sizeof(want), "fault addr 0x%llx", (unsigned long long)iova);
	if (fd < 0)
		return false;
	while (smoke_now() < until) {
		ssize_t n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0) {
			if (errno == EAGAIN) {
				usleep(20000);
				continue;
			}
			if (errno == EPIPE) /* overwritten records: go on */
				continue;
			return false;
		}
		rec[n] = 0;
		char *msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		if (strstr(msg, "DMAR") || strstr(msg, "fault"))
			SAY("  kmsg: %s", msg);
		if (strstr(msg, want))
			return true;
	}
	return false;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

int main(void)
{
	const char *bdf = smoke_env("DMK_EDU_BDF");
	const char *group = smoke_env("DMK_EDU_GROUP");
	struct smoke_vfio v;
	uint64_t bar_size;

	SAY("vfio_edu_smoke: edu %s, group %s\n", bdf, group);
	smoke_vfio_open(&v, group);
	smoke_vfio_device(&v, bdf);
	bar = smoke_map_bar(&v, VFIO_PCI_BAR0_REGION_INDEX, &bar_size);
	CHECK(bar_size >= 0x100, "BAR0 is large enough (0x%llx)\n",
	      (unsigned long long)bar_size);

	uint32_t id = rd32(EDU_ID);
	CHECK(id == 0x010000ed, "edu identification 0x%08x (want 0x010000ed)\n", id);
	wr32(EDU_LIVE, 0x12345678);
	uint32_t live = rd32(EDU_LIVE);
	CHECK(live == ~0x12345678u, "edu liveness register inverts (0x%08x)\n", live);

	smoke_enable_bus_master(&v);

	/* Two pages from posix_memalign, mapped as two separate DMA maps so
	 * that one can be unmapped alone. */
	uint8_t *buf;
	if (posix_memalign((void **)&buf, PAGE, 2 * PAGE))
		DIE("posix_memalign failed\n");
	uint8_t *src = buf, *dst = buf + PAGE;
	uint64_t iova_src = IOVA_BASE, iova_dst = IOVA_BASE + PAGE;
	SAY("  buffer va %p, IOVA 0x%llx (src) and 0x%llx (dst)\n", (void *)buf,
	    (unsigned long long)iova_src, (unsigned long long)iova_dst);

	CHECK(smoke_iova_ok(&v, IOVA_BASE, 2 * PAGE) && IOVA_BASE + 2 * PAGE <= EDU_REACH,
	      "IOVA 0x%llx+0x%llx lies in a usable range and below 2^28\n",
	      (unsigned long long)IOVA_BASE, 2 * PAGE);
	CHECK(smoke_iova_ok(&v, IOVA_FAULT, PAGE) && IOVA_FAULT + PAGE <= EDU_REACH,
	      "fault IOVA 0x%llx lies in a usable range and below 2^28\n",
	      (unsigned long long)IOVA_FAULT);

	fill(src, PAGE, 1);
	memset(dst, 0, PAGE);
	int rc1 = smoke_map_dma(&v, src, iova_src, PAGE);
	int rc2 = smoke_map_dma(&v, dst, iova_dst, PAGE);
	if (rc1 || rc2)
		DIE("VFIO_IOMMU_MAP_DMA: %s\n", strerror(errno));
	SAY("  ok: VFIO_IOMMU_MAP_DMA of both pages\n");

	/* 1. RAM -> device buffer -> RAM, 4095 bytes. */
	CHECK(edu_dma(iova_src, EDU_BUF, XFER, false), "DMA RAM -> device completed\n");
	CHECK(edu_dma(EDU_BUF, iova_dst, XFER, true), "DMA device -> RAM completed\n");
	CHECK(memcmp(src, dst, XFER) == 0, "%u bytes came back intact\n", XFER);
	CHECK(dst[XFER] == 0, "the byte after the transfer is untouched\n");

	/* 2. Unaligned: 333 bytes from device offset 7 to dst + 2049. */
	memset(dst, 0, PAGE);
	CHECK(edu_dma(EDU_BUF + 7, iova_dst + 2049, 333, true),
	      "unaligned DMA device -> RAM completed\n");
	bool ok = memcmp(dst + 2049, src + 7, 333) == 0;
	for (size_t i = 0; i < PAGE && ok; i++)
		if ((i < 2049 || i >= 2049 + 333) && dst[i] != 0)
			ok = false;
	CHECK(ok, "333 bytes landed at dst+2049 and nothing else changed\n");

	/* 3. IOMMU fault on purpose: DMA to an IOVA that was never mapped. */
	int kfd = kmsg_open();
	memset(dst, 0xa5, PAGE);
	uint8_t src_copy[PAGE];
	memcpy(src_copy, src, PAGE);
	CHECK(edu_dma(EDU_BUF, IOVA_FAULT, XFER, true),
	      "DMA to unmapped IOVA 0x%llx completed (device side)\n",
	      (unsigned long long)IOVA_FAULT);
	ok = true;
	for (size_t i = 0; i < PAGE; i++)
		if (dst[i] != 0xa5)
			ok = false;
	CHECK(ok && memcmp(src, src_copy, PAGE) == 0,
	      "the mapped buffer is untouched by the faulting DMA\n");
	CHECK(kmsg_saw_fault(kfd, IOVA_FAULT),
	      "the IOMMU reported a fault at 0x%llx\n", (unsigned long long)IOVA_FAULT);

	/* 4. Unmap the destination page and DMA to its old IOVA: refused. */
	CHECK(smoke_unmap_dma(&v, iova_dst, PAGE) == 0, "VFIO_IOMMU_UNMAP_DMA of dst\n");
	memset(dst, 0x5a, PAGE);
	CHECK(edu_dma(EDU_BUF, iova_dst, XFER, true),
	      "DMA to the unmapped IOVA 0x%llx completed (device side)\n",
	      (unsigned long long)iova_dst);
	ok = true;
	for (size_t i = 0; i < PAGE; i++)
		if (dst[i] != 0x5a)
			ok = false;
	CHECK(ok, "after unmap the page is no longer reachable by the device\n");
	CHECK(kmsg_saw_fault(kfd, iova_dst),
	      "the IOMMU reported a fault at 0x%llx\n", (unsigned long long)iova_dst);

	/* 5. The still-mapped source page keeps working. */
	CHECK(edu_dma(iova_src, EDU_BUF, XFER, false), "DMA from the mapped page still works\n");

	CHECK(smoke_unmap_dma(&v, iova_src, PAGE) == 0, "VFIO_IOMMU_UNMAP_DMA of src\n");
	if (kfd >= 0)
		close(kfd);
	close(v.device);
	close(v.group);
	close(v.container);
	free(buf);
	return smoke_result("vfio_edu_smoke");
}
