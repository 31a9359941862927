/* SPDX-License-Identifier: MIT */
/*
 * dmakitd: the driver daemon. Owns one device and serves applications on a
 * UNIX socket (include/dmakit/ipc_server.h; clients link the library and
 * use include/dmakit/ipc_client.h).
 *
 *	dmakitd --nvme 0000:00:02.0 [--socket PATH]     an NVMe controller
 *	                                                 bound to vfio-pci
 *	dmakitd --sim BLOCKS[:BLOCK_SIZE] [--socket PATH] a RAM disk behind the
 *	                                                 sim IOMMU, for trying
 *	                                                 clients without a device
 *
 * Options: --mode OCTAL (who may connect, default 0660), --bounce BYTES
 * (the copy route's buffer, 0 to disable it, default 1 MiB), --ring-entries N
 * (most entries of a client's rings, a power of two, default 256),
 * --ring-poll-us US (how long to keep polling the rings after the last
 * entry before sleeping on doorbells, default 0), --max-pinned BYTES (per
 * client, default 1 GiB), --max-pinned-total BYTES (what the daemon pins for
 * all clients together, default half the memory), --quiet (no log lines).
 * SIGINT or SIGTERM stops it cleanly.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmakit/error.h>
#include <dmakit/ipc_server.h>
#include <dmakit/nvme.h>
#include <dmakit/pci.h>
#include <dmakit/space.h>
#include <dmakit/vfio.h>

static struct dmk_ipc_server *g_srv;

static void on_signal(int sig)
{
	(void)sig;
	if (g_srv)
		dmk_ipc_server_stop(g_srv);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dmakitd (--nvme BDF | --sim BLOCKS[:BLOCK_SIZE]) [--socket PATH]\n"
		   "               [--mode OCTAL] [--bounce BYTES] [--ring-entries N]\n"
		   "               [--ring-poll-us US] [--max-pinned BYTES]\n"
		   "               [--max-pinned-total BYTES] [--quiet]\n"
		   "  Serves one device to applications on a UNIX socket\n"
		   "  (default /run/dmakitd.sock).\n");
}

int main(int argc, char **argv)
{
	const char *path = "/run/dmakitd.sock", *bdf = NULL, *sim = NULL;
	struct dmk_ipc_server_opts opts;
	struct dmk_ipc_backend *be = NULL;
	struct dmk_space *space = NULL;
	struct dmk_pci *pci = NULL;
	struct dmk_nvme *ctrl = NULL;
	struct sigaction sa;
	int rc;

	dmk_ipc_server_opts_init(&opts);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--quiet")) {
			opts.log_fd = -1;
			continue;
		}
		if (!v) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(a, "--nvme"))
			bdf = v;
		else if (!strcmp(a, "--sim"))
			sim = v;
		else if (!strcmp(a, "--socket"))
			path = v;
		else if (!strcmp(a, "--mode"))
			opts.socket_mode = (unsigned)strtoul(v, NULL, 8);
		else if (!strcmp(a, "--bounce"))
			opts.bounce_size = (size_t)strtoull(v, NULL, 0);
		else if (!strcmp(a, "--ring-entries"))
			opts.ring_entries = (unsigned)strtoul(v, NULL, 0);
		else if (!strcmp(a, "--ring-poll-us"))
			opts.ring_poll_us = (unsigned)strtoul(v, NULL, 0);
		else if (!strcmp(a, "--max-pinned"))
			opts.max_pinned = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--max-pinned-total"))
			opts.max_pinned_total = strtoull(v, NULL, 0);
		else {
			usage(stderr);
			return 2;
		}
		i++;
	}
	if (!bdf == !sim) {
		usage(stderr);
		return 2;
	}
	if (sim) {
		char *end;
		unsigned long long blocks = strtoull(sim, &end, 0);
		unsigned long bs = 512;

		if (*end == ':')
			bs = strtoul(end + 1, &end, 0);
		if (*end || blocks == 0) {
			usage(stderr);
			return 2;
		}
		rc = dmk_ipc_backend_sim_create((uint32_t)bs, blocks, &be);
	} else {
		rc = dmk_space_vfio_create(&space);
		if (!rc)
			rc = dmk_pci_open(space, bdf, &pci);
		if (!rc)
			rc = dmk_nvme_open(space, pci, NULL, &ctrl);
		if (!rc)
			rc = dmk_ipc_backend_nvme_create(space, ctrl, 0, &be);
	}
	if (rc) {
		fprintf(stderr, "dmakitd: %s: %s\n", strerror(-rc), dmk_last_error());
		goto out;
	}
	rc = dmk_ipc_server_create(path, be, &opts, &g_srv);
	if (rc) {
		fprintf(stderr, "dmakitd: %s: %s\n", strerror(-rc), dmk_last_error());
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (opts.log_fd >= 0)
		fprintf(stderr, "dmakitd: serving %s on %s (routes: memfd%s; requests on the socket)\n",
			sim ? "a sim RAM disk" : bdf, path, opts.bounce_size ? ", copy" : "");
	rc = dmk_ipc_server_run(g_srv);
	if (rc)
		fprintf(stderr, "dmakitd: %s: %s\n", strerror(-rc), dmk_last_error());
out:
	dmk_ipc_server_destroy(g_srv);
	dmk_ipc_backend_destroy(be);
	dmk_nvme_close(ctrl);
	dmk_pci_close(pci);
	dmk_space_destroy(space);
	return rc ? 1 : 0;
}
