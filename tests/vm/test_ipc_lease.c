/* SPDX-License-Identifier: MIT */
/*
 * Guest test (testbed/run): the lease route of the driver daemon on the NVMe
 * driver behind the emulated VT-d IOMMU. Applications in forked processes
 * (root; uid 65534 is refused a lease) lease an IOVA window, receive the VFIO container's
 * descriptor, map their own posix_memalign (and malloc) buffers into the
 * IOMMU and have the controller read and write them with zero copy; the
 * daemon refuses IOVAs outside the window; when the application leaves,
 * normally or by SIGKILL in the middle of reads, the container is left with
 * none of its mappings (dma_avail and the free IOVA space are back) and the
 * same window can be leased again.
 *
 * What the applications write is stated in DMKCHECK lines, so the host
 * checks the backing file. Environment: DMK_NVME_BDF (required).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/ipc.h>
#include <dmakit/ipc_client.h>
#include <dmakit/ipc_server.h>
#include <dmakit/region.h>
#include <dmakit/vfio.h>

#include "vmcheck.h"
#include "vmipc.h"
#include "vmpattern.h"

#define KiB 1024u
#define LEN (256 * KiB)
#define WINDOW (8192 * KiB)

static const char *sock_path = "/tmp/dmakitd-lease.sock";
static struct vmipc d;
static uint32_t bs;

/* What an application does: see app(). */
struct app_args {
	int nobody;
	uint64_t lba;
	unsigned seed;
	int outfd;	/* the child reports its window's base here */
};

/*
 * An application: lease a window, write pattern @seed from a posix_memalign
 * buffer to @lba and read it back into the same buffer, cleared; then the
 * same with a malloc'd buffer that starts 512 bytes into a page, at
 * @lba + LEN / bs. Exit status: 0, or the step that failed.
 */
static int app(void *arg)
{
	const struct app_args *a = arg;
	int nobody = a->nobody, outfd = a->outfd;
	uint64_t lba = a->lba;
	unsigned seed = a->seed;
	struct dmk_ipc_client *c;
	struct dmk_ipc_lease *l;
	uint64_t h, h2, h3, base = 0;
	unsigned route, granted = 0;
	uint8_t *buf, *raw, *odd, *fresh;

	if (nobody && vmipc_drop_root())
		return 10;
	if (dmk_ipc_client_connect(sock_path, NULL, &c))
		return 11;
	if (nobody) {
		/* The container's descriptor is not for other users. */
		if (dmk_ipc_client_lease(c, WINDOW, &l) != -EPERM)
			return 28;
		dmk_ipc_client_close(c);
		return 0;
	}
	if (dmk_ipc_client_lease(c, WINDOW, &l))
		return 12;
	dmk_ipc_lease_window(l, &base, NULL);
	if (outfd >= 0 && write(outfd, &base, sizeof(base)) != sizeof(base))
		return 13;
	if (posix_memalign((void **)&buf, 4096, LEN))
		return 14;
	if (dmk_ipc_lease_register(l, buf, LEN, DMK_PROT_RW, &h, &route) ||
	    route != DMK_IPC_ROUTE_LEASE)
		return 15;
	fill_seed(buf, LEN, seed);
	if (dmk_ipc_client_write(c, h, 0, LEN, lba))
		return 16;
	memset(buf, 0, LEN);
	if (dmk_ipc_client_read(c, h, 0, LEN, lba))
		return 17;
	if (differs_seed(buf, LEN, seed) >= 0)
		return 18;
	/* The same through the shared-memory rings: a lease handle there too. */
	if (dmk_ipc_client_rings(c, 8, &granted) || !granted)
		return 25;
	memset(buf, 0, LEN);
	if (dmk_ipc_client_ring_read(c, h, 0, LEN, lba))
		return 26;
	if (differs_seed(buf, LEN, seed) >= 0)
		return 27;
	raw = malloc(LEN + 8192);
	if (!raw)
		return 19;
	odd = (uint8_t *)(((uintptr_t)raw + 4095) & ~(uintptr_t)4095) + 512;
	if (dmk_ipc_lease_register(l, odd, LEN, DMK_PROT_RW, &h2, &route) ||
	    route != DMK_IPC_ROUTE_LEASE)
		return 20;
	fill_seed(odd, LEN, seed + 1);
	if (dmk_ipc_client_ring_write(c, h2, 0, LEN, lba + LEN / bs))
		return 21;
	memset(odd, 0, LEN);
	if (dmk_ipc_client_read(c, h2, 0, LEN, lba + LEN / bs))
		return 22;
	if (differs_seed(odd, LEN, seed + 1) >= 0)
		return 23;
	if (dmk_ipc_lease_unregister(l, h2))
		return 24;
	free(raw);
	/*
	 * Memory never written, leased for the device to read, then written:
	 * the device must read what the process wrote, not the frames the
	 * kernel had mapped for untouched pages (the zero page) at the pin.
	 */
	fresh = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fresh == MAP_FAILED)
		return 29;
	if (dmk_ipc_lease_register(l, fresh, LEN, DMK_PROT_READ, &h3, &route))
		return 30;
	fill_seed(fresh, LEN, seed + 2);
	if (dmk_ipc_client_write(c, h3, 0, LEN, lba + 2 * LEN / bs))
		return 31;
	memset(buf, 0, LEN);
	if (dmk_ipc_client_read(c, h, 0, LEN, lba + 2 * LEN / bs))
		return 32;
	if (differs_seed(buf, LEN, seed + 2) >= 0)
		return 33;
	if (dmk_ipc_lease_unregister(l, h3))
		return 34;
	munmap(fresh, LEN);
	/* buf stays registered: the daemon's end of the lease unmaps it */
	dmk_ipc_client_close(c);
	return 0;
}

static int run_child(int nobody, uint64_t lba, unsigned seed, uint64_t *base)
{
	struct app_args a = { nobody, lba, seed, -1 };
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -1;
	a.outfd = p[1];
	pid = vmipc_fork(app, &a);
	close(p[1]);
	if (pid < 0 || read(p[0], base, sizeof(*base)) != sizeof(*base))
		*base = 0;
	close(p[0]);
	return vmipc_wait(pid);
}

static struct dmk_ipc_server_stats stats(void)
{
	return vmipc_stats(&d);
}

static struct dmk_vfio_info vinfo(void)
{
	struct dmk_vfio_info vi;

	memset(&vi, 0, sizeof(vi));
	dmk_vfio_info(d.sp, &vi);
	return vi;
}

/* No mapping of an application left: the kernel's count of mappings left,
 * the daemon's own, and the free IOVA space are what they were before. */
static void check_clean(const char *name, const struct dmk_vfio_info *before)
{
	struct dmk_vfio_info vi;

	vmipc_wait_idle(&d);
	vi = vinfo();
	result(stats().clients == 0 && stats().regions == 0 && vi.dma_avail == before->dma_avail &&
	       vi.mappings == before->mappings && vi.free_below_reach == before->free_below_reach,
	       name, "%" PRIu64 " clients, %" PRIu64 " regions; dma_avail %u (was %u), mappings %" PRIu64 " (was %" PRIu64 "), free IOVA %" PRIu64 " (was %" PRIu64 ")",
	       stats().clients, stats().regions, vi.dma_avail, before->dma_avail, vi.mappings,
	       before->mappings, vi.free_below_reach, before->free_below_reach);
}

static void test_rw(uint64_t lba, const struct dmk_vfio_info *clean)
{
	struct dmk_ipc_server_stats s0 = stats();
	uint64_t base1 = 0, base2 = 0;
	int rc;

	rc = run_child(0, lba, 61, &base1);
	result(rc == 0 && stats().copied == s0.copied, "ipc-lease-rw-root",
	       "application failed at step %d, %" PRIu64 " bytes copied", rc,
	       stats().copied - s0.copied);
	if (rc == 0) {
		dmkcheck_seed(lba * bs, LEN, 61);
		dmkcheck_seed((lba + LEN / bs) * bs, LEN, 62);
		dmkcheck_seed((lba + 2 * LEN / bs) * bs, LEN, 63);
	}
	check_clean("ipc-lease-nothing-left", clean);
	rc = run_child(1, lba + 2048, 63, &base2);
	result(rc == 0, "ipc-lease-nobody-refused", "application (uid %d) failed at step %d",
	       NOBODY, rc);
	check_clean("ipc-lease-nothing-left-nobody", clean);
	rc = run_child(0, lba + 2048, 63, &base2);
	result(rc == 0 && stats().copied == s0.copied, "ipc-lease-rw-again",
	       "application failed at step %d", rc);
	if (rc == 0) {
		dmkcheck_seed((lba + 2048) * bs, LEN, 63);
		dmkcheck_seed((lba + 2048 + LEN / bs) * bs, LEN, 64);
		dmkcheck_seed((lba + 2048 + 2 * LEN / bs) * bs, LEN, 65);
	}
	result(base1 && base1 == base2, "ipc-lease-window-again",
	       "first window at %#" PRIx64 ", the next at %#" PRIx64, base1, base2);
	check_clean("ipc-lease-nothing-left-again", clean);
}

/* IOVAs outside the window, pages shared, bytes past a registration. */
static void test_hostile(void)
{
	struct dmk_ipc_client *c;
	struct dmk_ipc_lease *l;
	struct dmk_ipc_server_stats s0 = stats();
	uint64_t base, size, h, hx;
	unsigned route;
	uint8_t *buf;
	int out_hi, out_lo, shared, past, io_ok, second;

	if (dmk_ipc_client_connect(sock_path, NULL, &c) || dmk_ipc_client_lease(c, WINDOW, &l) ||
	    posix_memalign((void **)&buf, 4096, LEN) ||
	    dmk_ipc_lease_register(l, buf, LEN, DMK_PROT_RW, &h, &route)) {
		result(false, "ipc-lease-outside-window", "set-up");
		return;
	}
	dmk_ipc_lease_window(l, &base, &size);
	out_hi = dmk_ipc_lease_tell(l, buf, 4096, DMK_PROT_RW, base + size, &hx, &route);
	out_lo = dmk_ipc_lease_tell(l, buf, 4096, DMK_PROT_RW, base - 4096, &hx, &route);
	result(out_hi == -ERANGE && out_lo == -ERANGE && stats().refused >= s0.refused + 2,
	       "ipc-lease-outside-window", "IOVA past the window -> %d, before it -> %d", out_hi,
	       out_lo);
	shared = dmk_ipc_lease_tell(l, buf, 4096, DMK_PROT_RW, base + 4096, &hx, &route);
	result(shared == -EEXIST, "ipc-lease-shared-page", "IOVA of another registration -> %d",
	       shared);
	past = dmk_ipc_client_read(c, h, LEN - 512, 1024, 0);
	io_ok = dmk_ipc_client_read(c, h, 0, 4096, 0);
	result(past == -EINVAL && io_ok == 0, "ipc-lease-past-registration",
	       "read past the registration -> %d, inside -> %d", past, io_ok);
	second = dmk_ipc_client_lease(c, WINDOW, &l) == -EEXIST;
	result(second, "ipc-lease-one-per-connection", "a second lease was not refused");
	dmk_ipc_lease_close(l);
	dmk_ipc_client_close(c);
	free(buf);
}

/* An application that reads into its lease until it is killed; it says
 * "r" on @a->outfd once it is about to. */
static int app_reader(void *arg)
{
	const struct app_args *a = arg;
	struct dmk_ipc_client *cl;
	struct dmk_ipc_lease *l;
	uint64_t h;
	unsigned route;
	uint8_t *buf;

	if (dmk_ipc_client_connect(sock_path, NULL, &cl) || dmk_ipc_client_lease(cl, WINDOW, &l) ||
	    posix_memalign((void **)&buf, 4096, 4096 * KiB) ||
	    dmk_ipc_lease_register(l, buf, 4096 * KiB, DMK_PROT_RW, &h, &route))
		return 1;
	if (write(a->outfd, "r", 1) != 1)
		return 2;
	for (;;)
		dmk_ipc_client_read(cl, h, 0, 4096 * KiB, a->lba);
}

/* An application killed while the controller reads into its lease. */
static void test_sigkill(uint64_t lba, const struct dmk_vfio_info *clean)
{
	struct app_args a = { 0, lba, 0, -1 };
	int pipefd[2], st = 0, rc;
	uint64_t base = 0;
	pid_t pid;
	char ch;

	if (pipe(pipefd)) {
		result(false, "ipc-lease-sigkill", "pipe");
		return;
	}
	a.outfd = pipefd[1];
	pid = vmipc_fork(app_reader, &a);
	close(pipefd[1]);
	rc = (int)read(pipefd[0], &ch, 1);
	close(pipefd[0]);
	usleep(20000);
	kill(pid, SIGKILL);
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		st = 0;
	result(pid > 0 && rc == 1 && WIFSIGNALED(st), "ipc-lease-sigkill", "ready %d, status %#x", rc, st);
	check_clean("ipc-lease-sigkill-nothing-left", clean);
	rc = run_child(0, lba, 65, &base);
	result(rc == 0, "ipc-lease-serves-after-sigkill", "application failed at step %d", rc);
	if (rc == 0) {
		dmkcheck_seed(lba * bs, LEN, 65);
		dmkcheck_seed((lba + LEN / bs) * bs, LEN, 66);
	}
	check_clean("ipc-lease-nothing-left-at-end", clean);
}

int main(void)
{
	struct dmk_vfio_info clean;
	uint64_t base;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (vmipc_open(&d, sock_path, NULL, NULL))
		return 2;
	bs = d.info.lba_size;
	/* Blocks at 5/8 of the namespace: the other guest tests write elsewhere. */
	base = d.info.nlba / 8 * 5;
	SETUP(d.info.nlba < 16384 ? -ENOSPC : 0, "setup");
	clean = vinfo();

	/* what dmakitd's banner says it serves, behind VFIO: every route */
	result(d.routes == (1u << DMK_IPC_ROUTE_MEMFD | 1u << DMK_IPC_ROUTE_POOL |
			    1u << DMK_IPC_ROUTE_COPY | 1u << DMK_IPC_ROUTE_LEASE),
	       "ipc-lease-route-served", "dmk_ipc_server_routes() is %#x", d.routes);
	test_rw(base, &clean);
	test_hostile();
	check_clean("ipc-lease-nothing-left-hostile", &clean);
	test_sigkill(base + 4096, &clean);

	vmipc_close(&d);
	return failures ? 1 : 0;
}
