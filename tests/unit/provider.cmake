# Third-party interop building blocks (src/interop): attestations, the
# delivery policy, signed HTTP, rate limits and the circuit breaker.
parley_test(test_attest SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_attest.c AREAS interop crypto util LABELS unit)
parley_test(test_attest_policy SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_attest_policy.c AREAS interop crypto util LABELS unit)
parley_test(test_attest_httpsig SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_attest_httpsig.c AREAS interop crypto util LABELS unit)
parley_test(test_ratelimit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ratelimit.c AREAS interop crypto util LABELS unit)
# The store's interop tables (schema version 2).
parley_test(test_store_interop SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store_interop.c AREAS util crypto store LABELS unit)
parley_test(test_attest_proxy SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_attest_proxy.c AREAS interop crypto util LABELS unit)
