# parleyd: copies pushed first and stored only when not acked in time.
if(TARGET parleyd AND TARGET parleyctl)
  parley_test(test_server_hold SOURCES ${CMAKE_SOURCE_DIR}/tests/integration/test_server_hold.c
    ${CMAKE_SOURCE_DIR}/tests/integration/srvtest.c
    ARGS $<TARGET_FILE:parleyd> $<TARGET_FILE:parleyctl> LABELS integration)
  set_tests_properties(test_server_hold PROPERTIES TIMEOUT 120)
  add_dependencies(test_server_hold parleyd parleyctl)
endif()
