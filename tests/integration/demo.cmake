# `make demo` runs against the build in CTest (LABELS integration), so the
# demo cannot rot: scripts/demo.sh exits non-zero when anything it shows does
# not happen. It takes about 25 s on two cores (gatekeeper and third-party
# provider); the timeout leaves room for a loaded machine. The Signal-only
# demo runs too.
find_package(Python3 COMPONENTS Interpreter)
if(TARGET parleyd AND TARGET parleyctl AND TARGET parley-cli AND TARGET parley-provider
   AND Python3_Interpreter_FOUND)
  add_test(NAME demo_network
    COMMAND sh ${CMAKE_SOURCE_DIR}/scripts/demo.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(demo_network PROPERTIES LABELS integration TIMEOUT 180)
endif()
if(TARGET parley-peer AND Python3_Interpreter_FOUND)
  add_test(NAME demo_signal
    COMMAND sh ${CMAKE_SOURCE_DIR}/scripts/demo.sh --signal ${CMAKE_BINARY_DIR})
  set_tests_properties(demo_signal PROPERTIES LABELS integration TIMEOUT 60)
endif()
