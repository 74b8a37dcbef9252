/* The SQLite backend's interop tables (src/store/interop.h). */
#ifndef PARLEY_STORE_SQ_INTEROP_H
#define PARLEY_STORE_SQ_INTEROP_H

#include "store/interop.h"

/* Schema migration 2 (schema.c runs it after migration 1). */
extern const char sq_interop_migration[];
extern const pstore_interop_ops sq_interop_ops;

#endif
