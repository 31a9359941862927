/* SPDX-License-Identifier: MIT */
/*
 * Guest test (testbed/run): the driver daemon's server on the NVMe driver
 * (QEMU's nvme behind the emulated VT-d IOMMU), applications in other
 * processes, one of them not root (uid 65534).
 *
 * The server runs on a thread of this process; each application is a
 * forked child that uses only the client library. What the applications
 * write is stated in DMKCHECK lines, so the host checks the backing file.
 *
 * The rings: applications keep dozens of entries on the device at once
 * (memfd, pool and lease routes, requests larger than one command, more
 * commands than the queue takes), and one is killed with entries on the
 * device: the daemon keeps its memory until the device is done with them.
 * The test holds the controller's doorbells (a debug hook) to have the
 * requests provably in flight at a moment it chooses. The controller
 * interrupts (MSI-X): the daemon sleeps on the queue's eventfd.
 *
 * Environment: DMK_NVME_BDF (required).
 * Prints one "PASS name" or "FAIL name: why" line per check; exits 1 when
 * any failed, 2 when the set-up failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/ipc.h>
#include <dmakit/ipc_client.h>
#include <dmakit/ipc_server.h>
#include <dmakit/nvme.h>
#include <dmakit/pci.h>
#include <dmakit/region.h>
#include <dmakit/space.h>
#include <dmakit/vfio.h>

#include "vmcheck.h"
#include "vmipc.h"
#include "vmpattern.h"


#define KiB 1024u
#define LEN (256 * KiB)

static const char *sock_path = "/tmp/dmakitd-test.sock";
static const char *log_path = "/tmp/dmakitd-test.log";
static struct vmipc d;
static uint32_t bs;

/*
 * An application: write pattern @seed from its buffer to @lba, clear the
 * buffer, read the blocks back, compare. @nobody drops root first. @copy picks the route: 0 memfd, 1 copy, 2 the daemon's
 * pool. Exit status: 0, or the step that failed.
 */
static int app(int copy, int nobody, uint64_t lba, unsigned seed)
{
	struct dmk_ipc_client *c;
	uint64_t h;
	unsigned route;
	uint8_t *buf;
	int fd = -1;

	if (nobody && vmipc_drop_root())
		return 10;
	if (dmk_ipc_client_connect(sock_path, NULL, &c))
		return 11;
	if (copy == 2) {
		if (dmk_ipc_client_alloc_pool(c, LEN, DMK_PROT_RW, (void **)&buf, &h, &route) ||
		    route != DMK_IPC_ROUTE_POOL)
			return 13;
	} else if (copy) {
		if (posix_memalign((void **)&buf, 4096, LEN))
			return 12;
		if (dmk_ipc_client_register_copy(c, buf, LEN, DMK_PROT_RW, &h, &route) ||
		    route != DMK_IPC_ROUTE_COPY)
			return 13;
	} else {
		if (dmk_ipc_memfd_alloc(LEN, (void **)&buf, &fd))
			return 12;
		if (dmk_ipc_client_register_memfd(c, fd, 0, LEN, DMK_PROT_RW, &h, &route) ||
		    route != DMK_IPC_ROUTE_MEMFD)
			return 13;
	}
	fill_seed(buf, LEN, seed);
	if (dmk_ipc_client_write(c, h, 0, LEN, lba))
		return 14;
	memset(buf, 0, LEN);
	if (dmk_ipc_client_read(c, h, 0, LEN, lba))
		return 15;
	if (differs_seed(buf, LEN, seed) >= 0)
		return 16;
	dmk_ipc_client_close(c);
	return 0;
}

struct app_args {
	int copy, nobody;
	uint64_t lba;
	unsigned seed;
};

static int app_main(void *arg)
{
	const struct app_args *a = arg;

	return app(a->copy, a->nobody, a->lba, a->seed);
}

static int run_child(int copy, int nobody, uint64_t lba, unsigned seed)
{
	struct app_args a = { copy, nobody, lba, seed };

	return vmipc_run(app_main, &a);
}

static void test_routes(uint64_t base)
{
	int rc;

	rc = run_child(0, 1, base, 41);
	result(rc == 0, "ipc-memfd-nobody", "application (uid %d) failed at step %d", NOBODY, rc);
	if (rc == 0)
		dmkcheck_seed(base * bs, LEN, 41);
	rc = run_child(1, 0, base + 1024, 42);
	result(rc == 0, "ipc-copy-root", "application failed at step %d", rc);
	if (rc == 0)
		dmkcheck_seed((base + 1024) * bs, LEN, 42);
	rc = run_child(1, 1, base + 2048, 43);
	result(rc == 0, "ipc-copy-nobody", "application (uid %d) failed at step %d", NOBODY, rc);
	if (rc == 0)
		dmkcheck_seed((base + 2048) * bs, LEN, 43);
	rc = run_child(2, 1, base + 3072, 45);
	result(rc == 0, "ipc-pool-nobody", "application (uid %d) failed at step %d", NOBODY, rc);
	if (rc == 0)
		dmkcheck_seed((base + 3072) * bs, LEN, 45);
	vmipc_wait_idle(&d);
	result(vmipc_stats(&d).regions == 0 && vmipc_memfd_mappings() == 0, "ipc-nothing-left",
	       "%" PRIu64 " regions, %d memfd mappings after the applications left",
	       vmipc_stats(&d).regions, vmipc_memfd_mappings());
}

static void test_forged(void)
{
	struct dmk_ipc_client *a = NULL, *b = NULL;
	uint8_t *ba = NULL, *bb = NULL;
	uint64_t ha = 0, hb = 0;
	unsigned route;
	int fa = -1, fb = -1, ra, rb;

	if (dmk_ipc_client_connect(sock_path, NULL, &a) || dmk_ipc_client_connect(sock_path, NULL, &b) ||
	    dmk_ipc_memfd_alloc(LEN, (void **)&ba, &fa) || dmk_ipc_memfd_alloc(LEN, (void **)&bb, &fb) ||
	    dmk_ipc_client_register_memfd(a, fa, 0, LEN, DMK_PROT_RW, &ha, &route) ||
	    dmk_ipc_client_register_memfd(b, fb, 0, LEN, DMK_PROT_RW, &hb, &route)) {
		result(false, "ipc-forged-handle", "set-up");
		return;
	}
	memset(ba, 0x5a, LEN);
	ra = dmk_ipc_client_read(b, ha, 0, 4096, 0);
	rb = dmk_ipc_client_read(b, hb, 0, 4096, 0);
	result(ra == -EPERM && rb == 0 && ba[0] == 0x5a && ba[4095] == 0x5a, "ipc-forged-handle",
	       "another's handle -> %d, own -> %d", ra, rb);
	dmk_ipc_client_close(a);
	dmk_ipc_client_close(b);
	munmap(ba, LEN);
	munmap(bb, LEN);
	close(fa);
	close(fb);
}

/* An application killed while the device moves its bytes. */
static void test_sigkill(uint64_t lba)
{
	int pipefd[2], st, rc;
	pid_t pid;
	char c;

	if (pipe(pipefd)) {
		result(false, "ipc-sigkill", "pipe");
		return;
	}
	pid = fork();
	if (pid == 0) {
		struct dmk_ipc_client *cl;
		uint64_t h;
		unsigned route;
		uint8_t *buf;
		int fd;

		close(pipefd[0]);
		if (dmk_ipc_client_connect(sock_path, NULL, &cl) ||
		    dmk_ipc_memfd_alloc(4096 * KiB, (void **)&buf, &fd) ||
		    dmk_ipc_client_register_memfd(cl, fd, 0, 4096 * KiB, DMK_PROT_RW, &h, &route))
			_exit(1);
		if (write(pipefd[1], "r", 1) != 1)
			_exit(2);
		for (;;)
			dmk_ipc_client_read(cl, h, 0, 4096 * KiB, lba);
	}
	close(pipefd[1]);
	rc = (int)read(pipefd[0], &c, 1);
	close(pipefd[0]);
	usleep(20000);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	vmipc_wait_idle(&d);
	result(rc == 1 && WIFSIGNALED(st) && vmipc_stats(&d).clients == 0 && vmipc_stats(&d).regions == 0 &&
	       vmipc_memfd_mappings() == 0, "ipc-sigkill",
	       "ready %d, %" PRIu64 " clients, %" PRIu64 " regions, %d memfd mappings left", rc,
	       vmipc_stats(&d).clients, vmipc_stats(&d).regions, vmipc_memfd_mappings());
	rc = run_child(0, 0, lba, 44);
	result(rc == 0, "ipc-serves-after-sigkill", "application failed at step %d", rc);
	if (rc == 0)
		dmkcheck_seed(lba * bs, LEN, 44);
}

/* The daemon's log so far (a static buffer), for the lines it must have. */
static const char *logged(void)
{
	static char text[1 << 16];
	FILE *f = fopen(log_path, "r");
	size_t n = 0;

	if (f) {
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
	}
	text[n] = 0;
	return text;
}

/* Let the doorbells ring again and hand over what waits in the SQ. */
/* Wait (5 s at most) until the daemon has @n ring entries on the device. */
static bool wait_inflight(uint64_t n)
{
	for (int i = 0; i < 500 && vmipc_stats(&d).inflight != n; i++)
		usleep(10000);
	return vmipc_stats(&d).inflight == n;
}

/* The depth test's requests: many small ones, and one of three commands
 * (the controller is opened with max_transfer MAX_XFER): more commands
 * than the queue takes at once (63 slots, 7 kept for the socket). Small:
 * the disk has 2 MiB free for these tests (the examples write its last
 * 8 MiB). */
#define MAX_XFER (128 * KiB)
#define NSMALL 64
#define SMALL (1 * KiB)
#define BIG (3 * MAX_XFER)
#define NREQ (NSMALL + 1)
#define DEPTH_LEN (NSMALL * SMALL + BIG)

static void req_at(unsigned i, uint64_t *off, uint64_t *len)
{
	*off = (uint64_t)i * SMALL;
	*len = i < NSMALL ? SMALL : BIG;
}

/* Submit all NREQ entries of @op (in reverse order when @rev), then reap
 * them all: every tag once, every status 0. 0 or the step that failed. */
static int ring_all(struct dmk_ipc_client *c, unsigned op, uint64_t h, uint64_t lba, bool rev,
		    int readyfd)
{
	struct dmk_ipc_cqe ce[NREQ];
	bool seen[NREQ] = { false };
	int got = 0;

	for (unsigned k = 0; k < NREQ; k++) {
		unsigned i = rev ? NREQ - 1 - k : k;
		uint64_t off, len;

		req_at(i, &off, &len);
		if (dmk_ipc_client_submit(c, op, h, off, len, lba + off / bs, i))
			return 40;
	}
	if (readyfd >= 0 && write(readyfd, "s", 1) != 1)
		return 41;
	while (got < NREQ) {
		int k = dmk_ipc_client_reap(c, ce, NREQ, 1);

		if (k <= 0)
			return 42;
		for (int j = 0; j < k; j++) {
			if (ce[j].status != 0 || ce[j].tag >= NREQ || seen[ce[j].tag])
				return 43;
			seen[ce[j].tag] = true;
		}
		got += k;
	}
	return 0;
}

/*
 * An application on the rings: @route 0 memfd, 2 pool, 3 lease (root only);
 * all NREQ writes of pattern @seed in flight at once (the parent holds the
 * doorbells until it has seen them on the device: told through @readyfd),
 * then all reads back in reverse order into the cleared buffer, then one
 * read of the whole as one entry. Exit status: 0 or the step that failed.
 */
static int ring_app(int route, int nobody, uint64_t lba, unsigned seed, int readyfd)
{
	struct dmk_ipc_client *c;
	struct dmk_ipc_lease *l;
	unsigned r, granted = 0;
	uint8_t *buf;
	uint64_t h;
	int fd, rc;

	if (nobody && vmipc_drop_root())
		return 30;
	if (dmk_ipc_client_connect(sock_path, NULL, &c) || dmk_ipc_client_rings(c, 128, &granted) ||
	    granted != 128)
		return 31;
	if (route == 2) {
		if (dmk_ipc_client_alloc_pool(c, DEPTH_LEN, DMK_PROT_RW, (void **)&buf, &h, &r) ||
		    r != DMK_IPC_ROUTE_POOL)
			return 32;
	} else if (route == 3) {
		if (dmk_ipc_client_lease(c, 8192 * KiB, &l) || posix_memalign((void **)&buf, 4096, DEPTH_LEN) ||
		    dmk_ipc_lease_register(l, buf, DEPTH_LEN, DMK_PROT_RW, &h, &r) ||
		    r != DMK_IPC_ROUTE_LEASE)
			return 33;
	} else {
		if (dmk_ipc_memfd_alloc(DEPTH_LEN, (void **)&buf, &fd) ||
		    dmk_ipc_client_register_memfd(c, fd, 0, DEPTH_LEN, DMK_PROT_RW, &h, &r) ||
		    r != DMK_IPC_ROUTE_MEMFD)
			return 34;
	}
	fill_seed(buf, DEPTH_LEN, seed);
	rc = ring_all(c, DMK_IPC_WRITE, h, lba, false, readyfd);
	if (rc)
		return rc;
	memset(buf, 0, DEPTH_LEN);
	rc = ring_all(c, DMK_IPC_READ, h, lba, true, -1);
	if (rc)
		return rc + 10;
	if (differs_seed(buf, DEPTH_LEN, seed) >= 0)
		return 35;
	memset(buf, 0, DEPTH_LEN);
	if (dmk_ipc_client_ring_read(c, h, 0, DEPTH_LEN, lba) || differs_seed(buf, DEPTH_LEN, seed) >= 0)
		return 36;
	dmk_ipc_client_close(c);
	return 0;
}

static void test_ring_depth(const char *name, int route, int nobody, uint64_t lba, unsigned seed)
{
	char left[64];
	int p[2], st = -1, rc;
	uint64_t peak = 0;
	bool held = false;
	pid_t pid;
	char ch;

	if (pipe(p)) {
		result(false, name, "pipe");
		return;
	}
	dmki_nvme_debug_hold_doorbells(true);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		rc = ring_app(route, nobody, lba, seed, p[1]);
		if (rc)
			fprintf(stderr, "ring app: step %d: %s\n", rc, dmk_last_error());
		_exit(rc);
	}
	close(p[1]);
	if (pid > 0 && read(p[0], &ch, 1) == 1) {
		/* every entry is on the device at once (or waiting for a slot) */
		held = wait_inflight(NREQ);
		peak = vmipc_stats(&d).inflight;
	}
	vmipc_release_doorbells(&d);
	close(p[0]);
	rc = pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	result(rc == 0 && held, name,
	       "application (uid %d) exit %d; %" PRIu64 " of %u entries in flight at once", nobody ? NOBODY : 0,
	       rc, peak, NREQ);
	if (rc == 0)
		dmkcheck_seed(lba * bs, DEPTH_LEN, seed);
	vmipc_wait_idle(&d);
	snprintf(left, sizeof(left), "%s-nothing-left", name);
	result(vmipc_stats(&d).inflight == 0 && vmipc_stats(&d).regions == 0 && vmipc_memfd_mappings() == 0, left, "%" PRIu64 " in flight, %" PRIu64 " regions, %d memfd mappings",
	       vmipc_stats(&d).inflight, vmipc_stats(&d).regions, vmipc_memfd_mappings());
}

/*
 * An application killed with ring entries on the device: 16 writes of its
 * pattern and 8 reads (from blocks an application wrote before, which must
 * not change) held in the SQ. The daemon keeps its region and mapping until
 * the device is done, serves the next application, then releases them;
 * the dead application's writes reach the disk whole.
 */
static void test_ring_sigkill(uint64_t lba)
{
	const uint64_t wlen = 16 * 8 * KiB, rlen = 8 * 16 * KiB, rlba = lba + wlen / bs;
	struct dmk_ipc_server_stats s0 = vmipc_stats(&d), s1, s2;
	int p[2], st, rc, maps = -1;
	bool held = false;
	pid_t pid;
	char ch = 0;

	rc = run_child(0, 0, rlba, 46);	/* the blocks the victim reads */
	if (rc || pipe(p)) {
		result(false, "ipc-ring-sigkill", "set-up: application exit %d", rc);
		return;
	}
	dmkcheck_seed(rlba * bs, LEN, 46);
	dmki_nvme_debug_hold_doorbells(true);
	pid = fork();
	if (pid == 0) {
		struct dmk_ipc_client *c;
		uint64_t h;
		unsigned r;
		uint8_t *buf;
		int fd;

		close(p[0]);
		if (dmk_ipc_client_connect(sock_path, NULL, &c) || dmk_ipc_client_rings(c, 32, NULL) ||
		    dmk_ipc_memfd_alloc(wlen + rlen, (void **)&buf, &fd) ||
		    dmk_ipc_client_register_memfd(c, fd, 0, wlen + rlen, DMK_PROT_RW, &h, &r))
			_exit(1);
		fill_seed(buf, wlen, 47);
		for (unsigned i = 0; i < 16; i++)
			if (dmk_ipc_client_submit(c, DMK_IPC_WRITE, h, i * 8 * KiB, 8 * KiB,
						  lba + i * 8 * KiB / bs, i))
				_exit(2);
		for (unsigned i = 0; i < 8; i++)
			if (dmk_ipc_client_submit(c, DMK_IPC_READ, h, wlen + i * 16 * KiB, 16 * KiB,
						  rlba + i * 16 * KiB / bs, 16 + i))
				_exit(3);
		if (write(p[1], "s", 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(p[1]);
	if (pid > 0 && read(p[0], &ch, 1) == 1)
		held = wait_inflight(24);
	close(p[0]);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	for (int i = 0; i < 500 && vmipc_stats(&d).clients; i++)
		usleep(10000);
	s1 = vmipc_stats(&d);
	maps = vmipc_memfd_mappings();
	/* gone, but its memory is the device's until the doorbells ring */
	result(held && s1.clients == 0 && s1.inflight == 24 && s1.regions == 1 && maps == 1 &&
	       s1.drained == s0.drained &&
	       strstr(logged(), "24 request(s) on the device: 1 region(s) kept until they complete"),
	       "ipc-ring-sigkill-kept",
	       "held %d; after the kill: %" PRIu64 " clients, %" PRIu64 " in flight, %" PRIu64 " regions, %d memfd mappings",
	       held, s1.clients, s1.inflight, s1.regions, maps);
	vmipc_release_doorbells(&d);
	/* the next application is served; the dead one's requests complete */
	rc = run_child(0, 1, rlba + LEN / bs, 48);
	result(rc == 0, "ipc-ring-serves-while-draining", "application failed at step %d", rc);
	if (rc == 0)
		dmkcheck_seed((rlba + LEN / bs) * bs, LEN, 48);
	for (int i = 0; i < 500 && vmipc_stats(&d).drained == s0.drained; i++)
		usleep(10000);
	vmipc_wait_idle(&d);
	s2 = vmipc_stats(&d);
	result(s2.drained == s0.drained + 1 && s2.inflight == 0 && s2.regions == 0 &&
	       vmipc_memfd_mappings() == 0 && strstr(logged(), "drained, 1 region(s) released") &&
	       !strstr(logged(), "on the device: error"),
	       "ipc-ring-sigkill-drained",
	       "%" PRIu64 " drained (was %" PRIu64 "), %" PRIu64 " in flight, %" PRIu64 " regions, %d memfd mappings",
	       s2.drained, s0.drained, s2.inflight, s2.regions, vmipc_memfd_mappings());
	/* its writes are on the disk whole; the blocks it read are untouched */
	dmkcheck_seed(lba * bs, wlen, 47);
}

/*
 * The same without the hook: an application reading @lba.. (the memfd
 * depth test's blocks, pattern 50) through the rings 32 entries at a time,
 * over and over, is killed whenever that happens to be. Afterwards nothing
 * of it is left, nothing is in flight, and the daemon reads the same
 * blocks right for the next application.
 */
static void test_ring_sigkill_streaming(uint64_t lba)
{
	struct dmk_ipc_server_stats s0 = vmipc_stats(&d), s1;
	struct dmk_ipc_client *c;
	uint64_t at_kill = 0, h;
	unsigned route;
	uint8_t *buf;
	int p[2], st, fd, rc = -1;
	pid_t pid;
	char ch;

	if (pipe(p)) {
		result(false, "ipc-ring-sigkill-streaming", "pipe");
		return;
	}
	pid = fork();
	if (pid == 0) {
		struct dmk_ipc_cqe ce[32];
		unsigned next = 0;

		close(p[0]);
		if (dmk_ipc_client_connect(sock_path, NULL, &c) || dmk_ipc_client_rings(c, 32, NULL) ||
		    dmk_ipc_memfd_alloc(DEPTH_LEN, (void **)&buf, &fd) ||
		    dmk_ipc_client_register_memfd(c, fd, 0, DEPTH_LEN, DMK_PROT_RW, &h, &route))
			_exit(1);
		for (unsigned i = 0; i < 32; i++, next++)
			if (dmk_ipc_client_submit(c, DMK_IPC_READ, h, next % 112 * 4 * KiB, 4 * KiB,
						  lba + next % 112 * 4 * KiB / bs, next))
				_exit(2);
		if (write(p[1], "s", 1) != 1)
			_exit(3);
		for (;;) {
			int k = dmk_ipc_client_reap(c, ce, 32, 1);

			for (int j = 0; j < k; j++, next++)
				if (ce[j].status ||
				    dmk_ipc_client_submit(c, DMK_IPC_READ, h, next % 112 * 4 * KiB, 4 * KiB,
							  lba + next % 112 * 4 * KiB / bs, next))
					_exit(4);
		}
	}
	close(p[1]);
	if (pid > 0 && read(p[0], &ch, 1) == 1) {
		usleep(200000);
		at_kill = vmipc_stats(&d).inflight;
		kill(pid, SIGKILL);
	}
	close(p[0]);
	if (pid > 0)
		waitpid(pid, &st, 0);
	vmipc_wait_idle(&d);
	for (int i = 0; i < 500 && vmipc_stats(&d).inflight; i++)
		usleep(10000);
	s1 = vmipc_stats(&d);
	printf("  (%" PRIu64 " entries in flight just before the kill, %" PRIu64 " requests served, drained %" PRIu64 " -> %" PRIu64 ")\n",
	       at_kill, s1.requests - s0.requests, s0.drained, s1.drained);
	result(pid > 0 && WIFSIGNALED(st) && s1.requests - s0.requests > 32 && s1.clients == 0 &&
	       s1.inflight == 0 && s1.regions == 0 && vmipc_memfd_mappings() == 0,
	       "ipc-ring-sigkill-streaming", "%" PRIu64 " requests served, %" PRIu64 " clients, %" PRIu64 " in flight, %" PRIu64 " regions, %d memfd mappings after the kill",
	       s1.requests - s0.requests, s1.clients, s1.inflight, s1.regions, vmipc_memfd_mappings());
	/* the next application: this process, through the rings */
	if (!dmk_ipc_client_connect(sock_path, NULL, &c)) {
		if (!dmk_ipc_client_rings(c, 8, NULL) && !dmk_ipc_memfd_alloc(DEPTH_LEN, (void **)&buf, &fd)) {
			if (!dmk_ipc_client_register_memfd(c, fd, 0, DEPTH_LEN, DMK_PROT_RW, &h, &route))
				rc = dmk_ipc_client_ring_read(c, h, 0, DEPTH_LEN, lba);
			if (!rc && differs_seed(buf, DEPTH_LEN, 50) >= 0)
				rc = -EIO;
			munmap(buf, DEPTH_LEN);
			close(fd);
		}
		dmk_ipc_client_close(c);
	}
	result(rc == 0, "ipc-ring-serves-after-streaming-kill", "ring read -> %d", rc);
}

int main(void)
{
	struct dmk_ipc_server_opts so;
	struct dmk_nvme_opts no;
	uint64_t base, ring;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	dmk_nvme_opts_init(&no);
	no.max_transfer = MAX_XFER;	/* ring requests of several commands, on little disk */
	/* The daemon sleeps on the queue's interrupt here; test_ipc_lease and
	 * ipc_read have it poll a queue without one. */
	no.use_msix = 1;
	dmk_ipc_server_opts_init(&so);
	so.socket_mode = 0666;
	so.log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	SETUP(so.log_fd < 0 ? -errno : 0, "setup");
	rc = vmipc_open(&d, sock_path, &no, &so);
	if (rc)
		return rc;
	SETUP(d.info.msix ? 0 : -ENOTSUP, "setup");
	bs = d.info.lba_size;
	/* Blocks at 3/4 of the namespace: the other guest tests write lower. */
	base = d.info.nlba / 4 * 3;
	SETUP(d.info.nlba < 16384 ? -ENOSPC : 0, "setup");

	test_routes(base);
	test_forged();
	test_sigkill(base + 4096);
	/* Rings: 2 MiB from base + 6 MiB (54 MiB of the default 64 MiB) on,
	 * 1984 KiB of it used. */
	ring = base + 6 * 1024 * KiB / bs;
	SETUP(ring + 2048 * KiB / bs > d.info.nlba - 8192 * KiB / bs ? -ENOSPC : 0, "setup");
	test_ring_depth("ipc-ring-depth-memfd-nobody", 0, 1, ring, 50);
	test_ring_depth("ipc-ring-depth-pool-nobody", 2, 1, ring + DEPTH_LEN / bs, 51);
	test_ring_depth("ipc-ring-depth-lease-root", 3, 0, ring + 2 * DEPTH_LEN / bs, 52);
	test_ring_sigkill(ring + 3 * DEPTH_LEN / bs);
	test_ring_sigkill_streaming(ring);	/* reads only */

	vmipc_close(&d);
	return failures ? 1 : 0;
}
