/* SPDX-License-Identifier: MIT */
/*
 * dmakitd: the driver daemon. Owns one device and serves applications on a
 * UNIX socket (include/dmakit/ipc_server.h; clients link the library and
 * use include/dmakit/ipc_client.h).
 *
 *	dmakitd --nvme 0000:00:02.0 [options]      an NVMe controller bound
 *	                                            to vfio-pci
 *	dmakitd --sim BLOCKS[:BLOCK_SIZE] [options] a RAM disk behind the sim
 *	                                            IOMMU, for trying clients
 *	                                            without a device
 *
 * dmakitd --help lists the options and their defaults. SIGINT or SIGTERM
 * stops it cleanly.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <dmakit/error.h>
#include <dmakit/ipc.h>
#include <dmakit/ipc_server.h>
#include <dmakit/nvme.h>
#include <dmakit/pci.h>
#include <dmakit/space.h>
#include <dmakit/vfio.h>

#include "opts.h"

#define PROG "dmakitd"

static struct dmk_ipc_server *g_srv;

static void on_signal(int sig)
{
	(void)sig;
	if (g_srv)
		dmk_ipc_server_stop(g_srv);
}

/* --sim BLOCKS[:BLOCK_SIZE]: the RAM disk, or exit 2 naming the value. */
static struct dmk_ipc_backend *sim_backend(const char *arg, uint64_t *blocks, uint64_t *bs)
{
	const char *colon = strchr(arg, ':');
	char *num = strndup(arg, colon ? (size_t)(colon - arg) : strlen(arg)), why[160];
	struct dmk_ipc_backend *be;
	int rc;

	*bs = 512;
	if (!num)
		opt_lib_error(PROG, "--sim", -ENOMEM);
	if (opt_number(num, OPT_UINT, 1, UINT64_MAX, 0, blocks, why, sizeof(why)))
		opt_usage_error(PROG, "--sim '%s': blocks: %s", arg, why);
	free(num);
	if (colon && opt_number(colon + 1, OPT_SIZE, 1, UINT32_MAX, OPT_POW2, bs, why, sizeof(why)))
		opt_usage_error(PROG, "--sim '%s': block size: %s", arg, why);
	rc = dmk_ipc_backend_sim_create((uint32_t)*bs, *blocks, &be);
	if (rc == -EINVAL) /* the library's limits on the disk, say which */
		opt_usage_error(PROG, "--sim '%s': %s", arg, dmk_last_error());
	if (rc)
		opt_lib_error(PROG, "the sim backend", rc);
	return be;
}

/* "memfd, pool, copy": the routes @srv serves, into @buf. */
static const char *routes(const struct dmk_ipc_server *srv, char *buf, size_t len)
{
	unsigned mask = dmk_ipc_server_routes(srv);
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned r = 1; r < 32 && n < len; r++)
		if (mask & (1u << r))
			n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", dmk_ipc_route_name(r));
	return buf;
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
	uint64_t blocks = 0, bs = 0;
	bool quiet = false;
	char what[96], served[64];
	const struct opt_def defs[] = {
		{ .name = "nvme", .type = OPT_STR, OPT_TO(bdf), .arg = "BDF", .def = "",
		  .help = "serve the NVMe controller at this PCI address (DDDD:BB:DD.F), bound to vfio-pci" },
		{ .name = "sim", .type = OPT_STR, OPT_TO(sim), .arg = "BLOCKS[:BLOCK_SIZE]", .def = "",
		  .help = "serve a RAM disk of BLOCKS blocks behind the sim IOMMU instead, for trying "
			  "clients without a device; BLOCK_SIZE a power of two from 512 to 65536 "
			  "(default 512), the disk at most 1 GiB" },
		{ .name = "socket", .type = OPT_STR, OPT_TO(path), .arg = "PATH",
		  .max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1,
		  .help = "the UNIX socket applications connect to" },
		{ .name = "mode", .type = OPT_MODE, OPT_TO(opts.socket_mode), .arg = "OCTAL",
		  .help = "who may connect: the socket's permission bits, in octal, u+w among them" },
		{ .name = "bounce", .type = OPT_SIZE, OPT_TO(opts.bounce_size), .arg = "BYTES",
		  .help = "the copy route's bounce buffer, rounded up to whole blocks; 0 turns the "
			  "copy route off" },
		{ .name = "ring-entries", .type = OPT_UINT, OPT_TO(opts.ring_entries), .arg = "N",
		  .min = 1, .max = DMK_IPC_RING_MAX, .flags = OPT_POW2,
		  .help = "most entries of a client's rings, and so its requests in flight there" },
		{ .name = "ring-poll-us", .type = OPT_UINT, OPT_TO(opts.ring_poll_us), .arg = "US",
		  .max = 1000000,
		  .help = "how long to keep polling the rings after the last entry before sleeping "
			  "on doorbells" },
		{ .name = "max-clients", .type = OPT_UINT, OPT_TO(opts.max_clients), .arg = "N",
		  .min = 1, .max = 1024, .help = "connections at once; more are refused" },
		{ .name = "max-clients-per-uid", .type = OPT_UINT, OPT_TO(opts.max_clients_per_uid),
		  .arg = "N", .max = 1024, .def = "0: half the clients, rounded up",
		  .help = "connections of one uid at once, so that one user cannot take every slot; "
			  "more are refused" },
		{ .name = "hello-timeout-ms", .type = OPT_UINT, OPT_TO(opts.hello_timeout_ms),
		  .arg = "MS", .min = 1, .max = 600000,
		  .help = "how long a new connection has to say HELLO before it is closed" },
		{ .name = "max-regions", .type = OPT_UINT, OPT_TO(opts.max_regions), .arg = "N",
		  .min = 1, .help = "most regions one client may hold" },
		{ .name = "max-pinned", .type = OPT_SIZE, OPT_TO(opts.max_pinned), .arg = "BYTES",
		  .min = 1, .help = "most bytes one client may have registered" },
		{ .name = "max-pinned-total", .type = OPT_SIZE, OPT_TO(opts.max_pinned_total),
		  .arg = "BYTES", .def = "0: half the machine's memory",
		  .help = "most bytes the daemon pins for all clients together" },
		{ .name = "quiet", .type = OPT_FLAG, OPT_TO(quiet),
		  .help = "no log lines; otherwise one a connection, refusal and disconnection, on "
			  "standard error" },
	};
	const struct opt_tool tool = {
		PROG, "(--nvme BDF | --sim BLOCKS[:BLOCK_SIZE]) [options]",
		"The driver daemon: owns one device and serves it to applications on a UNIX "
		"socket, by the memfd, pool, copy and lease routes and on rings "
		"(<dmakit/ipc_client.h>). SIGINT or SIGTERM stops it.",
		"Exit status: 0 once stopped; 1 when the device or the socket cannot be set up "
		"(its reason is printed); 2 for bad options.",
		defs, OPT_COUNT(defs),
	};
	int rc;

	dmk_ipc_server_opts_init(&opts);
	rc = opt_parse(&tool, argc, argv);
	if (rc < argc)
		opt_usage_error(PROG, "unexpected argument '%s'", argv[rc]);
	if (!bdf == !sim)
		opt_usage_error(PROG, "say --nvme BDF or --sim BLOCKS, one of them");
	if (bdf && !opt_is_bdf(bdf))
		opt_usage_error(PROG, "--nvme '%s': not a PCI address DDDD:BB:DD.F (lowercase hexadecimal)",
				bdf);
	if (opts.max_clients_per_uid > opts.max_clients)
		opt_usage_error(PROG, "--max-clients-per-uid '%u': more than --max-clients %u",
				opts.max_clients_per_uid, opts.max_clients);
	if (quiet)
		opts.log_fd = -1;

	if (sim) {
		be = sim_backend(sim, &blocks, &bs);
		snprintf(what, sizeof(what), "a sim RAM disk of %llu blocks of %llu bytes",
			 (unsigned long long)blocks, (unsigned long long)bs);
	} else {
		rc = dmk_space_vfio_create(&space);
		if (!rc)
			rc = dmk_pci_open(space, bdf, &pci);
		if (!rc)
			rc = dmk_nvme_open(space, pci, NULL, &ctrl);
		if (!rc)
			rc = dmk_ipc_backend_nvme_create(space, ctrl, 0, &be);
		if (rc) {
			fprintf(stderr, PROG ": %s: %s\n", strerror(-rc), dmk_last_error());
			goto out;
		}
		snprintf(what, sizeof(what), "the NVMe controller %s", bdf);
	}
	rc = dmk_ipc_server_create(path, be, &opts, &g_srv);
	if (rc) {
		fprintf(stderr, PROG ": %s: %s\n", strerror(-rc), dmk_last_error());
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!quiet)
		fprintf(stderr, PROG ": serving %s on %s (mode %04o); routes: %s; rings of up to %u "
			"entries\n",
			what, path, opts.socket_mode, routes(g_srv, served, sizeof(served)),
			opts.ring_entries);
	rc = dmk_ipc_server_run(g_srv);
	if (rc)
		fprintf(stderr, PROG ": %s: %s\n", strerror(-rc), dmk_last_error());
out:
	dmk_ipc_server_destroy(g_srv);
	dmk_ipc_backend_destroy(be);
	dmk_nvme_close(ctrl);
	dmk_pci_close(pci);
	dmk_space_destroy(space);
	return rc ? EXIT_LIB : 0;
}
