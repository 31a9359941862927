/* SPDX-License-Identifier: MIT */
/* Copies within this process that fail where a load or store would fault. */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "error_priv.h"
#include "nofault_priv.h"

int dmki_copy_nofault(const struct iovec *dst, unsigned ndst, const struct iovec *src,
		      unsigned nsrc)
{
	size_t want = 0, have = 0;
	ssize_t got;

	if (ndst > DMKI_NOFAULT_IOV || nsrc > DMKI_NOFAULT_IOV)
		return dmki_fail(-EINVAL, "a copy of %u to %u pieces: more than %u a side",
				 nsrc, ndst, DMKI_NOFAULT_IOV);
	for (unsigned i = 0; i < ndst; i++)
		want += dst[i].iov_len;
	for (unsigned i = 0; i < nsrc; i++)
		have += src[i].iov_len;
	if (want != have)
		return dmki_fail(-EINVAL, "a copy of %zu bytes into %zu", have, want);
	if (!want)
		return 0;
	/* "local" is where process_vm_readv() writes, "remote" where it reads. */
	do
		got = process_vm_readv(getpid(), dst, ndst, src, nsrc, 0);
	while (got < 0 && errno == EINTR);
	if (got == (ssize_t)want)
		return 0;
	if (got >= 0 || errno == EFAULT)
		return dmki_fail(-EFAULT, "a page could not be faulted in at byte %zd of %zu (past "
				 "the end of a file, or a hugetlbfs hole with the pool empty)",
				 got > 0 ? got : 0, want);
	return dmki_fail(-errno, "process_vm_readv() on this process: %s", strerror(errno));
}
