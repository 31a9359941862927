/* SPDX-License-Identifier: MIT */
/* Internal: hooks for tests that need a controller to misbehave on purpose. */
#ifndef DMK_NVME_DEBUG_H
#define DMK_NVME_DEBUG_H

#include <stdbool.h>

/*
 * dmki_nvme_debug_hold_doorbells() - stop (or resume) ringing SQ doorbells
 *
 * While held, commands go into the submission queues but the controller is
 * not told: they never complete, so a test sees the driver's timeout. The
 * first doorbell rung after release hands them all over. For tests only;
 * applies to every controller of the process.
 */
void dmki_nvme_debug_hold_doorbells(bool hold);

#endif
