/* SPDX-License-Identifier: MIT */
/*
 * One client's behaviour neither stalls nor locks out the others
 * (include/dmakit/ipc_server.h), on the sim backend. A client that never
 * reads its answers: once its socket is full, DMK_IPC_SERVER_QUEUE of them
 * are queued, the next closes it, and its regions go as on any disconnect
 * (after the device is done with its ring entries); queued answers go in
 * order, each with its descriptors, once it reads; four such clients
 * flooding requests cost a well-behaved client no write+read cycle over
 * 200 ms. Connections that never say HELLO: each gives its slot up to a
 * newcomer, and is closed at the deadline; no uid holds more than its
 * share of the slots (two uids: root only); a refused client is told why,
 * and dmk_ipc_client_connect() says it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <dirent.h>
#include <grp.h>
#include <poll.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "ipc_fixture.h"

#define FORGED 999999u	/* a handle the server never gave */
#define BOUND_US 200000u	/* the most a good client's cycle may take */

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Bytes of answers waiting on @fd to be read. */
static int unread(int fd)
{
	int n = 0;

	assert_int_equal(ioctl(fd, SIOCINQ, &n), 0);
	return n;
}

static bool hung_up(int fd)
{
	struct pollfd p = { fd, 0, 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLHUP);
}

/* A READ of a handle no one was given: refused (-EPERM), the connection kept. */
static struct dmk_ipc_msg forged_read(uint64_t seq)
{
	struct dmk_ipc_msg m;

	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_READ;
	m.seq = seq;
	m.io.handle = FORGED;
	m.io.length = LBA;
	return m;
}

/*
 * Send @m on @fd, then a request of @barrier's: the server serves the
 * slots of a round in order and @barrier's slot comes after @fd's, so once
 * @barrier has its answer, @m has been served and whatever followed it (an
 * answer sent or queued, the connection closed).
 */
static void send_served(int fd, const struct dmk_ipc_msg *m, struct dmk_ipc_client *barrier)
{
	int rc = dmk_ipc_send(fd, m, -1);

	if (rc)
		fail_msg("sending request %llu: %s", (unsigned long long)m->seq, dmk_last_error());
	assert_int_equal(dmk_ipc_client_unregister(barrier, FORGED), -EPERM);
}

/* Lines of the server's log that say @what. */
static unsigned log_count(struct fixture *f, const char *what)
{
	unsigned n = 0;

	for (const char *p = logged(f); (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* Wait until the server has taken in @n connections, accepted or refused. */
static void wait_taken(struct fixture *f, unsigned n)
{
	for (int i = 0; i < 500; i++) {
		if (stats(f).accepted + log_count(f, "a connection refused") >= n)
			return;
		usleep(10000);
	}
	fail_msg("the server took in %llu connections, refused %u, of %u",
		 (unsigned long long)stats(f).accepted, log_count(f, "a connection refused"), n);
}

static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/*
 * A client with rings, a memfd region and a ring entry the device holds
 * sends requests and never reads: its socket fills, then exactly
 * DMK_IPC_SERVER_QUEUE answers are queued, the next closes the connection
 * ("answers not taken"); its region stays registered and mapped until the
 * device is done, then goes, as on any disconnect. What reached its socket
 * is still there to read, in order.
 */
static void test_unread_answers_queued_then_closed(void **state)
{
	struct dmk_ipc_client *b;
	struct dmk_ipc_msg m;
	struct raw_ring r;
	struct fixture f;
	unsigned in_socket = 0, queued = 0;
	uint64_t seq, h;
	uint8_t *buf;
	int mfd, maps, last;

	(void)state;
	start(&f, NULL);
	raw_rings(f.path, 4, &r);
	assert_int_equal(dmk_ipc_memfd_alloc(4 * LBA, (void **)&buf, &mfd), 0);
	h = raw_register(&r, mfd, 4 * LBA);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &b), 0);
	maps = buffer_maps();
	assert_int_equal(maps, 2);	/* ours and the daemon's */
	assert_int_equal(dmk_ipc_backend_sim_hold(f.be, 1), 0);
	raw_submit(&r, (struct dmk_ipc_sqe){ .op = DMK_IPC_READ, .handle = h, .length = LBA, .tag = 7 });
	for (int i = 0; i < 500 && dmk_ipc_backend_sim_held(f.be) != 1; i++)
		usleep(10000);
	assert_int_equal(dmk_ipc_backend_sim_held(f.be), 1);

	last = unread(r.sock);
	for (seq = 10; !hung_up(r.sock); seq++) {
		int now;

		if (seq == 10000)
			fail_msg("9990 answers unread and the connection still open");
		m = forged_read(seq);
		send_served(r.sock, &m, b);
		if (hung_up(r.sock))
			break;
		now = unread(r.sock);
		if (now > last) {
			assert_int_equal(queued, 0);	/* in order: none passes the queue */
			in_socket++;
		} else {
			queued++;
		}
		last = now;
	}
	print_message("# %u answers in the socket, %u queued, the connection closed at the next\n",
		      in_socket, queued);
	assert_true(in_socket > 0);
	assert_int_equal(queued, DMK_IPC_SERVER_QUEUE);
	assert_non_null(strstr(logged(&f), "answers not taken"));
	assert_non_null(strstr(logged(&f), "1 request(s) on the device: 1 region(s) kept"));
	assert_int_equal(stats(&f).clients, 1);
	assert_int_equal(stats(&f).regions, 1);
	assert_int_equal(buffer_maps(), maps);	/* the device may still write there */
	assert_int_equal(dmk_ipc_backend_sim_release(f.be), 1);
	for (int i = 0; i < 500 && stats(&f).regions; i++)
		usleep(10000);
	assert_int_equal(stats(&f).regions, 0);
	assert_int_equal(stats(&f).drained, 1);
	assert_int_equal(buffer_maps(), maps - 1);
	for (unsigned i = 0; i < in_socket; i++) {
		assert_int_equal(dmk_ipc_recv(r.sock, &m, NULL), 0);
		assert_int_equal(m.type, DMK_IPC_ERROR);
		assert_int_equal(m.error.err, -EPERM);
		assert_int_equal(m.seq, 10 + i);
	}
	assert_int_equal(dmk_ipc_recv(r.sock, &m, NULL), -ECONNRESET);
	/* the others were served throughout */
	assert_int_equal(dmk_ipc_client_unregister(b, FORGED), -EPERM);
	dmk_ipc_client_close(b);
	raw_close(&r);
	munmap(buf, 4 * LBA);
	close(mfd);
	stop(&f);
}

/*
 * Answers queued behind a full socket keep their order and their
 * descriptors (a pool REGISTER's memfd, RINGS's three) and go once the
 * client reads; the connection serves on; the daemon keeps no descriptor
 * of it once it is gone.
 */
static void test_queued_answers_keep_descriptors(void **state)
{
	struct dmk_ipc_client *b;
	struct dmk_ipc_msg m;
	struct fixture f;
	uint64_t seq, pool_h = 0;
	uint8_t *pool = NULL;
	unsigned fds0;
	int hfd, last;

	(void)state;
	start(&f, NULL);
	fill(f.disk, LBA, 21);
	hfd = raw_hello(f.path);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &b), 0);
	fds0 = open_fds();
	last = unread(hfd);
	for (seq = 10;; seq++) {
		int now;

		assert_true(seq < 10000);
		m = forged_read(seq);
		send_served(hfd, &m, b);
		if (hung_up(hfd))
			fail_msg("closed at answer %llu, none of them queued", (unsigned long long)seq);
		now = unread(hfd);
		if (now == last)
			break;	/* answer @seq waits in the queue */
		last = now;
	}
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_REGISTER;
	m.seq = seq + 1;
	m.reg.route = DMK_IPC_ROUTE_POOL;
	m.reg.prot = DMK_PROT_RW;
	m.reg.length = 4 * LBA;
	send_served(hfd, &m, b);
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_RINGS;
	m.seq = seq + 2;
	m.rings.entries = 4;
	send_served(hfd, &m, b);
	m = forged_read(seq + 3);
	send_served(hfd, &m, b);
	assert_int_equal(unread(hfd), last);	/* all four queued */
	assert_false(hung_up(hfd));

	for (uint64_t q = 10; q <= seq + 3; q++) {
		int fds[4];
		unsigned n;

		assert_int_equal(dmk_ipc_recv_fds(hfd, &m, fds, 4, &n), 0);
		assert_int_equal(m.seq, q);
		if (q == seq + 1) {
			struct stat st;

			assert_int_equal(m.type, DMK_IPC_COMPLETION);
			assert_int_equal(m.comp.route, DMK_IPC_ROUTE_POOL);
			assert_int_equal(n, 1);
			assert_int_equal(fstat(fds[0], &st), 0);
			assert_true(st.st_size >= 4 * LBA);
			pool = mmap(NULL, 4 * LBA, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
			assert_true(pool != MAP_FAILED);
			pool_h = m.comp.handle;
			close(fds[0]);
		} else if (q == seq + 2) {
			assert_int_equal(m.type, DMK_IPC_RINGS);
			assert_int_equal(n, 3);
			for (unsigned i = 0; i < n; i++)
				close(fds[i]);
		} else {
			assert_int_equal(m.type, DMK_IPC_ERROR);
			assert_int_equal(m.error.err, -EPERM);
			assert_int_equal(n, 0);
		}
	}
	/* the connection serves on: the device writes the pool's pages */
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_READ;
	m.seq = seq + 4;
	m.io.handle = pool_h;
	m.io.length = LBA;
	assert_int_equal(dmk_ipc_send(hfd, &m, -1), 0);
	assert_int_equal(dmk_ipc_recv(hfd, &m, NULL), 0);
	assert_int_equal(m.type, DMK_IPC_COMPLETION);
	assert_int_equal(m.comp.status, 0);
	assert_int_equal(differs(pool, LBA, 21), -1);
	munmap(pool, 4 * LBA);
	close(hfd);
	for (int i = 0; i < 500 && stats(&f).clients != 1; i++)
		usleep(10000);
	assert_int_equal(stats(&f).clients, 1);
	assert_int_equal(open_fds(), fds0 - 2);	/* our end and the daemon's */
	dmk_ipc_client_close(b);
	stop(&f);
}

/* A client that says HELLO and then floods requests, never reading an
 * answer; when the server closes it, another like it. No cmocka here:
 * this runs in a thread. */
struct flood {
	const char *path;
	int stop;
	unsigned conns;
};

static int quiet_hello(const char *path)
{
	struct sockaddr_un sa;
	struct dmk_ipc_msg m;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_HELLO;
	m.seq = 1;
	m.hello.version = DMK_IPC_VERSION;
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    dmk_ipc_send(fd, &m, -1) != 0 || dmk_ipc_recv(fd, &m, NULL) != 0 ||
	    m.type != DMK_IPC_HELLO) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void *flood(void *arg)
{
	struct flood *fl = arg;

	while (!__atomic_load_n(&fl->stop, __ATOMIC_RELAXED)) {
		int fd = quiet_hello(fl->path);

		if (fd < 0) {
			usleep(1000);
			continue;
		}
		__atomic_add_fetch(&fl->conns, 1, __ATOMIC_RELAXED);
		for (uint64_t seq = 2; !__atomic_load_n(&fl->stop, __ATOMIC_RELAXED); seq++) {
			struct dmk_ipc_msg m = forged_read(seq);
			uint8_t raw[DMK_IPC_MSG_MAX];
			size_t len;
			ssize_t n;

			if (dmk_ipc_encode(&m, raw, sizeof(raw), &len) != 0)
				break;
			n = send(fd, raw, len, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0 && errno == EAGAIN)
				usleep(100);
			else if (n < 0)
				break;	/* closed: another one */
		}
		close(fd);
	}
	return NULL;
}

/*
 * Four clients flood requests and never read an answer (each closed by
 * the server in turn, and back at once) while a good client writes and
 * reads 4 KiB for 2 s: every one of its cycles ends within 200 ms (alone
 * one takes about a millisecond; a server that waits a second for a full
 * socket fails this at once).
 */
static void test_non_readers_do_not_stall(void **state)
{
	struct flood fl[4];
	pthread_t th[4];
	struct dmk_ipc_client *c;
	struct fixture f;
	uint64_t h, t_end, worst = 0, total = 0;
	unsigned route, cycles = 0, conns = 0;
	uint8_t *buf;
	int fd;

	(void)state;
	start(&f, NULL);
	for (unsigned i = 0; i < 4; i++) {
		fl[i] = (struct flood){ f.path, 0, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, flood, &fl[i]), 0);
	}
	for (int i = 0; i < 500 && log_count(&f, "answers not taken") < 4; i++)
		usleep(10000);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(8 * LBA, (void **)&buf, &fd), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, 8 * LBA, DMK_PROT_RW, &h, &route), 0);
	t_end = now_us() + 2000000u;
	while (now_us() < t_end) {
		uint64_t t0 = now_us(), dt;

		fill(buf, 8 * LBA, cycles);
		assert_int_equal(dmk_ipc_client_write(c, h, 0, 8 * LBA, 100), 0);
		memset(buf, 0, 8 * LBA);
		assert_int_equal(dmk_ipc_client_read(c, h, 0, 8 * LBA, 100), 0);
		dt = now_us() - t0;
		assert_int_equal(differs(buf, 8 * LBA, cycles), -1);
		if (dt > worst)
			worst = dt;
		total += dt;
		cycles++;
	}
	for (unsigned i = 0; i < 4; i++)
		__atomic_store_n(&fl[i].stop, 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		conns += fl[i].conns;
	}
	print_message("# %u cycles in 2 s, mean %.2f ms, worst %.2f ms (bound %.0f ms); %u flooding connections, %u closed for answers not taken\n",
		      cycles, (double)total / cycles / 1000.0, (double)worst / 1000.0, BOUND_US / 1000.0,
		      conns, log_count(&f, "answers not taken"));
	assert_true(worst < BOUND_US);
	assert_true(cycles >= 20);
	assert_true(log_count(&f, "answers not taken") >= 4);
	dmk_ipc_client_close(c);
	munmap(buf, 8 * LBA);
	close(fd);
	stop(&f);
}

/* A message waiting on @fd within @ms: an ERROR @err whose reason has
 * @what; @fd closed. */
static void assert_told(int fd, int ms, int err, const char *what)
{
	struct pollfd p = { fd, POLLIN, 0 };
	struct dmk_ipc_msg m;

	assert_int_equal(poll(&p, 1, ms), 1);
	assert_int_equal(dmk_ipc_recv(fd, &m, NULL), 0);
	assert_int_equal(m.type, DMK_IPC_ERROR);
	assert_int_equal(m.error.err, err);
	if (!strstr(m.error.reason, what))
		fail_msg("told \"%s\", not \"%s\"", m.error.reason, what);
	close(fd);
}

/*
 * 80 connections that never say HELLO, one uid, the defaults: they hold
 * 32 slots (half of 64), each newer one taking the slot of the oldest; a
 * good client of that uid gets in at once the same way; the others are
 * closed at the HELLO deadline, 2 s. Each is told why.
 */
static void test_idle_connections_give_way(void **state)
{
	struct dmk_ipc_client *c;
	struct fixture f;
	unsigned gave_way = 0, timed_out = 0;
	uint64_t t0, t1 = 0;
	int idle[80], rc;

	(void)state;
	start(&f, NULL);
	t0 = now_us();
	for (unsigned i = 0; i < 80; i++)
		idle[i] = raw_connect(f.path);
	wait_taken(&f, 80);
	assert_int_equal(stats(&f).clients, 32);
	rc = dmk_ipc_client_connect(f.path, NULL, &c);
	print_message("# a client beside 80 idle connections: %d \"%s\"\n", rc,
		      rc ? dmk_last_error() : "");
	assert_int_equal(rc, 0);
	assert_int_equal(stats(&f).clients, 32);
	for (unsigned i = 0; i < 80; i++) {
		struct pollfd p = { idle[i], POLLIN, 0 };

		if (poll(&p, 1, 0) == 1) {
			assert_told(idle[i], 0, -EUSERS, "no HELLO yet, and a newer connection of its uid needed the slot");
			idle[i] = -1;
			gave_way++;
		}
	}
	assert_int_equal(gave_way, 49);
	for (unsigned i = 0; i < 80; i++) {
		if (idle[i] < 0)
			continue;
		assert_told(idle[i], 4000, -ETIMEDOUT, "no HELLO within 2000 ms");
		if (!timed_out++)
			t1 = now_us();
		if (t1 - t0 < 2000000u)
			fail_msg("closed %.3f s after connecting: before the deadline", (t1 - t0) / 1e6);
	}
	print_message("# the other idle ones closed %.2f s after they connected (deadline 2 s)\n",
		      (t1 - t0) / 1e6);
	assert_int_equal(timed_out, 31);
	assert_int_equal(stats(&f).turned_away, 49 + 31);
	assert_int_equal(dmk_ipc_client_unregister(c, FORGED), -EPERM);	/* served on */
	dmk_ipc_client_close(c);
	stop(&f);
}

/*
 * Refused with the real reason, one uid: its share held by connections
 * that said HELLO (-EDQUOT, "uid U holds its share"); every slot taken
 * (-EUSERS, "4 clients already"), then one freed and taken; the deadline
 * set to 300 ms. Options out of range are refused.
 */
static void test_refused_told_why(void **state)
{
	struct dmk_ipc_server_opts o;
	struct dmk_ipc_server *srv;
	struct dmk_ipc_backend *be;
	struct dmk_ipc_client *c;
	struct fixture f;
	char share[96];
	int held[32], rc, idle;
	uint64_t t0;

	(void)state;
	start(&f, NULL);
	for (unsigned i = 0; i < 32; i++)
		held[i] = raw_hello(f.path);
	rc = dmk_ipc_client_connect(f.path, NULL, &c);
	print_message("# its uid's 32 slots taken: %d \"%s\"\n", rc, dmk_last_error());
	assert_int_equal(rc, -EDQUOT);
	snprintf(share, sizeof(share), "daemon: uid %u holds its share: 32 of the daemon's 64 connections",
		 (unsigned)getuid());
	assert_string_equal(dmk_last_error(), share);
	assert_told(raw_connect(f.path), 2000, -EDQUOT, share + strlen("daemon: "));
	for (unsigned i = 0; i < 32; i++)
		close(held[i]);
	stop(&f);

	dmk_ipc_server_opts_init(&o);
	assert_int_equal(o.hello_timeout_ms, 2000);
	assert_int_equal(o.max_clients_per_uid, 0);
	o.max_clients = 4;
	o.max_clients_per_uid = 4;
	o.hello_timeout_ms = 300;
	start(&f, &o);
	for (unsigned i = 0; i < 4; i++)
		held[i] = raw_hello(f.path);
	rc = dmk_ipc_client_connect(f.path, NULL, &c);
	print_message("# all 4 slots taken: %d \"%s\"\n", rc, dmk_last_error());
	assert_int_equal(rc, -EUSERS);
	assert_string_equal(dmk_last_error(), "daemon: 4 clients already");
	close(held[0]);
	for (int i = 0; i < 500 && stats(&f).clients != 3; i++)
		usleep(10000);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);
	dmk_ipc_client_close(c);
	for (int i = 0; i < 500 && stats(&f).clients != 3; i++)
		usleep(10000);
	t0 = now_us();
	idle = raw_connect(f.path);
	assert_told(idle, 2000, -ETIMEDOUT, "no HELLO within 300 ms");
	print_message("# an idle connection closed after %.0f ms (deadline 300 ms)\n",
		      (now_us() - t0) / 1e3);
	assert_true(now_us() - t0 >= 300000u);
	for (unsigned i = 1; i < 4; i++)
		close(held[i]);
	stop(&f);

	assert_int_equal(dmk_ipc_backend_sim_create(LBA, 16, &be), 0);
	dmk_ipc_server_opts_init(&o);
	o.max_clients = 4;
	o.max_clients_per_uid = 5;
	assert_int_equal(dmk_ipc_server_create("/tmp/dmk-fair-bad.sock", be, &o, &srv), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "max_clients_per_uid 5"));
	dmk_ipc_server_opts_init(&o);
	o.hello_timeout_ms = 600001;
	assert_int_equal(dmk_ipc_server_create("/tmp/dmk-fair-bad.sock", be, &o, &srv), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "hello_timeout_ms 600001"));
	assert_int_equal(dmk_ipc_backend_destroy(be), 0);
}

/*
 * Two uids (root only: the child becomes uid 65534): the child opens 64
 * connections and says HELLO on each, as many as the daemon has slots; it
 * gets its share, 32, the others are refused, and root still gets in; a
 * further connection of the child's uid is told that its uid holds its
 * share.
 */
static void test_uid_share(void **state)
{
	struct dmk_ipc_server_opts o;
	struct dmk_ipc_client *c;
	struct fixture f;
	int ready[2], go[2], n = 0;
	pid_t pid;
	char x = 0;

	(void)state;
	if (geteuid() != 0) {
		print_message("# skipped: needs root, to open connections as a second uid (setuid)\n");
		skip();
	}
	dmk_ipc_server_opts_init(&o);
	o.socket_mode = 0666;
	start(&f, &o);
	assert_int_equal(chmod(f.dir, 0755), 0);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct dmk_ipc_client *cc;
		int got = 0, rc;

		/* its own ends only: a parent that fails ends this child's wait */
		close(ready[0]);
		close(go[1]);
		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(10);
		for (int i = 0; i < 64; i++)
			got += quiet_hello(f.path) >= 0;
		if (write(ready[1], &got, sizeof(got)) != sizeof(got) || read(go[0], &x, 1) != 1)
			_exit(11);
		rc = dmk_ipc_client_connect(f.path, NULL, &cc);
		if (rc != -EDQUOT)
			_exit(12);
		if (strcmp(dmk_last_error(), "daemon: uid 65534 holds its share: 32 of the daemon's 64 connections"))
			_exit(13);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	assert_int_equal(read(ready[0], &n, sizeof(n)), sizeof(n));
	print_message("# uid 65534: %d of 64 connections said HELLO and were answered\n", n);
	assert_int_equal(n, 32);
	assert_int_equal(stats(&f).clients, 32);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);
	assert_int_equal(write(go[1], &x, 1), 1);
	assert_int_equal(wait_child(pid), 0);
	dmk_ipc_client_close(c);
	close(ready[0]);
	close(go[1]);
	stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unread_answers_queued_then_closed),
		cmocka_unit_test(test_queued_answers_keep_descriptors),
		cmocka_unit_test(test_non_readers_do_not_stall),
		cmocka_unit_test(test_idle_connections_give_way),
		cmocka_unit_test(test_refused_told_why),
		cmocka_unit_test(test_uid_share),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
