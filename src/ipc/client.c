/* SPDX-License-Identifier: MIT */
/*
 * The application's side (include/dmakit/ipc_client.h): one request, one
 * answer, matched by sequence number.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <dmakit/ipc.h>
#include <dmakit/ipc_client.h>

#include "../core/error_priv.h"

struct dmk_ipc_client {
	int fd;
	pid_t daemon_pid;
	uint64_t seq;
	struct dmk_ipc_hello granted;
	int ptracer_set;
};

/* Send @m (with @fd), wait for the answer of the same sequence number; a
 * descriptor may come with it only where @rfd takes one (-1 when none did). */
static int call_fd(struct dmk_ipc_client *c, struct dmk_ipc_msg *m, int fd,
		   struct dmk_ipc_msg *ans, int *rfd)
{
	int rc;

	m->seq = ++c->seq;
	rc = dmk_ipc_send(c->fd, m, fd);
	if (rc == -EPIPE || rc == -ECONNRESET)
		return dmki_fail(-ECONNRESET, "the daemon closed the connection (sending %s)",
				 dmk_ipc_type_name(m->type));
	if (rc)
		return rc;
	rc = dmk_ipc_recv(c->fd, ans, rfd);
	if (rc == -ECONNRESET)
		return dmki_fail(-ECONNRESET, "the daemon closed the connection (awaiting the answer to %s)",
				 dmk_ipc_type_name(m->type));
	if (rc)
		return rc;
	if (ans->seq != m->seq && !(ans->type == DMK_IPC_ERROR && ans->seq == 0))
		rc = dmki_fail(-EPROTO, "answer %llu to request %llu",
			       (unsigned long long)ans->seq, (unsigned long long)m->seq);
	else if (ans->type == DMK_IPC_ERROR)
		rc = dmki_fail(ans->error.err, "daemon: %s", ans->error.reason);
	else if (ans->type == DMK_IPC_COMPLETION && ans->comp.status)
		rc = dmki_fail(ans->comp.status, "daemon: %s failed", dmk_ipc_type_name(m->type));
	if (rc && rfd && *rfd >= 0) {
		close(*rfd);
		*rfd = -1;
	}
	return rc;
}

static int call(struct dmk_ipc_client *c, struct dmk_ipc_msg *m, int fd, struct dmk_ipc_msg *ans)
{
	return call_fd(c, m, fd, ans, NULL);
}

int dmk_ipc_client_connect(const char *path, const struct dmk_ipc_hello *wish,
			   struct dmk_ipc_client **out)
{
	struct dmk_ipc_client *c;
	struct dmk_ipc_msg m, ans;
	struct sockaddr_un sa;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	int rc;

	if (!path || !out || strlen(path) >= sizeof(sa.sun_path))
		return dmki_fail(-EINVAL, "dmk_ipc_client_connect: NULL or too long a path");
	c = calloc(1, sizeof(*c));
	if (!c)
		return dmki_fail(-ENOMEM, "out of memory for a connection");
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		rc = dmki_fail(-errno, "socket: %s", strerror(errno));
		free(c);
		return rc;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rc = dmki_fail(-errno, "connecting to the daemon at %s: %s", path, strerror(errno));
		goto fail;
	}
	memset(&cred, 0, sizeof(cred));
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
		c->daemon_pid = cred.pid;
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_HELLO;
	if (wish)
		m.hello = *wish;
	m.hello.version = DMK_IPC_VERSION;
	m.hello.flags = 0;
	m.hello.lba_size = 0;
	m.hello.nlba = 0;
	rc = call(c, &m, -1, &ans);
	if (rc)
		goto fail;
	if (ans.type != DMK_IPC_HELLO) {
		rc = dmki_fail(-EPROTO, "the daemon answered HELLO with %s", dmk_ipc_type_name(ans.type));
		goto fail;
	}
	c->granted = ans.hello;
	*out = c;
	return 0;
fail:
	close(c->fd);
	free(c);
	return rc;
}

int dmk_ipc_client_limits(const struct dmk_ipc_client *c, struct dmk_ipc_hello *granted)
{
	*granted = c->granted;
	return 0;
}

int dmk_ipc_memfd_alloc(size_t len, void **va, int *fd)
{
	size_t flen;
	void *p;
	int f, rc;

	if (!len || !va || !fd)
		return dmki_fail(-EINVAL, "dmk_ipc_memfd_alloc: zero length or NULL output");
	flen = (len + 4095) & ~(size_t)4095;
	f = memfd_create("dmakit-buffer", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (f < 0)
		return dmki_fail(-errno, "memfd_create: %s", strerror(errno));
	if (ftruncate(f, (off_t)flen) != 0) {
		rc = dmki_fail(-errno, "ftruncate of the memfd to %zu: %s", flen, strerror(errno));
		goto fail;
	}
	if (fcntl(f, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
		rc = dmki_fail(-errno, "sealing the memfd: %s", strerror(errno));
		goto fail;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
	if (p == MAP_FAILED) {
		rc = dmki_fail(-errno, "mapping the memfd: %s", strerror(errno));
		goto fail;
	}
	*va = p;
	*fd = f;
	return 0;
fail:
	close(f);
	return rc;
}

static int do_register(struct dmk_ipc_client *c, struct dmk_ipc_msg *m, int fd, uint64_t *handle,
		       unsigned *route)
{
	struct dmk_ipc_msg ans;
	int rc;

	if (!handle || !route)
		return dmki_fail(-EINVAL, "register: NULL handle or route");
	m->type = DMK_IPC_REGISTER;
	rc = call(c, m, fd, &ans);
	if (rc)
		return rc;
	if (ans.type != DMK_IPC_COMPLETION || ans.comp.route != m->reg.route)
		return dmki_fail(-EPROTO, "REGISTER by %s answered with %s, route %s",
				 dmk_ipc_route_name(m->reg.route), dmk_ipc_type_name(ans.type),
				 dmk_ipc_route_name(ans.comp.route));
	*handle = ans.comp.handle;
	*route = ans.comp.route;
	return 0;
}

int dmk_ipc_client_register_memfd(struct dmk_ipc_client *c, int fd, uint64_t offset,
				  uint64_t length, unsigned prot, uint64_t *handle,
				  unsigned *route)
{
	struct dmk_ipc_msg m;

	if (fd < 0)
		return dmki_fail(-EINVAL, "register_memfd: no descriptor");
	memset(&m, 0, sizeof(m));
	m.reg.route = DMK_IPC_ROUTE_MEMFD;
	m.reg.prot = prot;
	m.reg.offset = offset;
	m.reg.length = length;
	return do_register(c, &m, fd, handle, route);
}

int dmk_ipc_client_register_copy(struct dmk_ipc_client *c, void *va, uint64_t length,
				 unsigned prot, uint64_t *handle, unsigned *route)
{
	struct dmk_ipc_msg m;

	/* Under Yama's ptrace_scope 1 the daemon may copy only with leave. */
	if (!c->ptracer_set && c->daemon_pid > 0) {
		prctl(PR_SET_PTRACER, (unsigned long)c->daemon_pid, 0, 0, 0);
		c->ptracer_set = 1;
	}
	memset(&m, 0, sizeof(m));
	m.reg.route = DMK_IPC_ROUTE_COPY;
	m.reg.prot = prot;
	m.reg.length = length;
	m.reg.addr = (uint64_t)(uintptr_t)va;
	return do_register(c, &m, -1, handle, route);
}

int dmk_ipc_client_alloc_pool(struct dmk_ipc_client *c, uint64_t length, unsigned prot,
			      void **va, uint64_t *handle, unsigned *route)
{
	struct dmk_ipc_msg m, ans;
	void *p;
	int fd = -1, rc;

	if (!va || !handle || !route || length == 0 || length > SIZE_MAX)
		return dmki_fail(-EINVAL, "alloc_pool: NULL output or a length of %llu",
				 (unsigned long long)length);
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_REGISTER;
	m.reg.route = DMK_IPC_ROUTE_POOL;
	m.reg.prot = prot;
	m.reg.length = length;
	rc = call_fd(c, &m, -1, &ans, &fd);
	if (rc)
		return rc;
	if (ans.type != DMK_IPC_COMPLETION || ans.comp.route != DMK_IPC_ROUTE_POOL || fd < 0) {
		rc = dmki_fail(-EPROTO, "REGISTER by pool answered with %s, route %s, %s descriptor",
			       dmk_ipc_type_name(ans.type), dmk_ipc_route_name(ans.comp.route),
			       fd < 0 ? "no" : "a");
		goto fail;
	}
	p = mmap(NULL, (size_t)length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		rc = dmki_fail(-errno, "mapping the daemon's pool memory: %s", strerror(errno));
		goto fail;
	}
	close(fd);
	*va = p;
	*handle = ans.comp.handle;
	*route = ans.comp.route;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (ans.type == DMK_IPC_COMPLETION && ans.comp.handle)
		dmk_ipc_client_unregister(c, ans.comp.handle);
	return rc;
}

int dmk_ipc_client_unregister(struct dmk_ipc_client *c, uint64_t handle)
{
	struct dmk_ipc_msg m, ans;

	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_UNREGISTER;
	m.unreg.handle = handle;
	return call(c, &m, -1, &ans);
}

static int io(struct dmk_ipc_client *c, uint16_t type, uint64_t handle, uint64_t offset,
	      uint64_t length, uint64_t lba)
{
	struct dmk_ipc_msg m, ans;
	int rc;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.io.handle = handle;
	m.io.offset = offset;
	m.io.length = length;
	m.io.lba = lba;
	rc = call(c, &m, -1, &ans);
	if (rc)
		return rc;
	if (ans.type != DMK_IPC_COMPLETION || ans.comp.bytes != length)
		return dmki_fail(-EPROTO, "%s of %llu bytes answered with %s of %llu bytes",
				 dmk_ipc_type_name(type), (unsigned long long)length,
				 dmk_ipc_type_name(ans.type), (unsigned long long)ans.comp.bytes);
	return 0;
}

int dmk_ipc_client_read(struct dmk_ipc_client *c, uint64_t handle, uint64_t offset,
			uint64_t length, uint64_t lba)
{
	return io(c, DMK_IPC_READ, handle, offset, length, lba);
}

int dmk_ipc_client_write(struct dmk_ipc_client *c, uint64_t handle, uint64_t offset,
			 uint64_t length, uint64_t lba)
{
	return io(c, DMK_IPC_WRITE, handle, offset, length, lba);
}

int dmk_ipc_client_close(struct dmk_ipc_client *c)
{
	struct dmk_ipc_msg m;

	if (!c)
		return 0;
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_BYE;
	m.seq = ++c->seq;
	dmk_ipc_send(c->fd, &m, -1);
	close(c->fd);
	free(c);
	return 0;
}
