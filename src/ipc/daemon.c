/* SPDX-License-Identifier: MIT */
/*
 * The driver daemon's server (include/dmakit/ipc_server.h): one thread,
 * poll() over the listening socket, a stop eventfd and every connection;
 * one message at a time. This file is the loop and the connections'
 * lifetime; daemon_priv.h says where the rest is.
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
#include "daemon_priv.h"
#include "wire_priv.h"

__attribute__((format(printf, 2, 3)))
void dmki_srv_log(struct dmk_ipc_server *srv, const char *fmt, ...)
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

/* What the server's thread counted without the lock, into the stats. */
void dmki_srv_stats_flush(struct dmk_ipc_server *srv)
{
	struct dmk_ipc_server_stats *p = &srv->pend, *s = &srv->stats;

	if (!srv->pend_dirty)
		return;
	pthread_mutex_lock(&srv->lock);
	s->requests += p->requests;
	s->bytes += p->bytes;
	s->copied += p->copied;
	s->inflight += p->inflight;
	s->drained += p->drained;
	pthread_mutex_unlock(&srv->lock);
	memset(p, 0, sizeof(*p));
	srv->pend_dirty = false;
}

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
	opts->hello_timeout_ms = 2000;
	opts->max_clients_per_uid = 0;
}

/* Refuse a request, keep the connection. */
void dmki_srv_refuse(struct dmk_ipc_server *srv, struct srv_client *c, uint64_t seq, int err,
		   const char *reason)
{
	STAT_ADD(srv, refused, 1);
	dmki_srv_log(srv, "dmakitd: client %u (pid %d): refused: %s", c->id, (int)c->pid, reason);
	dmki_srv_reply_error(c, seq, err, reason);
}

/* The lease route: the client's window is unmapped from the container,
 * whatever the client mapped there, and returned (lease.c); kept reserved
 * for good when a command of the client's was given up on, so that the
 * device, should it finish that command one day, reaches no one else's
 * memory through those IOVAs. */
static void lease_end(struct dmk_ipc_server *srv, struct srv_client *c)
{
	uint64_t unmapped = 0, base, size;

	if (!c->lease)
		return;
	base = c->lease->base;
	size = c->lease->size;
	if (dmki_lease_close(c->lease, c->lost, &unmapped))
		dmki_srv_log(srv, "dmakitd: client %u: %s", c->id, dmk_last_error());
	else
		dmki_srv_log(srv, "dmakitd: client %u: lease [%#llx, +%llu) %s, %llu bytes unmapped",
		     c->id, (unsigned long long)base, (unsigned long long)size,
		     c->lost ? "kept out of use (a request given up on may still reach it)" : "returned",
		     (unsigned long long)unmapped);
	c->lease = NULL;
}

/* Nothing of this client is on the device: its memory may go. */
void dmki_srv_client_release(struct dmk_ipc_server *srv, struct srv_client *c)
{
	for (size_t i = 0; i < c->nregions; i++)
		dmki_srv_region_release(srv, c, &c->regions[i]);
	lease_end(srv, c);
	free(c->regions);
	dmki_srv_ring_free(&c->ring);
	dmki_srv_reqs_free(c);
	dmki_srv_outq_free(c);
	if (c->fd >= 0)
		close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

void dmki_srv_client_close(struct dmk_ipc_server *srv, struct srv_client *c, const char *why)
{
	if (c->inflight) {
		/* The device still moves bytes into and out of its regions: they
		 * stay registered and mapped until it is done (drained). */
		dmki_srv_log(srv, "dmakitd: client %u (pid %d): disconnected (%s), %u request(s) on the device: %zu region(s) kept until they complete",
		     c->id, (int)c->pid, why, c->inflight, c->nregions);
		dmki_srv_ring_free(&c->ring);
		dmki_srv_outq_free(c);
		close(c->fd);
		c->fd = -1;
		c->draining = true;
		STAT_ADD(srv, clients, (uint64_t)-1);
		return;
	}
	dmki_srv_log(srv, "dmakitd: client %u (pid %d): disconnected (%s), %zu region(s) released", c->id,
	     (int)c->pid, why, c->nregions);
	dmki_srv_client_release(srv, c);
	/* counted gone once its regions are (tests wait on it) */
	STAT_ADD(srv, clients, (uint64_t)-1);
}

/* Close a connection for a malformed or misplaced message, saying why. */
void dmki_srv_drop(struct dmk_ipc_server *srv, struct srv_client *c, uint64_t seq, int err,
		 const char *reason)
{
	char why[DMK_IPC_REASON_MAX + 1];

	snprintf(why, sizeof(why), "%s", reason);
	STAT_ADD(srv, dropped, 1);
	dmki_srv_log(srv, "dmakitd: client %u (pid %d): protocol error: %s", c->id, (int)c->pid, why);
	dmki_srv_reply_error(c, seq, err, why);
	dmki_srv_client_close(srv, c, "protocol error");
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
	/* on the rings; the socket carries one request at a time */
	r.hello.max_inflight = srv->opts.ring_entries;
	r.hello.lba_size = srv->be->lba_size;
	r.hello.nlba = srv->be->nlba;
	dmki_srv_reply(c, &r);
}

static void serve_one(struct dmk_ipc_server *srv, struct srv_client *c)
{
	struct dmk_ipc_msg m;
	char why[DMK_IPC_REASON_MAX + 1];
	unsigned nfd = 0;
	int fd = -1, rc;

	rc = dmki_ipc_recv_cred(c->fd, &m, &fd, 1, &nfd, &c->msg_pid);
	if (rc || nfd == 0)
		fd = -1;
	if (rc == -ECONNRESET) {
		dmki_srv_client_close(srv, c, "closed");
		return;
	}
	if (rc) {
		/* -EBADMSG, -EPROTO, -EINVAL: the message does not decode. */
		snprintf(why, sizeof(why), "%s", dmk_last_error());
		dmki_srv_drop(srv, c, 0, rc < 0 && rc >= -4095 ? rc : -EBADMSG, why);
		return;
	}
	if (fd >= 0 && m.type != DMK_IPC_REGISTER) {
		close(fd);
		snprintf(why, sizeof(why), "%s came with a descriptor", dmk_ipc_type_name(m.type));
		dmki_srv_drop(srv, c, m.seq, -EBADMSG, why);
		return;
	}
	if (!c->hello && m.type != DMK_IPC_HELLO) {
		if (fd >= 0)
			close(fd);
		snprintf(why, sizeof(why), "%s before HELLO", dmk_ipc_type_name(m.type));
		dmki_srv_drop(srv, c, m.seq, -EPROTO, why);
		return;
	}
	switch (m.type) {
	case DMK_IPC_HELLO:
		if (c->hello) {
			dmki_srv_drop(srv, c, m.seq, -EPROTO, "a second HELLO");
			return;
		}
		do_hello(srv, c, &m);
		return;
	case DMK_IPC_REGISTER:
		dmki_srv_register(srv, c, &m, fd);
		return;
	case DMK_IPC_UNREGISTER:
		dmki_srv_unregister(srv, c, &m);
		return;
	case DMK_IPC_READ:
	case DMK_IPC_WRITE:
		dmki_srv_io(srv, c, &m);
		return;
	case DMK_IPC_BYE:
		dmki_srv_client_close(srv, c, "BYE");
		return;
	case DMK_IPC_RINGS:
		dmki_srv_rings(srv, c, &m);
		return;
	default:
		snprintf(why, sizeof(why), "a client may not send %s", dmk_ipc_type_name(m.type));
		dmki_srv_drop(srv, c, m.seq, -EPROTO, why);
		return;
	}
}

/* Answers are sent with MSG_DONTWAIT and queued when the socket is full
 * (daemon_reply.c): nothing here waits for a client. */
static void accept_one(struct dmk_ipc_server *srv)
{
	struct srv_client *c;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	int fd, one = 1;

	fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	memset(&cred, 0, sizeof(cred));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0) {
		close(fd);
		return;
	}
	c = dmki_srv_admit(srv, fd, &cred);
	if (!c)
		return;
	/* Every datagram then says which process sent it (daemon_peer.c). */
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0) {
		int err = errno;

		dmki_srv_log(srv, "dmakitd: a connection refused: SO_PASSCRED: %s", strerror(err));
		dmki_srv_tell(fd, -err, "the daemon could not set SO_PASSCRED on the connection");
		close(fd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->since_ns = dmki_srv_now_ns();
	c->id = ++srv->next_id;
	c->pid = cred.pid;
	c->uid = cred.uid;
	pthread_mutex_lock(&srv->lock);
	srv->stats.clients++;
	srv->stats.accepted++;
	pthread_mutex_unlock(&srv->lock);
	dmki_srv_log(srv, "dmakitd: client %u: connected (pid %d, uid %u)", c->id, (int)c->pid,
	     (unsigned)c->uid);
}

uint64_t dmki_srv_now_ns(void)
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
 * sleeps it arms every ring's doorbell and looks once more. A device that
 * does not signal (a polled queue) is looked at on every turn while it
 * holds requests, as the in-process driver polls it: sleeping even a
 * millisecond between looks would add that to a request. A socket is
 * polled for POLLOUT too while answers wait in its queue; the loop also
 * wakes for the next HELLO deadline.
 */
int dmk_ipc_server_run(struct dmk_ipc_server *srv)
{
	unsigned nc = srv->opts.max_clients;
	uint64_t spin_ns = (uint64_t)srv->opts.ring_poll_us * 1000u, last = 0;
	int timeout = -1, hello_due = -1;
	bool armed = false, spinning = false, dev_ready = false, dev_polled;
	unsigned spins = 0, hi = nc;	/* no connection at or above slot @hi */

	for (;;) {
		nfds_t n = 0;
		unsigned work = 0;
		int rc;

		/* Polling the rings: the sockets and doorbells every 64th turn. */
		if (spinning && (++spins & 63))
			goto rings;
		srv->pfd[n++] = (struct pollfd){ srv->stopfd, POLLIN, 0 };
		srv->pfd[n++] = (struct pollfd){ srv->lfd, POLLIN, 0 };
		hi = 0;
		for (unsigned i = 0; i < nc; i++) {
			struct srv_client *c = &srv->clients[i];

			srv->pfd[n++] = (struct pollfd){ c->fd, c->out_n ? POLLIN | POLLOUT : POLLIN, 0 };
			if (c->fd >= 0)
				hi = i + 1;
		}
		for (unsigned i = 0; i < nc; i++) {
			struct srv_client *c = &srv->clients[i];

			srv->pfd[n++] = (struct pollfd){ c->fd >= 0 && c->ring.hdr ? c->ring.req_efd : -1,
							 POLLIN, 0 };
		}
		srv->pfd[n++] = (struct pollfd){ srv->dev_fd, POLLIN, 0 };
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
				short ev = srv->pfd[2 + i].revents;

				if (ev & ~POLLOUT)
					serve_one(srv, c);
				if (c->fd >= 0 && (ev & POLLOUT))
					dmki_srv_flush(c);
				if (c->fd >= 0 && c->unheard)
					dmki_srv_close_unheard(srv, c);
			}
		}
		if (srv->pfd[1].revents & POLLIN) {
			accept_one(srv);
			hi = nc;	/* the new one may be anywhere */
		}
		/* after the accept: a new connection's deadline counts too */
		hello_due = dmki_srv_hello_expire(srv);
		dev_ready = srv->pfd[2 + 2 * nc].revents != 0;
rings:
		for (unsigned i = 0; i < hi; i++) {
			struct srv_client *c = &srv->clients[i];

			if (c->fd >= 0 && c->ring.hdr)
				work += dmki_srv_ring_serve(srv, c);
		}
		/* The device is looked at while it holds requests, whether or
		 * not it signalled (a synchronous request may have taken its
		 * interrupt; a polled queue never signals). */
		if (srv->inflight || dev_ready)
			work += dmki_srv_device_reap(srv);
		dev_ready = false;
		dmki_srv_stats_flush(srv);
		timeout = 0;
		dev_polled = srv->inflight && srv->dev_fd < 0;
		spinning = spin_ns != 0 || dev_polled;
		if (work) {
			if (spin_ns)
				last = dmki_srv_now_ns();
			continue;
		}
		if (dev_polled || (spin_ns && dmki_srv_now_ns() - last < spin_ns)) {
			/* Nothing new: a client sharing this CPU may want it to
			 * publish its next entry, the device to finish. */
			sched_yield();
			continue;
		}
		spinning = false;
		/* Requests on a device that signals: it is looked at every
		 * second anyway, for commands that never complete (the backend
		 * gives up on them after its timeout). */
		timeout = srv->inflight ? 1000 : -1;
		if (hello_due >= 0 && (timeout < 0 || hello_due < timeout))
			timeout = hello_due;
		armed = true;
		for (unsigned i = 0; i < nc; i++) {
			struct srv_client *c = &srv->clients[i];

			if (c->fd >= 0 && c->ring.hdr && dmki_srv_ring_arm(&c->ring, c->inflight))
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

unsigned dmk_ipc_server_routes(const struct dmk_ipc_server *srv)
{
	unsigned routes = 1u << DMK_IPC_ROUTE_MEMFD | 1u << DMK_IPC_ROUTE_POOL;

	if (srv->bounce)
		routes |= 1u << DMK_IPC_ROUTE_COPY;
	if (dmki_srv_lease_able(srv))
		routes |= 1u << DMK_IPC_ROUTE_LEASE;
	return routes;
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
	    srv->opts.ring_poll_us > 1000000u || srv->opts.hello_timeout_ms > 600000u ||
	    srv->opts.max_clients_per_uid > srv->opts.max_clients) {
		rc = dmki_fail(-EINVAL, "server options: max_clients %u (1 to 1024), max_regions %u, max_pinned %llu, mode %#o, ring_entries %u (a power of two to %u), ring_poll_us %u (to 1 s), hello_timeout_ms %u (to 600000), max_clients_per_uid %u (to max_clients)",
			       srv->opts.max_clients, srv->opts.max_regions,
			       (unsigned long long)srv->opts.max_pinned, srv->opts.socket_mode,
			       srv->opts.ring_entries, DMK_IPC_RING_MAX, srv->opts.ring_poll_us,
			       srv->opts.hello_timeout_ms, srv->opts.max_clients_per_uid);
		free(srv);
		return rc;
	}
	/* 0: the defaults (also for callers that never heard of the fields) */
	if (!srv->opts.hello_timeout_ms)
		srv->opts.hello_timeout_ms = 2000;
	if (!srv->opts.max_clients_per_uid)
		srv->opts.max_clients_per_uid = (srv->opts.max_clients + 1) / 2;
	srv->pinned_cap = srv->opts.max_pinned_total;
	if (!srv->pinned_cap) {
		long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

		srv->pinned_cap = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz / 2 : 1ull << 30;
	}
	srv->be = be;
	srv->dev_fd = be->ops->poll_fd(be);
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
		rc = dmki_srv_bounce_new(srv);
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
			dmki_srv_client_close(srv, &srv->clients[i], "server destroyed");
	/* Requests still on the device finish before the memory goes. */
	dmki_srv_device_quiesce(srv);
	dmki_srv_stats_flush(srv);
	for (unsigned i = 0; i < srv->opts.max_clients; i++)
		if (srv->clients[i].draining) {
			dmki_srv_log(srv, "dmakitd: client %u: %u request(s) never completed", srv->clients[i].id,
			     srv->clients[i].inflight);
			dmki_srv_client_release(srv, &srv->clients[i]);
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
