/* SPDX-License-Identifier: MIT */
/*
 * Internal: an open PCI device, shared by device.c, bar.c and irq.c (VFIO)
 * and uio.c (sysfs and uio_pci_generic, no IOMMU).
 */
#ifndef DMK_PCI_PRIV_H
#define DMK_PCI_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/vfio.h>

#include <dmakit/pci.h>

#define DMKI_PCI_BARS 6

/* How a device is reached. */
enum dmki_pci_backend {
	DMKI_PCI_VFIO = 0,	/* a VFIO device fd in a vfio space */
	DMKI_PCI_UIO = 1,	/* sysfs config and resourceN, bound to uio_pci_generic */
};

struct dmk_pci {
	enum dmki_pci_backend backend;
	struct dmk_space *space;	/* NULL for uio: any phys space fits */
	char bdf[DMK_PCI_BDF_SIZE];
	int group;		/* IOMMU group number; its fd belongs to the space */
	int fd;			/* the device; uio: sysfs config (cfg_offset 0) */
	int uio_fd;		/* uio: /dev/uioN, held while open; -1 for VFIO */
	unsigned reach;		/* uio: the reach set, address bits (0: none) */
	uint32_t flags;		/* VFIO_DEVICE_FLAGS_* */
	uint32_t num_regions;
	uint32_t num_irqs;
	uint64_t cfg_offset;	/* of the config region in @fd */
	uint64_t cfg_size;
	pthread_mutex_t lock;	/* BAR mappings, interrupts */
	struct {
		void *va;
		size_t len;
	} bar[DMKI_PCI_BARS];
	int irq_type;		/* enum dmk_pci_irq_type, -1 when none */
	unsigned irq_n;
	int *irq_fds;
};

/* VFIO_DEVICE_GET_REGION_INFO of region @index (no capabilities). */
int dmki_pci_region_info(struct dmk_pci *dev, unsigned index, struct vfio_region_info *ri);

/* Unmap every BAR (dmk_pci_close()). */
void dmki_pci_unmap_bars(struct dmk_pci *dev);

/* Sysfs path of the device's attribute @attr, into @buf of @size. */
int dmki_pci_sysfs_path(char *buf, size_t size, const char *bdf, const char *attr);

/* Copy @bdf into @out as "DDDD:BB:DD.F" (a missing domain is 0000). */
int dmki_pci_normalise_bdf(const char *bdf, char out[DMK_PCI_BDF_SIZE]);

/* Whether a driver may use @dev in @sp: its vfio space, or any phys space for uio. */
bool dmki_pci_in_space(const struct dmk_pci *dev, const struct dmk_space *sp);

/* uio.c: the uio backend's halves of dmk_pci_map_bar() and dmk_pci_close(). */
int dmki_pci_uio_map_bar(struct dmk_pci *dev, unsigned bar, void **va, size_t *len);
void dmki_pci_uio_close(struct dmk_pci *dev);

#endif
