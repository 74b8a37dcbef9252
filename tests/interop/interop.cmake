# Interop tests: parley-peer against independent Signal implementations that
# speak the same JSON line protocol (docs/interop.md).
#   lsc-peer   over libsignal-protocol-c 2.3.3 (Debian)
#   node-peer  over @signalapp/libsignal-client (npm, tests/interop/node)
# The drivers are python3 scripts; a missing peer program fails the test.
if(NOT PARLEY_INTEROP)
  return()
endif()

find_path(LSC_INCLUDE_DIR signal/signal_protocol.h)
find_library(LSC_LIBRARY signal-protocol-c)
if(NOT LSC_INCLUDE_DIR OR NOT LSC_LIBRARY)
  message(FATAL_ERROR "PARLEY_INTEROP needs libsignal-protocol-c (libsignal-protocol-c-dev); "
                      "run `make deps` or configure with -DPARLEY_INTEROP=OFF")
endif()

set(INTEROP_DIR ${CMAKE_CURRENT_LIST_DIR})
add_executable(lsc-peer
  ${INTEROP_DIR}/lsc/lsc_peer.c
  ${INTEROP_DIR}/lsc/lsc_store.c
  ${INTEROP_DIR}/lsc/lsc_crypto.c)
# parley_util only for JSON I/O; the Signal protocol itself is the library's.
target_link_libraries(lsc-peer PRIVATE parley_util ${LSC_LIBRARY} PkgConfig::OPENSSL)
target_include_directories(lsc-peer SYSTEM PRIVATE ${LSC_INCLUDE_DIR})
set_target_properties(lsc-peer PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/interop)

find_package(Python3 REQUIRED COMPONENTS Interpreter)
find_program(NODE_EXECUTABLE node)
if(NOT NODE_EXECUTABLE)
  set(NODE_EXECUTABLE node) # the test then fails and says so
endif()

if(TARGET parley-peer)
  set(PARLEY_PEER_PATH $<TARGET_FILE:parley-peer>)
else()
  set(PARLEY_PEER_PATH ${CMAKE_BINARY_DIR}/tools/peer/parley-peer)
endif()
set(LSC_PEER_PATH $<TARGET_FILE:lsc-peer>)
set(NODE_PEER_ARGS --node ${NODE_EXECUTABLE} --node-dir ${INTEROP_DIR}/node)

# Self-checks: each reference against itself, which validates the scenarios.
add_test(NAME interop_signal_lsc_self
  COMMAND ${Python3_EXECUTABLE} ${INTEROP_DIR}/signal_interop.py
          --lsc ${LSC_PEER_PATH} --pairs lsc:lsc)
add_test(NAME interop_node_self
  COMMAND ${Python3_EXECUTABLE} ${INTEROP_DIR}/node_interop.py
          ${NODE_PEER_ARGS} --pairs node:node)
# The two references agree with each other on XEdDSA.
add_test(NAME interop_refs_xeddsa
  COMMAND ${Python3_EXECUTABLE} ${INTEROP_DIR}/node_interop.py
          --lsc ${LSC_PEER_PATH} ${NODE_PEER_ARGS} --pairs lsc:node,node:lsc
          --only xeddsa_both_ways --only xeddsa_malformed)
# parley against the references, parley on each side.
add_test(NAME interop_signal_parley_lsc
  COMMAND ${Python3_EXECUTABLE} ${INTEROP_DIR}/signal_interop.py
          --parley ${PARLEY_PEER_PATH} --lsc ${LSC_PEER_PATH} --pairs parley:lsc,lsc:parley)
add_test(NAME interop_node_parley
  COMMAND ${Python3_EXECUTABLE} ${INTEROP_DIR}/node_interop.py
          --parley ${PARLEY_PEER_PATH} ${NODE_PEER_ARGS} --pairs parley:node,node:parley)
# XEdDSA between parley and libsignal-protocol-c, directly.
add_test(NAME interop_xeddsa_parley_lsc
  COMMAND ${Python3_EXECUTABLE} ${INTEROP_DIR}/node_interop.py
          --parley ${PARLEY_PEER_PATH} --lsc ${LSC_PEER_PATH} ${NODE_PEER_ARGS}
          --pairs parley:lsc,lsc:parley --only xeddsa_both_ways --only xeddsa_malformed)
set_tests_properties(interop_signal_lsc_self interop_node_self interop_refs_xeddsa
                     interop_signal_parley_lsc interop_node_parley interop_xeddsa_parley_lsc
                     PROPERTIES LABELS interop TIMEOUT 900)

# parley against libsignal-protocol-c, side by side (make bench;
# tests/interop/bench_signal.sh adds callgrind instruction counts).
parley_bench(bench_signal SOURCES
  ${INTEROP_DIR}/bench_signal.c ${INTEROP_DIR}/lsc/lsc_store.c ${INTEROP_DIR}/lsc/lsc_crypto.c
  LIBS ${LSC_LIBRARY} PkgConfig::OPENSSL)
target_include_directories(bench_signal PRIVATE ${INTEROP_DIR})
target_include_directories(bench_signal SYSTEM PRIVATE ${LSC_INCLUDE_DIR})
