/* SPDX-License-Identifier: MIT */
/*
 * The driver daemon and the client library (include/dmakit/ipc_server.h,
 * ipc_client.h) on the host: a server thread on the sim backend (a RAM disk
 * behind the sim IOMMU), clients in forked child processes and in this one.
 * Data both ways through the memfd and copy routes, checked byte for byte
 * against the RAM disk; a forged handle refused and logged with the
 * connection kept; a hostile message disconnecting only its sender; a
 * client killed with SIGKILL leaving the daemon serving; the daemon gone
 * giving -ECONNRESET.
 */
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

#include <cmocka.h>

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

static uint8_t pat(size_t i, unsigned seed)
{
	return (uint8_t)(i * 31u + seed * 7u + (i >> 9));
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pat(i, seed);
}

/* The first byte where @p differs from pattern @seed, or -1. */
static long differs(const uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pat(i, seed))
			return (long)i;
	return -1;
}

static void *serve(void *arg)
{
	struct fixture *f = arg;

	return (void *)(intptr_t)dmk_ipc_server_run(f->srv);
}

static void start(struct fixture *f, const struct dmk_ipc_server_opts *opts)
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
	assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
}

static void stop(struct fixture *f)
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

/* What the server logged so far (valid until the next call). */
static char *logged(struct fixture *f)
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

static struct dmk_ipc_server_stats stats(struct fixture *f)
{
	struct dmk_ipc_server_stats s;

	dmk_ipc_server_stats(f->srv, &s);
	return s;
}

static int wait_child(pid_t pid)
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

static int child_client(const char *path, int how)
{
	const size_t len = 16 * LBA, size = 4096 + len;
	struct dmk_ipc_client *c;
	struct dmk_ipc_hello g;
	uint64_t h;
	unsigned route;
	uint8_t *buf;
	int fd = -1;

	if (dmk_ipc_client_connect(path, NULL, &c))
		return 10;
	dmk_ipc_client_limits(c, &g);
	if (g.lba_size != LBA || g.nlba != NLBA || g.max_inflight != 256 /* the default ring_entries */)
		return 11;
	if (how == ROUTE_COPY) {
		if (posix_memalign((void **)&buf, 64, size))
			return 12;
		memset(buf, 0, size);
		if (dmk_ipc_client_register_copy(c, buf, size, DMK_PROT_RW, &h, &route))
			return 13;
		if (route != DMK_IPC_ROUTE_COPY)
			return 14;
	} else if (how == ROUTE_POOL) {
		if (dmk_ipc_client_alloc_pool(c, size, DMK_PROT_RW, (void **)&buf, &h, &route))
			return 13;
		if (route != DMK_IPC_ROUTE_POOL)
			return 14;
	} else {
		if (dmk_ipc_memfd_alloc(size, (void **)&buf, &fd))
			return 12;
		if (dmk_ipc_client_register_memfd(c, fd, 0, size, DMK_PROT_RW, &h, &route))
			return 13;
		if (route != DMK_IPC_ROUTE_MEMFD)
			return 14;
	}
	if (dmk_ipc_client_read(c, h, 4096, len, 0)) {
		fprintf(stderr, "child: read: %s\n", dmk_last_error());
		return 15;
	}
	if (differs(buf + 4096, len, 1) >= 0)
		return 16;
	for (size_t i = 0; i < 4096; i++)
		if (buf[i] != 0)
			return 17; /* bytes outside the request untouched */
	fill(buf, len, 2);
	if (dmk_ipc_client_write(c, h, 0, len, 100))
		return 18;
	if (dmk_ipc_client_unregister(c, h))
		return 19;
	if (dmk_ipc_client_read(c, h, 0, LBA, 0) != -EPERM)
		return 20; /* gone with the unregister */
	dmk_ipc_client_close(c);
	return 0;
}

static void routes_both_ways(int how)
{
	struct dmk_ipc_server_opts o;
	struct dmk_ipc_server_stats s;
	struct fixture f;
	pid_t pid;
	int rc;

	dmk_ipc_server_opts_init(&o);
	o.bounce_size = 3000; /* 3072 bytes: the copy route in several pieces */
	start(&f, &o);
	fill(f.disk, 16 * LBA, 1);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_client(f.path, how));
	rc = wait_child(pid);
	if (rc)
		fail_msg("the client failed at step %d", rc);
	assert_int_equal(differs(f.disk + 100 * LBA, 16 * LBA, 2), -1);
	assert_int_equal(differs(f.disk, 16 * LBA, 1), -1);
	s = stats(&f);
	assert_true(s.requests == 2);
	assert_true(s.bytes == 2 * 16 * LBA);
	assert_true(s.copied == (how == ROUTE_COPY ? 2 * 16 * LBA : 0));
	assert_true(s.regions == 0);
	assert_true(s.refused == 1 && s.forged == 1); /* the read after unregister */
	stop(&f);
}

static void test_memfd_route(void **state)
{
	(void)state;
	routes_both_ways(ROUTE_MEMFD);
}

static void test_copy_route(void **state)
{
	(void)state;
	routes_both_ways(ROUTE_COPY);
}

/* The pool route: the daemon's memory, mapped by both. Its pages stay
 * until the region is unregistered and the client unmaps them. */
static void test_pool_route(void **state)
{
	struct dmk_ipc_client *c;
	struct fixture f;
	uint8_t *p1, *p2;
	uint64_t h1, h2;
	unsigned route;

	(void)state;
	routes_both_ways(ROUTE_POOL);
	start(&f, NULL);
	fill(f.disk, 8 * LBA, 11);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);
	assert_int_equal(dmk_ipc_client_alloc_pool(c, 8 * LBA, DMK_PROT_RW, (void **)&p1, &h1, &route), 0);
	assert_int_equal(route, DMK_IPC_ROUTE_POOL);
	assert_int_equal(dmk_ipc_client_alloc_pool(c, 100, DMK_PROT_READ, (void **)&p2, &h2, &route), 0);
	assert_int_equal(dmk_ipc_client_read(c, h1, 0, 8 * LBA, 0), 0);
	assert_int_equal(differs(p1, 8 * LBA, 11), -1);
	assert_int_equal(dmk_ipc_client_read(c, h2, 0, LBA, 0), -EINVAL); /* past its 100 bytes */
	assert_int_equal(dmk_ipc_client_unregister(c, h1), 0);
	assert_int_equal(differs(p1, 8 * LBA, 11), -1); /* still mapped here */
	assert_true(stats(&f).regions == 1);
	dmk_ipc_client_close(c);
	munmap(p1, 8 * LBA);
	munmap(p2, 100);
	stop(&f);
}

static void test_forged_handle(void **state)
{
	struct dmk_ipc_client *a, *b;
	struct fixture f;
	uint8_t *ba, *bb;
	uint64_t ha, hb;
	unsigned route;
	int fa, fb;

	(void)state;
	start(&f, NULL);
	fill(f.disk, 4 * LBA, 3);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &a), 0);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &b), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(4 * LBA, (void **)&ba, &fa), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(4 * LBA, (void **)&bb, &fb), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(a, fa, 0, 4 * LBA, DMK_PROT_RW, &ha, &route), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(b, fb, 0, 4 * LBA, DMK_PROT_RW, &hb, &route), 0);
	assert_true(ha != hb);
	memset(ba, 0xee, 4 * LBA);

	/* B names A's handle, and a made-up one: refused, logged, kept */
	assert_int_equal(dmk_ipc_client_read(b, ha, 0, 4 * LBA, 0), -EPERM);
	assert_non_null(strstr(dmk_last_error(), "not a region of this connection"));
	assert_int_equal(dmk_ipc_client_write(b, ha, 0, LBA, 0), -EPERM);
	assert_int_equal(dmk_ipc_client_unregister(b, ha), -EPERM);
	assert_int_equal(dmk_ipc_client_read(b, 12345, 0, LBA, 0), -EPERM);
	for (size_t i = 0; i < 4 * LBA; i++)
		assert_int_equal(ba[i], 0xee);
	assert_int_equal(differs(f.disk, 4 * LBA, 3), -1);
	assert_true(stats(&f).forged == 4);
	assert_non_null(strstr(logged(&f), "handle 12345 is not a region of this connection"));

	/* both connections still work */
	assert_int_equal(dmk_ipc_client_read(b, hb, 0, 4 * LBA, 0), 0);
	assert_int_equal(differs(bb, 4 * LBA, 3), -1);
	assert_int_equal(dmk_ipc_client_read(a, ha, 0, 4 * LBA, 0), 0);
	assert_int_equal(differs(ba, 4 * LBA, 3), -1);
	assert_true(stats(&f).clients == 2 && stats(&f).dropped == 0);

	dmk_ipc_client_close(a);
	dmk_ipc_client_close(b);
	munmap(ba, 4 * LBA);
	munmap(bb, 4 * LBA);
	close(fa);
	close(fb);
	stop(&f);
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static int raw_hello(const char *path)
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

/* The server answers @fd's last message with ERROR @err and hangs up. */
static void assert_dropped(int fd, int err)
{
	struct dmk_ipc_msg m;

	assert_int_equal(dmk_ipc_recv(fd, &m, NULL), 0);
	assert_int_equal(m.type, DMK_IPC_ERROR);
	assert_int_equal(m.error.err, err);
	assert_int_equal(dmk_ipc_recv(fd, &m, NULL), -ECONNRESET);
	close(fd);
}

static void test_hostile_disconnects_only_sender(void **state)
{
	struct dmk_ipc_client *a;
	struct dmk_ipc_msg m;
	struct fixture f;
	uint8_t raw[DMK_IPC_MSG_MAX + 8], *buf;
	uint64_t h;
	unsigned route;
	size_t len;
	int fd, hfd;

	(void)state;
	start(&f, NULL);
	fill(f.disk, 2 * LBA, 4);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &a), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(2 * LBA, (void **)&buf, &fd), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(a, fd, 0, 2 * LBA, DMK_PROT_RW, &h, &route), 0);

	/* a READ one byte too long (the header agreeing with the datagram) */
	hfd = raw_hello(f.path);
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_READ;
	m.seq = 2;
	m.io.handle = h;
	m.io.length = LBA;
	assert_int_equal(dmk_ipc_encode(&m, raw, sizeof(raw), &len), 0);
	raw[len] = 0;
	raw[8] = (uint8_t)(len + 1);
	assert_int_equal(send(hfd, raw, len + 1, 0), (ssize_t)len + 1);
	assert_dropped(hfd, -EBADMSG);

	/* an unknown type */
	hfd = raw_hello(f.path);
	assert_int_equal(dmk_ipc_encode(&m, raw, sizeof(raw), &len), 0);
	raw[6] = 77;
	assert_int_equal(send(hfd, raw, len, 0), (ssize_t)len);
	assert_dropped(hfd, -EBADMSG);

	/* a READ before HELLO; a COMPLETION from a client */
	hfd = raw_connect(f.path);
	assert_int_equal(dmk_ipc_send(hfd, &m, -1), 0);
	assert_dropped(hfd, -EPROTO);
	hfd = raw_hello(f.path);
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_COMPLETION;
	assert_int_equal(dmk_ipc_send(hfd, &m, -1), 0);
	assert_dropped(hfd, -EPROTO);

	/* garbage */
	hfd = raw_connect(f.path);
	memset(raw, 0x41, 100);
	assert_int_equal(send(hfd, raw, 100, 0), 100);
	assert_dropped(hfd, -EBADMSG);

	assert_true(stats(&f).dropped == 5);
	assert_non_null(strstr(logged(&f), "protocol error: wrong length"));
	/* the well-behaved client keeps working */
	assert_int_equal(dmk_ipc_client_read(a, h, 0, 2 * LBA, 0), 0);
	assert_int_equal(differs(buf, 2 * LBA, 4), -1);
	assert_true(stats(&f).clients == 1);
	dmk_ipc_client_close(a);
	munmap(buf, 2 * LBA);
	close(fd);
	stop(&f);
}

static void test_sigkill_client(void **state)
{
	struct dmk_ipc_client *c;
	struct fixture f;
	uint8_t *buf;
	uint64_t h;
	unsigned route;
	int pipefd[2], fd, st;
	char ready;
	pid_t pid;

	(void)state;
	start(&f, NULL);
	fill(f.disk, 8 * LBA, 5);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pipefd[0]);
		if (dmk_ipc_client_connect(f.path, NULL, &c) ||
		    dmk_ipc_memfd_alloc(8 * LBA, (void **)&buf, &fd) ||
		    dmk_ipc_client_register_memfd(c, fd, 0, 8 * LBA, DMK_PROT_RW, &h, &route) ||
		    dmk_ipc_client_register_copy(c, buf, 8 * LBA, DMK_PROT_RW, &h, &route) ||
		    dmk_ipc_client_read(c, h, 0, 8 * LBA, 0))
			_exit(1);
		if (write(pipefd[1], "r", 1) != 1)
			_exit(2);
		for (;;)
			pause();
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], &ready, 1), 1);
	close(pipefd[0]);
	assert_true(stats(&f).regions == 2 && stats(&f).clients == 1);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	for (int i = 0; i < 500 && stats(&f).clients != 0; i++)
		usleep(10000);
	assert_true(stats(&f).clients == 0);
	assert_true(stats(&f).regions == 0);
	assert_non_null(strstr(logged(&f), "disconnected (closed), 2 region(s) released"));

	/* the daemon serves on */
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(8 * LBA, (void **)&buf, &fd), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, 8 * LBA, DMK_PROT_RW, &h, &route), 0);
	assert_int_equal(dmk_ipc_client_read(c, h, 0, 8 * LBA, 0), 0);
	assert_int_equal(differs(buf, 8 * LBA, 5), -1);
	dmk_ipc_client_close(c);
	munmap(buf, 8 * LBA);
	close(fd);
	stop(&f);
}

static void test_refusals(void **state)
{
	struct dmk_ipc_server_opts o;
	struct dmk_ipc_client *c;
	struct dmk_ipc_hello wish;
	struct fixture f;
	uint8_t *buf, *ro;
	uint64_t h, hro, hx;
	unsigned route;
	int fd, fro, plain;

	(void)state;
	dmk_ipc_server_opts_init(&o);
	o.max_regions = 8;
	start(&f, &o);
	memset(&wish, 0, sizeof(wish));
	wish.max_regions = 3;
	assert_int_equal(dmk_ipc_client_connect(f.path, &wish, &c), 0);
	dmk_ipc_client_limits(c, &wish);
	assert_int_equal(wish.max_regions, 3);
	assert_int_equal(dmk_ipc_memfd_alloc(8 * LBA, (void **)&buf, &fd), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, 8 * LBA, DMK_PROT_RW, &h, &route), 0);

	assert_int_equal(dmk_ipc_client_read(c, h, 4 * LBA, 8 * LBA, 0), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "past region"));
	assert_int_equal(dmk_ipc_client_read(c, h, 0, 100, 0), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "whole blocks"));
	assert_int_equal(dmk_ipc_client_read(c, h, 0, 2 * LBA, NLBA - 1), -ERANGE);
	assert_int_equal(dmk_ipc_client_read(c, h, 0, LBA, UINT64_MAX - 2), -ERANGE);

	/* a region the device may only read cannot be read into */
	assert_int_equal(dmk_ipc_memfd_alloc(LBA, (void **)&ro, &fro), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fro, 0, LBA, DMK_PROT_READ, &hro, &route), 0);
	assert_int_equal(dmk_ipc_client_read(c, hro, 0, LBA, 0), -EACCES);
	assert_int_equal(dmk_ipc_client_write(c, hro, 0, LBA, 0), 0);

	/* past the file; a file that may shrink; the region limit */
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 4096, 8 * LBA, DMK_PROT_RW, &hx, &route), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "past the file"));
	plain = memfd_create("unsealed", MFD_CLOEXEC);
	assert_true(plain >= 0);
	assert_int_equal(ftruncate(plain, 4096), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(c, plain, 0, 4096, DMK_PROT_RW, &hx, &route), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "F_SEAL_SHRINK"));
	assert_int_equal(dmk_ipc_client_register_copy(c, buf, LBA, DMK_PROT_RW, &hx, &route), 0);
	assert_int_equal(dmk_ipc_client_register_copy(c, buf, LBA, DMK_PROT_RW, &hx, &route), -ENOSPC);
	assert_true(stats(&f).dropped == 0 && stats(&f).clients == 1);

	dmk_ipc_client_close(c);
	close(plain);
	munmap(buf, 8 * LBA);
	munmap(ro, LBA);
	close(fd);
	close(fro);
	stop(&f);
}

/* The daemon-wide cap on pinned bytes: memfd and pool regions of all
 * clients together; a copy region pins nothing of the daemon's. */
static void test_daemon_pinned_cap(void **state)
{
	struct dmk_ipc_server_opts o;
	struct dmk_ipc_client *a, *b;
	uint64_t ha, hb, hc;
	unsigned route;
	uint8_t *ba, *bb, *pool;
	int fa, fb;
	struct fixture f;

	(void)state;
	dmk_ipc_server_opts_init(&o);
	o.max_pinned_total = 12 * LBA;
	start(&f, &o);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &a), 0);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &b), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(8 * LBA, (void **)&ba, &fa), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(8 * LBA, (void **)&bb, &fb), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(a, fa, 0, 8 * LBA, DMK_PROT_RW, &ha, &route), 0);
	assert_int_equal(stats(&f).pinned, 8 * LBA);
	/* b is within its own limit, the daemon is not */
	assert_int_equal(dmk_ipc_client_register_memfd(b, fb, 0, 8 * LBA, DMK_PROT_RW, &hb, &route), -EDQUOT);
	assert_non_null(strstr(dmk_last_error(), "for all clients together"));
	assert_int_equal(dmk_ipc_client_alloc_pool(b, 8 * LBA, DMK_PROT_RW, (void **)&pool, &hb, &route), -EDQUOT);
	assert_int_equal(dmk_ipc_client_alloc_pool(b, 4 * LBA, DMK_PROT_RW, (void **)&pool, &hb, &route), 0);
	assert_int_equal(stats(&f).pinned, 12 * LBA);
	assert_int_equal(dmk_ipc_client_register_copy(b, bb, 8 * LBA, DMK_PROT_RW, &hc, &route), 0);
	assert_int_equal(stats(&f).pinned, 12 * LBA);
	/* a region given back makes room */
	assert_int_equal(dmk_ipc_client_unregister(a, ha), 0);
	assert_int_equal(stats(&f).pinned, 4 * LBA);
	assert_int_equal(dmk_ipc_client_register_memfd(b, fb, 0, 8 * LBA, DMK_PROT_RW, &hb, &route), 0);
	dmk_ipc_client_close(a);
	dmk_ipc_client_close(b);
	for (int i = 0; i < 500 && stats(&f).regions; i++)
		usleep(2000);
	assert_int_equal(stats(&f).pinned, 0);
	assert_int_equal(stats(&f).dropped, 0);
	munmap(ba, 8 * LBA);
	munmap(bb, 8 * LBA);
	munmap(pool, 4 * LBA);
	close(fa);
	close(fb);
	stop(&f);
}

/* The lease route needs a VFIO container: a sim daemon refuses the window,
 * not pretends it; a lease registration without a window is refused too. */
static void test_routes_not_implemented(void **state)
{
	struct dmk_ipc_msg m;
	struct fixture f;
	int fd;

	(void)state;
	start(&f, NULL);
	fd = raw_hello(f.path);
	for (unsigned route = DMK_IPC_ROUTE_LEASE; route <= DMK_IPC_ROUTE_LEASE; route++) {
		memset(&m, 0, sizeof(m));
		m.type = DMK_IPC_REGISTER;
		m.seq = 5;
		m.reg.route = route;
		m.reg.prot = DMK_PROT_RW;
		m.reg.length = 4096;
		assert_int_equal(dmk_ipc_send(fd, &m, -1), 0);
		assert_int_equal(dmk_ipc_recv(fd, &m, NULL), 0);
		assert_int_equal(m.type, DMK_IPC_ERROR);
		assert_int_equal(m.error.err, -ENOTSUP);
		assert_non_null(strstr(m.error.reason, "not behind a VFIO container"));
		m.type = DMK_IPC_REGISTER;
		m.seq = 6;
		m.reg.route = route;
		m.reg.prot = DMK_PROT_RW;
		m.reg.length = 4096;
		m.reg.offset = 1u << 20;
		m.reg.addr = 0x10000;
		assert_int_equal(dmk_ipc_send(fd, &m, -1), 0);
		assert_int_equal(dmk_ipc_recv(fd, &m, NULL), 0);
		assert_int_equal(m.type, DMK_IPC_ERROR);
		assert_int_equal(m.error.err, -EPERM);
		assert_non_null(strstr(m.error.reason, "holds no lease"));
	}
	close(fd);
	stop(&f);
}

/* A daemon that goes away gives its clients an error, not a hang. */
static void test_daemon_gone(void **state)
{
	struct dmk_ipc_client *c;
	struct fixture f;
	uint8_t *buf;
	uint64_t h;
	unsigned route;
	char path[128];
	int fd;

	(void)state;
	start(&f, NULL);
	snprintf(path, sizeof(path), "%s", f.path);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(LBA, (void **)&buf, &fd), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, LBA, DMK_PROT_RW, &h, &route), 0);
	stop(&f);
	assert_int_equal(dmk_ipc_client_read(c, h, 0, LBA, 0), -ECONNRESET);
	assert_non_null(strstr(dmk_last_error(), "daemon closed the connection"));
	dmk_ipc_client_close(c);
	assert_int_equal(dmk_ipc_client_connect(path, NULL, &c), -ENOENT);
	munmap(buf, LBA);
	close(fd);

	/* on the rings: the completion never comes, the socket says why */
	start(&f, NULL);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);
	assert_int_equal(dmk_ipc_client_rings(c, 4, NULL), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(LBA, (void **)&buf, &fd), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, LBA, DMK_PROT_RW, &h, &route), 0);
	assert_int_equal(dmk_ipc_client_ring_read(c, h, 0, LBA, 0), 0);
	stop(&f);
	assert_int_equal(dmk_ipc_client_ring_read(c, h, 0, LBA, 0), -ECONNRESET);
	assert_non_null(strstr(dmk_last_error(), "daemon closed the connection"));
	dmk_ipc_client_close(c);
	munmap(buf, LBA);
	close(fd);
}

/*
 * tools/dmakitd as a process of its own (its path in DMKITD, set by meson):
 * one application process writes through the memfd route, another reads
 * the blocks back through the copy route and checks them byte for byte;
 * SIGTERM stops the daemon cleanly and removes its socket.
 */
static int app_write(const char *path)
{
	struct dmk_ipc_client *c;
	uint64_t h;
	unsigned route;
	uint8_t *buf;
	int fd;

	if (dmk_ipc_client_connect(path, NULL, &c) || dmk_ipc_memfd_alloc(32 * LBA, (void **)&buf, &fd) ||
	    dmk_ipc_client_register_memfd(c, fd, 0, 32 * LBA, DMK_PROT_READ, &h, &route) ||
	    route != DMK_IPC_ROUTE_MEMFD)
		return 1;
	fill(buf, 32 * LBA, 9);
	if (dmk_ipc_client_write(c, h, 0, 32 * LBA, 7))
		return 2;
	dmk_ipc_client_close(c);
	return 0;
}

static int app_read(const char *path)
{
	struct dmk_ipc_client *c;
	uint64_t h;
	unsigned route;
	uint8_t *buf;

	if (posix_memalign((void **)&buf, 4096, 32 * LBA))
		return 1;
	memset(buf, 0, 32 * LBA);
	if (dmk_ipc_client_connect(path, NULL, &c) ||
	    dmk_ipc_client_register_copy(c, buf, 32 * LBA, DMK_PROT_WRITE, &h, &route) ||
	    route != DMK_IPC_ROUTE_COPY)
		return 3;
	if (dmk_ipc_client_read(c, h, 0, 32 * LBA, 7))
		return 4;
	if (differs(buf, 32 * LBA, 9) >= 0)
		return 5;
	/* again through the rings (the daemon grants 8 entries of 64) */
	memset(buf, 0, 32 * LBA);
	{
		unsigned entries = 0;

		if (dmk_ipc_client_rings(c, 64, &entries) || entries != 8)
			return 6;
	}
	if (dmk_ipc_client_ring_read(c, h, 0, 32 * LBA, 7) || differs(buf, 32 * LBA, 9) >= 0)
		return 7;
	dmk_ipc_client_close(c);
	free(buf);
	return 0;
}

static void test_dmakitd_process(void **state)
{
	const char *exe = getenv("DMKITD");
	char dir[64], path[128];
	struct dmk_ipc_client *c = NULL;
	pid_t d, a;
	int rc = -1;

	(void)state;
	if (!exe)
		skip();
	snprintf(dir, sizeof(dir), "/tmp/dmk-ipcd-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	d = fork();
	assert_true(d >= 0);
	if (d == 0) {
		execl(exe, exe, "--sim", "4096", "--socket", path, "--bounce", "8192", "--quiet",
		      "--ring-entries", "8", "--ring-poll-us", "20", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && rc; i++) {
		rc = dmk_ipc_client_connect(path, NULL, &c);
		if (rc)
			usleep(10000);
	}
	assert_int_equal(rc, 0);
	dmk_ipc_client_close(c);
	a = fork();
	assert_true(a >= 0);
	if (a == 0)
		_exit(app_write(path));
	rc = wait_child(a);
	if (rc)
		fail_msg("the writing application failed at step %d", rc);
	a = fork();
	assert_true(a >= 0);
	if (a == 0)
		_exit(app_read(path));
	rc = wait_child(a);
	if (rc)
		fail_msg("the reading application failed at step %d", rc);
	assert_int_equal(kill(d, SIGTERM), 0);
	assert_int_equal(wait_child(d), 0);
	assert_int_equal(access(path, F_OK), -1);
	rmdir(dir);
}

/* The sim backend moves bytes only through the sim IOMMU: memory the
 * daemon did not register faults, registered memory gets the bytes. */
static void test_sim_backend_needs_registration(void **state)
{
	struct dmk_ipc_backend *be;
	struct dmk_sim_fault fault;
	struct dmk_region *r;
	uint8_t *disk, *buf = NULL;
	size_t n;

	(void)state;
	assert_int_equal(dmk_ipc_backend_sim_create(LBA, 64, &be), 0);
	disk = dmk_ipc_backend_sim_disk(be, &n);
	fill(disk, n, 6);
	assert_int_equal(posix_memalign((void **)&buf, 4096, 8192), 0);
	memset(buf, 0, 8192);
	assert_int_equal(be->ops->read(be, 0, buf, 4 * LBA), -EFAULT);
	assert_int_equal(dmk_region_register(dmk_ipc_backend_space(be), buf, 4 * LBA, DMK_PROT_READ, &r), 0);
	assert_int_equal(be->ops->read(be, 0, buf, 4 * LBA), -EFAULT); /* device may not write it */
	assert_int_equal(be->ops->write(be, 8, buf, 4 * LBA), 0);
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_region_register(dmk_ipc_backend_space(be), buf, 4 * LBA, DMK_PROT_WRITE, &r), 0);
	assert_int_equal(be->ops->read(be, 16, buf, 4 * LBA), 0);
	assert_int_equal(memcmp(buf, disk + 16 * LBA, 4 * LBA), 0);
	assert_int_equal(be->ops->read(be, 62, buf, 4 * LBA), -ERANGE);
	assert_int_equal(dmk_ipc_backend_destroy(be), -EBUSY);
	assert_int_equal(be->ops->read(be, 0, buf, 4 * LBA), 0); /* still works */
	assert_int_equal(differs(buf, 4 * LBA, 6), -1);
	assert_int_equal(dmk_region_unregister(r), 0);
	assert_int_equal(dmk_sim_faults(dmk_ipc_backend_space(be), &fault, 1, &n), 0);
	(void)fault; /* the prepare refused before the device touched anything */
	assert_int_equal(dmk_ipc_backend_destroy(be), 0);
	free(buf);
}

/* A client that sends and never reads its answers is closed once an
 * answer cannot be sent for a second; the others are served throughout. */
static void test_unread_answers(void **state)
{
	struct dmk_ipc_client *a;
	struct dmk_ipc_msg m;
	struct fixture f;
	uint8_t *buf;
	uint64_t h;
	unsigned route;
	int fd, hfd, closed = 0;

	(void)state;
	start(&f, NULL);
	fill(f.disk, LBA, 8);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &a), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(LBA, (void **)&buf, &fd), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(a, fd, 0, LBA, DMK_PROT_RW, &h, &route), 0);
	hfd = raw_hello(f.path);
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_READ;
	m.io.handle = 999999;
	m.io.length = LBA;
	for (int i = 0; i < 200000 && !closed; i++) {
		uint8_t raw[DMK_IPC_MSG_MAX];
		size_t len;
		ssize_t n;

		m.seq = (uint64_t)i + 2;
		assert_int_equal(dmk_ipc_encode(&m, raw, sizeof(raw), &len), 0);
		n = send(hfd, raw, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN)
			usleep(1000);
		else if (n < 0)
			closed = 1;
	}
	assert_true(closed);
	for (int i = 0; i < 500 && stats(&f).clients != 1; i++)
		usleep(10000);
	assert_true(stats(&f).clients == 1);
	assert_non_null(strstr(logged(&f), "answer not taken"));
	assert_int_equal(dmk_ipc_client_read(a, h, 0, LBA, 0), 0);
	assert_int_equal(differs(buf, LBA, 8), -1);
	close(hfd);
	dmk_ipc_client_close(a);
	munmap(buf, LBA);
	close(fd);
	stop(&f);
}

/*
 * The rings in a child process: data both ways byte for byte through the
 * memfd, pool and copy routes, several requests in flight, the socket
 * path still working beside them. Exit status 0 or the failing step.
 */
static int child_rings(const char *path)
{
	const size_t len = 16 * LBA;
	struct dmk_ipc_client *c;
	struct dmk_ipc_cqe ce[16];
	uint64_t hm, hp, hc, seen = 0;
	unsigned route, entries = 0, got = 0;
	uint8_t *bm, *bp, *bc;
	int fd;

	if (dmk_ipc_client_connect(path, NULL, &c))
		return 10;
	if (dmk_ipc_client_submit(c, DMK_IPC_READ, 1, 0, LBA, 0, 1) != -ENXIO)
		return 11;
	if (dmk_ipc_client_rings(c, 64, &entries) || entries != 16) /* the server's 16 */
		return 12;
	if (dmk_ipc_client_rings(c, 64, &entries) != -EEXIST)
		return 13;
	if (dmk_ipc_memfd_alloc(len, (void **)&bm, &fd) ||
	    dmk_ipc_client_register_memfd(c, fd, 0, len, DMK_PROT_RW, &hm, &route))
		return 14;
	if (dmk_ipc_client_alloc_pool(c, len, DMK_PROT_RW, (void **)&bp, &hp, &route))
		return 15;
	if (posix_memalign((void **)&bc, 64, len))
		return 16;
	memset(bc, 0, len);
	if (dmk_ipc_client_register_copy(c, bc, len, DMK_PROT_RW, &hc, &route))
		return 17;
	/* disk -> memory, each route */
	if (dmk_ipc_client_ring_read(c, hm, 0, len, 0) || differs(bm, len, 1) >= 0)
		return 18;
	if (dmk_ipc_client_ring_read(c, hp, 0, len, 0) || differs(bp, len, 1) >= 0)
		return 19;
	if (dmk_ipc_client_ring_read(c, hc, 0, len, 0) || differs(bc, len, 1) >= 0)
		return 20;
	/* memory -> disk, each route, one block each in flight together */
	fill(bm, len, 2);
	fill(bp, len, 3);
	fill(bc, len, 4);
	for (unsigned i = 0; i < 16; i++) {
		uint64_t h = i % 3 == 0 ? hm : i % 3 == 1 ? hp : hc;

		if (dmk_ipc_client_submit(c, DMK_IPC_WRITE, h, i * LBA, LBA, 100 + i, 1000 + i))
			return 21;
	}
	while (got < 16) {
		int n = dmk_ipc_client_reap(c, ce, 16, 1);

		if (n <= 0)
			return 22;
		for (int k = 0; k < n; k++) {
			if (ce[k].status || ce[k].tag < 1000 || ce[k].tag >= 1016)
				return 23;
			seen |= 1ull << (ce[k].tag - 1000);
		}
		got += (unsigned)n;
	}
	if (seen != 0xffff)
		return 24;
	/* the socket path beside the rings */
	if (dmk_ipc_client_read(c, hm, 0, LBA, 0) || differs(bm, LBA, 1) >= 0)
		return 25;
	dmk_ipc_client_close(c);
	return 0;
}

static void test_rings_both_ways(void **state)
{
	struct dmk_ipc_server_opts o;
	struct dmk_ipc_server_stats s;
	struct fixture f;
	pid_t pid;
	int rc;

	(void)state;
	dmk_ipc_server_opts_init(&o);
	o.ring_entries = 16;
	o.bounce_size = 3000;
	start(&f, &o);
	fill(f.disk, 16 * LBA, 1);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_rings(f.path));
	rc = wait_child(pid);
	if (rc)
		fail_msg("the ring client failed at step %d (%s)", rc, logged(&f));
	for (unsigned i = 0; i < 16; i++) {
		unsigned seed = i % 3 == 0 ? 2 : i % 3 == 1 ? 3 : 4;
		const uint8_t *d = f.disk + (100 + i) * LBA;

		for (size_t k = 0; k < LBA; k++)
			if (d[k] != pat(i * LBA + k, seed))
				fail_msg("block %u byte %zu", 100 + i, k);
	}
	assert_int_equal(differs(f.disk, 16 * LBA, 1), -1);
	/* the child's BYE may still be on its way */
	for (int i = 0; i < 500 && stats(&f).clients != 0; i++)
		usleep(10000);
	s = stats(&f);
	if (s.requests != 3 + 16 + 1 || s.refused || s.dropped || s.regions)
		fail_msg("requests %llu refused %llu dropped %llu regions %llu (%s)",
			 (unsigned long long)s.requests, (unsigned long long)s.refused,
			 (unsigned long long)s.dropped, (unsigned long long)s.regions, logged(&f));
	assert_non_null(strstr(logged(&f), "rings of 16 entries"));
	stop(&f);
}

/* A full ring says -EAGAIN until completions are reaped. */
static void test_ring_full(void **state)
{
	struct dmk_ipc_client *c;
	struct dmk_ipc_cqe ce[8];
	struct fixture f;
	uint8_t *buf;
	uint64_t h;
	unsigned route, entries;
	int fd, n = 0;

	(void)state;
	start(&f, NULL);
	fill(f.disk, 8 * LBA, 6);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);
	assert_int_equal(dmk_ipc_client_rings(c, 4, &entries), 0);
	assert_int_equal(entries, 4);
	assert_int_equal(dmk_ipc_memfd_alloc(8 * LBA, (void **)&buf, &fd), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, 8 * LBA, DMK_PROT_RW, &h, &route), 0);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(dmk_ipc_client_submit(c, DMK_IPC_READ, h, i * LBA, LBA, i, i), 0);
	assert_int_equal(dmk_ipc_client_submit(c, DMK_IPC_READ, h, 4 * LBA, LBA, 4, 4), -EAGAIN);
	assert_int_equal(dmk_ipc_client_ring_read(c, h, 0, LBA, 0), -EBUSY);
	while (n < 4) {
		int k = dmk_ipc_client_reap(c, ce + n, 8 - (unsigned)n, 4 - (unsigned)n);

		assert_true(k > 0);
		n += k;
	}
	assert_int_equal(dmk_ipc_client_reap(c, ce, 8, 0), 0);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(ce[i].status, 0);
	for (unsigned i = 4; i < 8; i++)
		assert_int_equal(dmk_ipc_client_submit(c, DMK_IPC_READ, h, i * LBA, LBA, i, i), 0);
	assert_int_equal(dmk_ipc_client_reap(c, ce, 8, 4), 4);
	assert_int_equal(differs(buf, 8 * LBA, 6), -1);
	dmk_ipc_client_close(c);
	munmap(buf, 8 * LBA);
	close(fd);
	stop(&f);
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

static void raw_rings(const char *path, unsigned entries, struct raw_ring *r)
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

static uint64_t raw_register(struct raw_ring *r, int mfd, uint64_t len)
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

/* Publish one entry and ring the doorbell; wait for its completion. */
static struct dmk_ipc_cqe raw_do(struct raw_ring *r, struct dmk_ipc_sqe e)
{
	uint64_t one = 1;
	struct dmk_ipc_cqe ce;

	r->sq[r->tail & (r->entries - 1)] = e;
	r->tail++;
	__atomic_store_n(&r->hdr->sq_tail, r->tail, __ATOMIC_SEQ_CST);
	assert_int_equal(write(r->req, &one, sizeof(one)), sizeof(one));
	for (int i = 0; i < 5000 && __atomic_load_n(&r->hdr->cq_tail, __ATOMIC_ACQUIRE) == r->head; i++)
		usleep(1000);
	assert_true(__atomic_load_n(&r->hdr->cq_tail, __ATOMIC_ACQUIRE) == r->head + 1);
	ce = r->cq[r->head & (r->entries - 1)];
	r->head++;
	__atomic_store_n(&r->hdr->cq_head, r->head, __ATOMIC_RELEASE);
	assert_true(ce.tag == e.tag);
	return ce;
}

static void raw_close(struct raw_ring *r)
{
	munmap(r->map, r->len);
	close(r->req);
	close(r->cqfd);
	close(r->sock);
}

static void test_ring_hostile_entries(void **state)
{
	struct dmk_ipc_server_stats s0, s1;
	struct dmk_ipc_client *a;
	struct raw_ring r;
	struct fixture f;
	uint8_t *ba, *bb;
	uint64_t ha, hb;
	unsigned route;
	int fa, fb;
	const struct {
		struct dmk_ipc_sqe e;	/* handle 1: this connection's region */
		int32_t status;
		const char *why;
	} bad[] = {
		{ { 77, 0, 1, 0, LBA, 0, 1 }, -EINVAL, "op 77" },
		{ { DMK_IPC_READ, 4, 1, 0, LBA, 0, 2 }, -EINVAL, "flags 0x4" },
		{ { DMK_IPC_READ, 0, 1, 3 * LBA, 2 * LBA, 0, 3 }, -EINVAL, "past region" },
		{ { DMK_IPC_READ, 0, 1, ~0ull - 10, 64 * LBA, 0, 4 }, -EINVAL, "past region" },
		{ { DMK_IPC_READ, 0, 1, 0, 0, 0, 5 }, -EINVAL, "0 bytes are not" },
		{ { DMK_IPC_READ, 0, 1, 0, 100, 0, 6 }, -EINVAL, "100 bytes are not" },
		{ { DMK_IPC_READ, 0, 1, 0, LBA, NLBA, 7 }, -ERANGE, "past the device" },
		{ { DMK_IPC_WRITE, 0, 1, 0, LBA, ~0ull, 8 }, -ERANGE, "past the device" },
		{ { DMK_IPC_READ, 0, 12345, 0, LBA, 0, 9 }, -EPERM, "handle 12345 is not a region" },
		{ { DMK_IPC_READ, 0, 0, 0, LBA, 0, 10 }, -EPERM, "handle 0 is not a region" },
	};

	(void)state;
	start(&f, NULL);
	fill(f.disk, 4 * LBA, 7);
	/* A: a well-behaved client with a region of its own */
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &a), 0);
	assert_int_equal(dmk_ipc_client_rings(a, 8, NULL), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(4 * LBA, (void **)&ba, &fa), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(a, fa, 0, 4 * LBA, DMK_PROT_RW, &ha, &route), 0);
	memset(ba, 0xee, 4 * LBA);
	/* B: hostile, its own region of 4 blocks */
	raw_rings(f.path, 8, &r);
	assert_int_equal(dmk_ipc_memfd_alloc(4 * LBA, (void **)&bb, &fb), 0);
	hb = raw_register(&r, fb, 4 * LBA);
	s0 = stats(&f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dmk_ipc_sqe e = bad[i].e;
		struct dmk_ipc_cqe ce;

		if (e.handle == 1)
			e.handle = hb;
		ce = raw_do(&r, e);
		if (ce.status != bad[i].status)
			fail_msg("entry %zu: status %d, want %d", i, ce.status, bad[i].status);
		if (!strstr(logged(&f), bad[i].why))
			fail_msg("entry %zu: the log does not say '%s'", i, bad[i].why);
	}
	/* A's handle in B's ring: refused, A's memory and the disk untouched */
	{
		struct dmk_ipc_sqe e = { DMK_IPC_READ, 0, ha, 0, 4 * LBA, 0, 50 };
		struct dmk_ipc_sqe w = { DMK_IPC_WRITE, 0, ha, 0, 4 * LBA, 0, 51 };

		assert_int_equal(raw_do(&r, e).status, -EPERM);
		assert_int_equal(raw_do(&r, w).status, -EPERM);
	}
	for (size_t i = 0; i < 4 * LBA; i++)
		assert_int_equal(ba[i], 0xee);
	assert_int_equal(differs(f.disk, 4 * LBA, 7), -1);
	s1 = stats(&f);
	assert_true(s1.refused - s0.refused == sizeof(bad) / sizeof(bad[0]) + 2);
	assert_true(s1.forged - s0.forged == 4);
	assert_true(s1.requests == s0.requests && s1.dropped == 0);
	assert_non_null(strstr(logged(&f), "refused a ring entry (tag 51)"));

	/* B's connection keeps working, on the ring and on the socket */
	{
		struct dmk_ipc_sqe e = { DMK_IPC_READ, 0, hb, 0, 4 * LBA, 0, 60 };

		assert_int_equal(raw_do(&r, e).status, 0);
		assert_int_equal(differs(bb, 4 * LBA, 7), -1);
	}
	/* indices that cannot be: B alone is closed */
	__atomic_store_n(&r.hdr->cq_head, r.head + 1000, __ATOMIC_SEQ_CST);
	{
		uint64_t one = 1;

		r.sq[r.tail & (r.entries - 1)] = (struct dmk_ipc_sqe){ DMK_IPC_READ, 0, hb, 0, LBA, 0, 61 };
		__atomic_store_n(&r.hdr->sq_tail, ++r.tail, __ATOMIC_SEQ_CST);
		assert_int_equal(write(r.req, &one, sizeof(one)), sizeof(one));
	}
	assert_dropped(r.sock, -EPROTO);
	r.sock = -1;
	assert_non_null(strstr(logged(&f), "ring indices out of bounds"));
	for (int i = 0; i < 500 && stats(&f).clients != 1; i++)
		usleep(10000);
	assert_true(stats(&f).clients == 1 && stats(&f).dropped == 1);
	/* A goes on */
	assert_int_equal(dmk_ipc_client_ring_read(a, ha, 0, 4 * LBA, 0), 0);
	assert_int_equal(differs(ba, 4 * LBA, 7), -1);
	raw_close(&r);
	dmk_ipc_client_close(a);
	munmap(ba, 4 * LBA);
	munmap(bb, 4 * LBA);
	close(fa);
	close(fb);
	stop(&f);
}

/* A forged handle through the client library's ring: -EPERM back. */
static void test_ring_forged_handle(void **state)
{
	struct dmk_ipc_client *a, *b;
	struct fixture f;
	uint8_t *ba;
	uint64_t ha;
	unsigned route;
	int fa;

	(void)state;
	start(&f, NULL);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &a), 0);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &b), 0);
	assert_int_equal(dmk_ipc_client_rings(b, 2, NULL), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(LBA, (void **)&ba, &fa), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(a, fa, 0, LBA, DMK_PROT_RW, &ha, &route), 0);
	memset(ba, 0x5a, LBA);
	assert_int_equal(dmk_ipc_client_ring_read(b, ha, 0, LBA, 0), -EPERM);
	assert_int_equal(dmk_ipc_client_ring_write(b, ha, 0, LBA, 0), -EPERM);
	assert_int_equal(dmk_ipc_client_ring_read(b, ha + 1000, 0, LBA, 0), -EPERM);
	for (size_t i = 0; i < LBA; i++)
		assert_int_equal(ba[i], 0x5a);
	assert_true(stats(&f).forged == 3);
	assert_non_null(strstr(logged(&f), "not a region of this connection"));
	assert_int_equal(dmk_ipc_client_read(a, ha, 0, LBA, 0), 0);
	dmk_ipc_client_close(a);
	dmk_ipc_client_close(b);
	munmap(ba, LBA);
	close(fa);
	stop(&f);
}

/* Mappings of client buffers (dmk_ipc_memfd_alloc) in this process: the
 * test's own and the daemon's (a thread here). */
static int buffer_maps(void)
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

/*
 * In-flight draining: a client with four ring entries held by the device
 * is killed with SIGKILL. The daemon keeps its region registered and
 * mapped until the device completes them (the held write then carries the
 * dead client's bytes to the disk), serves another client meanwhile, and
 * releases the region after the last completion.
 */
static void test_drain_on_sigkill(void **state)
{
	struct dmk_ipc_client *b;
	struct fixture f;
	uint8_t *buf;
	uint64_t h;
	unsigned route;
	int pipefd[2], fd, st, maps;
	char ready;
	pid_t pid;

	(void)state;
	start(&f, NULL);
	fill(f.disk, 8 * LBA, 12);
	assert_int_equal(dmk_ipc_backend_sim_hold(f.be, 4), 0);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct dmk_ipc_client *c;

		close(pipefd[0]);
		if (dmk_ipc_client_connect(f.path, NULL, &c) || dmk_ipc_client_rings(c, 8, NULL) ||
		    dmk_ipc_memfd_alloc(8 * LBA, (void **)&buf, &fd) ||
		    dmk_ipc_client_register_memfd(c, fd, 0, 8 * LBA, DMK_PROT_RW, &h, &route))
			_exit(1);
		fill(buf + 4 * LBA, 4 * LBA, 9);
		for (unsigned i = 0; i < 3; i++)
			if (dmk_ipc_client_submit(c, DMK_IPC_READ, h, i * LBA, LBA, i, i))
				_exit(2);
		if (dmk_ipc_client_submit(c, DMK_IPC_WRITE, h, 4 * LBA, 4 * LBA, 200, 3))
			_exit(3);
		if (write(pipefd[1], "r", 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], &ready, 1), 1);
	close(pipefd[0]);
	for (int i = 0; i < 500 && dmk_ipc_backend_sim_held(f.be) != 4; i++)
		usleep(10000);
	assert_int_equal(dmk_ipc_backend_sim_held(f.be), 4);
	/* counted once the daemon's batch of entries is done */
	for (int i = 0; i < 500 && stats(&f).inflight != 4; i++)
		usleep(10000);
	assert_true(stats(&f).inflight == 4 && stats(&f).drained == 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	for (int i = 0; i < 500 && stats(&f).clients != 0; i++)
		usleep(10000);
	assert_true(stats(&f).clients == 0);
	assert_non_null(strstr(logged(&f), "4 request(s) on the device: 1 region(s) kept until they complete"));
	/* not unmapped, not unregistered: the device still holds the requests */
	assert_true(stats(&f).regions == 1);
	assert_int_equal(buffer_maps(), 1);

	/* the daemon serves another client meanwhile, on the ring and the socket */
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &b), 0);
	assert_int_equal(dmk_ipc_client_rings(b, 4, NULL), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(8 * LBA, (void **)&buf, &fd), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(b, fd, 0, 8 * LBA, DMK_PROT_RW, &h, &route), 0);
	assert_int_equal(dmk_ipc_client_ring_read(b, h, 0, 8 * LBA, 0), 0);
	assert_int_equal(differs(buf, 8 * LBA, 12), -1);
	memset(buf, 0, 8 * LBA);
	assert_int_equal(dmk_ipc_client_read(b, h, 0, 8 * LBA, 0), 0);
	assert_int_equal(differs(buf, 8 * LBA, 12), -1);
	maps = buffer_maps();
	assert_int_equal(maps, 3);
	assert_true(stats(&f).regions == 2);

	/* the device completes them: the dead client's bytes reach the disk */
	assert_int_equal(dmk_ipc_backend_sim_release(f.be), 4);
	for (int i = 0; i < 500 && !strstr(logged(&f), "drained, 1 region(s) released"); i++)
		usleep(10000);
	assert_non_null(strstr(logged(&f), "drained, 1 region(s) released"));
	assert_null(strstr(logged(&f), "on the device: error"));
	assert_true(stats(&f).inflight == 0 && stats(&f).drained == 1);
	assert_int_equal(differs(f.disk + 200 * LBA, 4 * LBA, 9), -1);
	assert_true(stats(&f).regions == 1);
	assert_int_equal(buffer_maps(), maps - 1);

	/* B goes on */
	assert_int_equal(dmk_ipc_client_ring_read(b, h, 0, 4 * LBA, 200), 0);
	assert_int_equal(differs(buf, 4 * LBA, 9), -1);
	dmk_ipc_client_close(b);
	munmap(buf, 8 * LBA);
	close(fd);
	stop(&f);
}

/* A live client's held entries complete on its ring once released; its
 * region cannot be unregistered meanwhile. */
static void test_inflight_completions(void **state)
{
	struct dmk_ipc_client *c;
	struct dmk_ipc_cqe ce[4];
	struct fixture f;
	uint8_t *buf;
	uint64_t h;
	unsigned route;
	int fd, n = 0;

	(void)state;
	start(&f, NULL);
	fill(f.disk, 4 * LBA, 13);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);
	assert_int_equal(dmk_ipc_client_rings(c, 4, NULL), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(4 * LBA, (void **)&buf, &fd), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, 4 * LBA, DMK_PROT_RW, &h, &route), 0);
	assert_int_equal(dmk_ipc_backend_sim_hold(f.be, 2), 0);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(dmk_ipc_client_submit(c, DMK_IPC_READ, h, i * LBA, LBA, i, i), 0);
	/* the two not held complete; the two held stay in flight */
	while (n < 2) {
		int k = dmk_ipc_client_reap(c, ce + n, 4, 1);

		assert_true(k > 0);
		n += k;
	}
	assert_int_equal(n, 2);
	assert_int_equal(dmk_ipc_backend_sim_held(f.be), 2);
	assert_int_equal(dmk_ipc_client_unregister(c, h), -EBUSY);
	assert_int_equal(dmk_ipc_client_reap(c, ce, 4, 0), 0);
	assert_int_equal(dmk_ipc_backend_sim_release(f.be), 2);
	assert_int_equal(dmk_ipc_client_reap(c, ce + 2, 2, 2), 2);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(ce[i].status, 0);
	assert_true(ce[2].tag + ce[3].tag == 0 + 1); /* the held ones: the first two */
	assert_int_equal(differs(buf, 4 * LBA, 13), -1);
	assert_int_equal(dmk_ipc_client_unregister(c, h), 0);
	dmk_ipc_client_close(c);
	munmap(buf, 4 * LBA);
	close(fd);
	stop(&f);
}

/* A server destroyed with ring entries on the device: the device finishes
 * them (the held sim transfers are released) before any memory goes. */
static void test_destroy_quiesces(void **state)
{
	struct dmk_ipc_client *c;
	struct fixture f;
	uint8_t *buf;
	uint64_t h;
	unsigned route;
	int fd;
	void *ret;

	(void)state;
	start(&f, NULL);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);
	assert_int_equal(dmk_ipc_client_rings(c, 4, NULL), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(4 * LBA, (void **)&buf, &fd), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, 4 * LBA, DMK_PROT_RW, &h, &route), 0);
	fill(buf, 4 * LBA, 14);
	assert_int_equal(dmk_ipc_backend_sim_hold(f.be, 2), 0);
	assert_int_equal(dmk_ipc_client_submit(c, DMK_IPC_WRITE, h, 0, 2 * LBA, 300, 0), 0);
	assert_int_equal(dmk_ipc_client_submit(c, DMK_IPC_WRITE, h, 2 * LBA, 2 * LBA, 302, 1), 0);
	for (int i = 0; i < 500 && stats(&f).inflight != 2; i++)
		usleep(10000);
	assert_true(stats(&f).inflight == 2);
	assert_true(differs(f.disk + 300 * LBA, 4 * LBA, 14) != -1);
	dmk_ipc_server_stop(f.srv);
	pthread_join(f.thread, &ret);
	assert_int_equal(dmk_ipc_server_destroy(f.srv), 0);
	assert_int_equal(dmk_ipc_backend_sim_held(f.be), 0);
	assert_int_equal(differs(f.disk + 300 * LBA, 4 * LBA, 14), -1);
	assert_non_null(strstr(logged(&f), "2 request(s) on the device: waiting for them"));
	assert_non_null(strstr(logged(&f), "drained, 1 region(s) released"));
	assert_int_equal(dmk_ipc_backend_destroy(f.be), 0);	/* nothing left registered */
	close(f.log_fd);
	rmdir(f.dir);
	dmk_ipc_client_close(c);
	munmap(buf, 4 * LBA);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drain_on_sigkill),
		cmocka_unit_test(test_inflight_completions),
		cmocka_unit_test(test_destroy_quiesces),
		cmocka_unit_test(test_rings_both_ways),
		cmocka_unit_test(test_ring_full),
		cmocka_unit_test(test_ring_hostile_entries),
		cmocka_unit_test(test_ring_forged_handle),
		cmocka_unit_test(test_sim_backend_needs_registration),
		cmocka_unit_test(test_memfd_route),
		cmocka_unit_test(test_copy_route),
		cmocka_unit_test(test_pool_route),
		cmocka_unit_test(test_forged_handle),
		cmocka_unit_test(test_hostile_disconnects_only_sender),
		cmocka_unit_test(test_sigkill_client),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_daemon_pinned_cap),
		cmocka_unit_test(test_routes_not_implemented),
		cmocka_unit_test(test_daemon_gone),
		cmocka_unit_test(test_dmakitd_process),
		cmocka_unit_test(test_unread_answers),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
