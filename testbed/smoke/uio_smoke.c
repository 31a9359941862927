/* SPDX-License-Identifier: MIT */
/*
 * Test bed smoke test for the no-IOMMU boot (testbed/run --no-iommu):
 * devices bound to uio_pci_generic, BARs mapped through sysfs, device
 * addresses are physical addresses read from /proc/self/pagemap (root).
 * Not part of the library.
 *
 * edu: a posix_memalign buffer is pinned with mlock, its pages' physical
 * frames are read from pagemap, and edu moves 4095 bytes RAM -> device ->
 * RAM between two pages that lie below 2^28 (edu's DMA reach); pages above
 * it are counted, never handed to the device (edu would clamp the address
 * and write somewhere else: there is no IOMMU to stop it).
 * nvme: CAP and VS read through BAR0.
 *
 * Environment (from the bed's /init): DMK_EDU_BDF, DMK_EDU_UIO,
 * DMK_NVME_BDF, DMK_NVME_UIO.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int failures;

#define SAY(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)
#define CHECK(cond, ...)                                                \
	do {                                                            \
		if (cond) {                                             \
			SAY("  ok: " __VA_ARGS__);                      \
		} else {                                                \
			SAY("  FAILED: " __VA_ARGS__);                  \
			failures++;                                     \
		}                                                       \
	} while (0)
#define DIE(...) do { SAY("  FATAL: " __VA_ARGS__); exit(1); } while (0)

#define PAGE		4096ull
#define EDU_REACH	(1ull << 28)
#define EDU_BUF		0x40000ull
#define XFER		4095u
#define NPAGES		4096u		/* 16 MiB to search for low pages */

static const char *env(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v)
		DIE("environment variable %s is not set (run under testbed/run --no-iommu)\n", name);
	return v;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile uint8_t *map_resource0(const char *bdf, size_t *size)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", bdf);
	int fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		DIE("open %s: %s\n", path, strerror(errno));
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		DIE("mmap %s: %s\n", path, strerror(errno));
	close(fd);
	*size = (size_t)st.st_size;
	return p;
}

static void enable_bus_master(const char *bdf)
{
	char path[128];
	uint16_t cmd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		DIE("open %s: %s\n", path, strerror(errno));
	if (pread(fd, &cmd, 2, 4) != 2)
		DIE("read command register: %s\n", strerror(errno));
	cmd |= 0x6; /* memory space, bus master */
	if (pwrite(fd, &cmd, 2, 4) != 2 || pread(fd, &cmd, 2, 4) != 2)
		DIE("write command register: %s\n", strerror(errno));
	close(fd);
	CHECK(cmd & 0x4, "bus mastering enabled on %s (command 0x%04x)\n", bdf, cmd);
}

/* Physical address of the page at @va, 0 if not present. */
static uint64_t phys_of(int pagemap, const void *va)
{
	uint64_t e;
	off_t off = (off_t)((uintptr_t)va / PAGE * 8);

	if (pread(pagemap, &e, 8, off) != 8)
		DIE("read /proc/self/pagemap: %s\n", strerror(errno));
	if (!(e >> 63 & 1))
		return 0;
	return (e & ((1ull << 55) - 1)) * PAGE;
}

static volatile uint8_t *edu;

static void wr64(uint64_t off, uint64_t v) { *(volatile uint64_t *)(edu + off) = v; }
static uint64_t rd64(uint64_t off) { return *(volatile uint64_t *)(edu + off); }

static bool edu_dma(uint64_t src, uint64_t dst, uint64_t cnt, bool to_ram)
{
	wr64(0x80, src);
	wr64(0x88, dst);
	wr64(0x90, cnt);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr64(0x98, 1 | (to_ram ? 2 : 0));
	double until = now() + 10.0;
	while (rd64(0x98) & 1) {
		if (now() > until)
			return false;
		usleep(1000);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return true;
}

static void test_edu(void)
{
	const char *bdf = env("DMK_EDU_BDF");
	size_t size;

	SAY("uio_smoke: edu %s (%s)\n", bdf, env("DMK_EDU_UIO"));
	edu = map_resource0(bdf, &size);
	uint32_t id = *(volatile uint32_t *)edu;
	CHECK(id == 0x010000ed, "edu identification 0x%08x\n", id);
	enable_bus_master(bdf);

	int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pagemap < 0)
		DIE("open /proc/self/pagemap: %s\n", strerror(errno));

	uint8_t *buf;
	if (posix_memalign((void **)&buf, PAGE, NPAGES * PAGE))
		DIE("posix_memalign failed\n");
	memset(buf, 0, NPAGES * PAGE);
	if (mlock(buf, NPAGES * PAGE) < 0)
		DIE("mlock: %s\n", strerror(errno));

	uint8_t *low[2] = { NULL, NULL };
	uint64_t pa[2] = { 0, 0 };
	unsigned int nlow = 0, nhigh = 0, nzero = 0;
	uint64_t pmax = 0;
	for (unsigned int i = 0; i < NPAGES; i++) {
		uint64_t p = phys_of(pagemap, buf + i * PAGE);
		if (p == 0) {
			nzero++;
			continue;
		}
		if (p > pmax)
			pmax = p;
		if (p + PAGE <= EDU_REACH) {
			if (nlow < 2) {
				low[nlow] = buf + i * PAGE;
				pa[nlow] = p;
			}
			nlow++;
		} else {
			nhigh++;
		}
	}
	SAY("  pagemap: %u pages below 2^28, %u above (highest 0x%llx), %u without a frame\n",
	    nlow, nhigh, (unsigned long long)pmax, nzero);
	CHECK(nzero == 0, "every page of the buffer has a physical frame\n");
	if (nlow < 2)
		DIE("fewer than two buffer pages below 2^28: cannot test edu\n");

	uint8_t *src = low[0], *dst = low[1];
	SAY("  src va %p pa 0x%llx, dst va %p pa 0x%llx\n", (void *)src,
	    (unsigned long long)pa[0], (void *)dst, (unsigned long long)pa[1]);
	for (unsigned int i = 0; i < PAGE; i++)
		src[i] = (uint8_t)(i * 7 + 3);
	memset(dst, 0, PAGE);
	CHECK(edu_dma(pa[0], EDU_BUF, XFER, false), "DMA RAM -> device completed\n");
	CHECK(edu_dma(EDU_BUF, pa[1], XFER, true), "DMA device -> RAM completed\n");
	CHECK(memcmp(src, dst, XFER) == 0, "%u bytes came back intact\n", XFER);
	CHECK(dst[XFER] == 0, "the byte after the transfer is untouched\n");
	CHECK(phys_of(pagemap, src) == pa[0] && phys_of(pagemap, dst) == pa[1],
	      "the locked pages did not move\n");
	close(pagemap);
	free(buf);
}

static void test_nvme(void)
{
	const char *bdf = env("DMK_NVME_BDF");
	size_t size;

	SAY("uio_smoke: nvme %s (%s)\n", bdf, env("DMK_NVME_UIO"));
	volatile uint8_t *bar = map_resource0(bdf, &size);
	uint64_t cap = (uint64_t)*(volatile uint32_t *)(bar + 4) << 32 |
		       *(volatile uint32_t *)bar;
	uint32_t vs = *(volatile uint32_t *)(bar + 8);
	SAY("  BAR0 size 0x%zx, CAP 0x%016llx, VS 0x%08x (NVMe %u.%u)\n", size,
	    (unsigned long long)cap, vs, vs >> 16, (vs >> 8) & 0xff);
	CHECK(cap != 0 && cap != ~0ull, "CAP reads as a real value\n");
	CHECK((vs >> 16) >= 1 && vs != ~0u, "VS names NVMe 1.x or later\n");
}

int main(void)
{
	if (access("/dev/vfio/vfio", F_OK) == 0)
		SAY("uio_smoke: note: /dev/vfio/vfio exists (vfio loaded)\n");
	test_edu();
	test_nvme();
	if (failures) {
		SAY("uio_smoke: %d check(s) FAILED\n", failures);
		return 1;
	}
	SAY("uio_smoke: all checks passed\n");
	return 0;
}
