/* SPDX-License-Identifier: MIT */
/*
 * The driver daemon's READ and WRITE: every field checked against the
 * connection's own regions, its lease and the device, then the bytes moved
 * by the route's means (the device in shared pages, through the client's
 * own IOVAs, or through the bounce buffer and the registering process's
 * address space, daemon_peer.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <dmakit/error.h>
#include <dmakit/region.h>
#include <dmakit/vfio.h>

#include "../core/error_priv.h"
#include "backend_priv.h"
#include "daemon_priv.h"
#include "lease.h"

int dmki_srv_bounce_new(struct dmk_ipc_server *srv)
{
	void *p = NULL;
	int rc;

	srv->bounce = NULL;
	srv->bounce_reg = NULL;
	if (posix_memalign(&p, PAGE, srv->bounce_len))
		return dmki_fail(-ENOMEM, "out of memory for a %zu-byte bounce buffer", srv->bounce_len);
	memset(p, 0, srv->bounce_len);
	rc = dmk_region_register(srv->be->space, p, srv->bounce_len, DMK_PROT_RW, &srv->bounce_reg);
	if (rc) {
		free(p);
		return rc;
	}
	srv->bounce = p;
	return 0;
}

/* A transfer through the bounce buffer was given up on (-ETIMEDOUT): the
 * device may still write into it one day, over another client's bytes. It
 * stays allocated and registered (the driver holds it), never used again;
 * the copy route goes on with a new one, or stops when none can be had. */
static void bounce_abandon(struct dmk_ipc_server *srv)
{
	int rc;

	dmki_srv_log(srv, "dmakitd: the copy route's bounce buffer %p is abandoned (a transfer was given up on)",
		     srv->bounce);
	rc = dmki_srv_bounce_new(srv);
	if (rc)
		dmki_srv_log(srv, "dmakitd: no new bounce buffer, the copy route is off: %s",
			     dmk_last_error());
}

/* The copy route: the device moves the bytes into and out of the daemon's
 * bounce buffer, pread() and pwrite() on the registering process's address
 * space (its /proc/PID/mem, opened at REGISTER: daemon_peer.c) move them
 * to and from the client. Never a pid: that could be another process's by
 * now. */
static int copy_io(struct dmk_ipc_server *srv, const struct srv_region *r,
		   bool rd, uint64_t offset, uint64_t length, uint64_t lba)
{
	struct dmk_ipc_backend *be = srv->be;
	uint64_t done = 0;

	while (done < length) {
		size_t n = (size_t)(length - done < srv->bounce_len ? length - done : srv->bounce_len);
		if (!srv->bounce)
			return dmki_fail(-ENOTSUP, "copy route: no bounce buffer (an earlier transfer was given up on)");
		off_t at = (off_t)(r->addr + offset + done);	/* the file's offsets are unsigned */
		uint64_t blk = lba + done / be->lba_size;
		ssize_t got;
		int rc;

		if (rd) {
			rc = be->ops->read(be, blk, srv->bounce, n);
			if (rc == -ETIMEDOUT)
				bounce_abandon(srv);
			if (rc)
				return rc;
			got = pwrite(r->mem_fd, srv->bounce, n, at);
		} else {
			got = pread(r->mem_fd, srv->bounce, n, at);
			if (got == (ssize_t)n) {
				rc = be->ops->write(be, blk, srv->bounce, n);
				if (rc == -ETIMEDOUT)
					bounce_abandon(srv);
				if (rc)
					return rc;
			}
		}
		/* A hole or a page the client may not reach: EIO, or a short
		 * count; nothing once the process has exited or exec'd. */
		if (got < 0)
			return dmki_fail(-EFAULT, "copy route: %s the client's memory at %#llx: %s",
					 rd ? "writing" : "reading", (unsigned long long)at, strerror(errno));
		if (got != (ssize_t)n)
			return dmki_fail(-EFAULT, "copy route: only %zd of %zu bytes of the client's memory%s",
					 got, n, dmki_peer_alive(r->pidfd) ? "" : " (the client has exited)");
		done += n;
	}
	return 0;
}

/* Check a READ or WRITE (from a message or a ring entry) against the
 * connection's regions and the device. 0 with the region in *@out, or a
 * negative errno with the reason in @why. */
int dmki_srv_io_check(struct dmk_ipc_server *srv, struct srv_client *c, bool rd,
		    const struct dmk_ipc_io *io, struct srv_region **out, char *why, size_t wl)
{
	struct dmk_ipc_backend *be = srv->be;
	const char *what = rd ? "READ" : "WRITE";
	unsigned need = rd ? DMK_PROT_WRITE : DMK_PROT_READ;
	struct srv_region *r = dmki_srv_find_region(c, io->handle);

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
	if (r->route == DMK_IPC_ROUTE_COPY) {
		/* Only for the process that registered it, while it lives. */
		int at = snprintf(why, wl, "%s: ", what);
		int rc = dmki_peer_check(r, c->msg_pid, why + at, wl - (size_t)at);

		if (rc)
			return rc;
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

/* Move the bytes of a checked READ or WRITE; count it (in srv->pend). */
int dmki_srv_io_exec(struct dmk_ipc_server *srv, struct srv_client *c, const struct srv_region *r,
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
		rc = copy_io(srv, r, rd, io->offset, io->length, io->lba);
	}
	if (rc == -ETIMEDOUT)
		c->lost = true;	/* the device may still reach the memory */
	PEND_ADD(srv, requests, 1);
	if (rc == 0) {
		PEND_ADD(srv, bytes, io->length);
		if (r->route == DMK_IPC_ROUTE_COPY)
			PEND_ADD(srv, copied, io->length);
	}
	return rc;
}

void dmki_srv_io(struct dmk_ipc_server *srv, struct srv_client *c, const struct dmk_ipc_msg *m)
{
	bool rd = m->type == DMK_IPC_READ;
	struct srv_region *r = NULL;
	struct dmk_ipc_msg done;
	char why[DMK_IPC_REASON_MAX + 1];
	int rc;

	rc = dmki_srv_io_check(srv, c, rd, &m->io, &r, why, sizeof(why));
	if (rc) {
		dmki_srv_refuse(srv, c, m->seq, rc, why);
		return;
	}
	rc = dmki_srv_io_exec(srv, c, r, rd, &m->io);
	dmki_srv_stats_flush(srv);	/* counted before the answer */
	if (rc) {
		/* A failed transfer is answered with an ERROR: its errno and why. */
		snprintf(why, sizeof(why), "%s: %s", dmk_ipc_type_name(m->type), dmk_last_error());
		dmki_srv_log(srv, "dmakitd: client %u (pid %d): %s", c->id, (int)c->pid, why);
		dmki_srv_reply_error(c, m->seq, rc, why);
		return;
	}
	memset(&done, 0, sizeof(done));
	done.type = DMK_IPC_COMPLETION;
	done.seq = m->seq;
	done.comp.bytes = m->io.length;
	dmki_srv_reply(c, &done);
}
