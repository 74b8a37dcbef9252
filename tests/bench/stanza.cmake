# Stanza parse/write throughput against raw expat (issue 3, "Performance").
parley_bench(bench_stanza SOURCES bench/bench_stanza.c AREAS stanza util)
