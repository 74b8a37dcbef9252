# parleyd --processes: several server processes on one port and database.
if(TARGET parleyd AND TARGET parleyctl)
  parley_test(test_server_procs SOURCES ${CMAKE_SOURCE_DIR}/tests/integration/test_server_procs.c
    ${CMAKE_SOURCE_DIR}/tests/integration/srvtest.c
    ARGS $<TARGET_FILE:parleyd> $<TARGET_FILE:parleyctl> LABELS integration)
  set_tests_properties(test_server_procs PROPERTIES TIMEOUT 120)
  add_dependencies(test_server_procs parleyd parleyctl)
endif()
