/* SPDX-License-Identifier: MIT */
/*
 * What the guest tests of the driver daemon share: the daemon's server on
 * the NVMe driver (QEMU's nvme behind the emulated VT-d IOMMU, through
 * VFIO) running on a thread of the test process, applications as forked
 * processes (one of them may drop root), the server's counters, waiting
 * until every connection is gone, and counting the client memfd and pool
 * mappings the daemon's process holds.
 *
 *	struct vmipc d;
 *	if (vmipc_open(&d, "/tmp/dmakitd-x.sock", NULL))
 *		return 2;                          (it printed FAIL setup: why)
 *	rc = vmipc_run(app, &args);                exit status of app(&args)
 *	vmipc_wait_idle(&d);
 *	vmipc_close(&d);
 *
 * For one-file test programs, after vmcheck.h: everything here is static.
 */
#ifndef DMK_VMIPC_H
#define DMK_VMIPC_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/ipc_server.h>
#include <dmakit/nvme.h>
#include <dmakit/pci.h>
#include <dmakit/space.h>
#include <dmakit/vfio.h>

#include "vmcheck.h"

#include "drivers/nvme/debug.h"	/* hold the doorbells: commands never reach the device */
#include "drivers/nvme/nvme_priv.h"	/* ring a held doorbell */

/* The uid (and gid) an application drops to: not root, not the daemon's. */
#define NOBODY 65534

/**
 * struct vmipc - a daemon's server on the NVMe controller
 * @sp: the vfio space of the controller.
 * @pci: the controller's PCI device.
 * @ctrl: the controller, opened.
 * @info: what it is: @info.lba_size, @info.nlba.
 * @be: the NVMe backend (I/O queue 0).
 * @srv: the server, listening on @path, running on @thread.
 * @thread: the thread that runs dmk_ipc_server_run().
 * @path: the socket.
 * @routes: dmk_ipc_server_routes() before the server ran.
 */
struct vmipc {
	struct dmk_space *sp;
	struct dmk_pci *pci;
	struct dmk_nvme *ctrl;
	struct dmk_nvme_info info;
	struct dmk_ipc_backend *be;
	struct dmk_ipc_server *srv;
	pthread_t thread;
	const char *path;
	unsigned routes;
};

static inline void *vmipc_serve(void *arg)
{
	struct vmipc *d = arg;

	return (void *)(intptr_t)dmk_ipc_server_run(d->srv);
}

/*
 * Open the controller named by $DMK_NVME_BDF in a vfio space (options
 * @nopts, or the driver's defaults), make the NVMe backend and a server on
 * @path (options @opts, or the defaults with a socket anyone may connect
 * to) and run it on a thread. 0, or 2 after a "FAIL setup: why" line.
 */
static inline int vmipc_open(struct vmipc *d, const char *path, const struct dmk_nvme_opts *nopts,
			     const struct dmk_ipc_server_opts *opts)
{
	const char *bdf = getenv("DMK_NVME_BDF");
	struct dmk_ipc_server_opts so;

	memset(d, 0, sizeof(*d));
	d->path = path;
	if (!bdf) {
		printf("FAIL setup: DMK_NVME_BDF is not set\n");
		return 2;
	}
	SETUP(dmk_space_vfio_create(&d->sp), "setup");
	SETUP(dmk_pci_open(d->sp, bdf, &d->pci), "setup");
	SETUP(dmk_nvme_open(d->sp, d->pci, nopts, &d->ctrl), "setup");
	SETUP(dmk_nvme_info(d->ctrl, &d->info), "setup");
	SETUP(dmk_ipc_backend_nvme_create(d->sp, d->ctrl, 0, &d->be), "setup");
	mkdir("/tmp", 01777);
	if (opts) {
		so = *opts;
	} else {
		dmk_ipc_server_opts_init(&so);
		so.socket_mode = 0666; /* uid NOBODY connects too */
	}
	SETUP(dmk_ipc_server_create(path, d->be, &so, &d->srv), "setup");
	d->routes = dmk_ipc_server_routes(d->srv);
	SETUP(pthread_create(&d->thread, NULL, vmipc_serve, d), "setup");
	return 0;
}

/* Stop the server, join its thread, free everything vmipc_open() made. */
static inline void vmipc_close(struct vmipc *d)
{
	void *ret;

	dmk_ipc_server_stop(d->srv);
	pthread_join(d->thread, &ret);
	dmk_ipc_server_destroy(d->srv);
	dmk_ipc_backend_destroy(d->be);
	dmk_nvme_close(d->ctrl);
	dmk_pci_close(d->pci);
	dmk_space_destroy(d->sp);
}

static inline struct dmk_ipc_server_stats vmipc_stats(const struct vmipc *d)
{
	struct dmk_ipc_server_stats s;

	memset(&s, 0, sizeof(s));
	dmk_ipc_server_stats(d->srv, &s);
	return s;
}

/* Wait (up to 5 s) until the server counts no connection; true if so. A
 * connection is counted gone once its regions are released. */
static inline bool vmipc_wait_idle(const struct vmipc *d)
{
	for (int i = 0; i < 500; i++) {
		if (vmipc_stats(d).clients == 0)
			return true;
		usleep(10000);
	}
	return false;
}

/* Mappings of client memfds and daemon pools this process (the daemon)
 * holds now, from /proc/self/maps; -1 when it cannot be read. */
static inline int vmipc_memfd_mappings(void)
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

/* In an application: become uid and gid NOBODY. 0, or -1. */
static inline int vmipc_drop_root(void)
{
	if (setgid(NOBODY) || setuid(NOBODY) || getuid() != NOBODY || geteuid() != NOBODY)
		return -1;
	return 0;
}

/*
 * Fork an application that runs @fn(@arg) and exits with what it returns
 * (0, or the number of the step that failed, said on stderr with the last
 * error). The child must not return into the test. Its pid, or -1.
 */
static inline pid_t vmipc_fork(int (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int rc = fn(arg);

		if (rc)
			fprintf(stderr, "application (pid %d): step %d: %s\n", (int)getpid(), rc,
				dmk_last_error());
		fflush(NULL);
		_exit(rc);
	}
	return pid;
}

/* Wait for an application: its exit status, or -1 (killed, or no child). */
static inline int vmipc_wait(pid_t pid)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Let the controller's doorbells ring again (dmki_nvme_debug_hold_doorbells)
 * and ring queue 0's, the daemon's: what was held goes to the device. */
static inline void vmipc_release_doorbells(struct vmipc *d)
{
	struct dmki_nvme_queue *q = &d->ctrl->io[0];

	dmki_nvme_debug_hold_doorbells(false);
	pthread_mutex_lock(&q->lock);
	dmki_nvme_sq_ring(q);
	pthread_mutex_unlock(&q->lock);
}

/* Fork an application and wait for it: its exit status, or -1. */
static inline int vmipc_run(int (*fn)(void *), void *arg)
{
	return vmipc_wait(vmipc_fork(fn, arg));
}

#endif
