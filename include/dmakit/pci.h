/* SPDX-License-Identifier: MIT */
/*
 * dmakit: PCI devices through VFIO (or, without an IOMMU, uio_pci_generic).
 *
 * A device is opened by its address (BDF, "0000:00:03.0") in a vfio space
 * (<dmakit/vfio.h>): its IOMMU group joins the space's container, and
 * memory registered in the space becomes reachable by the device. The
 * device must be bound to vfio-pci first (dmk_pci_bind_vfio(), or the
 * dmakit-bind tool, as root).
 *
 *	dmk_space_vfio_create(&sp);
 *	dmk_pci_open(sp, "0000:00:03.0", &dev);
 *	dmk_pci_set_reach(dev, 28);
 *	dmk_pci_map_bar(dev, 0, &regs, &len);
 *	dmk_pci_enable_bus_master(dev);
 *	dmk_region_register(sp, buf, len, DMK_PROT_RW, &r);
 *	... program the device with dmk_space_translate() addresses ...
 *	dmk_region_unregister(r);
 *	dmk_pci_close(dev);
 *	dmk_space_destroy(sp);
 *
 * Without an IOMMU, a device bound to uio_pci_generic is opened with
 * dmk_pci_open_uio() and used with a phys space (<dmakit/space.h>): the
 * device then sees physical addresses and nothing fences its DMA.
 */
#ifndef DMAKIT_PCI_H
#define DMAKIT_PCI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dmk_space;
struct dmk_pci;

/* DMK_PCI_ANY - matches every vendor, device or class in dmk_pci_find(). */
#define DMK_PCI_ANY 0xffffffffu

/* DMK_PCI_BDF_SIZE - room for a BDF string with its NUL ("0000:00:03.0"). */
#define DMK_PCI_BDF_SIZE 20

/**
 * enum dmk_pci_irq_type - how a device interrupts
 * @DMK_PCI_IRQ_INTX: the legacy pin, level triggered: masked by the kernel
 *	when it fires, unmasked with dmk_pci_irq_unmask().
 * @DMK_PCI_IRQ_MSI: message signalled interrupts.
 * @DMK_PCI_IRQ_MSIX: MSI-X.
 */
enum dmk_pci_irq_type {
	DMK_PCI_IRQ_INTX = 0,
	DMK_PCI_IRQ_MSI = 1,
	DMK_PCI_IRQ_MSIX = 2,
};

/**
 * dmk_pci_find() - list PCI devices by vendor, device and class
 * @vendor: vendor ID, or DMK_PCI_ANY.
 * @device: device ID, or DMK_PCI_ANY.
 * @class_code: the 24-bit class code (base class, subclass, programming
 *	interface: 0x010802 for NVMe), or DMK_PCI_ANY.
 * @bdfs: receives the BDFs of matching devices, in sysfs order.
 * @max: room in @bdfs; 0 to only count.
 * @count: receives how many devices match, which may exceed @max (only
 *	@max are written).
 *
 * Reads /sys/bus/pci/devices; needs no privilege and no libpci.
 *
 * Thread safety: safe.
 *
 * Return: 0; -ENOENT when /sys/bus/pci/devices cannot be read.
 */
int dmk_pci_find(uint32_t vendor, uint32_t device, uint32_t class_code,
		 char bdfs[][DMK_PCI_BDF_SIZE], size_t max, size_t *count);

/**
 * dmk_pci_iommu_group() - the IOMMU group of a device
 * @bdf: the device's address, "DDDD:BB:DD.F".
 * @group: receives the group number (the N of /dev/vfio/N).
 *
 * Thread safety: safe.
 *
 * Return: 0; -ENODEV when there is no such device; -ENOENT when it has no
 * IOMMU group (no IOMMU, or it is off: intel_iommu=on).
 */
int dmk_pci_iommu_group(const char *bdf, int *group);

/**
 * dmk_pci_bind_vfio() - bind a device to the vfio-pci driver
 * @bdf: the device's address.
 *
 * Sets the device's driver_override to vfio-pci, unbinds it from its
 * current driver and asks the kernel to probe it again
 * (/sys/bus/pci/drivers_probe). A device already on vfio-pci is left as it
 * is. Needs root, and the vfio-pci module loaded.
 *
 * Thread safety: safe, but two processes binding the same device race.
 *
 * Return: 0; -ENODEV when there is no such device, or when vfio-pci did not
 * take it (not loaded?); -EACCES or -EPERM without the right to write
 * sysfs; another negative errno from a sysfs write (dmk_last_error() names
 * the file).
 */
int dmk_pci_bind_vfio(const char *bdf);

/**
 * dmk_pci_open() - open a device through VFIO in a vfio space
 * @vfio_space: a space from dmk_space_vfio_create().
 * @bdf: the device's address, "DDDD:BB:DD.F".
 * @out: receives the device.
 *
 * Finds the device's IOMMU group (/sys/bus/pci/devices/@bdf/iommu_group),
 * opens /dev/vfio/N, checks that the group is viable, attaches it to the
 * space's container (the first group sets the type1v2 IOMMU) and gets the
 * device's descriptor. The group stays attached until the space is
 * destroyed, even after dmk_pci_close(): detaching it would drop mappings.
 * Close every device of a space before destroying the space.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL when @vfio_space is not vfio; -ENODEV when there is no
 * such device; -ENOENT when it has no IOMMU group or /dev/vfio/N is missing
 * (not bound to vfio-pci); -EBUSY when the group is not viable (another
 * device in it is bound to a host driver) or is open elsewhere; -ENOMEM;
 * another negative errno from VFIO (dmk_last_error() names the ioctl).
 */
int dmk_pci_open(struct dmk_space *vfio_space, const char *bdf, struct dmk_pci **out);

/**
 * dmk_pci_open_uio() - open a device bound to uio_pci_generic, no VFIO
 * @bdf: the device's address, "DDDD:BB:DD.F".
 * @out: receives the device.
 *
 * For machines without an IOMMU (or with it off): configuration space is
 * read and written through /sys/bus/pci/devices/@bdf/config, BARs are
 * mapped from its resourceN files, and /dev/uioN is held open while the
 * device is. Use the device with a phys space (dmk_space_phys_create()):
 * drivers accept it in any phys space, and it sees physical addresses, so
 * nothing stops a wrong address from reaching any memory. Needs root.
 *
 * Differences from a VFIO device: dmk_pci_irq_count() reports 0 vectors
 * of every type and dmk_pci_irq_enable() fails with -ENOTSUP
 * (uio_pci_generic routes no interrupts to eventfds: poll the device);
 * dmk_pci_reset() fails with -ENOTSUP; dmk_pci_set_reach() only records
 * the value, since a phys space cannot move memory below a limit.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL for a malformed @bdf or a NULL @out; -ENODEV when
 * there is no such device; -ENOENT when it is not bound to
 * uio_pci_generic (no uio/uioN in sysfs) or /dev/uioN is missing; -EACCES
 * or -EPERM without root; -ENOMEM.
 */
int dmk_pci_open_uio(const char *bdf, struct dmk_pci **out);

/**
 * dmk_pci_close() - close a device
 * @dev: the device, or NULL.
 *
 * Disables its interrupts (closing their eventfds), unmaps its BARs and
 * closes its descriptor; its reach stops limiting the space. Stop the
 * device's DMA first. Memory registered in the space stays registered.
 *
 * Thread safety: not with any other use of @dev.
 *
 * Return: 0.
 */
int dmk_pci_close(struct dmk_pci *dev);

/**
 * dmk_pci_bdf() - the address a device was opened by
 * @dev: the device.
 *
 * Thread safety: safe.
 *
 * Return: the BDF string, owned by @dev.
 */
const char *dmk_pci_bdf(const struct dmk_pci *dev);

/**
 * dmk_pci_config_read() - read configuration space
 * @dev: the device.
 * @offset: first byte.
 * @buf: receives the bytes, as the device holds them (little-endian).
 * @len: how many.
 *
 * VFIO shows some registers virtualised (BARs, MSI capabilities).
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL when the range leaves configuration space; -EIO or
 * another negative errno when the read fails.
 */
int dmk_pci_config_read(struct dmk_pci *dev, unsigned offset, void *buf, size_t len);

/**
 * dmk_pci_config_write() - write configuration space
 * @dev: the device.
 * @offset: first byte.
 * @buf: the bytes, little-endian.
 * @len: how many.
 *
 * Thread safety: safe, but concurrent read-modify-write sequences on one
 * register race.
 *
 * Return: 0; -EINVAL when the range leaves configuration space; -EIO or
 * another negative errno when the write fails.
 */
int dmk_pci_config_write(struct dmk_pci *dev, unsigned offset, const void *buf, size_t len);

/**
 * dmk_pci_enable_bus_master() - let the device master the bus (DMA)
 * @dev: the device.
 *
 * Sets the Bus Master and Memory Space bits of the command register.
 *
 * Thread safety: safe with other dmakit calls on @dev; not with your own
 * writes to the command register.
 *
 * Return: 0; the errors of dmk_pci_config_read() and dmk_pci_config_write().
 */
int dmk_pci_enable_bus_master(struct dmk_pci *dev);

/**
 * dmk_pci_map_bar() - map a memory BAR into the process
 * @dev: the device.
 * @bar: 0 to 5.
 * @va: receives the first byte of the mapping, for volatile loads and
 *	stores of the device's registers.
 * @len: receives the BAR's size.
 *
 * The mapping is made once and stays until dmk_pci_close(); later calls
 * return it again.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL for @bar above 5; -ENOENT when the BAR is not
 * implemented; -ENOTSUP when VFIO does not allow mapping it (an I/O port
 * BAR); another negative errno from mmap.
 */
int dmk_pci_map_bar(struct dmk_pci *dev, unsigned bar, void **va, size_t *len);

/**
 * dmk_pci_reset() - reset the device
 * @dev: the device.
 *
 * VFIO_DEVICE_RESET (a function level reset or what the kernel finds
 * best). The device's registers return to their reset values; the kernel
 * saves and restores configuration space around the reset, and BAR
 * mappings stay. Stop the device's DMA first.
 *
 * Thread safety: not with other uses of @dev.
 *
 * Return: 0; -ENOTSUP when the device cannot be reset on its own; another
 * negative errno from the ioctl.
 */
int dmk_pci_reset(struct dmk_pci *dev);

/**
 * dmk_pci_irq_count() - how many vectors of a type the device has
 * @dev: the device.
 * @type: see &enum dmk_pci_irq_type.
 * @count: receives the count; 0 when the device lacks the type.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL for an unknown @type.
 */
int dmk_pci_irq_count(struct dmk_pci *dev, enum dmk_pci_irq_type type, unsigned *count);

/**
 * dmk_pci_irq_enable() - route interrupts to eventfds
 * @dev: the device.
 * @type: see &enum dmk_pci_irq_type.
 * @nvec: vectors, from 1 to dmk_pci_irq_count() (1 for INTx).
 * @efds: receives @nvec eventfds, one a vector, in vector order. They are
 *	created by dmakit (blocking, close-on-exec) and owned by @dev: read
 *	or poll them, never close them.
 *
 * Each interrupt adds 1 to its vector's eventfd counter. Only one type is
 * enabled at a time.
 *
 * Thread safety: not with other interrupt calls on @dev.
 *
 * Return: 0; -EINVAL for an unknown @type or @nvec out of range; -EBUSY
 * when interrupts are enabled already (disable them first); -ENOMEM; the
 * errno of eventfd() or of VFIO_DEVICE_SET_IRQS.
 */
int dmk_pci_irq_enable(struct dmk_pci *dev, enum dmk_pci_irq_type type, unsigned nvec,
		       int efds[]);

/**
 * dmk_pci_irq_disable() - stop routing interrupts
 * @dev: the device.
 *
 * Closes the eventfds dmk_pci_irq_enable() made. Nothing happens when no
 * interrupts are enabled.
 *
 * Thread safety: not with other interrupt calls on @dev.
 *
 * Return: 0; the errno of VFIO_DEVICE_SET_IRQS (the eventfds are closed
 * anyway).
 */
int dmk_pci_irq_disable(struct dmk_pci *dev);

/**
 * dmk_pci_irq_unmask() - unmask the INTx interrupt after handling it
 * @dev: the device, with INTx enabled.
 *
 * The kernel masks INTx each time it fires; clear the device's interrupt
 * condition, then unmask.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL when INTx is not enabled; the errno of
 * VFIO_DEVICE_SET_IRQS.
 */
int dmk_pci_irq_unmask(struct dmk_pci *dev);

/**
 * dmk_pci_set_reach() - tell the space how far the device can address
 * @dev: the device.
 * @bits: device address bits, 12 to 64 (QEMU's edu: 28). Registrations
 *	made after this lie below 2^@bits, whatever other device of the space
 *	asks for. Lifting a reach (a larger @bits) is always allowed.
 *
 * Thread safety: safe.
 *
 * Return: 0; -EINVAL for @bits out of range; -ERANGE when memory already
 * registered in the space lies above 2^@bits (the reach is unchanged).
 */
int dmk_pci_set_reach(struct dmk_pci *dev, unsigned bits);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_PCI_H */
