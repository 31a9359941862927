/* SPDX-License-Identifier: MIT */
/*
 * Who gets one of the driver daemon's slots (opts.max_clients): a new
 * connection while a slot is free and its uid holds fewer connections than
 * its share (opts.max_clients_per_uid), so that no one user can take every
 * slot. Connections that have not said HELLO (and have nothing waiting to
 * be read) never keep a newcomer out: when its uid is at its share, or
 * every slot is taken, the oldest such connection (of that uid, or of
 * anyone) gives its slot up. A connection refused or closed is told why
 * (an ERROR with seq 0, then closed), and so is one that has not said
 * HELLO within opts.hello_timeout_ms of being accepted.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/sockios.h>

#include <dmakit/ipc.h>
#include <dmakit/ipc_server.h>

#include "daemon_priv.h"

static void refuse(struct dmk_ipc_server *srv, int fd, const struct ucred *cred, int err,
		   const char *reason)
{
	dmki_srv_log(srv, "dmakitd: a connection refused (pid %d, uid %u): %s", (int)cred->pid,
		     (unsigned)cred->uid, reason);
	dmki_srv_tell(fd, err, reason);
	close(fd);
	STAT_ADD(srv, turned_away, 1);
}

/* Accepted in an earlier round and still silent: its HELLO would have been
 * served before this accept, unless it was sent since (then it waits to be
 * read, and the connection is left alone). */
static bool silent(const struct srv_client *c)
{
	int pending = 0;

	return c->fd >= 0 && !c->hello && ioctl(c->fd, SIOCINQ, &pending) == 0 && pending == 0;
}

/* The oldest silent connection, of @uid unless @any; NULL when none. */
static struct srv_client *oldest_silent(struct dmk_ipc_server *srv, uid_t uid, bool any)
{
	struct srv_client *o = NULL;

	for (unsigned i = 0; i < srv->opts.max_clients; i++) {
		struct srv_client *c = &srv->clients[i];

		if ((any || c->uid == uid) && silent(c) && (!o || c->since_ns < o->since_ns))
			o = c;
	}
	return o;
}

/* @c's slot for a newcomer: @c told why and closed (nothing of it to keep:
 * it has not said HELLO). */
static struct srv_client *evict(struct dmk_ipc_server *srv, struct srv_client *c,
				const char *for_whom)
{
	char why[DMK_IPC_REASON_MAX + 1];

	snprintf(why, sizeof(why), "no HELLO yet, and %s needed the slot", for_whom);
	STAT_ADD(srv, turned_away, 1);
	dmki_srv_reply_error(c, 0, -EUSERS, why);
	dmki_srv_client_close(srv, c, why);
	return c;
}

struct srv_client *dmki_srv_admit(struct dmk_ipc_server *srv, int fd, const struct ucred *cred)
{
	struct srv_client *free_slot = NULL, *o;
	char why[DMK_IPC_REASON_MAX + 1];
	unsigned held = 0;

	for (unsigned i = 0; i < srv->opts.max_clients; i++) {
		struct srv_client *c = &srv->clients[i];

		if (c->fd >= 0 && c->uid == cred->uid)
			held++;
		else if (c->fd < 0 && !c->draining && !free_slot)
			free_slot = c;
	}
	/* (a share of every slot never binds: then only the slots do) */
	if (held >= srv->opts.max_clients_per_uid &&
	    srv->opts.max_clients_per_uid < srv->opts.max_clients) {
		o = oldest_silent(srv, cred->uid, false);
		if (o)
			return evict(srv, o, "a newer connection of its uid");
		snprintf(why, sizeof(why), "uid %u holds its share: %u of the daemon's %u connections",
			 (unsigned)cred->uid, held, srv->opts.max_clients);
		refuse(srv, fd, cred, -EDQUOT, why);
		return NULL;
	}
	if (!free_slot) {
		o = oldest_silent(srv, cred->uid, true);
		if (o)
			return evict(srv, o, "a new connection");
		snprintf(why, sizeof(why), "%u clients already", srv->opts.max_clients);
		refuse(srv, fd, cred, -EUSERS, why);
		return NULL;
	}
	return free_slot;
}

int dmki_srv_hello_expire(struct dmk_ipc_server *srv)
{
	uint64_t now = dmki_srv_now_ns(), limit = (uint64_t)srv->opts.hello_timeout_ms * 1000000u;
	uint64_t next = UINT64_MAX;
	char why[DMK_IPC_REASON_MAX + 1];

	for (unsigned i = 0; i < srv->opts.max_clients; i++) {
		struct srv_client *c = &srv->clients[i];
		uint64_t age;

		if (c->fd < 0 || c->hello)
			continue;
		age = now - c->since_ns;
		if (age < limit) {
			if (limit - age < next)
				next = limit - age;
			continue;
		}
		snprintf(why, sizeof(why), "no HELLO within %u ms", srv->opts.hello_timeout_ms);
		STAT_ADD(srv, turned_away, 1);
		dmki_srv_reply_error(c, 0, -ETIMEDOUT, why);
		dmki_srv_client_close(srv, c, why);
	}
	/* rounded up: woken before the deadline, the loop would only spin */
	return next == UINT64_MAX ? -1 : (int)((next + 999999u) / 1000000u);
}
