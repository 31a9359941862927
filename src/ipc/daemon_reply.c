/* SPDX-License-Identifier: MIT */
/*
 * The driver daemon's answers, sent without ever waiting for a client.
 * What a connection's socket cannot take now (the client does not read)
 * waits in that connection's queue, in order, the descriptors of each
 * answer with it, and goes when poll() says the socket has room again
 * (POLLOUT). A connection whose queue is full when one more answer is due
 * is closed by the poll loop, like any other: whether a client reads its
 * answers decides nothing about when another client is answered.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dmakit/ipc.h>
#include <dmakit/ipc_server.h>

#include "daemon_priv.h"
#include "wire_priv.h"

static void out_clear(struct srv_out *o)
{
	for (unsigned i = 0; i < o->nfds; i++)
		close(o->fds[i]);
	o->nfds = 0;
}

void dmki_srv_outq_free(struct srv_client *c)
{
	for (unsigned i = 0; i < c->out_n; i++)
		out_clear(&c->outq[(c->out_head + i) % DMK_IPC_SERVER_QUEUE]);
	free(c->outq);
	c->outq = NULL;
	c->out_head = c->out_n = 0;
}

void dmki_srv_flush(struct srv_client *c)
{
	while (c->out_n && !c->unheard) {
		struct srv_out *o = &c->outq[c->out_head];
		int rc = dmki_ipc_sendmsg(c->fd, o->buf, o->len, o->fds, o->nfds, MSG_DONTWAIT);

		if (rc == -EAGAIN)
			return;
		if (rc) {
			c->unheard = rc;
			return;
		}
		out_clear(o);
		c->out_head = (c->out_head + 1) % DMK_IPC_SERVER_QUEUE;
		c->out_n--;
	}
}

/* Behind the others: the bytes copied, the descriptors duplicated (the
 * caller closes its own once this returns). */
static int enqueue(struct srv_client *c, const uint8_t *buf, size_t len, const int *fds,
		   unsigned nfds)
{
	struct srv_out *o;

	if (c->out_n == DMK_IPC_SERVER_QUEUE)
		return c->unheard = -ENOBUFS;
	if (!c->outq) {
		c->outq = calloc(DMK_IPC_SERVER_QUEUE, sizeof(*c->outq));
		if (!c->outq)
			return c->unheard = -ENOMEM;
	}
	o = &c->outq[(c->out_head + c->out_n) % DMK_IPC_SERVER_QUEUE];
	for (o->nfds = 0; o->nfds < nfds; o->nfds++) {
		int d = fcntl(fds[o->nfds], F_DUPFD_CLOEXEC, 0);

		if (d < 0) {
			int err = -errno;

			out_clear(o);
			return c->unheard = err;
		}
		o->fds[o->nfds] = d;
	}
	memcpy(o->buf, buf, len);
	o->len = len;
	c->out_n++;
	return 0;
}

int dmki_srv_reply_fds(struct srv_client *c, const struct dmk_ipc_msg *m, const int *fds,
		       unsigned nfds)
{
	uint8_t buf[DMK_IPC_MSG_MAX];
	size_t len;
	int rc;

	if (nfds > DMKI_IPC_FDS_MAX)
		return c->unheard = -EINVAL;
	rc = dmk_ipc_encode(m, buf, sizeof(buf), &len);
	if (rc)
		return c->unheard = rc;
	dmki_srv_flush(c);
	if (c->unheard)
		return c->unheard;
	if (!c->out_n) {
		rc = dmki_ipc_sendmsg(c->fd, buf, len, fds, nfds, MSG_DONTWAIT);
		if (rc != -EAGAIN)
			return c->unheard = rc;
	}
	return enqueue(c, buf, len, fds, nfds);
}

int dmki_srv_reply(struct srv_client *c, const struct dmk_ipc_msg *m)
{
	return dmki_srv_reply_fds(c, m, NULL, 0);
}

static void error_msg(struct dmk_ipc_msg *m, uint64_t seq, int err, const char *reason)
{
	memset(m, 0, sizeof(*m));
	m->type = DMK_IPC_ERROR;
	m->seq = seq;
	m->error.err = err;
	snprintf(m->error.reason, sizeof(m->error.reason), "%s", reason);
}

int dmki_srv_reply_error(struct srv_client *c, uint64_t seq, int err, const char *reason)
{
	struct dmk_ipc_msg m;

	error_msg(&m, seq, err, reason);
	return dmki_srv_reply(c, &m);
}

void dmki_srv_tell(int fd, int err, const char *reason)
{
	uint8_t buf[DMK_IPC_MSG_MAX];
	struct dmk_ipc_msg m;
	size_t len;

	error_msg(&m, 0, err, reason);
	if (dmk_ipc_encode(&m, buf, sizeof(buf), &len) == 0 &&
	    dmki_ipc_sendmsg(fd, buf, len, NULL, 0, MSG_DONTWAIT) != 0) {
		/* a new socket has room for one message; else the peer is gone */
	}
}

void dmki_srv_close_unheard(struct dmk_ipc_server *srv, struct srv_client *c)
{
	char why[96];

	if (c->unheard == -ENOBUFS)
		snprintf(why, sizeof(why), "answers not taken: its socket full and %u more queued",
			 DMK_IPC_SERVER_QUEUE);
	else
		snprintf(why, sizeof(why), "an answer could not be sent: %s", strerror(-c->unheard));
	dmki_srv_client_close(srv, c, why);
}
