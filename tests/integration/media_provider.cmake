# The provider's media host (parley-provider serve --media-dir) and the
# gatekeeper proxy's allow-lists from the provider registry
# (parley-mediad --db), driven as real programs on 127.0.0.1 and 127.0.0.2
# (docs/media.md "The provider's media host", "Allow-list per provider").
find_package(Python3 COMPONENTS Interpreter)
if(TARGET parley-provider AND TARGET parley-mediad AND TARGET parleyctl
   AND Python3_Interpreter_FOUND)
  foreach(s host registry)
    add_test(NAME test_media_provider_${s}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/integration/test_media_provider.py
              $<TARGET_FILE:parley-provider> $<TARGET_FILE:parley-mediad>
              $<TARGET_FILE:parleyctl> ${s})
    set_tests_properties(test_media_provider_${s} PROPERTIES LABELS integration TIMEOUT 120)
  endforeach()
endif()
# A third-party user's attachment to a gatekeeper user with the real
# clients: parleyd announcing a parley-mediad --db proxy on its own
# database, parley-provider's media host, `parley media-config` from the
# provider's login answer; refused once the provider is suspended.
if(TARGET parleyd AND TARGET parleyctl AND TARGET parley-cli AND TARGET parley-provider
   AND TARGET parley-mediad AND Python3_Interpreter_FOUND)
  add_test(NAME test_media_provider_clients
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/integration/test_media_provider_clients.py
            $<TARGET_FILE:parleyd> $<TARGET_FILE:parleyctl> $<TARGET_FILE:parley-cli>
            $<TARGET_FILE:parley-provider> $<TARGET_FILE:parley-mediad>)
  set_tests_properties(test_media_provider_clients PROPERTIES LABELS integration TIMEOUT 180)
endif()
