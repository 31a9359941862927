/* SPDX-License-Identifier: MIT */
/*
 * What the host tests of the driver daemon share (test_ipc.c: the socket,
 * the routes, limits and hostile messages; test_ipc_ring.c: the rings and
 * requests on the device; test_ipc_fair.c: clients that do not read or
 * never say HELLO): a server thread on the sim backend (a RAM disk
 * behind the sim IOMMU, 2048 blocks of 512 bytes) with its log in a memfd,
 * a byte pattern, the server's counters, raw connections for messages the
 * client library would never send (rings too), and counting client buffer
 * mappings.
 * For one-file test programs, after <cmocka.h>: everything here is static.
 */
#ifndef DMK_TESTS_IPC_FIXTURE_H
#define DMK_TESTS_IPC_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/ipc.h>
#include <dmakit/ipc_client.h>
#include <dmakit/ipc_server.h>
#include <dmakit/region.h>
#include <dmakit/space.h>

#include "ipc/backend_priv.h"

#define LBA 512u
#define NLBA 2048u

struct fixture {
	char dir[64];
	char path[128];
	struct dmk_ipc_backend *be;
	struct dmk_ipc_server *srv;
	pthread_t thread;
	int log_fd;
	uint8_t *disk;
};

static inline uint8_t pat(size_t i, unsigned seed)
{
	return (uint8_t)(i * 31u + seed * 7u + (i >> 9));
}

static inline void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pat(i, seed);
}

/* The first byte where @p differs from pattern @seed, or -1. */
static inline long differs(const uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pat(i, seed))
			return (long)i;
	return -1;
}

static inline void *serve(void *arg)
{
	struct fixture *f = arg;

	return (void *)(intptr_t)dmk_ipc_server_run(f->srv);
}

/* A server on the sim backend whose thread runs @fn(@f) (serve(), or a
 * function that does more around it). */
static inline void start_with(struct fixture *f, const struct dmk_ipc_server_opts *opts,
			      void *(*fn)(void *))
{
	struct dmk_ipc_server_opts o;
	size_t len;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/dmk-ipc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/sock", f->dir);
	assert_int_equal(dmk_ipc_backend_sim_create(LBA, NLBA, &f->be), 0);
	f->disk = dmk_ipc_backend_sim_disk(f->be, &len);
	assert_non_null(f->disk);
	assert_int_equal(len, (size_t)LBA * NLBA);
	f->log_fd = memfd_create("dmakitd-log", MFD_CLOEXEC);
	assert_true(f->log_fd >= 0);
	if (opts)
		o = *opts;
	else
		dmk_ipc_server_opts_init(&o);
	o.log_fd = f->log_fd;
	assert_int_equal(dmk_ipc_server_create(f->path, f->be, &o, &f->srv), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fn, f), 0);
}

static inline void start(struct fixture *f, const struct dmk_ipc_server_opts *opts)
{
	start_with(f, opts, serve);
}

static inline void stop(struct fixture *f)
{
	void *ret;

	dmk_ipc_server_stop(f->srv);
	pthread_join(f->thread, &ret);
	assert_int_equal((int)(intptr_t)ret, 0);
	assert_int_equal(dmk_ipc_server_destroy(f->srv), 0);
	assert_int_equal(dmk_ipc_backend_destroy(f->be), 0);
	close(f->log_fd);
	rmdir(f->dir);
}

/*
 * This thread's accesses to the sim disk ordered with the server thread's
 * where a client in another process orders them (the disk filled, then a
 * client forked that the server serves; the disk checked after the client
 * exits): ThreadSanitizer sees no ordering through another process. The
 * server takes its stats lock when it accepts a connection and after each
 * request it moves, before the client can learn of it; taking it here,
 * after filling and before checking, shows ThreadSanitizer the order the
 * test relies on.
 */
static inline void disk_sync(struct fixture *f)
{
	struct dmk_ipc_server_stats s;

	dmk_ipc_server_stats(f->srv, &s);
}

/* What the server logged so far (valid until the next call). */
static inline char *logged(struct fixture *f)
{
	static char *buf;
	off_t size = lseek(f->log_fd, 0, SEEK_END);
	ssize_t n;

	free(buf);
	buf = malloc((size_t)size + 1);
	assert_non_null(buf);
	n = pread(f->log_fd, buf, (size_t)size, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static inline struct dmk_ipc_server_stats stats(struct fixture *f)
{
	struct dmk_ipc_server_stats s;

	dmk_ipc_server_stats(f->srv, &s);
	return s;
}

static inline int wait_child(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st))
		fail_msg("child died by signal %d", WTERMSIG(st));
	return WEXITSTATUS(st);
}

/*
 * A client in a child process: read blocks 0..15 (pattern 1, put on the
 * disk by the parent) into its buffer at byte 4096, check them, then write
 * pattern 2 from the start of its buffer to blocks 100..115. Exit status:
 * 0, or the step that failed.
 */
enum { ROUTE_MEMFD, ROUTE_COPY, ROUTE_POOL };

static inline int raw_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static inline int raw_hello(const char *path)
{
	struct dmk_ipc_msg m;
	int fd = raw_connect(path);

	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_HELLO;
	m.seq = 1;
	m.hello.version = DMK_IPC_VERSION;
	assert_int_equal(dmk_ipc_send(fd, &m, -1), 0);
	assert_int_equal(dmk_ipc_recv(fd, &m, NULL), 0);
	assert_int_equal(m.type, DMK_IPC_HELLO);
	return fd;
}

/* Mappings of client buffers (dmk_ipc_memfd_alloc) in this process: the
 * test's own and the daemon's (a thread here). */
static inline int buffer_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "memfd:dmakit-buffer"))
			n++;
	fclose(f);
	return n;
}

/* The server answers @fd's last message with ERROR @err and hangs up. */
static inline void assert_dropped(int fd, int err)
{
	struct dmk_ipc_msg m;

	assert_int_equal(dmk_ipc_recv(fd, &m, NULL), 0);
	assert_int_equal(m.type, DMK_IPC_ERROR);
	assert_int_equal(m.error.err, err);
	assert_int_equal(dmk_ipc_recv(fd, &m, NULL), -ECONNRESET);
	close(fd);
}

/* A client with rings of @entries and a memfd region of @len bytes
 * registered both ways: its connection, buffer, descriptor and handle. */
static inline void ring_client(struct fixture *f, unsigned entries, uint64_t len,
			       struct dmk_ipc_client **c, uint8_t **buf, int *fd, uint64_t *h)
{
	unsigned route;

	assert_int_equal(dmk_ipc_client_connect(f->path, NULL, c), 0);
	assert_int_equal(dmk_ipc_client_rings(*c, entries, NULL), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(len, (void **)buf, fd), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(*c, *fd, 0, len, DMK_PROT_RW, h, &route), 0);
}

/* A hostile client that drives the rings itself (raw socket, its own
 * entries and indices). */
struct raw_ring {
	int sock;
	void *map;
	size_t len;
	struct dmk_ipc_ring_hdr *hdr;
	struct dmk_ipc_sqe *sq;
	struct dmk_ipc_cqe *cq;
	uint32_t entries, tail, head;
	int req, cqfd;
};

static inline void raw_rings(const char *path, unsigned entries, struct raw_ring *r)
{
	struct dmk_ipc_msg m;
	int fds[3];
	unsigned n;

	memset(r, 0, sizeof(*r));
	r->sock = raw_hello(path);
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_RINGS;
	m.seq = 2;
	m.rings.entries = entries;
	assert_int_equal(dmk_ipc_send(r->sock, &m, -1), 0);
	assert_int_equal(dmk_ipc_recv_fds(r->sock, &m, fds, 3, &n), 0);
	assert_int_equal(m.type, DMK_IPC_RINGS);
	assert_int_equal(n, 3);
	r->entries = m.rings.entries;
	r->len = (size_t)m.rings.size;
	r->map = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	assert_true(r->map != MAP_FAILED);
	close(fds[0]);
	/* sealed: the client can neither shrink nor grow the daemon's rings */
	assert_int_equal(dmk_ipc_ring_size(r->entries), r->len);
	r->hdr = r->map;
	r->sq = (struct dmk_ipc_sqe *)((uint8_t *)r->map + DMK_IPC_RING_SQ_OFF);
	r->cq = (struct dmk_ipc_cqe *)((uint8_t *)r->map + dmk_ipc_ring_cq_off(r->entries));
	r->req = fds[1];
	r->cqfd = fds[2];
}

static inline uint64_t raw_register(struct raw_ring *r, int mfd, uint64_t len)
{
	struct dmk_ipc_msg m;

	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_REGISTER;
	m.seq = 3;
	m.reg.route = DMK_IPC_ROUTE_MEMFD;
	m.reg.prot = DMK_PROT_RW;
	m.reg.length = len;
	assert_int_equal(dmk_ipc_send(r->sock, &m, mfd), 0);
	assert_int_equal(dmk_ipc_recv(r->sock, &m, NULL), 0);
	assert_int_equal(m.type, DMK_IPC_COMPLETION);
	return m.comp.handle;
}

/* Publish one entry and ring the doorbell. */
static inline void raw_submit(struct raw_ring *r, struct dmk_ipc_sqe e)
{
	uint64_t one = 1;

	r->sq[r->tail & (r->entries - 1)] = e;
	r->tail++;
	__atomic_store_n(&r->hdr->sq_tail, r->tail, __ATOMIC_SEQ_CST);
	assert_int_equal(write(r->req, &one, sizeof(one)), sizeof(one));
}

/* Publish one entry and ring the doorbell; wait for its completion. */
static inline struct dmk_ipc_cqe raw_do(struct raw_ring *r, struct dmk_ipc_sqe e)
{
	struct dmk_ipc_cqe ce;

	raw_submit(r, e);
	for (int i = 0; i < 5000 && __atomic_load_n(&r->hdr->cq_tail, __ATOMIC_ACQUIRE) == r->head; i++)
		usleep(1000);
	assert_true(__atomic_load_n(&r->hdr->cq_tail, __ATOMIC_ACQUIRE) == r->head + 1);
	ce = r->cq[r->head & (r->entries - 1)];
	r->head++;
	__atomic_store_n(&r->hdr->cq_head, r->head, __ATOMIC_RELEASE);
	assert_true(ce.tag == e.tag);
	return ce;
}

static inline void raw_close(struct raw_ring *r)
{
	munmap(r->map, r->len);
	close(r->req);
	close(r->cqfd);
	close(r->sock);
}

#endif
