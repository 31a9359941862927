/* SPDX-License-Identifier: MIT */
/*
 * Guest test (testbed/run): the driver daemon's server on the NVMe driver
 * (QEMU's nvme behind the emulated VT-d IOMMU), applications in other
 * processes, one of them not root (uid 65534).
 *
 * The server runs on a thread of this process; each application is a
 * forked child that uses only the client library. What the applications
 * write is stated in DMKCHECK lines, so the host checks the backing file.
 *
 * Environment: DMK_NVME_BDF (required).
 * Prints one "PASS name" or "FAIL name: why" line per check; exits 1 when
 * any failed, 2 when the set-up failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
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

#include "vmcheck.h"
#include "vmpattern.h"

#define KiB 1024u
#define LEN (256 * KiB)
#define NOBODY 65534

static const char *sock_path = "/tmp/dmakitd-test.sock";
static struct dmk_ipc_server *srv;
static uint32_t bs;

static void *serve(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)dmk_ipc_server_run(srv);
}

/*
 * An application: write pattern @seed from its buffer to @lba, clear the
 * buffer, read the blocks back, compare. @nobody drops root first. @copy picks the route: 0 memfd, 1 copy, 2 the daemon's
 * pool. Exit status: 0, or the step that failed.
 */
static int app(int copy, int nobody, uint64_t lba, unsigned seed)
{
	struct dmk_ipc_client *c;
	uint64_t h;
	unsigned route;
	uint8_t *buf;
	int fd = -1;

	if (nobody && (setgid(NOBODY) || setuid(NOBODY) || getuid() != NOBODY))
		return 10;
	if (dmk_ipc_client_connect(sock_path, NULL, &c))
		return 11;
	if (copy == 2) {
		if (dmk_ipc_client_alloc_pool(c, LEN, DMK_PROT_RW, (void **)&buf, &h, &route) ||
		    route != DMK_IPC_ROUTE_POOL)
			return 13;
	} else if (copy) {
		if (posix_memalign((void **)&buf, 4096, LEN))
			return 12;
		if (dmk_ipc_client_register_copy(c, buf, LEN, DMK_PROT_RW, &h, &route) ||
		    route != DMK_IPC_ROUTE_COPY)
			return 13;
	} else {
		if (dmk_ipc_memfd_alloc(LEN, (void **)&buf, &fd))
			return 12;
		if (dmk_ipc_client_register_memfd(c, fd, 0, LEN, DMK_PROT_RW, &h, &route) ||
		    route != DMK_IPC_ROUTE_MEMFD)
			return 13;
	}
	fill_seed(buf, LEN, seed);
	if (dmk_ipc_client_write(c, h, 0, LEN, lba))
		return 14;
	memset(buf, 0, LEN);
	if (dmk_ipc_client_read(c, h, 0, LEN, lba))
		return 15;
	if (differs_seed(buf, LEN, seed) >= 0)
		return 16;
	dmk_ipc_client_close(c);
	return 0;
}

static int run_child(int copy, int nobody, uint64_t lba, unsigned seed)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int rc = app(copy, nobody, lba, seed);

		if (rc)
			fprintf(stderr, "app: step %d: %s\n", rc, dmk_last_error());
		_exit(rc);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Mappings of client memfds and pools this process (the daemon) holds now. */
static int memfd_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "memfd:dmakit-buffer") || strstr(line, "memfd:dmakitd-pool"))
			n++;
	fclose(f);
	return n;
}

static struct dmk_ipc_server_stats stats(void)
{
	struct dmk_ipc_server_stats s;

	dmk_ipc_server_stats(srv, &s);
	return s;
}

static void wait_idle(void)
{
	for (int i = 0; i < 500 && stats().clients; i++)
		usleep(10000);
}

static void test_routes(uint64_t base)
{
	int rc;

	rc = run_child(0, 1, base, 41);
	result(rc == 0, "ipc-memfd-nobody", "application (uid %d) failed at step %d", NOBODY, rc);
	if (rc == 0)
		dmkcheck_seed(base * bs, LEN, 41);
	rc = run_child(1, 0, base + 1024, 42);
	result(rc == 0, "ipc-copy-root", "application failed at step %d", rc);
	if (rc == 0)
		dmkcheck_seed((base + 1024) * bs, LEN, 42);
	rc = run_child(1, 1, base + 2048, 43);
	result(rc == 0, "ipc-copy-nobody", "application (uid %d) failed at step %d", NOBODY, rc);
	if (rc == 0)
		dmkcheck_seed((base + 2048) * bs, LEN, 43);
	rc = run_child(2, 1, base + 3072, 45);
	result(rc == 0, "ipc-pool-nobody", "application (uid %d) failed at step %d", NOBODY, rc);
	if (rc == 0)
		dmkcheck_seed((base + 3072) * bs, LEN, 45);
	wait_idle();
	result(stats().regions == 0 && memfd_mappings() == 0, "ipc-nothing-left",
	       "%" PRIu64 " regions, %d memfd mappings after the applications left",
	       stats().regions, memfd_mappings());
}

static void test_forged(void)
{
	struct dmk_ipc_client *a = NULL, *b = NULL;
	uint8_t *ba = NULL, *bb = NULL;
	uint64_t ha = 0, hb = 0;
	unsigned route;
	int fa = -1, fb = -1, ra, rb;

	if (dmk_ipc_client_connect(sock_path, NULL, &a) || dmk_ipc_client_connect(sock_path, NULL, &b) ||
	    dmk_ipc_memfd_alloc(LEN, (void **)&ba, &fa) || dmk_ipc_memfd_alloc(LEN, (void **)&bb, &fb) ||
	    dmk_ipc_client_register_memfd(a, fa, 0, LEN, DMK_PROT_RW, &ha, &route) ||
	    dmk_ipc_client_register_memfd(b, fb, 0, LEN, DMK_PROT_RW, &hb, &route)) {
		result(false, "ipc-forged-handle", "set-up");
		return;
	}
	memset(ba, 0x5a, LEN);
	ra = dmk_ipc_client_read(b, ha, 0, 4096, 0);
	rb = dmk_ipc_client_read(b, hb, 0, 4096, 0);
	result(ra == -EPERM && rb == 0 && ba[0] == 0x5a && ba[4095] == 0x5a, "ipc-forged-handle",
	       "another's handle -> %d, own -> %d", ra, rb);
	dmk_ipc_client_close(a);
	dmk_ipc_client_close(b);
	munmap(ba, LEN);
	munmap(bb, LEN);
	close(fa);
	close(fb);
}

/* An application killed while the device moves its bytes. */
static void test_sigkill(uint64_t lba)
{
	int pipefd[2], st, rc;
	pid_t pid;
	char c;

	if (pipe(pipefd)) {
		result(false, "ipc-sigkill", "pipe");
		return;
	}
	pid = fork();
	if (pid == 0) {
		struct dmk_ipc_client *cl;
		uint64_t h;
		unsigned route;
		uint8_t *buf;
		int fd;

		close(pipefd[0]);
		if (dmk_ipc_client_connect(sock_path, NULL, &cl) ||
		    dmk_ipc_memfd_alloc(4096 * KiB, (void **)&buf, &fd) ||
		    dmk_ipc_client_register_memfd(cl, fd, 0, 4096 * KiB, DMK_PROT_RW, &h, &route))
			_exit(1);
		if (write(pipefd[1], "r", 1) != 1)
			_exit(2);
		for (;;)
			dmk_ipc_client_read(cl, h, 0, 4096 * KiB, lba);
	}
	close(pipefd[1]);
	rc = (int)read(pipefd[0], &c, 1);
	close(pipefd[0]);
	usleep(20000);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	wait_idle();
	result(rc == 1 && WIFSIGNALED(st) && stats().clients == 0 && stats().regions == 0 &&
	       memfd_mappings() == 0, "ipc-sigkill",
	       "ready %d, %" PRIu64 " clients, %" PRIu64 " regions, %d memfd mappings left", rc,
	       stats().clients, stats().regions, memfd_mappings());
	rc = run_child(0, 0, lba, 44);
	result(rc == 0, "ipc-serves-after-sigkill", "application failed at step %d", rc);
	if (rc == 0)
		dmkcheck_seed(lba * bs, LEN, 44);
}

int main(void)
{
	const char *bdf = getenv("DMK_NVME_BDF");
	struct dmk_ipc_server_opts so;
	struct dmk_ipc_backend *be;
	struct dmk_nvme_info info;
	struct dmk_space *sp;
	struct dmk_pci *pci;
	struct dmk_nvme *ctrl;
	pthread_t t;
	uint64_t base;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (!bdf) {
		printf("FAIL setup: DMK_NVME_BDF is not set\n");
		return 2;
	}
	SETUP(dmk_space_vfio_create(&sp), "setup");
	SETUP(dmk_pci_open(sp, bdf, &pci), "setup");
	SETUP(dmk_nvme_open(sp, pci, NULL, &ctrl), "setup");
	dmk_nvme_info(ctrl, &info);
	bs = info.lba_size;
	/* Blocks at 3/4 of the namespace: the other guest tests write lower. */
	base = info.nlba / 4 * 3;
	SETUP(info.nlba < 16384 ? -ENOSPC : 0, "setup");
	SETUP(dmk_ipc_backend_nvme_create(sp, ctrl, 0, &be), "setup");
	mkdir("/tmp", 01777);
	dmk_ipc_server_opts_init(&so);
	so.socket_mode = 0666;
	SETUP(dmk_ipc_server_create(sock_path, be, &so, &srv), "setup");
	SETUP(pthread_create(&t, NULL, serve, NULL), "setup");

	test_routes(base);
	test_forged();
	test_sigkill(base + 4096);

	dmk_ipc_server_stop(srv);
	pthread_join(t, NULL);
	dmk_ipc_server_destroy(srv);
	dmk_ipc_backend_destroy(be);
	dmk_nvme_close(ctrl);
	dmk_pci_close(pci);
	dmk_space_destroy(sp);
	return failures ? 1 : 0;
}
