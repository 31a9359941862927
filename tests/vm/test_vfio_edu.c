/* SPDX-License-Identifier: MIT */
/*
 * Guest test (testbed/run): the vfio space and the PCI layer against QEMU's
 * edu device behind the emulated VT-d IOMMU.
 *
 * edu (QEMU hw/misc/edu.c), BAR0: 0x00 id 0x010000ed, 0x04 liveness (reads
 * back ~written), 0x24 interrupt status, 0x60 raise, 0x64 acknowledge,
 * 0x80 DMA source, 0x88 DMA destination, 0x90 count, 0x98 command: bit 0
 * run (cleared when done), bit 1 direction (0: EDU_DMA_FROM_PCI, the device
 * reads RAM into its buffer; 1: EDU_DMA_TO_PCI, it writes RAM from its
 * buffer), bit 2 interrupt when done (status bit 0x100). The device buffer
 * is 4096 bytes at 0x40000; QEMU 7.2 aborts the VM on a transfer ending at
 * 0x41000, so transfers here are at most 4095 bytes. RAM addresses are
 * masked to 28 bits.
 *
 * Environment: DMK_EDU_BDF (required), DMK_NVME_BDF (optional: a second
 * IOMMU group in the same container).
 *
 * Prints one "PASS name" or "FAIL name: why" line per check; exits 1 when
 * any failed, 2 when the set-up failed.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/pci.h>
#include <dmakit/region.h>
#include <dmakit/space.h>
#include <dmakit/vfio.h>

#include "vmcheck.h"

#define EDU_ID		0x00
#define EDU_LIVE	0x04
#define EDU_IRQ_STATUS	0x24
#define EDU_IRQ_ACK	0x64
#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_CNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_CMD_RUN	0x1
#define EDU_CMD_TO_RAM	0x2
#define EDU_CMD_IRQ	0x4
#define EDU_IRQ_DMA	0x100
#define EDU_BUF		0x40000ull
#define EDU_REACH_BITS	28
#define XFER		4095u

#define PAGE		4096u
#define SZ_2M		(2u << 20)

static volatile uint8_t *bar;


static uint32_t rd32(unsigned off) { return *(volatile uint32_t *)(bar + off); }
static void wr32(unsigned off, uint32_t v) { *(volatile uint32_t *)(bar + off) = v; }
static uint64_t rd64(unsigned off) { return *(volatile uint64_t *)(bar + off); }
static void wr64(unsigned off, uint64_t v) { *(volatile uint64_t *)(bar + off) = v; }


/* One edu DMA; false when it does not finish within 10 s. */
static bool edu_dma(uint64_t src, uint64_t dst, uint32_t cnt, uint32_t cmd)
{
	double until = now() + 10.0;

	wr64(EDU_DMA_SRC, src);
	wr64(EDU_DMA_DST, dst);
	wr64(EDU_DMA_CNT, cnt);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr64(EDU_DMA_CMD, EDU_CMD_RUN | cmd);
	while (rd64(EDU_DMA_CMD) & EDU_CMD_RUN) {
		if (now() > until)
			return false;
		usleep(1000);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return true;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

static uint64_t dev_of(struct dmk_space *sp, const void *va)
{
	uint64_t dev = UINT64_MAX;

	if (dmk_space_translate(sp, va, &dev))
		return UINT64_MAX;
	return dev;
}

/* RAM -> device buffer -> RAM through @sp, @len bytes, and compare. */
static void roundtrip(struct dmk_space *sp, const char *name, uint8_t *src, uint8_t *dst,
		      uint32_t len)
{
	uint64_t s = dev_of(sp, src), d = dev_of(sp, dst);
	uint8_t guard = (uint8_t)(dst[len] ^ 0x5a);

	fill(src, len, (unsigned)len);
	memset(dst, 0, len);
	dst[len] = guard;
	if (s == UINT64_MAX || d == UINT64_MAX) {
		result(false, name, "no device address for %p or %p", (void *)src, (void *)dst);
		return;
	}
	if (!edu_dma(s, EDU_BUF, len, 0) || !edu_dma(EDU_BUF, d, len, EDU_CMD_TO_RAM)) {
		result(false, name, "edu DMA did not finish");
		return;
	}
	result(!memcmp(src, dst, len) && dst[len] == guard, name,
	       "bytes differ after RAM->edu->RAM of %u bytes (src IOVA %#llx, dst IOVA %#llx)",
	       len, (unsigned long long)s, (unsigned long long)d);
}

/* Write @text to a sysfs file; 0 or -errno. */
static int sysfs_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		err = -EIO;
	if (fclose(f))
		err = -errno;
	return err;
}

static bool driver_is(const char *bdf, const char *name)
{
	char path[128], target[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return name == NULL;
	target[n] = 0;
	return name && !strcmp(strrchr(target, '/') + 1, name);
}

/* Take edu off vfio-pci (and clear its override), then bind it back. */
static void rebind(const char *bdf)
{
	char path[128];
	int err, group = -1;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	sysfs_write(path, "\n");
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", bdf);
	sysfs_write(path, bdf);
	if (!driver_is(bdf, NULL)) {
		result(false, "bind-vfio", "could not unbind %s for the test", bdf);
		return;
	}
	err = dmk_pci_bind_vfio(bdf);
	result(!err && driver_is(bdf, "vfio-pci"), "bind-vfio", "got %d", err);
	err = dmk_pci_bind_vfio(bdf);
	result(!err, "bind-vfio-again", "got %d", err);
	err = dmk_pci_iommu_group(bdf, &group);
	snprintf(path, sizeof(path), "/dev/vfio/%d", group);
	result(!err && group >= 0 && !access(path, F_OK), "iommu-group", "err %d group %d",
	       err, group);
}

/* INTx: edu raises its pin on a write to 0x60, lowers it on 0x64. */
static void intx(struct dmk_pci *dev)
{
	struct pollfd pfd = { .events = POLLIN };
	uint64_t events = 0;
	int efd, err;
	bool ok = true;

	err = dmk_pci_irq_enable(dev, DMK_PCI_IRQ_INTX, 1, &efd);
	result(!err, "irq-enable-intx", "got %d", err);
	if (err)
		return;
	pfd.fd = efd;
	for (int round = 0; round < 2 && ok; round++) {
		wr32(0x60, 0x1);
		ok = poll(&pfd, 1, 5000) == 1 && read(efd, &events, sizeof(events)) == 8;
		wr32(EDU_IRQ_ACK, 0x1);
		ok = ok && !dmk_pci_irq_unmask(dev);
	}
	result(ok, "irq-intx-twice-with-unmask", "no second interrupt after unmask");
	result(!dmk_pci_irq_disable(dev), "irq-disable-intx", "failed");
	err = dmk_pci_irq_unmask(dev);
	result(err == -EINVAL, "irq-unmask-without-intx", "got %d", err);
}

/*
 * Limits, in a fresh container: no IOVA space left below the reach
 * (-ENOSPC) and no kernel mappings left (-EDQUOT, with vfio_iommu_type1's
 * dma_entry_limit lowered for the container's life).
 */
static void limits(const char *bdf)
{
	static const char limit_path[] = "/sys/module/vfio_iommu_type1/parameters/dma_entry_limit";
	struct dmk_region *r[6] = { 0 };
	struct dmk_space *sp;
	struct dmk_pci *dev;
	uint8_t *buf;
	int err;

	if (dmk_space_vfio_create(&sp) || posix_memalign((void **)&buf, PAGE, 64 * PAGE)) {
		result(false, "limits-setup", "no second space");
		return;
	}
	err = sysfs_write(limit_path, "4");
	err = err ? err : dmk_pci_open(sp, bdf, &dev);
	sysfs_write(limit_path, "65535");
	if (err) {
		result(false, "limits-setup", "got %d", err);
		dmk_space_destroy(sp);
		free(buf);
		return;
	}
	/* 2^16: 64 KiB, of which page 0 is never handed out. */
	result(!dmk_vfio_set_reach(sp, 16), "limits-reach-16", "failed");
	err = dmk_region_register(sp, buf, 16 * PAGE, DMK_PROT_RW, &r[0]);
	result(err == -ENOSPC && strstr(dmk_last_error(), "IOVA"), "iova-space-exhausted",
	       "got %d", err);
	printf("info: %s\n", dmk_last_error());
	err = dmk_region_register(sp, buf, 15 * PAGE, DMK_PROT_RW, &r[0]);
	result(!err && dev_of(sp, buf) + 15 * PAGE <= 1u << 16, "iova-space-fills", "got %d",
	       err);
	if (!err)
		dmk_region_unregister(r[0]);
	/* Four mappings allowed; pages 2 apart so that none is adjacent. */
	err = 0;
	for (int i = 0; i < 4 && !err; i++)
		err = dmk_region_register(sp, buf + 2 * i * PAGE, PAGE, DMK_PROT_RW, &r[i]);
	result(!err, "mappings-up-to-limit", "got %d", err);
	err = dmk_region_register(sp, buf + 10 * PAGE, PAGE, DMK_PROT_RW, &r[4]);
	result(err == -EDQUOT && strstr(dmk_last_error(), "dma_entry_limit"),
	       "kernel-mappings-exhausted", "got %d", err);
	printf("info: %s\n", dmk_last_error());
	for (int i = 0; i < 4; i++)
		if (r[i])
			dmk_region_unregister(r[i]);
	err = dmk_region_register(sp, buf + 10 * PAGE, PAGE, DMK_PROT_RW, &r[4]);
	result(!err, "mapping-after-unmap", "got %d", err);
	if (!err)
		dmk_region_unregister(r[4]);
	dmk_pci_close(dev);
	result(!dmk_space_destroy(sp), "limits-destroy", "failed");
	free(buf);
}

int main(void)
{
	const char *bdf = getenv("DMK_EDU_BDF"), *nvme_bdf = getenv("DMK_NVME_BDF");
	const uint64_t reach = 1ull << EDU_REACH_BITS;
	char found[8][DMK_PCI_BDF_SIZE];
	struct dmk_vfio_info info, info2;
	struct dmk_region_info rinfo;
	struct dmk_region *ra, *rb, *rc, *rbig, *r1, *r2;
	struct dmk_space *sp;
	struct dmk_pci *dev, *nvme = NULL, *bad;
	uint8_t *a, *b, *c, *big, *pair;
	uint8_t cfg[4];
	uint64_t ia, ib, ic, ibig, i1, i2;
	void *va;
	size_t len, n;
	int err, efd;
	unsigned count;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!bdf) {
		printf("FAIL setup: DMK_EDU_BDF is not set\n");
		return 2;
	}

	rebind(bdf);

	/* The container, before any device. */
	SETUP(dmk_space_vfio_create(&sp), "create");
	result(!strcmp(dmk_space_kind(sp), "vfio"), "kind", "kind is %s", dmk_space_kind(sp));
	dmk_vfio_info(sp, &info);
	result(!info.attached && !info.groups, "info-before-open", "attached %d groups %u",
	       info.attached, info.groups);
	SETUP(posix_memalign((void **)&a, PAGE, 2 * PAGE), "alloc a");
	err = dmk_region_register(sp, a, PAGE, DMK_PROT_RW, &ra);
	result(err == -ENODEV, "register-before-open", "got %d, want -ENODEV", err);

	/* Finding and opening. */
	err = dmk_pci_find(0x1234, 0x11e8, DMK_PCI_ANY, found, 8, &n);
	result(!err && n >= 1 && !strcmp(found[0], bdf), "find", "err %d n %zu first %s", err, n,
	       n ? found[0] : "-");
	err = dmk_pci_open(sp, "0000:7f:1f.7", &bad);
	result(err == -ENODEV, "open-missing", "got %d, want -ENODEV", err);
	SETUP(dmk_pci_open(sp, bdf, &dev), "open");
	result(!strcmp(dmk_pci_bdf(dev), bdf), "bdf", "%s", dmk_pci_bdf(dev));
	err = dmk_pci_config_read(dev, 0, cfg, 4);
	result(!err && cfg[0] == 0x34 && cfg[1] == 0x12 && cfg[2] == 0xe8 && cfg[3] == 0x11,
	       "config-read", "err %d id %02x%02x:%02x%02x", err, cfg[1], cfg[0], cfg[3], cfg[2]);
	err = dmk_pci_config_read(dev, 4094, cfg, 4);
	result(err == -EINVAL, "config-read-outside", "got %d", err);

	dmk_vfio_info(sp, &info);
	printf("info: groups %u pgsizes %#llx dma_avail %u reach %u ranges %u:", info.groups,
	       (unsigned long long)info.iova_pgsizes, info.dma_avail, info.reach, info.nranges);
	for (unsigned i = 0; i < info.nranges && i < DMK_VFIO_MAX_RANGES; i++)
		printf(" [%#llx, %#llx]", (unsigned long long)info.ranges[i][0],
		       (unsigned long long)info.ranges[i][1]);
	printf("\n");
	result(info.attached && info.groups == 1 && info.nranges >= 1, "info-after-open",
	       "attached %d groups %u nranges %u", info.attached, info.groups, info.nranges);

	/* BAR0 and bus mastering. */
	SETUP(dmk_pci_map_bar(dev, 0, &va, &len), "map BAR0");
	bar = va;
	result(len == (1u << 20) && rd32(EDU_ID) == 0x010000ed, "bar0-id",
	       "len %zu id %#x", len, rd32(EDU_ID));
	wr32(EDU_LIVE, 0x12345678);
	result(rd32(EDU_LIVE) == ~0x12345678u, "bar0-live", "read %#x", rd32(EDU_LIVE));
	err = dmk_pci_map_bar(dev, 1, &va, &len);
	result(err == -ENOENT, "bar1-missing", "got %d", err);
	SETUP(dmk_pci_enable_bus_master(dev), "bus master");
	err = dmk_pci_config_read(dev, 4, cfg, 2);
	result(!err && (cfg[0] & 0x6) == 0x6, "bus-master", "command %#x", cfg[0]);

	/* edu reaches 2^28. */
	SETUP(dmk_pci_set_reach(dev, EDU_REACH_BITS), "set reach");
	dmk_vfio_info(sp, &info);
	result(info.reach == EDU_REACH_BITS && info.free_below_reach > 0 &&
	       info.free_below_reach < reach, "reach", "reach %u free below %#llx", info.reach,
	       (unsigned long long)info.free_below_reach);
	SETUP(dmk_vfio_set_reach(sp, 40), "space reach 40");
	dmk_vfio_info(sp, &info);
	result(info.reach == EDU_REACH_BITS, "reach-lowest-wins", "reach %u", info.reach);

	/* Registrations and translation. */
	SETUP(posix_memalign((void **)&b, PAGE, 2 * PAGE), "alloc b");
	SETUP(dmk_region_register(sp, a, 2 * PAGE, DMK_PROT_RW, &ra), "register a");
	dmk_vfio_info(sp, &info2);
	result(info2.mappings == 1 &&
	       (info.dma_avail == UINT32_MAX || info2.dma_avail == info.dma_avail - 1),
	       "dma-avail", "mappings %llu dma_avail %u -> %u",
	       (unsigned long long)info2.mappings, info.dma_avail, info2.dma_avail);
	SETUP(dmk_region_register(sp, b + 1, 2 * PAGE - 1, DMK_PROT_RW, &rb), "register b");
	ia = dev_of(sp, a);
	ib = dev_of(sp, b + 1);
	result(ia != UINT64_MAX && ib != UINT64_MAX && ia + 2 * PAGE <= reach &&
	       ib + 2 * PAGE <= reach && ia && ib, "iova-below-2^28", "a %#llx b %#llx",
	       (unsigned long long)ia, (unsigned long long)ib);
	result(dev_of(sp, a + 5000) == ia + 5000, "translate-linear", "a+5000 -> %#llx",
	       (unsigned long long)dev_of(sp, a + 5000));
	dmk_region_info(ra, &rinfo);
	result(rinfo.dev_runs == 1 && rinfo.pinned_len == 2 * PAGE, "region-info",
	       "runs %zu pinned %zu", rinfo.dev_runs, rinfo.pinned_len);

	/* The device moves the bytes. */
	roundtrip(sp, "dma-roundtrip-4095", a, b + 1, XFER);
	roundtrip(sp, "dma-roundtrip-unaligned", a + 100, b + 2000, 3000);

	/* Interrupts: MSI (edu has one vector), INTx otherwise. */
	err = dmk_pci_irq_count(dev, DMK_PCI_IRQ_MSI, &count);
	if (!err && count >= 1) {
		struct pollfd pfd;
		uint64_t events = 0;

		err = dmk_pci_irq_enable(dev, DMK_PCI_IRQ_MSI, 1, &efd);
		result(!err, "irq-enable-msi", "got %d", err);
		err = dmk_pci_irq_enable(dev, DMK_PCI_IRQ_MSI, 1, &efd);
		result(err == -EBUSY, "irq-enable-twice", "got %d", err);
		fill(a, 64, 3);
		edu_dma(ia, EDU_BUF, 64, EDU_CMD_IRQ);
		pfd.fd = efd;
		pfd.events = POLLIN;
		err = poll(&pfd, 1, 5000);
		if (err == 1)
			err = read(efd, &events, sizeof(events)) == sizeof(events) ? 0 : -EIO;
		else
			err = -ETIMEDOUT;
		result(!err && events >= 1 && (rd32(EDU_IRQ_STATUS) & EDU_IRQ_DMA), "irq-msi",
		       "err %d events %llu status %#x", err, (unsigned long long)events,
		       rd32(EDU_IRQ_STATUS));
		wr32(EDU_IRQ_ACK, EDU_IRQ_DMA);
		result(!dmk_pci_irq_disable(dev), "irq-disable", "failed");
	} else {
		result(false, "irq-msi", "edu shows %u MSI vectors (err %d)", count, err);
	}
	intx(dev);

	/* Adjacent registrations get adjacent IOVAs, in separate mappings. */
	SETUP(posix_memalign((void **)&pair, PAGE, 4 * PAGE), "alloc pair");
	SETUP(dmk_region_register(sp, pair, 2 * PAGE, DMK_PROT_RW, &r1), "register pair 1");
	SETUP(dmk_region_register(sp, pair + 2 * PAGE, 2 * PAGE, DMK_PROT_RW, &r2),
	      "register pair 2");
	i1 = dev_of(sp, pair);
	i2 = dev_of(sp, pair + 2 * PAGE);
	result(i2 == i1 + 2 * PAGE, "adjacent-iova", "first %#llx second %#llx",
	       (unsigned long long)i1, (unsigned long long)i2);
	/* One transfer spanning both, as one device-contiguous range. */
	fill(pair + 2 * PAGE - 1000, 2000, 9);
	memset(b, 0, 2 * PAGE);
	result(edu_dma(i1 + 2 * PAGE - 1000, EDU_BUF, 2000, 0) &&
	       edu_dma(EDU_BUF, ib - 1, 2000, EDU_CMD_TO_RAM) &&
	       !memcmp(b, pair + 2 * PAGE - 1000, 2000), "dma-across-adjacent", "bytes differ");
	SETUP(dmk_region_unregister(r1), "unregister pair 1");
	result(dev_of(sp, pair + 2 * PAGE) == i2 && dev_of(sp, pair) == UINT64_MAX,
	       "unmap-one-of-adjacent", "second now %#llx",
	       (unsigned long long)dev_of(sp, pair + 2 * PAGE));
	roundtrip(sp, "dma-after-neighbour-unmapped", pair + 2 * PAGE, b + 1, 2000);
	SETUP(dmk_region_unregister(r2), "unregister pair 2");

	/* 2 MiB and more: the IOVA keeps the host address's offset in a 2 MiB page. */
	SETUP(posix_memalign((void **)&big, SZ_2M, 2 * SZ_2M + PAGE), "alloc big");
	memset(big, 0, 2 * SZ_2M + PAGE);
	SETUP(dmk_region_register(sp, big + PAGE, 2 * SZ_2M, DMK_PROT_RW, &rbig), "register big");
	ibig = dev_of(sp, big + PAGE);
	result(ibig != UINT64_MAX && (ibig & (SZ_2M - 1)) == PAGE && ibig + 2 * SZ_2M <= reach,
	       "big-iova-superpage-phase", "IOVA %#llx", (unsigned long long)ibig);
	roundtrip(sp, "dma-big-far-end", big + 2 * SZ_2M - 5000, b + 1, XFER);

	/* Narrowing the reach below live mappings is refused. */
	err = dmk_pci_set_reach(dev, 12);
	dmk_vfio_info(sp, &info);
	result(err == -ERANGE && info.reach == EDU_REACH_BITS, "reach-below-mappings",
	       "got %d, reach %u", err, info.reach);

	/* A second IOMMU group joins the same container. */
	if (nvme_bdf && *nvme_bdf) {
		err = dmk_pci_open(sp, nvme_bdf, &nvme);
		dmk_vfio_info(sp, &info);
		result(!err && info.groups == 2 && dev_of(sp, a) == ia, "second-group",
		       "err %d groups %u", err, info.groups);
		roundtrip(sp, "dma-after-second-group", a, b + 1, XFER);
		err = dmk_pci_irq_count(nvme, DMK_PCI_IRQ_MSIX, &count);
		if (!err && count >= 4) {
			int fds[4];

			err = dmk_pci_irq_enable(nvme, DMK_PCI_IRQ_MSIX, 4, fds);
			result(!err && fds[0] >= 0 && fds[3] >= 0 && fds[0] != fds[3] &&
			       !dmk_pci_irq_disable(nvme), "irq-msix-enable-disable",
			       "err %d (%u vectors)", err, count);
			err = dmk_pci_irq_enable(nvme, DMK_PCI_IRQ_MSIX, count + 1, fds);
			result(err == -EINVAL, "irq-msix-too-many", "got %d", err);
		} else {
			result(false, "irq-msix-count", "nvme shows %u MSI-X vectors", count);
		}
	}

	/* Read-only for the device: it may read the memory, not write it. */
	{
		struct dmk_region *rro;
		uint8_t *ro;
		uint64_t iro;
		bool untouched = true;

		SETUP(posix_memalign((void **)&ro, PAGE, PAGE), "alloc ro");
		fill(ro, PAGE, 5);
		SETUP(dmk_region_register(sp, ro, PAGE, DMK_PROT_READ, &rro), "register ro");
		iro = dev_of(sp, ro);
		memset(b, 0, 2 * PAGE);
		result(edu_dma(iro, EDU_BUF, 1000, 0) && edu_dma(EDU_BUF, ib - 1, 1000, EDU_CMD_TO_RAM)
		       && !memcmp(b, ro, 1000), "read-only-readable", "bytes differ");
		memset(ro, 0xcc, PAGE);
		edu_dma(EDU_BUF, iro, 1000, EDU_CMD_TO_RAM);	/* the IOMMU must refuse this */
		for (unsigned i = 0; i < PAGE; i++)
			untouched &= ro[i] == 0xcc;
		result(untouched, "read-only-write-refused", "the device wrote a read-only page");
		SETUP(dmk_region_unregister(rro), "unregister ro");
		free(ro);
	}

	/*
	 * Memory the device only reads, registered before the process writes
	 * it: never written (the kernel may pin the shared zero page), and
	 * shared copy-on-write with a child (the kernel may pin the shared
	 * page). Either way the device must read what the process wrote after
	 * registering, not a frame the process left behind.
	 */
	for (int shared = 0; shared < 2; shared++) {
		const char *name = shared ? "read-only-pin-after-fork" : "read-only-pin-untouched";
		struct dmk_region *rf;
		uint8_t *f = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				  -1, 0);
		int hold[2] = { -1, -1 };
		pid_t child = -1;

		if (f == MAP_FAILED) {
			result(false, name, "mmap: %s", strerror(errno));
			continue;
		}
		if (shared) {
			fill(f, PAGE, 3);
			SETUP(pipe(hold), "pipe");
			child = fork();
			SETUP(child < 0, "fork");
			if (child == 0) {	/* keeps the page shared until told */
				char ch;

				close(hold[1]);
				_exit(read(hold[0], &ch, 1) < 0);
			}
			close(hold[0]);
		}
		SETUP(dmk_region_register(sp, f, PAGE, DMK_PROT_READ, &rf), "register fresh");
		fill(f, PAGE, 9);
		memset(b, 0, 2 * PAGE);
		result(edu_dma(dev_of(sp, f), EDU_BUF, 1000, 0) &&
		       edu_dma(EDU_BUF, ib - 1, 1000, EDU_CMD_TO_RAM) && !memcmp(b, f, 1000), name,
		       "the device read %02x %02x %02x, the process wrote %02x %02x %02x", b[0],
		       b[1], b[2], f[0], f[1], f[2]);
		SETUP(dmk_region_unregister(rf), "unregister fresh");
		if (shared) {
			close(hold[1]);
			waitpid(child, NULL, 0);
		}
		munmap(f, PAGE);
	}

	/* After unregister the IOMMU refuses the device: memory stays untouched. */
	SETUP(posix_memalign((void **)&c, PAGE, PAGE), "alloc c");
	SETUP(dmk_region_register(sp, c, PAGE, DMK_PROT_RW, &rc), "register c");
	ic = dev_of(sp, c);
	roundtrip(sp, "dma-into-c", a, c, 2000);
	SETUP(dmk_region_unregister(rc), "unregister c");
	result(dev_of(sp, c) == UINT64_MAX, "translate-after-unregister", "still %#llx",
	       (unsigned long long)dev_of(sp, c));
	memset(c, 0xcc, PAGE);
	fill(a, 2000, 77);
	edu_dma(dev_of(sp, a), EDU_BUF, 2000, 0);
	edu_dma(EDU_BUF, ic, 2000, EDU_CMD_TO_RAM);	/* the IOMMU must refuse this */
	{
		bool untouched = true;

		for (unsigned i = 0; i < PAGE; i++)
			untouched &= c[i] == 0xcc;
		result(untouched, "dma-to-unmapped-iova-refused",
		       "the device wrote through IOVA %#llx after unregister",
		       (unsigned long long)ic);
	}
	dmk_vfio_info(sp, &info);
	result(info.mappings == 3, "mappings-count", "%llu mappings, want 3 (a, b, big)",
	       (unsigned long long)info.mappings);

	/* Reset, if the device can. */
	err = dmk_pci_reset(dev);
	result(!err || err == -ENOTSUP, "reset", "got %d", err);
	printf("info: reset %s\n", err ? "not supported" : "done");
	result(rd32(EDU_ID) == 0x010000ed, "bar0-after-reset", "id %#x", rd32(EDU_ID));

	/* Tear down. */
	result(!dmk_region_unregister(ra) && !dmk_region_unregister(rb) &&
	       !dmk_region_unregister(rbig), "unregister", "failed");
	dmk_vfio_info(sp, &info);
	result(info.mappings == 0 && (info.dma_avail == UINT32_MAX || info.dma_avail ==
	       info2.dma_avail + 1), "unmapped-all", "mappings %llu dma_avail %u",
	       (unsigned long long)info.mappings, info.dma_avail);
	dmk_pci_close(nvme);
	result(!dmk_pci_close(dev), "close", "failed");
	result(!dmk_space_destroy(sp), "destroy", "failed");
	free(a);
	free(b);
	free(c);
	free(big);
	free(pair);

	limits(bdf);

	printf("%s test_vfio_edu: %d failure%s\n", failures ? "FAIL" : "PASS", failures,
	       failures == 1 ? "" : "s");
	return failures ? 1 : 0;
}
