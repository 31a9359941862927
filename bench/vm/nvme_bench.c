/* SPDX-License-Identifier: MIT */
/*
 * nvme_bench (guest, static): dmakit's user-space NVMe driver against the
 * guest kernel's nvme driver on the same QEMU nvme device, side by side.
 *
 * Cases: random 4 KiB reads at queue depth 1 and 32, random 128 KiB reads
 * at depth 1 and 32, each for DMK_BENCH_SECS seconds (default 1) over the
 * first 32 MiB of the namespace (written first, so both read real data).
 *
 * dmakit: the device as the test bed binds it (vfio-pci), a posix_memalign
 * buffer registered once; depth 1 with dmk_nvme_read_buf(), depth 32 with
 * dmk_nvme_submit_buf() / dmk_nvme_reap() on one thread, polling.
 * kernel: the device rebound to the nvme driver (its modules from
 * /modules/extra, which testbed/run puts into the initramfs), /dev/nvmeXn1
 * opened O_DIRECT, pread() into a posix_memalign buffer; depth 32 is 32
 * threads each reading at depth 1. The device is bound back to vfio-pci at
 * the end.
 *
 * Prints one "BENCH case=... dmakit_iops=... kernel_iops=... ratio=..." line
 * per case, and a table. Under TCG the figures measure QEMU's emulation as
 * much as either driver, and they move with the host's load (runs on these
 * 2-core machines differed by up to 5x for 4k-qd1): compare the two drivers
 * within one run, not runs with each other or with hardware.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/nvme.h>
#include <dmakit/pci.h>
#include <dmakit/region.h>
#include <dmakit/space.h>
#include <dmakit/vfio.h>

#define SPAN (32u << 20)	/* bytes of the namespace the reads cover */
#define MAXQD 32

struct bcase {
	const char *name;
	size_t bs;
	unsigned qd;
	double dmk_iops, k_iops;
};

static struct bcase cases[] = {
	{ "4k-qd1", 4096, 1, 0, 0 },
	{ "4k-qd32", 4096, 32, 0, 0 },
	{ "128k-qd1", 128 * 1024, 1, 0, 0 },
	{ "128k-qd32", 128 * 1024, 32, 0, 0 },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static double secs = 1.0;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A pseudo-random block-aligned offset of @bs inside SPAN. */
static uint64_t rnd_off(uint64_t *seed, size_t bs)
{
	*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
	return ((*seed >> 33) % (SPAN / bs)) * bs;
}

#define TRY(call)                                                                      \
	do {                                                                           \
		int rc_ = (call);                                                      \
		if (rc_) {                                                             \
			printf("FAIL nvme_bench: %s -> %d (%s)\n", #call, rc_,        \
			       dmk_last_error());                                      \
			exit(1);                                                       \
		}                                                                      \
	} while (0)

/* ---- dmakit ---------------------------------------------------------------- */

static double dmk_run(struct dmk_nvme *c, uint8_t *buf, size_t bs, unsigned qd, uint32_t lbas)
{
	uint64_t seed = 1, n = 0;
	double t0 = now(), t;

	if (qd == 1) {
		do {
			for (int i = 0; i < 16; i++, n++)
				TRY(dmk_nvme_read_buf(c, 0, rnd_off(&seed, bs) / lbas, buf, bs, 0));
			t = now() - t0;
		} while (t < secs);
		return (double)n / t;
	}
	for (unsigned i = 0; i < qd; i++)
		TRY(dmk_nvme_submit_buf(c, 0, DMK_NVME_OP_READ, rnd_off(&seed, bs) / lbas,
					buf + (size_t)i * bs, bs, 0, i));
	for (;;) {
		struct dmk_nvme_done d[MAXQD];
		unsigned got = 0;

		TRY(dmk_nvme_reap(c, 0, d, MAXQD, 1, &got));
		t = now() - t0;
		for (unsigned i = 0; i < got; i++) {
			if (d[i].err) {
				printf("FAIL nvme_bench: read -> %d (%s)\n", d[i].err, dmk_last_error());
				exit(1);
			}
			n++;
			if (t < secs)
				TRY(dmk_nvme_submit_buf(c, 0, DMK_NVME_OP_READ, rnd_off(&seed, bs) / lbas,
							buf + d[i].tag * bs, bs, 0, d[i].tag));
		}
		if (t >= secs) {
			/* Drain what is still in flight. */
			while (!dmk_nvme_reap(c, 0, d, MAXQD, 1, &got) && got)
				n += got;
			break;
		}
	}
	return (double)n / (now() - t0);
}

static void dmakit_side(const char *bdf)
{
	struct dmk_space *sp;
	struct dmk_pci *pci;
	struct dmk_nvme *c;
	struct dmk_nvme_opts o;
	struct dmk_nvme_info in;
	struct dmk_region *r;
	size_t len = (size_t)MAXQD * 128 * 1024;
	uint8_t *buf;

	TRY(dmk_space_vfio_create(&sp));
	TRY(dmk_pci_open(sp, bdf, &pci));
	dmk_nvme_opts_init(&o);
	o.queue_depth = 64;
	TRY(dmk_nvme_open(sp, pci, &o, &c));
	dmk_nvme_info(c, &in);
	if (posix_memalign((void **)&buf, 4096, len))
		exit(1);
	memset(buf, 0xa5, len);
	TRY(dmk_region_register(sp, buf, len, DMK_PROT_RW, &r));
	/* Put data on the span first: both drivers then read real blocks. */
	for (size_t off = 0; off < SPAN; off += len)
		TRY(dmk_nvme_write_buf(c, 0, off / in.lba_size, buf, len, 0));
	secs /= 4;	/* warm-up, not counted */
	dmk_run(c, buf, 4096, 1, in.lba_size);
	secs *= 4;
	for (size_t i = 0; i < NCASES; i++)
		cases[i].dmk_iops = dmk_run(c, buf, cases[i].bs, cases[i].qd, in.lba_size);
	TRY(dmk_region_unregister(r));
	TRY(dmk_nvme_close(c));
	TRY(dmk_pci_close(pci));
	TRY(dmk_space_destroy(sp));
	free(buf);
}

/* ---- the kernel's driver ----------------------------------------------- */

static int sysfs_write(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) < 0)
		err = -errno;
	close(fd);
	return err;
}

static bool driver_is(const char *bdf, const char *name)
{
	char path[128], target[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	return !strcmp(strrchr(target, '/') + 1, name);
}

/* Move @bdf to driver @drv: unbind, driver_override, probe. */
static bool rebind(const char *bdf, const char *drv)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", bdf);
	sysfs_write(path, bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", bdf);
	sysfs_write(path, drv);
	sysfs_write("/sys/bus/pci/drivers_probe", bdf);
	return driver_is(bdf, drv);
}

/* insmod the modules listed in /modules/extra/order. */
static bool load_nvme_modules(void)
{
	FILE *f = fopen("/modules/extra/order", "r");
	char name[64], path[160];
	bool ok = f != NULL;

	while (ok && fscanf(f, "%63s", name) == 1) {
		int fd;

		snprintf(path, sizeof(path), "/modules/extra/%s.ko", name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) && errno != EEXIST)) {
			printf("  cannot load %s: %s\n", path, strerror(errno));
			ok = false;
		}
		if (fd >= 0)
			close(fd);
	}
	if (f)
		fclose(f);
	return ok;
}

/* /dev/nvmeXn1 of @bdf, waiting up to 10 s for the driver to probe it. */
static bool find_blockdev(const char *bdf, char *dev, size_t size)
{
	double until = now() + 10;

	while (now() < until) {
		char pat[160];
		FILE *p;

		snprintf(pat, sizeof(pat), "ls -d /sys/bus/pci/devices/%s/nvme/nvme*/nvme*n1 2>/dev/null", bdf);
		p = popen(pat, "r");
		if (p) {
			char line[256] = "";

			if (fgets(line, sizeof(line), p)) {
				char *nl = strchr(line, '\n'), *b;

				if (nl)
					*nl = 0;
				b = strrchr(line, '/');
				/* a name that does not fit is no device to open */
				if ((size_t)snprintf(dev, size, "/dev/%s", b ? b + 1 : line) >= size)
					*dev = 0;
			}
			pclose(p);
			if (*dev && !access(dev, R_OK))
				return true;
		}
		usleep(50000);
	}
	return false;
}

struct kthread {
	int fd;
	size_t bs;
	uint64_t seed, n;
	volatile int *stop;
	uint8_t *buf;
};

static void *kreader(void *arg)
{
	struct kthread *k = arg;

	while (!*k->stop) {
		if (pread(k->fd, k->buf, k->bs, (off_t)rnd_off(&k->seed, k->bs)) != (ssize_t)k->bs) {
			printf("FAIL nvme_bench: O_DIRECT pread: %s\n", strerror(errno));
			exit(1);
		}
		k->n++;
	}
	return NULL;
}

static double k_run(int fd, uint8_t *buf, size_t bs, unsigned qd)
{
	struct kthread k[MAXQD];
	pthread_t th[MAXQD];
	volatile int stop = 0;
	uint64_t n = 0;
	double t0 = now(), t;

	for (unsigned i = 0; i < qd; i++) {
		k[i] = (struct kthread){ .fd = fd, .bs = bs, .seed = 1 + i, .stop = &stop,
					 .buf = buf + (size_t)i * bs };
		pthread_create(&th[i], NULL, kreader, &k[i]);
	}
	while (now() - t0 < secs)
		usleep(10000);
	stop = 1;
	for (unsigned i = 0; i < qd; i++) {
		pthread_join(th[i], NULL);
		n += k[i].n;
	}
	t = now() - t0;
	return (double)n / t;
}

static bool kernel_side(const char *bdf)
{
	char dev[64] = "";
	size_t len = (size_t)MAXQD * 128 * 1024;
	uint8_t *buf;
	int fd;

	if (!load_nvme_modules()) {
		printf("  no kernel nvme modules in /modules/extra: kernel side skipped\n");
		return false;
	}
	if (!rebind(bdf, "nvme")) {
		printf("  could not bind %s to nvme: kernel side skipped\n", bdf);
		rebind(bdf, "vfio-pci");
		return false;
	}
	if (!find_blockdev(bdf, dev, sizeof(dev))) {
		printf("  no block device for %s after 10 s: kernel side skipped\n", bdf);
		rebind(bdf, "vfio-pci");
		return false;
	}
	fd = open(dev, O_RDONLY | O_DIRECT);
	if (fd < 0 || posix_memalign((void **)&buf, 4096, len)) {
		printf("  cannot open %s O_DIRECT: %s\n", dev, strerror(errno));
		rebind(bdf, "vfio-pci");
		return false;
	}
	printf("  kernel: %s on %s, O_DIRECT\n", dev, bdf);
	secs /= 4;	/* warm-up, not counted */
	k_run(fd, buf, 4096, 1);
	secs *= 4;
	for (size_t i = 0; i < NCASES; i++)
		cases[i].k_iops = k_run(fd, buf, cases[i].bs, cases[i].qd);
	close(fd);
	free(buf);
	if (!rebind(bdf, "vfio-pci"))
		printf("  warning: %s did not go back to vfio-pci\n", bdf);
	return true;
}

int main(void)
{
	const char *bdf = getenv("DMK_NVME_BDF");
	const char *s = getenv("DMK_BENCH_SECS");
	bool kernel;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!bdf) {
		printf("FAIL nvme_bench: DMK_NVME_BDF is not set\n");
		return 2;
	}
	if (s && atof(s) > 0)
		secs = atof(s);
	printf("nvme_bench: %s, %.1f s a case, random reads over the first %u MiB\n", bdf, secs,
	       SPAN >> 20);
	dmakit_side(bdf);
	kernel = kernel_side(bdf);
	printf("  %-10s %12s %10s %12s %10s %7s\n", "case", "dmakit IOPS", "MiB/s", "kernel IOPS",
	       "MiB/s", "ratio");
	for (size_t i = 0; i < NCASES; i++) {
		const struct bcase *b = &cases[i];
		double mb = (double)b->bs / (1 << 20);

		printf("  %-10s %12.0f %10.1f %12.0f %10.1f %7.2f\n", b->name, b->dmk_iops,
		       b->dmk_iops * mb, b->k_iops, b->k_iops * mb,
		       b->k_iops > 0 ? b->dmk_iops / b->k_iops : 0.0);
		printf("BENCH case=%s dmakit_iops=%.0f dmakit_mibs=%.1f kernel_iops=%.0f kernel_mibs=%.1f ratio=%.2f\n",
		       b->name, b->dmk_iops, b->dmk_iops * mb, b->k_iops, b->k_iops * mb,
		       b->k_iops > 0 ? b->dmk_iops / b->k_iops : 0.0);
	}
	printf("PASS nvme_bench%s\n", kernel ? "" : " (dmakit side only)");
	return 0;
}
