# What a system call and a loopback TCP frame cost on this machine: the
# context for the server benchmark's figures (bench/RESULTS-server.md).
parley_bench(bench_machine SOURCES bench/bench_machine.c)
