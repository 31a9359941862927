/* SPDX-License-Identifier: MIT */
/*
 * The application's side (include/dmakit/ipc_client.h): one request, one
 * answer, matched by sequence number.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <dmakit/ipc.h>
#include <dmakit/ipc_client.h>

#include "../core/error_priv.h"
#include "client_priv.h"

struct dmk_ipc_client {
	int fd;
	pid_t daemon_pid;
	uint64_t seq;
	struct dmk_ipc_hello granted;
	int ptracer_set;
	/* rings (dmk_ipc_client_rings) */
	void *rmap;
	size_t rmap_len;
	struct dmk_ipc_ring_hdr *hdr;
	struct dmk_ipc_sqe *sq;
	struct dmk_ipc_cqe *cq;
	uint32_t entries;
	uint32_t sq_tail;	/* ours, published to hdr->sq_tail */
	uint32_t cq_head;	/* ours, published to hdr->cq_head */
	uint32_t inflight;
	uint64_t next_tag;
	int rang;		/* we rang the request doorbell since the last wait */
	int req_efd;
	int cq_efd;
};

/*
 * The daemon closed the connection while we were @doing @type: an ERROR it
 * sent before closing says why (a refused connection is told "64 clients
 * already" so). The kernel reports the reset before the messages still
 * queued to us when the daemon closed with ours unread: those are read now.
 * The peer is gone, so nothing here waits (poll() with no timeout first).
 */
static int gone(struct dmk_ipc_client *c, const char *doing, uint8_t type)
{
	struct dmk_ipc_msg m;

	for (int i = 0; i < 4; i++) {
		struct pollfd p = { c->fd, POLLIN, 0 };
		int rc;

		if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
			break;
		rc = dmk_ipc_recv(c->fd, &m, NULL);
		if (rc == 0 && m.type == DMK_IPC_ERROR)
			return dmki_fail(m.error.err, "daemon: %s", m.error.reason);
		if (rc && rc != -ECONNRESET)
			break;
	}
	return dmki_fail(-ECONNRESET, "the daemon closed the connection (%s %s)", doing,
			 dmk_ipc_type_name(type));
}

/* Send @m (with @fd), wait for the answer of the same sequence number; a
 * descriptor may come with it only where @rfd takes one (-1 when none did). */
static int call_fd(struct dmk_ipc_client *c, struct dmk_ipc_msg *m, int fd,
		   struct dmk_ipc_msg *ans, int *rfd)
{
	int rc;

	m->seq = ++c->seq;
	rc = dmk_ipc_send(c->fd, m, fd);
	if (rc == -EPIPE || rc == -ECONNRESET)
		return gone(c, "sending", m->type);
	if (rc)
		return rc;
	rc = dmk_ipc_recv(c->fd, ans, rfd);
	if (rc == -ECONNRESET)
		return gone(c, "awaiting the answer to", m->type);
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
	int pidfd, rc;

	/* Under Yama's ptrace_scope 1 the daemon may copy only with leave. */
	if (!c->ptracer_set && c->daemon_pid > 0) {
		prctl(PR_SET_PTRACER, (unsigned long)c->daemon_pid, 0, 0, 0);
		c->ptracer_set = 1;
	}
	/* The daemon binds the region to this process, never to its pid
	 * (which another may have one day): a pidfd of this process, checked
	 * there against the credentials the kernel puts on the message. */
	pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (pidfd < 0)
		return dmki_fail(errno == ENOSYS ? -EOPNOTSUPP : -errno,
				 "register_copy: pidfd_open: %s (the copy route needs Linux 5.3)",
				 strerror(errno));
	memset(&m, 0, sizeof(m));
	m.reg.route = DMK_IPC_ROUTE_COPY;
	m.reg.prot = prot;
	m.reg.length = length;
	m.reg.addr = (uint64_t)(uintptr_t)va;
	rc = do_register(c, &m, pidfd, handle, route);
	close(pidfd);
	return rc;
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

int dmk_ipc_client_rings(struct dmk_ipc_client *c, unsigned entries, unsigned *granted)
{
	struct dmk_ipc_msg m, ans;
	int fds[3] = { -1, -1, -1 };
	unsigned nfd = 0;
	void *p;
	int rc;

	if (!c || c->hdr)
		return dmki_fail(c ? -EEXIST : -EINVAL, "rings: %s",
				 c ? "the connection has its rings already" : "NULL connection");
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_RINGS;
	m.rings.entries = entries;
	m.seq = ++c->seq;
	rc = dmk_ipc_send(c->fd, &m, -1);
	if (rc == -EPIPE || rc == -ECONNRESET)
		return gone(c, "sending", m.type);
	if (rc)
		return rc;
	rc = dmk_ipc_recv_fds(c->fd, &ans, fds, 3, &nfd);
	if (rc == -ECONNRESET)
		return gone(c, "awaiting the answer to", m.type);
	if (rc)
		return rc;
	if (ans.type == DMK_IPC_ERROR) {
		rc = dmki_fail(ans.error.err, "daemon: %s", ans.error.reason);
		goto fail;
	}
	if (ans.type != DMK_IPC_RINGS || ans.seq != m.seq || nfd != 3 || ans.rings.size == 0 ||
	    ans.rings.entries > entries) {
		rc = dmki_fail(-EPROTO, "RINGS answered with %s, %u descriptor(s), %u entries",
			       dmk_ipc_type_name(ans.type), nfd, ans.rings.entries);
		goto fail;
	}
	p = mmap(NULL, (size_t)ans.rings.size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (p == MAP_FAILED) {
		rc = dmki_fail(-errno, "mapping the rings: %s", strerror(errno));
		goto fail;
	}
	close(fds[0]);
	c->rmap = p;
	c->rmap_len = (size_t)ans.rings.size;
	c->hdr = p;
	c->sq = (struct dmk_ipc_sqe *)((uint8_t *)p + DMK_IPC_RING_SQ_OFF);
	c->cq = (struct dmk_ipc_cqe *)((uint8_t *)p + dmk_ipc_ring_cq_off(ans.rings.entries));
	c->entries = ans.rings.entries;
	c->sq_tail = c->cq_head = c->inflight = 0;
	c->req_efd = fds[1];
	c->cq_efd = fds[2];
	if (granted)
		*granted = c->entries;
	return 0;
fail:
	for (unsigned i = 0; i < nfd && i < 3; i++)
		close(fds[i]);
	return rc;
}

int dmk_ipc_client_submit(struct dmk_ipc_client *c, unsigned op, uint64_t handle, uint64_t offset,
			  uint64_t length, uint64_t lba, uint64_t tag)
{
	struct dmk_ipc_sqe *e;

	if (!c->hdr)
		return dmki_fail(-ENXIO, "submit: the connection has no rings (dmk_ipc_client_rings)");
	if (op != DMK_IPC_READ && op != DMK_IPC_WRITE)
		return dmki_fail(-EINVAL, "submit: op %u is not DMK_IPC_READ or DMK_IPC_WRITE", op);
	if (c->inflight >= c->entries)
		return -EAGAIN;
	e = &c->sq[c->sq_tail & (c->entries - 1)];
	/* One store of the whole entry, built in registers: the slot is ours
	 * until the tail below publishes it (the daemon reads no slot past
	 * the tail it loaded with acquire), so plain stores suffice. */
	*e = (struct dmk_ipc_sqe){ .op = op, .flags = 0, .handle = handle, .offset = offset,
				   .length = length, .lba = lba, .tag = tag };
	c->sq_tail++;
	c->inflight++;
	/*
	 * Publish the tail and read the daemon's flag with no lost wakeup.
	 * The daemon going to sleep (dmki_srv_ring_arm) stores NEED_WAKEUP,
	 * issues a seq_cst fence and loads the tail. Here the tail is
	 * published by a seq_cst read-modify-write and the flag read with a
	 * seq_cst load. Were the entry missed by the daemon's load and the
	 * flag by ours, the single total order S of seq_cst operations and
	 * fences would hold a cycle (C11/C++20 [atomics.order]): our load
	 * reads before the daemon's store, which precedes its fence, so our
	 * load precedes that fence in S; the fence precedes the daemon's
	 * load, which reads before our exchange, so the fence precedes our
	 * exchange in S; and our exchange is sequenced before our load. The
	 * exchange is also a release: the entry's stores above are visible to
	 * a daemon that reads this tail with acquire. On x86 this is one
	 * XCHG and a plain load, where a release store and a seq_cst fence
	 * were a store and an MFENCE.
	 */
	(void)__atomic_exchange_n(&c->hdr->sq_tail, c->sq_tail, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&c->hdr->sq_flags, __ATOMIC_SEQ_CST) & DMK_IPC_RING_NEED_WAKEUP) {
		uint64_t one = 1;

		if (write(c->req_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			return dmki_fail(-errno, "ringing the request doorbell: %s", strerror(errno));
		c->rang = 1;
	}
	return 0;
}

static unsigned reap_some(struct dmk_ipc_client *c, struct dmk_ipc_cqe *out, unsigned max)
{
	uint32_t tail = __atomic_load_n(&c->hdr->cq_tail, __ATOMIC_ACQUIRE);
	unsigned n = 0;

	while (n < max && c->cq_head != tail && c->inflight) {
		out[n++] = c->cq[c->cq_head & (c->entries - 1)];
		c->cq_head++;
		c->inflight--;
	}
	if (n)
		__atomic_store_n(&c->hdr->cq_head, c->cq_head, __ATOMIC_RELEASE);
	return n;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleep on the completion doorbell; the socket too, to see a daemon that
 * is gone. */
static int wait_doorbell(struct dmk_ipc_client *c)
{
	struct pollfd pfd[2] = { { c->cq_efd, POLLIN, 0 }, { c->fd, POLLIN, 0 } };
	uint64_t v;
	int rc;

	rc = poll(pfd, 2, -1);
	if (rc < 0)
		return errno == EINTR ? 0 : dmki_fail(-errno, "poll: %s", strerror(errno));
	if (pfd[0].revents && read(c->cq_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return dmki_fail(-errno, "reading the completion doorbell: %s", strerror(errno));
	if (pfd[1].revents) {
		struct dmk_ipc_msg m;

		/* No answer is due on the socket: the daemon closes it or says why. */
		rc = dmk_ipc_recv(c->fd, &m, NULL);
		if (rc == 0 && m.type == DMK_IPC_ERROR)
			return dmki_fail(-ECONNRESET, "the daemon: %s", m.error.reason);
		return dmki_fail(-ECONNRESET, "the daemon closed the connection (awaiting completions)");
	}
	return 0;
}

int dmk_ipc_client_reap(struct dmk_ipc_client *c, struct dmk_ipc_cqe *out, unsigned max,
			unsigned min)
{
	unsigned n;
	uint64_t t0 = 0;

	if (!c->hdr)
		return dmki_fail(-ENXIO, "reap: the connection has no rings (dmk_ipc_client_rings)");
	if (min > max || min > c->inflight)
		min = max < c->inflight ? max : c->inflight;
	n = reap_some(c, out, max);
	for (unsigned spins = 0; n < min; spins++) {
		int rc;

		/* A short look before sleeping while the daemon is awake (it
		 * answers sooner than a wakeup would), or waking up to the
		 * doorbell we rang: looking then saves it ringing ours, and
		 * us two system calls and a wakeup (poll, read). None when it
		 * sleeps and we did not ring: its answer comes after a wakeup
		 * anyway and may want this CPU. The relaxed load of the flag
		 * only steers this; what is taken from the ring is ordered
		 * by the acquire load of cq_tail in reap_some(). */
		if ((c->rang ||
		     !(__atomic_load_n(&c->hdr->sq_flags, __ATOMIC_RELAXED) & DMK_IPC_RING_NEED_WAKEUP)) &&
		    (spins < 64 || (spins & 63) ||
		     (t0 ? mono_ns() - t0 : (t0 = mono_ns(), 0)) < 20000)) {
			n += reap_some(c, out + n, max - n);
			/* On a CPU shared with the daemon, let it run. */
			if ((spins & 15) == 15)
				sched_yield();
			continue;
		}
		c->rang = 0;
		__atomic_store_n(&c->hdr->cq_flags, DMK_IPC_RING_NEED_WAKEUP, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		n += reap_some(c, out + n, max - n);
		if (n < min) {
			rc = wait_doorbell(c);
			if (rc) {
				__atomic_store_n(&c->hdr->cq_flags, 0, __ATOMIC_RELAXED);
				return rc;
			}
		}
		__atomic_store_n(&c->hdr->cq_flags, 0, __ATOMIC_RELAXED);
		n += reap_some(c, out + n, max - n);
	}
	c->rang = 0;
	return (int)n;
}

static int ring_io(struct dmk_ipc_client *c, unsigned op, uint64_t handle, uint64_t offset,
		   uint64_t length, uint64_t lba)
{
	uint64_t tag = ++c->next_tag;
	struct dmk_ipc_cqe ce;
	int rc;

	if (!c->hdr)
		return dmki_fail(-ENXIO, "the connection has no rings (dmk_ipc_client_rings)");
	if (c->inflight)
		return dmki_fail(-EBUSY, "ring read/write: %u submitted requests are still to reap",
				 c->inflight);
	rc = dmk_ipc_client_submit(c, op, handle, offset, length, lba, tag);
	if (rc)
		return rc;
	rc = dmk_ipc_client_reap(c, &ce, 1, 1);
	if (rc < 0)
		return rc;
	if (ce.tag != tag)
		return dmki_fail(-EPROTO, "completion of tag %llu for request %llu",
				 (unsigned long long)ce.tag, (unsigned long long)tag);
	if (ce.status)
		return dmki_fail(ce.status, "daemon: %s on the ring failed (the daemon logs why)",
				 dmk_ipc_type_name(op));
	return 0;
}

int dmk_ipc_client_ring_read(struct dmk_ipc_client *c, uint64_t handle, uint64_t offset,
			     uint64_t length, uint64_t lba)
{
	return ring_io(c, DMK_IPC_READ, handle, offset, length, lba);
}

int dmk_ipc_client_ring_write(struct dmk_ipc_client *c, uint64_t handle, uint64_t offset,
			      uint64_t length, uint64_t lba)
{
	return ring_io(c, DMK_IPC_WRITE, handle, offset, length, lba);
}

void *dmk_ipc_client_ring_mem(struct dmk_ipc_client *c, size_t *len)
{
	if (!c || !c->hdr)
		return NULL;
	if (len)
		*len = c->rmap_len;
	return c->rmap;
}

int dmk_ipc_client_close(struct dmk_ipc_client *c)
{
	struct dmk_ipc_msg m;

	if (!c)
		return 0;
	if (c->hdr) {
		munmap(c->rmap, c->rmap_len);
		close(c->req_efd);
		close(c->cq_efd);
	}
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_BYE;
	m.seq = ++c->seq;
	dmk_ipc_send(c->fd, &m, -1);
	close(c->fd);
	free(c);
	return 0;
}

int dmki_ipc_client_call(struct dmk_ipc_client *c, struct dmk_ipc_msg *m, int fd,
			 struct dmk_ipc_msg *ans, int *rfd)
{
	return call_fd(c, m, fd, ans, rfd);
}
