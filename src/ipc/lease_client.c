/* SPDX-License-Identifier: MIT */
/*
 * The lease route, the application's side (include/dmakit/ipc_client.h):
 * the container descriptor and IOVA window the daemon leases, the
 * application's own memory mapped into the IOMMU here
 * (VFIO_IOMMU_MAP_DMA: the pages are pinned and accounted to this
 * process), first fit inside the window, and the daemon told of each
 * mapping. The daemon checks everything it is told.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <dmakit/ipc.h>
#include <dmakit/ipc_client.h>
#include <dmakit/region.h>

#include "../core/error_priv.h"
#include "../space/fault.h"
#include "../space/iova.h"
#include "client_priv.h"

#define LPAGE 4096u

struct lease_map {
	uint64_t handle;
	uint64_t iova;		/* page-aligned start of the mapping */
	uint64_t len;		/* page multiple */
	bool ours;		/* mapped by dmk_ipc_lease_register() */
};

struct dmk_ipc_lease {
	struct dmk_ipc_client *c;
	int fd;			/* the container */
	uint64_t base, size;
	struct dmki_iova free;	/* unused IOVAs of the window */
	struct lease_map *maps;
	size_t nmaps;
};

int dmk_ipc_client_lease(struct dmk_ipc_client *c, uint64_t size, struct dmk_ipc_lease **out)
{
	struct dmk_ipc_lease *l;
	struct dmk_ipc_msg m, ans;
	int fd = -1, rc;

	if (!c || !out || !size || size > (1ull << 47))
		return dmki_fail(-EINVAL, "dmk_ipc_client_lease: NULL argument or a size of %" PRIu64,
				 size);
	size = (size + LPAGE - 1) & ~(uint64_t)(LPAGE - 1);
	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_REGISTER;
	m.reg.route = DMK_IPC_ROUTE_LEASE;
	m.reg.prot = DMK_PROT_RW;
	m.reg.length = size;
	rc = dmki_ipc_client_call(c, &m, -1, &ans, &fd);
	if (rc)
		return rc;
	if (ans.type != DMK_IPC_COMPLETION || ans.comp.route != DMK_IPC_ROUTE_NONE || fd < 0 ||
	    !ans.comp.bytes || (ans.comp.bytes & (LPAGE - 1)) || ans.comp.bytes + size < size) {
		rc = dmki_fail(-EPROTO, "a lease answered with %s, window %#" PRIx64 ", %s descriptor",
			       dmk_ipc_type_name(ans.type), ans.comp.bytes, fd < 0 ? "no" : "a");
		goto fail;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		rc = dmki_fail(-ENOMEM, "out of memory for a lease");
		goto fail;
	}
	l->c = c;
	l->fd = fd;
	l->base = ans.comp.bytes;
	l->size = size;
	dmki_iova_init(&l->free);
	if (dmki_iova_free(&l->free, l->base, size)) {
		free(l);
		rc = dmki_fail(-ENOMEM, "out of memory for a lease's window");
		goto fail;
	}
	*out = l;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return rc;
}

int dmk_ipc_lease_window(const struct dmk_ipc_lease *l, uint64_t *base, uint64_t *size)
{
	if (base)
		*base = l->base;
	if (size)
		*size = l->size;
	return 0;
}

int dmk_ipc_lease_fd(const struct dmk_ipc_lease *l)
{
	return l->fd;
}

static int tell(struct dmk_ipc_lease *l, const void *va, uint64_t length, unsigned prot,
		uint64_t iova, uint64_t *handle, unsigned *route)
{
	struct dmk_ipc_msg m, ans;
	int rc;

	memset(&m, 0, sizeof(m));
	m.type = DMK_IPC_REGISTER;
	m.reg.route = DMK_IPC_ROUTE_LEASE;
	m.reg.prot = prot;
	m.reg.offset = iova;
	m.reg.length = length;
	m.reg.addr = (uint64_t)(uintptr_t)va;
	rc = dmki_ipc_client_call(l->c, &m, -1, &ans, NULL);
	if (rc)
		return rc;
	if (ans.type != DMK_IPC_COMPLETION || ans.comp.route != DMK_IPC_ROUTE_LEASE)
		return dmki_fail(-EPROTO, "REGISTER by lease answered with %s, route %s",
				 dmk_ipc_type_name(ans.type), dmk_ipc_route_name(ans.comp.route));
	*handle = ans.comp.handle;
	*route = ans.comp.route;
	return 0;
}

static int add_map(struct dmk_ipc_lease *l, uint64_t handle, uint64_t iova, uint64_t len,
		   bool ours)
{
	struct lease_map *g = realloc(l->maps, (l->nmaps + 1) * sizeof(*g));

	if (!g)
		return -ENOMEM;
	l->maps = g;
	l->maps[l->nmaps++] = (struct lease_map){ handle, iova, len, ours };
	return 0;
}

static int vfio_unmap(int fd, uint64_t iova, uint64_t len)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = len };

	if (ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &u))
		return -errno;
	return u.size == len ? 0 : -EIO;
}

int dmk_ipc_lease_tell(struct dmk_ipc_lease *l, const void *va, uint64_t length, unsigned prot,
		       uint64_t iova, uint64_t *handle, unsigned *route)
{
	int rc;

	if (!l || !handle || !route)
		return dmki_fail(-EINVAL, "dmk_ipc_lease_tell: NULL argument");
	rc = tell(l, va, length, prot, iova, handle, route);
	if (rc)
		return rc;
	if (add_map(l, *handle, iova, 0, false)) {
		dmk_ipc_client_unregister(l->c, *handle);
		return dmki_fail(-ENOMEM, "out of memory recording a lease registration");
	}
	return 0;
}

int dmk_ipc_lease_register(struct dmk_ipc_lease *l, void *va, uint64_t length, unsigned prot,
			   uint64_t *handle, unsigned *route)
{
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map) };
	uint64_t start, end, iova;
	int rc;

	if (!l || !va || !handle || !route || !length || (prot & ~(unsigned)DMK_PROT_RW) || !prot)
		return dmki_fail(-EINVAL, "dmk_ipc_lease_register: NULL argument, zero length or bad protection %#x",
				 prot);
	start = (uint64_t)(uintptr_t)va & ~(uint64_t)(LPAGE - 1);
	if ((uint64_t)(uintptr_t)va + length < (uint64_t)(uintptr_t)va ||
	    (uint64_t)(uintptr_t)va + length > UINT64_MAX - LPAGE)
		return dmki_fail(-EINVAL, "buffer %p + %" PRIu64 " wraps", va, length);
	end = ((uint64_t)(uintptr_t)va + length + LPAGE - 1) & ~(uint64_t)(LPAGE - 1);
	/* The container pins what is mapped now: see dmki_fault_in(). */
	rc = dmki_fault_in((uintptr_t)start, (size_t)(end - start), prot, NULL);
	if (rc)
		return rc;
	rc = dmki_iova_alloc(&l->free, end - start, LPAGE, 0, l->base + l->size, &iova);
	if (rc == -ENOSPC)
		return dmki_fail(-ENOSPC, "no %" PRIu64 " free bytes left in the lease of %" PRIu64,
				 end - start, l->size);
	if (rc)
		return dmki_fail(rc, "IOVA allocation in the lease: %s", strerror(-rc));
	map.flags = ((prot & DMK_PROT_READ) ? VFIO_DMA_MAP_FLAG_READ : 0) |
		    ((prot & DMK_PROT_WRITE) ? VFIO_DMA_MAP_FLAG_WRITE : 0);
	map.vaddr = start;
	map.iova = iova;
	map.size = end - start;
	if (ioctl(l->fd, VFIO_IOMMU_MAP_DMA, &map)) {
		rc = -errno;
		dmki_iova_free(&l->free, iova, end - start);
		if (rc == -ENOMEM)
			return dmki_fail(rc, "VFIO_IOMMU_MAP_DMA of %" PRIu64 " bytes: cannot pin them (RLIMIT_MEMLOCK?)",
					 end - start);
		if (rc == -ENOSPC)
			return dmki_fail(-EDQUOT, "VFIO_IOMMU_MAP_DMA: the container has no DMA mappings left");
		return dmki_fail(rc, "VFIO_IOMMU_MAP_DMA of [%#" PRIx64 ", +%" PRIu64 ") at IOVA %#" PRIx64 ": %s",
				 start, end - start, iova, strerror(-rc));
	}
	rc = tell(l, va, length, prot, iova + ((uint64_t)(uintptr_t)va - start), handle, route);
	if (rc == 0 && add_map(l, *handle, iova, end - start, true)) {
		dmk_ipc_client_unregister(l->c, *handle);
		rc = dmki_fail(-ENOMEM, "out of memory recording a lease registration");
	}
	if (rc) {
		/* The daemon never uses it: the mapping may go at once. */
		if (vfio_unmap(l->fd, iova, end - start) == 0)
			dmki_iova_free(&l->free, iova, end - start);
		return rc;
	}
	return 0;
}

/* Undo the map of @i after the daemon forgot it. */
static int drop_map(struct dmk_ipc_lease *l, size_t i)
{
	struct lease_map mp = l->maps[i];
	int rc = 0;

	l->maps[i] = l->maps[--l->nmaps];
	if (!mp.ours)
		return 0;
	rc = vfio_unmap(l->fd, mp.iova, mp.len);
	if (rc)
		return dmki_fail(rc, "VFIO_IOMMU_UNMAP_DMA at IOVA %#" PRIx64 ": %s", mp.iova,
				 strerror(-rc));
	dmki_iova_free(&l->free, mp.iova, mp.len);
	return 0;
}

int dmk_ipc_lease_unregister(struct dmk_ipc_lease *l, uint64_t handle)
{
	int rc;

	if (!l)
		return dmki_fail(-EINVAL, "dmk_ipc_lease_unregister: NULL lease");
	for (size_t i = 0; i < l->nmaps; i++) {
		if (l->maps[i].handle != handle)
			continue;
		/* The daemon first: it must not use the IOVAs once they go. */
		rc = dmk_ipc_client_unregister(l->c, handle);
		if (rc && rc != -ECONNRESET)
			return rc;
		return drop_map(l, i);
	}
	return dmki_fail(-ENOENT, "handle %" PRIu64 " is not a registration of this lease", handle);
}

int dmk_ipc_lease_close(struct dmk_ipc_lease *l)
{
	if (!l)
		return 0;
	while (l->nmaps) {
		if (dmk_ipc_client_unregister(l->c, l->maps[0].handle) == -ECONNRESET) {
			/* The daemon is gone; nothing uses the IOVAs any more. */
		}
		drop_map(l, 0);
	}
	free(l->maps);
	dmki_iova_fini(&l->free);
	close(l->fd);
	free(l);
	return 0;
}
