/* SPDX-License-Identifier: MIT */
/*
 * The copy route's hold on a client's memory: the process that registered
 * a region, and a descriptor of its address space, never a pid.
 *
 * A pid names whatever process has it now: a client that registers, hands
 * its socket to another and exits leaves its pid to be reused, by a root
 * process perhaps; process_vm_*() on that pid would move the new owner's
 * memory. So a copy REGISTER carries the client's pidfd (pidfd_open() of
 * itself, by SCM_RIGHTS), and its datagram the sender's pid (SCM_CREDENTIALS,
 * which the kernel fills in and an unprivileged sender cannot forge). The
 * pidfd is taken only when it names a live process with that pid: then it
 * is the sender, for two live processes never share a pid. /proc/PID/mem is
 * opened, and the pidfd is checked alive once more: the process held the pid
 * throughout, so the file is its address space. That file reaches the
 * memory of that one address space (the kernel holds the mm, not the pid),
 * and reads nothing once the process has exited or called execve().
 *
 * Messages on a copy region are served only for the registering process
 * (their SCM_CREDENTIALS pid is its pid, and it is alive): a socket passed
 * on, or inherited, cannot use the region. Ring entries carry no sender:
 * whoever shares the ring's memory with the registrant (a child it forked)
 * may start I/O on its regions, and the daemon still touches only the
 * registrant's own memory, while it lives.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_priv.h"

/* The pid a pidfd names, from /proc/self/fdinfo: -1 when @fd is not a
 * pidfd or its process has been reaped (the kernel prints -1 or 0 then,
 * as its version has it). */
static pid_t pidfd_pid(int fd)
{
	char path[64], line[128];
	long pid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Pid: %ld", &pid) == 1)
			break;
	fclose(f);
	return pid > 0 ? (pid_t)pid : -1;
}

bool dmki_peer_alive(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	/* A pidfd polls readable once its process has exited. */
	return poll(&p, 1, 0) == 0;
}

int dmki_peer_bind(pid_t sender, int pidfd, bool write, int *mem_fd, char *why, size_t wl)
{
	char path[64];
	pid_t named;
	int fd;

	*mem_fd = -1;
	if (sender <= 0) {
		snprintf(why, wl, "the message came without its sender's credentials");
		return -EPERM;
	}
	if (pidfd < 0) {
		snprintf(why, wl, "the copy route needs the client's pidfd with the REGISTER "
			 "(pidfd_open() of itself)");
		return -EINVAL;
	}
	named = pidfd_pid(pidfd);
	if (named != sender) {
		if (named < 0)
			snprintf(why, wl, "the descriptor is not the pidfd of a live process");
		else
			snprintf(why, wl, "the pidfd names pid %d, the message came from pid %d",
				 (int)named, (int)sender);
		return -EPERM;
	}
	if (!dmki_peer_alive(pidfd)) {
		snprintf(why, wl, "pid %d exited before its REGISTER was served", (int)sender);
		return -ESRCH;
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)sender);
	fd = open(path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		snprintf(why, wl, "opening %s: %s (the daemon needs ptrace access to the client: "
			 "its own uid, or root, and the client's PR_SET_PTRACER under Yama)",
			 path, strerror(e));
		return e == ENOENT ? -ESRCH : -e;
	}
	/* Alive after the open: the pid was the sender's all along, and the
	 * file is the sender's address space. */
	if (!dmki_peer_alive(pidfd)) {
		close(fd);
		snprintf(why, wl, "pid %d exited before its REGISTER was served", (int)sender);
		return -ESRCH;
	}
	*mem_fd = fd;
	return 0;
}

int dmki_peer_check(const struct srv_region *r, pid_t sender, char *why, size_t wl)
{
	if (sender >= 0 && sender != r->pid) {
		snprintf(why, wl, "region %llu belongs to pid %d; this message came from pid %d "
			 "(a socket passed on or inherited cannot use it)",
			 (unsigned long long)r->handle, (int)r->pid, (int)sender);
		return -EPERM;
	}
	if (!dmki_peer_alive(r->pidfd)) {
		snprintf(why, wl, "region %llu: pid %d, which registered it, has exited",
			 (unsigned long long)r->handle, (int)r->pid);
		return -ESRCH;
	}
	return 0;
}
