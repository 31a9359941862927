/* SPDX-License-Identifier: MIT */
/*
 * The vfio space: a VFIO type1 container (see <dmakit/vfio.h>).
 *
 * One IOMMU mapping per region, at an IOVA from our own allocator (iova.c)
 * inside the kernel's IOVA ranges and below the lowest reach of the space
 * and its devices. The allocator holds only the usable space; a second
 * allocator, never allocated from, holds the same usable space whole, so
 * that "is anything mapped above this limit" is a difference of two sums.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <dmakit/vfio.h>

#include "../core/error_priv.h"
#include "fault.h"
#include "iova.h"
#include "space_priv.h"
#include "vfio_priv.h"

#define SZ_2M ((uint64_t)2 << 20)
#define DMA_AVAIL_UNKNOWN UINT32_MAX

struct vfio_group {
	int no;
	int fd;
};

struct vfio_reach {
	const void *owner;
	unsigned bits;
};

struct dmki_vfio {
	int fd;				/* the container */
	pthread_mutex_t lock;		/* everything below */
	bool attached;			/* VFIO_SET_IOMMU done */
	struct vfio_group *groups;
	size_t ngroups;
	struct vfio_reach *reaches;	/* per device */
	size_t nreaches;
	unsigned space_reach;		/* dmk_vfio_set_reach() */
	uint64_t pgsizes;
	uint32_t dma_avail;
	uint64_t nmaps;
	struct vfio_iova_range *ranges;	/* as the kernel reports them */
	unsigned nranges;
	struct dmki_iova free;		/* usable and not mapped */
	struct dmki_iova usable;	/* usable, never allocated from */
};

static const struct dmk_space_ops vfio_ops;

bool dmki_space_is_vfio(const struct dmk_space *sp)
{
	return sp && sp->ops == &vfio_ops;
}

static uint64_t reach_limit(unsigned bits)
{
	return bits >= 64 ? UINT64_MAX : (uint64_t)1 << bits;
}

static unsigned lowest_reach(const struct dmki_vfio *v)
{
	unsigned bits = v->space_reach;

	for (size_t i = 0; i < v->nreaches; i++)
		if (v->reaches[i].bits < bits)
			bits = v->reaches[i].bits;
	return bits;
}

/* Bytes mapped at or above @limit. */
static uint64_t mapped_above(const struct dmki_vfio *v, uint64_t limit)
{
	uint64_t usable = dmki_iova_free_bytes(&v->usable, UINT64_MAX) -
			  dmki_iova_free_bytes(&v->usable, limit);
	uint64_t unused = dmki_iova_free_bytes(&v->free, UINT64_MAX) -
			  dmki_iova_free_bytes(&v->free, limit);

	return usable - unused;
}

/* Make both allocators follow the kernel's ranges. */
static int apply_ranges(struct dmki_vfio *v, bool first)
{
	struct dmki_iova *a[2] = { &v->free, &v->usable };

	for (int k = 0; k < 2; k++) {
		uint64_t prev_end = 0;	/* first byte after the previous range */

		if (first) {
			/* The whole space, then the gaps between ranges go. */
			if (dmki_iova_free(a[k], DMK_HOST_PAGE, DMKI_IOVA_MAX_END - DMK_HOST_PAGE))
				return -ENOMEM;
		}
		for (unsigned i = 0; i < v->nranges; i++) {
			if (v->ranges[i].start > prev_end &&
			    dmki_iova_exclude(a[k], prev_end, v->ranges[i].start))
				return -ENOMEM;
			if (v->ranges[i].end == UINT64_MAX) {
				prev_end = UINT64_MAX;
				break;
			}
			prev_end = v->ranges[i].end + 1;
		}
		if (v->nranges && prev_end != UINT64_MAX &&
		    dmki_iova_exclude(a[k], prev_end, UINT64_MAX))
			return -ENOMEM;
	}
	return 0;
}

static int cmp_range(const void *pa, const void *pb)
{
	const struct vfio_iova_range *a = pa, *b = pb;

	return a->start < b->start ? -1 : a->start > b->start;
}

/* Read VFIO_IOMMU_GET_INFO: page sizes, IOVA ranges, mappings left. */
static int read_info(struct dmki_vfio *v)
{
	struct vfio_iommu_type1_info *info;
	size_t sz = sizeof(*info);
	uint32_t off;
	int err;

	for (;;) {
		info = calloc(1, sz);
		if (!info)
			return dmki_fail(-ENOMEM, "out of memory reading VFIO IOMMU info");
		info->argsz = sz;
		if (ioctl(v->fd, VFIO_IOMMU_GET_INFO, info)) {
			err = -errno;
			free(info);
			return dmki_fail(err, "VFIO_IOMMU_GET_INFO: %s", strerror(-err));
		}
		if (info->argsz <= sz)
			break;
		sz = info->argsz;	/* the capabilities need more room */
		free(info);
	}

	v->pgsizes = (info->flags & VFIO_IOMMU_INFO_PGSIZES) ? info->iova_pgsizes : DMK_HOST_PAGE;
	v->dma_avail = DMA_AVAIL_UNKNOWN;
	free(v->ranges);
	v->ranges = NULL;
	v->nranges = 0;
	off = (info->flags & VFIO_IOMMU_INFO_CAPS) ? info->cap_offset : 0;
	while (off && off + sizeof(struct vfio_info_cap_header) <= sz) {
		const struct vfio_info_cap_header *h = (const void *)((char *)info + off);

		if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE &&
		    off + sizeof(struct vfio_iommu_type1_info_cap_iova_range) <= sz) {
			const struct vfio_iommu_type1_info_cap_iova_range *c = (const void *)h;
			size_t n = c->nr_iovas;

			if (off + sizeof(*c) + n * sizeof(c->iova_ranges[0]) <= sz && n) {
				v->ranges = malloc(n * sizeof(*v->ranges));
				if (!v->ranges) {
					free(info);
					return dmki_fail(-ENOMEM, "out of memory reading IOVA ranges");
				}
				memcpy(v->ranges, c->iova_ranges, n * sizeof(*v->ranges));
				v->nranges = (unsigned)n;
			}
		} else if (h->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL &&
			   off + sizeof(struct vfio_iommu_type1_info_dma_avail) <= sz) {
			v->dma_avail = ((const struct vfio_iommu_type1_info_dma_avail *)h)->avail;
		}
		if (h->next <= off)
			break;		/* the chain only goes forward */
		off = h->next;
	}
	free(info);
	qsort(v->ranges, v->nranges, sizeof(*v->ranges), cmp_range);
	return 0;
}

int dmki_vfio_group_attach(struct dmk_space *sp, int group, int *fd)
{
	struct dmki_vfio *v = sp->priv;
	struct vfio_group_status st = { .argsz = sizeof(st) };
	struct vfio_group *g;
	char path[64];
	int gfd, err;

	pthread_mutex_lock(&v->lock);
	for (size_t i = 0; i < v->ngroups; i++) {
		if (v->groups[i].no == group) {
			*fd = v->groups[i].fd;
			pthread_mutex_unlock(&v->lock);
			return 0;
		}
	}
	g = realloc(v->groups, (v->ngroups + 1) * sizeof(*g));
	if (!g) {
		err = dmki_fail(-ENOMEM, "out of memory attaching IOMMU group %d", group);
		goto out;
	}
	v->groups = g;

	snprintf(path, sizeof(path), "/dev/vfio/%d", group);
	gfd = open(path, O_RDWR | O_CLOEXEC);
	if (gfd < 0) {
		err = -errno;
		if (err == -ENOENT)
			err = dmki_fail(err, "no %s: is the device bound to vfio-pci?", path);
		else if (err == -EBUSY)
			err = dmki_fail(err, "%s is open in another container or process", path);
		else
			err = dmki_fail(err, "open %s: %s", path, strerror(-err));
		goto out;
	}
	if (ioctl(gfd, VFIO_GROUP_GET_STATUS, &st)) {
		err = -errno;
		err = dmki_fail(err, "VFIO_GROUP_GET_STATUS on %s: %s", path, strerror(-err));
		goto close_group;
	}
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		err = dmki_fail(-EBUSY, "IOMMU group %d is not viable: every device in it "
				"must be bound to vfio-pci or to no driver", group);
		goto close_group;
	}
	if (st.flags & VFIO_GROUP_FLAGS_CONTAINER_SET) {
		err = dmki_fail(-EBUSY, "IOMMU group %d is already in another container", group);
		goto close_group;
	}
	if (ioctl(gfd, VFIO_GROUP_SET_CONTAINER, &v->fd)) {
		err = -errno;
		err = dmki_fail(err, "VFIO_GROUP_SET_CONTAINER for group %d: %s", group,
				strerror(-err));
		goto close_group;
	}
	if (!v->attached) {
		if (ioctl(v->fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
			err = -errno;
			err = dmki_fail(err, "VFIO_SET_IOMMU(VFIO_TYPE1v2_IOMMU): %s",
					strerror(-err));
			goto close_group;
		}
	}
	err = read_info(v);
	if (err)
		goto close_group;
	err = apply_ranges(v, !v->attached);
	if (err) {
		if (!v->attached) {	/* start again from nothing next time */
			dmki_iova_fini(&v->free);
			dmki_iova_fini(&v->usable);
		}
		err = dmki_fail(err, "out of memory applying IOVA ranges");
		goto close_group;
	}
	v->attached = true;
	v->groups[v->ngroups].no = group;
	v->groups[v->ngroups].fd = gfd;
	v->ngroups++;
	*fd = gfd;
	pthread_mutex_unlock(&v->lock);
	return 0;

close_group:
	/* Closing the group detaches it; with no group left the IOMMU type goes too. */
	close(gfd);
out:
	pthread_mutex_unlock(&v->lock);
	return err;
}

static int set_reach_locked(struct dmki_vfio *v, unsigned new_lowest)
{
	uint64_t limit = reach_limit(new_lowest);
	uint64_t above = mapped_above(v, limit);

	if (above)
		return dmki_fail(-ERANGE, "%llu bytes are mapped at or above 2^%u; unregister "
				 "them before limiting the reach", (unsigned long long)above,
				 new_lowest);
	return 0;
}

int dmki_vfio_dev_reach(struct dmk_space *sp, const void *owner, unsigned bits)
{
	struct dmki_vfio *v = sp->priv;
	struct vfio_reach *r;
	size_t i;
	int err = 0;

	pthread_mutex_lock(&v->lock);
	for (i = 0; i < v->nreaches && v->reaches[i].owner != owner; i++)
		;
	if (!bits) {
		if (i < v->nreaches)
			v->reaches[i] = v->reaches[--v->nreaches];
		goto out;
	}
	if (i == v->nreaches) {
		r = realloc(v->reaches, (v->nreaches + 1) * sizeof(*r));
		if (!r) {
			err = dmki_fail(-ENOMEM, "out of memory recording a device's reach");
			goto out;
		}
		v->reaches = r;
		r[i].owner = owner;
		r[i].bits = 64;
		v->nreaches++;
	}
	if (bits < v->reaches[i].bits) {
		unsigned old = v->reaches[i].bits;

		v->reaches[i].bits = bits;
		err = set_reach_locked(v, lowest_reach(v));
		if (err) {
			v->reaches[i].bits = old;
			goto out;
		}
	}
	v->reaches[i].bits = bits;
out:
	pthread_mutex_unlock(&v->lock);
	return err;
}

int dmk_vfio_set_reach(struct dmk_space *space, unsigned bits)
{
	struct dmki_vfio *v;
	unsigned old;
	int err;

	if (!dmki_space_is_vfio(space))
		return dmki_fail(-EINVAL, "dmk_vfio_set_reach: not a vfio space");
	if (bits < 12 || bits > 64)
		return dmki_fail(-EINVAL, "reach of %u address bits is not within 12..64", bits);
	v = space->priv;
	pthread_mutex_lock(&v->lock);
	old = v->space_reach;
	v->space_reach = bits;
	err = set_reach_locked(v, lowest_reach(v));
	if (err)
		v->space_reach = old;
	pthread_mutex_unlock(&v->lock);
	return err;
}

int dmk_vfio_info(struct dmk_space *space, struct dmk_vfio_info *info)
{
	struct dmki_vfio *v;
	int err;

	if (!dmki_space_is_vfio(space))
		return dmki_fail(-EINVAL, "dmk_vfio_info: not a vfio space");
	v = space->priv;
	memset(info, 0, sizeof(*info));
	pthread_mutex_lock(&v->lock);
	/*
	 * Other processes may map into the container too (its descriptor can
	 * be passed on): ask the kernel how many mappings are left. The ranges
	 * change only when a group is attached, which applies them.
	 */
	err = v->attached ? read_info(v) : 0;
	if (err) {
		pthread_mutex_unlock(&v->lock);
		return err;
	}
	info->attached = v->attached;
	info->groups = (unsigned)v->ngroups;
	info->iova_pgsizes = v->pgsizes;
	info->dma_avail = v->dma_avail;
	info->mappings = v->nmaps;
	info->reach = lowest_reach(v);
	info->free_below_reach = dmki_iova_free_bytes(&v->free, reach_limit(info->reach));
	info->nranges = v->nranges;
	for (unsigned i = 0; i < v->nranges && i < DMK_VFIO_MAX_RANGES; i++) {
		info->ranges[i][0] = v->ranges[i].start;
		info->ranges[i][1] = v->ranges[i].end;
	}
	pthread_mutex_unlock(&v->lock);
	return 0;
}

int dmk_vfio_container_fd(struct dmk_space *space)
{
	if (!dmki_space_is_vfio(space))
		return dmki_fail(-EINVAL, "dmk_vfio_container_fd: not a vfio space");
	return ((struct dmki_vfio *)space->priv)->fd;
}

int dmki_vfio_window_take(struct dmk_space *sp, uint64_t size, uint64_t *base)
{
	struct dmki_vfio *v = sp->priv;
	unsigned reach;
	int err;

	if (!dmki_space_is_vfio(sp) || !size || (size & (DMK_HOST_PAGE - 1)))
		return dmki_fail(-EINVAL, "an IOVA window of %llu bytes in a %s space",
				 (unsigned long long)size, dmki_space_is_vfio(sp) ? "vfio" : "non-vfio");
	pthread_mutex_lock(&v->lock);
	reach = lowest_reach(v);
	if (!v->attached)
		err = dmki_fail(-ENODEV, "vfio space has no device yet");
	else
		err = dmki_iova_alloc(&v->free, size, DMK_HOST_PAGE, 0, reach_limit(reach), base);
	if (err == -ENOSPC)
		err = dmki_fail(-ENOSPC, "no free IOVA window of %llu bytes below 2^%u",
				(unsigned long long)size, reach);
	else if (err && err != -ENODEV)
		err = dmki_fail(err, "IOVA window of %llu bytes: %s", (unsigned long long)size,
				strerror(-err));
	pthread_mutex_unlock(&v->lock);
	return err;
}

int dmki_vfio_window_give(struct dmk_space *sp, uint64_t base, uint64_t size, bool keep,
			  uint64_t *unmapped)
{
	struct dmki_vfio *v = sp->priv;
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = base,
		.size = size,
	};
	int err = 0;

	pthread_mutex_lock(&v->lock);
	/* Every mapping wholly inside the window goes, whoever made it. */
	if (ioctl(v->fd, VFIO_IOMMU_UNMAP_DMA, &unmap)) {
		err = -errno;
		err = dmki_fail(err, "VFIO_IOMMU_UNMAP_DMA of the window [%#llx, +%llu): %s; "
				"the window stays reserved", (unsigned long long)base,
				(unsigned long long)size, strerror(-err));
	} else {
		if (unmapped)
			*unmapped = unmap.size;
		if (!keep && dmki_iova_free(&v->free, base, size))
			err = dmki_fail(-EINVAL, "IOVA window [%#llx, +%llu) was not reserved",
					(unsigned long long)base, (unsigned long long)size);
	}
	pthread_mutex_unlock(&v->lock);
	return err;
}

/*
 * Try to put @r's IOVA right after the IOVA of the page before it, or
 * right before the IOVA of the page after it, when that page is registered
 * and the neighbouring IOVA is free, aligned as asked and under @limit.
 */
static bool place_adjacent(struct dmk_space *sp, struct dmki_vfio *v, const struct dmk_region *r,
			   uint64_t align, uint64_t phase, uint64_t limit, uint64_t *iova)
{
	uint64_t dev, c;

	if (r->pva >= DMK_HOST_PAGE &&
	    !dmk_space_translate(sp, (const void *)(r->pva - 1), &dev)) {
		c = dev + 1;
		if ((c & (align - 1)) == phase && c <= limit && r->plen <= limit - c &&
		    !dmki_iova_alloc_at(&v->free, c, r->plen)) {
			*iova = c;
			return true;
		}
	}
	if (r->pva + r->plen > r->pva &&
	    !dmk_space_translate(sp, (const void *)(r->pva + r->plen), &dev) && dev >= r->plen) {
		c = dev - r->plen;
		if ((c & (align - 1)) == phase && c + r->plen <= limit &&
		    !dmki_iova_alloc_at(&v->free, c, r->plen)) {
			*iova = c;
			return true;
		}
	}
	return false;
}

static int vfio_map(struct dmk_space *sp, struct dmk_region *r)
{
	struct dmki_vfio *v = sp->priv;
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map) };
	uint64_t align = DMK_HOST_PAGE, phase = 0, limit, iova, minpg;
	unsigned reach;
	int err;

	/*
	 * The container pins for reading only when the device only reads:
	 * never-written pages would be pinned as the shared zero page (and a
	 * page shared copy-on-write as it is) on kernels before 6.5, and the
	 * process's next write would move it to a frame the device never sees.
	 */
	err = dmki_fault_in(r->pva, r->plen, r->prot, NULL);
	if (err)
		return err;
	pthread_mutex_lock(&v->lock);
	if (!v->attached) {
		err = dmki_fail(-ENODEV, "vfio space has no device yet: open one with "
				"dmk_pci_open() before registering memory");
		goto out;
	}
	minpg = v->pgsizes & -v->pgsizes;
	if (minpg > DMK_HOST_PAGE && ((r->pva | r->plen) & (minpg - 1))) {
		err = dmki_fail(-EINVAL, "the IOMMU's smallest page is %llu bytes; [%#lx, +%zu) "
				"is not aligned to it", (unsigned long long)minpg,
				(unsigned long)r->pva, r->plen);
		goto out;
	}
	reach = lowest_reach(v);
	limit = reach_limit(reach);
	if (r->plen >= SZ_2M && (v->pgsizes & SZ_2M)) {
		align = SZ_2M;
		phase = r->pva & (SZ_2M - 1);
	}
	if (!place_adjacent(sp, v, r, align, phase, limit, &iova)) {
		err = dmki_iova_alloc(&v->free, r->plen, align, phase, limit, &iova);
		if (err == -ENOSPC && align > DMK_HOST_PAGE)	/* no superpages then */
			err = dmki_iova_alloc(&v->free, r->plen, DMK_HOST_PAGE, 0, limit, &iova);
		if (err == -ENOSPC) {
			uint64_t left = dmki_iova_free_bytes(&v->free, limit);

			err = dmki_fail(-ENOSPC, "no free IOVA range of %zu bytes below 2^%u "
					"(%llu bytes free there%s)", r->plen, reach,
					(unsigned long long)left,
					left >= r->plen ? ", fragmented" : "");
			goto out;
		}
		if (err) {
			err = dmki_fail(err, "IOVA allocation of %zu bytes: %s", r->plen,
					strerror(-err));
			goto out;
		}
	}

	map.flags = ((r->prot & DMK_PROT_READ) ? VFIO_DMA_MAP_FLAG_READ : 0) |
		    ((r->prot & DMK_PROT_WRITE) ? VFIO_DMA_MAP_FLAG_WRITE : 0);
	map.vaddr = r->pva;
	map.iova = iova;
	map.size = r->plen;
	if (ioctl(v->fd, VFIO_IOMMU_MAP_DMA, &map)) {
		err = -errno;
		dmki_iova_free(&v->free, iova, r->plen);
		if (err == -ENOSPC) {
			err = dmki_fail(-EDQUOT, "VFIO_IOMMU_MAP_DMA: the container has no DMA "
					"mappings left (vfio_iommu_type1 dma_entry_limit); %llu "
					"held by this space", (unsigned long long)v->nmaps);
		} else if (err == -ENOMEM) {
			err = dmki_fail(err, "VFIO_IOMMU_MAP_DMA of %zu bytes: cannot pin them "
					"(RLIMIT_MEMLOCK reached?)", r->plen);
		} else {
			err = dmki_fail(err, "VFIO_IOMMU_MAP_DMA of [%#lx, +%zu) at IOVA %#llx: %s",
					(unsigned long)r->pva, r->plen,
					(unsigned long long)iova, strerror(-err));
		}
		goto out;
	}
	v->nmaps++;
	r->linear = true;
	r->dev_base = iova;
	r->dev_runs = 1;
	err = 0;
out:
	pthread_mutex_unlock(&v->lock);
	return err;
}

static void vfio_unmap(struct dmk_space *sp, struct dmk_region *r)
{
	struct dmki_vfio *v = sp->priv;
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = r->dev_base,
		.size = r->plen,
	};

	int rc;

	pthread_mutex_lock(&v->lock);
	rc = ioctl(v->fd, VFIO_IOMMU_UNMAP_DMA, &unmap) ? errno : 0;
	if (rc || unmap.size != r->plen) {
		/* Keep the IOVA: whatever is left there must not be handed out again. */
		dmki_fail(-EIO, "VFIO_IOMMU_UNMAP_DMA at IOVA %#llx, %zu bytes: %s",
			  (unsigned long long)r->dev_base, r->plen,
			  rc ? strerror(rc) : "unmapped a different size");
	} else {
		dmki_iova_free(&v->free, r->dev_base, r->plen);
		v->nmaps--;
	}
	pthread_mutex_unlock(&v->lock);
}

static void vfio_destroy(struct dmk_space *sp)
{
	struct dmki_vfio *v = sp->priv;

	for (size_t i = 0; i < v->ngroups; i++)
		close(v->groups[i].fd);
	close(v->fd);
	free(v->groups);
	free(v->reaches);
	free(v->ranges);
	dmki_iova_fini(&v->free);
	dmki_iova_fini(&v->usable);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

static const struct dmk_space_ops vfio_ops = {
	.kind = "vfio",
	.map = vfio_map,
	.unmap = vfio_unmap,
	.destroy = vfio_destroy,
};

int dmk_space_vfio_create(struct dmk_space **out)
{
	struct dmki_vfio *v;
	int fd, err, ver;

	fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			return dmki_fail(err, "no /dev/vfio/vfio: load vfio-pci and "
					 "vfio_iommu_type1 (dmakit implements VFIO type1 "
					 "containers, not iommufd)");
		return dmki_fail(err, "open /dev/vfio/vfio: %s", strerror(-err));
	}
	ver = ioctl(fd, VFIO_GET_API_VERSION);
	if (ver != VFIO_API_VERSION) {
		close(fd);
		return dmki_fail(-ENOTSUP, "VFIO API version %d, dmakit speaks %d", ver,
				 VFIO_API_VERSION);
	}
	if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
		close(fd);
		return dmki_fail(-ENOTSUP, "the VFIO container offers no type1v2 IOMMU "
				 "(is vfio_iommu_type1 loaded?)");
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		close(fd);
		return dmki_fail(-ENOMEM, "out of memory for a vfio space");
	}
	v->fd = fd;
	v->space_reach = 64;
	v->dma_avail = DMA_AVAIL_UNKNOWN;
	v->pgsizes = DMK_HOST_PAGE;
	dmki_iova_init(&v->free);
	dmki_iova_init(&v->usable);
	pthread_mutex_init(&v->lock, NULL);
	err = dmki_space_new(&vfio_ops, v, out);
	if (err) {
		pthread_mutex_destroy(&v->lock);
		close(fd);
		free(v);
		return err;
	}
	return 0;
}
