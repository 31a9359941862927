/* SPDX-License-Identifier: MIT */
/*
 * NVMe admin commands: Identify Controller and Namespace, Set Features
 * (Number of Queues), Create and Delete I/O Submission and Completion
 * Queues, and the raw passthrough.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/error_priv.h"
#include "nvme_priv.h"

int dmki_nvme_admin(struct dmk_nvme *c, uint32_t cmd[16], const char *what, uint32_t *dw0)
{
	uint16_t status = 0;
	int err;

	pthread_mutex_lock(&c->admin.lock);
	err = dmki_nvme_exec_locked(&c->admin, cmd, c->timeout_ms, dw0, &status);
	pthread_mutex_unlock(&c->admin.lock);
	if (err)
		return err;
	if (status & 0x7ff)
		return dmki_nvme_status_fail(status, "%s", what);
	return 0;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* An ASCII field of Identify, NUL-terminated, trailing spaces removed. */
static void ascii(char *dst, const uint8_t *src, size_t n)
{
	memcpy(dst, src, n);
	dst[n] = 0;
	while (n && (dst[n - 1] == ' ' || dst[n - 1] == 0))
		dst[--n] = 0;
}

static int identify(struct dmk_nvme *c, unsigned cns, uint32_t nsid, const char *what)
{
	uint32_t cmd[16] = { 0 };

	memset(c->idbuf, 0, DMKI_NVME_PAGE);
	cmd[0] = DMKI_NVME_ADM_IDENTIFY;
	cmd[1] = nsid;
	cmd[6] = (uint32_t)c->idbuf_dev;
	cmd[7] = (uint32_t)(c->idbuf_dev >> 32);
	cmd[10] = cns;
	return dmki_nvme_admin(c, cmd, what, NULL);
}

int dmki_nvme_identify(struct dmk_nvme *c)
{
	struct dmk_nvme_info *in = &c->info;
	const uint8_t *id = c->idbuf;
	unsigned mdts, sgls, flbas, lbads;
	uint32_t nsid = c->opts.nsid;
	int err;

	err = identify(c, 1, 0, "Identify Controller");
	if (err)
		return err;
	in->vid = (uint16_t)(id[0] | id[1] << 8);
	ascii(in->serial, id + 4, 20);
	ascii(in->model, id + 24, 40);
	ascii(in->firmware, id + 64, 8);
	mdts = id[77];
	in->mdts = mdts ? (uint64_t)DMKI_NVME_PAGE << mdts : 0;
	in->nn = get32(id + 516);
	sgls = get32(id + 536) & 3;
	in->sgl = sgls == 1 || sgls == 2;
	in->sgl_dword_aligned = sgls == 2;
	if (nsid > in->nn)
		return dmki_fail(-ENODEV, "namespace %u does not exist: the controller has %u", nsid,
				 in->nn);

	err = identify(c, 0, nsid, "Identify Namespace");
	if (err)
		return err;
	in->nlba = get64(id + 0);
	if (!in->nlba)
		return dmki_fail(-ENODEV, "namespace %u is not active (size 0)", nsid);
	flbas = (id[26] & 0xf) | ((id[26] >> 5) & 3) << 4;
	lbads = id[128 + 4 * flbas + 2];
	if (lbads < 9 || lbads > 16)
		return dmki_fail(-EINVAL, "namespace %u: logical block of 2^%u bytes is not supported",
				 nsid, lbads);
	if (id[128 + 4 * flbas] | id[128 + 4 * flbas + 1])
		return dmki_fail(-EINVAL, "namespace %u: formats with metadata are not supported", nsid);
	in->lba_size = 1u << lbads;
	in->nsid = nsid;
	return 0;
}

int dmki_nvme_set_queues(struct dmk_nvme *c, unsigned want, unsigned *granted)
{
	uint32_t cmd[16] = { 0 }, dw0 = 0;
	unsigned nsq, ncq;
	int err;

	cmd[0] = DMKI_NVME_ADM_SET_FEATURES;
	cmd[10] = 0x07;		/* Number of Queues */
	cmd[11] = (want - 1) << 16 | (want - 1);
	err = dmki_nvme_admin(c, cmd, "Set Features (Number of Queues)", &dw0);
	if (err)
		return err;
	nsq = (dw0 & 0xffff) + 1;
	ncq = (dw0 >> 16) + 1;
	*granted = nsq < ncq ? nsq : ncq;
	return 0;
}

int dmki_nvme_create_io_queue(struct dmk_nvme *c, struct dmki_nvme_queue *q)
{
	uint32_t cmd[16] = { 0 };
	char what[64];
	int err;

	cmd[0] = DMKI_NVME_ADM_CREATE_CQ;
	cmd[6] = (uint32_t)q->cq_dev;
	cmd[7] = (uint32_t)(q->cq_dev >> 32);
	cmd[10] = (q->depth - 1) << 16 | q->qid;
	/* Physically contiguous; interrupts on the queue's vector with MSI-X. */
	cmd[11] = q->vector << 16 | (q->efd >= 0 ? 2u : 0u) | 1u;
	snprintf(what, sizeof(what), "Create I/O Completion Queue %u (%u entries)", q->qid, q->depth);
	err = dmki_nvme_admin(c, cmd, what, NULL);
	if (err)
		return err;
	c->io_created_cq++;

	memset(cmd, 0, sizeof(cmd));
	cmd[0] = DMKI_NVME_ADM_CREATE_SQ;
	cmd[6] = (uint32_t)q->sq_dev;
	cmd[7] = (uint32_t)(q->sq_dev >> 32);
	cmd[10] = (q->depth - 1) << 16 | q->qid;
	cmd[11] = (uint32_t)q->qid << 16 | 1u;
	snprintf(what, sizeof(what), "Create I/O Submission Queue %u (%u entries)", q->qid, q->depth);
	err = dmki_nvme_admin(c, cmd, what, NULL);
	if (err)
		return err;
	c->io_created_sq++;
	return 0;
}

void dmki_nvme_delete_io_queues(struct dmk_nvme *c)
{
	uint32_t cmd[16];

	while (c->io_created_sq) {
		memset(cmd, 0, sizeof(cmd));
		cmd[0] = DMKI_NVME_ADM_DELETE_SQ;
		cmd[10] = c->io_created_sq;
		if (dmki_nvme_admin(c, cmd, "Delete I/O Submission Queue", NULL) == -ETIMEDOUT)
			return;
		c->io_created_sq--;
	}
	while (c->io_created_cq) {
		memset(cmd, 0, sizeof(cmd));
		cmd[0] = DMKI_NVME_ADM_DELETE_CQ;
		cmd[10] = c->io_created_cq;
		if (dmki_nvme_admin(c, cmd, "Delete I/O Completion Queue", NULL) == -ETIMEDOUT)
			return;
		c->io_created_cq--;
	}
}

int dmk_nvme_passthru(struct dmk_nvme *c, int queue, const uint32_t cmd[16],
		      unsigned timeout_ms, uint32_t *result)
{
	struct dmki_nvme_queue *q;
	uint32_t sqe[16];
	uint16_t status = 0;
	int err;

	if (!c || !cmd)
		return dmki_fail(-EINVAL, "dmk_nvme_passthru needs a controller and a command");
	if (queue < -1 || queue >= (int)c->nio)
		return dmki_fail(-EINVAL, "queue %d is not -1 (admin) or 0 to %u", queue, c->nio - 1);
	q = queue < 0 ? &c->admin : &c->io[queue];
	memcpy(sqe, cmd, sizeof(sqe));
	pthread_mutex_lock(&q->lock);
	err = dmki_nvme_exec_locked(q, sqe, timeout_ms ? timeout_ms : c->timeout_ms, result,
				    &status);
	if (err == -ETIMEDOUT && queue >= 0)
		q->stats.timeouts++;
	pthread_mutex_unlock(&q->lock);
	if (err)
		return err;
	if (status & 0x7ff)
		return dmki_nvme_status_fail(status, "passthrough opcode %#x on %s queue %u",
					     (unsigned)(cmd[0] & 0xff), queue < 0 ? "admin" : "I/O",
					     q->qid);
	return 0;
}
