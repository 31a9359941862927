/* SPDX-License-Identifier: MIT */
/*
 * dmakit: the wire protocol between an application and a driver daemon.
 *
 * An application (the client) and the process that owns a device (the
 * daemon) talk over a UNIX SOCK_SEQPACKET socket: one datagram is one
 * message, so message boundaries are kept by the kernel and a message is
 * never split or merged. Every message starts with a fixed header
 *
 *	offset  size  field
 *	0       4     magic    DMK_IPC_MAGIC
 *	4       2     version  DMK_IPC_VERSION
 *	6       2     type     enum dmk_ipc_type
 *	8       4     length   bytes of the whole message, header included
 *	12      4     flags    0 (reserved)
 *	16      8     seq      chosen by the sender of a request, echoed by
 *	                       the COMPLETION or ERROR that answers it
 *
 * followed by a body whose size is fixed for each type (ERROR alone carries
 * a reason of variable length). All integers are little-endian. Memory
 * travels as a file descriptor passed with SCM_RIGHTS alongside a REGISTER
 * message of the memfd route, or alongside the COMPLETION that answers a
 * REGISTER of the pool route; never as bytes in a message.
 *
 * The decoder is strict: a message must have exactly the length its type
 * says, every reserved field must be 0 and every field must hold a value
 * the protocol allows. A message that breaks a rule is refused with an
 * errno and a reason in dmk_last_error(); the daemon closes the connection
 * of a client that sends one.
 *
 * Requests and completions travel on the socket one message each, or,
 * after a RINGS exchange (version 2), on shared-memory rings with eventfd
 * doorbells, so that the steady state needs no socket message per I/O:
 *
 *	client -> daemon  RINGS  entries wished (a power of two), size 0
 *	daemon -> client  RINGS  entries granted, size of the ring memory,
 *	                  with three descriptors (SCM_RIGHTS): the ring memfd,
 *	                  the request doorbell, the completion doorbell
 *
 * The ring memory (struct dmk_ipc_ring_hdr at offset 0, the submission
 * ring at DMK_IPC_RING_SQ_OFF, the completion ring at
 * dmk_ipc_ring_cq_off()) is shared between the two processes and holds
 * integers in host order. Indices run free (u32, wrapping) and an entry
 * lives at index & (entries - 1). The client writes submission entries
 * and sq_tail, and cq_head; the daemon writes sq_head, completion entries
 * and cq_tail. The daemon trusts nothing in it: it reads each index once,
 * refuses indices more than @entries apart (the connection is closed),
 * copies each submission entry out once and checks the copy as it checks a
 * READ or WRITE message; a bad entry completes with an error status.
 */
#ifndef DMAKIT_IPC_H
#define DMAKIT_IPC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* DMK_IPC_MAGIC - first four bytes of every message ("DMKI" read as LE). */
#define DMK_IPC_MAGIC 0x494b4d44u
/* DMK_IPC_VERSION - the protocol version this library speaks. */
#define DMK_IPC_VERSION 2u
/* DMK_IPC_HEADER_SIZE - bytes of the fixed header. */
#define DMK_IPC_HEADER_SIZE 24u
/* DMK_IPC_REASON_MAX - most bytes of an ERROR message's reason, no NUL. */
#define DMK_IPC_REASON_MAX 200u
/* DMK_IPC_MSG_MAX - most bytes of any message; a receive buffer this big. */
#define DMK_IPC_MSG_MAX 256u
/* DMK_IPC_HANDLE_MAX - largest region handle; 0 is never a handle. */
#define DMK_IPC_HANDLE_MAX 0xffffffffu
/* DMK_IPC_IO_MAX - most bytes one READ or WRITE may move (1 GiB). */
#define DMK_IPC_IO_MAX (1ull << 30)

/**
 * enum dmk_ipc_type - what a message is
 * @DMK_IPC_HELLO: first message of each side: the protocol version and
 *	limits (the client's wishes; the daemon's reply: what it grants).
 * @DMK_IPC_REGISTER: the client offers a buffer by one route; answered by
 *	a COMPLETION naming the region handle and the route granted.
 * @DMK_IPC_UNREGISTER: the client gives a region handle back.
 * @DMK_IPC_READ: read logical blocks of the device into a region.
 * @DMK_IPC_WRITE: write logical blocks of the device from a region.
 * @DMK_IPC_COMPLETION: the answer to a request: its status.
 * @DMK_IPC_ERROR: a request refused, or a protocol error before the
 *	sender disconnects: an errno and a reason.
 * @DMK_IPC_BYE: the sender is about to close the connection.
 * @DMK_IPC_RINGS: the client asks for shared-memory rings; the daemon's
 *	answer carries their memfd and two eventfds (version 2).
 */
enum dmk_ipc_type {
	DMK_IPC_HELLO = 1,
	DMK_IPC_REGISTER = 2,
	DMK_IPC_UNREGISTER = 3,
	DMK_IPC_READ = 4,
	DMK_IPC_WRITE = 5,
	DMK_IPC_COMPLETION = 6,
	DMK_IPC_ERROR = 7,
	DMK_IPC_BYE = 8,
	DMK_IPC_RINGS = 9,
};

/**
 * enum dmk_ipc_route - how an application's buffer reaches the device
 * @DMK_IPC_ROUTE_NONE: no route (a completion that is not about a
 *	registration).
 * @DMK_IPC_ROUTE_MEMFD: the buffer lies in a file (memfd, hugetlbfs) whose
 *	descriptor travels with the REGISTER message; the daemon maps it and
 *	registers it in its space, and the device moves the bytes straight
 *	into the shared pages. Zero copy. Only a memfd sealed with
 *	F_SEAL_SHRINK (seals read before the size), within its size; the
 *	rules for the file are dmk_ipc_client_register_memfd()'s
 *	(<dmakit/ipc_client.h>).
 * @DMK_IPC_ROUTE_COPY: the buffer is ordinary memory of the client; the
 *	daemon copies it through a bounce buffer of its own, to and from the
 *	address space of the process that registered it. The REGISTER
 *	carries that process's pidfd (pidfd_open() of itself); its regions
 *	serve that process alone, while it lives. Only when asked for.
 * @DMK_IPC_ROUTE_POOL: the daemon allocates the buffer (a sealed memfd),
 *	maps and registers it, and sends its descriptor with the COMPLETION
 *	of the REGISTER; the client maps the same pages. Zero copy.
 * @DMK_IPC_ROUTE_LEASE: any memory of the client, which the client maps
 *	itself into an IOVA window the daemon leases to it alone: a REGISTER
 *	with @offset and @addr 0 asks for the window (@length bytes), and is
 *	answered by a COMPLETION of route none, handle 0 and @bytes the
 *	window's first IOVA, with the VFIO container's descriptor; each
 *	REGISTER after it names a buffer the client mapped: @addr, @length
 *	and, in @offset, the IOVA of its first byte. The daemon checks that
 *	against the window and the other registrations. Zero copy.
 */
enum dmk_ipc_route {
	DMK_IPC_ROUTE_NONE = 0,
	DMK_IPC_ROUTE_MEMFD = 1,
	DMK_IPC_ROUTE_COPY = 2,
	DMK_IPC_ROUTE_POOL = 3,
	DMK_IPC_ROUTE_LEASE = 4,
};

/**
 * struct dmk_ipc_hello - body of a HELLO (40 bytes on the wire)
 * @version: protocol version the sender speaks; must be DMK_IPC_VERSION.
 * @flags: reserved, 0.
 * @max_pinned: bytes of memory the client may have registered at once
 *	(client: wished for, 0 for the daemon's default; daemon: granted).
 * @max_regions: regions the client may hold at once (likewise).
 * @max_inflight: requests the client may have in flight (likewise; the
 *	daemon grants its ring_entries: requests on the rings, the socket
 *	carrying one at a time).
 * @lba_size: daemon: bytes of the device's logical block; client: 0.
 * @nlba: daemon: logical blocks of the device; client: 0.
 */
struct dmk_ipc_hello {
	uint32_t version;
	uint32_t flags;
	uint64_t max_pinned;
	uint32_t max_regions;
	uint32_t max_inflight;
	uint32_t lba_size;
	uint64_t nlba;
};

/**
 * struct dmk_ipc_register - body of a REGISTER (32 bytes on the wire)
 * @route: %DMK_IPC_ROUTE_MEMFD, %DMK_IPC_ROUTE_COPY or
 *	%DMK_IPC_ROUTE_POOL or %DMK_IPC_ROUTE_LEASE.
 * @prot: DMK_PROT_READ and/or DMK_PROT_WRITE (<dmakit/region.h>): what
 *	the device may do to the buffer.
 * @offset: memfd route: where the buffer starts in the file, a multiple
 *	of 4096; copy and pool routes: 0; lease route: the IOVA of the
 *	buffer's first byte, or 0 to ask for the window.
 * @length: bytes of the buffer, 1 to 2^47.
 * @addr: the buffer's address in the client; nonzero for the copy route
 *	(the daemon copies from and to it), informational for the memfd
 *	and pool routes (may be 0). @addr + @length must not wrap.
 */
struct dmk_ipc_register {
	uint32_t route;
	uint32_t prot;
	uint64_t offset;
	uint64_t length;
	uint64_t addr;
};

/**
 * struct dmk_ipc_unregister - body of an UNREGISTER (8 bytes on the wire)
 * @handle: the region handle, 1 to DMK_IPC_HANDLE_MAX.
 */
struct dmk_ipc_unregister {
	uint64_t handle;
};

/**
 * struct dmk_ipc_io - body of a READ or WRITE (32 bytes on the wire)
 * @handle: the region handle, 1 to DMK_IPC_HANDLE_MAX.
 * @offset: first byte of the region the transfer uses.
 * @length: bytes, 1 to DMK_IPC_IO_MAX; @offset + @length must not wrap.
 *	The daemon further checks them against the region and the device's
 *	block size.
 * @lba: first logical block of the device.
 */
struct dmk_ipc_io {
	uint64_t handle;
	uint64_t offset;
	uint64_t length;
	uint64_t lba;
};

/**
 * struct dmk_ipc_completion - body of a COMPLETION (24 bytes on the wire)
 * @status: 0, or a negative errno from -4095 to -1.
 * @route: for a REGISTER: the route granted; otherwise %DMK_IPC_ROUTE_NONE.
 * @handle: for a REGISTER: the new region handle (1 to
 *	DMK_IPC_HANDLE_MAX); otherwise 0.
 * @bytes: for a READ or WRITE: bytes moved; otherwise 0.
 */
struct dmk_ipc_completion {
	int32_t status;
	uint32_t route;
	uint64_t handle;
	uint64_t bytes;
};

/**
 * struct dmk_ipc_error - body of an ERROR (8 bytes + the reason's length)
 * @err: a negative errno from -4095 to -1.
 * @reason: why, NUL-terminated here; on the wire its bytes without the NUL,
 *	at most DMK_IPC_REASON_MAX of them, none of them NUL.
 */
struct dmk_ipc_error {
	int32_t err;
	char reason[DMK_IPC_REASON_MAX + 1];
};

/* DMK_IPC_RING_MAX - most entries of a ring. */
#define DMK_IPC_RING_MAX 4096u

/**
 * struct dmk_ipc_rings - body of a RINGS (16 bytes on the wire)
 * @entries: entries of each ring, a power of two from 1 to
 *	DMK_IPC_RING_MAX (client: wished for; daemon: granted). It is also
 *	the most requests the client may have in flight on the rings.
 * @flags: reserved, 0.
 * @size: client: 0; daemon: bytes of the ring memory, which must be
 *	dmk_ipc_ring_size(@entries).
 */
struct dmk_ipc_rings {
	uint32_t entries;
	uint32_t flags;
	uint64_t size;
};

/**
 * struct dmk_ipc_sqe - a submission entry (48 bytes, host order)
 * @op: %DMK_IPC_READ or %DMK_IPC_WRITE.
 * @flags: reserved, 0.
 * @handle: the region handle.
 * @offset: first byte of the region.
 * @length: bytes, as for a READ or WRITE message.
 * @lba: first logical block.
 * @tag: the client's, echoed by the completion entry.
 */
struct dmk_ipc_sqe {
	uint32_t op;
	uint32_t flags;
	uint64_t handle;
	uint64_t offset;
	uint64_t length;
	uint64_t lba;
	uint64_t tag;
};

/**
 * struct dmk_ipc_cqe - a completion entry (16 bytes, host order)
 * @tag: the submission entry's tag.
 * @status: 0, or a negative errno (the entry was refused or failed).
 * @flags: reserved, 0.
 */
struct dmk_ipc_cqe {
	uint64_t tag;
	int32_t status;
	uint32_t flags;
};

/* DMK_IPC_RING_NEED_WAKEUP - in sq_flags: the daemon sleeps, ring the
 * request doorbell after publishing entries; in cq_flags: the client
 * sleeps, ring the completion doorbell after publishing completions. */
#define DMK_IPC_RING_NEED_WAKEUP 1u

/**
 * struct dmk_ipc_ring_hdr - the indices at offset 0 of the ring memory
 * @sq_head: daemon: submission entries consumed.
 * @sq_tail: client: submission entries published.
 * @cq_head: client: completion entries consumed.
 * @cq_tail: daemon: completion entries published.
 * @sq_flags: daemon: %DMK_IPC_RING_NEED_WAKEUP or 0.
 * @cq_flags: client: %DMK_IPC_RING_NEED_WAKEUP or 0.
 *
 * Each on a cache line of its own; read and written with atomics.
 */
struct dmk_ipc_ring_hdr {
	uint32_t sq_head __attribute__((aligned(64)));
	uint32_t sq_tail __attribute__((aligned(64)));
	uint32_t cq_head __attribute__((aligned(64)));
	uint32_t cq_tail __attribute__((aligned(64)));
	uint32_t sq_flags __attribute__((aligned(64)));
	uint32_t cq_flags __attribute__((aligned(64)));
};

/* DMK_IPC_RING_SQ_OFF - where the submission ring starts. */
#define DMK_IPC_RING_SQ_OFF 4096u

/**
 * dmk_ipc_ring_cq_off() - where the completion ring starts
 * @entries: entries of each ring.
 *
 * Thread safety: safe.
 *
 * Return: its offset in the ring memory, a multiple of 4096.
 */
static inline uint64_t dmk_ipc_ring_cq_off(uint32_t entries)
{
	return DMK_IPC_RING_SQ_OFF + (((uint64_t)entries * sizeof(struct dmk_ipc_sqe) + 4095) & ~4095ull);
}

/**
 * dmk_ipc_ring_size() - bytes of the ring memory
 * @entries: entries of each ring.
 *
 * Thread safety: safe.
 *
 * Return: the size of the memfd holding the header and both rings.
 */
static inline uint64_t dmk_ipc_ring_size(uint32_t entries)
{
	return dmk_ipc_ring_cq_off(entries) +
	       (((uint64_t)entries * sizeof(struct dmk_ipc_cqe) + 4095) & ~4095ull);
}

/**
 * struct dmk_ipc_msg - one message, decoded
 * @type: an &enum dmk_ipc_type; says which body member is meaningful.
 * @seq: the header's sequence number.
 * @hello: body of a HELLO.
 * @reg: body of a REGISTER.
 * @unreg: body of an UNREGISTER.
 * @io: body of a READ or a WRITE.
 * @comp: body of a COMPLETION.
 * @error: body of an ERROR.
 * @rings: body of a RINGS.
 *
 * A BYE has no body. Members of other types are left as the caller set
 * them by the decoder and ignored by the encoder.
 */
struct dmk_ipc_msg {
	uint16_t type;
	uint64_t seq;
	struct dmk_ipc_hello hello;
	struct dmk_ipc_register reg;
	struct dmk_ipc_unregister unreg;
	struct dmk_ipc_io io;
	struct dmk_ipc_completion comp;
	struct dmk_ipc_error error;
	struct dmk_ipc_rings rings;
};

/**
 * dmk_ipc_encode() - write a message as it travels
 * @msg: the message; checked by the rules the decoder applies.
 * @buf: where the bytes go.
 * @cap: room in @buf; DMK_IPC_MSG_MAX is always enough.
 * @len: receives the bytes written.
 *
 * The ERROR reason is cut to DMK_IPC_REASON_MAX bytes.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL for a message the decoder would refuse (unknown type,
 * a field out of range; dmk_last_error() says which) or NULL pointers;
 * -ENOSPC when @cap is too small.
 */
int dmk_ipc_encode(const struct dmk_ipc_msg *msg, void *buf, size_t cap, size_t *len);

/**
 * dmk_ipc_decode() - check and read one received message
 * @buf: the bytes of one datagram.
 * @len: how many.
 * @msg: receives the message; zeroed first.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EBADMSG for bytes that are not a message of this protocol
 * (shorter than a header, a wrong magic, a header length that is not
 * @len, reserved header bits set, an unknown type, a body of the wrong
 * size for its type, a NUL inside an ERROR's reason); -EPROTO for a
 * protocol version other than DMK_IPC_VERSION, in the header or in a
 * HELLO; -EINVAL for a well-formed message with a field out of range (a
 * region handle of 0 or above DMK_IPC_HANDLE_MAX, an offset + length that
 * wraps, a zero or too long length, an unknown route or protection bits,
 * an errno out of range, reserved body fields set). dmk_last_error() names
 * the rule and the value.
 */
int dmk_ipc_decode(const void *buf, size_t len, struct dmk_ipc_msg *msg);

/**
 * dmk_ipc_send() - encode a message and send it on a SOCK_SEQPACKET socket
 * @sock: the connected socket.
 * @msg: the message.
 * @fd: a file descriptor to pass with it (SCM_RIGHTS), or -1. It stays
 *	open in the sender.
 *
 * Thread safety: safe; concurrent senders on one socket send whole
 * messages, in some order.
 *
 * Return: 0; the errors of dmk_ipc_encode(); -EPIPE or -ECONNRESET when
 * the peer is gone; another negative errno of sendmsg().
 */
int dmk_ipc_send(int sock, const struct dmk_ipc_msg *msg, int fd);

/**
 * dmk_ipc_recv() - receive one message from a SOCK_SEQPACKET socket
 * @sock: the connected socket.
 * @msg: receives the decoded message.
 * @fd: receives the descriptor that came with it (the caller owns it), or
 *	-1 when none did; NULL to refuse descriptors.
 *
 * Waits for a message. A datagram longer than DMK_IPC_MSG_MAX, or one that
 * brings more than one descriptor or a descriptor where @fd is NULL, is
 * refused, and every descriptor it brought is closed.
 *
 * Thread safety: safe, one receiver per socket.
 *
 * Return: 0; -ECONNRESET when the peer closed the connection (end of
 * file), and for an empty datagram, which recvmsg() cannot tell from the
 * end of file on a SOCK_SEQPACKET socket (the daemon closes that sender as
 * gone); -EBADMSG for a datagram that was too long, truncated control
 * data or unexpected descriptors; the errors of dmk_ipc_decode() (no
 * descriptor is left open then); another negative errno of recvmsg().
 */
int dmk_ipc_recv(int sock, struct dmk_ipc_msg *msg, int *fd);

/**
 * dmk_ipc_send_fds() - dmk_ipc_send() with up to 4 descriptors
 * @sock: the connected socket.
 * @msg: the message.
 * @fds: the descriptors; they stay open in the sender.
 * @nfds: how many, 0 to 4.
 *
 * Thread safety: as dmk_ipc_send().
 *
 * Return: as dmk_ipc_send(); -EINVAL for more than 4 descriptors.
 */
int dmk_ipc_send_fds(int sock, const struct dmk_ipc_msg *msg, const int *fds, unsigned nfds);

/**
 * dmk_ipc_recv_fds() - dmk_ipc_recv() taking up to @max descriptors
 * @sock: the connected socket.
 * @msg: receives the decoded message.
 * @fds: receives the descriptors that came (the caller owns them).
 * @max: room in @fds, 0 to 4; a message with more is refused and every
 *	descriptor it brought closed.
 * @nfds: receives how many came.
 *
 * Thread safety: as dmk_ipc_recv().
 *
 * Return: as dmk_ipc_recv().
 */
int dmk_ipc_recv_fds(int sock, struct dmk_ipc_msg *msg, int *fds, unsigned max, unsigned *nfds);

/**
 * dmk_ipc_type_name() - the name of a message type
 * @type: an &enum dmk_ipc_type value.
 *
 * Thread safety: safe.
 *
 * Return: "HELLO", "REGISTER", ... or "unknown".
 */
const char *dmk_ipc_type_name(unsigned type);

/**
 * dmk_ipc_route_name() - the name of a route, as reported to applications
 * @route: an &enum dmk_ipc_route value.
 *
 * Thread safety: safe.
 *
 * Return: "none", "memfd", "copy", "pool", "lease" or "unknown".
 */
const char *dmk_ipc_route_name(unsigned route);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_IPC_H */
