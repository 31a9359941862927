/* SPDX-License-Identifier: MIT */
/*
 * The fuzz_ring target's server and connections (ring_conn.c): a server on
 * the sim backend in this process, whose loop runs on a thread only while
 * connections are made; a well-behaved connection with a region of its
 * own; hostile connections made on the raw socket (HELLO, RINGS and a
 * REGISTER for each route), their regions between guard bytes, and the
 * daemon's side of each found again. The model of what the daemon has
 * done with a connection's rings lives beside it (fuzz_ring.c).
 */
#ifndef DMK_FUZZ_RING_CONN_H
#define DMK_FUZZ_RING_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <dmakit/ipc.h>

#define FUZZ_CHECK(cond, ...)                                   \
	do {                                                    \
		if (!(cond)) {                                  \
			fprintf(stderr, "fuzz_ring: " __VA_ARGS__); \
			fputc('\n', stderr);                    \
			abort();                                \
		}                                               \
	} while (0)

#define FUZZ_LBA 512u
#define FUZZ_NLBA 256u
#define RING_MAX 16u		/* the server's ring_entries */
#define RING_SIZES 5		/* connections with rings of 1, 2, 4, 8, 16 */
#define NREG 4

/* A hostile connection's regions, one for each way into its memory. */
enum { R_MEMFD, R_MEMFD_RO, R_POOL, R_COPY };
struct conn_reg {
	unsigned route;
	unsigned prot;
	uint64_t len;
};
extern const struct conn_reg conn_regs[NREG];

struct fuzz_server {
	char dir[64];
	char path[128];
	struct dmk_ipc_backend *be;
	struct dmk_ipc_server *srv;
	pthread_t loop;
	struct dmk_ipc_client *other;	/* well-behaved, never in an input */
	uint8_t *other_buf;
	int other_fd;
	uint64_t other_handle;
};

struct srv_client;

struct conn {
	bool up;
	unsigned entries;
	int sock, req_efd, cq_efd, mfd;
	void *rmap;
	size_t rlen;
	struct dmk_ipc_ring_hdr *hdr;
	struct dmk_ipc_sqe *sq;
	struct dmk_ipc_cqe *cq;
	struct srv_client *sc;		/* the daemon's side */
	uint8_t *file, *pool, *copy;	/* where the regions' bytes are here */
	uint64_t handle[NREG];
	/* The model: the daemon's indices, the client's, what each slot
	 * holds, the tags on the device (oldest first). */
	uint32_t head, cq_tail, tail, cq_head;
	struct dmk_ipc_sqe slot[RING_MAX];
	unsigned inflight;
	uint64_t held[RING_MAX];
};

/* The server, its well-behaved connection; gone at exit. */
void fuzz_server_start(struct fuzz_server *s);
/* The well-behaved connection's memory is as it left it. */
void fuzz_server_check_other(const struct fuzz_server *s);

/* A hostile connection with rings of @entries and its four regions, made
 * by the server's loop; the model at a fresh ring's indices. */
void conn_open(struct fuzz_server *s, struct conn *c, unsigned entries);
/* This side of a connection the daemon closed. */
void conn_close(struct conn *c);
/* Nothing published, nothing to reap, the slots and flags cleared: what a
 * fresh connection looks like, relative to the head. */
void conn_reset(struct conn *c);
/* Every byte around the regions as it was written. */
void conn_check_guards(const struct conn *c);
/* Which of @c's regions @handle names, or -1. */
int conn_region(const struct conn *c, uint64_t handle);

#endif
