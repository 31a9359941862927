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

int dmk_ipc_send(int sock, const struct dmk_ipc_msg *msg, int fd)
{
	uint8_t buf[DMK_IPC_MSG_MAX];
	union {
		struct cmsghdr hdr;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov;
	struct msghdr mh;
	size_t len;
	ssize_t n;
	int rc;

	rc = dmk_ipc_encode(msg, buf, sizeof(buf), &len);
	if (rc)
		return rc;
	iov.iov_base = buf;
	iov.iov_len = len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.space;
		mh.msg_controllen = sizeof(ctl.space);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return dmki_fail(-errno, "sending %s: %s", dmk_ipc_type_name(msg->type), strerror(errno));
	if ((size_t)n != len)
		return dmki_fail(-EIO, "sending %s: %zd of %zu bytes went", dmk_ipc_type_name(msg->type),
				 n, len);
	return 0;
}

/* Close every descriptor a control message brought; count them. */
static int take_fds(struct msghdr *mh, int *first)
{
	int count = 0;

	*first = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t nfd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (count++ == 0)
				*first = f;
			else
				close(f);
		}
	}
	return count;
}

int dmk_ipc_recv(int sock, struct dmk_ipc_msg *msg, int *fd)
{
	/* One byte more than any message, to see a datagram that is too long. */
	uint8_t buf[DMK_IPC_MSG_MAX + 1];
	union {
		struct cmsghdr hdr;
		char space[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh;
	ssize_t n;
	int nfd, got, rc;

	if (fd)
		*fd = -1;
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
	nfd = take_fds(&mh, &got);
	if (n == 0 && nfd == 0)
		return dmki_fail(-ECONNRESET, "the peer closed the connection");
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC) || (size_t)n > DMK_IPC_MSG_MAX) {
		if (got >= 0)
			close(got);
		return dmki_fail(-EBADMSG, "datagram %s (%zd bytes, flags %#x)",
				 mh.msg_flags & MSG_CTRUNC ? "with truncated control data" : "too long",
				 n, (unsigned)mh.msg_flags);
	}
	if (nfd > 1 || (nfd == 1 && !fd)) {
		if (got >= 0)
			close(got);
		return dmki_fail(-EBADMSG, "%d descriptor(s) came with a message that may carry %d",
				 nfd, fd ? 1 : 0);
	}
	rc = dmk_ipc_decode(buf, (size_t)n, msg);
	if (rc) {
		if (got >= 0)
			close(got);
		return rc;
	}
	if (fd)
		*fd = got;
	return 0;
}
