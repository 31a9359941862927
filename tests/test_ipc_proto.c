/* SPDX-License-Identifier: MIT */
/*
 * The IPC wire format (include/dmakit/ipc.h): every message round-trips
 * through the encoder and the decoder, and each malformed message is
 * refused with its own errno and reason; descriptors travel on a
 * socketpair.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <dmakit/error.h>
#include <dmakit/ipc.h>
#include <dmakit/region.h>

/* The decoder refuses @buf[0..@len) with @err and a reason naming @word. */
#define assert_refused(buf, len, err, word)                                          \
	do {                                                                          \
		struct dmk_ipc_msg m_;                                                \
		assert_int_equal(dmk_ipc_decode((buf), (len), &m_), (err));          \
		if (!strstr(dmk_last_error(), (word)))                                \
			fail_msg("reason '%s' does not name '%s'", dmk_last_error(), (word)); \
	} while (0)

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

static size_t encode(const struct dmk_ipc_msg *m, uint8_t *buf)
{
	size_t len = 0;

	assert_int_equal(dmk_ipc_encode(m, buf, DMK_IPC_MSG_MAX, &len), 0);
	assert_true(len >= DMK_IPC_HEADER_SIZE && len <= DMK_IPC_MSG_MAX);
	return len;
}

static void roundtrip(const struct dmk_ipc_msg *in, struct dmk_ipc_msg *out)
{
	uint8_t buf[DMK_IPC_MSG_MAX];
	size_t len = encode(in, buf);

	memset(out, 0xa5, sizeof(*out));
	assert_int_equal(dmk_ipc_decode(buf, len, out), 0);
	assert_int_equal(out->type, in->type);
	assert_true(out->seq == in->seq);
}

static struct dmk_ipc_msg msg_of(uint16_t type, uint64_t seq)
{
	struct dmk_ipc_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.seq = seq;
	return m;
}

static struct dmk_ipc_msg valid_io(void)
{
	struct dmk_ipc_msg m = msg_of(DMK_IPC_READ, 7);

	m.io.handle = 3;
	m.io.offset = 4096;
	m.io.length = 8192;
	m.io.lba = 99;
	return m;
}

static void test_roundtrip_every_type(void **state)
{
	struct dmk_ipc_msg in, out;

	(void)state;
	in = msg_of(DMK_IPC_HELLO, 1);
	in.hello.version = DMK_IPC_VERSION;
	in.hello.max_pinned = 1ull << 40;
	in.hello.max_regions = 77;
	in.hello.max_inflight = 31;
	in.hello.lba_size = 512;
	in.hello.nlba = 0x123456789abull;
	roundtrip(&in, &out);
	assert_memory_equal(&in.hello, &out.hello, sizeof(in.hello));

	in = msg_of(DMK_IPC_REGISTER, UINT64_MAX);
	in.reg.route = DMK_IPC_ROUTE_MEMFD;
	in.reg.prot = DMK_PROT_RW;
	in.reg.offset = 1ull << 32;
	in.reg.length = 12345;
	in.reg.addr = 0x7f0000001000ull;
	roundtrip(&in, &out);
	assert_memory_equal(&in.reg, &out.reg, sizeof(in.reg));

	in = msg_of(DMK_IPC_REGISTER, 2);
	in.reg.route = DMK_IPC_ROUTE_COPY;
	in.reg.prot = DMK_PROT_READ;
	in.reg.length = 1;
	in.reg.addr = 0x1000;
	roundtrip(&in, &out);
	assert_memory_equal(&in.reg, &out.reg, sizeof(in.reg));

	in = msg_of(DMK_IPC_REGISTER, 3);
	in.reg.route = DMK_IPC_ROUTE_POOL;
	in.reg.prot = DMK_PROT_RW;
	in.reg.length = 1ull << 47;
	roundtrip(&in, &out);
	assert_memory_equal(&in.reg, &out.reg, sizeof(in.reg));

	in = msg_of(DMK_IPC_UNREGISTER, 3);
	in.unreg.handle = DMK_IPC_HANDLE_MAX;
	roundtrip(&in, &out);
	assert_true(out.unreg.handle == DMK_IPC_HANDLE_MAX);

	in = valid_io();
	roundtrip(&in, &out);
	assert_memory_equal(&in.io, &out.io, sizeof(in.io));
	in.type = DMK_IPC_WRITE;
	in.io.length = DMK_IPC_IO_MAX;
	roundtrip(&in, &out);
	assert_memory_equal(&in.io, &out.io, sizeof(in.io));

	in = msg_of(DMK_IPC_COMPLETION, 9);
	in.comp.status = 0;
	in.comp.route = DMK_IPC_ROUTE_COPY;
	in.comp.handle = 5;
	in.comp.bytes = 4096;
	roundtrip(&in, &out);
	assert_memory_equal(&in.comp, &out.comp, sizeof(in.comp));
	in.comp.status = -EFAULT;
	in.comp.route = DMK_IPC_ROUTE_NONE;
	in.comp.handle = 0;
	roundtrip(&in, &out);
	assert_memory_equal(&in.comp, &out.comp, sizeof(in.comp));

	in = msg_of(DMK_IPC_ERROR, 10);
	in.error.err = -EPERM;
	snprintf(in.error.reason, sizeof(in.error.reason), "handle 9 is not yours");
	roundtrip(&in, &out);
	assert_int_equal(out.error.err, -EPERM);
	assert_string_equal(out.error.reason, "handle 9 is not yours");
	in.error.reason[0] = '\0'; /* an empty reason is allowed */
	roundtrip(&in, &out);
	assert_string_equal(out.error.reason, "");

	in = msg_of(DMK_IPC_BYE, 11);
	roundtrip(&in, &out);
}

static void test_error_reason_cut(void **state)
{
	struct dmk_ipc_msg in = msg_of(DMK_IPC_ERROR, 1), out;
	uint8_t buf[DMK_IPC_MSG_MAX];
	size_t len;

	(void)state;
	in.error.err = -EIO;
	memset(in.error.reason, 'x', DMK_IPC_REASON_MAX);
	in.error.reason[DMK_IPC_REASON_MAX] = '\0';
	len = encode(&in, buf);
	assert_int_equal(len, DMK_IPC_HEADER_SIZE + 8 + DMK_IPC_REASON_MAX);
	assert_int_equal(dmk_ipc_decode(buf, len, &out), 0);
	assert_int_equal(strlen(out.error.reason), DMK_IPC_REASON_MAX);
}

static void test_encoder_refuses(void **state)
{
	struct dmk_ipc_msg m;
	uint8_t buf[DMK_IPC_MSG_MAX];
	size_t len;

	(void)state;
	m = msg_of(42, 1);
	assert_int_equal(dmk_ipc_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	assert_non_null(strstr(dmk_last_error(), "unknown message type 42"));
	m = valid_io();
	m.io.handle = 0;
	assert_int_equal(dmk_ipc_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	m = valid_io();
	assert_int_equal(dmk_ipc_encode(&m, buf, 30, &len), -ENOSPC);
	assert_int_equal(dmk_ipc_encode(NULL, buf, sizeof(buf), &len), -EINVAL);
	m = msg_of(DMK_IPC_HELLO, 1);
	m.hello.version = 3;
	assert_int_equal(dmk_ipc_encode(&m, buf, sizeof(buf), &len), -EINVAL);
}

static void test_header_refused(void **state)
{
	struct dmk_ipc_msg m = valid_io();
	uint8_t buf[DMK_IPC_MSG_MAX + 8], bad[DMK_IPC_MSG_MAX + 8];
	size_t len;

	(void)state;
	len = encode(&m, buf);
	assert_refused(buf, 0, -EBADMSG, "shorter than");
	assert_refused(buf, DMK_IPC_HEADER_SIZE - 1, -EBADMSG, "shorter than");
	/* bad magic */
	memcpy(bad, buf, len);
	bad[0] ^= 1;
	assert_refused(bad, len, -EBADMSG, "magic");
	/* version mismatch: -EPROTO */
	memcpy(bad, buf, len);
	bad[4] = 3;
	assert_refused(bad, len, -EPROTO, "version 3");
	/* header length disagrees with the datagram */
	memcpy(bad, buf, len);
	put32(bad + 8, (uint32_t)len + 1);
	assert_refused(bad, len, -EBADMSG, "header says");
	assert_refused(buf, len - 1, -EBADMSG, "header says");
	/* reserved flags */
	memcpy(bad, buf, len);
	bad[12] = 1;
	assert_refused(bad, len, -EBADMSG, "reserved header flags");
	/* unknown types */
	memcpy(bad, buf, len);
	bad[6] = 0;
	assert_refused(bad, len, -EBADMSG, "unknown message type 0");
	bad[6] = 10;
	assert_refused(bad, len, -EBADMSG, "unknown message type 10");
	bad[6] = 4;
	bad[7] = 1;
	assert_refused(bad, len, -EBADMSG, "unknown message type 260");
}

static void test_wrong_length_refused(void **state)
{
	static const uint16_t fixed[] = { DMK_IPC_HELLO, DMK_IPC_REGISTER, DMK_IPC_UNREGISTER,
					  DMK_IPC_READ, DMK_IPC_WRITE, DMK_IPC_COMPLETION,
					  DMK_IPC_BYE };
	uint8_t buf[DMK_IPC_MSG_MAX + 8];

	(void)state;
	for (size_t t = 0; t < sizeof(fixed) / sizeof(fixed[0]); t++) {
		struct dmk_ipc_msg m = msg_of(fixed[t], 5), out;
		size_t len;

		m.hello.version = DMK_IPC_VERSION;
		m.reg.route = DMK_IPC_ROUTE_MEMFD;
		m.reg.prot = DMK_PROT_READ;
		m.reg.length = 4096;
		m.unreg.handle = 1;
		m.io = valid_io().io;
		len = encode(&m, buf);
		assert_int_equal(dmk_ipc_decode(buf, len, &out), 0);
		/* one byte more and one byte less, the header agreeing */
		buf[len] = 0;
		put32(buf + 8, (uint32_t)len + 1);
		assert_refused(buf, len + 1, -EBADMSG, "wrong length");
		if (len > DMK_IPC_HEADER_SIZE) {
			put32(buf + 8, (uint32_t)len - 1);
			assert_refused(buf, len - 1, -EBADMSG, "wrong length");
		}
	}
	/* ERROR: shorter than its fixed part, longer than the longest reason */
	{
		struct dmk_ipc_msg m = msg_of(DMK_IPC_ERROR, 1);
		size_t len;

		m.error.err = -EIO;
		len = encode(&m, buf);
		put32(buf + 8, (uint32_t)len - 1);
		assert_refused(buf, len - 1, -EBADMSG, "wrong length");
		memset(buf + len, 'y', DMK_IPC_REASON_MAX + 1);
		len += DMK_IPC_REASON_MAX + 1;
		put32(buf + 8, (uint32_t)len);
		assert_refused(buf, len, -EBADMSG, "wrong length");
		/* a NUL inside the reason */
		len = encode(&m, buf);
		buf[len] = 'a';
		buf[len + 1] = '\0';
		buf[len + 2] = 'b';
		put32(buf + 8, (uint32_t)len + 3);
		assert_refused(buf, len + 3, -EBADMSG, "NUL");
	}
}

/* Encode @m with its fields forced past the encoder's checks: patch bytes. */
static void test_fields_refused(void **state)
{
	struct dmk_ipc_msg m;
	uint8_t buf[DMK_IPC_MSG_MAX];
	uint8_t *b = buf + DMK_IPC_HEADER_SIZE;
	size_t len;

	(void)state;
	/* HELLO: version in the body, reserved bits */
	m = msg_of(DMK_IPC_HELLO, 1);
	m.hello.version = DMK_IPC_VERSION;
	len = encode(&m, buf);
	put32(b, 7);
	assert_refused(buf, len, -EPROTO, "HELLO: protocol version 7");
	len = encode(&m, buf);
	put32(b + 4, 1);
	assert_refused(buf, len, -EINVAL, "reserved flags");
	len = encode(&m, buf);
	put32(b + 28, 1);
	assert_refused(buf, len, -EINVAL, "reserved field");

	/* READ/WRITE: handles, lengths, overflow */
	m = valid_io();
	len = encode(&m, buf);
	put64(b, 0);
	assert_refused(buf, len, -EINVAL, "region handle 0");
	put64(b, (uint64_t)DMK_IPC_HANDLE_MAX + 1);
	assert_refused(buf, len, -EINVAL, "region handle 0x100000000");
	put64(b, UINT64_MAX);
	assert_refused(buf, len, -EINVAL, "region handle");
	len = encode(&m, buf);
	put64(b + 16, 0);
	assert_refused(buf, len, -EINVAL, "length 0");
	put64(b + 16, DMK_IPC_IO_MAX + 1);
	assert_refused(buf, len, -EINVAL, "length");
	len = encode(&m, buf);
	put64(b + 8, UINT64_MAX - 4095);
	assert_refused(buf, len, -EINVAL, "wraps");
	m.type = DMK_IPC_WRITE;
	len = encode(&m, buf);
	put64(b + 8, UINT64_MAX);
	assert_refused(buf, len, -EINVAL, "WRITE: offset");

	/* UNREGISTER */
	m = msg_of(DMK_IPC_UNREGISTER, 1);
	m.unreg.handle = 1;
	len = encode(&m, buf);
	put64(b, 0);
	assert_refused(buf, len, -EINVAL, "UNREGISTER: region handle 0");

	/* REGISTER: route, prot, length, offset/addr overflow, alignment */
	m = msg_of(DMK_IPC_REGISTER, 1);
	m.reg.route = DMK_IPC_ROUTE_MEMFD;
	m.reg.prot = DMK_PROT_RW;
	m.reg.offset = 8192;
	m.reg.length = 4096;
	len = encode(&m, buf);
	put32(b, 99);
	assert_refused(buf, len, -EINVAL, "unknown route 99");
	len = encode(&m, buf);
	put32(b + 4, 0);
	assert_refused(buf, len, -EINVAL, "protection 0");
	put32(b + 4, 4);
	assert_refused(buf, len, -EINVAL, "protection 0x4");
	len = encode(&m, buf);
	put64(b + 16, 0);
	assert_refused(buf, len, -EINVAL, "length 0");
	put64(b + 16, (1ull << 47) + 1);
	assert_refused(buf, len, -EINVAL, "length");
	len = encode(&m, buf);
	put64(b + 8, UINT64_MAX - 4095);
	assert_refused(buf, len, -EINVAL, "wraps");
	len = encode(&m, buf);
	put64(b + 24, UINT64_MAX - 100);
	assert_refused(buf, len, -EINVAL, "address");
	len = encode(&m, buf);
	put64(b + 8, 100);
	assert_refused(buf, len, -EINVAL, "multiple of 4096");
	m.reg.route = DMK_IPC_ROUTE_COPY;
	m.reg.offset = 0;
	m.reg.addr = 0x10000;
	len = encode(&m, buf);
	put64(b + 24, 0);
	assert_refused(buf, len, -EINVAL, "copy route");
	m.reg.route = DMK_IPC_ROUTE_POOL;
	m.reg.addr = 0;
	len = encode(&m, buf);
	put64(b + 8, 4096);
	assert_refused(buf, len, -EINVAL, "pool route wants offset 0");

	/* COMPLETION: errno range, route, handle */
	m = msg_of(DMK_IPC_COMPLETION, 1);
	len = encode(&m, buf);
	put32(b, 5);
	assert_refused(buf, len, -EINVAL, "errno 5");
	put32(b, (uint32_t)-5000);
	assert_refused(buf, len, -EINVAL, "errno -5000");
	len = encode(&m, buf);
	put32(b + 4, 9);
	assert_refused(buf, len, -EINVAL, "unknown route 9");
	put32(b + 4, DMK_IPC_ROUTE_MEMFD);
	assert_refused(buf, len, -EINVAL, "region handle 0");
	len = encode(&m, buf);
	put64(b + 8, 1ull << 33);
	assert_refused(buf, len, -EINVAL, "above");

	/* ERROR: errno range, reserved */
	m = msg_of(DMK_IPC_ERROR, 1);
	m.error.err = -EIO;
	len = encode(&m, buf);
	put32(b, 0);
	assert_refused(buf, len, -EINVAL, "errno 0");
	len = encode(&m, buf);
	put32(b + 4, 1);
	assert_refused(buf, len, -EINVAL, "reserved field");
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(dmk_ipc_type_name(DMK_IPC_HELLO), "HELLO");
	assert_string_equal(dmk_ipc_type_name(DMK_IPC_BYE), "BYE");
	assert_string_equal(dmk_ipc_type_name(0), "unknown");
	assert_string_equal(dmk_ipc_route_name(DMK_IPC_ROUTE_MEMFD), "memfd");
	assert_string_equal(dmk_ipc_route_name(DMK_IPC_ROUTE_COPY), "copy");
	assert_string_equal(dmk_ipc_route_name(77), "unknown");
}

/* Messages and descriptors on a socketpair; what recv refuses. */
static void test_socket(void **state)
{
	struct dmk_ipc_msg m = msg_of(DMK_IPC_REGISTER, 4), out;
	uint8_t junk[DMK_IPC_MSG_MAX + 10];
	struct stat st1, st2;
	int sv[2], mfd, got, before;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	mfd = memfd_create("test_ipc_proto", MFD_CLOEXEC);
	assert_true(mfd >= 0);
	m.reg.route = DMK_IPC_ROUTE_MEMFD;
	m.reg.prot = DMK_PROT_RW;
	m.reg.length = 4096;
	assert_int_equal(dmk_ipc_send(sv[0], &m, mfd), 0);
	assert_int_equal(dmk_ipc_recv(sv[1], &out, &got), 0);
	assert_int_equal(out.type, DMK_IPC_REGISTER);
	assert_true(got >= 0 && got != mfd);
	assert_int_equal(fstat(mfd, &st1), 0);
	assert_int_equal(fstat(got, &st2), 0);
	assert_true(st1.st_ino == st2.st_ino);
	close(got);

	/* a descriptor where none is wanted: refused and closed */
	before = dup(0);
	close(before);
	assert_int_equal(dmk_ipc_send(sv[0], &m, mfd), 0);
	assert_int_equal(dmk_ipc_recv(sv[1], &out, NULL), -EBADMSG);
	got = dup(0);
	assert_int_equal(got, before); /* the received descriptor did not stay open */
	close(got);

	/* too long a datagram; an undecodable one */
	memset(junk, 0, sizeof(junk));
	assert_int_equal(send(sv[0], junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	assert_int_equal(dmk_ipc_recv(sv[1], &out, &got), -EBADMSG);
	assert_non_null(strstr(dmk_last_error(), "too long"));
	assert_int_equal(send(sv[0], junk, 30, 0), 30);
	assert_int_equal(dmk_ipc_recv(sv[1], &out, &got), -EBADMSG);
	assert_non_null(strstr(dmk_last_error(), "magic"));
	assert_int_equal(got, -1);

	/* end of file */
	close(sv[0]);
	assert_int_equal(dmk_ipc_recv(sv[1], &out, &got), -ECONNRESET);
	assert_int_equal(dmk_ipc_send(sv[1], &m, -1), -EPIPE);
	close(sv[1]);
	close(mfd);
}

/* RINGS (version 2): round trip, every field rule, wrong lengths; the
 * ring layout; three descriptors on a socketpair. */
static void test_rings(void **state)
{
	struct dmk_ipc_msg m = msg_of(DMK_IPC_RINGS, 11), out;
	uint8_t buf[DMK_IPC_MSG_MAX + 8], bad[DMK_IPC_MSG_MAX + 8];
	int sv[2], fds[3], got[4], more[5];
	unsigned n = 9;
	size_t len;

	(void)state;
	assert_int_equal(DMK_IPC_VERSION, 2);
	assert_string_equal(dmk_ipc_type_name(DMK_IPC_RINGS), "RINGS");
	/* the client's ask (size 0) and the daemon's answer (the size) */
	m.rings.entries = 64;
	roundtrip(&m, &out);
	assert_int_equal(out.rings.entries, 64);
	assert_true(out.rings.size == 0);
	m.rings.size = dmk_ipc_ring_size(64);
	roundtrip(&m, &out);
	assert_true(out.rings.size == dmk_ipc_ring_size(64));
	len = encode(&m, buf);
	assert_int_equal(len, DMK_IPC_HEADER_SIZE + 16);

	/* entries: a power of two from 1 to DMK_IPC_RING_MAX */
	const uint32_t badn[] = { 0, 3, 100, DMK_IPC_RING_MAX * 2, 0xffffffffu };
	for (size_t i = 0; i < sizeof(badn) / sizeof(badn[0]); i++) {
		memcpy(bad, buf, len);
		put32(bad + DMK_IPC_HEADER_SIZE, badn[i]);
		put64(bad + DMK_IPC_HEADER_SIZE + 8, 0);
		assert_refused(bad, len, -EINVAL, "is not a power of two");
	}
	memcpy(bad, buf, len);
	put32(bad + DMK_IPC_HEADER_SIZE, 1);
	put64(bad + DMK_IPC_HEADER_SIZE + 8, 0);
	assert_int_equal(dmk_ipc_decode(bad, len, &out), 0);
	put32(bad + DMK_IPC_HEADER_SIZE, DMK_IPC_RING_MAX);
	assert_int_equal(dmk_ipc_decode(bad, len, &out), 0);
	/* reserved flags; a size that is not the layout's */
	memcpy(bad, buf, len);
	put32(bad + DMK_IPC_HEADER_SIZE + 4, 1);
	assert_refused(bad, len, -EINVAL, "RINGS: reserved flags");
	memcpy(bad, buf, len);
	put64(bad + DMK_IPC_HEADER_SIZE + 8, dmk_ipc_ring_size(64) + 4096);
	assert_refused(bad, len, -EINVAL, "RINGS: size");
	/* wrong lengths */
	memcpy(bad, buf, len);
	put32(bad + 8, (uint32_t)len - 1);
	assert_refused(bad, len - 1, -EBADMSG, "RINGS body of 15 bytes");
	memset(bad + len, 0, 8);
	put32(bad + 8, (uint32_t)len + 8);
	assert_refused(bad, len + 8, -EBADMSG, "RINGS body of 24 bytes");
	/* the encoder applies the same rules */
	m.rings.entries = 6;
	assert_int_equal(dmk_ipc_encode(&m, buf, sizeof(buf), &len), -EINVAL);

	/* the layout: header, then rings on page boundaries */
	assert_int_equal(sizeof(struct dmk_ipc_sqe), 48);
	assert_int_equal(sizeof(struct dmk_ipc_cqe), 16);
	assert_true(sizeof(struct dmk_ipc_ring_hdr) <= DMK_IPC_RING_SQ_OFF);
	assert_true(dmk_ipc_ring_cq_off(1) == 8192);
	assert_true(dmk_ipc_ring_size(1) == 12288);
	assert_true(dmk_ipc_ring_cq_off(256) == 4096 + 12288);
	assert_true(dmk_ipc_ring_size(256) == 4096 + 12288 + 4096);

	/* three descriptors with one message; more than asked for: refused */
	m.rings.entries = 8;
	m.rings.size = dmk_ipc_ring_size(8);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	for (int i = 0; i < 3; i++)
		fds[i] = dup(0);
	assert_int_equal(dmk_ipc_send_fds(sv[0], &m, fds, 3), 0);
	assert_int_equal(dmk_ipc_recv_fds(sv[1], &out, got, 4, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(out.type, DMK_IPC_RINGS);
	for (int i = 0; i < 3; i++)
		close(got[i]);
	assert_int_equal(dmk_ipc_send_fds(sv[0], &m, fds, 3), 0);
	assert_int_equal(dmk_ipc_recv_fds(sv[1], &out, got, 2, &n), -EBADMSG);
	assert_int_equal(n, 0);
	assert_non_null(strstr(dmk_last_error(), "3 descriptor(s)"));
	assert_int_equal(dmk_ipc_send_fds(sv[0], &m, fds, 3), 0);
	assert_int_equal(dmk_ipc_recv(sv[1], &out, got), -EBADMSG);
	for (int i = 0; i < 5; i++)
		more[i] = fds[0];
	assert_int_equal(dmk_ipc_send_fds(sv[0], &m, more, 5), -EINVAL);
	got[0] = dup(0);
	assert_int_equal(got[0], fds[2] + 1); /* nothing refused stayed open */
	close(got[0]);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rings),
		cmocka_unit_test(test_roundtrip_every_type),
		cmocka_unit_test(test_error_reason_cut),
		cmocka_unit_test(test_encoder_refuses),
		cmocka_unit_test(test_header_refused),
		cmocka_unit_test(test_wrong_length_refused),
		cmocka_unit_test(test_fields_refused),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
