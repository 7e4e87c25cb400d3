/* Local user names (server.h aimd_valid_name): a file of its own, so that
 * routes.c and s2s_inbox.c, which check names, do not call into app.c, which
 * calls them (no loop among the files of src/server). */
#include "server/server.h"

#include <string.h>

#include "store/store.h"

bool aimd_valid_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n < 1 || n > STORE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}
