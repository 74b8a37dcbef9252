# Attachments end to end (docs/media.md, docs/client.md "Attachments"):
# parleyd announcing a parley-mediad host and proxy, real parley clients
# sending 1 KiB and 10 MiB files, tampered/truncated/extended blobs refused,
# a third-party blob fetched through the proxy. Loopback only.
find_package(Python3 COMPONENTS Interpreter)
if(TARGET parleyd AND TARGET parleyctl AND TARGET parley-cli AND TARGET parley-mediad
   AND Python3_Interpreter_FOUND)
  foreach(s files refusals thirdparty)
    add_test(NAME test_media_client_${s}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/integration/test_media_client.py
              $<TARGET_FILE:parleyd> $<TARGET_FILE:parleyctl> $<TARGET_FILE:parley-cli>
              $<TARGET_FILE:parley-mediad> ${s})
    set_tests_properties(test_media_client_${s} PROPERTIES LABELS integration TIMEOUT 120)
  endforeach()
endif()
# File-type detection and received-file naming of the client, no network.
parley_test(test_media_client_type SOURCES integration/test_media_client_type.c
  AREAS client media content noise stanza signal crypto util LABELS unit)
