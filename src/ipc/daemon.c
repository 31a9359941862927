/* SPDX-License-Identifier: MIT */
/*
 * The driver daemon's server (include/dmakit/ipc_server.h): one thread,
 * poll() over the listening socket, a stop eventfd and every connection;
 * one message at a time. Each connection has its own region table; handles
 * are unique across the server, so a handle of another connection is as
 * foreign as a forged one.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <time.h>

#include <dmakit/error.h>
#include <dmakit/ipc.h>
#include <dmakit/ipc_server.h>
#include <dmakit/region.h>
#include <dmakit/vfio.h>

#include "../core/error_priv.h"
#include "backend_priv.h"
#include "lease.h"
#include "sim_priv.h"

#define PAGE 4096u

struct srv_region {
	uint64_t handle;
	unsigned route;
	unsigned prot;
	uint64_t len;
	void *map;		/* memfd route: the daemon's mapping */
	size_t map_len;
	struct dmk_region *reg;
	uint64_t addr;		/* copy route: the client's address */
	unsigned busy;		/* requests on the device using it */
};

/* A ring entry the device holds (in flight). Regions are named by handle:
 * the table moves when it grows. */
struct srv_req {
	unsigned slot;		/* in srv->clients */
	unsigned client_id;
	uint64_t tag;
	uint64_t handle;
	uint64_t length;
};

/* A connection's shared-memory rings (RINGS). Only @hdr's indices, the
 * entries and the flags are shared; @sq_head and @cq_tail here are the
 * daemon's own copies, never read back from the shared memory. */
struct srv_ring {
	struct dmk_ipc_ring_hdr *hdr;	/* NULL: no rings */
	void *map;
	size_t map_len;
	struct dmk_ipc_sqe *sq;
	struct dmk_ipc_cqe *cq;
	uint32_t entries;
	uint32_t sq_head;
	uint32_t cq_tail;
	int req_efd;			/* the client rings it; polled here */
	int cq_efd;			/* rung here when the client sleeps */
};

struct srv_client {
	int fd;
	unsigned id;
	pid_t pid;
	uid_t uid;
	bool hello;
	bool unheard;		/* an answer could not be sent: close it */
	uint64_t max_pinned;
	unsigned max_regions;
	uint64_t pinned;
	struct srv_region *regions;
	size_t nregions;
	struct srv_ring ring;
	unsigned inflight;	/* ring entries on the device */
	bool draining;		/* closed, its regions kept until inflight is 0 */
	struct dmki_lease *lease;	/* the lease route's window, or NULL */
};

struct dmk_ipc_server {
	struct dmk_ipc_backend *be;
	struct dmk_ipc_server_opts opts;
	int lfd;
	int stopfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct srv_client *clients;	/* opts.max_clients slots, fd -1 when free */
	struct pollfd *pfd;
	uint64_t next_handle;
	unsigned next_id;
	void *bounce;
	size_t bounce_len;
	struct dmk_region *bounce_reg;
	pthread_mutex_t lock;		/* stats */
	struct dmk_ipc_server_stats stats;
};

__attribute__((format(printf, 2, 3)))
static void slog(struct dmk_ipc_server *srv, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (srv->opts.log_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(srv->opts.log_fd, line, (size_t)n) < 0) {
		/* nowhere left to say it */
	}
}

#define STAT_ADD(srv, field, v)                        \
	do {                                           \
		pthread_mutex_lock(&(srv)->lock);      \
		(srv)->stats.field += (v);             \
		pthread_mutex_unlock(&(srv)->lock);    \
	} while (0)

void dmk_ipc_server_opts_init(struct dmk_ipc_server_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->max_clients = 64;
	opts->max_pinned = 1ull << 30;
	opts->max_regions = 64;
	opts->bounce_size = 1u << 20;
	opts->socket_mode = 0660;
	opts->log_fd = 2;
	opts->ring_entries = 256;
	opts->ring_poll_us = 0;
}

/* A client that does not take its answers (1 s, SO_SNDTIMEO) or is gone is
 * closed after the message being served. */
static int reply(struct srv_client *c, const struct dmk_ipc_msg *m)
{
	int rc = dmk_ipc_send(c->fd, m, -1);

	if (rc)
		c->unheard = true;
	return rc;
}

static int reply_error(struct srv_client *c, uint64_t seq, int err, const char *reason)
{
	struct dmk_ipc_msg m;

	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_ERROR;
	m.seq = seq;
	m.error.err = err;
	snprintf(m.error.reason, sizeof(m.error.reason), "%s", reason);
	return reply(c, &m);
}

/* Refuse a request, keep the connection. */
static void refuse(struct dmk_ipc_server *srv, struct srv_client *c, uint64_t seq, int err,
		   const char *reason)
{
	STAT_ADD(srv, refused, 1);
	slog(srv, "dmakitd: client %u (pid %d): refused: %s", c->id, (int)c->pid, reason);
	reply_error(c, seq, err, reason);
}

static void region_release(struct dmk_ipc_server *srv, struct srv_client *c, struct srv_region *r)
{
	if (r->reg) {
		int rc = dmk_region_unregister(r->reg);

		if (rc)
			slog(srv, "dmakitd: client %u: unregister of handle %llu: %s", c->id,
			     (unsigned long long)r->handle, dmk_last_error());
	}
	if (r->map)
		munmap(r->map, r->map_len);
	c->pinned -= r->len;
	STAT_ADD(srv, regions, (uint64_t)-1);
}

static void ring_free(struct srv_ring *rg)
{
	if (rg->map)
		munmap(rg->map, rg->map_len);
	if (rg->req_efd > 0)
		close(rg->req_efd);
	if (rg->cq_efd > 0)
		close(rg->cq_efd);
	memset(rg, 0, sizeof(*rg));
}

/* The lease route: the client's window is unmapped from the container,
 * whatever the client mapped there, and returned (lease.c). */
static void lease_end(struct dmk_ipc_server *srv, struct srv_client *c)
{
	uint64_t unmapped = 0, base, size;

	if (!c->lease)
		return;
	base = c->lease->base;
	size = c->lease->size;
	if (dmki_lease_close(c->lease, &unmapped))
		slog(srv, "dmakitd: client %u: %s", c->id, dmk_last_error());
	else
		slog(srv, "dmakitd: client %u: lease [%#llx, +%llu) returned, %llu bytes unmapped",
		     c->id, (unsigned long long)base, (unsigned long long)size,
		     (unsigned long long)unmapped);
	c->lease = NULL;
}

/* Nothing of this client is on the device: its memory may go. */
static void client_release(struct dmk_ipc_server *srv, struct srv_client *c)
{
	for (size_t i = 0; i < c->nregions; i++)
		region_release(srv, c, &c->regions[i]);
	lease_end(srv, c);
	free(c->regions);
	ring_free(&c->ring);
	if (c->fd >= 0)
		close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void client_close(struct dmk_ipc_server *srv, struct srv_client *c, const char *why)
{
	if (c->inflight) {
		/* The device still moves bytes into and out of its regions: they
		 * stay registered and mapped until it is done (drained). */
		slog(srv, "dmakitd: client %u (pid %d): disconnected (%s), %u request(s) on the device: %zu region(s) kept until they complete",
		     c->id, (int)c->pid, why, c->inflight, c->nregions);
		ring_free(&c->ring);
		close(c->fd);
		c->fd = -1;
		c->draining = true;
		STAT_ADD(srv, clients, (uint64_t)-1);
		return;
	}
	slog(srv, "dmakitd: client %u (pid %d): disconnected (%s), %zu region(s) released", c->id,
	     (int)c->pid, why, c->nregions);
	client_release(srv, c);
	/* counted gone once its regions are (tests wait on it) */
	STAT_ADD(srv, clients, (uint64_t)-1);
}

/* Close a connection for a malformed or misplaced message, saying why. */
static void drop(struct dmk_ipc_server *srv, struct srv_client *c, uint64_t seq, int err,
		 const char *reason)
{
	char why[DMK_IPC_REASON_MAX + 1];

	snprintf(why, sizeof(why), "%s", reason);
	STAT_ADD(srv, dropped, 1);
	slog(srv, "dmakitd: client %u (pid %d): protocol error: %s", c->id, (int)c->pid, why);
	reply_error(c, seq, err, why);
	client_close(srv, c, "protocol error");
}

static struct srv_region *find_region(struct srv_client *c, uint64_t handle)
{
	for (size_t i = 0; i < c->nregions; i++)
		if (c->regions[i].handle == handle)
			return &c->regions[i];
	return NULL;
}

static struct srv_region *own_region(struct dmk_ipc_server *srv, struct srv_client *c,
				     const struct dmk_ipc_msg *m, uint64_t handle)
{
	struct srv_region *r = find_region(c, handle);
	char why[128];

	if (r)
		return r;
	STAT_ADD(srv, forged, 1);
	snprintf(why, sizeof(why), "%s: handle %llu is not a region of this connection",
		 dmk_ipc_type_name(m->type), (unsigned long long)handle);
	refuse(srv, c, m->seq, -EPERM, why);
	return NULL;
}

static void do_hello(struct dmk_ipc_server *srv, struct srv_client *c, const struct dmk_ipc_msg *m)
{
	struct dmk_ipc_msg r;

	c->max_pinned = srv->opts.max_pinned;
	if (m->hello.max_pinned && m->hello.max_pinned < c->max_pinned)
		c->max_pinned = m->hello.max_pinned;
	c->max_regions = srv->opts.max_regions;
	if (m->hello.max_regions && m->hello.max_regions < c->max_regions)
		c->max_regions = m->hello.max_regions;
	c->hello = true;
	memset(&r, 0, sizeof(r));
	r.type = DMK_IPC_HELLO;
	r.seq = m->seq;
	r.hello.version = DMK_IPC_VERSION;
	r.hello.max_pinned = c->max_pinned;
	r.hello.max_regions = c->max_regions;
	r.hello.max_inflight = 1; /* synchronous on the socket in this version */
	r.hello.lba_size = srv->be->lba_size;
	r.hello.nlba = srv->be->nlba;
	reply(c, &r);
}

static bool handle_in_use(struct dmk_ipc_server *srv, uint64_t h)
{
	for (unsigned i = 0; i < srv->opts.max_clients; i++)
		if (srv->clients[i].fd >= 0 && find_region(&srv->clients[i], h))
			return true;
	return false;
}

/* The next handle no connection holds (handles wrap after 2^32 - 1). */
static uint64_t new_handle(struct dmk_ipc_server *srv)
{
	uint64_t h;

	do {
		h = srv->next_handle++;
		if (srv->next_handle > DMK_IPC_HANDLE_MAX)
			srv->next_handle = 1;
	} while (handle_in_use(srv, h));
	return h;
}

/* The pool route: memory of the daemon's, a memfd sealed so that neither
 * side can shrink or grow it, mapped and registered here; its descriptor
 * goes to the client, which maps the same pages. */
static int pool_alloc(struct dmk_ipc_server *srv, struct srv_region *nr, int *pool_fd)
{
	int mprot = PROT_READ | (nr->prot & DMK_PROT_WRITE ? PROT_WRITE : 0);
	int f, rc;

	nr->map_len = (size_t)((nr->len + PAGE - 1) & ~(uint64_t)(PAGE - 1));
	f = memfd_create("dmakitd-pool", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (f < 0)
		return dmki_fail(-errno, "memfd_create: %s", strerror(errno));
	if (ftruncate(f, (off_t)nr->map_len) != 0 ||
	    fcntl(f, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
		rc = dmki_fail(-errno, "a pool memfd of %zu bytes: %s", nr->map_len, strerror(errno));
		close(f);
		return rc;
	}
	nr->map = mmap(NULL, nr->map_len, mprot, MAP_SHARED, f, 0);
	if (nr->map == MAP_FAILED) {
		nr->map = NULL;
		rc = dmki_fail(-errno, "mapping a pool memfd: %s", strerror(errno));
		close(f);
		return rc;
	}
	rc = dmk_region_register(srv->be->space, nr->map, (size_t)nr->len, nr->prot, &nr->reg);
	if (rc) {
		munmap(nr->map, nr->map_len);
		nr->map = NULL;
		close(f);
		return rc;
	}
	*pool_fd = f;
	return 0;
}

/* The lease route's first REGISTER (offset and address 0): a window of
 * IOVAs for this client alone, and the container's descriptor with it. */
static void lease_grant(struct dmk_ipc_server *srv, struct srv_client *c,
			const struct dmk_ipc_msg *m)
{
	struct dmk_ipc_backend *be = srv->be;
	char why[DMK_IPC_REASON_MAX + 1];
	struct dmk_ipc_msg ok;
	int rc;

	if (c->lease) {
		refuse(srv, c, m->seq, -EEXIST, "REGISTER by lease: the connection holds a lease already");
		return;
	}
	if (!be->ops->io_dev || dmk_vfio_container_fd(be->space) < 0) {
		refuse(srv, c, m->seq, -ENOTSUP,
		       "REGISTER by lease: this daemon's device is not behind a VFIO container");
		return;
	}
	if (c->uid != 0 && c->uid != geteuid()) {
		/* The descriptor lets its holder unmap any mapping of the container
		 * (type1 does not check who made it): only for clients that could
		 * control this process anyway. */
		snprintf(why, sizeof(why), "REGISTER by lease: the container's descriptor can unmap anyone's memory; granted to uid 0 and %u only (use the memfd or pool route)",
			 (unsigned)geteuid());
		refuse(srv, c, m->seq, -EPERM, why);
		return;
	}
	if (m->reg.length > c->max_pinned) {
		snprintf(why, sizeof(why), "REGISTER by lease: a window of %llu bytes is more than the connection's %llu pinned bytes",
			 (unsigned long long)m->reg.length, (unsigned long long)c->max_pinned);
		refuse(srv, c, m->seq, -ENOSPC, why);
		return;
	}
	rc = dmki_lease_open(be->space, m->reg.length, &c->lease);
	if (rc) {
		snprintf(why, sizeof(why), "REGISTER by lease: %s", dmk_last_error());
		refuse(srv, c, m->seq, rc, why);
		return;
	}
	memset(&ok, 0, sizeof(ok));
	ok.type = DMK_IPC_COMPLETION;
	ok.seq = m->seq;
	ok.comp.bytes = c->lease->base;
	slog(srv, "dmakitd: client %u (pid %d): lease [%#llx, +%llu)", c->id, (int)c->pid,
	     (unsigned long long)c->lease->base, (unsigned long long)c->lease->size);
	if (dmk_ipc_send(c->fd, &ok, dmk_vfio_container_fd(be->space)) != 0)
		c->unheard = true;	/* closed after this message; the window goes */
}

static void do_register(struct dmk_ipc_server *srv, struct srv_client *c,
			const struct dmk_ipc_msg *m, int fd)
{
	const struct dmk_ipc_register *rq = &m->reg;
	struct srv_region nr, *grown;
	struct dmk_ipc_msg ok;
	char why[DMK_IPC_REASON_MAX + 1];
	int pool_fd = -1;

	memset(&nr, 0, sizeof(nr));
	if (rq->route == DMK_IPC_ROUTE_LEASE && rq->offset == 0 && rq->addr == 0) {
		lease_grant(srv, c, m);
		goto out;
	}
	if (rq->route != DMK_IPC_ROUTE_MEMFD && fd >= 0) {
		snprintf(why, sizeof(why), "REGISTER: the %s route takes no descriptor",
			 dmk_ipc_route_name(rq->route));
		refuse(srv, c, m->seq, -EINVAL, why);
		goto out;
	}
	if (rq->route == DMK_IPC_ROUTE_COPY && !srv->bounce) {
		refuse(srv, c, m->seq, -ENOTSUP, "REGISTER: this daemon has no copy route");
		goto out;
	}
	if (rq->route == DMK_IPC_ROUTE_MEMFD && fd < 0) {
		refuse(srv, c, m->seq, -EINVAL, "REGISTER: the memfd route needs a descriptor");
		goto out;
	}
	if (c->nregions >= c->max_regions) {
		snprintf(why, sizeof(why), "REGISTER: the connection holds its %u regions already",
			 c->max_regions);
		refuse(srv, c, m->seq, -ENOSPC, why);
		goto out;
	}
	if (rq->length > c->max_pinned - c->pinned) {
		snprintf(why, sizeof(why),
			 "REGISTER: %llu bytes more would pass the connection's %llu pinned bytes",
			 (unsigned long long)rq->length, (unsigned long long)c->max_pinned);
		refuse(srv, c, m->seq, -ENOSPC, why);
		goto out;
	}
	nr.route = rq->route;
	nr.prot = rq->prot;
	nr.len = rq->length;
	if (rq->route == DMK_IPC_ROUTE_MEMFD) {
		struct stat st;
		int seals, mprot, rc;

		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			refuse(srv, c, m->seq, -EINVAL, "REGISTER: the descriptor is not a regular file");
			goto out;
		}
		if (rq->offset > (uint64_t)st.st_size || rq->length > (uint64_t)st.st_size - rq->offset) {
			snprintf(why, sizeof(why), "REGISTER: %llu+%llu is past the file's %lld bytes",
				 (unsigned long long)rq->offset, (unsigned long long)rq->length,
				 (long long)st.st_size);
			refuse(srv, c, m->seq, -EINVAL, why);
			goto out;
		}
		seals = fcntl(fd, F_GET_SEALS);
		if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
			refuse(srv, c, m->seq, -EINVAL,
			       "REGISTER: the file is not sealed with F_SEAL_SHRINK (it could shrink under the device)");
			goto out;
		}
		mprot = PROT_READ | (rq->prot & DMK_PROT_WRITE ? PROT_WRITE : 0);
		nr.map_len = (size_t)((rq->length + PAGE - 1) & ~(uint64_t)(PAGE - 1));
		nr.map = mmap(NULL, nr.map_len, mprot, MAP_SHARED, fd, (off_t)rq->offset);
		if (nr.map == MAP_FAILED) {
			int e = errno;

			nr.map = NULL;
			snprintf(why, sizeof(why), "REGISTER: mapping the file: %s", strerror(e));
			refuse(srv, c, m->seq, -e, why);
			goto out;
		}
		rc = dmk_region_register(srv->be->space, nr.map, (size_t)rq->length, rq->prot, &nr.reg);
		if (rc) {
			snprintf(why, sizeof(why), "REGISTER: %s", dmk_last_error());
			munmap(nr.map, nr.map_len);
			refuse(srv, c, m->seq, rc, why);
			goto out;
		}
	} else if (rq->route == DMK_IPC_ROUTE_LEASE) {
		struct dmki_lease_reg lr = { new_handle(srv), rq->offset, rq->length, rq->addr,
					     rq->prot };
		char lwhy[160] = "the connection holds no lease";
		int rc = c->lease ? dmki_lease_add(c->lease, &lr, lwhy, sizeof(lwhy)) : -EPERM;

		if (rc) {
			snprintf(why, sizeof(why), "REGISTER by lease: %s", lwhy);
			refuse(srv, c, m->seq, rc, why);
			goto out;
		}
		nr.addr = rq->offset;
		nr.handle = lr.handle;
	} else if (rq->route == DMK_IPC_ROUTE_POOL) {
		int rc = pool_alloc(srv, &nr, &pool_fd);

		if (rc) {
			snprintf(why, sizeof(why), "REGISTER: %s", dmk_last_error());
			refuse(srv, c, m->seq, rc, why);
			goto out;
		}
	} else {
		nr.addr = rq->addr;
	}
	grown = realloc(c->regions, (c->nregions + 1) * sizeof(*grown));
	if (!grown) {
		if (nr.reg)
			dmk_region_unregister(nr.reg);
		if (nr.map)
			munmap(nr.map, nr.map_len);
		if (pool_fd >= 0)
			close(pool_fd);
		pool_fd = -1;
		if (nr.handle)
			dmki_lease_remove(c->lease, nr.handle);
		refuse(srv, c, m->seq, -ENOMEM, "REGISTER: out of memory");
		goto out;
	}
	c->regions = grown;
	if (!nr.handle)
		nr.handle = new_handle(srv);
	c->regions[c->nregions++] = nr;
	c->pinned += nr.len;
	STAT_ADD(srv, regions, 1);
	memset(&ok, 0, sizeof(ok));
	ok.type = DMK_IPC_COMPLETION;
	ok.seq = m->seq;
	ok.comp.route = nr.route;
	ok.comp.handle = nr.handle;
	if (dmk_ipc_send(c->fd, &ok, pool_fd) != 0)
		c->unheard = true;	/* closed after this message; the region goes */
out:
	if (fd >= 0)
		close(fd);
	if (pool_fd >= 0)
		close(pool_fd);
}

static void do_unregister(struct dmk_ipc_server *srv, struct srv_client *c,
			  const struct dmk_ipc_msg *m)
{
	struct srv_region *r = own_region(srv, c, m, m->unreg.handle);
	struct dmk_ipc_msg ok;

	if (!r)
		return;
	if (r->busy) {
		char why[128];

		snprintf(why, sizeof(why), "UNREGISTER: region %llu has %u request(s) on the device",
			 (unsigned long long)r->handle, r->busy);
		refuse(srv, c, m->seq, -EBUSY, why);
		return;
	}
	region_release(srv, c, r);
	if (r->route == DMK_IPC_ROUTE_LEASE)
		dmki_lease_remove(c->lease, r->handle);
	*r = c->regions[--c->nregions];
	memset(&ok, 0, sizeof(ok));
	ok.type = DMK_IPC_COMPLETION;
	ok.seq = m->seq;
	reply(c, &ok);
}

/* The copy route: the device moves the bytes into and out of the daemon's
 * bounce buffer, process_vm_*() moves them to and from the client. */
static int copy_io(struct dmk_ipc_server *srv, struct srv_client *c, const struct srv_region *r,
		   bool rd, uint64_t offset, uint64_t length, uint64_t lba)
{
	struct dmk_ipc_backend *be = srv->be;
	uint64_t done = 0;

	while (done < length) {
		size_t n = (size_t)(length - done < srv->bounce_len ? length - done : srv->bounce_len);
		struct iovec local = { srv->bounce, n };
		struct iovec remote = { (void *)(uintptr_t)(r->addr + offset + done), n };
		uint64_t blk = lba + done / be->lba_size;
		ssize_t got;
		int rc;

		if (rd) {
			rc = be->ops->read(be, blk, srv->bounce, n);
			if (rc)
				return rc;
			got = process_vm_writev(c->pid, &local, 1, &remote, 1, 0);
		} else {
			got = process_vm_readv(c->pid, &local, 1, &remote, 1, 0);
			if (got == (ssize_t)n) {
				rc = be->ops->write(be, blk, srv->bounce, n);
				if (rc)
					return rc;
			}
		}
		if (got < 0)
			return dmki_fail(-errno, "copy route: %s of the client's memory: %s",
					 rd ? "process_vm_writev" : "process_vm_readv", strerror(errno));
		if (got != (ssize_t)n)
			return dmki_fail(-EFAULT, "copy route: only %zd of %zu bytes of the client's memory",
					 got, n);
		done += n;
	}
	return 0;
}

/* Check a READ or WRITE (from a message or a ring entry) against the
 * connection's regions and the device. 0 with the region in *@out, or a
 * negative errno with the reason in @why. */
static int io_check(struct dmk_ipc_server *srv, struct srv_client *c, bool rd,
		    const struct dmk_ipc_io *io, struct srv_region **out, char *why, size_t wl)
{
	struct dmk_ipc_backend *be = srv->be;
	const char *what = rd ? "READ" : "WRITE";
	unsigned need = rd ? DMK_PROT_WRITE : DMK_PROT_READ;
	struct srv_region *r = find_region(c, io->handle);

	if (!r) {
		STAT_ADD(srv, forged, 1);
		snprintf(why, wl, "%s: handle %llu is not a region of this connection", what,
			 (unsigned long long)io->handle);
		return -EPERM;
	}
	if (io->offset > r->len || io->length > r->len - io->offset) {
		snprintf(why, wl, "%s: bytes %llu+%llu are past region %llu of %llu bytes",
			 what, (unsigned long long)io->offset, (unsigned long long)io->length,
			 (unsigned long long)r->handle, (unsigned long long)r->len);
		return -EINVAL;
	}
	if (io->length == 0 || io->length > DMK_IPC_IO_MAX || io->length % be->lba_size) {
		snprintf(why, wl, "%s: %llu bytes are not 1 to %llu whole blocks of %u", what,
			 (unsigned long long)io->length, (unsigned long long)(DMK_IPC_IO_MAX / be->lba_size),
			 be->lba_size);
		return -EINVAL;
	}
	if (io->lba > be->nlba || io->length / be->lba_size > be->nlba - io->lba) {
		snprintf(why, wl, "%s: blocks %llu+%llu are past the device's %llu", what,
			 (unsigned long long)io->lba, (unsigned long long)(io->length / be->lba_size),
			 (unsigned long long)be->nlba);
		return -ERANGE;
	}
	if (!(r->prot & need)) {
		snprintf(why, wl, "%s: region %llu does not let the device %s it", what,
			 (unsigned long long)r->handle, rd ? "write" : "read");
		return -EACCES;
	}
	if (r->route == DMK_IPC_ROUTE_LEASE) {
		/* The client's own mapping: the window and the record again. */
		char lwhy[160] = "the connection holds no lease";
		uint64_t dev;
		int rc = c->lease ? dmki_lease_io(c->lease, r->handle, need, io->offset, io->length,
						  &dev, lwhy, sizeof(lwhy)) : -EPERM;

		if (rc) {
			snprintf(why, wl, "%s: %s", what, lwhy);
			return rc;
		}
	}
	*out = r;
	return 0;
}

/* Move the bytes of a checked READ or WRITE; count it. */
static int io_exec(struct dmk_ipc_server *srv, struct srv_client *c, const struct srv_region *r,
		   bool rd, const struct dmk_ipc_io *io)
{
	struct dmk_ipc_backend *be = srv->be;
	int rc;

	if (r->route == DMK_IPC_ROUTE_LEASE) {
		/* The device gets the IOVAs of the client's own mapping. */
		char lwhy[160];
		uint64_t dev = 0;

		rc = dmki_lease_io(c->lease, r->handle, rd ? DMK_PROT_WRITE : DMK_PROT_READ,
				   io->offset, io->length, &dev, lwhy, sizeof(lwhy));
		rc = rc ? dmki_fail(rc, "%s", lwhy) : be->ops->io_dev(be, !rd, io->lba, dev, io->length);
	} else if (r->route != DMK_IPC_ROUTE_COPY) {
		/* memfd and pool: the device moves the bytes in the shared pages */
		uint8_t *va = (uint8_t *)r->map + io->offset;

		rc = rd ? be->ops->read(be, io->lba, va, (size_t)io->length)
			: be->ops->write(be, io->lba, va, (size_t)io->length);
	} else {
		rc = copy_io(srv, c, r, rd, io->offset, io->length, io->lba);
	}
	pthread_mutex_lock(&srv->lock);
	srv->stats.requests++;
	if (rc == 0) {
		srv->stats.bytes += io->length;
		if (r->route == DMK_IPC_ROUTE_COPY)
			srv->stats.copied += io->length;
	}
	pthread_mutex_unlock(&srv->lock);
	return rc;
}

static void do_io(struct dmk_ipc_server *srv, struct srv_client *c, const struct dmk_ipc_msg *m)
{
	bool rd = m->type == DMK_IPC_READ;
	struct srv_region *r = NULL;
	struct dmk_ipc_msg done;
	char why[DMK_IPC_REASON_MAX + 1];
	int rc;

	rc = io_check(srv, c, rd, &m->io, &r, why, sizeof(why));
	if (rc) {
		refuse(srv, c, m->seq, rc, why);
		return;
	}
	rc = io_exec(srv, c, r, rd, &m->io);
	if (rc) {
		/* A failed transfer is answered with an ERROR: its errno and why. */
		snprintf(why, sizeof(why), "%s: %s", dmk_ipc_type_name(m->type), dmk_last_error());
		slog(srv, "dmakitd: client %u (pid %d): %s", c->id, (int)c->pid, why);
		reply_error(c, m->seq, rc, why);
		return;
	}
	memset(&done, 0, sizeof(done));
	done.type = DMK_IPC_COMPLETION;
	done.seq = m->seq;
	done.comp.bytes = m->io.length;
	reply(c, &done);
}

/* RINGS: a memfd holding both rings (sealed: neither side can resize it)
 * and two eventfds, sent to the client with the answer. */
static void do_rings(struct dmk_ipc_server *srv, struct srv_client *c, const struct dmk_ipc_msg *m)
{
	struct srv_ring *rg = &c->ring;
	struct dmk_ipc_msg ok;
	char why[DMK_IPC_REASON_MAX + 1];
	uint32_t entries = m->rings.entries;
	int fds[3] = { -1, -1, -1 };

	if (rg->hdr) {
		refuse(srv, c, m->seq, -EEXIST, "RINGS: the connection has its rings already");
		return;
	}
	if (m->rings.size != 0) {
		refuse(srv, c, m->seq, -EINVAL, "RINGS: a client asks with size 0");
		return;
	}
	if (entries > srv->opts.ring_entries)
		entries = srv->opts.ring_entries;
	rg->entries = entries;
	rg->map_len = (size_t)dmk_ipc_ring_size(entries);
	fds[0] = memfd_create("dmakitd-rings", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fds[0] < 0 || ftruncate(fds[0], (off_t)rg->map_len) != 0 ||
	    fcntl(fds[0], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
		goto fail;
	rg->map = mmap(NULL, rg->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (rg->map == MAP_FAILED) {
		rg->map = NULL;
		goto fail;
	}
	fds[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fds[2] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fds[1] < 0 || fds[2] < 0)
		goto fail;
	rg->hdr = rg->map;
	rg->sq = (struct dmk_ipc_sqe *)((uint8_t *)rg->map + DMK_IPC_RING_SQ_OFF);
	rg->cq = (struct dmk_ipc_cqe *)((uint8_t *)rg->map + dmk_ipc_ring_cq_off(entries));
	rg->req_efd = fds[1];
	rg->cq_efd = fds[2];
	/* Asleep until the poll loop says otherwise: ring the doorbell. */
	__atomic_store_n(&rg->hdr->sq_flags, DMK_IPC_RING_NEED_WAKEUP, __ATOMIC_SEQ_CST);
	memset(&ok, 0, sizeof(ok));
	ok.type = DMK_IPC_RINGS;
	ok.seq = m->seq;
	ok.rings.entries = entries;
	ok.rings.size = rg->map_len;
	if (dmk_ipc_send_fds(c->fd, &ok, fds, 3) != 0)
		c->unheard = true;
	close(fds[0]);
	slog(srv, "dmakitd: client %u (pid %d): rings of %u entries", c->id, (int)c->pid, entries);
	return;
fail:
	snprintf(why, sizeof(why), "RINGS: %s", strerror(errno));
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (rg->map)
		munmap(rg->map, rg->map_len);
	memset(rg, 0, sizeof(*rg));
	refuse(srv, c, m->seq, -ENOMEM, why);
}

/* One submission entry, copied out of the shared memory once (each word
 * read once, volatile: the client may change it meanwhile), then checked
 * like a READ or WRITE message. */
static int32_t ring_entry(struct dmk_ipc_server *srv, struct srv_client *c,
			  const struct dmk_ipc_sqe *slot, uint64_t *tag)
{
	const volatile uint64_t *src = (const volatile uint64_t *)(const void *)slot;
	uint64_t w[sizeof(struct dmk_ipc_sqe) / 8];
	struct dmk_ipc_sqe e;
	struct dmk_ipc_io io;
	struct srv_region *r = NULL;
	char why[DMK_IPC_REASON_MAX + 1];
	int rc;

	for (size_t i = 0; i < sizeof(w) / 8; i++)
		w[i] = src[i];
	memcpy(&e, w, sizeof(e));
	*tag = e.tag;
	io.handle = e.handle;
	io.offset = e.offset;
	io.length = e.length;
	io.lba = e.lba;
	if ((e.op != DMK_IPC_READ && e.op != DMK_IPC_WRITE) || e.flags) {
		snprintf(why, sizeof(why), "ring entry: op %u, flags %#x (READ or WRITE, 0)", e.op, e.flags);
		rc = -EINVAL;
	} else {
		rc = io_check(srv, c, e.op == DMK_IPC_READ, &io, &r, why, sizeof(why));
	}
	if (rc) {
		STAT_ADD(srv, refused, 1);
		slog(srv, "dmakitd: client %u (pid %d): refused a ring entry (tag %llu): %s", c->id,
		     (int)c->pid, (unsigned long long)e.tag, why);
		return rc;
	}
	if (r->route != DMK_IPC_ROUTE_COPY && dmki_ipc_is_sim(srv->be)) {
		/* The sim device may hold the transfer (in flight). */
		struct srv_req *q = calloc(1, sizeof(*q));

		if (!q)
			return -ENOMEM;
		q->slot = (unsigned)(c - srv->clients);
		q->client_id = c->id;
		q->tag = e.tag;
		q->handle = r->handle;
		q->length = io.length;
		rc = dmki_ipc_sim_start(srv->be, e.op == DMK_IPC_READ, io.lba,
					(uint8_t *)r->map + io.offset, (size_t)io.length, q);
		if (rc == -EINPROGRESS) {
			r->busy++;
			c->inflight++;
			return 1;
		}
		free(q);
		pthread_mutex_lock(&srv->lock);
		srv->stats.requests++;
		if (rc == 0)
			srv->stats.bytes += io.length;
		pthread_mutex_unlock(&srv->lock);
	} else {
		rc = io_exec(srv, c, r, e.op == DMK_IPC_READ, &io);
	}
	if (rc)
		slog(srv, "dmakitd: client %u (pid %d): ring entry (tag %llu): %s", c->id, (int)c->pid,
		     (unsigned long long)e.tag, dmk_last_error());
	return rc;
}

static void ring_post(struct srv_ring *rg, uint64_t tag, int32_t st)
{
	struct dmk_ipc_cqe *ce = &rg->cq[rg->cq_tail & (rg->entries - 1)];

	ce->tag = tag;
	ce->status = st;
	ce->flags = 0;
	rg->cq_tail++;
	__atomic_store_n(&rg->hdr->cq_tail, rg->cq_tail, __ATOMIC_RELEASE);
}

static void ring_wake(struct srv_ring *rg)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&rg->hdr->cq_flags, __ATOMIC_RELAXED) & DMK_IPC_RING_NEED_WAKEUP) {
		uint64_t one = 1;

		if (write(rg->cq_efd, &one, sizeof(one)) < 0) {
			/* the counter is full: the client is awake anyway */
		}
	}
}

/* Requests the device finished: their completions go to the ring of a
 * client still there; a closed client's regions go with its last one. */
static void device_reap(struct dmk_ipc_server *srv)
{
	void *cookies[32];
	int rcs[32];
	size_t n;
	uint64_t v;

	if (read(dmki_ipc_sim_efd(srv->be), &v, sizeof(v)) < 0) {
		/* nothing signalled: look anyway */
	}
	while ((n = dmki_ipc_sim_reap(srv->be, cookies, rcs, 32)) > 0) {
		for (size_t i = 0; i < n; i++) {
			struct srv_req *q = cookies[i];
			struct srv_client *c = &srv->clients[q->slot];
			struct srv_region *r = find_region(c, q->handle);

			pthread_mutex_lock(&srv->lock);
			srv->stats.requests++;
			if (rcs[i] == 0)
				srv->stats.bytes += q->length;
			pthread_mutex_unlock(&srv->lock);
			if (r && r->busy)
				r->busy--;
			if (c->id == q->client_id && c->inflight)
				c->inflight--;
			if (rcs[i])
				slog(srv, "dmakitd: client %u: ring entry (tag %llu) on the device: error %d",
				     q->client_id, (unsigned long long)q->tag, rcs[i]);
			if (c->id != q->client_id) {
				/* cannot be: a slot is kept while it has requests */
			} else if (c->draining) {
				if (!c->inflight) {
					slog(srv, "dmakitd: client %u (pid %d): drained, %zu region(s) released",
					     c->id, (int)c->pid, c->nregions);
					client_release(srv, c);
				}
			} else if (c->fd >= 0 && c->ring.hdr) {
				ring_post(&c->ring, q->tag, rcs[i]);
				ring_wake(&c->ring);
			}
			free(q);
		}
	}
}

/* Indices read once; false when the client wrote ones that cannot be. */
static bool ring_indices(struct srv_ring *rg, uint32_t *tail, uint32_t *cq_head)
{
	*tail = __atomic_load_n(&rg->hdr->sq_tail, __ATOMIC_ACQUIRE);
	*cq_head = __atomic_load_n(&rg->hdr->cq_head, __ATOMIC_ACQUIRE);
	return *tail - rg->sq_head <= rg->entries && rg->cq_tail - *cq_head <= rg->entries;
}

/* Serve up to one ring's worth of entries; a completion slot is taken
 * before each entry, so that the client's requests in flight never pass
 * @entries. Returns entries served; a client whose indices cannot be is
 * closed. */
static unsigned ring_serve(struct dmk_ipc_server *srv, struct srv_client *c)
{
	struct srv_ring *rg = &c->ring;
	uint32_t mask = rg->entries - 1, tail, cq_head;
	unsigned done = 0;

	if (!ring_indices(rg, &tail, &cq_head)) {
		char why[DMK_IPC_REASON_MAX + 1];

		snprintf(why, sizeof(why),
			 "ring indices out of bounds (sq %u..%u, cq %u..%u, %u entries)", rg->sq_head,
			 tail, cq_head, rg->cq_tail, rg->entries);
		drop(srv, c, 0, -EPROTO, why);
		return 0;
	}
	/* A completion slot for each entry taken, those on the device too. */
	while (rg->sq_head != tail && rg->cq_tail - cq_head + c->inflight < rg->entries &&
	       done < rg->entries) {
		uint64_t tag = 0;
		int32_t st = ring_entry(srv, c, &rg->sq[rg->sq_head & mask], &tag);

		rg->sq_head++;
		__atomic_store_n(&rg->hdr->sq_head, rg->sq_head, __ATOMIC_RELEASE);
		if (st <= 0)
			ring_post(rg, tag, st);
		done++;
	}
	if (done)
		ring_wake(rg);
	return done;
}

/* Going to sleep: ask for the doorbell, then look once more (the client
 * publishes, fences, reads the flag; here the flag is set, fenced, the
 * index read: one of the two sees the other). True when there is work. */
static bool ring_arm(struct srv_ring *rg, unsigned inflight)
{
	uint32_t tail, cq_head;

	__atomic_store_n(&rg->hdr->sq_flags, DMK_IPC_RING_NEED_WAKEUP, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!ring_indices(rg, &tail, &cq_head))
		return true; /* ring_serve() closes it */
	return tail != rg->sq_head && rg->cq_tail - cq_head + inflight < rg->entries;
}

static void serve_one(struct dmk_ipc_server *srv, struct srv_client *c)
{
	struct dmk_ipc_msg m;
	char why[DMK_IPC_REASON_MAX + 1];
	int fd = -1, rc;

	rc = dmk_ipc_recv(c->fd, &m, &fd);
	if (rc == -ECONNRESET) {
		client_close(srv, c, "closed");
		return;
	}
	if (rc) {
		/* -EBADMSG, -EPROTO, -EINVAL: the message does not decode. */
		snprintf(why, sizeof(why), "%s", dmk_last_error());
		drop(srv, c, 0, rc < 0 && rc >= -4095 ? rc : -EBADMSG, why);
		return;
	}
	if (fd >= 0 && m.type != DMK_IPC_REGISTER) {
		close(fd);
		snprintf(why, sizeof(why), "%s came with a descriptor", dmk_ipc_type_name(m.type));
		drop(srv, c, m.seq, -EBADMSG, why);
		return;
	}
	if (!c->hello && m.type != DMK_IPC_HELLO) {
		if (fd >= 0)
			close(fd);
		snprintf(why, sizeof(why), "%s before HELLO", dmk_ipc_type_name(m.type));
		drop(srv, c, m.seq, -EPROTO, why);
		return;
	}
	switch (m.type) {
	case DMK_IPC_HELLO:
		if (c->hello) {
			drop(srv, c, m.seq, -EPROTO, "a second HELLO");
			return;
		}
		do_hello(srv, c, &m);
		return;
	case DMK_IPC_REGISTER:
		do_register(srv, c, &m, fd);
		return;
	case DMK_IPC_UNREGISTER:
		do_unregister(srv, c, &m);
		return;
	case DMK_IPC_READ:
	case DMK_IPC_WRITE:
		do_io(srv, c, &m);
		return;
	case DMK_IPC_BYE:
		client_close(srv, c, "BYE");
		return;
	case DMK_IPC_RINGS:
		do_rings(srv, c, &m);
		return;
	default:
		snprintf(why, sizeof(why), "a client may not send %s", dmk_ipc_type_name(m.type));
		drop(srv, c, m.seq, -EPROTO, why);
		return;
	}
}

static void accept_one(struct dmk_ipc_server *srv)
{
	struct timeval tv = { 1, 0 };
	struct srv_client *c = NULL;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	int fd;

	fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (unsigned i = 0; i < srv->opts.max_clients; i++)
		if (srv->clients[i].fd < 0 && !srv->clients[i].draining) {
			c = &srv->clients[i];
			break;
		}
	if (!c) {
		slog(srv, "dmakitd: a connection refused: %u clients already", srv->opts.max_clients);
		close(fd);
		return;
	}
	memset(&cred, 0, sizeof(cred));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0) {
		close(fd);
		return;
	}
	/* A client that does not read its answers must not stall the others. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->id = ++srv->next_id;
	c->pid = cred.pid;
	c->uid = cred.uid;
	pthread_mutex_lock(&srv->lock);
	srv->stats.clients++;
	srv->stats.accepted++;
	pthread_mutex_unlock(&srv->lock);
	slog(srv, "dmakitd: client %u: connected (pid %d, uid %u)", c->id, (int)c->pid,
	     (unsigned)c->uid);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The poll loop. Connections' sockets and request doorbells are polled;
 * after each round every connection's rings are served. While there was
 * ring work in the last opts.ring_poll_us the loop keeps looking without
 * sleeping (clients see no NEED_WAKEUP and ring no doorbell); before it
 * sleeps it arms every ring's doorbell and looks once more.
 */
int dmk_ipc_server_run(struct dmk_ipc_server *srv)
{
	unsigned nc = srv->opts.max_clients;
	uint64_t spin_ns = (uint64_t)srv->opts.ring_poll_us * 1000u, last = 0;
	int timeout = -1;
	bool armed = false, spinning = false;
	unsigned spins = 0;

	for (;;) {
		nfds_t n = 0;
		unsigned work = 0;
		int rc;

		/* Polling the rings: the sockets and doorbells every 64th turn. */
		if (spinning && (++spins & 63))
			goto rings;
		srv->pfd[n++] = (struct pollfd){ srv->stopfd, POLLIN, 0 };
		srv->pfd[n++] = (struct pollfd){ srv->lfd, POLLIN, 0 };
		for (unsigned i = 0; i < nc; i++)
			srv->pfd[n++] = (struct pollfd){ srv->clients[i].fd, POLLIN, 0 };
		for (unsigned i = 0; i < nc; i++) {
			struct srv_client *c = &srv->clients[i];

			srv->pfd[n++] = (struct pollfd){ c->fd >= 0 && c->ring.hdr ? c->ring.req_efd : -1,
							 POLLIN, 0 };
		}
		srv->pfd[n++] = (struct pollfd){ dmki_ipc_is_sim(srv->be) ? dmki_ipc_sim_efd(srv->be) : -1,
						 POLLIN, 0 };
		rc = poll(srv->pfd, n, timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			return dmki_fail(-errno, "dmakitd: poll: %s", strerror(errno));
		}
		if (armed) {
			for (unsigned i = 0; i < nc; i++)
				if (srv->clients[i].fd >= 0 && srv->clients[i].ring.hdr)
					__atomic_store_n(&srv->clients[i].ring.hdr->sq_flags, 0,
							 __ATOMIC_RELAXED);
			armed = false;
		}
		if (srv->pfd[0].revents) {
			uint64_t v;

			if (read(srv->stopfd, &v, sizeof(v)) < 0) {
				/* the flag is what matters */
			}
			return 0;
		}
		for (unsigned i = 0; i < nc; i++) {
			struct srv_client *c = &srv->clients[i];
			struct pollfd *db = &srv->pfd[2 + nc + i];

			if (c->fd >= 0 && c->ring.hdr && db->fd == c->ring.req_efd && db->revents) {
				uint64_t v;

				if (read(c->ring.req_efd, &v, sizeof(v)) < 0) {
					/* nothing rung: the rings are looked at anyway */
				}
			}
			if (c->fd >= 0 && srv->pfd[2 + i].fd == c->fd && srv->pfd[2 + i].revents) {
				serve_one(srv, c);
				if (c->fd >= 0 && c->unheard)
					client_close(srv, c, "answer not taken");
			}
		}
		if (srv->pfd[1].revents & POLLIN)
			accept_one(srv);
		if (srv->pfd[2 + 2 * nc].revents)
			device_reap(srv);
rings:
		for (unsigned i = 0; i < nc; i++) {
			struct srv_client *c = &srv->clients[i];

			if (c->fd >= 0 && c->ring.hdr)
				work += ring_serve(srv, c);
		}
		timeout = 0;
		spinning = spin_ns != 0;
		if (work) {
			if (spin_ns)
				last = now_ns();
			continue;
		}
		if (spin_ns && now_ns() - last < spin_ns) {
			/* Nothing on the rings: a client sharing this CPU may
			 * want it to publish its next entry. */
			sched_yield();
			continue;
		}
		spinning = false;
		timeout = -1;
		armed = true;
		for (unsigned i = 0; i < nc; i++) {
			struct srv_client *c = &srv->clients[i];

			if (c->fd >= 0 && c->ring.hdr && ring_arm(&c->ring, c->inflight))
				timeout = 0;
		}
	}
}

int dmk_ipc_server_stop(struct dmk_ipc_server *srv)
{
	uint64_t one = 1;

	if (write(srv->stopfd, &one, sizeof(one)) < 0) {
		/* the counter is full: a stop is pending anyway */
	}
	return 0;
}

int dmk_ipc_server_stats(struct dmk_ipc_server *srv, struct dmk_ipc_server_stats *stats)
{
	pthread_mutex_lock(&srv->lock);
	*stats = srv->stats;
	pthread_mutex_unlock(&srv->lock);
	return 0;
}

int dmk_ipc_server_create(const char *path, struct dmk_ipc_backend *be,
			  const struct dmk_ipc_server_opts *opts, struct dmk_ipc_server **out)
{
	struct dmk_ipc_server *srv;
	struct sockaddr_un sa;
	struct stat st;
	int rc;

	if (!path || !be || !out)
		return dmki_fail(-EINVAL, "dmk_ipc_server_create: NULL argument");
	if (strlen(path) >= sizeof(sa.sun_path))
		return dmki_fail(-EINVAL, "socket path of %zu bytes: at most %zu", strlen(path),
				 sizeof(sa.sun_path) - 1);
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return dmki_fail(-ENOMEM, "out of memory for a server");
	if (opts)
		srv->opts = *opts;
	else
		dmk_ipc_server_opts_init(&srv->opts);
	if (srv->opts.max_clients < 1 || srv->opts.max_clients > 1024 || srv->opts.max_regions < 1 ||
	    srv->opts.max_pinned == 0 || (srv->opts.socket_mode & ~0777u) ||
	    srv->opts.ring_entries == 0 || srv->opts.ring_entries > DMK_IPC_RING_MAX ||
	    (srv->opts.ring_entries & (srv->opts.ring_entries - 1)) ||
	    srv->opts.ring_poll_us > 1000000u) {
		rc = dmki_fail(-EINVAL, "server options: max_clients %u (1 to 1024), max_regions %u, max_pinned %llu, mode %#o, ring_entries %u (a power of two to %u), ring_poll_us %u (to 1 s)",
			       srv->opts.max_clients, srv->opts.max_regions,
			       (unsigned long long)srv->opts.max_pinned, srv->opts.socket_mode,
			       srv->opts.ring_entries, DMK_IPC_RING_MAX, srv->opts.ring_poll_us);
		free(srv);
		return rc;
	}
	srv->be = be;
	srv->lfd = srv->stopfd = -1;
	srv->next_handle = 1;
	pthread_mutex_init(&srv->lock, NULL);
	snprintf(srv->path, sizeof(srv->path), "%s", path);
	srv->clients = calloc(srv->opts.max_clients, sizeof(*srv->clients));
	srv->pfd = calloc(2u * srv->opts.max_clients + 3u, sizeof(*srv->pfd));
	if (!srv->clients || !srv->pfd) {
		rc = dmki_fail(-ENOMEM, "out of memory for %u clients", srv->opts.max_clients);
		goto fail;
	}
	for (unsigned i = 0; i < srv->opts.max_clients; i++)
		srv->clients[i].fd = -1;
	if (srv->opts.bounce_size) {
		srv->bounce_len = (srv->opts.bounce_size + be->lba_size - 1) / be->lba_size * be->lba_size;
		if (posix_memalign(&srv->bounce, PAGE, srv->bounce_len)) {
			srv->bounce = NULL;
			rc = dmki_fail(-ENOMEM, "out of memory for a %zu-byte bounce buffer", srv->bounce_len);
			goto fail;
		}
		memset(srv->bounce, 0, srv->bounce_len);
		rc = dmk_region_register(be->space, srv->bounce, srv->bounce_len, DMK_PROT_RW,
					 &srv->bounce_reg);
		if (rc)
			goto fail;
	}
	srv->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv->stopfd < 0) {
		rc = dmki_fail(-errno, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			rc = dmki_fail(-EEXIST, "%s exists and is not a socket", path);
			goto fail;
		}
		unlink(path);
	}
	srv->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (srv->lfd < 0) {
		rc = dmki_fail(-errno, "socket: %s", strerror(errno));
		goto fail;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if (bind(srv->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rc = dmki_fail(-errno, "bind %s: %s", path, strerror(errno));
		goto fail;
	}
	if (chmod(path, srv->opts.socket_mode) != 0 || listen(srv->lfd, 64) != 0) {
		rc = dmki_fail(-errno, "chmod/listen %s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	*out = srv;
	return 0;
fail:
	if (srv->lfd >= 0)
		close(srv->lfd);
	if (srv->stopfd >= 0)
		close(srv->stopfd);
	if (srv->bounce_reg)
		dmk_region_unregister(srv->bounce_reg);
	free(srv->bounce);
	free(srv->clients);
	free(srv->pfd);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
	return rc;
}

int dmk_ipc_server_destroy(struct dmk_ipc_server *srv)
{
	if (!srv)
		return 0;
	for (unsigned i = 0; i < srv->opts.max_clients; i++)
		if (srv->clients[i].fd >= 0)
			client_close(srv, &srv->clients[i], "server destroyed");
	/* Requests still on the device finish before the memory goes. */
	if (dmki_ipc_is_sim(srv->be)) {
		dmk_ipc_backend_sim_release(srv->be);
		device_reap(srv);
	}
	for (unsigned i = 0; i < srv->opts.max_clients; i++)
		if (srv->clients[i].draining) {
			slog(srv, "dmakitd: client %u: %u request(s) never completed", srv->clients[i].id,
			     srv->clients[i].inflight);
			client_release(srv, &srv->clients[i]);
		}
	close(srv->lfd);
	unlink(srv->path);
	close(srv->stopfd);
	if (srv->bounce_reg)
		dmk_region_unregister(srv->bounce_reg);
	free(srv->bounce);
	free(srv->clients);
	free(srv->pfd);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
	return 0;
}
