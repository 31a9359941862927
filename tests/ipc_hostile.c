/* SPDX-License-Identifier: MIT */
/*
 * Hostile clients against the real daemon: `ipc_hostile DMAKITD SECONDS`
 * starts `DMAKITD --sim`, then for SECONDS runs one attacker process of
 * each kind below, while a well-behaved client writes and reads back 64 KiB
 * in a loop. It fails (exit 1, saying why) when the daemon dies, when one
 * of the good client's cycles fails or moves wrong bytes, when a cycle
 * takes longer than the bound (LATENCY_MS: the daemon promises that no
 * client delays another's answer by more than a bounded time), or when the
 * daemon holds more descriptors after the attackers are gone than before.
 *
 * The attacks: garbage datagrams; well-formed messages with bytes flipped;
 * forged handles and lengths that wrap at 2^64; odd descriptors (pipes,
 * sockets, directories, eventfds, unsealed, empty and growing memfds,
 * several at once); a file truncated and sealed while it is registered,
 * then read into; clients that never read their answers; connections that
 * never say HELLO; ring indices that jump and ring entries of garbage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/ipc.h>
#include <dmakit/ipc_client.h>
#include <dmakit/region.h>

#define LATENCY_MS 250	/* the good client's cycle, write + read, at most */
#define GOOD_LEN (64u << 10)
#define IDLE_MAX 80

static char sock_path[108];
static double deadline;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* A raw connection that never blocks long: -1 when refused. */
static int raw_connect(void)
{
	struct timeval tv = { 0, 200000 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void send_msg(int fd, struct dmk_ipc_msg *m, const int *fds, unsigned nfds)
{
	dmk_ipc_send_fds(fd, m, fds, nfds);	/* refusals are the point */
}

/* Drain whatever answers came, closing descriptors sent with them. */
static void drain(int fd)
{
	struct dmk_ipc_msg m;
	int fds[4];
	unsigned n;

	while (dmk_ipc_recv_fds(fd, &m, fds, 4, &n) == 0)
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
}

static int raw_hello(void)
{
	struct dmk_ipc_msg m = { .type = DMK_IPC_HELLO, .seq = 1 };
	int fd = raw_connect();

	if (fd < 0)
		return -1;
	m.hello.version = DMK_IPC_VERSION;
	send_msg(fd, &m, NULL, 0);
	if (dmk_ipc_recv(fd, &m, NULL) != 0 || m.type != DMK_IPC_HELLO) {
		close(fd);
		return -1;
	}
	return fd;
}

static int sealed_memfd(size_t len)
{
	int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd >= 0 && (ftruncate(fd, (off_t)len) || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void reg_msg(struct dmk_ipc_msg *m, uint64_t seq, unsigned route, uint64_t off,
		    uint64_t len, uint64_t addr)
{
	memset(m, 0, sizeof(*m));
	m->type = DMK_IPC_REGISTER;
	m->seq = seq;
	m->reg.route = route;
	m->reg.prot = DMK_PROT_RW;
	m->reg.offset = off;
	m->reg.length = len;
	m->reg.addr = addr;
}

/* Random bytes, of random lengths (0 and too long among them). */
static void attack_garbage(uint64_t *s)
{
	uint8_t buf[DMK_IPC_MSG_MAX + 64];
	int fd = (rnd(s) & 1) ? raw_hello() : raw_connect();

	if (fd < 0)
		return;
	for (int i = 0; i < 8; i++) {
		size_t n = rnd(s) % sizeof(buf);

		for (size_t j = 0; j < n; j++)
			buf[j] = (uint8_t)rnd(s);
		if (n >= 4 && (rnd(s) & 1))
			memcpy(buf, &(uint32_t){ DMK_IPC_MAGIC }, 4);
		send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	drain(fd);
	close(fd);
}

/* Well-formed messages of every type with a few bytes flipped. */
static void attack_flipped(uint64_t *s)
{
	uint8_t buf[DMK_IPC_MSG_MAX];
	struct dmk_ipc_msg m;
	size_t len;
	int fd = raw_hello();

	if (fd < 0)
		return;
	for (int i = 0; i < 16; i++) {
		memset(&m, 0, sizeof(m));
		m.type = (uint32_t)(rnd(s) % 12);
		m.seq = rnd(s);
		m.io.handle = rnd(s) % 4;
		m.io.length = 512u << (rnd(s) % 8);
		if (dmk_ipc_encode(&m, buf, sizeof(buf), &len))
			continue;
		for (int k = (int)(rnd(s) % 3); k >= 0; k--)
			buf[rnd(s) % len] ^= (uint8_t)(1u << (rnd(s) % 8));
		send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	drain(fd);
	close(fd);
}

/* Handles never given, offsets and lengths that wrap at 2^64. */
static void attack_forged(uint64_t *s)
{
	static const uint64_t edge[] = { 0, 1, 511, 512, UINT64_MAX, UINT64_MAX - 511,
					 UINT64_MAX - 4095, 1ull << 63, (1ull << 63) - 512 };
	struct dmk_ipc_msg m;
	int fd = raw_hello();

	if (fd < 0)
		return;
	for (int i = 0; i < 32; i++) {
		memset(&m, 0, sizeof(m));
		m.seq = (uint64_t)i + 2;
		switch (rnd(s) % 3) {
		case 0:
			m.type = (rnd(s) & 1) ? DMK_IPC_READ : DMK_IPC_WRITE;
			m.io.handle = (rnd(s) & 1) ? rnd(s) : rnd(s) % 8;
			m.io.offset = edge[rnd(s) % 9];
			m.io.length = edge[rnd(s) % 9];
			m.io.lba = edge[rnd(s) % 9];
			break;
		case 1:
			reg_msg(&m, m.seq, DMK_IPC_ROUTE_COPY, 0, edge[rnd(s) % 9], edge[rnd(s) % 9]);
			break;
		default:
			m.type = DMK_IPC_UNREGISTER;
			m.unreg.handle = rnd(s);
			break;
		}
		send_msg(fd, &m, NULL, 0);
	}
	drain(fd);
	close(fd);
}

/* REGISTERs by memfd with descriptors that are not sealed memfds. */
static void attack_descriptors(uint64_t *s)
{
	struct dmk_ipc_msg m;
	int fds[4] = { -1, -1, -1, -1 }, p[2], sp[2], fd = raw_hello();
	unsigned n = 1;

	if (fd < 0)
		return;
	switch (rnd(s) % 8) {
	case 0:
		if (pipe2(p, O_CLOEXEC) == 0) {
			fds[0] = p[0];
			close(p[1]);
		}
		break;
	case 1:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0) {
			fds[0] = sp[0];
			close(sp[1]);
		}
		break;
	case 2:
		fds[0] = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		break;
	case 3:
		fds[0] = eventfd(0, EFD_CLOEXEC);
		break;
	case 4:
		fds[0] = memfd_create("unsealed", MFD_CLOEXEC);
		if (fds[0] >= 0 && ftruncate(fds[0], 65536))
			break;
		break;
	case 5:
		fds[0] = sealed_memfd(0);	/* empty */
		break;
	case 6:
		fds[0] = memfd_create("grows", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fds[0] >= 0)
			fcntl(fds[0], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL);	/* may grow */
		break;
	default:
		for (n = 0; n < 4; n++)
			fds[n] = sealed_memfd(65536);
		break;
	}
	reg_msg(&m, 2, DMK_IPC_ROUTE_MEMFD, (rnd(s) & 1) ? 0 : 4096, 4096u << (rnd(s) % 6), 0);
	if (fds[0] >= 0) {
		send_msg(fd, &m, fds, n);
		m.type = DMK_IPC_READ;
		m.seq = 3;
		memset(&m.io, 0, sizeof(m.io));
		m.io.handle = 1 + rnd(s) % 64;
		m.io.length = 4096;
		send_msg(fd, &m, NULL, 0);
	}
	for (unsigned i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	drain(fd);
	close(fd);
}

/* A file truncated to nothing and sealed while its REGISTER is on the way,
 * then read into (the daemon would fault on pages the file no longer has). */
static void attack_truncate(uint64_t *s)
{
	struct dmk_ipc_msg m;
	int fd = raw_hello(), mfd = memfd_create("shrinks", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || mfd < 0 || ftruncate(mfd, 1 << 20))
		goto out;
	reg_msg(&m, 2, DMK_IPC_ROUTE_MEMFD, 0, 1 << 20, 0);
	send_msg(fd, &m, &mfd, 1);
	if (rnd(s) & 1)
		usleep((useconds_t)(rnd(s) % 50));
	if (ftruncate(mfd, 0) == 0)
		fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	if (dmk_ipc_recv(fd, &m, NULL) == 0 && m.type == DMK_IPC_COMPLETION) {
		uint64_t h = m.comp.handle;

		memset(&m, 0, sizeof(m));
		m.type = DMK_IPC_READ;
		m.seq = 3;
		m.io.handle = h;
		m.io.length = 1 << 20;
		send_msg(fd, &m, NULL, 0);
		drain(fd);
	}
out:
	if (mfd >= 0)
		close(mfd);
	if (fd >= 0)
		close(fd);
}

/* Requests sent as fast as the socket takes them, answers never read. */
static void attack_deaf(uint64_t *s)
{
	struct dmk_ipc_msg m;
	int fd = raw_hello(), mfd = sealed_memfd(1 << 20);
	double until = now_s() + 2;

	(void)s;
	if (fd < 0 || mfd < 0)
		goto out;
	reg_msg(&m, 2, DMK_IPC_ROUTE_MEMFD, 0, 1 << 20, 0);
	send_msg(fd, &m, &mfd, 1);
	for (uint64_t seq = 3; now_s() < until && now_s() < deadline; seq++) {
		memset(&m, 0, sizeof(m));
		m.type = DMK_IPC_READ;
		m.seq = seq;
		m.io.handle = 1 + seq % 8;
		m.io.length = 1 << 20;
		int rc = dmk_ipc_send(fd, &m, -1);

		if (rc == -ECONNRESET || rc == -EPIPE)
			break;
	}
out:
	if (mfd >= 0)
		close(mfd);
	if (fd >= 0)
		close(fd);
}

/* Connections that never say HELLO, as many as the daemon takes. */
static void attack_idle(uint64_t *s)
{
	int fds[IDLE_MAX];
	int n = 0;

	(void)s;
	while (n < IDLE_MAX && now_s() < deadline) {
		int fd = raw_connect();

		if (fd < 0)
			break;
		fds[n++] = fd;
	}
	usleep(3000000);
	while (n)
		close(fds[--n]);
}

/* Rings whose indices jump and whose entries are garbage. */
static void attack_rings(uint64_t *s)
{
	struct dmk_ipc_msg m = { .type = DMK_IPC_RINGS, .seq = 2 };
	int fds[3] = { -1, -1, -1 }, fd = raw_hello();
	struct dmk_ipc_ring_hdr *hdr;
	unsigned n = 0;
	uint64_t one = 1;
	uint8_t *map;

	if (fd < 0)
		return;
	m.rings.entries = 8;
	send_msg(fd, &m, NULL, 0);
	if (dmk_ipc_recv_fds(fd, &m, fds, 3, &n) || n != 3 || m.type != DMK_IPC_RINGS)
		goto out;
	map = mmap(NULL, (size_t)m.rings.size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (map == MAP_FAILED)
		goto out;
	hdr = (struct dmk_ipc_ring_hdr *)map;
	for (int i = 0; i < 64; i++) {
		uint8_t *sq = map + DMK_IPC_RING_SQ_OFF;

		for (size_t j = 0; j < 8 * sizeof(struct dmk_ipc_sqe); j++)
			sq[j] = (uint8_t)rnd(s);
		__atomic_store_n(&hdr->sq_tail,
				 (uint32_t)((rnd(s) & 3) ? hdr->sq_head + rnd(s) % 9 : rnd(s)),
				 __ATOMIC_RELEASE);
		__atomic_store_n(&hdr->cq_head, (uint32_t)rnd(s), __ATOMIC_RELEASE);
		if (write(fds[1], &one, sizeof(one)) != sizeof(one))
			break;
		usleep(200);
	}
	munmap(map, (size_t)m.rings.size);
out:
	for (unsigned i = 0; i < n && i < 3; i++)
		close(fds[i]);
	close(fd);
}

static void (*const attacks[])(uint64_t *) = {
	attack_garbage, attack_flipped, attack_forged, attack_descriptors,
	attack_truncate, attack_deaf, attack_idle, attack_rings,
};
#define NATTACKS (sizeof(attacks) / sizeof(attacks[0]))

static pid_t attacker(unsigned kind)
{
	pid_t p = fork();
	uint64_t s = 0x9e3779b97f4a7c15ull * (kind + 1) ^ (uint64_t)getpid();

	if (p)
		return p;
	while (now_s() < deadline)
		attacks[kind](&s);
	_exit(0);
}

static int daemon_fds(pid_t d)
{
	char path[64];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)d);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One connection of the good client: up to 200 cycles of writing a pattern,
 * reading it back and comparing, each timed into @lat. A reason on the
 * first failure, or NULL. */
static const char *good_connection(double *lat, size_t cap, size_t *n, unsigned *round,
				   char *why, size_t wl)
{
	const char *fail = NULL;
	struct dmk_ipc_client *c;
	uint8_t *buf = NULL;
	unsigned route;
	int mfd = -1;
	uint64_t h;

	if (dmk_ipc_client_connect(sock_path, NULL, &c) != 0)
		return snprintf(why, wl, "connect: %s", dmk_last_error()), why;
	if (dmk_ipc_memfd_alloc(GOOD_LEN, (void **)&buf, &mfd) ||
	    dmk_ipc_client_register_memfd(c, mfd, 0, GOOD_LEN, DMK_PROT_RW, &h, &route)) {
		snprintf(why, wl, "register: %s", dmk_last_error());
		fail = why;
	}
	for (unsigned i = 0; !fail && i < 200 && now_s() < deadline && *n < cap; i++, (*round)++) {
		double t0 = now_s();

		for (size_t j = 0; j < GOOD_LEN; j++)
			buf[j] = (uint8_t)(j * 7 + *round);
		if (dmk_ipc_client_write(c, h, 0, GOOD_LEN, 256) != 0) {
			snprintf(why, wl, "cycle %u: write: %s", *round, dmk_last_error());
			fail = why;
			break;
		}
		memset(buf, 0, GOOD_LEN);
		if (dmk_ipc_client_read(c, h, 0, GOOD_LEN, 256) != 0) {
			snprintf(why, wl, "cycle %u: read: %s", *round, dmk_last_error());
			fail = why;
			break;
		}
		lat[(*n)++] = (now_s() - t0) * 1e3;
		for (size_t j = 0; j < GOOD_LEN && !fail; j++)
			if (buf[j] != (uint8_t)(j * 7 + *round)) {
				snprintf(why, wl, "cycle %u: byte %zu read back wrong", *round, j);
				fail = why;
			}
	}
	dmk_ipc_client_close(c);
	if (buf)
		munmap(buf, GOOD_LEN);
	if (mfd >= 0)
		close(mfd);
	return fail;
}

/* The good client until the deadline, connecting again every 200 cycles:
 * a newcomer must be served too. */
static const char *good_client(double *lat, size_t cap, size_t *n, char *why, size_t wl)
{
	const char *fail = NULL;
	unsigned round = 0;

	*n = 0;
	while (!fail && now_s() < deadline && *n < cap)
		fail = good_connection(lat, cap, n, &round, why, wl);
	return fail;
}

int main(int argc, char **argv)
{
	static double lat[1 << 20];
	char dir[] = "/tmp/dmk-hostile-XXXXXX", why[256];
	pid_t d, kids[NATTACKS];
	int st, fds0, fds1, bad = 0;
	const char *fail;
	size_t n = 0;
	double secs;

	if (argc != 3 || (secs = atof(argv[2])) <= 0) {
		fprintf(stderr, "usage: %s DMAKITD SECONDS\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		return perror("mkdtemp"), 1;
	snprintf(sock_path, sizeof(sock_path), "%s/sock", dir);
	d = fork();
	if (d == 0) {
		execl(argv[1], argv[1], "--sim", "4096", "--socket", sock_path, "--quiet", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && access(sock_path, F_OK); i++)
		usleep(10000);
	usleep(100000);
	fds0 = daemon_fds(d);
	deadline = now_s() + secs;
	for (unsigned k = 0; k < NATTACKS; k++)
		kids[k] = attacker(k);
	usleep(300000);	/* the attackers under way first */
	fail = good_client(lat, sizeof(lat) / sizeof(lat[0]), &n, why, sizeof(why));
	for (unsigned k = 0; k < NATTACKS; k++) {
		kill(kids[k], SIGKILL);
		waitpid(kids[k], NULL, 0);
	}
	usleep(500000);	/* the daemon sees every attacker gone */
	fds1 = daemon_fds(d);
	if (waitpid(d, &st, WNOHANG) == d) {
		printf("FAIL: the daemon died (%s %d)\n", WIFSIGNALED(st) ? "signal" : "status",
		       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		bad = 1;
	} else {
		kill(d, SIGTERM);
		waitpid(d, &st, 0);
	}
	if (fail) {
		printf("FAIL: the good client: %s\n", fail);
		bad = 1;
	}
	if (n) {
		double max;

		qsort(lat, n, sizeof(lat[0]), cmp_double);
		max = lat[n - 1];
		printf("hostile: %zu good cycles in %.0f s beside %zu attackers: median %.2f ms, "
		       "99th %.2f ms, worst %.2f ms (bound %d ms)\n", n, secs, NATTACKS, lat[n / 2],
		       lat[n * 99 / 100], max, LATENCY_MS);
		if (max > LATENCY_MS) {
			printf("FAIL: a good cycle took %.2f ms\n", max);
			bad = 1;
		}
	}
	printf("hostile: the daemon's descriptors: %d before, %d after\n", fds0, fds1);
	if (fds1 > fds0) {
		printf("FAIL: the daemon kept %d descriptor(s) of attackers gone\n", fds1 - fds0);
		bad = 1;
	}
	unlink(sock_path);
	rmdir(dir);
	return bad;
}
