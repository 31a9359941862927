/* SPDX-License-Identifier: MIT */
/*
 * The driver daemon and the client library (include/dmakit/ipc_server.h,
 * ipc_client.h) on the host, requests on the socket: a server thread on the
 * sim backend, clients in forked child processes and in this one. Data
 * both ways through the memfd, copy and pool routes, checked byte for byte
 * against the RAM disk; a forged handle refused and logged with the
 * connection kept; a hostile message disconnecting only its sender; the
 * connection's and the daemon's limits; a client killed with SIGKILL
 * leaving the daemon serving; the daemon gone giving -ECONNRESET;
 * tools/dmakitd as a process of its own (DMKITD). The rings are
 * test_ipc_ring.c's.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "ipc_fixture.h"

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
	disk_sync(&f);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_client(f.path, how));
	rc = wait_child(pid);
	if (rc)
		fail_msg("the client failed at step %d", rc);
	disk_sync(&f);
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
	disk_sync(&f);
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

/* What a sim server says it serves: memfd and pool always, copy with a
 * bounce buffer only, never the lease route (no VFIO container). */
static void test_server_routes(void **state)
{
	const unsigned base = 1u << DMK_IPC_ROUTE_MEMFD | 1u << DMK_IPC_ROUTE_POOL;
	struct dmk_ipc_server_opts o;
	struct dmk_ipc_backend *be;
	struct dmk_ipc_server *srv;
	char dir[] = "/tmp/dmk-ipc-XXXXXX", path[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	assert_int_equal(dmk_ipc_backend_sim_create(LBA, NLBA, &be), 0);
	dmk_ipc_server_opts_init(&o);
	o.log_fd = -1;
	assert_int_equal(dmk_ipc_server_create(path, be, &o, &srv), 0);
	assert_int_equal(dmk_ipc_server_routes(srv), base | 1u << DMK_IPC_ROUTE_COPY);
	assert_int_equal(dmk_ipc_server_destroy(srv), 0);
	o.bounce_size = 0;
	assert_int_equal(dmk_ipc_server_create(path, be, &o, &srv), 0);
	assert_int_equal(dmk_ipc_server_routes(srv), base);
	assert_int_equal(dmk_ipc_server_destroy(srv), 0);
	assert_int_equal(dmk_ipc_backend_destroy(be), 0);
	rmdir(dir);
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

/* A failed step: the daemon goes too (it holds the test's output open). */
static void daemon_fail(pid_t d, const char *what, int rc)
{
	kill(d, SIGKILL);
	waitpid(d, NULL, 0);
	fail_msg("%s failed at step %d", what, rc);
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
	if (rc)
		daemon_fail(d, "connecting to dmakitd", rc);
	dmk_ipc_client_close(c);
	a = fork();
	assert_true(a >= 0);
	if (a == 0)
		_exit(app_write(path));
	rc = wait_child(a);
	if (rc)
		daemon_fail(d, "the writing application", rc);
	a = fork();
	assert_true(a >= 0);
	if (a == 0)
		_exit(app_read(path));
	rc = wait_child(a);
	if (rc)
		daemon_fail(d, "the reading application", rc);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
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
		cmocka_unit_test(test_server_routes),
		cmocka_unit_test(test_daemon_gone),
		cmocka_unit_test(test_dmakitd_process),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
