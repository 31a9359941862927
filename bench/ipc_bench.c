/* SPDX-License-Identifier: MIT */
/*
 * ipc_bench: what a request costs when the application is another process
 * (the driver daemon's rings, <dmakit/ipc_client.h>) against the same
 * request made in-process on the backend, and the zero-copy memfd route
 * against the copy route. Host only: the sim backend (a RAM disk behind
 * the sim IOMMU), no device.
 *
 * One line per case, in the style of dmakit-bench:
 *
 *	case=NAME size=BYTES [qd=N] [poll_us=N] ns_per_op=FLOAT
 *	case=ipc_ratio size=BYTES qd=N poll_us=N ratio=FLOAT
 *
 * Cases:
 *	ipc_inproc	the backend's read called in this process on a
 *			registered buffer (what the daemon does per request).
 *	ipc_ring	READs through the rings from this process to a daemon
 *			in a forked process (memfd route), @qd requests kept in
 *			flight; ns_per_op = elapsed / requests. The daemon polls
 *			its rings for @poll_us after the last entry before it
 *			sleeps (0: a doorbell per wakeup).
 *	ipc_socket	the same READ as one socket message and its answer.
 *	ipc_ratio	ipc_ring / ipc_inproc.
 *	ipc_memfd, ipc_copy	a READ of @size bytes through the rings (qd 1)
 *			by the memfd route (zero copy) and the copy route
 *			(process_vm_writev from the daemon's bounce buffer).
 *
 * Each figure is the median of 7 timed loops of about 20 ms after a
 * warm-up. Nothing is pinned; -q runs shorter loops; -r only the rings at
 * depth 1 and 32 with the daemon polling, in loops of 200 ms (for perf);
 * IPC_BENCH_QD=N measures that ring depth alone, IPC_BENCH_POLL_US the
 * polling daemon's ring_poll_us (default 50), IPC_BENCH_PIN=1 pins the
 * daemon to CPU 1 and the application to CPU 0.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/ipc.h>
#include <dmakit/ipc_client.h>
#include <dmakit/ipc_server.h>
#include <dmakit/region.h>

#include "ipc/backend_priv.h"

#include "bench_util.h"

#define LBA 4096u
#define NLBA 16384u		/* a 64 MiB RAM disk */
#define MAXIO (4u << 20)
#define REPEATS 7

static double target_ns = 20e6;
static int rings_only;	/* -r: the rings at depth 1 and 32 with the daemon
			 * polling, loops of 200 ms (for perf) */
static unsigned only_qd;	/* IPC_BENCH_QD: that ring depth alone */

static void die(const char *what, int rc)
{
	fprintf(stderr, "ipc_bench: %s: %d (%s)\n", what, rc, dmk_last_error());
	exit(1);
}

/* A loop of @fn over @n operations returns its ns; the median per op of
 * REPEATS loops sized for target_ns. */
typedef void (*loop_fn)(void *ctx, uint64_t n);

static double measure(loop_fn fn, void *ctx)
{
	double t[REPEATS], t0, el;
	uint64_t n = 1;

	for (;;) {
		t0 = bench_now_ns();
		fn(ctx, n);
		el = bench_now_ns() - t0;
		if (el > target_ns / 4 || n > (1ull << 30))
			break;
		n *= 2;
	}
	n = (uint64_t)((double)n * target_ns / (el > 1 ? el : 1)) + 1;
	for (int i = 0; i < REPEATS; i++) {
		t0 = bench_now_ns();
		fn(ctx, n);
		t[i] = (bench_now_ns() - t0) / (double)n;
	}
	return bench_median(t, REPEATS);
}

/* ---- in-process ---- */

struct inproc {
	struct dmk_ipc_backend *be;
	void *buf;
	size_t size;
};

static void inproc_loop(void *ctx, uint64_t n)
{
	struct inproc *p = ctx;

	for (uint64_t i = 0; i < n; i++) {
		int rc = p->be->ops->read(p->be, (i * 8) % (NLBA - MAXIO / LBA), p->buf, p->size);

		if (rc)
			die("in-process read", rc);
	}
}

/* ---- the daemon in a process of its own ---- */

/* IPC_BENCH_PIN=1: the daemon on CPU 1, the application (and the
 * in-process loop) on CPU 0, so that they never share a CPU. */
static void pin(int cpu)
{
	cpu_set_t set;

	if (!getenv("IPC_BENCH_PIN") || atoi(getenv("IPC_BENCH_PIN")) != 1)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity", -errno);
}

static pid_t daemon_start(const char *path, unsigned poll_us)
{
	struct dmk_ipc_server_opts o;
	struct dmk_ipc_backend *be;
	struct dmk_ipc_server *srv;
	int rc, pfd[2];
	char c;
	pid_t pid;

	if (pipe(pfd))
		die("pipe", -errno);
	pid = fork();
	if (pid < 0)
		die("fork", -errno);
	if (pid == 0) {
		close(pfd[0]);
		pin(1);
		rc = dmk_ipc_backend_sim_create(LBA, NLBA, &be);
		if (rc)
			die("sim backend", rc);
		dmk_ipc_server_opts_init(&o);
		o.log_fd = -1;
		o.ring_entries = 64;
		o.ring_poll_us = poll_us;
		o.bounce_size = MAXIO;
		o.max_pinned = 1ull << 30;
		rc = dmk_ipc_server_create(path, be, &o, &srv);
		if (rc)
			die("server", rc);
		if (write(pfd[1], "r", 1) != 1)
			_exit(1);
		close(pfd[1]);
		dmk_ipc_server_run(srv);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &c, 1) != 1)
		die("the daemon did not start", -EIO);
	close(pfd[0]);
	return pid;
}

static void daemon_stop(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

struct remote {
	struct dmk_ipc_client *c;
	uint64_t h;
	size_t size;
	unsigned qd;
	int socket;
};

static void remote_loop(void *ctx, uint64_t n)
{
	struct remote *r = ctx;
	struct dmk_ipc_cqe ce[64];
	uint64_t sent = 0, done = 0;
	int rc;

	if (r->socket) {
		for (uint64_t i = 0; i < n; i++) {
			rc = dmk_ipc_client_read(r->c, r->h, 0, r->size, (i * 8) % (NLBA - MAXIO / LBA));
			if (rc)
				die("socket read", rc);
		}
		return;
	}
	if (r->qd == 1) {
		for (uint64_t i = 0; i < n; i++) {
			rc = dmk_ipc_client_ring_read(r->c, r->h, 0, r->size, (i * 8) % (NLBA - MAXIO / LBA));
			if (rc)
				die("ring read", rc);
		}
		return;
	}
	while (done < n) {
		while (sent < n && sent - done < r->qd) {
			rc = dmk_ipc_client_submit(r->c, DMK_IPC_READ, r->h, 0, r->size,
						   (sent * 8) % (NLBA - MAXIO / LBA), sent);
			if (rc)
				die("submit", rc);
			sent++;
		}
		rc = dmk_ipc_client_reap(r->c, ce, 64, sent < n ? r->qd / 2 : 1);
		if (rc < 0)
			die("reap", rc);
		for (int i = 0; i < rc; i++)
			if (ce[i].status)
				die("a ring read", ce[i].status);
		done += (uint64_t)rc;
	}
}

int main(int argc, char **argv)
{
	unsigned polls[] = { 0, 50 };
	char dir[] = "/tmp/ipc-bench-XXXXXX", path[64];
	struct inproc ip;
	struct dmk_region *reg;
	double base, ns;
	int rc;

	if (argc > 1 && strcmp(argv[1], "-q") == 0) {
		target_ns = 2e6;
	} else if (argc > 1 && strcmp(argv[1], "-r") == 0) {
		rings_only = 1;
		target_ns = 200e6;
	} else if (argc > 1) {
		fprintf(stderr, "usage: ipc_bench [-q | -r]\n");
		return 2;
	}
	if (getenv("IPC_BENCH_QD"))
		only_qd = (unsigned)atoi(getenv("IPC_BENCH_QD"));
	if (getenv("IPC_BENCH_POLL_US"))
		polls[1] = (unsigned)atoi(getenv("IPC_BENCH_POLL_US"));
	signal(SIGPIPE, SIG_IGN);
	pin(0);
	if (!mkdtemp(dir))
		die("mkdtemp", -errno);
	snprintf(path, sizeof(path), "%s/sock", dir);
	printf("# ipc_bench: sim backend, %u-byte blocks, %ld cpus online\n", LBA,
	       sysconf(_SC_NPROCESSORS_ONLN));

	/* in-process: the backend's read on a registered 4 KiB buffer */
	rc = dmk_ipc_backend_sim_create(LBA, NLBA, &ip.be);
	if (rc)
		die("sim backend", rc);
	if (posix_memalign(&ip.buf, 4096, MAXIO))
		die("posix_memalign", -ENOMEM);
	memset(ip.buf, 0, MAXIO);
	rc = dmk_region_register(ip.be->space, ip.buf, MAXIO, DMK_PROT_RW, &reg);
	if (rc)
		die("register", rc);
	ip.size = 4096;
	base = measure(inproc_loop, &ip);
	printf("case=ipc_inproc size=4096 ns_per_op=%.1f\n", base);
	fflush(stdout);

	for (size_t k = rings_only ? 1 : 0; k < sizeof(polls) / sizeof(polls[0]); k++) {
		const unsigned qds[] = { 1, 32 };
		struct remote r;
		unsigned route;
		void *buf;
		int fd;
		pid_t pid = daemon_start(path, polls[k]);

		memset(&r, 0, sizeof(r));
		rc = dmk_ipc_client_connect(path, NULL, &r.c);
		if (rc == 0)
			rc = dmk_ipc_client_rings(r.c, 64, NULL);
		if (rc == 0)
			rc = dmk_ipc_memfd_alloc(MAXIO, &buf, &fd);
		if (rc == 0)
			rc = dmk_ipc_client_register_memfd(r.c, fd, 0, MAXIO, DMK_PROT_RW, &r.h, &route);
		if (rc)
			die("client", rc);
		r.size = 4096;
		for (size_t q = 0; q < 2; q++) {
			r.qd = qds[q];
			if (only_qd && r.qd != only_qd)
				continue;
			ns = measure(remote_loop, &r);
			printf("case=ipc_ring size=4096 qd=%u poll_us=%u ns_per_op=%.1f\n", r.qd, polls[k], ns);
			printf("case=ipc_ratio size=4096 qd=%u poll_us=%u ratio=%.2f\n", r.qd, polls[k],
			       ns / base);
			fflush(stdout);
		}
		if (rings_only)
			goto done;
		r.qd = 1;
		r.socket = 1;
		ns = measure(remote_loop, &r);
		printf("case=ipc_socket size=4096 poll_us=%u ns_per_op=%.1f\n", polls[k], ns);
		fflush(stdout);
		r.socket = 0;
		if (polls[k]) {
			/* the routes: memfd (zero copy) against copy, 4 KiB to 4 MiB */
			uint64_t hc;
			void *heap;

			if (posix_memalign(&heap, 4096, MAXIO))
				die("posix_memalign", -ENOMEM);
			memset(heap, 0, MAXIO);
			rc = dmk_ipc_client_register_copy(r.c, heap, MAXIO, DMK_PROT_RW, &hc, &route);
			if (rc)
				die("register copy", rc);
			for (size_t size = 4096; size <= MAXIO; size *= 4) {
				uint64_t hm = r.h;
				double nm, nc;

				r.size = size;
				nm = measure(remote_loop, &r);
				r.h = hc;
				nc = measure(remote_loop, &r);
				r.h = hm;
				printf("case=ipc_memfd size=%zu poll_us=%u ns_per_op=%.1f\n", size, polls[k], nm);
				printf("case=ipc_copy size=%zu poll_us=%u ns_per_op=%.1f\n", size, polls[k], nc);
				printf("case=ipc_copy_ratio size=%zu ratio=%.2f\n", size, nc / nm);
				fflush(stdout);
			}
			free(heap);
		}
done:
		dmk_ipc_client_close(r.c);
		munmap(buf, MAXIO);
		close(fd);
		daemon_stop(pid);
	}
	dmk_region_unregister(reg);
	free(ip.buf);
	dmk_ipc_backend_destroy(ip.be);
	unlink(path);
	rmdir(dir);
	return 0;
}
