/* SPDX-License-Identifier: MIT */
/* Internal: the NVMe reference driver's controller, queues and commands. */
#ifndef DMK_NVME_PRIV_H
#define DMK_NVME_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <dmakit/dma.h>
#include <dmakit/nvme.h>
#include <dmakit/nvme_fmt.h>

/* Controller registers (BAR0). */
#define DMKI_NVME_REG_CAP	0x00
#define DMKI_NVME_REG_VS	0x08
#define DMKI_NVME_REG_INTMS	0x0c
#define DMKI_NVME_REG_CC	0x14
#define DMKI_NVME_REG_CSTS	0x1c
#define DMKI_NVME_REG_AQA	0x24
#define DMKI_NVME_REG_ASQ	0x28
#define DMKI_NVME_REG_ACQ	0x30
#define DMKI_NVME_REG_DBS	0x1000

#define DMKI_NVME_CC_EN		(1u << 0)
#define DMKI_NVME_CC_SHN_NORMAL	(1u << 14)
#define DMKI_NVME_CC_IOSQES	(6u << 16)
#define DMKI_NVME_CC_IOCQES	(4u << 20)
#define DMKI_NVME_CSTS_RDY	(1u << 0)
#define DMKI_NVME_CSTS_CFS	(1u << 1)
#define DMKI_NVME_CSTS_SHST_MASK (3u << 2)
#define DMKI_NVME_CSTS_SHST_DONE (2u << 2)

/* Opcodes. */
#define DMKI_NVME_ADM_DELETE_SQ	0x00
#define DMKI_NVME_ADM_CREATE_SQ	0x01
#define DMKI_NVME_ADM_DELETE_CQ	0x04
#define DMKI_NVME_ADM_CREATE_CQ	0x05
#define DMKI_NVME_ADM_IDENTIFY	0x06
#define DMKI_NVME_ADM_SET_FEATURES 0x09
#define DMKI_NVME_CMD_FLUSH	0x00
#define DMKI_NVME_CMD_WRITE	0x01
#define DMKI_NVME_CMD_READ	0x02

#define DMKI_NVME_SQE_SIZE	64u
#define DMKI_NVME_CQE_SIZE	16u
#define DMKI_NVME_PAGE		4096u
/* CDW0 PSDT = 01b: SGL for data, metadata pointer a contiguous buffer. */
#define DMKI_NVME_PSDT_SGL	(1u << 14)
/* Largest transfer of one command this driver asks for (one list page). */
#define DMKI_NVME_MAX_XFER	(1u << 20)
/* SGL data blocks of one command: one 4 KiB segment page of 16-byte slots. */
#define DMKI_NVME_SGL_SEGS	(DMKI_NVME_PAGE / 16u)
#define DMKI_NVME_DEF_TIMEOUT_MS 10000u

enum dmki_slot_state {
	DMKI_SLOT_FREE = 0,
	DMKI_SLOT_BUSY = 1,	/* in flight for the call holding the queue */
	DMKI_SLOT_LOST = 2,	/* given up on after a timeout */
};

/*
 * struct dmki_nvme_slot - one command identifier of a queue
 *
 * The CID is the slot's index. I/O slots own a list page (PRP list or SGL
 * segment) and two DMA commands, one for each kind of data pointer.
 */
struct dmki_nvme_slot {
	enum dmki_slot_state state;
	bool done;			/* its completion was reaped */
	uint16_t status;		/* status field, phase tag dropped */
	uint32_t dw0;
	uint64_t started_ns;
	struct dmk_dma *dma_prp, *dma_sgl;
	struct dmk_dma *used;		/* the one prepared, or NULL */
	struct dmk_list_page list;	/* one page; .va NULL on the admin queue */
	uint8_t opc;
	uint64_t lba;
	uint32_t nlb;
	uint64_t bytes;
	bool async;			/* submitted by dmk_nvme_submit_buf() */
	uint64_t tag;
};

struct dmki_nvme_queue {
	struct dmk_nvme *ctrl;
	uint16_t qid;
	unsigned depth;			/* entries of SQ and CQ */
	uint8_t *sq;
	uint64_t sq_dev;
	volatile uint8_t *cq;
	uint64_t cq_dev;
	uint16_t sq_tail;
	uint16_t cq_head;
	uint8_t phase;
	volatile uint32_t *sq_db;
	volatile uint32_t *cq_db;
	struct dmki_nvme_slot *slots;	/* depth - 1 of them */
	unsigned nslots;
	unsigned hint;			/* where to look for a free slot */
	unsigned busy;			/* slots not free (busy or lost) */
	uint16_t *done;			/* CIDs of busy slots the last reap completed */
	unsigned ndone;
	uint16_t *adone;		/* CIDs of async commands ended, a FIFO */
	unsigned adone_head, nadone;
	int efd;			/* MSI-X eventfd, or -1 to poll */
	unsigned vector;
	pthread_mutex_t lock;		/* one call at a time on the queue */
	struct dmk_nvme_stats stats;
};

struct dmk_nvme {
	struct dmk_space *space;
	struct dmk_pci *pci;
	volatile uint8_t *bar;
	size_t bar_len;
	struct dmk_nvme_opts opts;
	struct dmk_nvme_info info;
	unsigned timeout_ms;		/* per command */
	uint64_t max_xfer;		/* bytes of one command, whole blocks */
	struct dmk_dma_spec spec_prp, spec_sgl;
	struct dmk_bounce_pool *pool;
	/* Queues, list pages and the identify page: one registration. */
	uint8_t *mem;
	size_t mem_len;
	size_t mem_map;			/* bytes of its huge page mapping, 0 when malloc'd */
	uint64_t mem_dev;
	struct dmk_region *region;
	uint8_t *idbuf;
	uint64_t idbuf_dev;
	struct dmki_nvme_queue admin;
	struct dmki_nvme_queue *io;
	unsigned nio;
	unsigned io_created_cq, io_created_sq;
	int *efds;			/* owned by the PCI device */
	unsigned nvec;
	bool enabled;
};

/* io.c: read (or @write) @len bytes, whole blocks, at device address @dev,
 * which the caller has checked is mapped for the device (the IPC lease
 * route); PRPs, no registration looked up. Errors as dmk_nvme_read(). */
int dmki_nvme_io_dev(struct dmk_nvme *c, unsigned queue, bool write, uint64_t lba, uint64_t dev,
		     uint64_t len);
/* The same as one asynchronous command (dmk_nvme_submit_buf()'s rules:
 * at most max_transfer bytes, -EAGAIN when every slot is in flight); it
 * ends in dmk_nvme_reap() with @tag. */
int dmki_nvme_submit_dev(struct dmk_nvme *c, unsigned queue, bool write, uint64_t lba,
			 uint64_t dev, uint64_t len, uint64_t tag);
/* The queue's MSI-X eventfd (readable when it interrupted), or -1 when the
 * queue is polled; dmki_nvme_queue_ack() takes a pending interrupt off it
 * without blocking. */
int dmki_nvme_queue_efd(struct dmk_nvme *c, unsigned queue);
void dmki_nvme_queue_ack(struct dmk_nvme *c, unsigned queue);

/* ctrl.c */
uint32_t dmki_nvme_rd32(const struct dmk_nvme *c, unsigned off);
void dmki_nvme_wr32(struct dmk_nvme *c, unsigned off, uint32_t v);
uint64_t dmki_nvme_now_ns(void);

/* queue.c */
/* Lay out a queue on memory already registered; slots allocated. */
int dmki_nvme_queue_init(struct dmk_nvme *c, struct dmki_nvme_queue *q, uint16_t qid,
			 unsigned depth, uint8_t *sq, uint64_t sq_dev, uint8_t *cq,
			 uint64_t cq_dev, int efd, unsigned vector);
void dmki_nvme_queue_fini(struct dmki_nvme_queue *q);
/* A free slot (marked busy), or -1 when every slot is taken. */
int dmki_nvme_slot_get(struct dmki_nvme_queue *q);
/* Release a slot's DMA command, if prepared, and free it. */
void dmki_nvme_slot_put(struct dmki_nvme_queue *q, unsigned cid);
/* Copy a command into the SQ (CID set); the doorbell is rung separately. */
void dmki_nvme_sq_put(struct dmki_nvme_queue *q, uint32_t cmd[16], unsigned cid);
void dmki_nvme_sq_ring(struct dmki_nvme_queue *q);
/*
 * Take new completions: busy slots become done and are listed in q->done
 * (async ones in q->adone); lost slots are released. Rings the CQ head
 * doorbell. Returns how many were listed.
 */
unsigned dmki_nvme_reap(struct dmki_nvme_queue *q);
/*
 * Wait until a completion is reaped (0) or @deadline_ns passes
 * (-ETIMEDOUT); by eventfd when the queue has one, else polling.
 */
int dmki_nvme_wait(struct dmki_nvme_queue *q, uint64_t deadline_ns);
/* Submit one command and wait for it; the queue's lock is held by the caller. */
int dmki_nvme_exec_locked(struct dmki_nvme_queue *q, uint32_t cmd[16], unsigned timeout_ms,
			  uint32_t *dw0, uint16_t *status);

/* admin.c */
int dmki_nvme_admin(struct dmk_nvme *c, uint32_t cmd[16], const char *what, uint32_t *dw0);
int dmki_nvme_identify(struct dmk_nvme *c);
int dmki_nvme_set_queues(struct dmk_nvme *c, unsigned want, unsigned *granted);
int dmki_nvme_create_io_queue(struct dmk_nvme *c, struct dmki_nvme_queue *q);
void dmki_nvme_delete_io_queues(struct dmk_nvme *c);

/* io.c */
int dmki_nvme_specs(struct dmk_nvme *c);

/* contig.c */
/*
 * Zeroed memory for the driver's queues that the space can make one
 * device-contiguous run: posix_memalign, or one 2 MiB hugetlb page in a
 * phys space (*@map_len its size, 0 otherwise). -EINVAL when @len does not
 * fit a huge page, -ENOMEM when none is reserved.
 */
int dmki_nvme_contig_alloc(struct dmk_space *sp, size_t len, uint8_t **va, size_t *map_len);
void dmki_nvme_contig_free(uint8_t *va, size_t map_len);

/* status.c */
/* -EIO (or 0), "NVMe status SCT/SC Name (DNR) " then @fmt. */
int dmki_nvme_status_fail(uint16_t status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), cold));

#endif
