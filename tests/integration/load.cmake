# parley-load against a real parleyd: every message sent is acked and delivered.
if(TARGET parleyd AND TARGET parleyctl AND TARGET parley-load)
  parley_test(test_load SOURCES ${CMAKE_SOURCE_DIR}/tests/integration/test_load.c
    ${CMAKE_SOURCE_DIR}/tests/integration/srvtest.c
    ARGS $<TARGET_FILE:parleyd> $<TARGET_FILE:parleyctl> $<TARGET_FILE:parley-load>
    LABELS integration)
  set_tests_properties(test_load PROPERTIES TIMEOUT 120)
  add_dependencies(test_load parleyd parleyctl parley-load)
endif()
