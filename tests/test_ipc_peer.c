/* SPDX-License-Identifier: MIT */
/*
 * The copy route reaches only the memory of the process that registered a
 * region, and only while it lives (src/ipc/daemon_peer.c): not through a
 * socket passed on or inherited, not once the pid belongs to another
 * process, not with a pidfd of someone else. The server is a thread here
 * (ipc_fixture.h); the clients are forked processes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sys/syscall.h>

#include "ipc_fixture.h"

#define LEN (8 * LBA)

static void write_all(int fd, const void *p, size_t n)
{
	assert_int_equal(write(fd, p, n), (ssize_t)n);
}

static void read_all(int fd, void *p, size_t n)
{
	assert_int_equal(read(fd, p, n), (ssize_t)n);
}

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/*
 * A child that inherits the registering process's connection is refused
 * on its copy regions, both ways; the registrant goes on using them.
 */
static void test_socket_inherited(void **state)
{
	struct dmk_ipc_client *c;
	struct fixture f;
	unsigned route;
	uint64_t h;
	uint8_t *buf;
	int rc[2];
	int res[2];
	pid_t kid;

	(void)state;
	start(&f, NULL);
	memset(f.disk + 100 * LBA, 0x11, LEN);
	fill(f.disk, LEN, 4);
	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(buf != MAP_FAILED);
	memset(buf, 0x77, LEN);
	assert_int_equal(dmk_ipc_client_connect(f.path, NULL, &c), 0);
	assert_int_equal(dmk_ipc_client_register_copy(c, buf, LEN, DMK_PROT_RW, &h, &route), 0);
	assert_int_equal(route, DMK_IPC_ROUTE_COPY);
	assert_int_equal(pipe(res), 0);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		/* the parent's buffer to the disk, the disk into it: through the
		 * parent's socket, as the child */
		rc[0] = dmk_ipc_client_write(c, h, 0, LEN, 100);
		rc[1] = dmk_ipc_client_read(c, h, 0, LEN, 0);
		write_all(res[1], rc, sizeof(rc));
		_exit(strstr(dmk_last_error(), "belongs to pid") ? 0 : 3);
	}
	read_all(res[0], rc, sizeof(rc));
	assert_int_equal(wait_child(kid), 0);
	assert_int_equal(rc[0], -EPERM);
	assert_int_equal(rc[1], -EPERM);
	assert_true(all(f.disk + 100 * LBA, LEN, 0x11));
	assert_true(all(buf, LEN, 0x77));
	assert_non_null(strstr(logged(&f), "a socket passed on or inherited cannot use it"));

	/* the registrant itself: both ways */
	assert_int_equal(dmk_ipc_client_read(c, h, 0, LEN, 0), 0);
	assert_int_equal(differs(buf, LEN, 4), -1);
	memset(buf, 0x22, LEN);
	assert_int_equal(dmk_ipc_client_write(c, h, 0, LEN, 100), 0);
	assert_true(all(f.disk + 100 * LBA, LEN, 0x22));
	dmk_ipc_client_close(c);
	close(res[0]);
	close(res[1]);
	munmap(buf, LEN);
	stop(&f);
}

/* Make the next fork's child get @pid (root, /proc/sys/kernel/ns_last_pid). */
static bool next_pid(pid_t pid)
{
	FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");
	bool ok;

	if (!f)
		return false;
	ok = fprintf(f, "%d", (int)pid - 1) > 0;
	return fclose(f) == 0 && ok;
}

/*
 * The attack: A registers its buffer by copy, hands its connection to B and
 * exits; a victim gets A's pid, with its own secret at the same address;
 * B's WRITE must not put the victim's memory on the disk, nor its READ
 * overwrite it, by message or on A's rings.
 */
static void test_pid_reused(void **state)
{
	int go[2], res[2], vgo[2], rc[4];
	struct fixture f;
	pid_t a, v = -1;
	uint8_t *buf;

	(void)state;
	if (geteuid() != 0 || access("/proc/sys/kernel/ns_last_pid", W_OK) != 0) {
		print_message("pid reuse: needs root and ns_last_pid, skipped\n");
		skip();
	}
	start(&f, NULL);
	fill(f.disk, LEN, 6);
	memset(f.disk + 100 * LBA, 0x11, LEN);
	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(buf != MAP_FAILED);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(res), 0);
	assert_int_equal(pipe(vgo), 0);
	a = fork();
	assert_true(a >= 0);
	if (a == 0) {
		struct dmk_ipc_client *c;
		unsigned route;
		uint64_t h;
		char x;

		fill(buf, LEN, 1);
		if (dmk_ipc_client_connect(f.path, NULL, &c) || dmk_ipc_client_rings(c, 8, NULL) ||
		    dmk_ipc_client_register_copy(c, buf, LEN, DMK_PROT_RW, &h, &route))
			_exit(2);
		if (fork() == 0) {	/* B, with A's connection */
			if (read(go[0], &x, 1) != 1)
				_exit(3);
			/* by message (the sender is known), and on A's rings
			 * (it is not) */
			rc[0] = dmk_ipc_client_write(c, h, 0, LEN, 100);
			rc[1] = dmk_ipc_client_read(c, h, 0, LEN, 0);
			rc[2] = dmk_ipc_client_ring_write(c, h, 0, LEN, 100);
			rc[3] = dmk_ipc_client_ring_read(c, h, 0, LEN, 0);
			write_all(res[1], rc, sizeof(rc));
			_exit(0);
		}
		_exit(0);
	}
	assert_int_equal(wait_child(a), 0);	/* A is gone: its pid is free */

	/* The victim: A's pid, a secret where A's buffer was. */
	memset(buf, 0x77, LEN);
	for (int tries = 0; tries < 50 && v != a; tries++) {
		if (v > 0) {
			kill(v, SIGKILL);
			waitpid(v, NULL, 0);
		}
		assert_true(next_pid(a));
		v = fork();
		assert_true(v >= 0);
		if (v == 0) {
			char x;

			if (read(vgo[0], &x, 1) != 1)
				_exit(3);
			_exit(all(buf, LEN, 0x77) ? 0 : 1);
		}
	}
	if (v != a) {
		kill(v, SIGKILL);
		waitpid(v, NULL, 0);
		write_all(go[1], "g", 1);
		read_all(res[0], rc, sizeof(rc));
		stop(&f);
		print_message("pid reuse: pid %d not had again in 50 forks, skipped\n", (int)a);
		skip();
	}
	write_all(go[1], "g", 1);
	read_all(res[0], rc, sizeof(rc));
	write_all(vgo[1], "v", 1);
	assert_int_equal(wait_child(v), 0);	/* the victim's memory is untouched */
	assert_true(all(f.disk + 100 * LBA, LEN, 0x11));	/* and not on the disk */
	assert_int_equal(rc[0], -EPERM);
	assert_int_equal(rc[1], -EPERM);
	assert_int_equal(rc[2], -ESRCH);
	assert_int_equal(rc[3], -ESRCH);
	assert_non_null(strstr(logged(&f), "belongs to pid"));
	assert_non_null(strstr(logged(&f), "which registered it, has exited"));
	for (int i = 0; i < 2; i++) {
		close(go[i]);
		close(res[i]);
		close(vgo[i]);
	}
	munmap(buf, LEN);
	stop(&f);
}

/* A raw copy REGISTER of @buf with @fd (-1: none): the error it gets, 0 for
 * a COMPLETION. */
static int raw_register_copy(int sock, void *buf, int fd)
{
	struct dmk_ipc_msg m;

	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_REGISTER;
	m.seq = 2;
	m.reg.route = DMK_IPC_ROUTE_COPY;
	m.reg.prot = DMK_PROT_RW;
	m.reg.length = LEN;
	m.reg.addr = (uint64_t)(uintptr_t)buf;
	assert_int_equal(dmk_ipc_send(sock, &m, fd), 0);
	assert_int_equal(dmk_ipc_recv(sock, &m, NULL), 0);
	return m.type == DMK_IPC_ERROR ? m.error.err : 0;
}

/* A pidfd must name the sender: not another process, not a dead one, not
 * a file; and one must come. */
static void test_forged_pidfd(void **state)
{
	struct fixture f;
	uint8_t *buf;
	int sock, pfd, memfd;
	pid_t kid;

	(void)state;
	start(&f, NULL);
	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(buf != MAP_FAILED);
	sock = raw_hello(f.path);

	assert_int_equal(raw_register_copy(sock, buf, -1), -EINVAL);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		pause();
		_exit(0);
	}
	pfd = (int)syscall(SYS_pidfd_open, kid, 0);
	assert_true(pfd >= 0);
	assert_int_equal(raw_register_copy(sock, buf, pfd), -EPERM);	/* another's */
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	assert_int_equal(raw_register_copy(sock, buf, pfd), -EPERM);	/* a dead one's */
	close(pfd);
	memfd = memfd_create("not-a-pidfd", MFD_CLOEXEC);
	assert_int_equal(raw_register_copy(sock, buf, memfd), -EPERM);
	close(memfd);
	assert_non_null(strstr(logged(&f), "the pidfd names pid"));
	assert_non_null(strstr(logged(&f), "not the pidfd of a live process"));
	assert_non_null(strstr(logged(&f), "needs the client's pidfd"));

	/* its own: taken */
	pfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	assert_int_equal(raw_register_copy(sock, buf, pfd), 0);
	close(pfd);
	assert_true(stats(&f).regions == 1);
	close(sock);
	munmap(buf, LEN);
	stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socket_inherited),
		cmocka_unit_test(test_pid_reused),
		cmocka_unit_test(test_forged_pidfd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
