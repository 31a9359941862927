/* SPDX-License-Identifier: MIT */
/*
 * The driver daemon's regions: REGISTER by each of the four routes (memfd,
 * pool, copy, lease) within the connection's limits, and UNREGISTER. Handles
 * are unique across the server, so a handle of another connection is as
 * foreign as a forged one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/region.h>
#include <dmakit/vfio.h>

#include "../core/error_priv.h"
#include "backend_priv.h"
#include "daemon_priv.h"
#include "lease.h"

void dmki_srv_region_release(struct dmk_ipc_server *srv, struct srv_client *c, struct srv_region *r)
{
	bool kept = false;

	if (r->reg && dmk_region_unregister(r->reg)) {
		/* -EBUSY: a command the driver gave up on still holds it. The
		 * registration stays, so the mapping stays too: unmapped, its
		 * addresses could be mapped again and resolve to the old pages. */
		dmki_srv_log(srv, "dmakitd: client %u: handle %llu kept registered and mapped: %s",
			     c->id, (unsigned long long)r->handle, dmk_last_error());
		kept = true;
	}
	if (r->map && !kept)
		munmap(r->map, r->map_len);
	if (r->route == DMK_IPC_ROUTE_COPY) {
		close(r->pidfd);
		close(r->mem_fd);
	}
	c->pinned -= r->len;
	pthread_mutex_lock(&srv->lock);
	srv->stats.regions--;
	if (r->reg)
		srv->stats.pinned -= r->len;
	pthread_mutex_unlock(&srv->lock);
}

struct srv_region *dmki_srv_find_region(struct srv_client *c, uint64_t handle)
{
	for (size_t i = 0; i < c->nregions; i++)
		if (c->regions[i].handle == handle)
			return &c->regions[i];
	return NULL;
}

static struct srv_region *own_region(struct dmk_ipc_server *srv, struct srv_client *c,
				     const struct dmk_ipc_msg *m, uint64_t handle)
{
	struct srv_region *r = dmki_srv_find_region(c, handle);
	char why[128];

	if (r)
		return r;
	STAT_ADD(srv, forged, 1);
	snprintf(why, sizeof(why), "%s: handle %llu is not a region of this connection",
		 dmk_ipc_type_name(m->type), (unsigned long long)handle);
	dmki_srv_refuse(srv, c, m->seq, -EPERM, why);
	return NULL;
}

static bool handle_in_use(struct dmk_ipc_server *srv, uint64_t h)
{
	for (unsigned i = 0; i < srv->opts.max_clients; i++)
		if (srv->clients[i].fd >= 0 && dmki_srv_find_region(&srv->clients[i], h))
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
 * side can shrink or grow it (nor seal it further), mapped and registered
 * here; its descriptor goes to the client, which maps the same pages. The
 * client may punch holes into it: shmem fills them with zeroed pages on the
 * next access, the client's bytes lost, nothing faulted (daemon_memfd.c). */
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

bool dmki_srv_lease_able(const struct dmk_ipc_server *srv)
{
	return srv->be->ops->io_dev && dmk_vfio_container_fd(srv->be->space) >= 0;
}

/* The lease route's first REGISTER (offset and address 0): a window of
 * IOVAs for this client alone, and the container's descriptor with it. */
static void lease_grant(struct dmk_ipc_server *srv, struct srv_client *c,
			const struct dmk_ipc_msg *m)
{
	struct dmk_ipc_backend *be = srv->be;
	char why[DMK_IPC_REASON_MAX + 1];
	struct dmk_ipc_msg ok;
	int rc, cfd;

	if (c->lease) {
		dmki_srv_refuse(srv, c, m->seq, -EEXIST, "REGISTER by lease: the connection holds a lease already");
		return;
	}
	if (!dmki_srv_lease_able(srv)) {
		dmki_srv_refuse(srv, c, m->seq, -ENOTSUP,
		       "REGISTER by lease: this daemon's device is not behind a VFIO container");
		return;
	}
	if (c->uid != 0 && c->uid != geteuid()) {
		/* The descriptor lets its holder unmap any mapping of the container
		 * (type1 does not check who made it): only for clients that could
		 * control this process anyway. */
		snprintf(why, sizeof(why), "REGISTER by lease: the container's descriptor can unmap anyone's memory; granted to uid 0 and %u only (use the memfd or pool route)",
			 (unsigned)geteuid());
		dmki_srv_refuse(srv, c, m->seq, -EPERM, why);
		return;
	}
	if (m->reg.length > c->max_pinned) {
		snprintf(why, sizeof(why), "REGISTER by lease: a window of %llu bytes is more than the connection's %llu pinned bytes",
			 (unsigned long long)m->reg.length, (unsigned long long)c->max_pinned);
		dmki_srv_refuse(srv, c, m->seq, -ENOSPC, why);
		return;
	}
	rc = dmki_lease_open(be->space, m->reg.length, &c->lease);
	if (rc) {
		snprintf(why, sizeof(why), "REGISTER by lease: %s", dmk_last_error());
		dmki_srv_refuse(srv, c, m->seq, rc, why);
		return;
	}
	memset(&ok, 0, sizeof(ok));
	ok.type = DMK_IPC_COMPLETION;
	ok.seq = m->seq;
	ok.comp.bytes = c->lease->base;
	dmki_srv_log(srv, "dmakitd: client %u (pid %d): lease [%#llx, +%llu)", c->id, (int)c->pid,
	     (unsigned long long)c->lease->base, (unsigned long long)c->lease->size);
	cfd = dmk_vfio_container_fd(be->space);
	/* not sent nor queued: closed after this message; the window goes */
	dmki_srv_reply_fds(c, &ok, &cfd, 1);
}

void dmki_srv_register(struct dmk_ipc_server *srv, struct srv_client *c,
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
	if (rq->route != DMK_IPC_ROUTE_MEMFD && rq->route != DMK_IPC_ROUTE_COPY && fd >= 0) {
		snprintf(why, sizeof(why), "REGISTER: the %s route takes no descriptor",
			 dmk_ipc_route_name(rq->route));
		dmki_srv_refuse(srv, c, m->seq, -EINVAL, why);
		goto out;
	}
	if (rq->route == DMK_IPC_ROUTE_COPY && !srv->bounce) {
		dmki_srv_refuse(srv, c, m->seq, -ENOTSUP, "REGISTER: this daemon has no copy route");
		goto out;
	}
	if (rq->route == DMK_IPC_ROUTE_MEMFD && fd < 0) {
		dmki_srv_refuse(srv, c, m->seq, -EINVAL, "REGISTER: the memfd route needs a descriptor");
		goto out;
	}
	if (c->nregions >= c->max_regions) {
		snprintf(why, sizeof(why), "REGISTER: the connection holds its %u regions already",
			 c->max_regions);
		dmki_srv_refuse(srv, c, m->seq, -ENOSPC, why);
		goto out;
	}
	if (rq->length > c->max_pinned - c->pinned) {
		snprintf(why, sizeof(why),
			 "REGISTER: %llu bytes more would pass the connection's %llu pinned bytes",
			 (unsigned long long)rq->length, (unsigned long long)c->max_pinned);
		dmki_srv_refuse(srv, c, m->seq, -ENOSPC, why);
		goto out;
	}
	if ((rq->route == DMK_IPC_ROUTE_MEMFD || rq->route == DMK_IPC_ROUTE_POOL) &&
	    rq->length > srv->pinned_cap - srv->stats.pinned) {
		/* Memory the daemon pins in its own space, for everyone. Only
		 * this thread writes stats.pinned: it reads it without the lock. */
		snprintf(why, sizeof(why),
			 "REGISTER: %llu bytes more would pass the %llu bytes this daemon pins for all clients together",
			 (unsigned long long)rq->length, (unsigned long long)srv->pinned_cap);
		dmki_srv_refuse(srv, c, m->seq, -EDQUOT, why);
		goto out;
	}
	nr.route = rq->route;
	nr.prot = rq->prot;
	nr.len = rq->length;
	if (rq->route == DMK_IPC_ROUTE_MEMFD) {
		int rc = dmki_srv_memfd_map(srv, rq, fd, &nr, why, sizeof(why));

		if (rc) {
			dmki_srv_refuse(srv, c, m->seq, rc, why);
			goto out;
		}
	} else if (rq->route == DMK_IPC_ROUTE_LEASE) {
		struct dmki_lease_reg lr = { new_handle(srv), rq->offset, rq->length, rq->addr,
					     rq->prot };
		char lwhy[160] = "the connection holds no lease";
		int rc = c->lease ? dmki_lease_add(c->lease, &lr, lwhy, sizeof(lwhy)) : -EPERM;

		if (rc) {
			snprintf(why, sizeof(why), "REGISTER by lease: %s", lwhy);
			dmki_srv_refuse(srv, c, m->seq, rc, why);
			goto out;
		}
		nr.addr = rq->offset;
		nr.handle = lr.handle;
	} else if (rq->route == DMK_IPC_ROUTE_POOL) {
		int rc = pool_alloc(srv, &nr, &pool_fd);

		if (rc) {
			snprintf(why, sizeof(why), "REGISTER: %s", dmk_last_error());
			dmki_srv_refuse(srv, c, m->seq, rc, why);
			goto out;
		}
	} else {
		/* The copy route: bound to the registering process (daemon_peer.c). */
		int at = snprintf(why, sizeof(why), "REGISTER by copy: ");
		int rc = dmki_peer_bind(c->msg_pid, fd, rq->prot & DMK_PROT_WRITE, &nr.mem_fd,
					why + at, sizeof(why) - (size_t)at);

		if (rc) {
			dmki_srv_refuse(srv, c, m->seq, rc, why);
			goto out;
		}
		nr.addr = rq->addr;
		nr.pid = c->msg_pid;
		nr.pidfd = fd;
		fd = -1;	/* the region's now */
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
		if (nr.route == DMK_IPC_ROUTE_COPY) {
			close(nr.pidfd);
			close(nr.mem_fd);
		}
		dmki_srv_refuse(srv, c, m->seq, -ENOMEM, "REGISTER: out of memory");
		goto out;
	}
	c->regions = grown;
	if (!nr.handle)
		nr.handle = new_handle(srv);
	c->regions[c->nregions++] = nr;
	c->pinned += nr.len;
	pthread_mutex_lock(&srv->lock);
	srv->stats.regions++;
	if (nr.reg)
		srv->stats.pinned += nr.len;
	pthread_mutex_unlock(&srv->lock);
	memset(&ok, 0, sizeof(ok));
	ok.type = DMK_IPC_COMPLETION;
	ok.seq = m->seq;
	ok.comp.route = nr.route;
	ok.comp.handle = nr.handle;
	/* not sent nor queued: closed after this message; the region goes */
	dmki_srv_reply_fds(c, &ok, &pool_fd, pool_fd >= 0 ? 1 : 0);
out:
	if (fd >= 0)
		close(fd);
	if (pool_fd >= 0)
		close(pool_fd);
}

void dmki_srv_unregister(struct dmk_ipc_server *srv, struct srv_client *c,
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
		dmki_srv_refuse(srv, c, m->seq, -EBUSY, why);
		return;
	}
	dmki_srv_region_release(srv, c, r);
	if (r->route == DMK_IPC_ROUTE_LEASE)
		dmki_lease_remove(c->lease, r->handle);
	*r = c->regions[--c->nregions];
	memset(&ok, 0, sizeof(ok));
	ok.type = DMK_IPC_COMPLETION;
	ok.seq = m->seq;
	dmki_srv_reply(c, &ok);
}
