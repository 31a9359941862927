/* SPDX-License-Identifier: MIT */
/*
 * nvme_read: read N MiB from an NVMe namespace straight into a buffer the
 * application allocated itself, with no copy, through dmakit's user-space
 * NVMe driver.
 *
 *	nvme_read [BDF [MiB]]        (BDF defaults to $DMK_NVME_BDF, MiB to 8)
 *
 * The device must be bound to vfio-pci (dmakit-bind, or the test bed). It
 * uses the last N MiB of namespace 1 and first writes a known pattern to the same blocks, so that what it
 * reads back can be checked; then it reads, prints the buffer's
 * scatter-gather list as the controller is given it, the throughput, and
 * whether every byte is right. Exit status 0 when it is.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dmakit/dma.h>
#include <dmakit/error.h>
#include <dmakit/nvme.h>
#include <dmakit/pci.h>
#include <dmakit/region.h>
#include <dmakit/space.h>
#include <dmakit/vfio.h>

#define TRY(call)                                                                        \
	do {                                                                             \
		int err_ = (call);                                                       \
		if (err_) {                                                              \
			fprintf(stderr, "nvme_read: %s: %d (%s)\n", #call, err_,          \
				dmk_last_error());                                       \
			exit(1);                                                         \
		}                                                                        \
	} while (0)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What the "prior write" puts at byte @i of the range: never the same twice in a row. */
static uint8_t expected(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 12));
}

/*
 * Print the segments the controller is handed for @buf: the driver prepares
 * each command under the rules dmk_nvme_dma_spec() returns, so preparing
 * the buffer under the same rules shows the same scatter-gather list.
 * Behind an IOMMU one registration is one device-contiguous run, so the
 * list is short although the pages are scattered in physical memory; the
 * commands are cut by the controller's MDTS.
 */
static void print_sgl(struct dmk_space *sp, struct dmk_nvme *ctrl, void *buf, size_t len)
{
	struct dmk_dma_spec spec;
	struct dmk_dma *dma;
	size_t total_segs = 0, commands = 0, shown = 0;
	uint64_t off = 0;

	TRY(dmk_nvme_dma_spec(ctrl, DMK_NVME_DPTR_AUTO, &spec));
	TRY(dmk_dma_create(sp, &spec, NULL, &dma));
	while (off < len) {
		uint64_t covered = 0;
		size_t n;
		const struct dmk_seg *segs;

		TRY(dmk_dma_prepare_buf(dma, (char *)buf + off, len - off, DMK_FROM_DEVICE, &covered));
		segs = dmk_dma_segs(dma, &n);
		for (size_t i = 0; i < n && shown < 4; i++, shown++)
			printf("  command %zu segment %zu: device address %#" PRIx64 ", %" PRIu64 " bytes\n",
			       commands, i, segs[i].addr, segs[i].len);
		total_segs += n;
		commands++;
		off += covered;
		dmk_dma_complete(dma);
	}
	printf("  %zu segment(s) in %zu command(s) of at most %" PRIu64 " KiB\n", total_segs, commands,
	       spec.max_transfer / 1024);
	dmk_dma_destroy(dma);
}

int main(int argc, char **argv)
{
	const char *bdf = argc > 1 ? argv[1] : getenv("DMK_NVME_BDF");
	size_t mib = argc > 2 ? strtoul(argv[2], NULL, 0) : 8;
	size_t len = mib << 20, bad = 0;
	struct dmk_space *sp;
	struct dmk_pci *pci;
	struct dmk_nvme *ctrl;
	struct dmk_nvme_info info;
	struct dmk_nvme_stats st;
	struct dmk_region *reg;
	uint8_t *buf;
	uint64_t lba;
	double t;

	if (!bdf || !mib) {
		fprintf(stderr, "usage: nvme_read [BDF [MiB]] (or set DMK_NVME_BDF)\n");
		return 2;
	}

	/* 1. The device, in a VFIO container, driven by dmakit's NVMe driver. */
	TRY(dmk_space_vfio_create(&sp));
	TRY(dmk_pci_open(sp, bdf, &pci));
	TRY(dmk_nvme_open(sp, pci, NULL, &ctrl));	/* reset, enable, identify, I/O queue */
	dmk_nvme_info(ctrl, &info);
	printf("%s: %s, namespace %u: %" PRIu64 " blocks of %u bytes, %s\n", bdf, info.model,
	       info.nsid, info.nlba, info.lba_size,
	       info.dptr == DMK_NVME_DPTR_SGL ? "SGLs" : "PRPs");
	if (len > info.nlba * info.lba_size)
		len = (size_t)(info.nlba * info.lba_size);
	lba = info.nlba - len / info.lba_size;	/* the last N MiB */

	/* 2. The application's own buffer: ordinary memory, 4 KiB pages. */
	if (posix_memalign((void **)&buf, 4096, len))
		return 1;

	/* 3. Register it once: pinned and mapped into the IOMMU, no copy ever. */
	TRY(dmk_region_register(sp, buf, len, DMK_PROT_RW, &reg));
	print_sgl(sp, ctrl, buf, len);

	/* 4. The prior write: a known pattern onto the blocks we will read. */
	for (size_t i = 0; i < len; i++)
		buf[i] = expected(i);
	TRY(dmk_nvme_write_buf(ctrl, 0, lba, buf, len, 0));
	memset(buf, 0, len);

	/* 5. The read: the controller writes straight into buf. */
	t = now();
	TRY(dmk_nvme_read_buf(ctrl, 0, lba, buf, len, 0));
	t = now() - t;
	dmk_nvme_stats(ctrl, &st);
	printf("read %zu MiB from LBA %" PRIu64 " in %.1f ms: %.1f MiB/s (%" PRIu64 " commands in all, %" PRIu64 " bytes bounced)\n",
	       len >> 20, lba, t * 1e3, (double)len / (1 << 20) / t, st.commands, st.bounced);

	/* 6. Verify against the prior write. */
	for (size_t i = 0; i < len; i++)
		bad += buf[i] != expected(i);
	printf("%s: %zu of %zu bytes differ\n", bad ? "FAIL" : "PASS verify", bad, len);

	dmk_region_unregister(reg);
	free(buf);
	dmk_nvme_close(ctrl);
	dmk_pci_close(pci);
	dmk_space_destroy(sp);
	return bad ? 1 : 0;
}
