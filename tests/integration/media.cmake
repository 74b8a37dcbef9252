# Media host, proxy and end-to-end transfers over loopback HTTP only.
parley_test(test_media_host SOURCES integration/test_media_host.c
  AREAS media content crypto util LIBS parley_mediahost LABELS integration)
set_tests_properties(test_media_host PROPERTIES TIMEOUT 60)
parley_test(test_media_proxy SOURCES integration/test_media_proxy.c
  AREAS media content crypto util LIBS parley_mediahost LABELS integration)
set_tests_properties(test_media_proxy PROPERTIES TIMEOUT 60)
parley_test(test_media_e2e SOURCES integration/test_media_e2e.c
  AREAS media content crypto util LIBS parley_mediahost
  ARGS $<TARGET_FILE:parley-mediad> LABELS integration)
add_dependencies(test_media_e2e parley-mediad)
set_tests_properties(test_media_e2e PROPERTIES TIMEOUT 120)
