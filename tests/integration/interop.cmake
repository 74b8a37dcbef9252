# Third-party interop through a real parleyd and parleyctl on 127.0.0.1
# (docs/parts/thirdparty.md): enlistment, consent, requests, blocks,
# reports, suspension, limits, proxy logins.
if(TARGET parleyd AND TARGET parleyctl)
  parley_test(test_interop SOURCES ${CMAKE_SOURCE_DIR}/tests/integration/test_interop.c
    ${CMAKE_SOURCE_DIR}/tests/integration/srvtest.c
    ARGS $<TARGET_FILE:parleyd> $<TARGET_FILE:parleyctl> LABELS integration)
  set_tests_properties(test_interop PROPERTIES TIMEOUT 120)
  add_dependencies(test_interop parleyd parleyctl)
endif()
# End to end: parleyd, two parley-provider servers and real parley clients.
find_package(Python3 COMPONENTS Interpreter)
if(TARGET parleyd AND TARGET parleyctl AND TARGET parley-cli AND TARGET parley-provider
   AND Python3_Interpreter_FOUND)
  add_test(NAME test_interop_e2e
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/integration/test_interop_e2e.py
            $<TARGET_FILE:parleyd> $<TARGET_FILE:parleyctl> $<TARGET_FILE:parley-cli>
            $<TARGET_FILE:parley-provider>)
  set_tests_properties(test_interop_e2e PROPERTIES LABELS integration TIMEOUT 120)
endif()
