/* SPDX-License-Identifier: MIT */
/*
 * The IPC wire format (include/dmakit/ipc.h): encoder and strict decoder.
 * Little-endian, byte by byte, so that neither alignment nor host order
 * matters; every field is checked in one place (check_body), which both
 * directions use.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <dmakit/ipc.h>
#include <dmakit/region.h>

#include "../core/error_priv.h"

#define BODY_HELLO 40u
#define BODY_REGISTER 32u
#define BODY_UNREGISTER 8u
#define BODY_IO 32u
#define BODY_COMPLETION 24u
#define BODY_ERROR_MIN 8u
#define BODY_RINGS 16u
#define REG_LEN_MAX (1ull << 47)

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

const char *dmk_ipc_type_name(unsigned type)
{
	switch (type) {
	case DMK_IPC_HELLO: return "HELLO";
	case DMK_IPC_REGISTER: return "REGISTER";
	case DMK_IPC_UNREGISTER: return "UNREGISTER";
	case DMK_IPC_READ: return "READ";
	case DMK_IPC_WRITE: return "WRITE";
	case DMK_IPC_COMPLETION: return "COMPLETION";
	case DMK_IPC_ERROR: return "ERROR";
	case DMK_IPC_BYE: return "BYE";
	case DMK_IPC_RINGS: return "RINGS";
	default: return "unknown";
	}
}

const char *dmk_ipc_route_name(unsigned route)
{
	switch (route) {
	case DMK_IPC_ROUTE_NONE: return "none";
	case DMK_IPC_ROUTE_MEMFD: return "memfd";
	case DMK_IPC_ROUTE_COPY: return "copy";
	case DMK_IPC_ROUTE_POOL: return "pool";
	case DMK_IPC_ROUTE_LEASE: return "lease";
	default: return "unknown";
	}
}

/* Body size of a type with a fixed body; 0 for BYE; -1 for ERROR (variable)
 * and for an unknown type (told apart by the caller). */
static long body_size(unsigned type)
{
	switch (type) {
	case DMK_IPC_HELLO: return BODY_HELLO;
	case DMK_IPC_REGISTER: return BODY_REGISTER;
	case DMK_IPC_UNREGISTER: return BODY_UNREGISTER;
	case DMK_IPC_READ:
	case DMK_IPC_WRITE: return BODY_IO;
	case DMK_IPC_COMPLETION: return BODY_COMPLETION;
	case DMK_IPC_BYE: return 0;
	case DMK_IPC_RINGS: return BODY_RINGS;
	default: return -1;
	}
}

static int check_handle(const char *what, uint64_t handle)
{
	if (handle == 0 || handle > DMK_IPC_HANDLE_MAX)
		return dmki_fail(-EINVAL, "%s: region handle %#llx is not 1 to %#x", what,
				 (unsigned long long)handle, DMK_IPC_HANDLE_MAX);
	return 0;
}

static int check_errno(const char *what, int32_t err)
{
	if (err < -4095 || err > -1)
		return dmki_fail(-EINVAL, "%s: errno %d is not -4095 to -1", what, (int)err);
	return 0;
}

/* Every rule on the fields of a decoded (or to be encoded) message. */
static int check_body(const struct dmk_ipc_msg *m)
{
	switch (m->type) {
	case DMK_IPC_HELLO:
		if (m->hello.version != DMK_IPC_VERSION)
			return dmki_fail(-EPROTO, "HELLO: protocol version %u, this side speaks %u",
					 m->hello.version, DMK_IPC_VERSION);
		if (m->hello.flags != 0)
			return dmki_fail(-EINVAL, "HELLO: reserved flags %#x set", m->hello.flags);
		return 0;
	case DMK_IPC_REGISTER: {
		const struct dmk_ipc_register *r = &m->reg;

		if (r->route != DMK_IPC_ROUTE_MEMFD && r->route != DMK_IPC_ROUTE_COPY &&
		    r->route != DMK_IPC_ROUTE_POOL && r->route != DMK_IPC_ROUTE_LEASE)
			return dmki_fail(-EINVAL, "REGISTER: unknown route %u", r->route);
		if (r->prot == 0 || (r->prot & ~(unsigned)DMK_PROT_RW))
			return dmki_fail(-EINVAL, "REGISTER: protection %#x is not DMK_PROT_READ and/or DMK_PROT_WRITE",
					 r->prot);
		if (r->length == 0 || r->length > REG_LEN_MAX)
			return dmki_fail(-EINVAL, "REGISTER: length %llu is not 1 to 2^47",
					 (unsigned long long)r->length);
		if (r->offset + r->length < r->offset)
			return dmki_fail(-EINVAL, "REGISTER: offset %#llx + length %llu wraps",
					 (unsigned long long)r->offset, (unsigned long long)r->length);
		if (r->addr + r->length < r->addr)
			return dmki_fail(-EINVAL, "REGISTER: address %#llx + length %llu wraps",
					 (unsigned long long)r->addr, (unsigned long long)r->length);
		if (r->route == DMK_IPC_ROUTE_MEMFD && (r->offset & 4095))
			return dmki_fail(-EINVAL, "REGISTER: memfd offset %#llx is not a multiple of 4096",
					 (unsigned long long)r->offset);
		if (r->route == DMK_IPC_ROUTE_POOL && r->offset != 0)
			return dmki_fail(-EINVAL, "REGISTER: pool route wants offset 0 (has %#llx)",
					 (unsigned long long)r->offset);
		if (r->route == DMK_IPC_ROUTE_COPY && (r->offset != 0 || r->addr == 0))
			return dmki_fail(-EINVAL, "REGISTER: copy route wants offset 0 (has %#llx) and an address (has %#llx)",
					 (unsigned long long)r->offset, (unsigned long long)r->addr);
		return 0;
	}
	case DMK_IPC_UNREGISTER:
		return check_handle("UNREGISTER", m->unreg.handle);
	case DMK_IPC_READ:
	case DMK_IPC_WRITE: {
		const struct dmk_ipc_io *io = &m->io;
		const char *what = dmk_ipc_type_name(m->type);
		int rc = check_handle(what, io->handle);

		if (rc)
			return rc;
		if (io->length == 0 || io->length > DMK_IPC_IO_MAX)
			return dmki_fail(-EINVAL, "%s: length %llu is not 1 to %llu", what,
					 (unsigned long long)io->length, (unsigned long long)DMK_IPC_IO_MAX);
		if (io->offset + io->length < io->offset)
			return dmki_fail(-EINVAL, "%s: offset %#llx + length %llu wraps", what,
					 (unsigned long long)io->offset, (unsigned long long)io->length);
		return 0;
	}
	case DMK_IPC_COMPLETION: {
		const struct dmk_ipc_completion *c = &m->comp;

		if (c->status != 0) {
			int rc = check_errno("COMPLETION", c->status);

			if (rc)
				return rc;
		}
		if (c->route > DMK_IPC_ROUTE_LEASE)
			return dmki_fail(-EINVAL, "COMPLETION: unknown route %u", c->route);
		if (c->route != DMK_IPC_ROUTE_NONE && c->status == 0)
			return check_handle("COMPLETION", c->handle);
		if (c->handle > DMK_IPC_HANDLE_MAX)
			return dmki_fail(-EINVAL, "COMPLETION: region handle %#llx is above %#x",
					 (unsigned long long)c->handle, DMK_IPC_HANDLE_MAX);
		return 0;
	}
	case DMK_IPC_ERROR:
		return check_errno("ERROR", m->error.err);
	case DMK_IPC_BYE:
		return 0;
	case DMK_IPC_RINGS: {
		const struct dmk_ipc_rings *r = &m->rings;

		if (r->entries == 0 || r->entries > DMK_IPC_RING_MAX || (r->entries & (r->entries - 1)))
			return dmki_fail(-EINVAL, "RINGS: %u entries is not a power of two from 1 to %u",
					 r->entries, DMK_IPC_RING_MAX);
		if (r->flags != 0)
			return dmki_fail(-EINVAL, "RINGS: reserved flags %#x set", r->flags);
		if (r->size != 0 && r->size != dmk_ipc_ring_size(r->entries))
			return dmki_fail(-EINVAL, "RINGS: size %llu is neither 0 nor the %llu bytes of %u entries",
					 (unsigned long long)r->size,
					 (unsigned long long)dmk_ipc_ring_size(r->entries), r->entries);
		return 0;
	}
	default:
		return dmki_fail(-EBADMSG, "unknown message type %u", m->type);
	}
}

int dmk_ipc_encode(const struct dmk_ipc_msg *msg, void *buf, size_t cap, size_t *len)
{
	uint8_t *p = buf, *b;
	size_t total, rlen = 0;
	long body;
	int rc;

	if (!msg || !buf || !len)
		return dmki_fail(-EINVAL, "dmk_ipc_encode: NULL message, buffer or length");
	rc = check_body(msg);
	if (rc)
		return -EINVAL; /* dmk_last_error() names the rule */
	body = body_size(msg->type);
	if (msg->type == DMK_IPC_ERROR) {
		rlen = strnlen(msg->error.reason, DMK_IPC_REASON_MAX);
		body = (long)(BODY_ERROR_MIN + rlen);
	}
	total = DMK_IPC_HEADER_SIZE + (size_t)body;
	if (cap < total)
		return dmki_fail(-ENOSPC, "%s needs %zu bytes, the buffer has %zu",
				 dmk_ipc_type_name(msg->type), total, cap);
	memset(p, 0, total);
	put32(p, DMK_IPC_MAGIC);
	put16(p + 4, DMK_IPC_VERSION);
	put16(p + 6, msg->type);
	put32(p + 8, (uint32_t)total);
	put32(p + 12, 0);
	put64(p + 16, msg->seq);
	b = p + DMK_IPC_HEADER_SIZE;
	switch (msg->type) {
	case DMK_IPC_HELLO:
		put32(b, msg->hello.version);
		put32(b + 4, msg->hello.flags);
		put64(b + 8, msg->hello.max_pinned);
		put32(b + 16, msg->hello.max_regions);
		put32(b + 20, msg->hello.max_inflight);
		put32(b + 24, msg->hello.lba_size);
		/* b + 28: reserved, 0 */
		put64(b + 32, msg->hello.nlba);
		break;
	case DMK_IPC_REGISTER:
		put32(b, msg->reg.route);
		put32(b + 4, msg->reg.prot);
		put64(b + 8, msg->reg.offset);
		put64(b + 16, msg->reg.length);
		put64(b + 24, msg->reg.addr);
		break;
	case DMK_IPC_UNREGISTER:
		put64(b, msg->unreg.handle);
		break;
	case DMK_IPC_READ:
	case DMK_IPC_WRITE:
		put64(b, msg->io.handle);
		put64(b + 8, msg->io.offset);
		put64(b + 16, msg->io.length);
		put64(b + 24, msg->io.lba);
		break;
	case DMK_IPC_COMPLETION:
		put32(b, (uint32_t)msg->comp.status);
		put32(b + 4, msg->comp.route);
		put64(b + 8, msg->comp.handle);
		put64(b + 16, msg->comp.bytes);
		break;
	case DMK_IPC_ERROR:
		put32(b, (uint32_t)msg->error.err);
		/* b + 4: reserved, 0 */
		memcpy(b + 8, msg->error.reason, rlen);
		break;
	case DMK_IPC_RINGS:
		put32(b, msg->rings.entries);
		put32(b + 4, msg->rings.flags);
		put64(b + 8, msg->rings.size);
		break;
	default: /* BYE */
		break;
	}
	*len = total;
	return 0;
}

int dmk_ipc_decode(const void *buf, size_t len, struct dmk_ipc_msg *msg)
{
	const uint8_t *p = buf, *b;
	uint32_t magic, length, flags;
	uint16_t version, type;
	size_t blen;
	long want;

	if (!buf || !msg)
		return dmki_fail(-EINVAL, "dmk_ipc_decode: NULL buffer or message");
	memset(msg, 0, sizeof(*msg));
	if (len < DMK_IPC_HEADER_SIZE)
		return dmki_fail(-EBADMSG, "message of %zu bytes is shorter than the %u-byte header",
				 len, DMK_IPC_HEADER_SIZE);
	magic = get32(p);
	version = get16(p + 4);
	type = get16(p + 6);
	length = get32(p + 8);
	flags = get32(p + 12);
	if (magic != DMK_IPC_MAGIC)
		return dmki_fail(-EBADMSG, "bad magic %#x (want %#x)", magic, DMK_IPC_MAGIC);
	if (version != DMK_IPC_VERSION)
		return dmki_fail(-EPROTO, "protocol version %u in the header, this side speaks %u",
				 version, DMK_IPC_VERSION);
	if (length != len)
		return dmki_fail(-EBADMSG, "header says %u bytes, the datagram has %zu", length, len);
	if (flags != 0)
		return dmki_fail(-EBADMSG, "reserved header flags %#x set", flags);
	blen = len - DMK_IPC_HEADER_SIZE;
	b = p + DMK_IPC_HEADER_SIZE;
	want = body_size(type);
	if (type == DMK_IPC_ERROR) {
		if (blen < BODY_ERROR_MIN || blen > BODY_ERROR_MIN + DMK_IPC_REASON_MAX)
			return dmki_fail(-EBADMSG, "wrong length: ERROR body of %zu bytes is not %u to %u",
					 blen, BODY_ERROR_MIN, BODY_ERROR_MIN + DMK_IPC_REASON_MAX);
	} else if (want < 0) {
		return dmki_fail(-EBADMSG, "unknown message type %u", type);
	} else if (blen != (size_t)want) {
		return dmki_fail(-EBADMSG, "wrong length: %s body of %zu bytes, must be %ld",
				 dmk_ipc_type_name(type), blen, want);
	}
	msg->type = type;
	msg->seq = get64(p + 16);
	switch (type) {
	case DMK_IPC_HELLO:
		msg->hello.version = get32(b);
		msg->hello.flags = get32(b + 4);
		msg->hello.max_pinned = get64(b + 8);
		msg->hello.max_regions = get32(b + 16);
		msg->hello.max_inflight = get32(b + 20);
		msg->hello.lba_size = get32(b + 24);
		if (get32(b + 28) != 0)
			return dmki_fail(-EINVAL, "HELLO: reserved field %#x set", get32(b + 28));
		msg->hello.nlba = get64(b + 32);
		break;
	case DMK_IPC_REGISTER:
		msg->reg.route = get32(b);
		msg->reg.prot = get32(b + 4);
		msg->reg.offset = get64(b + 8);
		msg->reg.length = get64(b + 16);
		msg->reg.addr = get64(b + 24);
		break;
	case DMK_IPC_UNREGISTER:
		msg->unreg.handle = get64(b);
		break;
	case DMK_IPC_READ:
	case DMK_IPC_WRITE:
		msg->io.handle = get64(b);
		msg->io.offset = get64(b + 8);
		msg->io.length = get64(b + 16);
		msg->io.lba = get64(b + 24);
		break;
	case DMK_IPC_COMPLETION:
		msg->comp.status = (int32_t)get32(b);
		msg->comp.route = get32(b + 4);
		msg->comp.handle = get64(b + 8);
		msg->comp.bytes = get64(b + 16);
		break;
	case DMK_IPC_ERROR:
		msg->error.err = (int32_t)get32(b);
		if (get32(b + 4) != 0)
			return dmki_fail(-EINVAL, "ERROR: reserved field %#x set", get32(b + 4));
		if (memchr(b + 8, 0, blen - BODY_ERROR_MIN))
			return dmki_fail(-EBADMSG, "ERROR: the reason holds a NUL byte");
		memcpy(msg->error.reason, b + 8, blen - BODY_ERROR_MIN);
		msg->error.reason[blen - BODY_ERROR_MIN] = '\0';
		break;
	case DMK_IPC_RINGS:
		msg->rings.entries = get32(b);
		msg->rings.flags = get32(b + 4);
		msg->rings.size = get64(b + 8);
		break;
	default: /* BYE */
		break;
	}
	return check_body(msg);
}
