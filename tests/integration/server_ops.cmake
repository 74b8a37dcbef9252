# parleyd operations: systemd readiness, certificate reload, counters.
if(TARGET parleyd AND TARGET parleyctl)
  parley_test(test_server_ops SOURCES ${CMAKE_SOURCE_DIR}/tests/integration/test_server_ops.c
    ${CMAKE_SOURCE_DIR}/tests/integration/srvtest.c
    ARGS $<TARGET_FILE:parleyd> $<TARGET_FILE:parleyctl> LABELS integration)
  set_tests_properties(test_server_ops PROPERTIES TIMEOUT 60)
  add_dependencies(test_server_ops parleyd parleyctl)
endif()
