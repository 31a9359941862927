/* SPDX-License-Identifier: MIT */
/*
 * The IPC socket: one message per SOCK_SEQPACKET datagram, a descriptor
 * with it by SCM_RIGHTS. Receiving refuses what does not fit and never
 * leaves a descriptor it did not hand to the caller open.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <dmakit/ipc.h>

#include "../core/error_priv.h"
#include "wire_priv.h"

#define FDS_MAX DMKI_IPC_FDS_MAX

int dmk_ipc_send(int sock, const struct dmk_ipc_msg *msg, int fd)
{
	return dmk_ipc_send_fds(sock, msg, &fd, fd >= 0 ? 1 : 0);
}

int dmk_ipc_send_fds(int sock, const struct dmk_ipc_msg *msg, const int *fds, unsigned nfds)
{
	uint8_t buf[DMK_IPC_MSG_MAX];
	size_t len;
	int rc;

	if (nfds > FDS_MAX || (nfds && !fds))
		return dmki_fail(-EINVAL, "sending %u descriptors: at most %u", nfds, FDS_MAX);
	rc = dmk_ipc_encode(msg, buf, sizeof(buf), &len);
	if (rc)
		return rc;
	rc = dmki_ipc_sendmsg(sock, buf, len, fds, nfds, 0);
	if (rc)
		return dmki_fail(rc, "sending %s: %s", dmk_ipc_type_name(msg->type),
				 rc == -EIO ? "the datagram went in part" : strerror(-rc));
	return 0;
}

int dmki_ipc_sendmsg(int sock, const void *buf, size_t len, const int *fds, unsigned nfds,
		     int flags)
{
	union {
		struct cmsghdr hdr;
		char space[CMSG_SPACE(FDS_MAX * sizeof(int))];
	} ctl;
	struct iovec iov;
	struct msghdr mh;
	ssize_t n;

	if (nfds > FDS_MAX)
		return -EINVAL;
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.space;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/* Keep the first @max descriptors a control message brought in @got, close
 * the others; count them all. The sender's pid in *@sender when asked. */
static int take_fds(struct msghdr *mh, int *got, unsigned max, pid_t *sender)
{
	int count = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t nfd;

		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && sender &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			struct ucred cr;

			memcpy(&cr, CMSG_DATA(c), sizeof(cr));
			*sender = cr.pid;
			continue;
		}
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if ((unsigned)count < max)
				got[count] = f;
			else
				close(f);
			count++;
		}
	}
	return count;
}

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

int dmk_ipc_recv(int sock, struct dmk_ipc_msg *msg, int *fd)
{
	unsigned n = 0;
	int rc = dmk_ipc_recv_fds(sock, msg, fd, fd ? 1 : 0, &n);

	if (fd && (rc || n == 0))
		*fd = -1;
	return rc;
}

int dmk_ipc_recv_fds(int sock, struct dmk_ipc_msg *msg, int *fds, unsigned max, unsigned *nfds)
{
	return dmki_ipc_recv_cred(sock, msg, fds, max, nfds, NULL);
}

int dmki_ipc_recv_cred(int sock, struct dmk_ipc_msg *msg, int *fds, unsigned max,
		       unsigned *nfds, pid_t *sender)
{
	/* One byte more than any message, to see a datagram that is too long. */
	uint8_t buf[DMK_IPC_MSG_MAX + 1];
	union {
		struct cmsghdr hdr;
		char space[CMSG_SPACE(2 * FDS_MAX * sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh;
	int got[FDS_MAX];
	ssize_t n;
	int nfd, kept, rc;

	*nfds = 0;
	if (sender)
		*sender = 0;
	if (max > FDS_MAX)
		max = FDS_MAX;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.space;
	mh.msg_controllen = sizeof(ctl.space);
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return dmki_fail(-errno, "receiving a message: %s", strerror(errno));
	nfd = take_fds(&mh, got, max, sender);
	kept = nfd < (int)max ? nfd : (int)max;
	/* An empty datagram reads as the end of file too: no message is
	 * empty, so either way the peer is done with this connection. */
	if (n == 0 && nfd == 0)
		return dmki_fail(-ECONNRESET, "the peer closed the connection (or sent an empty datagram)");
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC) || (size_t)n > DMK_IPC_MSG_MAX) {
		close_fds(got, kept);
		return dmki_fail(-EBADMSG, "datagram %s (%zd bytes, flags %#x)",
				 mh.msg_flags & MSG_CTRUNC ? "with truncated control data" : "too long",
				 n, (unsigned)mh.msg_flags);
	}
	if (nfd > (int)max) {
		close_fds(got, kept);
		return dmki_fail(-EBADMSG, "%d descriptor(s) came with a message that may carry %u",
				 nfd, max);
	}
	rc = dmk_ipc_decode(buf, (size_t)n, msg);
	if (rc) {
		close_fds(got, kept);
		return rc;
	}
	for (int i = 0; i < nfd; i++)
		fds[i] = got[i];
	*nfds = (unsigned)nfd;
	return 0;
}
