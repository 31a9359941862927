/* SPDX-License-Identifier: MIT */
/*
 * dmakit doctor: what this machine offers dmakit, one fact a line.
 *
 * Every line is "KEY: VALUE -- MEANING": KEY and VALUE are stable (scripts
 * and tests grep them), MEANING says what the fact means for dmakit. Each
 * KEY comes once but "pci", one line a device with its BDF first. Nothing
 * here changes the system: files are read, devices and ioctls only asked.
 */
#ifndef DMAKIT_TOOL_DOCTOR_H
#define DMAKIT_TOOL_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Who runs the doctor: what the phys space and the daemon's routes depend on. */
struct doc_who {
	uid_t uid, euid;
	bool cap_sys_admin;	/* pagemap shows frames */
	bool cap_ipc_lock;	/* RLIMIT_MEMLOCK does not apply */
	bool vfio_type1;	/* filled in by doc_devices() */
};

/* Print "KEY: VALUE -- MEANING", the meaning formatted. */
void doc_fact(const char *key, const char *value, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The first line of file @path, without its newline; 0 or a negative errno. */
int doc_read_line(const char *path, char *buf, size_t size);

/* The last component of the symbolic link @path; 0 or a negative errno. */
int doc_link_name(const char *path, char *buf, size_t size);

/* The number of entries (not "." or "..") of directory @path, or -1. */
long doc_count_dir(const char *path);

/*
 * Is kernel module @name (either '-' or '_') on disk for the running kernel
 * (modules.dep or modules.builtin of /lib/modules/RELEASE)? Nothing loaded.
 */
bool doc_module_on_disk(const char *name);

/* IOMMU, VFIO type1, iommufd, VFIO no-IOMMU, uio_pci_generic, PCI devices. */
void doc_devices(struct doc_who *who);

/* RLIMIT_MEMLOCK, pagemap, MADV_POPULATE_WRITE, io_uring, pin, phys, huge pages. */
void doc_memory(const struct doc_who *who);

#endif
