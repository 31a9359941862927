/* SPDX-License-Identifier: MIT */
/*
 * ipc_nvme_bench (guest, static): issue 4's figure on a real device. The
 * same NVMe reads and writes made in-process with the NVMe driver and made
 * from another process through the driver daemon (the dmakitd server and
 * the client library), side by side, and the zero-copy routes against the
 * copy route from 4 KiB to 4 MiB. QEMU's nvme through VFIO behind the
 * emulated VT-d IOMMU (testbed/run; `ninja testbed-bench`).
 *
 * One process owns the controller (dmk_nvme_open, three I/O queues):
 *
 *  in-process	the benchmark's own thread on queue 2, a posix_memalign
 *		buffer registered once: dmk_nvme_read_buf()/_write_buf() at
 *		queue depth 1, dmk_nvme_submit_buf()/dmk_nvme_reap() at 32.
 *  daemon	two servers (dmk_ipc_server on dmk_ipc_backend_nvme) on
 *		threads of the same process: one on queue 0 that polls its
 *		rings for 50 us after the last entry (ring_poll_us=50), one on
 *		queue 1 that sleeps on the doorbell at once (ring_poll_us=0,
 *		dmakitd's default).
 *  application	a forked child that uses only the client library: rings
 *		(dmk_ipc_client_ring_read/_write at depth 1,
 *		dmk_ipc_client_submit/_reap at 32), the socket
 *		(dmk_ipc_client_read), on buffers of the memfd, pool, lease
 *		(its own posix_memalign pages in the daemon's IOMMU window)
 *		and copy routes.
 *
 * The child was forked before anything was opened and holds none of the
 * controller's descriptors. TCG makes every figure noisy and the host's
 * other work makes it drift: the in-process and the cross-process cases
 * run in alternating rounds (all in-process cases, then all cross-process
 * cases, DMK_IPC_BENCH_ROUNDS times, default 5, each case for
 * DMK_IPC_BENCH_SECS seconds, default 0.2, after a warm-up round that is
 * not counted), and each figure is the median of its rounds.
 * DMK_IPC_BENCH_MSIX=1 opens the controller with MSI-X: every wait, the
 * in-process calls' and the daemon's, sleeps on the queue's eventfd
 * instead of polling the completion queue.
 * DMK_IPC_BENCH_INPROC_MEMFD=1 makes the in-process buffer a memfd mapping
 * (shared memory pages, as the memfd and pool routes use) instead of
 * posix_memalign's: a control for what the kind of memory costs the device
 * apart from the crossing.
 * DMK_IPC_BENCH_INPROC_SPIN=1 runs a thread that spins (sched_yield(), as
 * the daemon's loop and the application do while they wait) during the
 * in-process cases: a control for what a second busy vCPU costs the
 * in-process figure when QEMU's own device emulation shares the host's
 * cores with the guest's vCPUs.
 *
 * Output, one line per case (medians over the rounds; min and max too):
 *
 *	case=ipc_nvme_inproc op=read size=4096 qd=1 ns_per_op=... ops_per_s=...
 *	case=ipc_nvme_ring route=memfd poll_us=50 op=read size=4096 qd=1
 *	    ns_per_op=... ops_per_s=... ratio=... paired=...
 *	case=ipc_nvme_socket route=memfd poll_us=50 op=read size=4096 qd=1 ...
 *	case=ipc_nvme_copy_ratio route=memfd size=... ratio=...
 *
 * ratio is the cross-process median over the in-process median of the same
 * op, size and depth (the target: within 1.3 at 4 KiB); paired is
 * the median over the rounds of each round's own ratio (less moved by
 * drift). ipc_nvme_copy_ratio is the copy route over a zero-copy route at
 * one size (reads, depth 1, rings). Random block-aligned offsets over the
 * first 32 MiB of the namespace, written first. The NVMe driver polls its
 * completion queues.
 *
 * Until the daemon's NVMe backend is asynchronous, it executes ring entries
 * one at a time: depth 32 through the daemon is then serialised and its
 * ratio says so. The benchmark is the same either way (completions are
 * matched by tag, in any order).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
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

#include "../bench_util.h"

#define SPAN (32u << 20)	/* bytes of the namespace the I/O covers */
#define MAXIO (4u << 20)
#define BUFLEN (8u << 20)	/* every buffer: MAXIO, or QD 4 KiB slots */
#define QD 32
#define MAXROUNDS 31
#define NSRV 2

static const char *const sock_path[NSRV] = { "/tmp/ipc-nvme-bench-p50.sock",
					     "/tmp/ipc-nvme-bench-p0.sock" };
static const unsigned srv_poll_us[NSRV] = { 50, 0 };

static double secs = 0.2;
static unsigned rounds = 5;
static uint32_t lba_size;

#define FAILF(...)                                                                     \
	do {                                                                           \
		printf("FAIL ipc_nvme_bench: " __VA_ARGS__);                           \
		printf(" (%s)\n", dmk_last_error());                                   \
		fflush(stdout);                                                        \
		_exit(1);                                                              \
	} while (0)

#define TRY(call)                                                                      \
	do {                                                                           \
		int rc_ = (call);                                                      \
		if (rc_)                                                               \
			FAILF("%s -> %d", #call, rc_);                                 \
	} while (0)

/* A pseudo-random block-aligned offset of @bs inside SPAN. */
static uint64_t rnd_off(uint64_t *seed, size_t bs)
{
	*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
	return ((*seed >> 33) % (SPAN / bs)) * bs;
}

/* Operations between two looks at the clock: a clock read may be a trap
 * into QEMU under TCG; a few per second of large transfers do not matter. */
static unsigned batch_of(size_t bs)
{
	return bs <= 65536 ? 8 : 1;
}

/* ---- the cases --------------------------------------------------------- */

enum route { R_MEMFD, R_POOL, R_LEASE, R_COPY, NROUTES };
static const char *const route_name[NROUTES] = { "memfd", "pool", "lease", "copy" };

struct icase {
	int write;
	size_t bs;
	unsigned qd;
	double t[MAXROUNDS];	/* ns per op, a round each */
};

struct xcase {
	int socket;		/* 0: rings */
	int srv;		/* index into sock_path */
	enum route route;
	int write;
	size_t bs;
	unsigned qd;
	int base;		/* the in-process case of the same op, bs, qd; -1 */
	double t[MAXROUNDS];
};

static struct icase icases[] = {
	{ 0, 4096, 1, { 0 } },
	{ 1, 4096, 1, { 0 } },
	{ 0, 4096, QD, { 0 } },
	{ 1, 4096, QD, { 0 } },
	{ 0, 65536, 1, { 0 } },
	{ 0, 1u << 20, 1, { 0 } },
	{ 0, 4u << 20, 1, { 0 } },
};
#define NICASES (sizeof(icases) / sizeof(icases[0]))

#define NXMAX 64
static struct xcase xcases[NXMAX];
static size_t nxcases;

static int find_icase(int write, size_t bs, unsigned qd)
{
	for (size_t i = 0; i < NICASES; i++)
		if (icases[i].write == write && icases[i].bs == bs && icases[i].qd == qd)
			return (int)i;
	return -1;
}

static void add_x(int socket, int srv, enum route route, int write, size_t bs, unsigned qd)
{
	struct xcase *x = &xcases[nxcases++];

	x->socket = socket;
	x->srv = srv;
	x->route = route;
	x->write = write;
	x->bs = bs;
	x->qd = qd;
	x->base = find_icase(write, bs, qd);
}

static void build_cases(void)
{
	static const size_t sizes[] = { 65536, 1u << 20, MAXIO };

	/* 4 KiB: every zero-copy route, both ways, depth 1 and 32, and the
	 * socket; the daemon polling its rings for 50 us. */
	for (int r = R_MEMFD; r <= R_LEASE; r++) {
		add_x(0, 0, r, 0, 4096, 1);
		add_x(0, 0, r, 1, 4096, 1);
		add_x(0, 0, r, 0, 4096, QD);
		add_x(0, 0, r, 1, 4096, QD);
		add_x(1, 0, r, 0, 4096, 1);
	}
	/* The same on the memfd route with the daemon asleep between requests. */
	add_x(0, 1, R_MEMFD, 0, 4096, 1);
	add_x(0, 1, R_MEMFD, 1, 4096, 1);
	add_x(0, 1, R_MEMFD, 0, 4096, QD);
	add_x(0, 1, R_MEMFD, 1, 4096, QD);
	add_x(1, 1, R_MEMFD, 0, 4096, 1);
	/* Zero copy against copy, reads at depth 1 on the rings, 4 KiB to 4 MiB. */
	add_x(0, 0, R_COPY, 0, 4096, 1);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (int r = R_MEMFD; r <= R_COPY; r++)
			add_x(0, 0, r, 0, sizes[i], 1);
}

/* ---- in-process -------------------------------------------------------- */

struct inproc {
	struct dmk_nvme *ctrl;
	unsigned queue;
	uint8_t *buf;
};

static double inproc_run(struct inproc *p, const struct icase *ic, uint64_t *seed)
{
	enum dmk_nvme_op op = ic->write ? DMK_NVME_OP_WRITE : DMK_NVME_OP_READ;
	unsigned batch = batch_of(ic->bs), inflight = 0;
	double t0 = bench_now_ns(), t;
	uint64_t n = 0;

	if (ic->qd == 1) {
		for (;;) {
			for (unsigned i = 0; i < batch; i++, n++) {
				uint64_t lba = rnd_off(seed, ic->bs) / lba_size;

				if (ic->write)
					TRY(dmk_nvme_write_buf(p->ctrl, p->queue, lba, p->buf, ic->bs, 0));
				else
					TRY(dmk_nvme_read_buf(p->ctrl, p->queue, lba, p->buf, ic->bs, 0));
			}
			t = bench_now_ns() - t0;
			if (t >= secs * 1e9)
				return t / (double)n;
		}
	}
	for (unsigned i = 0; i < ic->qd; i++, inflight++)
		TRY(dmk_nvme_submit_buf(p->ctrl, p->queue, op, rnd_off(seed, ic->bs) / lba_size,
					p->buf + (size_t)i * ic->bs, ic->bs, 0, i));
	while (inflight) {
		struct dmk_nvme_done d[QD];
		unsigned got = 0;
		bool more;

		TRY(dmk_nvme_reap(p->ctrl, p->queue, d, QD, 1, &got));
		more = bench_now_ns() - t0 < secs * 1e9;
		for (unsigned i = 0; i < got; i++) {
			if (d[i].err)
				FAILF("in-process %s -> %d", ic->write ? "write" : "read", d[i].err);
			n++;
			if (more)
				TRY(dmk_nvme_submit_buf(p->ctrl, p->queue, op,
							rnd_off(seed, ic->bs) / lba_size,
							p->buf + d[i].tag * ic->bs, ic->bs, 0, d[i].tag));
			else
				inflight--;
		}
	}
	return (bench_now_ns() - t0) / (double)n;
}

/* ---- the application (the forked child) -------------------------------- */

struct conn {
	struct dmk_ipc_client *c;
	unsigned entries;
	uint64_t h[NROUTES];
	uint8_t *buf[NROUTES];
	int have[NROUTES];
	struct dmk_ipc_lease *lease;
};

static struct conn conns[NSRV];

static void app_connect(int s)
{
	struct conn *k = &conns[s];
	struct dmk_ipc_hello lim;
	unsigned route;
	int fd;

	TRY(dmk_ipc_client_connect(sock_path[s], NULL, &k->c));
	TRY(dmk_ipc_client_limits(k->c, &lim));
	lba_size = lim.lba_size;	/* forked before the parent knew it */
	TRY(dmk_ipc_client_rings(k->c, 64, &k->entries));
	if (k->entries < QD)
		FAILF("the daemon granted %u ring entries, %u wanted", k->entries, QD);
	TRY(dmk_ipc_memfd_alloc(BUFLEN, (void **)&k->buf[R_MEMFD], &fd));
	TRY(dmk_ipc_client_register_memfd(k->c, fd, 0, BUFLEN, DMK_PROT_RW, &k->h[R_MEMFD], &route));
	close(fd);
	k->have[R_MEMFD] = 1;
	if (s != 0)
		return;	/* the doorbell server: the memfd route alone */
	TRY(dmk_ipc_client_alloc_pool(k->c, BUFLEN, DMK_PROT_RW, (void **)&k->buf[R_POOL],
				      &k->h[R_POOL], &route));
	k->have[R_POOL] = 1;
	TRY(dmk_ipc_client_lease(k->c, 2 * BUFLEN, &k->lease));
	if (posix_memalign((void **)&k->buf[R_LEASE], 4096, BUFLEN) ||
	    posix_memalign((void **)&k->buf[R_COPY], 4096, BUFLEN))
		FAILF("posix_memalign");
	memset(k->buf[R_LEASE], 0x5a, BUFLEN);
	memset(k->buf[R_COPY], 0x5a, BUFLEN);
	TRY(dmk_ipc_lease_register(k->lease, k->buf[R_LEASE], BUFLEN, DMK_PROT_RW, &k->h[R_LEASE],
				   &route));
	if (route != DMK_IPC_ROUTE_LEASE)
		FAILF("lease registration granted route %u", route);
	k->have[R_LEASE] = 1;
	TRY(dmk_ipc_client_register_copy(k->c, k->buf[R_COPY], BUFLEN, DMK_PROT_RW, &k->h[R_COPY],
					 &route));
	k->have[R_COPY] = 1;
}

static double remote_run(const struct xcase *x, uint64_t *seed)
{
	struct conn *k = &conns[x->srv];
	struct dmk_ipc_client *c = k->c;
	uint64_t h = k->h[x->route], n = 0;
	unsigned batch = batch_of(x->bs), inflight = 0;
	unsigned op = x->write ? DMK_IPC_WRITE : DMK_IPC_READ;
	double t0 = bench_now_ns(), t;

	if (x->qd == 1) {
		for (;;) {
			for (unsigned i = 0; i < batch; i++, n++) {
				uint64_t lba = rnd_off(seed, x->bs) / lba_size;

				if (x->socket)
					TRY(x->write ? dmk_ipc_client_write(c, h, 0, x->bs, lba)
						     : dmk_ipc_client_read(c, h, 0, x->bs, lba));
				else
					TRY(x->write ? dmk_ipc_client_ring_write(c, h, 0, x->bs, lba)
						     : dmk_ipc_client_ring_read(c, h, 0, x->bs, lba));
			}
			t = bench_now_ns() - t0;
			if (t >= secs * 1e9)
				return t / (double)n;
		}
	}
	for (unsigned i = 0; i < x->qd; i++, inflight++)
		TRY(dmk_ipc_client_submit(c, op, h, (uint64_t)i * x->bs, x->bs,
					  rnd_off(seed, x->bs) / lba_size, i));
	while (inflight) {
		struct dmk_ipc_cqe ce[QD];
		int got = dmk_ipc_client_reap(c, ce, QD, 1);
		bool more;

		if (got < 0)
			FAILF("reap -> %d", got);
		more = bench_now_ns() - t0 < secs * 1e9;
		for (int i = 0; i < got; i++) {
			if (ce[i].status)
				FAILF("a ring %s (tag %" PRIu64 ") -> %d", x->write ? "write" : "read",
				      (uint64_t)ce[i].tag, ce[i].status);
			n++;
			if (more)
				TRY(dmk_ipc_client_submit(c, op, h, ce[i].tag * x->bs, x->bs,
							  rnd_off(seed, x->bs) / lba_size, ce[i].tag));
			else
				inflight--;
		}
	}
	return (bench_now_ns() - t0) / (double)n;
}

/* The child: waits for a command byte on @cmd ('c' connect, 'w' warm-up
 * round, 'r' a timed round, 'q' quit) and answers on @res (a byte, or a
 * round's figures). */
static int app_main(int cmd, int res)
{
	uint64_t seed = 7;
	char b;

	for (;;) {
		if (read(cmd, &b, 1) != 1)
			return 1;
		if (b == 'q')
			break;
		if (b == 'c') {
			for (int s = 0; s < NSRV; s++)
				app_connect(s);
			if (write(res, "k", 1) != 1)
				return 1;
			continue;
		}
		if (b == 'w' || b == 'r') {
			double t[NXMAX], keep = secs;

			if (b == 'w')
				secs /= 8;
			for (size_t i = 0; i < nxcases; i++)
				t[i] = remote_run(&xcases[i], &seed);
			secs = keep;
			if (write(res, t, nxcases * sizeof(t[0])) != (ssize_t)(nxcases * sizeof(t[0])))
				return 1;
		}
	}
	for (int s = 0; s < NSRV; s++) {
		if (conns[s].lease)
			dmk_ipc_lease_close(conns[s].lease);
		dmk_ipc_client_close(conns[s].c);
	}
	return 0;
}

/* ---- the daemon's servers ---------------------------------------------- */

static struct dmk_ipc_server *srvs[NSRV];

/* DMK_IPC_BENCH_INPROC_SPIN: a busy thread while @spin_on, until @spin_stop. */
static int spin_on, spin_stop;

static void *spinner(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&spin_stop, __ATOMIC_RELAXED)) {
		if (__atomic_load_n(&spin_on, __ATOMIC_RELAXED))
			sched_yield();
		else
			usleep(1000);
	}
	return NULL;
}

static void *serve(void *arg)
{
	return (void *)(intptr_t)dmk_ipc_server_run(arg);
}

/* ---- the report -------------------------------------------------------- */

struct stat3 {
	double med, min, max;
};

static struct stat3 stat_of(const double *t, unsigned n)
{
	double s[MAXROUNDS];
	struct stat3 r;

	memcpy(s, t, n * sizeof(s[0]));
	r.med = bench_median(s, n);
	r.min = s[0];
	r.max = s[n - 1];
	return r;
}

static void report(void)
{
	for (size_t i = 0; i < NICASES; i++) {
		const struct icase *ic = &icases[i];
		struct stat3 s = stat_of(ic->t, rounds);

		printf("case=ipc_nvme_inproc op=%s size=%zu qd=%u ns_per_op=%.0f ops_per_s=%.0f "
		       "mib_per_s=%.1f min=%.0f max=%.0f\n",
		       ic->write ? "write" : "read", ic->bs, ic->qd, s.med, 1e9 / s.med,
		       (double)ic->bs / (1 << 20) * 1e9 / s.med, s.min, s.max);
	}
	for (size_t i = 0; i < nxcases; i++) {
		const struct xcase *x = &xcases[i];
		struct stat3 s = stat_of(x->t, rounds);

		printf("case=ipc_nvme_%s route=%s poll_us=%u op=%s size=%zu qd=%u ns_per_op=%.0f "
		       "ops_per_s=%.0f mib_per_s=%.1f min=%.0f max=%.0f",
		       x->socket ? "socket" : "ring", route_name[x->route], srv_poll_us[x->srv],
		       x->write ? "write" : "read", x->bs, x->qd, s.med, 1e9 / s.med,
		       (double)x->bs / (1 << 20) * 1e9 / s.med, s.min, s.max);
		if (x->base >= 0) {
			const struct icase *ic = &icases[x->base];
			struct stat3 b = stat_of(ic->t, rounds);
			double pr[MAXROUNDS];

			for (unsigned r = 0; r < rounds; r++)
				pr[r] = x->t[r] / ic->t[r];
			printf(" ratio=%.2f paired=%.2f", s.med / b.med, bench_median(pr, rounds));
		}
		printf("\n");
	}
	/* The copy route against each zero-copy route, reads at depth 1. */
	for (size_t i = 0; i < nxcases; i++) {
		const struct xcase *cp = &xcases[i];

		if (cp->route != R_COPY)
			continue;
		for (size_t j = 0; j < nxcases; j++) {
			const struct xcase *z = &xcases[j];

			if (z->route == R_COPY || z->srv != cp->srv || z->socket || z->write ||
			    z->qd != 1 || z->bs != cp->bs)
				continue;
			printf("case=ipc_nvme_copy_ratio route=%s size=%zu ratio=%.2f\n",
			       route_name[z->route], z->bs,
			       stat_of(cp->t, rounds).med / stat_of(z->t, rounds).med);
		}
	}
}

int main(void)
{
	const char *bdf = getenv("DMK_NVME_BDF"), *e;
	struct dmk_ipc_backend *be[NSRV];
	struct dmk_nvme_opts o;
	struct dmk_nvme_info in;
	struct dmk_space *sp;
	struct dmk_pci *pci;
	struct dmk_region *reg;
	struct inproc ip;
	pthread_t th[NSRV];
	bool inproc_memfd = getenv("DMK_IPC_BENCH_INPROC_MEMFD") != NULL;
	bool inproc_spin = getenv("DMK_IPC_BENCH_INPROC_SPIN") != NULL;
	pthread_t spin_th;
	int cmd[2], res[2], st, mfd = -1;
	uint64_t seed = 1;
	char b;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (!bdf) {
		printf("FAIL ipc_nvme_bench: DMK_NVME_BDF is not set\n");
		return 2;
	}
	if ((e = getenv("DMK_IPC_BENCH_SECS")) && atof(e) > 0)
		secs = atof(e);
	if ((e = getenv("DMK_IPC_BENCH_ROUNDS")) && atoi(e) > 0)
		rounds = (unsigned)atoi(e) < MAXROUNDS ? (unsigned)atoi(e) : MAXROUNDS;
	build_cases();

	/* The application first, before any descriptor of the controller. */
	if (pipe(cmd) || pipe(res))
		FAILF("pipe");
	pid = fork();
	if (pid < 0)
		FAILF("fork");
	if (pid == 0) {
		close(cmd[1]);
		close(res[0]);
		_exit(app_main(cmd[0], res[1]));
	}
	close(cmd[0]);
	close(res[1]);

	TRY(dmk_space_vfio_create(&sp));
	TRY(dmk_pci_open(sp, bdf, &pci));
	dmk_nvme_opts_init(&o);
	o.io_queues = 3;
	o.queue_depth = 64;
	/* Polled queues by default: the in-process calls poll, and so does
	 * the daemon while its requests are on the device. */
	o.use_msix = getenv("DMK_IPC_BENCH_MSIX") ? 1 : 0;
	TRY(dmk_nvme_open(sp, pci, &o, &ip.ctrl));
	dmk_nvme_info(ip.ctrl, &in);
	if (in.io_queues < 3)
		FAILF("%u I/O queues, 3 wanted", in.io_queues);
	lba_size = in.lba_size;
	ip.queue = 2;
	if (inproc_memfd) {
		/* A control: the in-process buffer of the kind the memfd route
		 * uses (shared memory pages), not posix_memalign's. */
		TRY(dmk_ipc_memfd_alloc(BUFLEN, (void **)&ip.buf, &mfd));
		printf("# in-process buffer: a memfd mapping (DMK_IPC_BENCH_INPROC_MEMFD)\n");
	} else if (posix_memalign((void **)&ip.buf, 4096, BUFLEN))
		FAILF("posix_memalign");
	memset(ip.buf, 0xa5, BUFLEN);
	TRY(dmk_region_register(sp, ip.buf, BUFLEN, DMK_PROT_RW, &reg));
	for (size_t off = 0; off < SPAN; off += BUFLEN)
		TRY(dmk_nvme_write_buf(ip.ctrl, ip.queue, off / lba_size, ip.buf, BUFLEN, 0));

	for (int s = 0; s < NSRV; s++) {
		struct dmk_ipc_server_opts so;

		TRY(dmk_ipc_backend_nvme_create(sp, ip.ctrl, (unsigned)s, &be[s]));
		dmk_ipc_server_opts_init(&so);
		so.log_fd = -1;
		so.ring_entries = 64;
		so.ring_poll_us = srv_poll_us[s];
		so.bounce_size = MAXIO;
		so.max_pinned = 1ull << 30;
		TRY(dmk_ipc_server_create(sock_path[s], be[s], &so, &srvs[s]));
		if (pthread_create(&th[s], NULL, serve, srvs[s]))
			FAILF("pthread_create");
	}
	printf("# ipc_nvme_bench: %s, %ld cpus online, NVMe %u-byte blocks, mdts %" PRIu64
	       ", %u I/O queues of %u, %s; %.2f s a case, %u rounds (medians), random offsets over %u MiB\n",
	       bdf, sysconf(_SC_NPROCESSORS_ONLN), in.lba_size, in.mdts, in.io_queues, in.queue_depth,
	       in.msix ? "MSI-X" : "polled",
	       secs, rounds, SPAN >> 20);
	if (write(cmd[1], "c", 1) != 1 || read(res[0], &b, 1) != 1)
		FAILF("the application did not connect");
	if (inproc_spin) {
		if (pthread_create(&spin_th, NULL, spinner, NULL))
			FAILF("pthread_create");
		printf("# a thread spins during the in-process cases (DMK_IPC_BENCH_INPROC_SPIN)\n");
	}

	for (unsigned r = 0; r <= rounds; r++) {
		double t[NXMAX], keep = secs;
		size_t want = nxcases * sizeof(t[0]), got = 0;
		bool warm = r == 0;

		if (warm)
			secs /= 8;
		__atomic_store_n(&spin_on, 1, __ATOMIC_RELAXED);
		for (size_t i = 0; i < NICASES; i++) {
			double ns = inproc_run(&ip, &icases[i], &seed);

			if (!warm)
				icases[i].t[r - 1] = ns;
		}
		__atomic_store_n(&spin_on, 0, __ATOMIC_RELAXED);
		secs = keep;
		if (write(cmd[1], warm ? "w" : "r", 1) != 1)
			FAILF("the application is gone");
		while (got < want) {
			ssize_t k = read(res[0], (char *)t + got, want - got);

			if (k <= 0) {
				waitpid(pid, &st, 0);
				FAILF("the application is gone (round %u, wait status %#x)", r, st);
			}
			got += (size_t)k;
		}
		if (!warm)
			for (size_t i = 0; i < nxcases; i++)
				xcases[i].t[r - 1] = t[i];
		printf("# round %u of %u done%s\n", r, rounds, warm ? " (warm-up)" : "");
	}
	if (write(cmd[1], "q", 1) != 1 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st))
		FAILF("the application ended badly");
	report();
	if (inproc_spin) {
		__atomic_store_n(&spin_stop, 1, __ATOMIC_RELAXED);
		pthread_join(spin_th, NULL);
	}

	for (int s = 0; s < NSRV; s++) {
		dmk_ipc_server_stop(srvs[s]);
		pthread_join(th[s], NULL);
		dmk_ipc_server_destroy(srvs[s]);
		dmk_ipc_backend_destroy(be[s]);
	}
	TRY(dmk_region_unregister(reg));
	TRY(dmk_nvme_close(ip.ctrl));
	TRY(dmk_pci_close(pci));
	TRY(dmk_space_destroy(sp));
	if (inproc_memfd) {
		munmap(ip.buf, BUFLEN);
		close(mfd);
	} else {
		free(ip.buf);
	}
	printf("PASS ipc_nvme_bench\n");
	return 0;
}
