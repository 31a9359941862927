/* SPDX-License-Identifier: MIT */
/*
 * ipc_read: the question dmakit began with. A driver process owns an NVMe
 * controller; an application, another process, allocates a buffer with
 * posix_memalign and has the device read into it, with no copy.
 *
 *	ipc_read [BDF [MiB]]         (BDF defaults to $DMK_NVME_BDF, MiB to 8)
 *
 * The process forks. The child is the driver daemon (the server dmakitd
 * runs): it opens the controller through VFIO and serves a UNIX socket.
 * The parent is the application: it connects, takes an IOVA window of the
 * daemon's IOMMU container (the lease route: it maps its own heap pages
 * there itself, root only), writes a pattern to the last MiB of the
 * namespace from its buffer, clears the buffer, reads the blocks back into
 * it, and checks every byte. It prints what went where and how fast.
 * Exit status 0 when every byte is right.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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

#define SOCK "/tmp/dmakitd-demo.sock"

static struct dmk_ipc_server *g_srv;

static void on_term(int sig)
{
	(void)sig;
	if (g_srv)
		dmk_ipc_server_stop(g_srv);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The driver daemon: the controller through VFIO, served on SOCK. */
static int daemon_main(const char *bdf, int ready_fd)
{
	struct dmk_ipc_server_opts so;
	struct dmk_ipc_backend *be;
	struct dmk_space *sp;
	struct dmk_nvme *ctrl;
	struct dmk_pci *pci;
	struct sigaction sa;
	int err;

	if ((err = dmk_space_vfio_create(&sp)) || (err = dmk_pci_open(sp, bdf, &pci)) ||
	    (err = dmk_nvme_open(sp, pci, NULL, &ctrl)) ||
	    (err = dmk_ipc_backend_nvme_create(sp, ctrl, 0, &be))) {
		fprintf(stderr, "daemon: %d (%s)\n", err, dmk_last_error());
		return 1;
	}
	dmk_ipc_server_opts_init(&so);
	so.socket_mode = 0666;
	mkdir("/tmp", 01777);
	if ((err = dmk_ipc_server_create(SOCK, be, &so, &g_srv))) {
		fprintf(stderr, "daemon: %d (%s)\n", err, dmk_last_error());
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	printf("daemon (pid %d): NVMe %s through VFIO, serving %s\n", (int)getpid(), bdf, SOCK);
	if (write(ready_fd, "", 1) != 1)
		return 1;
	close(ready_fd);
	err = dmk_ipc_server_run(g_srv);
	dmk_ipc_server_destroy(g_srv);
	dmk_ipc_backend_destroy(be);
	dmk_nvme_close(ctrl);
	dmk_pci_close(pci);
	dmk_space_destroy(sp);
	return err ? 1 : 0;
}

/* The application: its own posix_memalign buffer, filled by the device. */
static int app_main(size_t len)
{
	struct dmk_ipc_client *c;
	struct dmk_ipc_lease *l;
	struct dmk_ipc_hello lim;
	uint64_t h, base, size, lba, bad = 0;
	unsigned route;
	unsigned char *buf;
	double t0, t1;
	int err;

#define TRY(call)                                                                        \
	do {                                                                             \
		if ((err = (call))) {                                                    \
			fprintf(stderr, "application: %s: %d (%s)\n", #call, err,         \
				dmk_last_error());                                       \
			return 1;                                                        \
		}                                                                        \
	} while (0)

	TRY(dmk_ipc_client_connect(SOCK, NULL, &c));
	TRY(dmk_ipc_client_limits(c, &lim));
	TRY(dmk_ipc_client_lease(c, 2 * len, &l));
	TRY(dmk_ipc_lease_window(l, &base, &size));
	if (posix_memalign((void **)&buf, 4096, len)) {
		fprintf(stderr, "application: out of memory\n");
		return 1;
	}
	TRY(dmk_ipc_lease_register(l, buf, len, DMK_PROT_RW, &h, &route));
	printf("application (pid %d): buffer %p + %zu from posix_memalign, route %s, "
	       "IOVA window [%#" PRIx64 ", +%#" PRIx64 ") of the daemon's IOMMU container\n",
	       (int)getpid(), (void *)buf, len, route == DMK_IPC_ROUTE_LEASE ? "lease (zero copy)" : "?",
	       base, size);

	/* The last len bytes of the namespace, in whole blocks of the device. */
	lba = lim.nlba - len / lim.lba_size;
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(i * 7 + i / 4096);
	TRY(dmk_ipc_client_write(c, h, 0, len, lba));
	memset(buf, 0, len);
	t0 = now();
	TRY(dmk_ipc_client_read(c, h, 0, len, lba));
	t1 = now();
	for (size_t i = 0; i < len; i++)
		bad += buf[i] != (unsigned char)(i * 7 + i / 4096);
	printf("application: read %zu MiB from LBA %" PRIu64 " straight into its buffer in %.1f ms "
	       "(%.0f MiB/s, the device wrote the buffer's own pages through the IOMMU)\n",
	       len >> 20, lba, (t1 - t0) * 1e3, (double)len / (1 << 20) / (t1 - t0));
	printf("%s verify: %" PRIu64 " of %zu bytes differ\n", bad ? "FAIL" : "PASS", bad, len);
	TRY(dmk_ipc_lease_unregister(l, h));
	TRY(dmk_ipc_lease_close(l));
	TRY(dmk_ipc_client_close(c));
	free(buf);
	return bad ? 1 : 0;
#undef TRY
}

int main(int argc, char **argv)
{
	const char *bdf = argc > 1 ? argv[1] : getenv("DMK_NVME_BDF");
	size_t len = (size_t)(argc > 2 ? strtoul(argv[2], NULL, 0) : 8) << 20;
	int ready[2], status = 0, rc;
	char byte;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (!bdf || !len) {
		fprintf(stderr, "usage: ipc_read [BDF [MiB]] (or set DMK_NVME_BDF)\n");
		return 2;
	}
	if (pipe(ready))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(ready[0]);
		_exit(daemon_main(bdf, ready[1]));
	}
	close(ready[1]);
	if (read(ready[0], &byte, 1) != 1) {
		fprintf(stderr, "the daemon did not start\n");
		waitpid(pid, &status, 0);
		return 1;
	}
	rc = app_main(len);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fprintf(stderr, "the daemon ended badly (status %#x)\n", status);
	return rc || !WIFEXITED(status) || WEXITSTATUS(status);
}
