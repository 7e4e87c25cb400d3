/* The thread-local error record behind aim_fail(). */
#include "base/base.h"

#include <stdio.h>
#include <string.h>

static _Thread_local enum aim_err last_code;
static _Thread_local char last_msg[512];

int aim_failv(enum aim_err code, const char *fmt, va_list ap)
{
	last_code = code;
	vsnprintf(last_msg, sizeof last_msg, fmt, ap);
	return -1;
}

int aim_fail(enum aim_err code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	aim_failv(code, fmt, ap);
	va_end(ap);
	return -1;
}

enum aim_err aim_errcode(void) { return last_code; }
const char *aim_errmsg(void) { return last_code ? last_msg : ""; }

void aim_errclear(void)
{
	last_code = AIM_ERR_NONE;
	last_msg[0] = 0;
}

const char *aim_errname(enum aim_err code)
{
	static const char *const names[] = {
		[AIM_ERR_NONE] = "none",         [AIM_ERR_NOMEM] = "nomem",
		[AIM_ERR_INVALID] = "invalid",   [AIM_ERR_DECODE] = "decode",
		[AIM_ERR_LIMIT] = "limit",       [AIM_ERR_CRYPTO] = "crypto",
		[AIM_ERR_VERIFY] = "verify",     [AIM_ERR_UNSUPPORTED] = "unsupported",
		[AIM_ERR_NOTFOUND] = "notfound", [AIM_ERR_EXISTS] = "exists",
		[AIM_ERR_CONFLICT] = "conflict", [AIM_ERR_DENIED] = "denied",
		[AIM_ERR_AUTH] = "auth",         [AIM_ERR_GONE] = "gone",
		[AIM_ERR_STATE] = "state",       [AIM_ERR_STORAGE] = "storage", [AIM_ERR_REMOTE] = "remote", [AIM_ERR_BUSY] = "busy",
		[AIM_ERR_NOHOST] = "nohost",
		[AIM_ERR_TIMEOUT] = "timeout",   [AIM_ERR_INTERNAL] = "internal",
	};
	if ((size_t)code < AIM_ARRAY_LEN(names) && names[code])
		return names[code];
	return "unknown";
}
