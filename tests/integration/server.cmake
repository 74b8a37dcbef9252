# parleyd integration tests: real server processes on 127.0.0.1 (LABELS
# integration, so the sanitizer CI job that runs unit/interop skips them).
if(TARGET parleyd AND TARGET parleyctl)
  parley_test(test_server SOURCES ${CMAKE_SOURCE_DIR}/tests/integration/test_server.c
    ${CMAKE_SOURCE_DIR}/tests/integration/srvtest.c
    ARGS $<TARGET_FILE:parleyd> $<TARGET_FILE:parleyctl> LABELS integration)
  find_package(Threads REQUIRED)
  target_link_libraries(test_server PRIVATE Threads::Threads)
  set_tests_properties(test_server PROPERTIES TIMEOUT 120)
  add_dependencies(test_server parleyd parleyctl)
endif()
if(TARGET parleyd AND TARGET parleyctl)
  parley_test(test_server_crash SOURCES ${CMAKE_SOURCE_DIR}/tests/integration/test_server_crash.c
    ${CMAKE_SOURCE_DIR}/tests/integration/srvtest.c
    ARGS $<TARGET_FILE:parleyd> $<TARGET_FILE:parleyctl> LABELS integration)
  target_link_libraries(test_server_crash PRIVATE Threads::Threads)
  set_tests_properties(test_server_crash PROPERTIES TIMEOUT 180)
  add_dependencies(test_server_crash parleyd parleyctl)
endif()
