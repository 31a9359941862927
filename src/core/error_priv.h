/* SPDX-License-Identifier: MIT */
/* Internal: setting the per-thread reason behind a failure. */
#ifndef DMK_ERROR_PRIV_H
#define DMK_ERROR_PRIV_H

/*
 * dmki_fail() - record why the current call fails and return @err
 *
 * Internal functions are named dmki_ so that the version script exports
 * only the public dmk_ ones.
 *
 * Use as `return dmki_fail(-EINVAL, "boundary %#lx is not a power of two", b);`
 * so that every error path leaves a reason for dmk_last_error().
 */
int dmki_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3), cold));

#endif
