/* SPDX-License-Identifier: MIT */
/*
 * The sim backend: a RAM disk whose "device" moves bytes through the sim
 * software IOMMU. Each transfer is prepared as a DMA command on the
 * caller's registered memory and every segment is moved with
 * dmk_sim_dma_read()/dmk_sim_dma_write(), so unregistered memory faults
 * as it would on hardware.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <dmakit/dma.h>
#include <dmakit/ipc_server.h>
#include <dmakit/space.h>
#include <dmakit/spec.h>

#include "../core/error_priv.h"
#include "backend_priv.h"

struct sim_backend {
	struct dmk_ipc_backend be;
	pthread_mutex_t lock;	/* one transfer at a time on @dma */
	struct dmk_dma *dma;
	uint8_t *disk;
	size_t size;
	pthread_mutex_t qlock;	/* the lists and counts below */
	unsigned hold;		/* transfers still to hold */
	unsigned nheld;
	struct dmki_ipc_breq *held, **held_tail;
	struct dmki_ipc_breq *done, **done_tail;
	int efd;		/* signalled when transfers are done */
};

static const struct dmki_ipc_backend_ops sim_ops;

static int sim_xfer(struct dmk_ipc_backend *be, uint64_t lba, void *va, size_t len, int to_mem)
{
	struct sim_backend *s = (struct sim_backend *)be;
	uint64_t pos = lba * be->lba_size, done = 0;
	int rc = 0;

	if (pos > s->size || len > s->size - pos)
		return dmki_fail(-ERANGE, "sim disk: blocks %llu+%zu are past its end",
				 (unsigned long long)lba, len / be->lba_size);
	pthread_mutex_lock(&s->lock);
	if (!s->dma)
		rc = dmki_fail(-ENOMEM, "sim disk: no DMA command (out of memory)");
	while (done < len && rc == 0) {
		const struct dmk_seg *segs;
		uint64_t covered = 0;
		size_t n;

		rc = dmk_dma_prepare_buf(s->dma, (uint8_t *)va + done, len - done,
					 to_mem ? DMK_FROM_DEVICE : DMK_TO_DEVICE, &covered);
		if (rc)
			break;
		rc = dmk_dma_sync(s->dma, DMK_SYNC_FOR_DEVICE);
		segs = dmk_dma_segs(s->dma, &n);
		for (size_t i = 0; i < n && rc == 0; i++) {
			uint8_t *d = s->disk + pos + done;

			if (to_mem)
				rc = dmk_sim_dma_write(be->space, segs[i].addr, d, segs[i].len);
			else
				rc = dmk_sim_dma_read(be->space, segs[i].addr, d, segs[i].len);
			done += segs[i].len;
		}
		if (rc == 0)
			rc = dmk_dma_sync(s->dma, DMK_SYNC_FOR_CPU);
		dmk_dma_complete(s->dma);
		if (covered == 0 && rc == 0)
			rc = dmki_fail(-EIO, "sim disk: a prepare covered nothing");
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int sim_read(struct dmk_ipc_backend *be, uint64_t lba, void *va, size_t len)
{
	return sim_xfer(be, lba, va, len, 1);
}

static int sim_write(struct dmk_ipc_backend *be, uint64_t lba, const void *va, size_t len)
{
	return sim_xfer(be, lba, (void *)(uintptr_t)va, len, 0);
}

static bool is_sim(struct dmk_ipc_backend *be)
{
	return be && be->ops == &sim_ops;
}

static int sim_poll_fd(struct dmk_ipc_backend *be)
{
	return ((struct sim_backend *)be)->efd;
}

static void sim_done(struct sim_backend *s, struct dmki_ipc_breq *r)
{
	uint64_t one = 1;

	pthread_mutex_lock(&s->qlock);
	r->next = NULL;
	*s->done_tail = r;
	s->done_tail = &r->next;
	pthread_mutex_unlock(&s->qlock);
	if (write(s->efd, &one, sizeof(one)) < 0) {
		/* the counter is full: the daemon looks anyway */
	}
}

/* The device moves the bytes at once, unless a test asked it to hold the
 * transfer (dmk_ipc_backend_sim_hold()). */
static int sim_start(struct dmk_ipc_backend *be, struct dmki_ipc_breq *r)
{
	struct sim_backend *s = (struct sim_backend *)be;

	if (!r->va)
		return dmki_fail(-ENOTSUP, "sim disk: no device addresses (lease route)");
	pthread_mutex_lock(&s->qlock);
	if (!s->hold) {
		pthread_mutex_unlock(&s->qlock);
		return sim_xfer(be, r->lba, r->va, (size_t)r->len, r->to_mem);
	}
	s->hold--;
	r->rc = 0;
	r->next = NULL;
	*s->held_tail = r;
	s->held_tail = &r->next;
	s->nheld++;
	pthread_mutex_unlock(&s->qlock);
	return -EINPROGRESS;
}

static size_t sim_reap(struct dmk_ipc_backend *be, struct dmki_ipc_breq **out, size_t max)
{
	struct sim_backend *s = (struct sim_backend *)be;
	size_t n = 0;
	uint64_t v;

	if (read(s->efd, &v, sizeof(v)) < 0) {
		/* nothing signalled: look anyway */
	}
	pthread_mutex_lock(&s->qlock);
	while (n < max && s->done) {
		struct dmki_ipc_breq *r = s->done;

		s->done = r->next;
		if (!s->done)
			s->done_tail = &s->done;
		out[n++] = r;
	}
	pthread_mutex_unlock(&s->qlock);
	if (n == max) {
		uint64_t one = 1;

		/* more may wait: keep the descriptor readable */
		if (write(s->efd, &one, sizeof(one)) < 0) {
			/* full: readable anyway */
		}
	}
	return n;
}

static void sim_quiesce(struct dmk_ipc_backend *be)
{
	dmk_ipc_backend_sim_release(be);
}

int dmk_ipc_backend_sim_hold(struct dmk_ipc_backend *be, unsigned n)
{
	struct sim_backend *s = (struct sim_backend *)be;

	if (!is_sim(be))
		return dmki_fail(-EINVAL, "dmk_ipc_backend_sim_hold: not a sim backend");
	pthread_mutex_lock(&s->qlock);
	s->hold = n;
	pthread_mutex_unlock(&s->qlock);
	return 0;
}

unsigned dmk_ipc_backend_sim_held(struct dmk_ipc_backend *be)
{
	struct sim_backend *s = (struct sim_backend *)be;
	unsigned n;

	if (!is_sim(be))
		return 0;
	pthread_mutex_lock(&s->qlock);
	n = s->nheld;
	pthread_mutex_unlock(&s->qlock);
	return n;
}

int dmk_ipc_backend_sim_release(struct dmk_ipc_backend *be)
{
	struct sim_backend *s = (struct sim_backend *)be;
	struct dmki_ipc_breq *list;
	int n = 0;

	if (!is_sim(be))
		return dmki_fail(-EINVAL, "dmk_ipc_backend_sim_release: not a sim backend");
	pthread_mutex_lock(&s->qlock);
	list = s->held;
	s->held = NULL;
	s->held_tail = &s->held;
	s->nheld = 0;
	pthread_mutex_unlock(&s->qlock);
	while (list) {
		struct dmki_ipc_breq *r = list;

		list = r->next;
		/* The device moves the bytes now: into memory that must still
		 * be registered (and mapped), or it faults. */
		r->rc = sim_xfer(be, r->lba, r->va, (size_t)r->len, r->to_mem);
		sim_done(s, r);
		n++;
	}
	return n;
}

static int sim_destroy(struct dmk_ipc_backend *be)
{
	struct sim_backend *s = (struct sim_backend *)be;
	int rc;

	dmk_dma_destroy(s->dma);
	s->dma = NULL;
	rc = dmk_space_destroy(be->space);
	if (rc) {
		/* Registrations remain: the backend stays as it was. */
		struct dmk_dma_spec spec;

		dmk_dma_spec_init(&spec);
		if (dmk_dma_create(be->space, &spec, NULL, &s->dma))
			s->dma = NULL;
		return dmki_fail(rc, "the sim backend's space still holds registrations");
	}
	/* The server quiesced and reaped before it went: the transfers (its
	 * memory) are none of the backend's any more. */
	close(s->efd);
	pthread_mutex_destroy(&s->qlock);
	pthread_mutex_destroy(&s->lock);
	free(s->disk);
	free(s);
	return 0;
}

static const struct dmki_ipc_backend_ops sim_ops = {
	.name = "sim",
	.read = sim_read,
	.write = sim_write,
	.destroy = sim_destroy,
	.start = sim_start,
	.reap = sim_reap,
	.poll_fd = sim_poll_fd,
	.quiesce = sim_quiesce,
};

int dmk_ipc_backend_sim_create(uint32_t lba_size, uint64_t nlba, struct dmk_ipc_backend **out)
{
	struct dmk_dma_spec spec;
	struct sim_backend *s;
	int rc;

	if (!out)
		return dmki_fail(-EINVAL, "dmk_ipc_backend_sim_create: NULL out");
	if (lba_size < 512 || lba_size > 65536 || (lba_size & (lba_size - 1)))
		return dmki_fail(-EINVAL, "block size %u is not a power of two from 512 to 65536",
				 lba_size);
	if (nlba == 0 || nlba > (1ull << 30) / lba_size)
		return dmki_fail(-EINVAL, "%llu blocks of %u bytes: not 1 block to 1 GiB",
				 (unsigned long long)nlba, lba_size);
	s = calloc(1, sizeof(*s));
	if (!s)
		return dmki_fail(-ENOMEM, "out of memory for a sim backend");
	s->size = (size_t)(lba_size * nlba);
	s->disk = calloc(1, s->size);
	if (!s->disk) {
		rc = dmki_fail(-ENOMEM, "out of memory for a %zu-byte RAM disk", s->size);
		free(s);
		return rc;
	}
	rc = dmk_space_sim_create(NULL, &s->be.space);
	if (rc)
		goto fail;
	dmk_dma_spec_init(&spec);
	rc = dmk_dma_create(s->be.space, &spec, NULL, &s->dma);
	if (rc) {
		dmk_space_destroy(s->be.space);
		goto fail;
	}
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0) {
		rc = dmki_fail(-errno, "eventfd: %s", "sim disk");
		dmk_dma_destroy(s->dma);
		dmk_space_destroy(s->be.space);
		goto fail;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->qlock, NULL);
	s->held_tail = &s->held;
	s->done_tail = &s->done;
	s->be.ops = &sim_ops;
	s->be.lba_size = lba_size;
	s->be.nlba = nlba;
	*out = &s->be;
	return 0;
fail:
	free(s->disk);
	free(s);
	return rc;
}

void *dmk_ipc_backend_sim_disk(struct dmk_ipc_backend *be, size_t *len)
{
	struct sim_backend *s = (struct sim_backend *)be;

	if (!is_sim(be))
		return NULL;
	if (len)
		*len = s->size;
	return s->disk;
}

struct dmk_space *dmk_ipc_backend_space(struct dmk_ipc_backend *be)
{
	return be->space;
}

int dmk_ipc_backend_destroy(struct dmk_ipc_backend *be)
{
	if (!be)
		return 0;
	return be->ops->destroy(be);
}
