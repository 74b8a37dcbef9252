# The parley client against a real parleyd on 127.0.0.1 (LABELS integration):
# fan-out and own-device copies, offline delivery, linking and removal,
# stale lists corrected after 409, prekey exhaustion and the last resort,
# a changed identity blocking sends until verify, kill -9 of a receiving
# client and of the server, a full local store leaving the copy on the
# server, no plaintext on disk, exit codes.
find_package(Python3 COMPONENTS Interpreter)
if(TARGET parleyd AND TARGET parleyctl AND TARGET parley-cli AND Python3_Interpreter_FOUND)
  foreach(s fanout stale prekeys identity crash cli diskfull)
    add_test(NAME test_client_${s}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/integration/test_client.py
              $<TARGET_FILE:parleyd> $<TARGET_FILE:parleyctl> $<TARGET_FILE:parley-cli> ${s})
    set_tests_properties(test_client_${s} PROPERTIES LABELS integration TIMEOUT 60)
  endforeach()
endif()
