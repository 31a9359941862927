/* SPDX-License-Identifier: MIT */
/*
 * The driver's own memory (queues, list pages, identify page), allocated so
 * that the controller sees it as one device-contiguous run. Behind an
 * IOMMU any page-aligned memory is (the space maps it contiguously); in a
 * phys space (no IOMMU, a uio device) the queues must lie in one physical
 * run (CAP.CQR), which one 2 MiB hugetlb page gives.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <dmakit/space.h>

#include "core/error_priv.h"
#include "nvme_priv.h"

#define HUGE_2M (2u << 20)

int dmki_nvme_contig_alloc(struct dmk_space *sp, size_t len, uint8_t **va, size_t *map_len)
{
	void *p;

	*map_len = 0;
	if (strcmp(dmk_space_kind(sp), "phys") != 0) {
		if (posix_memalign(&p, DMKI_NVME_PAGE, len))
			return dmki_fail(-ENOMEM, "no memory for %zu bytes of NVMe queues and list pages",
					 len);
		memset(p, 0, len);
		*va = p;
		return 0;
	}
	if (len > HUGE_2M)
		return dmki_fail(-EINVAL, "%zu bytes of NVMe queues and list pages exceed the one 2 MiB huge page a phys space can give them in one physical run: ask for fewer or shallower queues",
				 len);
	p = mmap(NULL, HUGE_2M, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED) {
		int err = -errno;

		return dmki_fail(err == -EINVAL ? -ENOMEM : err,
				 "no 2 MiB huge page for the NVMe queues in a phys space (they must be physically contiguous): reserve one, e.g. echo 1 > /proc/sys/vm/nr_hugepages (mmap MAP_HUGETLB: %s)",
				 strerror(-err));
	}
	*va = p;	/* zero-filled by the kernel */
	*map_len = HUGE_2M;
	return 0;
}

void dmki_nvme_contig_free(uint8_t *va, size_t map_len)
{
	if (map_len)
		munmap(va, map_len);
	else
		free(va);
}
