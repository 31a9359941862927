/* SPDX-License-Identifier: MIT */
/*
 * The driver daemon's memfd route: which files it maps, and how.
 *
 * The client keeps its descriptor: whatever the daemon reads of the file,
 * the client may change a moment later, unless a seal forbids it. So the
 * daemon relies only on what seals make permanent, and reads each fact
 * after the seal that fixes it.
 *
 * - F_SEAL_SHRINK first (only memfds carry seals: any other file is
 *   refused here), then the size: the file can never again be smaller than
 *   that, so no page of the mapping can come to lie past its end. F_SEAL_GROW
 *   is not needed: a file that grows leaves the mapping as it was.
 * - The file system: shmem (memfd_create()) or hugetlbfs (MFD_HUGETLB). The
 *   offset must be a multiple of the file's page, and the mapping is whole
 *   pages of it (munmap() of a hugetlbfs mapping takes whole huge pages).
 * - Holes: unless the file is sealed with F_SEAL_WRITE, the client may
 *   punch holes in it (fallocate(FALLOC_FL_PUNCH_HOLE)) at any time. In a
 *   shmem file the next access through the daemon's mapping fills the hole
 *   with a zeroed page, which the client sees again. In a hugetlbfs file it
 *   takes a page from the huge page pool, and with the pool empty the
 *   access faults: a load or store would raise SIGBUS. So a hugetlbfs
 *   file is registered as foreign memory (dmki_region_register_foreign()):
 *   where the daemon's own CPU moves its bytes (the sim device, bounce
 *   copies) the kernel moves them (src/core/nofault_priv.h), and such a
 *   fault fails that client's request with -EFAULT. A shmem file cannot
 *   fault within its size (memfds live on the kernel's internal shmem
 *   mount, which has no size limit; other shmem files cannot be sealed
 *   with F_SEAL_SHRINK): its bytes are moved with memcpy(). A device's DMA
 *   is no CPU access and never faults: it goes to the pages pinned at
 *   registration (VFIO's long-term pin holds a reference), and a hole
 *   punched later takes its page out of the file but not out of the pin
 *   or the IOMMU. The device goes on with the old page, which neither the
 *   client nor the daemon sees any more (their next access maps a new
 *   one), until the region is unregistered and the page freed. The client
 *   that punched loses those bytes; nobody else's memory is touched. (An
 *   mlock()ed registration of a phys space holds no reference: there the
 *   punched page is freed while the device may still reach it. dmakitd
 *   serves the vfio and sim spaces only.)
 * - Access: a descriptor opened read-only, or a file sealed against writing
 *   (F_SEAL_WRITE, F_SEAL_FUTURE_WRITE), cannot be mapped for a device that
 *   writes the buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <dmakit/error.h>
#include <dmakit/region.h>

#include "../space/space_priv.h"
#include "daemon_priv.h"

/* The file's page, *@huge when it is on hugetlbfs: 0 with the reason in
 * @why when it is not a memfd's. */
static uint64_t file_page(int fd, bool *huge, char *why, size_t wl)
{
	struct statfs sfs;

	*huge = false;
	if (fstatfs(fd, &sfs) != 0) {
		snprintf(why, wl, "REGISTER: fstatfs of the file: %s", strerror(errno));
		return 0;
	}
	if (sfs.f_type == TMPFS_MAGIC)
		return PAGE;
	*huge = true;
	if (sfs.f_type == HUGETLBFS_MAGIC && sfs.f_bsize >= (long)PAGE &&
	    !(sfs.f_bsize & (sfs.f_bsize - 1)))
		return (uint64_t)sfs.f_bsize;
	snprintf(why, wl, "REGISTER: the file is on file system %#llx, neither shmem nor hugetlbfs",
		 (unsigned long long)sfs.f_type);
	return 0;
}

int dmki_srv_memfd_map(struct dmk_ipc_server *srv, const struct dmk_ipc_register *rq, int fd,
		       struct srv_region *nr, char *why, size_t wl)
{
	bool dev_writes = rq->prot & DMK_PROT_WRITE;
	int seals, fl, mprot, rc;
	uint64_t page;
	bool huge;
	struct stat st;

	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0) {
		snprintf(why, wl, "REGISTER: the descriptor is not a memfd (F_GET_SEALS: %s); the memfd route takes a memfd sealed with F_SEAL_SHRINK",
			 strerror(errno));
		return -EINVAL;
	}
	if (!(seals & F_SEAL_SHRINK)) {
		snprintf(why, wl, "REGISTER: the file is not sealed with F_SEAL_SHRINK (it could shrink under the device)");
		return -EINVAL;
	}
	/* Sealed: from here on the file is at least as big as it is now. */
	if (fstat(fd, &st) != 0) {
		snprintf(why, wl, "REGISTER: fstat of the file: %s", strerror(errno));
		return -EINVAL;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, wl, "REGISTER: the descriptor is not a regular file");
		return -EINVAL;
	}
	page = file_page(fd, &huge, why, wl);
	if (!page)
		return -EINVAL;
	if (rq->offset % page) {
		snprintf(why, wl, "REGISTER: offset %llu is not a multiple of the file's %llu-byte pages",
			 (unsigned long long)rq->offset, (unsigned long long)page);
		return -EINVAL;
	}
	if (rq->offset > (uint64_t)st.st_size || rq->length > (uint64_t)st.st_size - rq->offset) {
		snprintf(why, wl, "REGISTER: %llu+%llu is past the file's %lld bytes",
			 (unsigned long long)rq->offset, (unsigned long long)rq->length,
			 (long long)st.st_size);
		return -EINVAL;
	}
	fl = fcntl(fd, F_GETFL);
	if (dev_writes && fl >= 0 && (fl & O_ACCMODE) == O_RDONLY) {
		snprintf(why, wl, "REGISTER: the descriptor is open read-only, but the device may write the buffer");
		return -EACCES;
	}
	if (dev_writes && (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))) {
		snprintf(why, wl, "REGISTER: the file is sealed against writing (%s), but the device may write the buffer",
			 seals & F_SEAL_WRITE ? "F_SEAL_WRITE" : "F_SEAL_FUTURE_WRITE");
		return -EACCES;
	}
	mprot = PROT_READ | (dev_writes ? PROT_WRITE : 0);
	nr->map_len = (size_t)((rq->length + page - 1) & ~(page - 1));
	nr->map = mmap(NULL, nr->map_len, mprot, MAP_SHARED, fd, (off_t)rq->offset);
	if (nr->map == MAP_FAILED) {
		int e = errno;

		nr->map = NULL;
		snprintf(why, wl, "REGISTER: mapping the file: %s", strerror(e));
		return -e;
	}
	rc = huge ? dmki_region_register_foreign(srv->be->space, nr->map, (size_t)rq->length,
						 rq->prot, &nr->reg)
		  : dmk_region_register(srv->be->space, nr->map, (size_t)rq->length, rq->prot,
					&nr->reg);
	if (rc) {
		snprintf(why, wl, "REGISTER: %s", dmk_last_error());
		munmap(nr->map, nr->map_len);
		nr->map = NULL;
		nr->reg = NULL;
	}
	return rc;
}
