/* Keeps aim_testlib non-empty before any helper exists. */
typedef int aim_testlib_empty;
