/* SPDX-License-Identifier: MIT */
/* Internal: the IPC socket's receive with the sender's credentials. */
#ifndef DMK_IPC_WIRE_PRIV_H
#define DMK_IPC_WIRE_PRIV_H

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

#endif
