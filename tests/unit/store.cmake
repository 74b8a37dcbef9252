# The store: every operation on SQLite, group commit, concurrency, crash safety.
parley_test(test_store SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store.c AREAS util crypto store LABELS unit)
