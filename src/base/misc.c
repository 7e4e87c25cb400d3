/* Time, logging and small string helpers. */
#include "base/base.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int64_t aim_now(void)
{
	return (int64_t)time(NULL);
}

int64_t aim_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t aim_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void aim_time_rfc3339(int64_t t, char out[21])
{
	struct tm tm;
	time_t tt = (time_t)t;
	gmtime_r(&tt, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void aim_time_http(int64_t t, char out[30])
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mons[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	time_t tt = (time_t)t;
	gmtime_r(&tt, &tm);
	char tmp[64];
	snprintf(tmp, sizeof tmp, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
		 tm.tm_mday, mons[tm.tm_mon], (tm.tm_year + 1900) % 10000, tm.tm_hour, tm.tm_min,
		 tm.tm_sec);
	memcpy(out, tmp, 29);
	out[29] = 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int to_epoch(int y, int mon, int d, int h, int mi, int s, int64_t *t)
{
	ENSURE(y >= 1970 && y <= 9999 && mon >= 1 && mon <= 12 && d >= 1 && d <= 31 && h >= 0 &&
		       h <= 23 && mi >= 0 && mi <= 59 && s >= 0 && s <= 60,
	       AIM_ERR_DECODE, "date out of range");
	*t = days_from_civil(y, (unsigned)mon, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s;
	return 0;
}

int aim_time_parse_http(const char *s, int64_t *t)
{
	static const char mons[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char wd[4], mo[4];
	int d, y, h, mi, sec, n = 0;
	ENSURE(strlen(s) == 29, AIM_ERR_DECODE, "not an IMF-fixdate");
	if (sscanf(s, "%3s, %2d %3s %4d %2d:%2d:%2d GMT%n", wd, &d, mo, &y, &h, &mi, &sec, &n) != 7 ||
	    n != 29)
		return aim_fail(AIM_ERR_DECODE, "not an IMF-fixdate");
	const char *m = strstr(mons, mo);
	ENSURE(m && (m - mons) % 3 == 0 && strlen(mo) == 3, AIM_ERR_DECODE, "bad month");
	return to_epoch(y, (int)(m - mons) / 3 + 1, d, h, mi, sec, t);
}

int aim_time_parse_rfc3339(const char *s, int64_t *t)
{
	int y, mo, d, h, mi, sec, n = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
		return aim_fail(AIM_ERR_DECODE, "not an RFC 3339 date");
	const char *p = s + n;
	if (*p == '.') {
		p++;
		ENSURE(*p >= '0' && *p <= '9', AIM_ERR_DECODE, "bad fraction");
		while (*p >= '0' && *p <= '9')
			p++;
	}
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om, k = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5 || oh > 23 || om > 59)
			return aim_fail(AIM_ERR_DECODE, "bad offset");
		off = (oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return aim_fail(AIM_ERR_DECODE, "missing time zone");
	}
	ENSURE(*p == 0, AIM_ERR_DECODE, "trailing characters after date");
	TRY(to_epoch(y, mo, d, h, mi, sec, t));
	*t -= off;
	return 0;
}

static enum aim_log_level log_level = AIM_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void aim_log_set_level(enum aim_log_level lvl)
{
	log_level = lvl;
}

void aim_log(enum aim_log_level lvl, const char *component, const char *fmt, ...)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	if (lvl < log_level)
		return;
	char ts[21], msg[2048];
	aim_time_rfc3339(aim_now(), ts);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* Keep one event on one line whatever the message holds. */
	for (char *c = msg; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s %s %s: %s\n", ts, names[lvl], component, msg);
	pthread_mutex_unlock(&log_lock);
}

bool aim_str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool aim_str_case_equal(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

int aim_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	ENSURE(s && *s, AIM_ERR_INVALID, "empty number");
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	ENSURE(errno == 0 && *end == 0 && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')),
	       AIM_ERR_INVALID, "not a number: %.40s", s);
	ENSURE(v >= min && v <= max, AIM_ERR_INVALID, "number out of range [%lld, %lld]",
	       (long long)min, (long long)max);
	*out = v;
	return 0;
}
