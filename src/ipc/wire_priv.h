/* SPDX-License-Identifier: MIT */
/*
 * Internal: the IPC socket below the messages (wire.c): the receive with
 * the sender's credentials, for the daemon; the send of an encoded
 * message, for the daemon's answers, which it encodes once and may send
 * later (daemon_reply.c).
 */
#ifndef DMK_IPC_WIRE_PRIV_H
#define DMK_IPC_WIRE_PRIV_H

#include <stddef.h>
#include <sys/types.h>

#include <dmakit/ipc.h>

/*
 * dmk_ipc_recv_fds(), and in *@sender the pid of the process that sent the
 * datagram (SCM_CREDENTIALS: the socket must have SO_PASSCRED), or 0 when
 * none came with it. The kernel fills it in at the send; an unprivileged
 * sender can only give its own.
 */
int dmki_ipc_recv_cred(int sock, struct dmk_ipc_msg *msg, int *fds, unsigned max,
		       unsigned *nfds, pid_t *sender);

/* Descriptors one datagram carries at most. */
#define DMKI_IPC_FDS_MAX 4u

/*
 * One encoded message of @len bytes as one datagram, @nfds (at most
 * DMKI_IPC_FDS_MAX) descriptors with it by SCM_RIGHTS; @flags are added to
 * MSG_NOSIGNAL (MSG_DONTWAIT: never wait for room). Sets no error text.
 * Return: 0; -EIO when only part of it went; else -errno of sendmsg()
 * (-EAGAIN: no room now; -EPIPE, -ECONNRESET: the peer is gone).
 */
int dmki_ipc_sendmsg(int sock, const void *buf, size_t len, const int *fds, unsigned nfds,
		     int flags);

#endif
