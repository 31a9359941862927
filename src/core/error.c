/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include <dmakit/error.h>

#include "error_priv.h"

static _Thread_local char last_error[256];

int dmki_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return err;
}

const char *dmk_last_error(void)
{
	return last_error;
}
