/* SPDX-License-Identifier: MIT */
/*
 * dmakit: error reporting.
 *
 * Every dmakit function returns 0 on success or a negative errno. When it
 * fails it also leaves a sentence saying why in a per-thread buffer, so that
 * a driver can log the reason ("segment 3 at 0x1f000 crosses the 64 KiB
 * boundary") and not only the number.
 */
#ifndef DMAKIT_ERROR_H
#define DMAKIT_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/**
 * dmk_last_error() - the reason for the calling thread's last failure
 *
 * Each dmakit function that fails writes a one-line explanation into a
 * buffer private to the calling thread, replacing the previous one. Success
 * does not clear it.
 *
 * Thread safety: safe; each thread sees only its own message.
 *
 * Return: a NUL-terminated string owned by dmakit, valid until the calling
 * thread's next dmakit call; "" when nothing has failed yet.
 */
const char *dmk_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* DMAKIT_ERROR_H */
