/* SPDX-License-Identifier: MIT */
/*
 * The files a client sends on the memfd route, against the daemon on the
 * sim backend (ipc_fixture.h), whose device is the daemon's own CPU: a file
 * truncated to nothing and sealed before each system call the daemon makes
 * while it takes the REGISTER (a seccomp listener holds the server's thread
 * there), and the same in a race for 2 s; a file emptied and sealed before
 * it is sent; seals that let it grow; seals against writing; holes punched
 * into a shmem memfd and, where huge pages can be had (root), into a
 * hugetlbfs one with the pool emptied, and into the daemon's own memfds
 * (pool route, rings) that the client holds too; descriptors that are not
 * memfds.
 * Each region the daemon accepts is then read into and written from, and
 * after each case the daemon serves a good client.
 */
#include <linux/falloc.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include "ipc_fixture.h"
#include "proc_long.h"

#define LEN (64u * 1024u)	/* a region: 128 blocks */
#define HUGE (2u << 20)

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A memfd of @len bytes that may still shrink, sealed with @seals. */
static int memfd_of(uint64_t len, unsigned seals)
{
	int fd = memfd_create("dmakit-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	if (seals)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

/* What a hostile client does to the file it sent: empty it, then seal it
 * so that the daemon finds F_SEAL_SHRINK. */
static void empty_and_seal(int fd)
{
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
}

static void send_register(int s, uint64_t seq, int fd, uint64_t off, uint64_t len, unsigned prot)
{
	struct dmk_ipc_msg m;

	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_REGISTER;
	m.seq = seq;
	m.reg.route = DMK_IPC_ROUTE_MEMFD;
	m.reg.prot = prot;
	m.reg.offset = off;
	m.reg.length = len;
	assert_int_equal(dmk_ipc_send(s, &m, fd), 0);
}

/* The answer to a REGISTER on @s: its handle, or 0 with the refusal in @m. */
static uint64_t registered(int s, struct dmk_ipc_msg *m)
{
	assert_int_equal(dmk_ipc_recv(s, m, NULL), 0);
	if (m->type == DMK_IPC_COMPLETION)
		return m->comp.handle;
	assert_int_equal(m->type, DMK_IPC_ERROR);
	return 0;
}

/* A READ (blocks into the region) or WRITE on @s: 0 or the ERROR's errno,
 * its reason in @why (DMK_IPC_REASON_MAX + 1 bytes) when not NULL. */
static int raw_io(int s, uint64_t seq, bool rd, uint64_t h, uint64_t off, uint64_t len,
		  uint64_t lba, char *why)
{
	struct dmk_ipc_msg m;

	memset(&m, 0, sizeof(m));
	m.type = rd ? DMK_IPC_READ : DMK_IPC_WRITE;
	m.seq = seq;
	m.io.handle = h;
	m.io.offset = off;
	m.io.length = len;
	m.io.lba = lba;
	assert_int_equal(dmk_ipc_send(s, &m, -1), 0);
	assert_int_equal(dmk_ipc_recv(s, &m, NULL), 0);
	assert_int_equal(m.seq, seq);
	if (m.type == DMK_IPC_COMPLETION)
		return 0;
	assert_int_equal(m.type, DMK_IPC_ERROR);
	if (why)
		snprintf(why, DMK_IPC_REASON_MAX + 1, "%s", m.error.reason);
	return m.error.err;
}

static void raw_unregister(int s, uint64_t seq, uint64_t h)
{
	struct dmk_ipc_msg m;

	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_UNREGISTER;
	m.seq = seq;
	m.unreg.handle = h;
	assert_int_equal(dmk_ipc_send(s, &m, -1), 0);
	assert_int_equal(dmk_ipc_recv(s, &m, NULL), 0);
	assert_int_equal(m.type, DMK_IPC_COMPLETION);
}

/* A good client, through the library: a memfd region written and read
 * back byte for byte. */
static void good_client(struct fixture *f)
{
	struct dmk_ipc_client *c;
	uint8_t *buf;
	uint64_t h;
	unsigned route;
	int fd;

	assert_int_equal(dmk_ipc_client_connect(f->path, NULL, &c), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(8 * LBA, (void **)&buf, &fd), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, 8 * LBA, DMK_PROT_RW, &h, &route), 0);
	fill(buf, 8 * LBA, 9);
	assert_int_equal(dmk_ipc_client_write(c, h, 0, 8 * LBA, NLBA - 8), 0);
	memset(buf, 0, 8 * LBA);
	assert_int_equal(dmk_ipc_client_read(c, h, 0, 8 * LBA, NLBA - 8), 0);
	assert_int_equal(differs(buf, 8 * LBA, 9), -1);
	dmk_ipc_client_close(c);
	munmap(buf, 8 * LBA);
	close(fd);
}

/*
 * A region the daemon accepted of a file the client then emptied: if the
 * daemon's device (its CPU, on the sim backend) touched pages past the end
 * of the file, the daemon would die of SIGBUS here, with every client.
 */
static void use_region(int s, uint64_t *seq, uint64_t h)
{
	int rc;

	rc = raw_io(s, ++*seq, true, h, 0, LEN, 0, NULL);
	assert_true(rc == 0 || rc == -EFAULT);
	rc = raw_io(s, ++*seq, false, h, 0, LEN, 0, NULL);
	assert_true(rc == 0 || rc == -EFAULT);
	raw_unregister(s, ++*seq, h);
}

/* A REGISTER the daemon refused because the file was not sealed when it
 * looked, or was already empty. */
static void assert_refused_file(const struct dmk_ipc_msg *m)
{
	assert_int_equal(m->error.err, -EINVAL);
	if (!strstr(m->error.reason, "F_SEAL_SHRINK") && !strstr(m->error.reason, "past the file"))
		fail_msg("refused for another reason: %s", m->error.reason);
}

/*
 * The deterministic race. The server's thread runs under a seccomp filter
 * that hands each of its system calls to a listener here (a thread of the
 * test) before the kernel runs it. Attempt k sends a REGISTER of a fresh,
 * unsealed 64 KiB memfd and lets k of the server's system calls pass; the
 * listener then empties and seals the file while the server waits at the
 * next one. k = 0, 1, 2, ... puts the client's move before every system
 * call the daemon makes while it takes the REGISTER (fstat(), fcntl(),
 * mmap(), ...), until the daemon has answered first.
 */
struct trapped {
	struct fixture f;	/* first: the server's thread gets it as its fixture */
	_Atomic int listener;	/* the seccomp listener; -errno when there is none; 0 not yet */
	pthread_t sup;
	_Atomic int armed;	/* the server's system calls still to let pass; -1: none */
	_Atomic bool acted;
	_Atomic bool quit;
	int memfd;
};

static void *serve_trapped(void *arg)
{
	struct trapped *t = arg;
	struct sock_filter all[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF) };
	struct sock_fprog prog = { 1, all };
	long l;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		atomic_store(&t->listener, -errno);
		return NULL;
	}
	l = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	/* From here every system call of this thread waits for the listener:
	 * the test spins on @listener (no futex) and starts it. */
	atomic_store(&t->listener, l < 0 ? -errno : (int)l);
	if (l < 0)
		return NULL;
	return serve(&t->f);
}

static void *supervise(void *arg)
{
	struct trapped *t = arg;
	struct seccomp_notif_sizes sz;
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	int lfd = atomic_load(&t->listener);

	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) != 0)
		sz = (struct seccomp_notif_sizes){ sizeof(*req), sizeof(*resp), 0 };
	req = calloc(1, sz.seccomp_notif > sizeof(*req) ? sz.seccomp_notif : sizeof(*req));
	resp = calloc(1, sz.seccomp_notif_resp > sizeof(*resp) ? sz.seccomp_notif_resp : sizeof(*resp));
	assert_non_null(req);
	assert_non_null(resp);
	while (!atomic_load(&t->quit)) {
		struct pollfd p = { lfd, POLLIN, 0 };
		int n;

		if (poll(&p, 1, 50) <= 0 || !(p.revents & POLLIN))
			continue;
		memset(req, 0, sz.seccomp_notif);
		if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_RECV, req) != 0)
			continue;	/* the thread went meanwhile */
		n = atomic_load(&t->armed);
		while (n >= 0 && !atomic_compare_exchange_weak(&t->armed, &n, n - 1))
			;
		if (n == 0) {
			empty_and_seal(t->memfd);
			atomic_store(&t->acted, true);
		}
		memset(resp, 0, sz.seccomp_notif_resp);
		resp->id = req->id;
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, resp);
	}
	free(req);
	free(resp);
	return NULL;
}

static void test_emptied_before_each_step(void **state)
{
	struct trapped *t = calloc(1, sizeof(*t));
	struct dmk_ipc_msg m;
	unsigned k, inside = 0, accepted = 0;
	uint64_t seq = 1;
	int s, lfd;

	(void)state;
	assert_non_null(t);
	atomic_store(&t->armed, -1);
	start_with(&t->f, NULL, serve_trapped);
	while ((lfd = atomic_load(&t->listener)) == 0)
		sched_yield();
	if (lfd < 0) {
		stop(&t->f);	/* the thread never served */
		free(t);
		print_message("no seccomp listener for the server's thread (%s): skipped\n",
			      strerror(-lfd));
		skip();
		return;	/* skip() does not return; the compiler does not know */
	}
	assert_int_equal(pthread_create(&t->sup, NULL, supervise, t), 0);
	s = raw_hello(t->f.path);
	for (k = 0; k < 200; k++) {
		bool late = false;
		uint64_t h;

		t->memfd = memfd_of(LEN, 0);
		atomic_store(&t->acted, false);
		atomic_store(&t->armed, (int)k);
		send_register(s, ++seq, t->memfd, 0, LEN, DMK_PROT_RW);
		h = registered(s, &m);
		if (atomic_exchange(&t->armed, -1) >= 0) {
			empty_and_seal(t->memfd);	/* the daemon answered first */
			late = true;
		} else {
			while (!atomic_load(&t->acted))
				sched_yield();
			inside++;
		}
		if (h) {
			accepted++;
			use_region(s, &seq, h);
		} else {
			assert_refused_file(&m);
		}
		close(t->memfd);
		if (late)
			break;
	}
	print_message("the file emptied and sealed before each of the first %u system calls of the daemon's REGISTER: %u accepted\n",
		      inside, accepted);
	assert_true(inside >= 3 && k < 200);
	/* A file the daemon saw unsealed, or sealed and then measured: never
	 * one measured and then emptied. */
	assert_int_equal(accepted, 0);
	close(s);
	good_client(&t->f);
	stop(&t->f);
	atomic_store(&t->quit, true);
	pthread_join(t->sup, NULL);
	close(lfd);
	free(t);
}

/*
 * The same move as a hostile client makes it, in a race: REGISTER, then
 * after a delay the file emptied and sealed; for 2 s. The refusals tell
 * the client where it landed: the file already empty (too early: wait
 * longer next time) or not yet sealed (too late: wait less), so the delay
 * stays near the moment the daemon looks at the file, a few hundred
 * nanoseconds of jitter around it.
 */
static void test_emptied_race(void **state)
{
	struct fixture f;
	struct dmk_ipc_msg m;
	unsigned attempts = 0, accepted = 0, early = 0;
	int64_t end, delay = 20000;
	uint64_t seq = 1;
	int s;

	(void)state;
	start(&f, NULL);
	s = raw_hello(f.path);
	end = now_ns() + 2000000000;
	while (now_ns() < end) {
		int fd = memfd_of(LEN, 0);
		int64_t go;
		uint64_t h;

		send_register(s, ++seq, fd, 0, LEN, DMK_PROT_RW);
		go = now_ns() + delay + (int64_t)((attempts * 7919u) % 1000u) - 500;
		while (now_ns() < go)
			;
		empty_and_seal(fd);
		h = registered(s, &m);
		if (h) {
			accepted++;
			use_region(s, &seq, h);
		} else {
			assert_refused_file(&m);
			if (strstr(m.error.reason, "past the file")) {
				early++;
				delay += 250;
			} else if (delay >= 250) {
				delay -= 250;
			}
		}
		close(fd);
		attempts++;
	}
	print_message("%u REGISTERs raced by emptying and sealing the file (%u too early, the delay ending at %lld ns): %u accepted\n",
		      attempts, early, (long long)delay, accepted);
	assert_int_equal(accepted, 0);
	assert_true(stats(&f).dropped == 0);
	close(s);
	good_client(&f);
	stop(&f);
}

/* Sizes and seals decided before the file is sent. */
static void test_sizes_and_seals(void **state)
{
	struct dmk_ipc_client *c;
	struct fixture f;
	uint8_t *p;
	uint64_t h;
	unsigned route;
	int fd;

	(void)state;
	start(&f, NULL);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);

	/* emptied and sealed before it is sent, a REGISTER past its size */
	fd = memfd_of(LEN, 0);
	empty_and_seal(fd);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, LEN, DMK_PROT_RW, &h, &route), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "past the file's 0 bytes"));
	close(fd);

	/* sealed against growing only: it may shrink */
	fd = memfd_of(LEN, F_SEAL_GROW);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, LEN, DMK_PROT_RW, &h, &route), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "F_SEAL_SHRINK"));
	close(fd);

	/* sealed against shrinking only: it grows under the region, which
	 * stays as it was */
	fd = memfd_of(LEN, F_SEAL_SHRINK);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, LEN, DMK_PROT_RW, &h, &route), 0);
	assert_int_equal(ftruncate(fd, 16 * LEN), 0);
	assert_int_equal(ftruncate(fd, LEN / 2), -1);
	assert_int_equal(errno, EPERM);
	p = mmap(NULL, 16 * LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	fill(p, LEN, 6);
	assert_int_equal(dmk_ipc_client_write(c, h, 0, LEN, 0), 0);
	assert_int_equal(differs(f.disk, LEN, 6), -1);
	memset(p, 0, LEN);
	assert_int_equal(dmk_ipc_client_read(c, h, 0, LEN, 0), 0);
	assert_int_equal(differs(p, LEN, 6), -1);
	assert_int_equal(dmk_ipc_client_read(c, h, LBA, LEN, 0), -EINVAL);	/* the region did not grow */
	assert_int_equal(dmk_ipc_client_unregister(c, h), 0);
	munmap(p, 16 * LEN);
	close(fd);

	assert_true(stats(&f).regions == 0 && stats(&f).dropped == 0);
	dmk_ipc_client_close(c);
	good_client(&f);
	stop(&f);
}

/* Writing forbidden by the descriptor or a seal: the device may still read. */
static void test_write_forbidden(void **state)
{
	struct dmk_ipc_client *c;
	struct fixture f;
	char path[64];
	uint64_t h;
	unsigned route;
	int fd, ro;

	(void)state;
	start(&f, NULL);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);

	fd = memfd_of(LEN, F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, LEN, DMK_PROT_RW, &h, &route), -EACCES);
	assert_non_null(strstr(dmk_last_error(), "sealed against writing (F_SEAL_FUTURE_WRITE)"));
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, LEN, DMK_PROT_READ, &h, &route), 0);
	assert_int_equal(dmk_ipc_client_write(c, h, 0, LEN, 0), 0);
	/* the seal keeps holes out too */
	assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, LEN), -1);
	assert_int_equal(dmk_ipc_client_unregister(c, h), 0);
	close(fd);

	fd = memfd_of(LEN, F_SEAL_SHRINK | F_SEAL_WRITE);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, LEN, DMK_PROT_WRITE, &h, &route), -EACCES);
	assert_non_null(strstr(dmk_last_error(), "(F_SEAL_WRITE)"));
	close(fd);

	fd = memfd_of(LEN, F_SEAL_SHRINK);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(ro >= 0);
	assert_int_equal(dmk_ipc_client_register_memfd(c, ro, 0, LEN, DMK_PROT_RW, &h, &route), -EACCES);
	assert_non_null(strstr(dmk_last_error(), "open read-only"));
	assert_int_equal(dmk_ipc_client_register_memfd(c, ro, 0, LEN, DMK_PROT_READ, &h, &route), 0);
	assert_int_equal(dmk_ipc_client_unregister(c, h), 0);
	close(ro);
	close(fd);

	dmk_ipc_client_close(c);
	good_client(&f);
	stop(&f);
}

/*
 * Holes punched into a shmem memfd the daemon holds (allowed without
 * F_SEAL_WRITE): what the device then sees through the daemon's mapping is
 * a zeroed page, and what it writes there the client sees.
 */
static void test_shmem_holes(void **state)
{
	struct dmk_ipc_client *c;
	struct fixture f;
	uint8_t *p;
	uint64_t h;
	unsigned route;
	int fd;

	(void)state;
	start(&f, NULL);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);
	assert_int_equal(dmk_ipc_memfd_alloc(LEN, (void **)&p, &fd), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, LEN, DMK_PROT_RW, &h, &route), 0);
	fill(p, LEN, 7);
	assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192), 0);
	for (size_t i = 4096; i < 12288; i++)
		assert_int_equal(p[i], 0);	/* the kernel did punch */

	/* the device reads the hole: zeros */
	assert_int_equal(dmk_ipc_client_write(c, h, 0, LEN, 0), 0);
	assert_int_equal(differs(f.disk, 4096, 7), -1);
	for (size_t i = 4096; i < 12288; i++)
		assert_int_equal(f.disk[i], 0);
	assert_int_equal(memcmp(f.disk + 12288, p + 12288, LEN - 12288), 0);

	/* punched again, the device writes into it, the client sees it */
	assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, LEN), 0);
	fill(f.disk + LEN, LEN, 8);
	assert_int_equal(dmk_ipc_client_read(c, h, 0, LEN, LEN / LBA), 0);
	assert_int_equal(differs(p, LEN, 8), -1);

	assert_int_equal(dmk_ipc_client_unregister(c, h), 0);
	dmk_ipc_client_close(c);
	munmap(p, LEN);
	close(fd);
	good_client(&f);
	stop(&f);
}

/*
 * The daemon's own memfds, which the client holds too: the pool route's
 * buffer (MADV_REMOVE through the client's mapping punches it) and the
 * rings (punched through the descriptor). Holes read as zeros on the
 * daemon's side; it serves on.
 */
static void test_daemon_memfds_punched(void **state)
{
	struct dmk_ipc_client *c;
	struct dmk_ipc_msg m;
	struct fixture f;
	uint8_t *p;
	uint64_t h, one = 1, seq = 1;
	unsigned route, nfds = 0;
	int s, fds[3], mfd;

	(void)state;
	start(&f, NULL);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);
	assert_int_equal(dmk_ipc_client_alloc_pool(c, LEN, DMK_PROT_RW, (void **)&p, &h, &route), 0);
	fill(p, LEN, 5);
	assert_int_equal(madvise(p, LEN, MADV_REMOVE), 0);
	assert_int_equal(p[0], 0);
	assert_int_equal(dmk_ipc_client_write(c, h, 0, LEN, 0), 0);
	for (size_t i = 0; i < LEN; i++)
		assert_int_equal(f.disk[i], 0);
	assert_int_equal(madvise(p, LEN, MADV_REMOVE), 0);
	fill(f.disk, LEN, 6);
	assert_int_equal(dmk_ipc_client_read(c, h, 0, LEN, 0), 0);
	assert_int_equal(differs(p, LEN, 6), -1);
	assert_int_equal(dmk_ipc_client_unregister(c, h), 0);
	munmap(p, LEN);
	dmk_ipc_client_close(c);

	s = raw_hello(f.path);
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_RINGS;
	m.seq = ++seq;
	m.rings.entries = 8;
	assert_int_equal(dmk_ipc_send(s, &m, -1), 0);
	assert_int_equal(dmk_ipc_recv_fds(s, &m, fds, 3, &nfds), 0);
	assert_int_equal(m.type, DMK_IPC_RINGS);
	assert_int_equal(nfds, 3);
	assert_int_equal(fallocate(fds[0], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
				   (off_t)m.rings.size), 0);
	assert_int_equal(write(fds[1], &one, sizeof(one)), (ssize_t)sizeof(one));	/* the doorbell */
	mfd = memfd_of(LEN, F_SEAL_SHRINK);
	send_register(s, ++seq, mfd, 0, LEN, DMK_PROT_RW);
	h = registered(s, &m);
	assert_true(h != 0);
	assert_int_equal(raw_io(s, ++seq, true, h, 0, LEN, 0, NULL), 0);
	close(mfd);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	close(s);
	good_client(&f);
	stop(&f);
}

/* Descriptors that are not memfds: refused, the connection kept. */
static void test_not_memfds(void **state)
{
	struct dmk_ipc_client *c;
	struct fixture f;
	char path[160];
	uint64_t h;
	unsigned route;
	int fds[7], sp[2], pp[2], n = 0;

	(void)state;
	start(&f, NULL);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);
	snprintf(path, sizeof(path), "%s/plain", f.dir);
	fds[n] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);	/* a regular file */
	assert_true(fds[n] >= 0);
	assert_int_equal(ftruncate(fds[n++], LEN), 0);
	unlink(path);
	snprintf(path, sizeof(path), "/dev/shm/dmakit-test-%d", (int)getpid());
	fds[n] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);	/* tmpfs, not a memfd */
	if (fds[n] >= 0) {
		assert_int_equal(ftruncate(fds[n++], LEN), 0);
		unlink(path);
	}
	assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
	fds[n++] = pp[0];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	fds[n++] = sp[0];
	fds[n++] = eventfd(0, EFD_CLOEXEC);
	fds[n++] = open("/dev/zero", O_RDWR | O_CLOEXEC);
	fds[n++] = open(f.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; i < n; i++) {
		assert_true(fds[i] >= 0);
		assert_int_equal(dmk_ipc_client_register_memfd(c, fds[i], 0, LEN, DMK_PROT_RW, &h, &route), -EINVAL);
		if (!strstr(dmk_last_error(), "not a memfd") && !strstr(dmk_last_error(), "F_SEAL_SHRINK"))
			fail_msg("descriptor %d refused for another reason: %s", i, dmk_last_error());
		close(fds[i]);
	}
	close(pp[1]);
	close(sp[1]);
	assert_true(stats(&f).clients == 1 && stats(&f).regions == 0 && stats(&f).dropped == 0);
	dmk_ipc_client_close(c);
	good_client(&f);
	stop(&f);
}

#define NR_HUGE "/proc/sys/vm/nr_hugepages"
#define FREE_HUGE "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
#define OVER_HUGE "/proc/sys/vm/nr_overcommit_hugepages"

/* Mappings of @name's memfd in this process (the test's and the daemon's). */
static int maps_of(const char *name)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, name))
			n++;
	fclose(f);
	return n;
}

/* Does touching @p fault (SIGBUS) in a child? */
static bool faults(const volatile uint8_t *p)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGBUS, SIG_DFL);	/* not cmocka's handler */
		(void)p[0];
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS;
}

/*
 * A hugetlbfs memfd of two huge pages, the second punched out and the pool
 * emptied: a load or store there raises SIGBUS (checked in a child). The
 * daemon, whose sim device is its CPU, fails that client's requests on it
 * with -EFAULT and serves on; the first page still moves; the mapping goes
 * with the region. Root only: the test takes two huge pages for a moment
 * and empties the pool (vm.nr_hugepages, restored).
 */
/*
 * vm.nr_hugepages is set back to @orig by a child when this process ends or
 * huge_restore() runs, however the test ends: even when the daemon (a
 * thread here) dies of SIGBUS, the pipe's end closes.
 */
static pid_t huge_guard = -1;
static int huge_guard_fd = -1;

static void huge_guard_start(long orig)
{
	int p[2];
	char c;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	huge_guard = fork();
	assert_true(huge_guard >= 0);
	if (huge_guard == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(write_long(NR_HUGE, orig) ? 1 : 0);
	}
	close(p[0]);
	huge_guard_fd = p[1];
}

static int huge_restore(void **state)
{
	(void)state;
	if (huge_guard > 0) {
		close(huge_guard_fd);
		waitpid(huge_guard, NULL, 0);
	}
	huge_guard = huge_guard_fd = -1;
	return 0;
}

static void test_hugetlb_hole(void **state)
{
	long orig = read_long(NR_HUGE), over = read_long(OVER_HUGE);
	struct dmk_ipc_client *c;
	struct fixture f;
	char why[DMK_IPC_REASON_MAX + 1];
	uint8_t *p;
	uint64_t h;
	unsigned route;
	int fd, rc;

	(void)state;
	if (geteuid() != 0 || orig < 0 || over != 0 || read_long(FREE_HUGE) != 0) {
		print_message("hugetlb: needs root, 2 MiB pages, none free and no overcommit (uid %d, vm.nr_hugepages %ld, free %ld, overcommit %ld): skipped\n",
			      (int)geteuid(), orig, read_long(FREE_HUGE), over);
		skip();
	}
	huge_guard_start(orig);
	if (write_long(NR_HUGE, orig + 2) != 0 || read_long(FREE_HUGE) < 2) {
		print_message("hugetlb: two 2 MiB pages could not be had: skipped\n");
		skip();
	}
	fd = memfd_create("dmakit-huge", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 2 * HUGE), 0);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	p = mmap(NULL, 2 * HUGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	fill(p, 2 * HUGE, 3);

	start(&f, NULL);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 4096, HUGE, DMK_PROT_RW, &h, &route), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "not a multiple of the file's 2097152-byte pages"));
	/* not whole huge pages: the daemon maps whole ones all the same */
	assert_int_equal(dmk_ipc_client_register_memfd(c, fd, 0, 2 * HUGE - LEN, DMK_PROT_RW, &h, &route), 0);
	assert_int_equal(maps_of("dmakit-huge"), 2);

	assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, HUGE, HUGE), 0);
	assert_int_equal(write_long(NR_HUGE, orig), 0);
	assert_int_equal(read_long(FREE_HUGE), 0);
	assert_true(faults(p + HUGE));	/* the kernel would raise SIGBUS */

	/* the device (the daemon's CPU) writes into the hole, and reads it */
	rc = dmk_ipc_client_read(c, h, HUGE, 128 * LBA, 0);
	snprintf(why, sizeof(why), "%s", dmk_last_error());
	assert_int_equal(rc, -EFAULT);
	assert_non_null(strstr(why, "could not be faulted in"));
	assert_int_equal(dmk_ipc_client_write(c, h, HUGE + 8 * LBA, 8 * LBA, 0), -EFAULT);
	assert_non_null(strstr(logged(&f), "could not be faulted in"));
	/* the first page moves as before */
	assert_int_equal(dmk_ipc_client_write(c, h, 0, 128 * LBA, 0), 0);
	assert_int_equal(differs(f.disk, 128 * LBA, 3), -1);
	assert_int_equal(dmk_ipc_client_read(c, h, 128 * LBA, 128 * LBA, 0), 0);
	assert_int_equal(memcmp(p + 128 * LBA, f.disk, 128 * LBA), 0);
	assert_true(stats(&f).dropped == 0);

	/* unregistered: the daemon's mapping (whole huge pages) is gone */
	assert_int_equal(dmk_ipc_client_unregister(c, h), 0);
	assert_int_equal(maps_of("dmakit-huge"), 1);
	dmk_ipc_client_close(c);
	good_client(&f);
	stop(&f);
	munmap(p, 2 * HUGE);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_emptied_before_each_step),
		cmocka_unit_test(test_emptied_race),
		cmocka_unit_test(test_sizes_and_seals),
		cmocka_unit_test(test_write_forbidden),
		cmocka_unit_test(test_shmem_holes),
		cmocka_unit_test(test_daemon_memfds_punched),
		cmocka_unit_test(test_not_memfds),
		cmocka_unit_test_teardown(test_hugetlb_hole, huge_restore),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
