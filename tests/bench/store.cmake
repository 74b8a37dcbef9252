# Store throughput: group commit against one transaction per message.
parley_bench(bench_store SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench_store.c AREAS util crypto store)
