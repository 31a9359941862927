/* SPDX-License-Identifier: MIT */
/*
 * NVMe completion status: names from the NVM Express Base Specification
 * (Generic, Command Specific, Media and Data Integrity, Path Related), and
 * the errno dmakit reports for them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include <dmakit/nvme.h>

#include "core/error_priv.h"
#include "nvme_priv.h"

struct dmki_status_name {
	uint16_t code;		/* SCT << 8 | SC */
	const char *name;
};

static const struct dmki_status_name dmki_status_names[] = {
	/* Generic Command Status (SCT 0) */
	{ 0x000, "Successful Completion" },
	{ 0x001, "Invalid Command Opcode" },
	{ 0x002, "Invalid Field in Command" },
	{ 0x003, "Command ID Conflict" },
	{ 0x004, "Data Transfer Error" },
	{ 0x005, "Commands Aborted due to Power Loss Notification" },
	{ 0x006, "Internal Error" },
	{ 0x007, "Command Abort Requested" },
	{ 0x008, "Command Aborted due to SQ Deletion" },
	{ 0x009, "Command Aborted due to Failed Fused Command" },
	{ 0x00a, "Command Aborted due to Missing Fused Command" },
	{ 0x00b, "Invalid Namespace or Format" },
	{ 0x00c, "Command Sequence Error" },
	{ 0x00d, "Invalid SGL Segment Descriptor" },
	{ 0x00e, "Invalid Number of SGL Descriptors" },
	{ 0x00f, "Data SGL Length Invalid" },
	{ 0x010, "Metadata SGL Length Invalid" },
	{ 0x011, "SGL Descriptor Type Invalid" },
	{ 0x012, "Invalid Use of Controller Memory Buffer" },
	{ 0x013, "PRP Offset Invalid" },
	{ 0x014, "Atomic Write Unit Exceeded" },
	{ 0x015, "Operation Denied" },
	{ 0x016, "SGL Offset Invalid" },
	{ 0x018, "Host Identifier Inconsistent Format" },
	{ 0x019, "Keep Alive Timer Expired" },
	{ 0x01a, "Keep Alive Timeout Invalid" },
	{ 0x01b, "Command Aborted due to Preempt and Abort" },
	{ 0x01c, "Sanitize Failed" },
	{ 0x01d, "Sanitize In Progress" },
	{ 0x01e, "SGL Data Block Granularity Invalid" },
	{ 0x01f, "Command Not Supported for Queue in CMB" },
	{ 0x020, "Namespace is Write Protected" },
	{ 0x021, "Command Interrupted" },
	{ 0x022, "Transient Transport Error" },
	{ 0x080, "LBA Out of Range" },
	{ 0x081, "Capacity Exceeded" },
	{ 0x082, "Namespace Not Ready" },
	{ 0x083, "Reservation Conflict" },
	{ 0x084, "Format In Progress" },
	/* Command Specific Status (SCT 1) */
	{ 0x100, "Completion Queue Invalid" },
	{ 0x101, "Invalid Queue Identifier" },
	{ 0x102, "Invalid Queue Size" },
	{ 0x103, "Abort Command Limit Exceeded" },
	{ 0x105, "Asynchronous Event Request Limit Exceeded" },
	{ 0x106, "Invalid Firmware Slot" },
	{ 0x107, "Invalid Firmware Image" },
	{ 0x108, "Invalid Interrupt Vector" },
	{ 0x109, "Invalid Log Page" },
	{ 0x10a, "Invalid Format" },
	{ 0x10b, "Firmware Activation Requires Conventional Reset" },
	{ 0x10c, "Invalid Queue Deletion" },
	{ 0x10d, "Feature Identifier Not Saveable" },
	{ 0x10e, "Feature Not Changeable" },
	{ 0x10f, "Feature Not Namespace Specific" },
	{ 0x115, "Namespace Insufficient Capacity" },
	{ 0x116, "Namespace Identifier Unavailable" },
	{ 0x118, "Namespace Already Attached" },
	{ 0x119, "Namespace Is Private" },
	{ 0x11a, "Namespace Not Attached" },
	{ 0x11c, "Controller List Invalid" },
	{ 0x180, "Conflicting Attributes" },
	{ 0x181, "Invalid Protection Information" },
	{ 0x182, "Attempted Write to Read Only Range" },
	/* Media and Data Integrity Errors (SCT 2) */
	{ 0x280, "Write Fault" },
	{ 0x281, "Unrecovered Read Error" },
	{ 0x282, "End-to-end Guard Check Error" },
	{ 0x283, "End-to-end Application Tag Check Error" },
	{ 0x284, "End-to-end Reference Tag Check Error" },
	{ 0x285, "Compare Failure" },
	{ 0x286, "Access Denied" },
	{ 0x287, "Deallocated or Unwritten Logical Block" },
	/* Path Related Status (SCT 3) */
	{ 0x300, "Internal Path Error" },
	{ 0x301, "Asymmetric Access Persistent Loss" },
	{ 0x302, "Asymmetric Access Inaccessible" },
	{ 0x303, "Asymmetric Access Transition" },
	{ 0x360, "Controller Pathing Error" },
	{ 0x370, "Host Pathing Error" },
	{ 0x371, "Command Aborted By Host" },
};

const char *dmk_nvme_status_str(uint16_t status)
{
	uint16_t code = status & 0x7ff;

	for (size_t i = 0; i < sizeof(dmki_status_names) / sizeof(dmki_status_names[0]); i++)
		if (dmki_status_names[i].code == code)
			return dmki_status_names[i].name;
	if ((code >> 8) == 7)
		return "Vendor Specific";
	return "Unknown status";
}

int dmk_nvme_status_errno(uint16_t status)
{
	return (status & 0x7ff) ? -EIO : 0;
}

int dmki_nvme_status_fail(uint16_t status, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return dmki_fail(dmk_nvme_status_errno(status), "NVMe status %#x/%#04x %s%s on %s",
			 (status >> 8) & 7, status & 0xff, dmk_nvme_status_str(status),
			 (status & (1u << 14)) ? " (DNR)" : "", what);
}
