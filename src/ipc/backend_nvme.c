/* SPDX-License-Identifier: MIT */
/*
 * The NVMe backend: the server's reads and writes are the NVMe driver's,
 * on memory registered in the controller's space (zero copy).
 */
#include <errno.h>
#include <stdlib.h>

#include <dmakit/ipc_server.h>
#include <dmakit/nvme.h>

#include "../core/error_priv.h"
#include "../drivers/nvme/nvme_priv.h"
#include "backend_priv.h"

struct nvme_backend {
	struct dmk_ipc_backend be;
	struct dmk_nvme *ctrl;
	unsigned queue;
};

static int nvme_read(struct dmk_ipc_backend *be, uint64_t lba, void *va, size_t len)
{
	struct nvme_backend *n = (struct nvme_backend *)be;

	return dmk_nvme_read_buf(n->ctrl, n->queue, lba, va, len, 0);
}

static int nvme_write(struct dmk_ipc_backend *be, uint64_t lba, const void *va, size_t len)
{
	struct nvme_backend *n = (struct nvme_backend *)be;

	return dmk_nvme_write_buf(n->ctrl, n->queue, lba, va, len, 0);
}

static int nvme_io_dev(struct dmk_ipc_backend *be, bool write, uint64_t lba, uint64_t dev,
		       uint64_t len)
{
	struct nvme_backend *n = (struct nvme_backend *)be;

	return dmki_nvme_io_dev(n->ctrl, n->queue, write, lba, dev, len);
}

static int nvme_destroy(struct dmk_ipc_backend *be)
{
	free(be);
	return 0;
}

static const struct dmki_ipc_backend_ops nvme_ops = {
	.name = "nvme",
	.read = nvme_read,
	.write = nvme_write,
	.destroy = nvme_destroy,
	.io_dev = nvme_io_dev,
};

int dmk_ipc_backend_nvme_create(struct dmk_space *space, struct dmk_nvme *ctrl, unsigned queue,
				struct dmk_ipc_backend **out)
{
	struct dmk_nvme_info info;
	struct nvme_backend *n;

	if (!space || !ctrl || !out)
		return dmki_fail(-EINVAL, "dmk_ipc_backend_nvme_create: NULL argument");
	dmk_nvme_info(ctrl, &info);
	if (queue >= info.io_queues)
		return dmki_fail(-EINVAL, "queue %u: the controller has %u I/O queues", queue,
				 info.io_queues);
	n = calloc(1, sizeof(*n));
	if (!n)
		return dmki_fail(-ENOMEM, "out of memory for an NVMe backend");
	n->be.ops = &nvme_ops;
	n->be.space = space;
	n->be.lba_size = info.lba_size;
	n->be.nlba = info.nlba;
	n->ctrl = ctrl;
	n->queue = queue;
	*out = &n->be;
	return 0;
}
