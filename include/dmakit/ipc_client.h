/* SPDX-License-Identifier: MIT */
/*
 * dmakit: the application's side of the IPC protocol (<dmakit/ipc.h>).
 *
 * An application connects to a driver daemon (<dmakit/ipc_server.h>),
 * offers buffers by an explicit route and reads and writes logical blocks
 * of the daemon's device into and out of them:
 *
 *	dmk_ipc_client_connect("/run/dmakitd.sock", NULL, &c);
 *	(or dmk_ipc_client_alloc_pool(c, len, DMK_PROT_RW, &buf, &h, &route))
 *	dmk_ipc_memfd_alloc(len, &buf, &fd);
 *	dmk_ipc_client_register_memfd(c, fd, 0, len, DMK_PROT_RW, &h, &route);
 *	dmk_ipc_client_read(c, h, 0, len, lba);     the bytes are in buf
 *	dmk_ipc_client_unregister(c, h);
 *	dmk_ipc_client_close(c);
 *
 * Each call sends one request and waits for its answer on the socket. A
 * refusal comes back as the daemon's errno with its reason in
 * dmk_last_error(), also when the daemon closed the connection after saying
 * why. A daemon that is gone gives -ECONNRESET, never a hang.
 *
 * The steady state without a socket message per I/O: shared-memory rings
 * with eventfd doorbells.
 *
 *	dmk_ipc_client_rings(c, 64, &entries);
 *	dmk_ipc_client_submit(c, DMK_IPC_READ, h, 0, 4096, lba, tag);  (-EAGAIN: full)
 *	n = dmk_ipc_client_reap(c, cqe, 64, 1);     waits for one at least
 *	or dmk_ipc_client_ring_read(c, h, 0, len, lba);    one at a time
 */
#ifndef DMAKIT_IPC_CLIENT_H
#define DMAKIT_IPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <dmakit/ipc.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_ipc_client;
struct dmk_ipc_lease;

/**
 * dmk_ipc_client_connect() - connect to a daemon and say HELLO
 * @path: the daemon's socket.
 * @wish: limits to ask for (version is filled in), or NULL for the
 *	daemon's defaults.
 * @out: receives the connection.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL for a NULL or too long @path; -ENOENT or
 * -ECONNREFUSED when no daemon listens there; -EACCES when the socket's
 * permissions keep the caller out; -EPROTO when the daemon speaks another
 * protocol version; -EUSERS when the daemon has no slot free ("64 clients
 * already"), -EDQUOT when the caller's uid holds its share of them ("uid
 * 1000 holds its share: 32 of the daemon's 64 connections"), the daemon's
 * reason in dmk_last_error() (<dmakit/ipc_server.h>); -ECONNRESET when it
 * closed the connection without a word; -ENOMEM.
 */
int dmk_ipc_client_connect(const char *path, const struct dmk_ipc_hello *wish,
			   struct dmk_ipc_client **out);

/**
 * dmk_ipc_client_limits() - what the daemon granted and its device
 * @c: the connection.
 * @granted: receives the daemon's HELLO: limits, block size and count.
 *
 * Thread safety: safe.
 *
 * Return: 0.
 */
int dmk_ipc_client_limits(const struct dmk_ipc_client *c, struct dmk_ipc_hello *granted);

/**
 * dmk_ipc_memfd_alloc() - a buffer the memfd route can carry
 * @len: bytes; rounded up to whole pages in the file.
 * @va: receives the buffer, mapped shared in the caller.
 * @fd: receives the memfd; sealed against shrinking, as the daemon wants.
 *
 * Free with munmap(*@va, @len) and close(*@fd).
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL for a zero @len; a negative errno of memfd_create(),
 * ftruncate(), fcntl() or mmap().
 */
int dmk_ipc_memfd_alloc(size_t len, void **va, int *fd);

/**
 * dmk_ipc_client_register_memfd() - offer a file-backed buffer (zero copy)
 * @c: the connection.
 * @fd: a memfd (MFD_HUGETLB for huge pages) sealed with F_SEAL_SHRINK,
 *	as dmk_ipc_memfd_alloc() makes. It stays the caller's.
 * @offset: where the buffer starts in the file, a multiple of 4096 (of
 *	the huge page size for a hugetlbfs memfd).
 * @length: its bytes.
 * @prot: DMK_PROT_READ (the device reads it: disk writes),
 *	DMK_PROT_WRITE (disk reads) or both.
 * @handle: receives the region handle.
 * @route: receives the route the daemon granted (%DMK_IPC_ROUTE_MEMFD).
 *
 * The daemon maps the file and keeps the mapping until the region is
 * unregistered; the caller keeps its descriptor, so the daemon trusts only
 * what seals make permanent, each read after its seal.
 *
 * Which files: only a memfd (shmem or hugetlbfs) sealed with F_SEAL_SHRINK;
 * any other descriptor is refused with -EINVAL. The daemon reads the seals
 * first and the size after, so the buffer lies within what the file can
 * never shrink below. F_SEAL_GROW is not needed: the file may grow, the
 * region stays as registered. A device that writes the buffer
 * (DMK_PROT_WRITE) needs a descriptor open for writing and a file not
 * sealed with F_SEAL_WRITE or F_SEAL_FUTURE_WRITE (-EACCES).
 *
 * Holes: without F_SEAL_WRITE the caller may still punch holes into the
 * file (fallocate(FALLOC_FL_PUNCH_HOLE)). That loses the caller's own
 * bytes, never the daemon or anyone else's memory. A device behind an
 * IOMMU (VFIO) keeps reading and writing the pages pinned at registration,
 * which a punched range no longer holds: there the caller sees a zeroed
 * page and never the device's bytes, until it registers the range again.
 * Where the daemon's own CPU moves the bytes (the sim backend, bounce
 * copies), a shmem hole is filled with a zeroed page that the caller shares
 * again; a hugetlbfs hole needs a page from the huge page pool, and with
 * the pool empty the request fails with -EFAULT: the daemon moves the bytes
 * of a hugetlbfs file with the kernel (process_vm_readv() on itself), never
 * with its own loads and stores, so nothing in the file can fault it.
 *
 * Thread safety: not with other uses of @c.
 *
 * Return: 0; the daemon's refusal: -EINVAL (not a memfd, not sealed with
 * F_SEAL_SHRINK, a range past the file's end, an offset that is not a
 * multiple of the file's page), -EACCES (a device that writes a buffer the
 * descriptor or a seal keeps from writing), -ENOSPC (the connection's
 * limits on regions or pinned bytes), -EDQUOT (the daemon's limit on the
 * bytes it pins for all clients together, or its device's mapping limit),
 * -EFAULT, -ENOMEM; -ECONNRESET when the daemon is gone. Later requests on
 * the region: -EFAULT where a page of it cannot be had (see above).
 */
int dmk_ipc_client_register_memfd(struct dmk_ipc_client *c, int fd, uint64_t offset,
				  uint64_t length, unsigned prot, uint64_t *handle,
				  unsigned *route);

/**
 * dmk_ipc_client_register_copy() - offer ordinary memory, to be copied
 * @c: the connection.
 * @va: the buffer, any memory of the caller (posix_memalign, the stack).
 * @length: its bytes.
 * @prot: as for dmk_ipc_client_register_memfd().
 * @handle: receives the region handle.
 * @route: receives the route granted (%DMK_IPC_ROUTE_COPY).
 *
 * The daemon will copy the bytes through its own buffer, to and from this
 * process's memory: not zero copy, and said so. The caller allows the
 * daemon to do that (prctl(PR_SET_PTRACER) where Yama asks for it). The
 * region belongs to this process, proved by a pidfd of itself sent with
 * the request: requests on it from another process (a child that
 * inherited @c, a process @c's socket was passed to) are refused with
 * -EPERM, and all of them with -ESRCH once this process has exited.
 *
 * Thread safety: not with other uses of @c.
 *
 * Return: 0; -ENOTSUP when the daemon has no copy route; -EOPNOTSUPP on a
 * kernel without pidfd_open() (before 5.3); -EPERM or -EACCES when the
 * daemon may not open this process's memory (another uid, Yama); the
 * other errors of dmk_ipc_client_register_memfd().
 */
int dmk_ipc_client_register_copy(struct dmk_ipc_client *c, void *va, uint64_t length,
				 unsigned prot, uint64_t *handle, unsigned *route);

/**
 * dmk_ipc_client_alloc_pool() - a buffer the daemon allocates (zero copy)
 * @c: the connection.
 * @length: bytes.
 * @prot: as for dmk_ipc_client_register_memfd().
 * @va: receives the buffer, mapped shared in the caller: the same pages
 *	the daemon registered for its device.
 * @handle: receives the region handle.
 * @route: receives the route granted (%DMK_IPC_ROUTE_POOL).
 *
 * Free with dmk_ipc_client_unregister(@handle) and munmap(*@va, @length);
 * the pages live until both are done.
 *
 * Thread safety: not with other uses of @c.
 *
 * Return: 0; -EINVAL for a zero length or NULL outputs; the daemon's
 * refusal (-ENOSPC for the connection's limits, -EDQUOT for the daemon's
 * limit on the bytes it pins for all clients, -ENOMEM); a negative errno
 * of mmap();
 * -ECONNRESET when the daemon is gone.
 */
int dmk_ipc_client_alloc_pool(struct dmk_ipc_client *c, uint64_t length, unsigned prot,
			      void **va, uint64_t *handle, unsigned *route);

/**
 * DOC: the lease route
 *
 * Arbitrary memory of the application (posix_memalign on the ordinary
 * heap, the stack) reaches the device without a copy and without a file:
 * the daemon leases the connection a window of device addresses (IOVAs) in
 * its VFIO container and hands it the container's descriptor; the library
 * maps the application's pages into the IOMMU itself
 * (VFIO_IOMMU_MAP_DMA, which pins them and charges them to this process's
 * RLIMIT_MEMLOCK unless it has CAP_IPC_LOCK) at IOVAs it picks inside the
 * window, first fit, and tells the daemon (address, length, IOVA). The
 * daemon checks that every registration lies inside the window and shares
 * no page with another, and checks every READ and WRITE against both again
 * before it hands the device iova + offset. When the connection closes,
 * however it closes (kill -9 included), the daemon unmaps the whole window
 * from the container and takes it back.
 *
 *	dmk_ipc_client_lease(c, 16 << 20, &l);
 *	posix_memalign(&buf, 4096, len);
 *	dmk_ipc_lease_register(l, buf, len, DMK_PROT_RW, &h, &route);
 *	dmk_ipc_client_read(c, h, 0, len, lba);       the bytes are in buf
 *	dmk_ipc_lease_unregister(l, h);
 *	dmk_ipc_lease_close(l);                       before the connection
 *	dmk_ipc_client_close(c);
 *
 * The container's descriptor lets the process map and unmap IOVAs of the
 * whole container, not only of its window, and VFIO type1 unmaps a mapping
 * whoever made it (seen on Linux 6.1: a client unmapped the daemon's own
 * mapping): a hostile holder could unmap another's IOVAs and map its own
 * pages there. The daemon's checks keep the device away from anything the
 * connection was not leased, but cannot stop that; so the daemon grants a
 * lease only to clients that could control it anyway: root and its own
 * uid. Other users get -EPERM and use the memfd or pool route (zero copy
 * too). Only a daemon whose device is behind a VFIO container offers it.
 */

/**
 * dmk_ipc_client_lease() - lease an IOVA window and the container
 * @c: the connection; one lease per connection.
 * @size: bytes of IOVA space wished for, rounded up to 4 KiB; the sum of
 *	the page-rounded buffers registered in it may not pass it.
 * @out: receives the lease.
 *
 * Thread safety: not with other uses of @c.
 *
 * Return: 0; -EINVAL for a zero size or NULL arguments; the daemon's
 * refusal: -ENOTSUP (no VFIO container behind its device), -EPERM (the
 * caller is neither root nor of the daemon's uid), -EEXIST (the
 * connection holds a lease), -ENOSPC (more than the connection's pinned
 * bytes, or no free IOVA window that large below the device's reach);
 * -EPROTO for an answer without the descriptor; -ECONNRESET.
 */
int dmk_ipc_client_lease(struct dmk_ipc_client *c, uint64_t size, struct dmk_ipc_lease **out);

/**
 * dmk_ipc_lease_window() - the window a lease holds
 * @l: the lease.
 * @base: receives its first IOVA (may be NULL).
 * @size: receives its bytes (may be NULL).
 *
 * Thread safety: safe.
 *
 * Return: 0.
 */
int dmk_ipc_lease_window(const struct dmk_ipc_lease *l, uint64_t *base, uint64_t *size);

/**
 * dmk_ipc_lease_fd() - the VFIO container's descriptor the daemon sent
 * @l: the lease.
 *
 * For an application that maps memory itself (VFIO_IOMMU_MAP_DMA inside
 * the window) and then says so with dmk_ipc_lease_tell(). It stays owned
 * by @l.
 *
 * Thread safety: safe.
 *
 * Return: the descriptor.
 */
int dmk_ipc_lease_fd(const struct dmk_ipc_lease *l);

/**
 * dmk_ipc_lease_register() - map a buffer into the lease (zero copy)
 * @l: the lease.
 * @va: any memory of the caller; the pages it touches are mapped.
 * @length: its bytes.
 * @prot: DMK_PROT_READ (the device reads it: disk writes),
 *	DMK_PROT_WRITE (disk reads) or both.
 * @handle: receives the region handle, for dmk_ipc_client_read() and
 *	dmk_ipc_client_write().
 * @route: receives the route granted (%DMK_IPC_ROUTE_LEASE).
 *
 * Maps the pages of [@va, @va + @length) with VFIO_IOMMU_MAP_DMA at the
 * lowest free IOVA of the window and tells the daemon. The pages stay
 * pinned until dmk_ipc_lease_unregister(), dmk_ipc_lease_close() or the
 * end of the connection.
 *
 * Thread safety: not with other uses of @l or its connection.
 *
 * Return: 0; -EINVAL for bad arguments; -ENOSPC when the window has no
 * room left; -ENOMEM when the pages cannot be pinned (RLIMIT_MEMLOCK);
 * -EDQUOT when the container has no mappings left; the daemon's refusal
 * (-ERANGE, -EEXIST, -ENOSPC for its limits); -ECONNRESET. On failure
 * nothing stays mapped.
 */
int dmk_ipc_lease_register(struct dmk_ipc_lease *l, void *va, uint64_t length, unsigned prot,
			   uint64_t *handle, unsigned *route);

/**
 * dmk_ipc_lease_tell() - tell the daemon of a mapping made by the caller
 * @l: the lease.
 * @va: the buffer's address (for the daemon's log).
 * @length: its bytes.
 * @prot: as dmk_ipc_lease_register().
 * @iova: the device address of @va's first byte, mapped by the caller
 *	with the container's descriptor (dmk_ipc_lease_fd()).
 * @handle: receives the region handle.
 * @route: receives the route granted (%DMK_IPC_ROUTE_LEASE).
 *
 * Nothing is checked here: the daemon refuses an @iova range outside the
 * window (-ERANGE) or sharing a page with another registration of the
 * lease (-EEXIST). The caller unmaps its mapping itself, after
 * dmk_ipc_lease_unregister().
 *
 * Thread safety: not with other uses of @l or its connection.
 *
 * Return: 0; the daemon's refusal; -ECONNRESET; -ENOMEM.
 */
int dmk_ipc_lease_tell(struct dmk_ipc_lease *l, const void *va, uint64_t length, unsigned prot,
		       uint64_t iova, uint64_t *handle, unsigned *route);

/**
 * dmk_ipc_lease_unregister() - give a lease registration back, unmap it
 * @l: the lease.
 * @handle: a handle of dmk_ipc_lease_register() or dmk_ipc_lease_tell().
 *
 * The daemon forgets the handle first, then the library unmaps what it
 * mapped and its IOVAs are free again.
 *
 * Thread safety: not with other uses of @l or its connection.
 *
 * Return: 0; -ENOENT for a handle not of @l; the daemon's refusal; the
 * errno of VFIO_IOMMU_UNMAP_DMA.
 */
int dmk_ipc_lease_unregister(struct dmk_ipc_lease *l, uint64_t handle);

/**
 * dmk_ipc_lease_close() - unregister and unmap everything, free a lease
 * @l: the lease, or NULL. Call it before dmk_ipc_client_close() of its
 *	connection; the window itself goes back to the daemon when the
 *	connection closes.
 *
 * Thread safety: not with other uses of @l or its connection.
 *
 * Return: 0.
 */
int dmk_ipc_lease_close(struct dmk_ipc_lease *l);

/**
 * dmk_ipc_client_unregister() - give a region back
 * @c: the connection.
 * @handle: the handle.
 *
 * Thread safety: not with other uses of @c.
 *
 * Return: 0; -EPERM for a handle not of this connection; -ECONNRESET.
 */
int dmk_ipc_client_unregister(struct dmk_ipc_client *c, uint64_t handle);

/**
 * dmk_ipc_client_read() - read logical blocks into a region
 * @c: the connection.
 * @handle: a region registered with DMK_PROT_WRITE.
 * @offset: first byte of the region to fill.
 * @length: bytes, a whole number of the device's blocks.
 * @lba: first block.
 *
 * Thread safety: not with other uses of @c.
 *
 * Return: 0 once the bytes are in the region; -EPERM for a handle not of
 * this connection; -EINVAL for a range past the region or not whole
 * blocks; -ERANGE past the device's end; -EACCES for a region the device
 * may not write; the device's error (-EIO, -ETIMEDOUT, -EFAULT);
 * -ECONNRESET when the daemon is gone.
 */
int dmk_ipc_client_read(struct dmk_ipc_client *c, uint64_t handle, uint64_t offset,
			uint64_t length, uint64_t lba);

/**
 * dmk_ipc_client_write() - write logical blocks from a region
 * @c: the connection.
 * @handle: a region registered with DMK_PROT_READ.
 * @offset: first byte of the region to send.
 * @length: bytes, a whole number of the device's blocks.
 * @lba: first block.
 *
 * Thread safety: not with other uses of @c.
 *
 * Return: as dmk_ipc_client_read(); -EACCES for a region the device may
 * not read.
 */
int dmk_ipc_client_write(struct dmk_ipc_client *c, uint64_t handle, uint64_t offset,
			 uint64_t length, uint64_t lba);

/**
 * dmk_ipc_client_rings() - set up the shared-memory rings (RINGS)
 * @c: the connection.
 * @entries: entries wished for, a power of two from 1 to DMK_IPC_RING_MAX.
 * @granted: receives the entries granted (at most @entries), or NULL.
 *
 * The daemon sends the ring memfd and two eventfds; they are mapped and
 * kept until dmk_ipc_client_close(). The socket path keeps working.
 *
 * Thread safety: not with other uses of @c.
 *
 * Return: 0; -EINVAL for a bad @entries; -EEXIST when the connection has
 * rings already; -ENOMEM; -EPROTO for an answer that is not one;
 * -ECONNRESET when the daemon is gone.
 */
int dmk_ipc_client_rings(struct dmk_ipc_client *c, unsigned entries, unsigned *granted);

/**
 * dmk_ipc_client_submit() - put a request on the submission ring
 * @c: a connection with rings.
 * @op: %DMK_IPC_READ or %DMK_IPC_WRITE.
 * @handle: the region, as for dmk_ipc_client_read().
 * @offset: first byte of the region.
 * @length: bytes, whole blocks.
 * @lba: first block.
 * @tag: echoed by the completion.
 *
 * The daemon checks the entry as it checks a READ or WRITE message; a bad
 * one completes with its errno. Rings the request doorbell only when the
 * daemon sleeps.
 *
 * Thread safety: not with other uses of @c.
 *
 * Return: 0; -EAGAIN when as many requests as the rings have entries are
 * in flight (reap first); -ENXIO without rings; -EINVAL for a bad @op.
 */
int dmk_ipc_client_submit(struct dmk_ipc_client *c, unsigned op, uint64_t handle, uint64_t offset,
			  uint64_t length, uint64_t lba, uint64_t tag);

/**
 * dmk_ipc_client_reap() - take completions off the completion ring
 * @c: a connection with rings.
 * @out: receives up to @max completions (tag, status), in completion order.
 * @max: room in @out.
 * @min: wait until this many have come (cut to the requests in flight);
 *	0 does not wait. Waiting looks at the ring for about 20 us while
 *	the daemon is awake or has just been woken by this connection's
 *	request doorbell (its answer then needs no completion doorbell),
 *	yielding the CPU now and then, and then sleeps on the completion
 *	doorbell and the socket.
 *
 * Thread safety: not with other uses of @c.
 *
 * Return: completions taken (0 to @max); -ENXIO without rings;
 * -ECONNRESET when the daemon is gone or closed the connection.
 */
int dmk_ipc_client_reap(struct dmk_ipc_client *c, struct dmk_ipc_cqe *out, unsigned max,
			unsigned min);

/**
 * dmk_ipc_client_ring_read() - dmk_ipc_client_read() through the rings
 * @c: a connection with rings and nothing in flight on them.
 * @handle: a region registered with DMK_PROT_WRITE.
 * @offset: first byte of the region to fill.
 * @length: bytes, whole blocks.
 * @lba: first block.
 *
 * Submits one entry and waits for its completion: no socket message.
 *
 * Thread safety: not with other uses of @c.
 *
 * Return: 0; the errno the entry completed with (as for
 * dmk_ipc_client_read(); the reason is in the daemon's log); -EBUSY when
 * submitted requests are still to reap; -ENXIO without rings;
 * -ECONNRESET when the daemon is gone.
 */
int dmk_ipc_client_ring_read(struct dmk_ipc_client *c, uint64_t handle, uint64_t offset,
			     uint64_t length, uint64_t lba);

/**
 * dmk_ipc_client_ring_write() - dmk_ipc_client_write() through the rings
 * @c: as for dmk_ipc_client_ring_read().
 * @handle: a region registered with DMK_PROT_READ.
 * @offset: first byte of the region to send.
 * @length: bytes, whole blocks.
 * @lba: first block.
 *
 * Thread safety: not with other uses of @c.
 *
 * Return: as dmk_ipc_client_ring_read().
 */
int dmk_ipc_client_ring_write(struct dmk_ipc_client *c, uint64_t handle, uint64_t offset,
			      uint64_t length, uint64_t lba);

/**
 * dmk_ipc_client_ring_mem() - the shared ring memory, as mapped here
 * @c: the connection.
 * @len: receives its bytes, or NULL.
 *
 * For tests that write what a hostile client would.
 *
 * Thread safety: safe.
 *
 * Return: the mapping, or NULL without rings.
 */
void *dmk_ipc_client_ring_mem(struct dmk_ipc_client *c, size_t *len);

/**
 * dmk_ipc_client_close() - say BYE and close the connection
 * @c: the connection, or NULL.
 *
 * The daemon unregisters every region the connection still holds.
 *
 * Thread safety: not with other uses of @c.
 *
 * Return: 0.
 */
int dmk_ipc_client_close(struct dmk_ipc_client *c);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_IPC_CLIENT_H */
