/* SPDX-License-Identifier: MIT */
/*
 * The driver daemon's shared-memory rings on the host (a server thread on
 * the sim backend, clients forked and in this process): data both ways,
 * a full ring, hostile and forged entries each completed with their errno,
 * entries the sim device holds in flight (dmk_ipc_backend_sim_hold()), a
 * client killed with SIGKILL while the device holds its entries (the
 * daemon drains them before its memory goes), and a server destroyed with
 * entries on the device.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "ipc_fixture.h"

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
	disk_sync(&f);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_rings(f.path));
	rc = wait_child(pid);
	if (rc)
		fail_msg("the ring client failed at step %d (%s)", rc, logged(&f));
	disk_sync(&f);
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

static void test_ring_hostile_entries(void **state)
{
	struct dmk_ipc_server_stats s0, s1;
	struct dmk_ipc_client *a;
	struct raw_ring r;
	struct fixture f;
	uint8_t *ba, *bb;
	uint64_t ha, hb;
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
	ring_client(&f, 8, 4 * LBA, &a, &ba, &fa, &ha);
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
	ring_client(&f, 4, 8 * LBA, &b, &buf, &fd, &h);
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
	int fd, n = 0;

	(void)state;
	start(&f, NULL);
	fill(f.disk, 4 * LBA, 13);
	ring_client(&f, 4, 4 * LBA, &c, &buf, &fd, &h);
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
	int fd;
	void *ret;

	(void)state;
	start(&f, NULL);
	ring_client(&f, 4, 4 * LBA, &c, &buf, &fd, &h);
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
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
