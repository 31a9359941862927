/* SPDX-License-Identifier: MIT */
/* Internal: an open PCI device, shared by device.c, bar.c and irq.c. */
#ifndef DMK_PCI_PRIV_H
#define DMK_PCI_PRIV_H

#include <pthread.h>
#include <stdint.h>

#include <linux/vfio.h>

#include <dmakit/pci.h>

#define DMKI_PCI_BARS 6

struct dmk_pci {
	struct dmk_space *space;
	char bdf[DMK_PCI_BDF_SIZE];
	int group;		/* IOMMU group number; its fd belongs to the space */
	int fd;			/* the device */
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

#endif
