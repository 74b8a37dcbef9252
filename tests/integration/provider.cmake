# Gatekeeper -> provider HTTP (signed requests, retries, circuit breaker)
# against a libmicrohttpd server on 127.0.0.1.
pkg_check_modules(PROVIDER_MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
parley_test(test_provider_http SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_provider_http.c
  AREAS interop crypto util LIBS parley_gkhttp PkgConfig::PROVIDER_MHD LABELS integration)
set_tests_properties(test_provider_http PROPERTIES TIMEOUT 60)
# parley-provider as a real program on loopback.
pkg_check_modules(PROVIDER_CURL REQUIRED IMPORTED_TARGET libcurl)
parley_test(test_provider SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_provider.c
  AREAS interop crypto util LIBS parley_gkhttp PkgConfig::PROVIDER_CURL
  ARGS $<TARGET_FILE:parley-provider> LABELS integration)
add_dependencies(test_provider parley-provider)
set_tests_properties(test_provider PROPERTIES TIMEOUT 60)
# parley-provider in proxy mode between a Noise client and a stand-in gatekeeper.
parley_test(test_provider_proxy SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_provider_proxy.c
  AREAS interop noise stanza crypto util ARGS $<TARGET_FILE:parley-provider> LABELS integration)
add_dependencies(test_provider_proxy parley-provider)
set_tests_properties(test_provider_proxy PROPERTIES TIMEOUT 60)
