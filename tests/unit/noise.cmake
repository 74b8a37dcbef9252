# Noise framework, certificates, the Noise Pipes connection and its libevent glue.
parley_test(test_noise SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_noise.c
            AREAS noise crypto util LABELS unit)
add_test(NAME noise_vectors
         COMMAND parley-noise-vectors
                 ${CMAKE_SOURCE_DIR}/tests/vectors/noise-cacophony-25519-aesgcm-sha256.json)
set_tests_properties(noise_vectors PROPERTIES LABELS unit)
parley_test(test_noise_cert SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_noise_cert.c
            AREAS noise crypto util LABELS unit)
parley_test(test_noise_conn SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_noise_conn.c
            AREAS noise crypto util LABELS unit)
parley_test(test_noise_event SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_noise_event.c
            AREAS noise crypto util LABELS unit)
set_tests_properties(test_noise_event PROPERTIES TIMEOUT 60)
# The shared copy, when the checkout sits beside it (the in-repo copy above is authoritative).
if(EXISTS ${CMAKE_SOURCE_DIR}/../shared/vectors/noise-cacophony-25519-aesgcm-sha256.json)
  add_test(NAME noise_vectors_shared
           COMMAND parley-noise-vectors
                   ${CMAKE_SOURCE_DIR}/../shared/vectors/noise-cacophony-25519-aesgcm-sha256.json)
  set_tests_properties(noise_vectors_shared PROPERTIES LABELS unit)
endif()
