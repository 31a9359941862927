/* SPDX-License-Identifier: MIT */
/*
 * Guest test (testbed/run): the driver daemon when the device stops
 * answering. The test holds the controller's doorbells (a debug hook), so
 * the commands an application's requests make never reach it, and opens
 * the controller with a 1 s timeout, queues polled.
 *
 * - The application's ring entries (memfd and lease routes) end with
 *   -ETIMEDOUT after about the timeout, and the daemon's loop is never
 *   blocked meanwhile: another client registers and unregisters memory
 *   again and again, each round answered quickly.
 * - A copy-route request on the socket ends with -ETIMEDOUT too.
 * - What the device may still reach some day is never handed to anyone
 *   else: the application's lease window stays out of use (a later lease
 *   gets another window), its memfd region stays registered and mapped,
 *   the copy route's bounce buffer is abandoned for a new one.
 * - Once the doorbells ring again the daemon serves every route as before,
 *   checked byte for byte and on the disk (DMKCHECK).
 *
 * Blocks from 77/128 of the namespace (38.5 MiB of the default 64 MiB),
 * 512 KiB: between test_ipc_isolation's and test_ipc_lease's.
 *
 * Environment: DMK_NVME_BDF (required).
 * Prints one "PASS name" or "FAIL name: why" line per check; exits 1 when
 * any failed, 2 when the set-up failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <dmakit/ipc.h>
#include <dmakit/ipc_client.h>
#include <dmakit/region.h>
#include <dmakit/vfio.h>

#include "vmcheck.h"
#include "vmipc.h"
#include "vmpattern.h"


#define KiB 1024u
#define LEN (64 * KiB)
#define WINDOW (1024 * KiB)
#define TIMEOUT_MS 1000u

static const char *sock_path = "/tmp/dmakitd-timeout.sock";
static const char *log_path = "/tmp/dmakitd-timeout.log";
static struct vmipc d;
static uint32_t bs;
static uint64_t base;

/* What the hung application reports, in order, on its pipe. */
struct hung_report {
	uint64_t window;	/* its lease window's base */
	int32_t st_memfd, st_lease;	/* the two ring entries' statuses */
	double ring_s;		/* how long until both ended */
};

struct hung_args {
	int cmd, res;		/* parent -> child, child -> parent */
};

static int say(int fd, const void *p, size_t n)
{
	return write(fd, p, n) == (ssize_t)n ? 0 : -1;
}

static int hear(int fd, void *p, size_t n)
{
	return read(fd, p, n) == (ssize_t)n ? 0 : -1;
}

/* The application whose requests hang: memfd, lease and copy regions. */
static int hung_app(void *arg)
{
	const struct hung_args *a = arg;
	struct dmk_ipc_client *c;
	struct dmk_ipc_lease *l;
	struct dmk_ipc_cqe ce[2];
	struct hung_report rep;
	uint64_t hm, hl, hc;
	unsigned route;
	uint8_t *bm, *bl, *bc;
	int fd, rc, got = 0;
	double t0;
	char go;

	if (dmk_ipc_client_connect(sock_path, NULL, &c) || dmk_ipc_client_rings(c, 8, NULL))
		return 10;
	if (dmk_ipc_memfd_alloc(LEN, (void **)&bm, &fd) ||
	    dmk_ipc_client_register_memfd(c, fd, 0, LEN, DMK_PROT_RW, &hm, &route))
		return 11;
	if (posix_memalign((void **)&bl, 4096, LEN) || posix_memalign((void **)&bc, 4096, LEN))
		return 12;
	if (dmk_ipc_client_lease(c, WINDOW, &l) ||
	    dmk_ipc_lease_register(l, bl, LEN, DMK_PROT_RW, &hl, &route) ||
	    dmk_ipc_client_register_copy(c, bc, LEN, DMK_PROT_RW, &hc, &route))
		return 13;
	memset(&rep, 0, sizeof(rep));
	dmk_ipc_lease_window(l, &rep.window, NULL);
	if (say(a->res, &rep.window, sizeof(rep.window)) || hear(a->cmd, &go, 1))
		return 14;
	t0 = now();
	if (dmk_ipc_client_submit(c, DMK_IPC_READ, hm, 0, LEN, base, 1) ||
	    dmk_ipc_client_submit(c, DMK_IPC_READ, hl, 0, LEN, base, 2))
		return 15;
	while (got < 2) {
		rc = dmk_ipc_client_reap(c, ce + got, 2u - (unsigned)got, 1);
		if (rc <= 0)
			return 16;
		got += rc;
	}
	rep.ring_s = now() - t0;
	for (int i = 0; i < 2; i++) {
		if (ce[i].tag == 1)
			rep.st_memfd = ce[i].status;
		else
			rep.st_lease = ce[i].status;
	}
	if (say(a->res, &rep, sizeof(rep)) || hear(a->cmd, &go, 1))
		return 17;
	/* The socket, the copy route: synchronous in the daemon. */
	rc = dmk_ipc_client_read(c, hc, 0, LEN, base);
	if (say(a->res, &rc, sizeof(rc)) || hear(a->cmd, &go, 1))
		return 18;
	dmk_ipc_client_close(c);
	return 0;
}

/* One round of another client: connect, register, unregister, close. */
static double other_round(void)
{
	struct dmk_ipc_client *c;
	uint64_t h;
	unsigned route;
	uint8_t *b;
	double t0 = now();
	int fd, rc = -1;

	if (dmk_ipc_memfd_alloc(LEN, (void **)&b, &fd))
		return -1;
	if (!dmk_ipc_client_connect(sock_path, NULL, &c)) {
		rc = dmk_ipc_client_register_memfd(c, fd, 0, LEN, DMK_PROT_RW, &h, &route);
		if (!rc)
			rc = dmk_ipc_client_unregister(c, h);
		dmk_ipc_client_close(c);
	}
	munmap(b, LEN);
	close(fd);
	return rc ? -1 : now() - t0;
}

static uint64_t free_iova(void)
{
	struct dmk_vfio_info vi;

	memset(&vi, 0, sizeof(vi));
	dmk_vfio_info(d.sp, &vi);
	return vi.free_below_reach;
}

static bool logged(const char *what)
{
	static char buf[1 << 16];
	int fd = open(log_path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strstr(buf, what) != NULL;
}

/* Requests that hang; returns the hung application's window base. */
static uint64_t test_hang(void)
{
	int cmd[2], res[2], rc_copy = 0;
	struct hung_args a;
	struct hung_report rep;
	uint64_t window = 0, free0 = free_iova(), gone;
	double worst = 0;
	unsigned rounds = 0, bad = 0;
	pid_t pid;

	if (pipe(cmd) || pipe(res)) {
		result(false, "ipc-timeout-ring", "pipe");
		return 0;
	}
	a.cmd = cmd[0];
	a.res = res[1];
	pid = vmipc_fork(hung_app, &a);
	if (pid < 0 || hear(res[0], &window, sizeof(window))) {
		result(false, "ipc-timeout-ring", "the application did not set up");
		vmipc_wait(pid);
		return 0;
	}
	dmki_nvme_debug_hold_doorbells(true);
	if (say(cmd[1], "g", 1))
		goto out;
	/* Another client meanwhile, until the hung one reports. */
	for (;;) {
		struct pollfd p = { .fd = res[0], .events = POLLIN };
		double t;

		if (poll(&p, 1, 20) > 0)
			break;
		t = other_round();
		if (t < 0) {
			bad++;
		} else {
			rounds++;
			if (t > worst)
				worst = t;
		}
	}
	if (hear(res[0], &rep, sizeof(rep)))
		goto out;
	printf("  ring entries ended after %.2f s (timeout %u ms); another client: %u rounds meanwhile, the slowest %.1f ms\n",
	       rep.ring_s, TIMEOUT_MS, rounds, worst * 1e3);
	result(rep.st_memfd == -ETIMEDOUT && rep.st_lease == -ETIMEDOUT &&
	       rep.ring_s > TIMEOUT_MS / 1e3 * 0.9 && rep.ring_s < 10,
	       "ipc-timeout-ring", "memfd entry %d, lease entry %d after %.2f s (want -ETIMEDOUT after ~%u ms)",
	       rep.st_memfd, rep.st_lease, rep.ring_s, TIMEOUT_MS);
	result(rounds >= 3 && bad == 0 && worst < 0.5, "ipc-timeout-serves-others",
	       "%u rounds, %u failed, slowest %.1f ms while requests hung", rounds, bad, worst * 1e3);
	result(vmipc_stats(&d).inflight == 0, "ipc-timeout-nothing-in-flight",
	       "%" PRIu64 " requests still in flight", vmipc_stats(&d).inflight);
	if (say(cmd[1], "c", 1) || hear(res[0], &rc_copy, sizeof(rc_copy)))
		goto out;
	result(rc_copy == -ETIMEDOUT, "ipc-timeout-copy", "copy-route READ -> %d", rc_copy);
	if (say(cmd[1], "q", 1))
		goto out;
	result(vmipc_wait(pid) == 0 && vmipc_wait_idle(&d), "ipc-timeout-app-ends", "application or daemon");
	pid = -1;
	/* Out of the IOVA space for good: the window and the memfd region
	 * (and the new bounce buffer's, the old one's kept too); had the
	 * window gone back, LEN + the new bounce buffer's LEN would be gone. */
	gone = free0 - free_iova();
	printf("  IOVA space kept out of use: %" PRIu64 " KiB\n", gone / KiB);
	result(gone >= WINDOW + LEN && logged("kept out of use") &&
	       logged("kept registered and mapped") && logged("abandoned"),
	       "ipc-timeout-memory-kept",
	       "%" PRIu64 " bytes of IOVA space kept (want the window's %u and the region's %u at least); the log (%s) says which",
	       gone, WINDOW, LEN, log_path);
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		vmipc_wait(pid);
		result(false, "ipc-timeout-ring", "the application stopped talking");
	}
	vmipc_release_doorbells(&d);
	close(cmd[0]);
	close(cmd[1]);
	close(res[0]);
	close(res[1]);
	return window;
}

struct after_args {
	uint64_t old_window;
};

/* After the doorbells ring again: every route writes and reads back. */
static int after_app(void *arg)
{
	const struct after_args *a = arg;
	struct dmk_ipc_client *c;
	struct dmk_ipc_lease *l;
	uint64_t hm, hl, hc, window;
	unsigned route;
	uint8_t *bm, *bl, *bc;
	int fd;

	if (dmk_ipc_client_connect(sock_path, NULL, &c) || dmk_ipc_client_rings(c, 8, NULL))
		return 20;
	if (dmk_ipc_memfd_alloc(LEN, (void **)&bm, &fd) ||
	    dmk_ipc_client_register_memfd(c, fd, 0, LEN, DMK_PROT_RW, &hm, &route) ||
	    posix_memalign((void **)&bl, 4096, LEN) || posix_memalign((void **)&bc, 4096, LEN) ||
	    dmk_ipc_client_lease(c, WINDOW, &l) ||
	    dmk_ipc_lease_register(l, bl, LEN, DMK_PROT_RW, &hl, &route) ||
	    dmk_ipc_client_register_copy(c, bc, LEN, DMK_PROT_RW, &hc, &route))
		return 21;
	dmk_ipc_lease_window(l, &window, NULL);
	if (window == a->old_window)
		return 22;	/* the window that may still be reached, handed out again */
	fill_seed(bm, LEN, 61);
	fill_seed(bl, LEN, 62);
	fill_seed(bc, LEN, 63);
	if (dmk_ipc_client_ring_write(c, hm, 0, LEN, base) ||
	    dmk_ipc_client_ring_write(c, hl, 0, LEN, base + LEN / bs) ||
	    dmk_ipc_client_write(c, hc, 0, LEN, base + 2 * LEN / bs))
		return 23;
	memset(bm, 0, LEN);
	memset(bl, 0, LEN);
	memset(bc, 0, LEN);
	if (dmk_ipc_client_ring_read(c, hm, 0, LEN, base) ||
	    dmk_ipc_client_ring_read(c, hl, 0, LEN, base + LEN / bs) ||
	    dmk_ipc_client_read(c, hc, 0, LEN, base + 2 * LEN / bs))
		return 24;
	if (differs_seed(bm, LEN, 61) >= 0 || differs_seed(bl, LEN, 62) >= 0 ||
	    differs_seed(bc, LEN, 63) >= 0)
		return 25;
	dmk_ipc_client_close(c);
	return 0;
}

int main(void)
{
	struct dmk_ipc_server_opts so;
	struct dmk_nvme_opts no;
	struct after_args aa;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	dmk_nvme_opts_init(&no);
	no.timeout_ms = TIMEOUT_MS;
	dmk_ipc_server_opts_init(&so);
	so.socket_mode = 0666;
	so.bounce_size = LEN;	/* smaller than the window: the IOVA check tells them apart */
	so.log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	SETUP(so.log_fd < 0 ? -errno : 0, "setup");
	rc = vmipc_open(&d, sock_path, &no, &so);
	if (rc)
		return rc;
	bs = d.info.lba_size;
	base = d.info.nlba / 128 * 77;
	SETUP(base + 3 * LEN / bs > d.info.nlba / 8 * 5 ? -ENOSPC : 0, "setup");

	aa.old_window = test_hang();
	rc = vmipc_run(after_app, &aa);
	result(rc == 0, "ipc-timeout-after",
	       "after the doorbells rang again, the application failed at step %d (22: the kept window was leased again)",
	       rc);
	if (rc == 0) {
		dmkcheck_seed(base * bs, LEN, 61);
		dmkcheck_seed(base * bs + LEN, LEN, 62);
		dmkcheck_seed(base * bs + 2 * LEN, LEN, 63);
	}
	vmipc_close(&d);
	return failures ? 1 : 0;
}
