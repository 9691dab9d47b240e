#ifndef HAYON_CSQLITE_SHIM_H
#define HAYON_CSQLITE_SHIM_H
#include <sqlite3.h>

/// SQLITE_TRANSIENT is a macro casting -1 to a destructor pointer, which Swift cannot import:
/// it tells SQLite to copy bound text and blobs before the bind call returns.
static inline sqlite3_destructor_type hayon_sqlite_transient(void) { return SQLITE_TRANSIENT; }

#endif
