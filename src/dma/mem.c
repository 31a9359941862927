/* SPDX-License-Identifier: MIT */
/* Memory descriptors: an iovec and a direction. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <dmakit/mem.h>

#include "../core/error_priv.h"
#include "dma_priv.h"

static int check(const struct iovec *iov, int iovcnt, enum dmk_dir dir, uint64_t *total)
{
	uint64_t sum = 0;

	if (!iov || iovcnt < 1)
		return dmki_fail(-EINVAL, "an iovec of %d entries describes nothing", iovcnt);
	if (dir != DMK_TO_DEVICE && dir != DMK_FROM_DEVICE && dir != DMK_BIDIRECTIONAL)
		return dmki_fail(-EINVAL, "unknown DMA direction %d", (int)dir);
	for (int i = 0; i < iovcnt; i++) {
		uintptr_t base = (uintptr_t)iov[i].iov_base;

		if (base + iov[i].iov_len < base)
			return dmki_fail(-EINVAL, "iovec entry %d (%p + %zu) wraps around", i,
					 iov[i].iov_base, iov[i].iov_len);
		if (sum + iov[i].iov_len < sum)
			return dmki_fail(-EINVAL, "iovec lengths overflow at entry %d", i);
		sum += iov[i].iov_len;
	}
	*total = sum;
	return 0;
}

int dmk_mem_reset(struct dmk_mem *m, const struct iovec *iov, int iovcnt, enum dmk_dir dir)
{
	uint64_t total = 0;
	int err;

	if (!m)
		return dmki_fail(-EINVAL, "no descriptor given");
	err = check(iov, iovcnt, dir, &total);
	if (err)
		return err;
	if (iovcnt > m->cap) {
		struct iovec *n = malloc(iovcnt * sizeof(*n));

		if (!n)
			return dmki_fail(-ENOMEM, "out of memory for %d iovec entries", iovcnt);
		free(m->iov);
		m->iov = n;
		m->cap = iovcnt;
	}
	memcpy(m->iov, iov, iovcnt * sizeof(*iov));
	m->iovcnt = iovcnt;
	m->dir = dir;
	m->total = total;
	return 0;
}

int dmk_mem_create(const struct iovec *iov, int iovcnt, enum dmk_dir dir, struct dmk_mem **out)
{
	struct dmk_mem *m;
	int err;

	if (!out)
		return dmki_fail(-EINVAL, "no place for the descriptor");
	m = calloc(1, sizeof(*m));
	if (!m)
		return dmki_fail(-ENOMEM, "out of memory for a descriptor");
	err = dmk_mem_reset(m, iov, iovcnt, dir);
	if (err) {
		free(m);
		return err;
	}
	*out = m;
	return 0;
}

void dmk_mem_destroy(struct dmk_mem *m)
{
	if (!m)
		return;
	free(m->iov);
	free(m);
}

uint64_t dmk_mem_length(const struct dmk_mem *m)
{
	return m->total;
}

enum dmk_dir dmk_mem_dir(const struct dmk_mem *m)
{
	return m->dir;
}
